//! The berofos watchdog kick, as beroNet's `bnfos --kick` sends it: one UDP datagram of the device's "GBL4" protocol (port 50123), answered by the device.
//!
//! A datagram is `"GBL\x04"`, a command byte, a payload and a check byte, the XOR of every byte
//! before it; the device answers with the same command byte. A kick (command 11) carries the
//! device's MAC address and a zero byte. The MAC address comes from the configuration or, when
//! it is not configured, from the device itself: command 1 (what `bnfos --scan -h HOST` sends)
//! is answered with the network configuration, which starts with the MAC address.
//!
//! The HTTP interface cannot kick: switching `wdog` on there starts the watchdog, but only
//! these datagrams keep it running.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use super::RelayError;
use crate::actuate::config::MacAddress;

const PREFIX: &[u8; 4] = b"GBL\x04";
const GET_NETCONF: u8 = 1;
const KICK_WATCHDOG: u8 = 11;
/// Hardware magics of a berofos in the network configuration answer (as `bnfos --scan` accepts).
const BEROFOS_HW_MAGICS: [u16; 2] = [0x50, 0xbb];

/// Where kicks go, and the device's MAC address once known.
#[derive(Debug)]
pub(super) struct Kicker {
    host: String,
    port: u16,
    timeout: Duration,
    mac: Option<MacAddress>,
}

impl Kicker {
    pub(super) fn new(host: &str, port: u16, timeout: Duration, mac: Option<MacAddress>) -> Self {
        Kicker {
            host: host.to_owned(),
            port,
            timeout,
            mac,
        }
    }

    /// Sends one kick and waits for the device to acknowledge it.
    pub(super) fn kick(&mut self) -> Result<(), RelayError> {
        let mac = self.mac()?;
        let mut payload = mac.0.to_vec();
        payload.push(0);
        self.exchange(KICK_WATCHDOG, &payload, "watchdog kick")
            .map(|_| ())
    }

    /// The configured MAC address, or the one the device reports (asked once).
    fn mac(&mut self) -> Result<MacAddress, RelayError> {
        if let Some(mac) = self.mac {
            return Ok(mac);
        }
        let what = "network configuration query (bnfos --scan)";
        let answer = self.exchange(GET_NETCONF, &[], what)?;
        let unexpected = || RelayError::UnexpectedReply {
            command: what.into(),
            reply: format!("{answer:02x?}"),
        };
        let mac: [u8; 6] = answer
            .get(..6)
            .and_then(|m| m.try_into().ok())
            .ok_or_else(unexpected)?;
        let magic = answer
            .get(6..8)
            .map(|m| u16::from_be_bytes([m[0], m[1]]))
            .ok_or_else(unexpected)?;
        if !BEROFOS_HW_MAGICS.contains(&magic) {
            return Err(RelayError::UnexpectedReply {
                command: what.into(),
                reply: format!("hardware magic {magic:#x}: not a berofos"),
            });
        }
        let mac = MacAddress(mac);
        tracing::info!(host = %self.host, %mac, "berofos MAC address read from the device");
        self.mac = Some(mac);
        Ok(mac)
    }

    /// Sends `command` with `payload` and returns the payload of the device's answer.
    fn exchange(&self, command: u8, payload: &[u8], what: &str) -> Result<Vec<u8>, RelayError> {
        let io = |source| RelayError::Io {
            command: what.into(),
            source,
        };
        let device = self.address(what)?;
        let bind: SocketAddr = if device.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .map_err(|e| RelayError::Internal(format!("bind address: {e}")))?;
        let socket = UdpSocket::bind(bind).map_err(io)?;
        socket
            .send_to(&seal(command, payload), device)
            .map_err(io)?;
        let deadline = Instant::now() + self.timeout;
        let mut buf = [0u8; 1500];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RelayError::Timeout {
                    command: what.into(),
                    waited: self.timeout,
                });
            }
            socket.set_read_timeout(Some(left)).map_err(io)?;
            match socket.recv_from(&mut buf) {
                Ok((n, from)) if from.ip() == device.ip() => {
                    if let Some(answer) = open(&buf[..n], command) {
                        return Ok(answer.to_vec());
                    }
                    // Not the answer to this command (or damaged): keep waiting for it.
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(io(e)),
            }
        }
    }

    fn address(&self, what: &str) -> Result<SocketAddr, RelayError> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| RelayError::Io {
                command: what.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("cannot resolve {}:{}", self.host, self.port),
                ),
            })
    }
}

fn seal(command: u8, payload: &[u8]) -> Vec<u8> {
    let mut datagram = PREFIX.to_vec();
    datagram.push(command);
    datagram.extend_from_slice(payload);
    datagram.push(check(&datagram));
    datagram
}

/// The payload of a well-formed answer to `command`.
fn open(datagram: &[u8], command: u8) -> Option<&[u8]> {
    let (sum, body) = datagram.split_last()?;
    let (head, payload) = body.split_at_checked(PREFIX.len() + 1)?;
    (head[..PREFIX.len()] == *PREFIX && head[PREFIX.len()] == command && check(body) == *sum)
        .then_some(payload)
}

fn check(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kick_datagram_is_what_bnfos_sends() {
        let mac = [0x00, 0x19, 0x32, 0x00, 0x12, 0x1d];
        let mut payload = mac.to_vec();
        payload.push(0);
        let d = seal(KICK_WATCHDOG, &payload);
        assert_eq!(&d[..5], b"GBL\x04\x0b");
        assert_eq!(&d[5..12], &payload[..]);
        // libbnfos: 'G'^'B'^'L'^4, then the command and every payload byte.
        let expected = payload
            .iter()
            .fold(b'G' ^ b'B' ^ b'L' ^ 4 ^ KICK_WATCHDOG, |a, b| a ^ b);
        assert_eq!(d[12], expected);
        assert_eq!(open(&d, KICK_WATCHDOG), Some(&payload[..]));
        assert_eq!(open(&d, GET_NETCONF), None, "another command's answer");
        let mut damaged = d.clone();
        damaged[6] ^= 1;
        assert_eq!(open(&damaged, KICK_WATCHDOG), None, "a bad check byte");
        assert_eq!(open(b"GBL", KICK_WATCHDOG), None);
    }
}
