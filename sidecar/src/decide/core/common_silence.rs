//! Common-mode rejection: when this node's own Asterisk and the peer's fall silent together, the fault is on this node's side (its host, its network), and neither silence is acted upon until the other Asterisk answers again.
//!
//! The two Asterisks of a pair run on different hosts and answer this node's probes over
//! different paths; what silences both in the same window is something they share from here:
//! this node's host starved (a burst of load that stops every process at once, seen on a
//! saturated test bed as all four AMI connections going quiet together, astha itself running)
//! or its network. Acting on one of the two silences then moves the calls for a fault of the
//! observer: the standby takes over a healthy active because its own Asterisk came back a moment
//! before the peer's, or the active hands over because the standby's came back first.
//!
//! The daemon feeds the two verdicts through `probe::shared_silence::VerdictGate`, which holds
//! back a failure while the other Asterisk is silent from here too: both then arrive here
//! together, whichever fell first.
//!
//! So a failure that began within one probe deadline of the other's counts only once the other
//! Asterisk has answered again (its verdict no longer failed) and the failing one still fails
//! [`Core::common_silence_confirm_ms`] later. A hang of one Asterisk alone is judged as fast as
//! before; a shared silence costs at most that confirmation after it ends.

use crate::decide::Millis;
use crate::verdict::Verdict;

use super::Core;

/// One silence shared by both Asterisks, until both answer again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CommonSilence {
    /// When one of the two answered again while the other still failed.
    pub one_back_at: Option<Millis>,
}

impl Core {
    /// Follows the two verdicts after each change of either: starts a common silence when both
    /// failed together, restarts the confirmation when both fail again, ends it when both answer.
    pub(super) fn track_common_silence(&mut self) {
        let local_failed = self.local == Verdict::Failed;
        let peer_failed = self.peer_asterisk == Verdict::Failed;
        let together = self.failed_together();
        let now = self.now;
        match (&mut self.common_silence, local_failed, peer_failed) {
            (Some(c), true, true) => c.one_back_at = None,
            (Some(_), false, false) => self.common_silence = None,
            (Some(c), _, _) => {
                c.one_back_at.get_or_insert(now);
            }
            (None, true, true) if together => {
                self.common_silence = Some(CommonSilence { one_back_at: None });
            }
            (None, _, _) => {}
        }
    }

    /// Both verdicts turned failed within one probe deadline of each other: the probes that
    /// failed first and last were in flight at the same time.
    fn failed_together(&self) -> bool {
        // A cold standby's Asterisk is stopped on purpose (this node's, or the peer's as it
        // reports): its silence says nothing of this host.
        if self.is_cold_standby() || self.peer_last.is_some_and(|p| p.cold_standby) {
            return false;
        }
        match (self.local_failed_at, self.peer_asterisk_failed_at) {
            (Some(a), Some(b)) => a.max(b).since(a.min(b)) <= self.cfg.probe_deadline_ms,
            _ => false,
        }
    }

    /// How long the Asterisk still failing must keep failing after the other answered again:
    /// one probe deadline for it to answer at all, one more for its verdict's hysteresis to
    /// count the answers (the default liveness ping needs three in a row, 750 ms).
    pub(super) fn common_silence_confirm_ms(&self) -> u64 {
        2 * self.cfg.probe_deadline_ms
    }

    /// When the failure still standing after a common silence counts as its own (for
    /// [`Core::next_tick_at`]).
    pub(super) fn common_silence_confirmed_at(&self) -> Option<Millis> {
        let back = self.common_silence?.one_back_at?;
        Some(back.plus(self.common_silence_confirm_ms()))
    }

    /// Whether the failure of an Asterisk seen from here may be acted upon: it did not start
    /// together with the other's, or the other has answered long enough since while it kept
    /// failing.
    pub(super) fn failure_is_not_common_mode(&self) -> bool {
        match self.common_silence {
            None => true,
            Some(_) if self.is_cold_standby() => true,
            Some(_) => self
                .common_silence_confirmed_at()
                .is_some_and(|at| self.now >= at),
        }
    }
}
