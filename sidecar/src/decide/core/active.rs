//! The active's rules: when it steps down for a peer that claims the calls, and when it hands the
//! calls over (the standby asks, or its own call path failed). `decide/mod.rs` lists them in the
//! same order.

use crate::decide::{AlertSeverity, Command, DecisionKind, Handover, Reason, Role};
use crate::verdict::Verdict;

use super::{AlertKey, Core, DEAF_PEER_MESSAGES};

/// A reason to give the calls up to a peer that claims them.
#[derive(Debug, Clone, Copy)]
pub(super) struct StepDownRule {
    /// The predicate's name: the same in the table, in `decide/mod.rs` and in its unit test.
    // Read by the test that keeps the documentation's lists in step with the tables.
    #[cfg_attr(not(test), allow(dead_code))]
    pub name: &'static str,
    pub applies: fn(&Core) -> Option<Reason>,
    /// Whether it also aborts a takeover in progress (else it only concerns an active node).
    pub while_taking_over: bool,
}

macro_rules! step_down {
    ($applies:ident, $while_taking_over:expr) => {
        StepDownRule {
            name: stringify!($applies),
            applies: Core::$applies,
            while_taking_over: $while_taking_over,
        }
    };
}

/// An active (or taking-over) node gives way when the first of these applies.
pub(super) const STEP_DOWN_RULES: &[StepDownRule] = &[
    step_down!(peer_claims_calls_under_a_newer_term, true),
    step_down!(relay_moved_to_the_peer, false),
    step_down!(older_active_cannot_hear_this_node, false),
    step_down!(no_newer_term_since_restart, false),
    step_down!(restart_confirmed_by_peer_in_time, false),
];

impl Core {
    pub(super) fn evaluate_taking_over(&mut self, out: &mut Vec<Command>) {
        if self.abort_takeover.is_none() {
            if let Some(reason) = self.step_down_reason(true) {
                self.record(DecisionKind::AbortTakeover, reason.clone(), out);
                self.abort_takeover = Some(reason);
                // Holding the floating IP through a cold boot (seconds) next to a newer active
                // is a split brain: the sequence stops now and the release follows its answer.
                out.push(Command::CancelTakeover {
                    term: self.active_term,
                });
            }
        }
    }

    pub(super) fn evaluate_active(&mut self, out: &mut Vec<Command>) {
        if let Some(reason) = self.step_down_reason(false) {
            match reason {
                // The relay was ours when our takeover completed: the peer moved it since.
                Reason::PeerHoldsRelay => {
                    self.relay_moved_to_peer_at =
                        self.relay_moved_to_peer_at.max(self.last_switch_at);
                }
                Reason::PeerCannotHearUs => {
                    self.deaf_peer_messages = 0;
                    self.deaf_peer_since = None;
                }
                _ => {}
            }
            self.begin_release(DecisionKind::StepDown, reason, out);
            return;
        }
        if self.alive_peer().is_some() {
            self.watch_relay_on_standby_side(out);
            if let Some((reason, forced)) = self.standby_asks_for_the_calls() {
                self.begin_handover(reason, forced, out);
                return;
            }
        }
        // Maintenance stops automatic decisions (a standby's request above is an operator's).
        if self.maintenance {
            return;
        }
        self.hand_over_when_this_node_cannot_serve(out);
    }

    /// The first step-down rule that applies (`taking_over`: only those that abort a takeover).
    fn step_down_reason(&self, taking_over: bool) -> Option<Reason> {
        STEP_DOWN_RULES
            .iter()
            .filter(|rule| rule.while_taking_over || !taking_over)
            .find_map(|rule| (rule.applies)(self))
    }

    // ----- step down ----------------------------------------------------------------------

    /// An alive peer that is active or taking over under a higher term wins; with equal terms
    /// (only possible after simultaneous takeovers behind a cut) side A wins.
    pub(super) fn peer_claims_calls_under_a_newer_term(&self) -> Option<Reason> {
        let p = self.alive_peer()?;
        let peer_wins = p.term > self.active_term
            || (p.term == self.active_term && self.cfg.me.other() < self.cfg.me);
        (p.role.claims_calls() && peer_wins).then_some(Reason::PeerHigherTerm { peer_term: p.term })
    }

    /// The relay, read back after this node's takeover completed, sits on the peer's side while
    /// the peer is silent or claims the calls: the peer holds the PSTN side, this node gives way.
    pub(super) fn relay_moved_to_the_peer(&self) -> Option<Reason> {
        let on_peer_side = self.relay_read_after_switch()
            && self.relay_fresh() == Some(self.cfg.me.other())
            && self.alive_peer().is_none_or(|p| p.role.claims_calls());
        on_peer_side.then_some(Reason::PeerHoldsRelay)
    }

    /// An older active that keeps claiming the calls without ever learning our term
    /// ([`DEAF_PEER_MESSAGES`] messages in a row, sent over at least two peer intervals) cannot
    /// hear us; it will never step down, so we do (it is alive and serving). Not while the
    /// relay reads back on our side, though: we hold the fence, the older active reads the
    /// relay too and steps down, and a link that is only one-way for a moment (a neighbour
    /// entry being re-resolved after an outage) must not hand the calls to the stale node.
    ///
    /// Why a time span as well as a count: a node back from a cut has its last datagrams
    /// queued behind the neighbour resolution of its interface (the kernel keeps three per
    /// neighbour), and they all arrive at once when the cable returns, each one claiming the
    /// calls under the old term. Three stale datagrams in a burst are not a peer that keeps
    /// not hearing us; seen as a yield of the new active (and a second outage) on rejoin.
    pub(super) fn older_active_cannot_hear_this_node(&self) -> Option<Reason> {
        let lasted = self
            .deaf_peer_since
            .is_some_and(|since| self.now.since(since) >= 2 * self.cfg.peer_interval_ms);
        let deaf = self.deaf_peer_messages >= DEAF_PEER_MESSAGES
            && lasted
            && self.relay_fresh() != Some(self.cfg.me);
        deaf.then_some(Reason::PeerCannotHearUs)
    }

