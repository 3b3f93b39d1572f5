//! The floating IP: add/remove addresses over rtnetlink and announce them with gratuitous ARP / unsolicited NA.
//!
//! Adding an address that is already there, or removing one that is not, is success (the
//! step is idempotent). After an add, the announcement goes out `garp_count` times a few ms
//! apart and once more after `garp_repeat_after_ms`, unless the address was removed or
//! re-added in between.

use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags};

use super::config::{FloatingIpConfig, IpCidr};
use super::garp;

#[derive(Debug, thiserror::Error)]
pub enum IpError {
    #[cfg(feature = "test-support")]
    #[error(transparent)]
    Netns(#[from] super::netns::NetnsError),
    #[error("cannot open {what} socket: {source}")]
    Socket {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("interface {0} not found")]
    NoSuchInterface(String),
    #[error("interface {0} has no Ethernet address")]
    NoMac(String),
    #[error("netlink {op} {addr} on {interface}: {source}")]
    Netlink {
        op: &'static str,
        addr: String,
        interface: String,
        #[source]
        source: Box<rtnetlink::Error>,
    },
    #[error("sending announcement for {addr} on {interface}: {source}")]
    Announce {
        addr: IpAddr,
        interface: String,
        #[source]
        source: std::io::Error,
    },
}

struct Inner {
    cfg: FloatingIpConfig,
    handle: rtnetlink::Handle,
    ifindex: u32,
    mac: [u8; 6],
    packet: OwnedFd,
    /// Bumped on every add and remove; a delayed announcement fires only if it is unchanged.
    generation: AtomicU64,
}

/// The floating addresses of one node on one interface. Cheap to clone.
#[derive(Clone)]
pub struct FloatingIp {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FloatingIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloatingIp")
            .field("interface", &self.inner.cfg.interface)
            .field("ifindex", &self.inner.ifindex)
            .field("addresses", &self.inner.cfg.addresses)
            .finish()
    }
}

type Sockets = (
    rtnetlink::proto::Connection<rtnetlink::packet_route::RouteNetlinkMessage>,
    rtnetlink::Handle,
    OwnedFd,
);

/// Opens the netlink and packet sockets. The netlink socket registers with the runtime's
/// reactor wherever it is created; both belong to the network namespace of the thread that
/// runs the returned closure.
fn socket_opener() -> impl FnOnce() -> Result<Sockets, IpError> + Send + 'static {
    let runtime = tokio::runtime::Handle::current();
    move || {
        let _entered = runtime.enter();
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|source| IpError::Socket {
            what: "netlink",
            source,
        })?;
        let packet = garp::open_packet_socket().map_err(|source| IpError::Socket {
            what: "AF_PACKET",
            source,
        })?;
        Ok((conn, handle, packet))
    }
}

impl FloatingIp {
    /// Open the netlink and packet sockets in this process's network namespace and look the
    /// interface up. Must be called inside a tokio runtime, which then drives the netlink
    /// connection.
    pub async fn open(cfg: FloatingIpConfig) -> Result<Self, IpError> {
        let sockets = socket_opener()()?;
        Self::with_sockets(cfg, sockets).await
    }

    /// Like [`FloatingIp::open`], with the sockets created in the network namespace at
    /// `netns` (e.g. `/var/run/netns/x`): lets one test process act as several hosts.
    #[cfg(feature = "test-support")]
    pub async fn open_in_netns(
        cfg: FloatingIpConfig,
        netns: &std::path::Path,
    ) -> Result<Self, IpError> {
        let sockets = super::netns::run_in_netns(netns, socket_opener())??;
        Self::with_sockets(cfg, sockets).await
    }

