//! LCUS CH340 relay module protocol: 4-byte frames `A0 ch state sum`, no replies.

use super::pty::SerialProtocol;
use super::SimState;

#[derive(Debug, Default)]
pub struct LcusProtocol {
    pending: Vec<u8>,
}

impl SerialProtocol for LcusProtocol {
    fn garbage(&self) -> Vec<u8> {
        b"\xff\xff".to_vec()
    }

    fn on_bytes(&mut self, bytes: &[u8], state: &mut SimState) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        while self.pending.len() >= 4 {
            if self.pending[0] != 0xA0 {
                state.rejected.push(format!("{:02X}", self.pending[0]));
                self.pending.remove(0);
                continue;
            }
            let frame: Vec<u8> = self.pending.drain(..4).collect();
            let sum = frame[0].wrapping_add(frame[1]).wrapping_add(frame[2]);
            let ch = usize::from(frame[1]);
            if sum != frame[3] || frame[2] > 1 || ch == 0 || ch >= state.coils.len() {
                state.rejected.push(format!("{frame:02X?}"));
                continue;
            }
            state.coils[ch] = frame[2] == 1;
            state.commands.push(format!("{frame:02X?}"));
        }
        Vec::new()
    }
}
