//! The standby's rules: when it takes over (the peer hands over, the peer is dead, nobody is
//! active) and when it asks for the calls back (failback). Each rule is a named predicate in a
//! table (see [`super::rule`]); `decide/mod.rs` lists them in the same order.

use crate::decide::{
    AlertSeverity, Command, DecisionKind, Handover, Millis, Readiness, Reason, Role,
};
use crate::verdict::Verdict;

use super::rule::{pass_if, rule, Check, Rule};
use super::{AlertKey, Core, FRESH_SLACK_MS, STARTUP_VERDICT_WAIT_MS};

/// Every takeover by a standby waits for these.
pub(super) const STANDBY_GATES: &[Rule] = &[rule!(takeover_retry_wait_over)];

/// A standby takes over when the peer hands over to it (checked before any other takeover).
pub(super) const HANDOVER_RULES: &[Rule] = &[
    rule!(peer_hands_over_to_this_node),
    rule!(this_node_can_take_over_or_handover_forced),
];

/// A standby takes over from a peer that is silent on every link only when all of these hold.
pub(super) const DEAD_PEER_RULES: &[Rule] = &[
    rule!(silence_lasted_since_own_start_or_stall),
    rule!(silent_peer_did_not_move_the_relay),
    rule!(peer_asterisk_fails_probes_from_here, ends BrokenLink),
    rule!(peer_asterisk_not_silent_with_own),
    rule!(peer_not_in_maintenance),
    rule!(no_handover_offer_open),
    rule!(no_recent_step_down_for_this_peer, ends HeldAfterStepDown),
    rule!(witness_reachable_if_configured, ends WitnessUnreachable),
    rule!(this_node_can_take_over, ends LocalUnhealthyNoTakeover),
];

/// With the peer alive and nobody active, the designated node takes over when all of these
/// hold, after the designation settled for one interval.
pub(super) const NO_ACTIVE_RULES: &[Rule] = &[
    rule!(nobody_claims_the_calls),
    rule!(peer_not_faulted, ends PeerFaulted),
    rule!(peer_not_in_maintenance),
    rule!(no_handover_offer_open),
    rule!(peer_has_judged_its_readiness),
    rule!(knowledge_of_peer_is_current),
    rule!(this_node_is_designated),
];

/// The configured failback side asks the active for the calls when all of these hold.
pub(super) const FAILBACK_RULES: &[Rule] = &[
    rule!(failback_configured_to_this_node),
    rule!(peer_is_active),
    rule!(this_node_is_fully_ready),
    rule!(hold_down_over),
    rule!(up_for_hold_down),
    rule!(no_release_request_open),
    rule!(peer_not_in_maintenance),
];

impl Core {
    pub(super) fn evaluate_standby(&mut self, out: &mut Vec<Command>) {
        if !self.rules_pass(STANDBY_GATES, out) || self.accept_handover(out) {
            return;
        }
        if self.peer_alive() {
            self.clear(AlertKey::BrokenLink);
            self.clear(AlertKey::WitnessUnreachable);
            self.consider_failback(out);
            self.consider_no_active_takeover(out);
        } else {
            self.designated_since = None;
            if self.rules_pass(DEAD_PEER_RULES, out) {
                self.start_takeover(Reason::PeerDead, out);
            }
        }
    }

    pub(super) fn evaluate_maintenance(&mut self, out: &mut Vec<Command>) {
        // Only a handover this node's operator asked for is accepted in maintenance.
        if self.release_request.is_some() {
            self.accept_handover(out);
        }
    }

    /// Take over if the peer hands over to us. Returns true when a takeover started.
    fn accept_handover(&mut self, out: &mut Vec<Command>) -> bool {
        if !self.rules_pass(HANDOVER_RULES, out) {
            return false;
        }
        self.takeover_by_handover = true;
        self.start_takeover(Reason::PeerHandedOver, out);
        true
    }

