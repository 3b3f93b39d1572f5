//! Fault simulation on simulated time: drives the sans-IO [`Monitor`] against a model of what each probe observes.
//!
//! Used by the tests and by `examples/probe_timings.rs` to measure, with any settings, how long
//! the verdict takes to reach `failed` after each kind of fault, and to check that a slow but
//! healthy target is never judged failed. No clock, no sockets: time only moves when the
//! simulation says so.

use std::time::{Duration, Instant};

use crate::config::ProbesConfig;
use crate::health::VerdictChange;
use crate::verdict::Verdict;

use super::monitor::{Monitor, MonitorOutput};
use super::{ProbeError, ProbeKind};

/// How a target answers one probe run started at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Success after this latency.
    Ok(Duration),
    /// Failure after this latency.
    Fail(Duration, ProbeError),
    /// No answer at all (the run times out).
    Never,
}

/// Something the target announces outside probe runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    AmiDisconnected,
    AmiConnected,
    Shutdown { restart: bool },
    FullyBooted,
}

/// A target's behaviour over time. `at` is the time since the start of the simulation.
pub trait TargetModel {
    fn answer(&mut self, kind: ProbeKind, at: Duration) -> Answer;
    /// Signals in time order, as (time since start, signal).
    fn signals(&self) -> Vec<(Duration, Signal)> {
        Vec::new()
    }
    /// From when the target answers nothing more, not even runs started before (a frozen
    /// process delivers no answer it had not sent yet).
    fn silent_from(&self) -> Option<Duration> {
        None
    }
}

/// The common faults, starting at `fault_at` on a target that answered everything in `healthy_latency` before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Process gone: AMI drops, AMI and ARI refuse at once, SIP goes silent.
    Crash,
    /// Process frozen: sockets stay open, nothing answers.
    Hang,
    /// Core deadlock: Ping still answered, core actions and calls never.
    CoreDeadlock,
    /// Test calls fail quickly (OriginateResponse Failure).
    OriginateFail,
    /// Test calls never get their OriginateResponse/hangup.
    CallHang,
    /// SIP stack dead: OPTIONS unanswered.
    SipDown,
    /// `core restart now`: Shutdown event, AMI drops, FullyBooted after `down_for`.
    Restart { down_for: Duration },
    /// PSTN span in alarm.
    SpanAlarm,
    /// Busy but healthy: every probe answers at `fraction_percent`% of its timeout.
    Slow { fraction_percent: u32 },
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Crash => "crash",
            Fault::Hang => "hang",
            Fault::CoreDeadlock => "core deadlock",
            Fault::OriginateFail => "originate failure",
            Fault::CallHang => "call path hang",
            Fault::SipDown => "SIP down",
            Fault::Restart { .. } => "restart",
            Fault::SpanAlarm => "span alarm",
            Fault::Slow { .. } => "slow but healthy",
        }
    }
}

/// A [`Fault`] applied at a given time, with the configured timeouts (for [`Fault::Slow`]).
#[derive(Debug, Clone)]
pub struct FaultModel {
    pub fault: Fault,
    pub fault_at: Duration,
    pub healthy_latency: Duration,
    probes: ProbesConfig,
}

impl FaultModel {
    pub fn new(fault: Fault, fault_at: Duration, probes: &ProbesConfig) -> Self {
        FaultModel {
            fault,
            fault_at,
            healthy_latency: Duration::from_millis(5),
            probes: probes.clone(),
        }
    }

    fn recovered_at(&self) -> Option<Duration> {
        match self.fault {
            Fault::Restart { down_for } => Some(self.fault_at + down_for),
            _ => None,
        }
    }
}

