//! The berofos's datagram side (beroNet's "GBL4" protocol, UDP port 50123): answers the `bnfos --scan` query with the device's MAC address and takes watchdog kicks addressed to it.
//!
//! A datagram is `"GBL\x04"`, a command byte, a payload and a check byte (the XOR of every byte
//! before it). The device answers a command with the same command byte. Command 1 asks for the
//! network configuration (the answer starts with the MAC address); command 11 kicks the
//! watchdog, its payload being the device's MAC address and a zero byte. A kick for another MAC
//! address is not for this device and gets no answer.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::berofos::{lock_settled, BerofosState, SIM_MAC};
use super::Behaviour;

const PREFIX: &[u8; 4] = b"GBL\x04";
const GET_NETCONF: u8 = 1;
const KICK_WATCHDOG: u8 = 11;
/// The hardware magic of a berofos in the network configuration answer.
const HW_MAGIC: u16 = 0x50;

/// Serves `socket` on its own thread until `stop` is set; `http` is the device's web address
/// (its IP address and HTTP port go into the network configuration answer).
pub(super) fn serve(
    socket: UdpSocket,
    http: SocketAddr,
    state: Arc<Mutex<BerofosState>>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    // The receive timeout is how often the thread looks at `stop`.
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    Ok(std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while !stop.load(Ordering::SeqCst) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let behaviour = state.lock().unwrap_or_else(|p| p.into_inner()).behaviour;
            let reply = match behaviour {
                Behaviour::Silent => None,
                Behaviour::Garbage => Some(b"\x00\x01 not gbl4".to_vec()),
                Behaviour::Normal => answer(&buf[..n], http, &state),
            };
            if let Some(reply) = reply {
                let _ = socket.send_to(&reply, from);
            }
        }
    }))
}

/// The device's answer to one datagram, if it answers at all.
fn answer(datagram: &[u8], http: SocketAddr, state: &Mutex<BerofosState>) -> Option<Vec<u8>> {
    let (check, body) = datagram.split_last()?;
    if body.len() < PREFIX.len() + 1 || &body[..PREFIX.len()] != PREFIX || xor(body) != *check {
        return None;
    }
    let command = body[PREFIX.len()];
    let payload = &body[PREFIX.len() + 1..];
    match command {
        GET_NETCONF => Some(seal(GET_NETCONF, &netconf(http))),
        KICK_WATCHDOG if payload.len() == 7 && payload[..6] == SIM_MAC => {
            lock_settled(state).kick_watchdog(Instant::now());
            Some(seal(KICK_WATCHDOG, payload))
        }
        _ => None,
    }
}

/// The network configuration answer: MAC, hardware magic, versions, mode, addresses, options, port.
fn netconf(http: SocketAddr) -> Vec<u8> {
    let ip = match http.ip() {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(_) => [0; 4],
    };
    let mut p = SIM_MAC.to_vec();
    p.extend_from_slice(&HW_MAGIC.to_be_bytes());
    p.extend_from_slice(&[1, 3, 1, 53, 0]); // bootloader 1.3, firmware 1.53, operational
    p.extend_from_slice(&ip);
    p.extend_from_slice(&[255, 255, 255, 0]);
    p.extend_from_slice(&[0, 0, 0, 0]);
    p.extend_from_slice(&[0xff, 0x01, 0x00]); // phy auto, link beat, no options
    p.extend_from_slice(&http.port().to_be_bytes());
    p
}

fn seal(command: u8, payload: &[u8]) -> Vec<u8> {
    let mut d = PREFIX.to_vec();
    d.push(command);
    d.extend_from_slice(payload);
    d.push(xor(&d));
    d
}

fn xor(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}