    fn consider_no_active_takeover(&mut self, out: &mut Vec<Command>) {
        if !self.rules_pass(NO_ACTIVE_RULES, out) {
            self.designated_since = None;
            return;
        }
        // Let the designation settle for one interval so a verdict change in flight cannot make
        // both sides start at once. No hold-down here: with nobody active there is nothing to
        // flap from, only an outage.
        let since = *self.designated_since.get_or_insert(self.now);
        if self.now.since(since) >= self.cfg.peer_interval_ms {
            self.designated_since = None;
            self.start_takeover(Reason::NoActiveNode, out);
        }
    }

    fn consider_failback(&mut self, out: &mut Vec<Command>) {
        if self.rules_pass(FAILBACK_RULES, out) {
            let until = self.now.plus(self.cfg.handover_timeout_ms);
            self.release_request = Some((false, until));
            self.record(DecisionKind::RequestRelease, Reason::Failback, out);
        }
    }

    // ----- gates --------------------------------------------------------------------------

    /// After a failed takeover, the next attempt waits `takeover_retry`.
    pub(super) fn takeover_retry_wait_over(&self) -> Check {
        pass_if(self.retry_after.is_none_or(|t| self.now >= t))
    }

    // ----- handover -----------------------------------------------------------------------

    /// The peer, alive, releases (or has released) and asks this node to take over.
    pub(super) fn peer_hands_over_to_this_node(&self) -> Check {
        pass_if(self.alive_peer().is_some_and(|p| {
            matches!(p.handover, Handover::ReleasingToYou { .. })
                && matches!(p.role, Role::Releasing | Role::Standby | Role::Maintenance)
        }))
    }

    /// A handover is taken only by a node that can take the calls (see [`Core::readiness`]),
    /// unless the peer or this node's operator forced it.
    pub(super) fn this_node_can_take_over_or_handover_forced(&self) -> Check {
        let peer_forced = self
            .peer_last
            .is_some_and(|p| matches!(p.handover, Handover::ReleasingToYou { forced: true }));
        let operator_forced = self.release_request.is_some_and(|(forced, _)| forced);
        let Some(problem) = self.readiness_problem() else {
            return Check::Pass;
        };
        if peer_forced || operator_forced {
            return Check::Pass;
        }
        Check::Refuse(
            AlertKey::LocalUnhealthyNoTakeover,
            AlertSeverity::Critical,
            format!("peer handed over but this node cannot take over ({problem}): not taking over"),
        )
    }

    // ----- dead peer ----------------------------------------------------------------------

    /// The silence lasted `peer_dead_after`, counted from the latest of the peer's last message,
    /// this node's start (start-up grace: a peer never heard may well be active) and its
    /// resumption after a stall (a node that was not running cannot know what it missed: it
    /// waits for the peer's queued messages and gathers fresh evidence first).
    pub(super) fn silence_lasted_since_own_start_or_stall(&self) -> Check {
        pass_if(self.now.since(self.silent_since()) >= self.cfg.peer_dead_after_ms)
    }

    /// A relay that was still elsewhere after the peer went silent and is on its side now says
    /// the peer is alive and took over behind cut links.
    pub(super) fn silent_peer_did_not_move_the_relay(&self) -> Check {
        if self
            .relay_moved_to_peer_at
            .is_some_and(|t| t >= self.silent_since())
        {
            let peer = self.cfg.me.other();
            return Check::Refuse(
                AlertKey::BrokenLink,
                AlertSeverity::Critical,
                format!(
                    "{peer} is silent on every link but moved the relay: links cut, no takeover"
                ),
            );
        }
        Check::Pass
    }

    /// Positive evidence: the peer's Asterisk failed probes from here *during this silence*
    /// (a verdict that failed before the silence may be stale), or an urgent probe failed. A
    /// silent peer whose Asterisk still answers is a broken link: no takeover, an alert. Not
    /// while the latest urgent probe of this silence failed and its evidence only aged out
    /// (the next one is on its way): that is no sign of a broken link, and saying so each time
    /// would raise and clear the alert with every probe.
    pub(super) fn peer_asterisk_fails_probes_from_here(&self) -> Check {
        if self.peer_asterisk_failed_during_silence() || self.urgent_probe_failed {
            return Check::Pass;
        }
        if self.peer_asterisk.can_carry_calls() && !self.last_urgent_probe_of_silence_failed() {
            let peer = self.cfg.me.other();
            return Check::Refuse(
                AlertKey::BrokenLink,
                AlertSeverity::Warning,
                format!(
                    "{peer} is silent on every link but its Asterisk answers: broken link, no takeover"
                ),
            );
        }
        Check::Wait
    }

