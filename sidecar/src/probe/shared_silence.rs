//! Whether two Asterisks fell silent together as seen from this node: then neither silence says anything about that Asterisk (see `decide/core/common_silence.rs` for the same rule on verdicts).
//!
//! Two checks live here. [`fell_silent_together`] is asked by the urgent check of a silent
//! peer. [`VerdictGate`] stands between the monitors and the decision core: a failed verdict
//! reaches the core at once when the other Asterisk is heard from all along, and is held back
//! while the other is silent too, so that the core sees both failures together.
//!
//! The urgent check of a silent peer's Asterisk is judged on the silence of its AMI connection;
//! on a host that stalls for seconds (every process starved at once, the network namespaces'
//! links with them) the own Asterisk's connection goes quiet at the same moment, and the peer's
//! silence is this host's. Measured on a saturated test bed: all four AMI connections of a pair
//! quiet together while astha itself ran, and a standby that took a healthy active's calls.

use std::time::{Duration, Instant};

use crate::verdict::Verdict;

/// Whether the own Asterisk (last answer to an action sent at `own`) is silent at `now` and
/// fell silent together with the peer's (last answer `peer`): nothing answered for `window`,
/// and its last answer is not older than one `window` before the peer's. An own Asterisk that
/// never answered or went silent long before (stopped in a cold standby, hung on its own) is no
/// shared silence: it has no bearing on the peer's.
pub fn fell_silent_together(
    own: Option<Instant>,
    peer: Option<Instant>,
    now: Instant,
    window: Duration,
) -> bool {
    let Some(own) = own else {
        return false;
    };
    let own_silent = now.saturating_duration_since(own) >= window;
    let peer_went_quiet = peer.unwrap_or(own);
    own_silent && own + window >= peer_went_quiet
}

/// One of the two Asterisks a node judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// This node's own.
    Own,
    /// The peer's.
    Peer,
}

impl Judged {
    fn index(self) -> usize {
        match self {
            Judged::Own => 0,
            Judged::Peer => 1,
        }
    }

    fn other(self) -> Judged {
        match self {
            Judged::Own => Judged::Peer,
            Judged::Peer => Judged::Own,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Judged::Own => "local",
            Judged::Peer => "peer",
        }
    }
}

/// How long a failed verdict is held back at most, whatever the other Asterisk does (its own
/// verdict fails within one window of its silence, which releases the hold long before).
const MAX_HOLD: Duration = Duration::from_secs(10);

/// Holds back a failed verdict while the other Asterisk is silent too.
///
/// The decision core rejects two failures that fall within one window of each other
/// (`decide/core/common_silence.rs`), but it sees verdicts in the order they fall: when this
/// host stalls, the Asterisk whose last answer came first fails first, and an active whose own
/// verdict fell a moment before its view of the standby's handed over at once. Whether the
/// other would follow is already known when the first fails: over the failing one's silence
/// (a full window) the other answered every ping, every quarter window by default, unless the
/// observer itself was cut off. So a failure reaches the core at once when the other was heard
/// from within the last half window (or is itself failed or unknown: then there is nothing to
/// compare with). Otherwise it is held until:
/// - the other's verdict fails too: both reach the core together, as one common silence;
/// - the other answers again and this one still fails half a window later: the observer's
///   path works again, and a healthy Asterisk answers the ping waiting for it at once (two
///   ping intervals by default);
/// - this one answers again: the failure never reaches the core;
/// - [`MAX_HOLD`] passed.
///
/// A hang of one Asterisk is judged as fast as before; the cost falls on a hang whose
/// observer cannot hear the other for half a window either (a loaded host): the rest of the
/// other's pause, and half a window more.
#[derive(Debug)]
pub struct VerdictGate {
    window: Duration,
    slots: [Slot; 2],
}

#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    /// The verdict as the monitor published it.
    verdict: Verdict,
    /// A failure held back from the core.
    held: Option<Held>,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    since: Instant,
    /// When the other Asterisk answered again (after `since`).
    other_back: Option<Instant>,
}

impl VerdictGate {
    /// `window`: the liveness window, the silence after which an Asterisk is failed.
    pub fn new(window: Duration) -> Self {
        VerdictGate {
            window,
            slots: [Slot::default(); 2],
        }
    }