    async fn with_sockets(cfg: FloatingIpConfig, sockets: Sockets) -> Result<Self, IpError> {
        let (conn, handle, packet) = sockets;
        tokio::spawn(conn);

        let link = handle
            .link()
            .get()
            .match_name(cfg.interface.clone())
            .execute()
            .try_next()
            .await
            .map_err(|_| IpError::NoSuchInterface(cfg.interface.clone()))?
            .ok_or_else(|| IpError::NoSuchInterface(cfg.interface.clone()))?;
        let mac = link
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Address(bytes) if bytes.len() == 6 => {
                    let mut mac = [0u8; 6];
                    mac.copy_from_slice(bytes);
                    Some(mac)
                }
                _ => None,
            })
            .ok_or_else(|| IpError::NoMac(cfg.interface.clone()))?;
        Ok(FloatingIp {
            inner: Arc::new(Inner {
                ifindex: link.header.index,
                cfg,
                handle,
                mac,
                packet,
                generation: AtomicU64::new(0),
            }),
        })
    }

    pub fn config(&self) -> &FloatingIpConfig {
        &self.inner.cfg
    }

    pub fn mac(&self) -> [u8; 6] {
        self.inner.mac
    }

    pub fn ifindex(&self) -> u32 {
        self.inner.ifindex
    }

    /// Add every configured address (already present is fine), announce them at once, and
    /// schedule the repeat announcement.
    pub async fn add(&self) -> Result<(), IpError> {
        let inner = &self.inner;
        let generation = inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
        for cidr in &inner.cfg.addresses {
            let mut request = inner
                .handle
                .address()
                .add(inner.ifindex, cidr.addr, cidr.prefix_len);
            if cidr.addr.is_ipv6() {
                // A floating address is already in use elsewhere by design; duplicate
                // address detection would only hold it back as tentative.
                request
                    .message_mut()
                    .attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
            match request.execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(source) => return Err(self.netlink_error("add", cidr, source)),
            }
        }
        // The first announcement goes out before returning (it is what moves the traffic);
        // the rest of the burst and the delayed repeat follow in the background.
        self.announce_once()?;
        let this = self.clone();
        tokio::spawn(async move {
            let cfg = &this.inner.cfg;
            let interval = Duration::from_millis(cfg.garp_interval_ms);
            for _ in 1..cfg.garp_count {
                tokio::time::sleep(interval).await;
                if !this.still_current(generation) {
                    return;
                }
                if let Err(e) = this.announce_once() {
                    tracing::warn!(error = %e, "gratuitous ARP failed");
                }
            }
            let repeat_after = Duration::from_millis(cfg.garp_repeat_after_ms);
            if repeat_after.is_zero() {
                return;
            }
            tokio::time::sleep(repeat_after).await;
            if this.still_current(generation) {
                if let Err(e) = this.announce_burst().await {
                    tracing::warn!(error = %e, "repeat gratuitous ARP failed");
                }
            }
        });
        Ok(())
    }

    /// No add or remove happened since the add that started `generation`.
    fn still_current(&self, generation: u64) -> bool {
        self.inner.generation.load(Ordering::SeqCst) == generation
    }

    /// Remove every configured address (already absent is fine) and cancel pending announcements.
    pub async fn remove(&self) -> Result<(), IpError> {
        let inner = &self.inner;
        inner.generation.fetch_add(1, Ordering::SeqCst);
        for cidr in &inner.cfg.addresses {
            // Build the same message an add would send; a delete matches on it.
            let mut add = inner
                .handle
                .address()
                .add(inner.ifindex, cidr.addr, cidr.prefix_len);
            let message = add.message_mut().clone();
            match inner.handle.address().del(message).execute().await {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        errno(&e),
                        Some(libc::EADDRNOTAVAIL) | Some(libc::ENOENT) | Some(libc::ESRCH)
                    ) => {}
                Err(source) => return Err(self.netlink_error("remove", cidr, source)),
            }
        }
        Ok(())
    }

    /// Whether the interface is up with carrier (`IFF_UP` and `IFF_LOWER_UP`): without it this
    /// node cannot serve clients, whatever its Asterisk says (like keepalived's
    /// `track_interface`).
    pub async fn carrier(&self) -> Result<bool, IpError> {
        let inner = &self.inner;
        let link = inner
            .handle
            .link()
            .get()
            .match_index(inner.ifindex)
            .execute()
            .try_next()
            .await
            .map_err(|source| IpError::Netlink {
                op: "read",
                addr: "link state".into(),
                interface: inner.cfg.interface.clone(),
                source: Box::new(source),
            })?;
        Ok(link.is_some_and(|l| {
            l.header.flags.contains(LinkFlags::Up) && l.header.flags.contains(LinkFlags::LowerUp)
        }))
    }

    /// Whether every configured address is on the interface.
    pub async fn is_present(&self) -> Result<bool, IpError> {
        let inner = &self.inner;
        let mut present = Vec::new();
        let mut stream = inner
            .handle
            .address()
            .get()
            .set_link_index_filter(inner.ifindex)
            .execute();
        while let Some(msg) = stream.try_next().await.map_err(|source| IpError::Netlink {
            op: "list",
            addr: "addresses".into(),
            interface: inner.cfg.interface.clone(),
            source: Box::new(source),
        })? {
            for attr in &msg.attributes {
                if let AddressAttribute::Address(a) | AddressAttribute::Local(a) = attr {
                    present.push((*a, msg.header.prefix_len));
                }
            }
        }
        Ok(inner
            .cfg
            .addresses
            .iter()
            .all(|c| present.contains(&(c.addr, c.prefix_len))))
    }

    /// Send the whole announcement burst for every address now (`garp_count` rounds).
    pub async fn announce_burst(&self) -> Result<(), IpError> {
        let interval = Duration::from_millis(self.inner.cfg.garp_interval_ms);
        for round in 0..self.inner.cfg.garp_count {
            if round > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            self.announce_once()?;
        }
        Ok(())
    }

    /// One gratuitous ARP (IPv4) or unsolicited NA (IPv6) per address.
    pub fn announce_once(&self) -> Result<(), IpError> {
        let inner = &self.inner;
        for cidr in &inner.cfg.addresses {
            let sent = match cidr.addr {
                IpAddr::V4(v4) => garp::send_frame(
                    &inner.packet,
                    inner.ifindex,
                    garp::BROADCAST,
                    &garp::arp_announcement(inner.mac, v4),
                ),
                IpAddr::V6(v6) => garp::send_frame(
                    &inner.packet,
                    inner.ifindex,
                    garp::ALL_NODES_MAC,
                    &garp::unsolicited_na(inner.mac, v6),
                ),
            };
            sent.map_err(|source| IpError::Announce {
                addr: cidr.addr,
                interface: inner.cfg.interface.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn netlink_error(&self, op: &'static str, cidr: &IpCidr, source: rtnetlink::Error) -> IpError {
        IpError::Netlink {
            op,
            addr: cidr.to_string(),
            interface: self.inner.cfg.interface.clone(),
            source: Box::new(source),
        }
    }
}

/// The errno of a netlink error reply.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| c.get().abs()),
        _ => None,
    }
}
