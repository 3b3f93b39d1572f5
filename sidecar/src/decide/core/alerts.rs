//! The alerts' lifecycle: each kind is raised once, stays raised while its condition may hold,
//! and its end is announced ([`Command::AlertCleared`]) so the daemon, `astha status`, the
//! metrics and the alert sinks all see the same set of active alerts.
//!
//! A rule that refuses raises its alert; a rule that passes ends it (`rule!(.., ends Key)`).
//! That alone would leave an alert raised forever when the rule stops being evaluated at all
//! (the peer came back, the node changed role), so after every call [`Core::settle_alerts`]
//! also ends each raised alert whose situation is over ([`Core::alert_may_hold`]). Clears and
//! raises within one call cancel out: an alert that ends and comes back in the same call was
//! never announced as ended.

use crate::decide::{AlertKey, AlertSeverity, Command, Role};

use super::rule::Check;
use super::Core;

impl Core {
    /// Raises `key` unless it is raised already (the first message stays until it ends).
    pub(super) fn raise(
        &mut self,
        key: AlertKey,
        severity: AlertSeverity,
        message: String,
        out: &mut Vec<Command>,
    ) {
        if self.raised.contains(&key) {
            return;
        }
        self.raised.push(key);
        if let Some(i) = self.cleared.iter().position(|k| *k == key) {
            // Ended and raised again within this call: to the outside it never ended.
            self.cleared.remove(i);
            return;
        }
        out.push(Command::Alert {
            key,
            severity,
            message,
        });
    }

    /// Ends `key` if it is raised; the end is announced when the call finishes.
    pub(super) fn clear(&mut self, key: AlertKey) {
        if let Some(i) = self.raised.iter().position(|k| *k == key) {
            self.raised.remove(i);
            self.cleared.push(key);
        }
    }

    /// Ends every raised alert whose situation is over, then announces the ends of this call.
    pub(super) fn settle_alerts(&mut self, out: &mut Vec<Command>) {
        let over: Vec<AlertKey> = self
            .raised
            .iter()
            .copied()
            .filter(|key| !self.alert_may_hold(*key))
            .collect();
        for key in over {
            self.clear(key);
        }
        out.extend(
            self.cleared
                .drain(..)
                .map(|key| Command::AlertCleared { key }),
        );
    }

    /// Whether the situation in which `key` is raised may still be going on. A coarse, necessary
    /// condition: the rules end an alert as soon as they pass; this ends those the rules no
    /// longer look at.
    pub(super) fn alert_may_hold(&self, key: AlertKey) -> bool {
        let peer = self.alive_peer();
        let peer_claims_calls = peer.is_some_and(|p| p.role.claims_calls());
        match key {
            // Raised only about a silent peer, by a standby.
            AlertKey::BrokenLink | AlertKey::WitnessUnreachable | AlertKey::HeldAfterStepDown => {
                self.role == Role::Standby && peer.is_none()
            }
            AlertKey::LocalUnhealthyNoTakeover => {
                matches!(self.role, Role::Standby | Role::Maintenance)
                    && !self.local.can_carry_calls()
                    && (peer.is_none() || self.peer_hands_over_to_this_node() == Check::Pass)
            }
            AlertKey::OwnCallPathFailedNoStandby => {
                self.role == Role::Active && !self.local.can_carry_calls()
            }
            AlertKey::RelayOnStandbySide => self.role == Role::Active,
            AlertKey::PeerFaulted => {
                self.role == Role::Standby && peer.is_some_and(|p| p.role == Role::Faulted)
            }
            // Over once a takeover succeeded, or once the peer carries the calls again.
            AlertKey::TakeoverFailed => self.role != Role::Active && !peer_claims_calls,
            AlertKey::Faulted => self.role == Role::Faulted,
            // Over once the peer no longer holds the calls (it released, or this node took them).
            AlertKey::HandoverRequestExpired => {
                self.role != Role::Active && peer.is_some_and(|p| p.role == Role::Active)
            }
            // Every new term is persisted before it is used.
            AlertKey::TermFileMissing => self.term == 0,
            // The daemon's own: the core never raises them.
            AlertKey::DrbdOutdated
            | AlertKey::RelayWatchdogKickFailing
            | AlertKey::RelayWatchdogOff => false,
            // Their watches (core/watch.rs) end them as soon as they pass, in every role.
            AlertKey::ServiceNetworkDown => self.service_network().is_err(),
            AlertKey::ColdStartCheckFailed => {
                self.is_cold_standby() && matches!(self.cold_check, Some(Err(_)))
            }
            AlertKey::PeerAsteriskUnprobeable | AlertKey::UnprobedByPeer => peer.is_some(),
        }
    }
}
