//! Alerts about this node's own state, raised in every role: its service network, its cold-start
//! check, and whether the two nodes can probe each other's Asterisk (without which the
//! "silent but still answering means a broken link" rule cannot protect a silent node).

use crate::decide::{AlertKey, AlertSeverity, Command, Millis, Readiness};
use crate::verdict::Verdict;

use super::{Core, UNPROBEABLE_AFTER_MS};

impl Core {
    /// A node whose service network is down cannot serve clients and takes nothing over; a
    /// cold standby that could not start its Asterisk cannot take over either. Both are said
    /// once, until they end.
    pub(super) fn watch_own_readiness(&mut self, out: &mut Vec<Command>) {
        match self.service_network().map_err(str::to_string) {
            Err(detail) => self.raise(
                AlertKey::ServiceNetworkDown,
                AlertSeverity::Critical,
                format!(
                    "service network down ({detail}): this node cannot serve clients and takes no calls over"
                ),
                out,
            ),
            Ok(()) => self.clear(AlertKey::ServiceNetworkDown),
        }
        match (self.is_cold_standby(), self.cold_check.clone()) {
            (true, Some(Err(error))) if self.readiness() == Readiness::ColdStartCheckFailed => self
                .raise(
                    AlertKey::ColdStartCheckFailed,
                    AlertSeverity::Critical,
                    format!(
                        "cold standby: the cold-start check fails ({error}): this node could not start its Asterisk, it cannot take over"
                    ),
                    out,
                ),
            _ => self.clear(AlertKey::ColdStartCheckFailed),
        }
    }

    /// The peer's own verdict and this node's verdict on the same Asterisk disagree for longer
    /// than a probe cycle: the one that cannot probe lacks an AMI `permit` or is firewalled.
    /// While that lasts, a silent node is taken over even if its Asterisk still answers (the
    /// broken-link rule needs the probe), so both nodes say so.
    pub(super) fn watch_probes_across(&mut self, out: &mut Vec<Command>) {
        let peer = self.cfg.me.other();
        let heard = self.alive_peer();
        let cannot_probe_peer = heard.is_some_and(|p| {
            p.own_verdict.can_carry_calls() && self.peer_asterisk == Verdict::Failed
        });
        if self.disagreement_lasted(cannot_probe_peer, |c| &mut c.peer_unprobeable_since) {
            self.raise(
                AlertKey::PeerAsteriskUnprobeable,
                AlertSeverity::Warning,
                format!(
                    "{peer} says its Asterisk carries calls but this node cannot probe it (AMI permit? firewall?): \
                     while this lasts a silent {peer} would be taken over even if its Asterisk still answers"
                ),
                out,
            );
        } else if !cannot_probe_peer {
            self.clear(AlertKey::PeerAsteriskUnprobeable);
        }
        let unprobed = heard.is_some_and(|p| {
            p.peer_verdict == Verdict::Failed && self.local_verdict().can_carry_calls()
        });
        if self.disagreement_lasted(unprobed, |c| &mut c.unprobed_by_peer_since) {
            self.raise(
                AlertKey::UnprobedByPeer,
                AlertSeverity::Warning,
                format!(
                    "{peer} cannot probe this node's Asterisk (AMI permit? firewall?): if this node's daemon \
                     fell silent, {peer} would take over although the calls still work here"
                ),
                out,
            );
        } else if !unprobed {
            self.clear(AlertKey::UnprobedByPeer);
        }
    }

    /// Tracks since when `now_true` has held in the field `since`; true once it has held for
    /// [`UNPROBEABLE_AFTER_MS`].
    fn disagreement_lasted(
        &mut self,
        now_true: bool,
        since: fn(&mut Core) -> &mut Option<Millis>,
    ) -> bool {
        let now = self.now;
        let slot = since(self);
        if !now_true {
            *slot = None;
            return false;
        }
        let start = *slot.get_or_insert(now);
        now.since(start) >= UNPROBEABLE_AFTER_MS
    }
}
