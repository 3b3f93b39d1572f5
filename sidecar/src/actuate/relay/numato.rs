//! Numato-style USB relay modules: ASCII commands (`relay on N`, `relay read N`, `ver`) with echo and a `>` prompt.
//!
//! The module echoes each command, answers on the following lines (separated by `\n\r`) and
//! ends with the prompt `>`. A reply is complete once the prompt arrives; its first line must
//! be the echo of what was sent, otherwise the link is out of step or the device is not a
//! Numato module.

use std::time::Duration;

use super::serial_link::{printable, SerialLink};
use super::{agree, coil_on_for, Relay, RelayCapabilities, RelayError};
use crate::actuate::config::NumatoConfig;
use crate::side::Side;

#[derive(Debug)]
pub struct NumatoRelay {
    link: SerialLink,
    cfg: NumatoConfig,
}

impl NumatoRelay {
    pub fn new(cfg: NumatoConfig) -> Result<Self, RelayError> {
        if cfg.channels.is_empty() {
            return Err(RelayError::Config("numato: `channels` is empty".into()));
        }
        if let Some(bad) = cfg.channels.iter().find(|&&c| c > 31) {
            return Err(RelayError::Config(format!(
                "numato: channel {bad} out of range 0..=31"
            )));
        }
        let link = SerialLink::new(
            cfg.path.clone(),
            cfg.baud,
            Duration::from_millis(cfg.timeout_ms),
        );
        Ok(NumatoRelay { link, cfg })
    }

    /// Send one command and return the reply lines after the echo.
    fn transact(&mut self, command: &str) -> Result<Vec<String>, RelayError> {
        self.link.send(command, format!("{command}\r").as_bytes())?;
        let raw = self
            .link
            .read_reply(command, |bytes| bytes.ends_with(b">"))?;
        let text = String::from_utf8_lossy(&raw[..raw.len() - 1]).into_owned();
        let mut lines = text
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| !l.is_empty());
        match lines.next() {
            Some(echo) if echo == command => Ok(lines.map(str::to_owned).collect()),
            _ => Err(RelayError::UnexpectedReply {
                command: command.to_owned(),
                reply: printable(&raw),
            }),
        }
    }

    fn read_channel(&mut self, channel: u8) -> Result<bool, RelayError> {
        let command = format!("relay read {}", channel_name(channel));
        let lines = self.transact(&command)?;
        match lines.as_slice() {
            [state] if state.eq_ignore_ascii_case("on") => Ok(true),
            [state] if state.eq_ignore_ascii_case("off") => Ok(false),
            _ => Err(RelayError::UnexpectedReply {
                command,
                reply: lines.join(" | "),
            }),
        }
    }
}

/// Numato numbers channels 0-9 then A-V.
fn channel_name(channel: u8) -> char {
    if channel < 10 {
        char::from(b'0' + channel)
    } else {
        char::from(b'A' + (channel - 10))
    }
}

impl Relay for NumatoRelay {
    fn describe(&self) -> String {
        format!(
            "numato relay on {} (channels {:?})",
            self.link.path().display(),
            self.cfg.channels
        )
    }

    fn capabilities(&self) -> RelayCapabilities {
        RelayCapabilities {
            read_back: true,
            watchdog: None,
        }
    }

    fn select(&mut self, side: Side) -> Result<(), RelayError> {
        let verb = if coil_on_for(side, self.cfg.energized_side) {
            "on"
        } else {
            "off"
        };
        for channel in self.cfg.channels.clone() {
            let command = format!("relay {verb} {}", channel_name(channel));
            let lines = self.transact(&command)?;
            if let Some(extra) = lines.first() {
                return Err(RelayError::DeviceError {
                    command,
                    reply: extra.clone(),
                });
            }
        }
        if self.cfg.verify {
            let got = self.read_side()?;
            if got != Some(side) {
                return Err(RelayError::VerifyFailed { wanted: side, got });
            }
        }
        Ok(())
    }

    fn read_side(&mut self) -> Result<Option<Side>, RelayError> {
        let mut positions = Vec::with_capacity(self.cfg.channels.len());
        for channel in self.cfg.channels.clone() {
            positions.push((channel, self.read_channel(channel)?));
        }
        agree(&positions, self.cfg.energized_side)
    }

    fn kick_watchdog(&mut self) -> Result<(), RelayError> {
        Ok(())
    }

    fn identify(&mut self) -> Result<String, RelayError> {
        let lines = self.transact("ver")?;
        match lines.first() {
            Some(version) => Ok(format!("numato firmware {version}")),
            None => Err(RelayError::UnexpectedReply {
                command: "ver".into(),
                reply: String::new(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::channel_name;

    #[test]
    fn channel_names_follow_numato_numbering() {
        assert_eq!(channel_name(0), '0');
        assert_eq!(channel_name(9), '9');
        assert_eq!(channel_name(10), 'A');
        assert_eq!(channel_name(31), 'V');
    }
}
