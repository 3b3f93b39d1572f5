//! A line-oriented switch in the style of an R-Series failover unit: `SWITCH A|B` → `OK`, `STATUS?` → `SIDE A|B`, `WDT` → `OK`.
//!
//! The command strings are this simulator's own (the real ones come from a device manual and
//! the driver takes them from its configuration). Lines end in CR LF; with `echo` the device
//! repeats each command first. Channel 0 of the state holds the position (on = side B).

use super::pty::SerialProtocol;
use super::SimState;

#[derive(Debug, Default)]
pub struct LineProtocol {
    pub echo: bool,
    line: Vec<u8>,
}

impl LineProtocol {
    pub fn new(echo: bool) -> Self {
        LineProtocol {
            echo,
            line: Vec::new(),
        }
    }
}

impl SerialProtocol for LineProtocol {
    fn garbage(&self) -> Vec<u8> {
        b"\x1b[2J%%%\r\n".to_vec()
    }

    fn on_bytes(&mut self, bytes: &[u8], state: &mut SimState) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            let cmd = String::from_utf8_lossy(&self.line).trim().to_owned();
            self.line.clear();
            if self.echo {
                out.extend_from_slice(format!("{cmd}\r\n").as_bytes());
            }
            let reply = match cmd.as_str() {
                "SWITCH A" => {
                    state.coils[0] = false;
                    "OK".to_owned()
                }
                "SWITCH B" => {
                    state.coils[0] = true;
                    "OK".to_owned()
                }
                "STATUS?" => format!("SIDE {}", if state.coils[0] { "B" } else { "A" }),
                "WDT" => {
                    state.watchdog_kicks += 1;
                    "OK".to_owned()
                }
                _ => {
                    state.rejected.push(cmd.clone());
                    out.extend_from_slice(b"ERR unknown command\r\n");
                    continue;
                }
            };
            state.commands.push(cmd);
            out.extend_from_slice(format!("{reply}\r\n").as_bytes());
        }
        out
    }
}