    /// The monitor of `judged` published `verdict` at `now`; `other_heard`: when the other
    /// Asterisk's last answer was heard. Returns the verdicts the core gets now, in order.
    pub fn verdict(
        &mut self,
        judged: Judged,
        verdict: Verdict,
        now: Instant,
        other_heard: Option<Instant>,
    ) -> Vec<(Judged, Verdict)> {
        let other = judged.other();
        let slot = &mut self.slots[judged.index()];
        // The monitor publishes its status on every probe outcome: only a change is judged.
        if slot.verdict == verdict {
            return match slot.held {
                Some(_) => Vec::new(),
                None => vec![(judged, verdict)],
            };
        }
        let was_held = slot.held.take();
        slot.verdict = verdict;
        if verdict != Verdict::Failed {
            if was_held.is_some() {
                tracing::info!(
                    target = judged.name(),
                    to = %verdict,
                    "held failure withdrawn: the Asterisk answered again before it counted"
                );
            }
            return vec![(judged, verdict)];
        }
        // Both failed: the core sees a common silence, provided it gets both at once
        // (`Core::handle_all`): either alone, with the other still counted as answering, is a
        // handover for an active (its own) or nothing at all (the standby's).
        if self.slots[other.index()].held.take().is_some() {
            return vec![(judged, Verdict::Failed), (other, Verdict::Failed)];
        }
        let other_answers = self.slots[other.index()].verdict.can_carry_calls();
        let heard_lately =
            other_heard.is_none_or(|heard| now.saturating_duration_since(heard) <= self.window / 2);
        if !other_answers || heard_lately {
            return vec![(judged, verdict)];
        }
        tracing::warn!(
            target = judged.name(),
            other = other.name(),
            silent_ms = other_heard.map(|h| now.saturating_duration_since(h).as_millis()),
            "failure held back: the other Asterisk is silent from here too, this host or its network may have stalled"
        );
        self.slots[judged.index()].held = Some(Held {
            since: now,
            other_back: None,
        });
        Vec::new()
    }

    /// The Asterisk `judged` answered an action, heard at `heard`.
    pub fn answered(&mut self, judged: Judged, heard: Instant) {
        let slot = &mut self.slots[judged.other().index()];
        if let Some(held) = slot.held.as_mut() {
            if heard > held.since && held.other_back.is_none() {
                held.other_back = Some(heard);
            }
        }
    }

    /// Whether a failure of `judged` waits for the other's answers.
    pub fn waits_for_answers_of(&self, judged: Judged) -> bool {
        self.slots[judged.other().index()]
            .held
            .is_some_and(|h| h.other_back.is_none())
    }