    /// The peer's Asterisk did not fall silent together with this node's own (see
    /// [`super::common_silence`]): if it did, this node's host or network stalled, and the peer
    /// counts as failed only once the own Asterisk answers again and the peer's still does not.
    pub(super) fn peer_asterisk_not_silent_with_own(&self) -> Check {
        pass_if(self.failure_is_not_common_mode())
    }

    /// The latest urgent probe answered during this silence failed (none answered since).
    fn last_urgent_probe_of_silence_failed(&self) -> bool {
        let silent_since = self.silent_since();
        self.urgent_answered_at.is_some_and(|failed| {
            failed >= silent_since && self.peer_answered_at.is_none_or(|ok| ok < failed)
        })
    }

    /// A peer in maintenance (as last heard) gets no automatic decisions taken over its head.
    pub(super) fn peer_not_in_maintenance(&self) -> Check {
        pass_if(!self.peer_last.is_some_and(|p| p.maintenance))
    }

    /// While this node's own offer to hand over is open, the peer is expected to be taking over.
    pub(super) fn no_handover_offer_open(&self) -> Check {
        pass_if(self.handover_offer.is_none())
    }

    /// A node that gave way to the peer (stepped down, aborted a takeover) does not take over
    /// from it as "dead" within `hold_down`: a silence now is far more likely a bad network than
    /// a death, and taking over again would flap.
    pub(super) fn no_recent_step_down_for_this_peer(&self) -> Check {
        if self.dead_peer_takeover_held_ms() == 0 {
            return Check::Pass;
        }
        let peer = self.cfg.me.other();
        Check::Refuse(
            AlertKey::HeldAfterStepDown,
            AlertSeverity::Critical,
            format!("{peer} looks dead but this node stepped down for it recently: holding down"),
        )
    }

    /// With a witness configured, a takeover from a silent peer needs the witness to have
    /// answered since the peer was suspected (the driver checks it then): an answer from before
    /// could predate the cut that silenced the peer, and a node cut off from everything must not
    /// take over.
    pub(super) fn witness_reachable_if_configured(&self) -> Check {
        if !self.cfg.witness {
            return Check::Pass;
        }
        let asked_from = self.silent_since().plus(self.cfg.suspect_after_ms);
        match (self.witness, self.witness_at) {
            (Some(true), Some(at)) if at >= asked_from => Check::Pass,
            (Some(false), _) => {
                let peer = self.cfg.me.other();
                Check::Refuse(
                    AlertKey::WitnessUnreachable,
                    AlertSeverity::Critical,
                    format!(
                        "{peer} looks dead but the witness is not reachable from here: no takeover"
                    ),
                )
            }
            // No answer since the silence began yet.
            _ => Check::Wait,
        }
    }

    /// A node never takes over while it cannot take the calls: its Asterisk cannot carry them
    /// (warm), it could not start it (cold), or its service network is down (only an operator
    /// can force a takeover then).
    pub(super) fn this_node_can_take_over(&self) -> Check {
        let Some(problem) = self.readiness_problem() else {
            return Check::Pass;
        };
        let peer = self.cfg.me.other();
        Check::Refuse(
            AlertKey::LocalUnhealthyNoTakeover,
            AlertSeverity::Critical,
            format!("{peer} looks dead but this node cannot take over ({problem}): no takeover"),
        )
    }

    // ----- nobody active ------------------------------------------------------------------

    /// The peer is neither active, taking over nor releasing.
    pub(super) fn nobody_claims_the_calls(&self) -> Check {
        pass_if(
            self.peer_last
                .is_some_and(|p| !p.role.claims_calls() && p.role != Role::Releasing),
        )
    }

    /// A faulted peer with nobody active needs an operator, not an automatic takeover.
    pub(super) fn peer_not_faulted(&self) -> Check {
        if !self.peer_last.is_some_and(|p| p.role == Role::Faulted) {
            return Check::Pass;
        }
        let peer = self.cfg.me.other();
        Check::Refuse(
            AlertKey::PeerFaulted,
            AlertSeverity::Critical,
            format!("{peer} is faulted and nobody is active: operator needed (`astha failover --force`)"),
        )
    }

