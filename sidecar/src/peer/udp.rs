//! The thin tokio driver of the peer link: one UDP socket per link, send on all, receive from any.
//!
//! The decision core decides *when* to send (every `peer_interval` and on every change, as
//! [`crate::decide::Command::SendPeer`]); [`UdpLinks::send_all`] puts the state on every link.
//! [`UdpLinks::recv`] returns the next datagram that passed [`PeerLink::open`] (forged, replayed and
//! garbage datagrams are counted there and skipped), and [`UdpLinks::alive`] tells which links
//! carried a valid datagram recently.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::decide::PeerState;

use super::link::{PeerLink, Received};

/// Where one link's socket listens and where the peer's end is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkAddrs {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

struct Incoming {
    link: usize,
    bytes: Vec<u8>,
}

// Manual so the queue can be Debug without printing payloads.
impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "datagram on link {} ({} bytes)",
            self.link,
            self.bytes.len()
        )
    }
}

/// The sockets of all links plus the receive tasks feeding one queue.
#[derive(Debug)]
pub struct UdpLinks {
    sockets: Vec<Arc<UdpSocket>>,
    remotes: Vec<SocketAddr>,
    incoming: mpsc::Receiver<Incoming>,
    tasks: Vec<JoinHandle<()>>,
    last_valid: Vec<Option<Instant>>,
}

/// Largest datagram read; anything longer is truncated by the kernel and then dropped as such.
const MAX_DATAGRAM: usize = 512;

impl UdpLinks {
    /// Bind one socket per link.
    pub async fn bind(links: &[LinkAddrs]) -> io::Result<UdpLinks> {
        let (tx, incoming) = mpsc::channel(256);
        let mut sockets = Vec::new();
        let mut tasks = Vec::new();
        for (i, l) in links.iter().enumerate() {
            let socket = Arc::new(UdpSocket::bind(l.local).await?);
            let reader = Arc::clone(&socket);
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                loop {
                    match reader.recv_from(&mut buf).await {
                        Ok((n, _from)) => {
                            let d = Incoming {
                                link: i,
                                bytes: buf[..n].to_vec(),
                            };
                            if tx.send(d).await.is_err() {
                                return; // the driver is gone
                            }
                        }
                        // ICMP errors (peer port closed) surface here on Linux: keep listening.
                        Err(e) => tracing::debug!(link = i, error = %e, "peer link receive error"),
                    }
                }
            }));
            sockets.push(socket);
        }
        Ok(UdpLinks {
            remotes: links.iter().map(|l| l.remote).collect(),
            last_valid: vec![None; sockets.len()],
            sockets,
            incoming,
            tasks,
        })
    }

    /// The local address of each link's socket (useful with port 0).
    pub fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.sockets.iter().map(|s| s.local_addr()).collect()
    }

    /// Change where a link sends (e.g. after binding both ends on port 0 in tests).
    pub fn set_remote(&mut self, link: usize, remote: SocketAddr) {
        if let Some(r) = self.remotes.get_mut(link) {
            *r = remote;
        }
    }

    /// Seal `state` for each link and send it there. Returns one result per link (a down link
    /// fails alone; the others still get the datagram).
    pub async fn send_all(
        &self,
        codec: &mut PeerLink,
        state: &PeerState,
        wall_ms: u64,
    ) -> Vec<io::Result<()>> {
        let mut results = Vec::with_capacity(self.sockets.len());
        for (i, (socket, remote)) in self.sockets.iter().zip(&self.remotes).enumerate() {
            let mut result = Ok(());
            for datagram in codec.seal_for_peer(state, i, wall_ms) {
                result = result.and(socket.send_to(&datagram, remote).await.map(|_| ()));
            }
            results.push(result);
        }
        results
    }

    /// The next valid datagram (invalid ones are counted by `codec` and skipped). `None` when
    /// every receive task has ended.
    pub async fn recv(&mut self, codec: &mut PeerLink, start: Instant) -> Option<Received> {
        loop {
            let d = self.incoming.recv().await?;
            let now = Instant::now();
            let now_ms = u64::try_from(now.duration_since(start).as_millis()).unwrap_or(u64::MAX);
            if let Ok(received) = codec.open(&d.bytes, d.link, now_ms) {
                if let Some(slot) = self.last_valid.get_mut(d.link) {
                    *slot = Some(now);
                }
                return Some(received);
            }
        }
    }

    /// Per link: did a valid datagram arrive within `dead_after`?
    pub fn alive(&self, now: Instant, dead_after: Duration) -> Vec<bool> {
        self.last_valid
            .iter()
            .map(|t| t.is_some_and(|t| now.duration_since(t) < dead_after))
            .collect()
    }
}