impl TargetModel for FaultModel {
    fn answer(&mut self, kind: ProbeKind, at: Duration) -> Answer {
        let ok = Answer::Ok(self.healthy_latency);
        if at < self.fault_at || self.recovered_at().is_some_and(|r| at >= r) {
            // A call takes about a second (Answer, Playback(silence/1), Hangup).
            return if kind == ProbeKind::Call {
                Answer::Ok(Duration::from_millis(1100))
            } else {
                ok
            };
        }
        let refused =
            |what: &str| Answer::Fail(Duration::ZERO, ProbeError::NotConnected(what.into()));
        match self.fault {
            Fault::Crash | Fault::Restart { .. } => match kind {
                ProbeKind::Sip => Answer::Never,
                ProbeKind::Ari => Answer::Fail(
                    Duration::ZERO,
                    ProbeError::Connect("connection refused".into()),
                ),
                _ => refused("AMI connection lost"),
            },
            Fault::Hang => Answer::Never,
            Fault::CoreDeadlock => match kind {
                ProbeKind::Core | ProbeKind::Call | ProbeKind::Spans => Answer::Never,
                _ => ok,
            },
            Fault::OriginateFail => match kind {
                ProbeKind::Call => Answer::Fail(
                    Duration::from_millis(40),
                    ProbeError::CallFailed("OriginateResponse: Failure".into()),
                ),
                _ => ok,
            },
            Fault::CallHang => match kind {
                ProbeKind::Call => Answer::Never,
                _ => ok,
            },
            Fault::SipDown => match kind {
                ProbeKind::Sip => Answer::Never,
                _ => ok,
            },
            Fault::SpanAlarm => match kind {
                ProbeKind::Spans => Answer::Fail(
                    Duration::from_millis(5),
                    ProbeError::Alarm("span 1: Red Alarm".into()),
                ),
                _ => ok,
            },
            Fault::Slow { fraction_percent } => {
                let timeout = self.probes.timing(kind).timeout;
                Answer::Ok(timeout * fraction_percent.min(99) / 100)
            }
        }
    }

    fn silent_from(&self) -> Option<Duration> {
        (self.fault == Fault::Hang).then_some(self.fault_at)
    }

    fn signals(&self) -> Vec<(Duration, Signal)> {
        match self.fault {
            Fault::Crash => vec![(self.fault_at, Signal::AmiDisconnected)],
            Fault::Restart { down_for } => vec![
                (self.fault_at, Signal::Shutdown { restart: true }),
                (self.fault_at, Signal::AmiDisconnected),
                (self.fault_at + down_for, Signal::AmiConnected),
                (self.fault_at + down_for, Signal::FullyBooted),
            ],
            _ => Vec::new(),
        }
    }
}

/// What a simulation observed.
#[derive(Debug, Clone)]
pub struct SimReport {
    /// Every verdict change, with its time since the start.
    pub changes: Vec<(Duration, VerdictChange)>,
    /// Number of probe runs started per kind.
    pub runs: Vec<(ProbeKind, u32)>,
    pub duration: Duration,
}

impl SimReport {
    /// The first time at or after `from` that the verdict became `verdict`.
    pub fn first(&self, verdict: Verdict, from: Duration) -> Option<Duration> {
        self.changes
            .iter()
            .find(|(t, c)| *t >= from && c.to == verdict)
            .map(|(t, _)| *t)
    }

    /// The verdict at the end.
    pub fn final_verdict(&self) -> Verdict {
        self.changes
            .last()
            .map(|(_, c)| c.to)
            .unwrap_or(Verdict::Unknown)
    }

    pub fn ever(&self, verdict: Verdict) -> bool {
        self.changes.iter().any(|(_, c)| c.to == verdict)
    }

    pub fn runs_of(&self, kind: ProbeKind) -> u32 {
        self.runs
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    }
}

