//! A health verdict on one Asterisk target: what the probes conclude and the decision core consumes.

use std::fmt;

/// How an Asterisk instance is judged by the probes, after hysteresis.
///
/// `Unknown` is the state before enough probes have run to say anything; the decision core
/// must treat it as "not proven healthy" (never take over on it, never release on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Verdict {
    #[default]
    Unknown,
    Healthy,
    /// Some non-critical probe fails (e.g. ARI, or a slow answer): still carries calls.
    Degraded,
    /// Critical probes fail: this Asterisk cannot be trusted to carry calls.
    Failed,
}

impl Verdict {
    /// True when the target can carry calls (healthy or merely degraded).
    pub fn can_carry_calls(self) -> bool {
        matches!(self, Verdict::Healthy | Verdict::Degraded)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Unknown => "unknown",
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Failed => "failed",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