impl Drop for UdpLinks {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{Handover, Readiness, Role};
    use crate::peer::key::PeerKey;
    use crate::peer::wire::DropReason;
    use crate::side::Side;
    use crate::verdict::Verdict;

    fn key() -> PeerKey {
        PeerKey::from_bytes(vec![3; 32]).expect("key")
    }

    fn local(n: usize) -> Vec<LinkAddrs> {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        vec![
            LinkAddrs {
                local: any,
                remote: any
            };
            n
        ]
    }

    fn state() -> PeerState {
        PeerState {
            from: Side::A,
            role: Role::Active,
            term: 2,
            seen_term: 2,
            maintenance: false,
            own_verdict: Verdict::Healthy,
            peer_verdict: Verdict::Healthy,
            relay_seen: None,
            handover: Handover::None,
            readiness: Readiness::Ready,
            cold_standby: false,
        }
    }

    async fn pair(n: usize) -> (UdpLinks, UdpLinks) {
        let mut a = UdpLinks::bind(&local(n)).await.expect("bind a");
        let mut b = UdpLinks::bind(&local(n)).await.expect("bind b");
        let (aa, ba) = (
            a.local_addrs().expect("a addrs"),
            b.local_addrs().expect("b addrs"),
        );
        for i in 0..n {
            a.set_remote(i, ba[i]);
            b.set_remote(i, aa[i]);
        }
        (a, b)
    }

    #[tokio::test]
    async fn a_state_sent_on_two_links_arrives_on_both_and_marks_them_alive() {
        let (a, mut b) = pair(2).await;
        let start = Instant::now();
        let mut codec_a = PeerLink::new(Side::A, key(), 1);
        let mut codec_b = PeerLink::new(Side::B, key(), 2);
        for r in a.send_all(&mut codec_a, &state(), 0).await {
            r.expect("send");
        }
        // Until b has been heard, a sends each state twice per link (a version-1 copy, then the
        // current version); b reads the copy only until it has seen the current version.
        let mut links = Vec::new();
        while !(links.contains(&0) && links.contains(&1)) {
            let got = tokio::time::timeout(Duration::from_secs(5), b.recv(&mut codec_b, start))
                .await
                .expect("datagram in time")
                .expect("queue open");
            assert_eq!(got.state, state());
            links.push(got.link);
        }
        assert!(links.len() <= 3, "{links:?}");
        assert_eq!(
            b.alive(Instant::now(), Duration::from_secs(60)),
            vec![true, true]
        );
    }

    #[tokio::test]
    async fn forged_datagrams_are_counted_and_skipped() {
        let (a, mut b) = pair(1).await;
        let start = Instant::now();
        let mut forger = PeerLink::new(Side::A, PeerKey::from_bytes(vec![4; 32]).expect("key"), 1);
        let mut codec_a = PeerLink::new(Side::A, key(), 1);
        let mut codec_b = PeerLink::new(Side::B, key(), 2);
        a.send_all(&mut forger, &state(), 0).await;
        // Send garbage straight from a's socket too.
        a.sockets[0]
            .send_to(b"garbage", a.remotes[0])
            .await
            .expect("send garbage");
        a.send_all(&mut codec_a, &state(), 0).await;
        let got = tokio::time::timeout(Duration::from_secs(5), b.recv(&mut codec_b, start))
            .await
            .expect("datagram in time")
            .expect("queue open");
        assert_eq!(got.state, state());
        // The forger's version-1 copy and its current datagram.
        assert_eq!(codec_b.counters().dropped(DropReason::BadMac), 2);
        assert_eq!(codec_b.counters().dropped(DropReason::BadMagic), 1);
        assert_eq!(b.alive(Instant::now(), Duration::from_secs(60)), vec![true]);
    }

