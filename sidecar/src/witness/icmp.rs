//! One ICMP echo request and its reply (blocking, with a deadline): the witness's ping.
//!
//! An unprivileged ping socket (`SOCK_DGRAM`, allowed by `net.ipv4.ping_group_range`) is tried
//! first, a raw socket (`CAP_NET_RAW`, which astha.service grants) otherwise. On a ping socket the
//! kernel owns the identifier and only delivers this socket's replies; on a raw socket every
//! ICMP packet arrives (after its IPv4 header), so replies are matched by identifier, sequence
//! number and sender.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const PAYLOAD: &[u8] = b"astha witness ping";

/// Sequence numbers of this process's echo requests.
static SEQUENCE: AtomicU16 = AtomicU16::new(1);

/// Sends one echo request to `ip` and waits up to `timeout` for its reply.
pub(super) fn echo(ip: IpAddr, timeout: Duration) -> Result<Duration, String> {
    let (socket, raw) = open(ip)?;
    let identifier = (std::process::id() & 0xffff) as u16;
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let request = request(ip, identifier, sequence);
    let started = Instant::now();
    socket
        .send_to(&request, SocketAddr::new(ip, 0))
        .map_err(|e| format!("ICMP echo to {ip} not sent: {e}"))?;
    let deadline = started + timeout;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no ICMP echo reply within {} ms",
                timeout.as_millis()
            ));
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from.ip() == ip => {
                if is_reply(&buf[..n], ip, raw, identifier, sequence) {
                    return Ok(started.elapsed());
                }
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // An ICMP error about this echo (host or network unreachable) answers it too.
            Err(e) => return Err(format!("ICMP echo to {ip}: {e}")),
        }
    }
}

/// A ping socket, or a raw socket when ping sockets are not allowed; `true` for raw.
fn open(ip: IpAddr) -> Result<(UdpSocket, bool), String> {
    let (family, protocol) = match ip {
        IpAddr::V4(_) => (AddressFamily::Inet, SockProtocol::Icmp),
        IpAddr::V6(_) => (AddressFamily::Inet6, SockProtocol::IcmpV6),
    };
    let open = |kind| {
        socket(family, kind, SockFlag::SOCK_CLOEXEC, protocol)
            .map(UdpSocket::from)
            .map_err(std::io::Error::from)
    };
    match open(SockType::Datagram) {
        Ok(s) => Ok((s, false)),
        Err(ping) => open(SockType::Raw).map(|s| (s, true)).map_err(|raw| {
            format!(
                "cannot open an ICMP socket (ping socket: {ping}; raw socket: {raw}): allow \
                 the group in net.ipv4.ping_group_range or grant CAP_NET_RAW"
            )
        }),
    }
}

fn request(ip: IpAddr, identifier: u16, sequence: u16) -> Vec<u8> {
    let kind = if ip.is_ipv4() {
        ECHO_REQUEST_V4
    } else {
        ECHO_REQUEST_V6
    };
    let mut packet = vec![kind, 0, 0, 0];
    packet.extend_from_slice(&identifier.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(PAYLOAD);
    // ICMPv6's checksum covers a pseudo-header: the kernel fills it in.
    if ip.is_ipv4() {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// Whether `packet` (as received) is the reply to our request.
fn is_reply(packet: &[u8], ip: IpAddr, raw: bool, identifier: u16, sequence: u16) -> bool {
    let icmp = if raw && ip.is_ipv4() {
        // A raw IPv4 socket delivers the IP header too.
        let header = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
        packet.get(header..).unwrap_or_default()
    } else {
        packet
    };
    let reply = if ip.is_ipv4() {
        ECHO_REPLY_V4
    } else {
        ECHO_REPLY_V6
    };
    icmp.len() >= 8
        && icmp[0] == reply
        && u16::from_be_bytes([icmp[6], icmp[7]]) == sequence
        // A ping socket's identifier is the kernel's; it only hands this socket its own replies.
        && (!raw || u16::from_be_bytes([icmp[4], icmp[5]]) == identifier)
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_checks_out() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let packet = request(ip, 0x1234, 7);
        assert_eq!(packet[0], ECHO_REQUEST_V4);
        // A packet with its checksum in place sums to zero.
        assert_eq!(checksum(&packet), 0);
        let mut reply = packet.clone();
        reply[0] = ECHO_REPLY_V4;
        assert!(is_reply(&reply, ip, false, 0x1234, 7));
        assert!(!is_reply(&reply, ip, false, 0x1234, 8), "another sequence");
        assert!(
            !is_reply(&packet, ip, false, 0x1234, 7),
            "a request is no reply"
        );
        // Behind a 20-byte IPv4 header on a raw socket, with the identifier checked.
        let mut raw = vec![0x45; 1];
        raw.extend_from_slice(&[0; 19]);
        raw.extend_from_slice(&reply);
        assert!(is_reply(&raw, ip, true, 0x1234, 7));
        assert!(
            !is_reply(&raw, ip, true, 0x4321, 7),
            "another process's echo"
        );
    }
}
