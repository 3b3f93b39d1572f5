//! The sans-IO peer codec: seals outgoing states, opens and vets incoming datagrams, counts drops.

use std::collections::BTreeMap;

use crate::decide::PeerState;
use crate::side::Side;

use super::key::PeerKey;
use super::replay::{Fresh, ReplayWindow};
use super::wire::{self, Datagram, DropReason};

/// A datagram that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Link it arrived on (the receiving socket's index).
    pub link: usize,
    pub state: PeerState,
    /// False when a datagram with a higher sequence number was already accepted.
    pub newest: bool,
    /// Sender's wall clock (informational: decisions never use it).
    pub sent_at_unix_ms: u64,
}

/// Counters for `astha status` and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerCounters {
    pub sent: u64,
    /// Accepted datagrams per link.
    pub accepted: Vec<u64>,
    pub dropped: BTreeMap<DropReason, u64>,
}

impl PeerCounters {
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// One node's end of the peer link.
#[derive(Debug)]
pub struct PeerLink {
    me: Side,
    key: PeerKey,
    epoch: u64,
    seq: u64,
    window: ReplayWindow,
    counters: PeerCounters,
    /// The peer's boot epoch in which it was heard speaking the current version (`None`: not
    /// heard yet, or it restarted since speaking only version 1).
    peer_current_epoch: Option<u64>,
}

impl PeerLink {
    /// `epoch` must grow across restarts (see [`super::epoch::next_boot_epoch`]).
    pub fn new(me: Side, key: PeerKey, epoch: u64) -> PeerLink {
        PeerLink {
            me,
            key,
            epoch,
            seq: 0,
            window: ReplayWindow::default(),
            counters: PeerCounters::default(),
            peer_current_epoch: None,
        }
    }