    /// When [`VerdictGate::poll`] may release a held failure.
    pub fn next_release(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| s.held.map(|h| self.release_at(h)))
            .min()
    }

    fn release_at(&self, held: Held) -> Instant {
        let deadline = held.since + MAX_HOLD;
        held.other_back
            .map_or(deadline, |back| (back + self.window / 2).min(deadline))
    }

    /// The held failures due at `now`: the other answered half a window ago and this one still
    /// did not (or the hold ran out).
    pub fn poll(&mut self, now: Instant) -> Vec<(Judged, Verdict)> {
        let mut released = Vec::new();
        for judged in [Judged::Own, Judged::Peer] {
            let Some(held) = self.slots[judged.index()].held else {
                continue;
            };
            if now >= self.release_at(held) {
                self.slots[judged.index()].held = None;
                tracing::warn!(
                    target = judged.name(),
                    held_ms = now.saturating_duration_since(held.since).as_millis(),
                    "held failure counts: the other Asterisk answers from here and this one still does not"
                );
                released.push((judged, Verdict::Failed));
            }
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(700);

    const GATE_WINDOW: Duration = Duration::from_millis(1000);

    fn failed(judged: Judged) -> Vec<(Judged, Verdict)> {
        vec![(judged, Verdict::Failed)]
    }

    /// A gate whose two Asterisks were both healthy at `t`.
    fn healthy_gate(t: Instant) -> VerdictGate {
        let mut gate = VerdictGate::new(GATE_WINDOW);
        gate.verdict(Judged::Own, Verdict::Healthy, t, Some(t));
        gate.verdict(Judged::Peer, Verdict::Healthy, t, Some(t));
        gate
    }

    /// This host stalls at t: the own Asterisk fails a window later, and the peer's has not
    /// been heard from since t either. Returns t, the gate holding the failure, and when it fell.
    fn own_failure_held() -> (Instant, VerdictGate, Instant) {
        let t = Instant::now();
        let mut gate = healthy_gate(t);
        let own_failed = t + GATE_WINDOW;
        assert!(gate
            .verdict(Judged::Own, Verdict::Failed, own_failed, Some(t))
            .is_empty());
        (t, gate, own_failed)
    }

    #[test]
    fn a_failure_while_the_other_answers_reaches_the_core_at_once() {
        let t = Instant::now();
        let mut gate = healthy_gate(t);
        let now = t + Duration::from_secs(2);
        let heard = now - Duration::from_millis(250);
        assert_eq!(
            gate.verdict(Judged::Own, Verdict::Failed, now, Some(heard)),
            failed(Judged::Own)
        );
        assert_eq!(gate.next_release(), None);
    }

    #[test]
    fn a_failure_beside_a_failed_or_unknown_other_is_not_held() {
        let t = Instant::now();
        let now = t + Duration::from_secs(2);
        // A cold standby's stopped Asterisk: its verdict failed, nothing heard for long.
        let mut gate = healthy_gate(t);
        gate.verdict(Judged::Peer, Verdict::Failed, t, Some(t));
        assert_eq!(
            gate.verdict(Judged::Own, Verdict::Failed, now, Some(t)),
            failed(Judged::Own)
        );
        // Never judged: nothing to compare with.
        let mut fresh = VerdictGate::new(GATE_WINDOW);
        assert_eq!(
            fresh.verdict(Judged::Peer, Verdict::Failed, now, None),
            failed(Judged::Peer)
        );
    }

    #[test]
    fn two_silences_reach_the_core_together_whichever_failed_first() {
        let (t, mut gate, own_failed) = own_failure_held();
        assert!(gate.waits_for_answers_of(Judged::Peer));
        let peer_failed = own_failed + Duration::from_millis(200);
        assert_eq!(
            gate.verdict(Judged::Peer, Verdict::Failed, peer_failed, Some(t)),
            vec![
                (Judged::Peer, Verdict::Failed),
                (Judged::Own, Verdict::Failed)
            ]
        );
        assert_eq!(gate.next_release(), None);
    }

    #[test]
    fn a_held_failure_that_answers_again_never_reaches_the_core() {
        let (_, mut gate, own_failed) = own_failure_held();
        // The stall ends: the peer's answers first, the own a moment later.
        let back = own_failed + Duration::from_millis(300);
        gate.answered(Judged::Peer, back);
        assert!(!gate.waits_for_answers_of(Judged::Peer));
        let own_back = back + Duration::from_millis(40);
        assert_eq!(
            gate.verdict(Judged::Own, Verdict::Degraded, own_back, Some(back)),
            vec![(Judged::Own, Verdict::Degraded)]
        );
        assert_eq!(gate.next_release(), None);
        assert!(gate.poll(back + GATE_WINDOW * 2).is_empty());
    }

    #[test]
    fn a_held_failure_counts_half_a_window_after_the_other_answers_again() {
        let (_, mut gate, own_failed) = own_failure_held();
        // An answer heard before the hold says nothing new.
        gate.answered(Judged::Peer, own_failed - Duration::from_millis(1));
        assert_eq!(gate.next_release(), Some(own_failed + MAX_HOLD));
        let back = own_failed + Duration::from_millis(300);
        gate.answered(Judged::Peer, back);
        let due = back + GATE_WINDOW / 2;
        assert_eq!(gate.next_release(), Some(due));
        assert!(gate.poll(due - Duration::from_millis(1)).is_empty());
        assert_eq!(gate.poll(due), failed(Judged::Own));
        assert_eq!(gate.next_release(), None);
    }

    #[test]
    fn a_hold_ends_after_max_hold_whatever_the_other_does() {
        let t = Instant::now();
        let mut gate = healthy_gate(t);
        let failed_at = t + Duration::from_millis(1000);
        assert!(gate
            .verdict(Judged::Peer, Verdict::Failed, failed_at, Some(t))
            .is_empty());
        assert!(gate.waits_for_answers_of(Judged::Own));
        assert_eq!(gate.poll(failed_at + MAX_HOLD), failed(Judged::Peer));
    }

    #[test]
    fn both_quiet_since_about_the_same_moment_is_a_shared_silence() {
        let t = Instant::now();
        let now = t + Duration::from_secs(2);
        assert!(fell_silent_together(Some(t), Some(t), now, WINDOW));
        // The own Asterisk's last answer a little before or after the peer's.
        let peer = t + Duration::from_millis(300);
        assert!(fell_silent_together(Some(t), Some(peer), now, WINDOW));
        assert!(fell_silent_together(Some(peer), Some(t), now, WINDOW));
    }

    #[test]
    fn an_own_asterisk_that_answers_makes_the_peers_silence_its_own() {
        let t = Instant::now();
        let now = t + Duration::from_secs(2);
        let just_now = now - Duration::from_millis(100);
        assert!(!fell_silent_together(Some(just_now), Some(t), now, WINDOW));
    }

    #[test]
    fn an_own_asterisk_silent_long_before_or_never_heard_is_no_shared_silence() {
        let t = Instant::now();
        let now = t + Duration::from_secs(60);
        let peer = now - Duration::from_secs(1);
        assert!(!fell_silent_together(Some(t), Some(peer), now, WINDOW));
        assert!(!fell_silent_together(None, Some(peer), now, WINDOW));
    }
}
