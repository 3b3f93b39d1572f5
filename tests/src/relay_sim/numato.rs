//! Numato USB relay module protocol: `relay on|off|read N`, `ver`; echo, `\n\r` line breaks and a `>` prompt.

use super::pty::SerialProtocol;
use super::SimState;

#[derive(Debug, Default)]
pub struct NumatoProtocol {
    line: Vec<u8>,
}

fn channel(token: &str) -> Option<usize> {
    let c = token.chars().next()?;
    if token.len() != 1 {
        return None;
    }
    match c {
        '0'..='9' => Some(c as usize - '0' as usize),
        'A'..='V' => Some(c as usize - 'A' as usize + 10),
        _ => None,
    }
}

impl SerialProtocol for NumatoProtocol {
    fn on_bytes(&mut self, bytes: &[u8], state: &mut SimState) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\r' {
                self.line.push(b);
                continue;
            }
            let cmd = String::from_utf8_lossy(&self.line).trim().to_owned();
            self.line.clear();
            out.extend_from_slice(cmd.as_bytes());
            out.extend_from_slice(b"\n\r");
            let words: Vec<&str> = cmd.split_whitespace().collect();
            match words.as_slice() {
                ["ver"] => out.extend_from_slice(b"00000008\n\r"),
                ["relay", verb @ ("on" | "off"), ch] if channel(ch).is_some() => {
                    state.coils[channel(ch).unwrap_or(0)] = *verb == "on";
                    state.commands.push(cmd.clone());
                }
                ["relay", "read", ch] if channel(ch).is_some() => {
                    let on = state.coils[channel(ch).unwrap_or(0)];
                    out.extend_from_slice(if on { b"on\n\r" } else { b"off\n\r" });
                    state.commands.push(cmd.clone());
                }
                _ => state.rejected.push(cmd.clone()),
            }
            out.push(b'>');
        }
        out
    }
}
