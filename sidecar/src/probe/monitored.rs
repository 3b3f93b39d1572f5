//! What a running monitor knows about its target (verdict, per-probe results), and its rendering into the `astha status` document.
//!
//! [`MonitoredTarget`] is the live, typed state a monitor publishes on its watch channel;
//! [`crate::status::TargetStatus`] is the stable JSON document built from it for the control API.

use std::time::{Duration, Instant};

use crate::health::{ProbeState, VerdictChange};
use crate::verdict::Verdict;

use super::{ProbeError, ProbeKind};

/// The latest known state of one probe kind on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoredProbe {
    pub kind: ProbeKind,
    pub state: ProbeState,
    pub critical: bool,
    /// Result of the last run, if any.
    pub ok: Option<bool>,
    pub latency: Option<Duration>,
    /// When the last run finished.
    pub last_at: Option<Instant>,
    pub last_error: Option<ProbeError>,
    pub consecutive_failures: u32,
    pub runs: u64,
    pub failures: u64,
}

/// How late the monitor's own wake-ups came (astha starved of CPU, or its loop blocked): the
/// time given back to the probes in flight, so that Asterisk is not blamed for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedulingLag {
    /// Wake-ups that came late enough to be compensated.
    pub stalls: u64,
    pub total: Duration,
    pub max: Duration,
}

impl SchedulingLag {
    pub fn record(&mut self, lag: Duration) {
        self.stalls += 1;
        self.total += lag;
        self.max = self.max.max(lag);
    }
}

/// One target as its monitor sees it: the verdict, since when, why, and every probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoredTarget {
    pub name: String,
    pub verdict: Verdict,
    pub since: Instant,
    pub last_change: Option<VerdictChange>,
    pub probes: Vec<MonitoredProbe>,
    /// The monitor's own scheduling lag since it started.
    pub lag: SchedulingLag,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl MonitoredTarget {
    /// The target in the status document (`astha status`): `target` is `local` or `peer`,
    /// `ami_state` the AMI connection state as text.
    pub fn to_report(
        &self,
        target: &str,
        ami_state: &str,
        now: Instant,
    ) -> crate::status::TargetStatus {
        crate::status::TargetStatus {
            target: target.to_string(),
            verdict: self.verdict.as_str().to_string(),
            verdict_since_s: Some(now.saturating_duration_since(self.since).as_secs()),
            ami_state: ami_state.to_string(),
            expected_down: None,
            probes: self
                .probes
                .iter()
                .map(|p| crate::status::ProbeStatus {
                    kind: p.kind.as_str().to_string(),
                    ok: p.ok,
                    latency_ms: p.latency.map(|l| l.as_secs_f64() * 1000.0),
                    error: p.last_error.as_ref().map(|e| e.to_string()),
                    age_ms: p.last_at.map(|at| ms(now.saturating_duration_since(at))),
                    consecutive_failures: p.consecutive_failures,
                })
                .collect(),
            scheduling_lag: crate::status::LagStatus {
                stalls: self.lag.stalls,
                total_ms: ms(self.lag.total),
                max_ms: ms(self.lag.max),
            },
        }
    }
}
