//! LCUS-style CH340 relay modules: 4-byte binary frames `A0 <channel> <state> <sum>`, no reply, no read-back.
//!
//! These modules cannot report their position, so `read_side` says `None` and the
//! sequence cannot verify the switch; the driver still catches a missing or unplugged
//! adapter because the write itself fails.

use std::time::Duration;

use super::serial_link::SerialLink;
use super::{coil_on_for, Relay, RelayCapabilities, RelayError};
use crate::actuate::config::LcusConfig;
use crate::side::Side;

const START: u8 = 0xA0;

/// The frame that switches `channel` (1-based) on or off.
pub fn lcus_frame(channel: u8, on: bool) -> [u8; 4] {
    let state = u8::from(on);
    [
        START,
        channel,
        state,
        START.wrapping_add(channel).wrapping_add(state),
    ]
}

#[derive(Debug)]
pub struct LcusRelay {
    link: SerialLink,
    cfg: LcusConfig,
}

impl LcusRelay {
    pub fn new(cfg: LcusConfig) -> Result<Self, RelayError> {
        if cfg.channels.is_empty() || cfg.channels.contains(&0) {
            return Err(RelayError::Config(
                "lcus: `channels` must list channels numbered from 1".into(),
            ));
        }
        let link = SerialLink::new(
            cfg.path.clone(),
            cfg.baud,
            Duration::from_millis(cfg.timeout_ms),
        );
        Ok(LcusRelay { link, cfg })
    }
}

impl Relay for LcusRelay {
    fn describe(&self) -> String {
        format!(
            "lcus relay on {} (channels {:?})",
            self.link.path().display(),
            self.cfg.channels
        )
    }

    fn capabilities(&self) -> RelayCapabilities {
        RelayCapabilities {
            read_back: false,
            watchdog: None,
        }
    }

    fn select(&mut self, side: Side) -> Result<(), RelayError> {
        let on = coil_on_for(side, self.cfg.energized_side);
        for channel in self.cfg.channels.clone() {
            let frame = lcus_frame(channel, on);
            let command = format!("lcus {frame:02X?}");
            self.link.send(&command, &frame)?;
        }
        Ok(())
    }

    fn read_side(&mut self) -> Result<Option<Side>, RelayError> {
        Ok(None)
    }

    fn kick_watchdog(&mut self) -> Result<(), RelayError> {
        Ok(())
    }

    fn identify(&mut self) -> Result<String, RelayError> {
        // No query exists; writing nothing still proves the device node opens.
        self.link.send("open", &[])?;
        Ok(format!(
            "lcus relay at {} (no identification command)",
            self.link.path().display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::lcus_frame;

    #[test]
    fn frames_match_the_documented_bytes() {
        assert_eq!(lcus_frame(1, true), [0xA0, 0x01, 0x01, 0xA2]);
        assert_eq!(lcus_frame(1, false), [0xA0, 0x01, 0x00, 0xA1]);
        assert_eq!(lcus_frame(2, true), [0xA0, 0x02, 0x01, 0xA3]);
    }
}