    /// Execute a core's commands the way the daemon will: datagrams on every link, actuator
    /// steps answered at once.
    async fn run_commands(
        core: &mut crate::decide::Core,
        links: &UdpLinks,
        codec: &mut PeerLink,
        now: crate::decide::Millis,
        mut cmds: Vec<crate::decide::Command>,
    ) {
        use crate::decide::{Command, Input};
        while !cmds.is_empty() {
            let mut answers = Vec::new();
            for c in cmds {
                match c {
                    Command::SendPeer(s) => {
                        links.send_all(codec, &s, 0).await;
                    }
                    Command::StartTakeover { .. } => answers.push(Input::TakeoverDone),
                    Command::StartRelease { .. } => answers.push(Input::ReleaseDone),
                    _ => {}
                }
            }
            cmds = Vec::new();
            for a in answers {
                cmds.extend(core.handle(now, a));
            }
        }
    }

    #[tokio::test]
    async fn two_cores_elect_exactly_one_active_over_real_udp() {
        use crate::decide::{Core, DecideConfig, Input, Millis, PersistedState};
        let (mut la, mut lb) = pair(2).await;
        let start = Instant::now();
        let now = || Millis(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX));
        let (mut ca, mut cb) = (
            PeerLink::new(Side::A, key(), 1),
            PeerLink::new(Side::B, key(), 2),
        );
        let mut a = Core::new(DecideConfig::new(Side::A), PersistedState::default(), now());
        let mut b = Core::new(DecideConfig::new(Side::B), PersistedState::default(), now());
        for core in [&mut a, &mut b] {
            core.handle(now(), Input::LocalVerdict(Verdict::Healthy));
            core.handle(now(), Input::PeerAsteriskVerdict(Verdict::Healthy));
        }
        let deadline = start + Duration::from_secs(10);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            assert!(
                Instant::now() < deadline,
                "no stable election: a {} b {}",
                a.role(),
                b.role()
            );
            tokio::select! {
                Some(r) = la.recv(&mut ca, start) => {
                    let cmds = a.handle(now(), Input::PeerMessage { link: r.link, state: r.state, newest: r.newest });
                    run_commands(&mut a, &la, &mut ca, now(), cmds).await;
                }
                Some(r) = lb.recv(&mut cb, start) => {
                    let cmds = b.handle(now(), Input::PeerMessage { link: r.link, state: r.state, newest: r.newest });
                    run_commands(&mut b, &lb, &mut cb, now(), cmds).await;
                }
                _ = tick.tick() => {
                    let cmds = a.tick(now());
                    run_commands(&mut a, &la, &mut ca, now(), cmds).await;
                    let cmds = b.tick(now());
                    run_commands(&mut b, &lb, &mut cb, now(), cmds).await;
                }
            }
            let b_sees_a_active = b.status().peer.last.is_some_and(|p| p.role == Role::Active);
            if a.role() == Role::Active && b_sees_a_active {
                break;
            }
        }
        // The preferred side (A) took the calls; B stays standby and both links are up.
        assert_eq!(b.role(), Role::Standby);
        assert_eq!(a.term(), 1);
        let links = b.status().peer.links;
        assert!(links.iter().all(|l| l.alive), "{links:?}");
        // Nothing dropped but the version-1 copies a sent before it had heard b.
        let counters = cb.counters();
        assert_eq!(
            counters.dropped_total(),
            counters.dropped(DropReason::OlderVersion)
        );
    }
}
