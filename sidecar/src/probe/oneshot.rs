//! One-shot probing (`astha probe`): run each enabled probe once, each within its timeout, and judge the target.

use std::time::Instant;

use crate::config::ProbesConfig;
use crate::health::TargetHealth;
use crate::verdict::Verdict;

use super::runner::ProbeBackend;
use super::{ProbeError, ProbeKind, ProbeOutcome};

/// The result of one probe in a one-shot check.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProbeLine {
    pub kind: String,
    pub ok: bool,
    /// Milliseconds, with microsecond resolution.
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
}

/// A one-shot verdict with the result of every probe.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OneShotReport {
    pub verdict: String,
    pub probes: Vec<ProbeLine>,
    #[serde(skip)]
    pub verdict_value: Verdict,
}

/// Runs `kinds` once on `backend`. AMI probes run one after the other (the call probe last,
/// since it is the slowest); the others run alongside them. The first failure of a critical
/// probe decides the verdict (`failed`): the probes still running are then not waited for
/// (they show as not run), so a hung Asterisk is judged within about the ping deadline
/// instead of after every other probe's own deadline.
pub async fn run_once(
    backend: &dyn ProbeBackend,
    probes: &ProbesConfig,
    kinds: &[ProbeKind],
) -> OneShotReport {
    run(backend, probes, kinds, None).await
}

/// Like [`run_once`] when the AMI login did not succeed in time (`error`, after `waited`): every
/// AMI probe fails with that reason at once instead of waiting out its own deadline.
pub async fn run_once_without_ami(
    backend: &dyn ProbeBackend,
    probes: &ProbesConfig,
    kinds: &[ProbeKind],
    error: ProbeError,
    waited: std::time::Duration,
) -> OneShotReport {
    run(backend, probes, kinds, Some((error, waited))).await
}

async fn run(
    backend: &dyn ProbeBackend,
    probes: &ProbesConfig,
    kinds: &[ProbeKind],
    ami_down: Option<(ProbeError, std::time::Duration)>,
) -> OneShotReport {
    let outcomes = std::sync::Mutex::new(Vec::new());
    let decided = tokio::sync::Notify::new();
    let is_decided = std::sync::atomic::AtomicBool::new(false);
    let record = &|outcome: ProbeOutcome| {
        let decisive = !outcome.ok() && probes.timing(outcome.kind).critical;
        outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(outcome);
        if decisive {
            is_decided.store(true, std::sync::atomic::Ordering::SeqCst);
            // Stores a permit if nobody waits yet.
            decided.notify_one();
        }
    };
    let is_decided = &is_decided;
    let timed = &|kind: ProbeKind| {
        let timeout = probes.timing(kind).timeout;
        let run = backend.run(kind);
        async move {
            let started = Instant::now();
            let result = tokio::time::timeout(timeout, run)
                .await
                .unwrap_or(Err(ProbeError::Timeout(timeout)));
            ProbeOutcome {
                kind,
                at: Instant::now(),
                latency: started.elapsed(),
                result,
            }
        }
    };
    let ami: Vec<ProbeKind> = kinds.iter().copied().filter(|k| k.uses_ami()).collect();
    let other: Vec<ProbeKind> = kinds.iter().copied().filter(|k| !k.uses_ami()).collect();
    let ami_down = &ami_down;
    let ami_sequence = async move {
        for kind in ami {
            if is_decided.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let outcome = match ami_down {
                Some((error, waited)) => ProbeOutcome {
                    kind,
                    at: Instant::now(),
                    latency: *waited,
                    result: Err(error.clone()),
                },
                None => timed(kind).await,
            };
            record(outcome);
        }
    };
    let others = futures_util::future::join_all(
        other
            .into_iter()
            .map(|kind| async move { record(timed(kind).await) }),
    );
    tokio::select! {
        _ = futures_util::future::join(ami_sequence, others) => {}
        () = decided.notified() => {}
    }
    let mut outcomes = outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
    outcomes.sort_by_key(|o| o.kind);
    let mut report = judge(probes, kinds, &outcomes);
    for kind in kinds {
        if !outcomes.iter().any(|o| o.kind == *kind) {
            report.probes.push(ProbeLine {
                kind: kind.as_str().to_string(),
                ok: false,
                latency_ms: None,
                error: Some(NOT_RUN.to_string()),
            });
        }
    }
    report
}

/// The error of a probe that was not waited for (another critical probe had already failed).
pub const NOT_RUN: &str = "not run: a critical probe had already failed";

/// A single sample decides: any critical failure is `failed`, any other failure `degraded`.
pub fn judge(
    probes: &ProbesConfig,
    kinds: &[ProbeKind],
    outcomes: &[ProbeOutcome],
) -> OneShotReport {
    let mut single_sample = probes.clone();
    for kind in ProbeKind::ALL {
        single_sample.timing_mut(kind).fail_after = 1;
    }
    let mut health = TargetHealth::new(&single_sample, kinds);
    for outcome in outcomes {
        health.observe(crate::health::TargetObservation::Probe(outcome.clone()));
    }
    let verdict = health.verdict();
    OneShotReport {
        verdict: verdict.as_str().to_string(),
        verdict_value: verdict,
        probes: outcomes
            .iter()
            .map(|o| ProbeLine {
                kind: o.kind.as_str().to_string(),
                ok: o.ok(),
                latency_ms: Some((o.latency.as_secs_f64() * 1_000_000.0).round() / 1000.0),
                error: o.error().map(|e| e.to_string()),
            })
            .collect(),
    }
}

impl OneShotReport {
    /// A fixed-width table for people.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<6} {:<4} {:>10}  {}\n",
            "probe", "ok", "latency", "error"
        );
        for p in &self.probes {
            let latency = p
                .latency_ms
                .map(|l| format!("{l} ms"))
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "{:<6} {:<4} {:>10}  {}\n",
                p.kind,
                if p.ok { "yes" } else { "NO" },
                latency,
                p.error.as_deref().unwrap_or("")
            ));
        }
        out.push_str(&format!("verdict: {}\n", self.verdict));
        out
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"verdict\":\"unknown\",\"error\":\"{e}\"}}"))
    }
}