    /// A restarted daemon that resumed the active role learns from its peer that a newer term
    /// exists (the peer took over, or did and released, while this daemon was down): the
    /// resumed role is stale.
    pub(super) fn no_newer_term_since_restart(&self) -> Option<Reason> {
        self.resume_check?;
        let p = self.alive_peer()?;
        (p.term > self.active_term).then_some(Reason::NewerTermSinceRestart { peer_term: p.term })
    }

    /// A role resumed on evidence that needs the peer's word (a relay that did not answer, a
    /// term file that did not record the role) is given up when the peer is not heard in time.
    pub(super) fn restart_confirmed_by_peer_in_time(&self) -> Option<Reason> {
        let check = self.resume_check?;
        (check.peer_must_confirm && self.now >= check.until).then_some(Reason::ResumeUnconfirmed)
    }

    // ----- hand over ----------------------------------------------------------------------

    /// Alerts (once) while the relay reads back on the standby's side although this node is
    /// active: the fence and the roles disagree, an operator must look.
    fn watch_relay_on_standby_side(&mut self, out: &mut Vec<Command>) {
        let standby_holds_relay = self.alive_peer().is_some_and(|p| p.role == Role::Standby)
            && self.relay_fresh() == Some(self.cfg.me.other())
            && self.relay_read_after_switch();
        if standby_holds_relay {
            self.raise(
                AlertKey::RelayOnStandbySide,
                AlertSeverity::Critical,
                "relay reads back on the standby's side while this node is active".into(),
                out,
            );
        } else {
            self.clear(AlertKey::RelayOnStandbySide);
        }
    }

    /// The standby asks for the calls (its operator, or failback) and can take them: the reason
    /// and whether it was forced. A request made before this node's current term is stale (it
    /// was already honoured).
    pub(super) fn standby_asks_for_the_calls(&self) -> Option<(Reason, bool)> {
        let p = self.alive_peer()?;
        let Handover::PleaseRelease { forced } = p.handover else {
            return None;
        };
        let current = p.term >= self.active_term
            && matches!(p.role, Role::Standby | Role::Maintenance)
            && (forced || p.readiness.is_ready());
        if !current {
            return None;
        }
        let reason = if self.cfg.failback_to == Some(self.cfg.me.other()) && !forced {
            Reason::Failback
        } else {
            Reason::PeerRequested { forced }
        };
        Some((reason, forced))
    }

    /// The active hands over (releases first, asking the standby to take over) when it cannot
    /// serve: its own call path has failed (alone: not in a silence shared with the standby's
    /// Asterisk), or its service network is down (no carrier on the
    /// floating IP's interface, no reachability target answering) — and the standby can take the
    /// calls, after hold-down. With no standby able to, it keeps the calls and alerts.
    fn hand_over_when_this_node_cannot_serve(&mut self, out: &mut Vec<Command>) {
        let reason = match (self.service_network(), self.local_verdict()) {
            (_, Verdict::Failed) if self.failure_is_not_common_mode() => Reason::OwnCallPathFailed,
            (Err(detail), _) => Reason::ServiceNetworkDown {
                detail: detail.to_string(),
            },
            // Its own Asterisk fell silent together with the standby's (seen from here): this
            // host stalled, not its Asterisk alone (see `common_silence`); the calls stay
            // until the standby's answers again and its own still does not.
            (Ok(()), Verdict::Failed) => return,
            (Ok(()), _) => {
                self.clear(AlertKey::OwnCallPathFailedNoStandby);
                return;
            }
        };
        match self.standby_problem() {
            None if !self.held_down() => {
                self.clear(AlertKey::OwnCallPathFailedNoStandby);
                self.begin_handover(reason, false, out);
            }
            None => {}
            Some(problem) => {
                let what = match &reason {
                    Reason::OwnCallPathFailed => "own call path failed".to_string(),
                    _ => "own service network down".to_string(),
                };
                self.raise(
                    AlertKey::OwnCallPathFailedNoStandby,
                    AlertSeverity::Critical,
                    format!("{what} but no handover possible: {problem}"),
                    out,
                )
            }
        }
    }

    /// Why the standby could not take the calls now, if anything (also the operator's
    /// failover check).
    pub(super) fn standby_problem(&self) -> Option<String> {
        let peer = self.cfg.me.other();
        let Some(p) = self.alive_peer() else {
            return Some(format!("standby {peer} is silent on every link"));
        };
        match p.role {
            Role::Faulted => Some(format!("standby {peer} is faulted")),
            // A node in maintenance makes no automatic decisions: it would not take the calls.
            Role::Maintenance => Some(format!("standby {peer} is in maintenance")),
            Role::Standby if !p.readiness.is_ready() => Some(format!(
                "standby {peer} cannot take the calls ({})",
                standby_readiness_words(p)
            )),
            Role::Standby => None,
            other => Some(format!("{peer} is {other}")),
        }
    }

    fn relay_read_after_switch(&self) -> bool {
        match (self.relay_at, self.last_switch_at) {
            (Some(read), Some(switch)) => read > switch,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// Why a standby cannot take the calls, in words: its verdict where that is the reason.
fn standby_readiness_words(p: crate::decide::PeerState) -> String {
    match p.readiness {
        crate::decide::Readiness::AsteriskCannotCarryCalls | crate::decide::Readiness::Unknown
            if !p.cold_standby =>
        {
            format!("its Asterisk is {}", p.own_verdict)
        }
        other => other.describe().to_string(),
    }
}