    /// Right after its start the peer may not have judged whether it could take the calls
    /// (its Asterisk's verdict, or its cold-start check): it gets [`STARTUP_VERDICT_WAIT_MS`]
    /// before the designation goes ahead without its word.
    pub(super) fn peer_has_judged_its_readiness(&self) -> Check {
        let unknown_for = self.peer_unknown_since.map_or(0, |t| self.now.since(t));
        pass_if(
            !self
                .peer_last
                .is_some_and(|p| p.readiness == Readiness::Unknown)
                || unknown_for >= STARTUP_VERDICT_WAIT_MS,
        )
    }

    /// Designate only on current knowledge of the peer (no message lost in between), and after
    /// giving way to the peer only on what it said since.
    pub(super) fn knowledge_of_peer_is_current(&self) -> Check {
        pass_if(self.peer_last_at.is_some_and(|t| {
            self.now.since(t) <= self.cfg.peer_interval_ms + FRESH_SLACK_MS
                && self.stepped_down_at.is_none_or(|s| t > s)
        }))
    }

    /// Exactly one side is designated from the readiness each reports of itself: the
    /// configured preferred side if it can take the calls, otherwise the other side if it can.
    /// The configured side, not the relay position: both nodes must reach the same answer from
    /// what they know, and relay readings differ in time between them (the simulator showed
    /// double takeovers with it).
    pub(super) fn this_node_is_designated(&self) -> Check {
        let Some(p) = self.peer_last else {
            return Check::Wait;
        };
        let me = self.cfg.me;
        let side_ok = |s| {
            if s == me {
                self.readiness().is_ready()
            } else {
                p.readiness.is_ready()
            }
        };
        let preferred = self.cfg.preferred;
        let designated = [preferred, preferred.other()]
            .into_iter()
            .find(|&s| side_ok(s));
        pass_if(designated == Some(me))
    }

    // ----- failback -----------------------------------------------------------------------

    /// No automatic failback unless `failback_to` names this node.
    pub(super) fn failback_configured_to_this_node(&self) -> Check {
        pass_if(self.cfg.failback_to == Some(self.cfg.me))
    }

    /// Failback asks an active peer (not one that is still switching).
    pub(super) fn peer_is_active(&self) -> Check {
        pass_if(self.peer_last.is_some_and(|p| p.role == Role::Active))
    }

    /// Failback only to a node fully ready: able to take the calls, and in warm standby with a
    /// healthy Asterisk (degraded is not enough to move calls for).
    pub(super) fn this_node_is_fully_ready(&self) -> Check {
        let healthy = self.is_cold_standby() || self.local == Verdict::Healthy;
        pass_if(self.readiness().is_ready() && healthy)
    }

    /// Hold-down: no automatic non-emergency switch within `hold_down` of the last one, by
    /// either node.
    pub(super) fn hold_down_over(&self) -> Check {
        pass_if(!self.held_down())
    }

    /// A node that just (re)started has not seen how long the peer has been active.
    pub(super) fn up_for_hold_down(&self) -> Check {
        pass_if(self.now.since(self.boot_at) >= self.cfg.hold_down_ms)
    }

    /// One request at a time.
    pub(super) fn no_release_request_open(&self) -> Check {
        pass_if(self.release_request.is_none())
    }

    // ----- facts the rules share ----------------------------------------------------------

    /// Whether the peer's Asterisk verdict failed during the current silence. A probe that
    /// failed at `t` was sent no earlier than `t - probe_deadline`: it counts only if it was
    /// surely sent after the silence began and after the last proof of life.
    fn peer_asterisk_failed_during_silence(&self) -> bool {
        let silent_since = self.silent_since();
        let evidence_after = silent_since.max(self.peer_answered_at.unwrap_or(silent_since));
        self.peer_asterisk == Verdict::Failed
            && self.peer_asterisk_failed_at.is_some_and(|t| {
                Millis(t.0.saturating_sub(self.cfg.probe_deadline_ms)) >= evidence_after
            })
    }
}
