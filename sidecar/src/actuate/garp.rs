//! Gratuitous ARP and unsolicited IPv6 neighbour advertisements, built here and sent on an AF_PACKET socket.
//!
//! Sending them natively avoids `arping` (which lingers about a second after sending) and
//! lets the announcement go out within microseconds of the address being added. The two
//! syscalls below are the only unsafe code of the actuators; the frames are built safely.
#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(crate) const BROADCAST: [u8; 6] = [0xff; 6];
/// Ethernet address of the IPv6 all-nodes multicast group ff02::1.
pub(crate) const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

/// An AF_PACKET raw socket that only sends (protocol 0: the kernel delivers nothing to it).
pub(crate) fn open_packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments has no memory-safety preconditions; the
    // returned descriptor is checked and then owned exactly once by the OwnedFd.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created, valid descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Send one complete Ethernet frame out of interface `ifindex`.
pub(crate) fn send_frame(
    socket: &OwnedFd,
    ifindex: u32,
    dst: [u8; 6],
    frame: &[u8],
) -> io::Result<()> {
    let ifindex =
        i32::try_from(ifindex).map_err(|_| io::Error::other("interface index out of range"))?;
    let mut addr_bytes = [0u8; 8];
    addr_bytes[..6].copy_from_slice(&dst);
    let addr = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: 0,
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr: addr_bytes,
    };
    // SAFETY: `frame` is a live slice for the duration of the call and its length is passed
    // with it; `addr` is a fully initialised sockaddr_ll on the stack whose exact size is passed.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    if sent as usize != frame.len() {
        return Err(io::Error::other(format!(
            "short send: {sent} of {} bytes",
            frame.len()
        )));
    }
    Ok(())
}

/// A gratuitous ARP request announcing that `ip` is at `mac` (sender and target address
/// both `ip`, broadcast), padded to the Ethernet minimum.
pub(crate) fn arp_announcement(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 60] {
    let mut f = [0u8; 60];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes()); // ARP
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    // target hardware address stays zero
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// An unsolicited neighbour advertisement (RFC 4861 §7.2.6) for `ip` at `mac`, to all
/// nodes, with the Override flag so neighbours replace a cached address.
pub(crate) fn unsolicited_na(mac: [u8; 6], ip: Ipv6Addr) -> Vec<u8> {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut icmp = Vec::with_capacity(32);
    icmp.extend_from_slice(&[136, 0, 0, 0]); // type NA, code, checksum placeholder
    icmp.extend_from_slice(&[0x20, 0, 0, 0]); // flags: Override
    icmp.extend_from_slice(&ip.octets());
    icmp.extend_from_slice(&[2, 1]); // option: target link-layer address, 8 bytes
    icmp.extend_from_slice(&mac);
    let sum = icmpv6_checksum(ip, all_nodes, &icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());

    let mut f = Vec::with_capacity(14 + 40 + icmp.len());
    f.extend_from_slice(&ALL_NODES_MAC);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&0x86DDu16.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.push(58); // next header: ICMPv6
    f.push(255); // hop limit: NDP requires 255
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&all_nodes.octets());
    f.extend_from_slice(&icmp);
    f
}

fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_frame_layout() {
        let mac = [2, 0, 0, 0, 0, 1];
        let f = arp_announcement(mac, Ipv4Addr::new(10, 99, 0, 100));
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[28..32], &[10, 99, 0, 100]);
        assert_eq!(&f[38..42], &[10, 99, 0, 100]);
        assert_eq!(&f[22..28], &mac);
    }

    #[test]
    fn na_checksum_verifies_to_zero() {
        let ip: Ipv6Addr = "fd00::100".parse().unwrap();
        let f = unsolicited_na([2, 0, 0, 0, 0, 1], ip);
        let icmp = &f[54..];
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        // Summing a message that already carries its checksum yields 0 after complement.
        assert_eq!(icmpv6_checksum(ip, all_nodes, icmp), 0);
        assert_eq!(icmp.len(), 32);
    }
}
