//! Hysteresis of one probe kind: consecutive failures to go down, consecutive successes to come back.

use crate::probe::ProbeOutcome;

/// Whether one probe kind currently counts as working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeState {
    /// No outcome yet.
    Unknown,
    Up,
    Down,
}

/// Counters and state for one probe kind on one target.
#[derive(Debug, Clone)]
pub struct ProbeTrack {
    pub fail_after: u32,
    pub recover_after: u32,
    pub critical: bool,
    pub state: ProbeState,
    pub consecutive_ok: u32,
    pub consecutive_fail: u32,
    pub last: Option<ProbeOutcome>,
    /// Last failure, kept after recovery so status can show what went wrong last.
    pub last_failure: Option<ProbeOutcome>,
}

impl ProbeTrack {
    pub fn new(critical: bool, fail_after: u32, recover_after: u32) -> Self {
        ProbeTrack {
            fail_after: fail_after.max(1),
            recover_after: recover_after.max(1),
            critical,
            state: ProbeState::Unknown,
            consecutive_ok: 0,
            consecutive_fail: 0,
            last: None,
            last_failure: None,
        }
    }

    /// Applies one outcome. A first success counts as up at once (nothing to recover from);
    /// a probe that was down needs `recover_after` successes in a row.
    pub fn record(&mut self, outcome: &ProbeOutcome) {
        if outcome.ok() {
            self.consecutive_ok = self.consecutive_ok.saturating_add(1);
            self.consecutive_fail = 0;
            match self.state {
                ProbeState::Unknown => self.state = ProbeState::Up,
                ProbeState::Down if self.consecutive_ok >= self.recover_after => {
                    self.state = ProbeState::Up
                }
                _ => {}
            }
        } else {
            self.consecutive_fail = self.consecutive_fail.saturating_add(1);
            self.consecutive_ok = 0;
            if self.consecutive_fail >= self.fail_after {
                self.state = ProbeState::Down;
            }
            self.last_failure = Some(outcome.clone());
        }
        self.last = Some(outcome.clone());
    }

    /// Forces the probe down (e.g. on `Shutdown`), so it must earn `recover_after` successes.
    pub fn force_down(&mut self, outcome: &ProbeOutcome) {
        self.state = ProbeState::Down;
        self.consecutive_ok = 0;
        self.consecutive_fail = self.consecutive_fail.max(self.fail_after);
        self.last_failure = Some(outcome.clone());
        self.last = Some(outcome.clone());
    }

    /// Up but with failures below the threshold: worth a `degraded`.
    pub fn wobbling(&self) -> bool {
        self.consecutive_fail > 0 || (self.state == ProbeState::Down && !self.critical)
    }
}