    /// Use a different stale-epoch reset delay (tests).
    pub fn with_window(mut self, window: ReplayWindow) -> PeerLink {
        self.window = window;
        self
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The datagrams that carry `state` on `link` to the peer: the current version once the
    /// peer has been heard speaking it; until then a version-1 copy first (all a node of the
    /// previous release understands; it drops the other as `unsupported_version`) and the
    /// current one, from which a current peer learns it may stop reading copies.
    pub fn seal_for_peer(
        &mut self,
        state: &PeerState,
        link: usize,
        wall_ms: u64,
    ) -> Vec<[u8; wire::DATAGRAM_LEN]> {
        let mut out = Vec::with_capacity(2);
        if self.peer_current_epoch.is_none() {
            out.push(self.seal_version(wire::VERSION_1, state, link, wall_ms));
        }
        out.push(self.seal(state, link, wall_ms));
        out
    }

    /// Authenticate `state` for link `link` in the current version; every datagram gets its own
    /// sequence number.
    pub fn seal(
        &mut self,
        state: &PeerState,
        link: usize,
        wall_ms: u64,
    ) -> [u8; wire::DATAGRAM_LEN] {
        self.seal_version(wire::VERSION, state, link, wall_ms)
    }

    /// [`PeerLink::seal`] in a given version: [`wire::VERSION_1`] leaves out what version 1
    /// cannot carry.
    pub fn seal_version(
        &mut self,
        version: u8,
        state: &PeerState,
        link: usize,
        wall_ms: u64,
    ) -> [u8; wire::DATAGRAM_LEN] {
        self.seq += 1;
        self.counters.sent += 1;
        let mut state = *state;
        state.from = self.me;
        let d = Datagram {
            version,
            link: u8::try_from(link).unwrap_or(u8::MAX),
            epoch: self.epoch,
            seq: self.seq,
            sent_at_unix_ms: wall_ms,
            state,
        };
        wire::encode(&d, &self.key)
    }

    /// Vet a datagram received on `link` at monotonic time `now_ms`; drops are counted.
    pub fn open(&mut self, bytes: &[u8], link: usize, now_ms: u64) -> Result<Received, DropReason> {
        let result = self.vet(bytes, link, now_ms);
        match &result {
            Ok(_) => {
                if self.counters.accepted.len() <= link {
                    self.counters.accepted.resize(link + 1, 0);
                }
                self.counters.accepted[link] += 1;
            }
            Err(reason) => *self.counters.dropped.entry(*reason).or_insert(0) += 1,
        }
        result
    }

    fn vet(&mut self, bytes: &[u8], link: usize, now_ms: u64) -> Result<Received, DropReason> {
        let d = wire::decode(bytes, &self.key)?;
        if d.state.from == self.me {
            return Err(DropReason::FromSelf);
        }
        let speaks_current = self.peer_current_epoch.is_some_and(|e| e >= d.epoch);
        if d.version == wire::VERSION_1 && speaks_current {
            return Err(DropReason::OlderVersion);
        }
        let fresh = self.window.accept(d.epoch, d.seq, now_ms)?;
        if d.version == wire::VERSION {
            self.peer_current_epoch = Some(d.epoch);
        } else if self.peer_current_epoch.is_some_and(|e| e < d.epoch) {
            // Restarted as a node of the previous release (a downgrade): back to version 1.
            self.peer_current_epoch = None;
        }
        Ok(Received {
            link,
            state: d.state,
            newest: fresh == Fresh::Newest,
            sent_at_unix_ms: d.sent_at_unix_ms,
        })
    }

    pub fn counters(&self) -> &PeerCounters {
        &self.counters
    }
}

/// The fuzz target's body (also run over random bytes by a unit test): opening arbitrary bytes
/// must never panic and never accept anything not sealed with the key.
pub fn fuzz_open(data: &[u8]) {
    let Ok(key) = PeerKey::from_bytes(vec![0x5a; 32]) else {
        return;
    };
    let mut link = PeerLink::new(Side::A, key, 1);
    let accepted = link.open(data, 0, 0);
    // Garbage cannot carry a valid MAC, so nothing is ever accepted.
    assert!(accepted.is_err(), "unauthenticated bytes were accepted");
    assert_eq!(link.counters().dropped_total(), 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{Handover, Readiness, Role};
    use crate::verdict::Verdict;
    use proptest::prelude::*;

    fn key() -> PeerKey {
        PeerKey::from_bytes(b"0123456789abcdef0123456789abcdef".to_vec()).expect("key")
    }

    fn state(from: Side) -> PeerState {
        PeerState {
            from,
            role: Role::Active,
            term: 4,
            seen_term: 4,
            maintenance: false,
            own_verdict: Verdict::Healthy,
            peer_verdict: Verdict::Healthy,
            relay_seen: Some(from),
            handover: Handover::None,
            readiness: Readiness::Ready,
            cold_standby: false,
        }
    }

    #[test]
    fn a_sealed_datagram_opens_once_and_its_replay_is_dropped_and_counted() {
        let mut a = PeerLink::new(Side::A, key(), 10);
        let mut b = PeerLink::new(Side::B, key(), 20);
        let d = a.seal(&state(Side::A), 1, 123);
        let got = b.open(&d, 1, 0).expect("open");
        assert_eq!(got.state, state(Side::A));
        assert!(got.newest);
        assert_eq!(got.sent_at_unix_ms, 123);
        assert_eq!(b.open(&d, 1, 5), Err(DropReason::Replayed));
        assert_eq!(b.counters().dropped(DropReason::Replayed), 1);
        assert_eq!(b.counters().accepted, vec![0, 1]);
    }

    #[test]
    fn own_datagrams_reflected_back_are_dropped() {
        let mut a = PeerLink::new(Side::A, key(), 10);
        let d = a.seal(&state(Side::A), 0, 0);
        assert_eq!(a.open(&d, 0, 0), Err(DropReason::FromSelf));
    }

    #[test]
    fn wrong_key_truncated_and_garbage_are_counted_by_reason() {
        let mut a = PeerLink::new(Side::A, key(), 10);
        let other = PeerKey::from_bytes(vec![9; 40]).expect("key");
        let mut forger = PeerLink::new(Side::A, other, 10);
        let mut b = PeerLink::new(Side::B, key(), 20);
        let forged = forger.seal(&state(Side::A), 0, 0);
        assert_eq!(b.open(&forged, 0, 0), Err(DropReason::BadMac));
        let good = a.seal(&state(Side::A), 0, 0);
        assert_eq!(b.open(&good[..40], 0, 0), Err(DropReason::Truncated));
        assert_eq!(b.open(b"hello", 0, 0), Err(DropReason::BadMagic));
        assert_eq!(b.counters().dropped_total(), 3);
        // Forged and broken datagrams did not move the window: the real one still opens.
        assert!(b.open(&good, 0, 0).is_ok());
    }

    #[test]
    fn restarted_peer_is_accepted_but_its_previous_boot_is_not_replayable() {
        let mut b = PeerLink::new(Side::B, key(), 20);
        let mut a_old = PeerLink::new(Side::A, key(), 100);
        let recorded: Vec<_> = (0..5).map(|_| a_old.seal(&state(Side::A), 0, 0)).collect();
        for d in &recorded {
            assert!(b.open(d, 0, 0).is_ok());
        }
        let mut a_new = PeerLink::new(Side::A, key(), 101);
        assert!(
            b.open(&a_new.seal(&state(Side::A), 0, 0), 0, 100).is_ok(),
            "seq restarts, epoch grew"
        );
        for d in &recorded {
            assert_eq!(b.open(d, 0, 200), Err(DropReason::StaleEpoch));
        }
    }

    #[test]
    fn fuzz_body_survives_random_bytes() {
        let mut rng = crate::decide::pair_sim::SimRng::new(0xF022);
        for _ in 0..20_000 {
            let len = rng.range(0, 120) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if rng.chance(0.5) && bytes.len() >= 5 {
                // Make it past the cheap checks so the MAC path is exercised too.
                bytes[..4].copy_from_slice(&wire::MAGIC);
                bytes[4] = wire::VERSION;
            }
            fuzz_open(&bytes);
        }
    }

    /// A node of the previous release (version 1 only) and a current one understand each other:
    /// the current node keeps sending version-1 copies to it, and stops once its peer speaks
    /// the current version; a current peer reads each state once.
    #[test]
    fn mixed_versions_understand_each_other() {
        let mut new = PeerLink::new(Side::A, key(), 10);
        let mut old = PeerLink::new(Side::B, key(), 20);
        let v1_only = |d: &[u8; wire::DATAGRAM_LEN]| d[4] == wire::VERSION_1;
        // Not heard yet: a version-1 copy, then the current version.
        let sent = new.seal_for_peer(&state(Side::A), 0, 0);
        assert_eq!(sent.iter().map(|d| d[4]).collect::<Vec<_>>(), [1, 2]);
        // The old node reads the copy; its strict decoder knows only version 1.
        assert!(v1_only(&sent[0]) && old.open(&sent[0], 0, 0).is_ok());
        // The old node speaks version 1 only: the new one reads it and keeps sending copies.
        let from_old = old.seal_version(wire::VERSION_1, &state(Side::B), 0, 0);
        let received = new.open(&from_old, 0, 0).expect("v1 accepted");
        assert_eq!(received.state.readiness, Readiness::Ready);
        assert!(!received.state.cold_standby);
        assert_eq!(new.seal_for_peer(&state(Side::A), 0, 0).len(), 2);

        // Two current nodes: after one exchange, the current version only, and the copies
        // still in flight are dropped rather than read twice.
        let mut b = PeerLink::new(Side::B, key(), 30);
        let from_a = new.seal_for_peer(&state(Side::A), 0, 0);
        assert!(b.open(&from_a[0], 0, 0).is_ok());
        assert!(b.open(&from_a[1], 0, 0).is_ok());
        let from_b = b.seal_for_peer(&state(Side::B), 0, 0);
        assert_eq!(from_b.len(), 1, "b heard a speak version 2");
        assert!(new.open(&from_b[0], 0, 0).is_ok());
        assert_eq!(new.seal_for_peer(&state(Side::A), 0, 0).len(), 1);
        let late_copy = new.seal_version(wire::VERSION_1, &state(Side::A), 0, 0);
        assert_eq!(
            b.open(&late_copy, 0, 0).err(),
            Some(DropReason::OlderVersion)
        );
    }

    proptest! {
        #[test]
        fn interleaved_links_never_accept_a_datagram_twice(order in proptest::collection::vec(0usize..20, 1..60)) {
            let mut a = PeerLink::new(Side::A, key(), 1);
            let mut b = PeerLink::new(Side::B, key(), 2);
            let sealed: Vec<_> = (0..20).map(|i| a.seal(&state(Side::A), i % 2, 0)).collect();
            let mut accepted = std::collections::HashSet::new();
            for i in order {
                if b.open(&sealed[i], i % 2, 0).is_ok() {
                    prop_assert!(accepted.insert(i));
                }
            }
        }
    }
}
