//! A serializable snapshot of a target's status, for `astha status --json` and the control API.

use std::time::Instant;

use crate::health::ProbeState;

use super::runner::TargetStatus;

/// One probe kind's state, in plain types.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProbeSnapshot {
    pub kind: &'static str,
    /// `up`, `down` or `unknown` (after hysteresis).
    pub state: &'static str,
    pub critical: bool,
    pub ok: Option<bool>,
    pub latency_ms: Option<u64>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub runs: u64,
    pub failures: u64,
}

/// One target's verdict and probes, in plain types.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusSnapshot {
    pub name: String,
    pub verdict: &'static str,
    /// How long the verdict has held.
    pub since_ms: u64,
    /// What caused the last verdict change.
    pub last_change: Option<String>,
    pub probes: Vec<ProbeSnapshot>,
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TargetStatus {
    /// The status as seen at `now`.
    pub fn snapshot(&self, now: Instant) -> StatusSnapshot {
        StatusSnapshot {
            name: self.name.clone(),
            verdict: self.verdict.as_str(),
            since_ms: ms(now.saturating_duration_since(self.since)),
            last_change: self
                .last_change
                .as_ref()
                .map(|c| format!("{} -> {}: {}", c.from, c.to, c.evidence)),
            probes: self
                .probes
                .iter()
                .map(|p| ProbeSnapshot {
                    kind: p.kind.as_str(),
                    state: match p.state {
                        ProbeState::Up => "up",
                        ProbeState::Down => "down",
                        ProbeState::Unknown => "unknown",
                    },
                    critical: p.critical,
                    ok: p.ok,
                    latency_ms: p.latency.map(ms),
                    last_error: p.last_error.as_ref().map(|e| e.to_string()),
                    consecutive_failures: p.consecutive_failures,
                    runs: p.runs,
                    failures: p.failures,
                })
                .collect(),
        }
    }
}