/// Runs the monitor against `model` for `duration` of simulated time.
pub fn simulate(
    probes: &ProbesConfig,
    enabled: &[ProbeKind],
    model: &mut dyn TargetModel,
    duration: Duration,
) -> SimReport {
    let t0 = Instant::now();
    let mut monitor = Monitor::new(probes, enabled, t0);
    let mut pending: Vec<(Instant, super::RunId, Result<(), ProbeError>)> = Vec::new();
    let mut signals = model.signals();
    signals.sort_by_key(|(t, _)| *t);
    let mut signals = signals.into_iter().peekable();
    let mut changes = Vec::new();
    let mut runs: Vec<(ProbeKind, u32)> = enabled.iter().map(|k| (*k, 0)).collect();
    let end = t0 + duration;
    let mut now = t0;
    loop {
        // Deliver everything due at `now`: signals first (they happen "between" answers).
        while let Some((at, signal)) = signals.next_if(|(at, _)| t0 + *at <= now) {
            let at = t0 + at;
            match signal {
                Signal::AmiDisconnected => monitor.ami_disconnected("connection reset", at),
                Signal::AmiConnected => monitor.ami_connected(at),
                Signal::Shutdown { restart } => monitor.shutdown(restart, at),
                Signal::FullyBooted => monitor.fully_booted(at),
            }
        }
        if let Some(silent) = model.silent_from() {
            pending.retain(|(at, _, _)| *at < t0 + silent);
        }
        pending.sort_by_key(|(at, id, _)| (*at, *id));
        while pending.first().is_some_and(|(at, _, _)| *at <= now) {
            let (at, id, result) = pending.remove(0);
            monitor.complete(id, result, at);
        }
        monitor.poll(now);
        while let Some(output) = monitor.pop_output() {
            match output {
                MonitorOutput::Start(start) => {
                    if let Some(r) = runs.iter_mut().find(|(k, _)| *k == start.kind) {
                        r.1 += 1;
                    }
                    match model.answer(start.kind, now - t0) {
                        Answer::Ok(latency) => pending.push((now + latency, start.id, Ok(()))),
                        Answer::Fail(latency, e) => pending.push((now + latency, start.id, Err(e))),
                        Answer::Never => {}
                    }
                }
                MonitorOutput::Verdict(change) => changes.push((change.at - t0, change)),
                MonitorOutput::Outcome(_) => {}
            }
        }
        let next = [
            monitor.next_wakeup(),
            pending.iter().map(|(at, _, _)| *at).min(),
            signals.peek().map(|(at, _)| t0 + *at),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(next) if next <= end => now = next.max(now),
            _ => break,
        }
    }
    SimReport {
        changes,
        runs,
        duration,
    }
}

/// Time from the fault to `failed`, worst case and mean over fault start times spread across
/// `spread` (in `steps` steps) after a warm-up, and whether every run reached `failed`.
#[derive(Debug, Clone, Copy)]
pub struct DetectionTimes {
    pub worst: Option<Duration>,
    pub mean: Option<Duration>,
    pub all_detected: bool,
}

/// Sweeps the fault start over one full cadence cycle to find the worst-case detection time.
pub fn detection_times(
    probes: &ProbesConfig,
    enabled: &[ProbeKind],
    fault: Fault,
    spread: Duration,
    steps: u32,
) -> DetectionTimes {
    let warmup = Duration::from_secs(30);
    let mut worst: Option<Duration> = None;
    let mut total = Duration::ZERO;
    let mut detected = 0u32;
    for step in 0..steps.max(1) {
        let fault_at = warmup + spread * step / steps.max(1);
        let mut model = FaultModel::new(fault, fault_at, probes);
        let report = simulate(
            probes,
            enabled,
            &mut model,
            fault_at + Duration::from_secs(120),
        );
        if let Some(t) = report.first(Verdict::Failed, fault_at) {
            let took = t - fault_at;
            worst = Some(worst.map_or(took, |w| w.max(took)));
            total += took;
            detected += 1;
        }
    }
    DetectionTimes {
        worst,
        mean: (detected > 0).then(|| total / detected),
        all_detected: detected == steps.max(1),
    }
}
