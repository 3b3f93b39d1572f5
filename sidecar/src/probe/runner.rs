//! The tokio driver of a [`Monitor`]: runs due probes on a backend, feeds answers and signals back, publishes status and verdict changes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;

use crate::config::ProbesConfig;
use crate::health::{ProbeState, VerdictChange};
use crate::verdict::Verdict;

use super::lag::own_lag;
use super::monitor::{Monitor, MonitorOutput};
use super::monitored::{MonitoredProbe, MonitoredTarget};
use super::{ProbeError, ProbeKind, ProbeOutcome, RunId};

/// A boxed probe run.
pub type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), ProbeError>> + Send + 'static>>;

/// Runs one probe of a kind against one target. Deadlines are the runner's business: a backend
/// may simply never finish (the run is then judged timed out and its future dropped).
pub trait ProbeBackend: Send + Sync + 'static {
    fn run(&self, kind: ProbeKind) -> ProbeFuture;
}

/// Things a backend learns outside probe runs (from the AMI connection state and events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSignal {
    AmiConnected,
    AmiDisconnected(String),
    Shutdown {
        restart: bool,
    },
    FullyBooted,
    /// A finding that counts as a probe outcome (e.g. an `Alarm` event counts for `spans`).
    Finding {
        kind: ProbeKind,
        result: Result<(), ProbeError>,
    },
    /// Run this probe now instead of at its next cadence (urgent check).
    ProbeNow(ProbeKind),
    /// Asterisk answered an action sent at `sent` (any probe's, before that probe has its
    /// outcome): alive.
    Answered {
        sent: Instant,
    },
    /// The target could not run for this long: its host gave none of its tasks a CPU
    /// ([`super::starvation`], the local Asterisk only).
    Starved(Duration),
}

/// Streamed to subscribers: every probe outcome and every verdict change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorEvent {
    Outcome(ProbeOutcome),
    Verdict(VerdictChange),
}

/// A running monitor of one target. Dropping it stops the monitor and its probe runs.
#[derive(Debug)]
pub struct MonitorHandle {
    requests: mpsc::UnboundedSender<TargetSignal>,
    status: watch::Receiver<MonitoredTarget>,
    events: broadcast::Sender<MonitorEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl MonitorHandle {
    /// Latest status, updated after every outcome.
    pub fn status(&self) -> watch::Receiver<MonitoredTarget> {
        self.status.clone()
    }

    /// Every outcome and verdict change from now on (lagging subscribers lose the oldest).
    pub fn events(&self) -> broadcast::Receiver<MonitorEvent> {
        self.events.subscribe()
    }

    pub fn verdict(&self) -> Verdict {
        self.status.borrow().verdict
    }

    /// Asks for an immediate run of `kind` (ignored if one is in flight or the kind is not enabled).
    pub fn probe_now(&self, kind: ProbeKind) {
        let _ = self.requests.send(TargetSignal::ProbeNow(kind));
    }
}

impl Drop for MonitorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Starts monitoring one target: `enabled` probe kinds with `probes` settings, run on `backend`,
/// with lifecycle `signals` (close the sender if there are none).
pub fn spawn_monitor(
    name: impl Into<String>,
    probes: &ProbesConfig,
    enabled: &[ProbeKind],
    backend: Arc<dyn ProbeBackend>,
    signals: mpsc::UnboundedReceiver<TargetSignal>,
) -> MonitorHandle {
    let name = name.into();
    let start = now();
    let monitor = Monitor::new(probes, enabled, start);
    let initial = MonitoredTarget {
        name: name.clone(),
        verdict: Verdict::Unknown,
        since: start,
        last_change: None,
        probes: enabled
            .iter()
            .map(|k| MonitoredProbe {
                kind: *k,
                state: ProbeState::Unknown,
                critical: probes.timing(*k).critical,
                ok: None,
                latency: None,
                last_at: None,
                last_error: None,
                consecutive_failures: 0,
                runs: 0,
                failures: 0,
            })
            .collect(),
        lag: Default::default(),
    };
    let (status_tx, status_rx) = watch::channel(initial);
    let (events_tx, _) = broadcast::channel(1024);
    let (requests_tx, requests_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(drive(
        monitor,
        backend,
        signals,
        requests_rx,
        status_tx,
        events_tx.clone(),
    ));
    MonitorHandle {
        requests: requests_tx,
        status: status_rx,
        events: events_tx,
        task,
    }
}

async fn drive(
    mut monitor: Monitor,
    backend: Arc<dyn ProbeBackend>,
    mut signals: mpsc::UnboundedReceiver<TargetSignal>,
    mut requests: mpsc::UnboundedReceiver<TargetSignal>,
    status: watch::Sender<MonitoredTarget>,
    events: broadcast::Sender<MonitorEvent>,
) {
    let mut runs: JoinSet<(RunId, Result<(), ProbeError>, Instant)> = JoinSet::new();
    let mut signals_open = true;
    // When the loop asked to be woken: waking later than that means astha was not running.
    let mut expected_wake: Option<Instant> = None;
    loop {
        if let Some(lag) = expected_wake.take().and_then(|wake| own_lag(wake, now())) {
            // Give the runs in flight the time astha lost, then let the connections' tasks read
            // what arrived meanwhile before anything is judged: Asterisk's answer may have been
            // waiting in a socket while this process was starved of CPU.
            monitor.stalled(lag);
            status.send_modify(|s| s.lag.record(lag));
            let name = status.borrow().name.clone();
            tracing::info!(
                target = name,
                lag_ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX),
                "astha woke late (not scheduled): probe deadlines extended by the lag"
            );
            for _ in 0..DRAIN_YIELDS {
                tokio::task::yield_now().await;
            }
            while let Some(done) = runs.try_join_next() {
                if let Ok((id, result, at)) = done {
                    monitor.complete(id, result, at);
                }
            }
        }
        monitor.poll(now());
        while let Some(output) = monitor.pop_output() {
            match output {
                MonitorOutput::Start(start) => {
                    let run = backend.run(start.kind);
                    // The monitor judges the deadline (and moves it for astha's own lag, for the
                    // target's starvation and for answers heard meanwhile); this bound only ends
                    // a run nobody waits for.
                    let budget = run_backstop(start.deadline - start.started);
                    let backstop = tokio::time::Instant::from_std(start.started + budget);
                    runs.spawn(async move {
                        let result = tokio::time::timeout_at(backstop, run)
                            .await
                            .unwrap_or(Err(ProbeError::Timeout(budget)));
                        (start.id, result, now())
                    });
                }
                MonitorOutput::Outcome(outcome) => {
                    status.send_modify(|s| apply_outcome(s, &outcome, &monitor));
                    let _ = events.send(MonitorEvent::Outcome(outcome));
                }
                MonitorOutput::Verdict(change) => {
                    log_change(&status.borrow().name, &change);
                    status.send_modify(|s| {
                        s.verdict = change.to;
                        s.since = change.at;
                        s.last_change = Some(change.clone());
                    });
                    let _ = events.send(MonitorEvent::Verdict(change));
                }
            }
        }
        expected_wake = monitor.next_wakeup();
        let wake = expected_wake.map(tokio::time::Instant::from_std);
        tokio::select! {
            Some(done) = runs.join_next(), if !runs.is_empty() => {
                if let Ok((id, result, at)) = done {
                    monitor.complete(id, result, at);
                }
            }
            signal = signals.recv(), if signals_open => match signal {
                Some(signal) => apply_signal(&mut monitor, signal),
                None => signals_open = false,
            },
            Some(request) = requests.recv() => apply_signal(&mut monitor, request),
            _ = sleep_until(wake) => {}
        }
    }
}

/// Yields after a stall so the AMI reader and the runs' tasks process what arrived meanwhile
/// (reader, run task, join: three hops on the current-thread runtime).
const DRAIN_YIELDS: usize = 3;
/// How long a run with a `timeout` may take before its task drops it: three times the timeout,
/// plus the most starvation the monitor may give back to one silence
/// ([`super::monitor::MAX_STARVED_CREDIT`]). The monitor, not this bound, judges the run; the bound
/// must therefore come after the latest deadline the monitor may set. At three times the
/// timeout alone (3 s for the ping) it came first on a saturated host: the local Asterisk,
/// starved of CPU for 3 s and given that time back, was failed by the backstop's "no answer
/// within 3000 ms" 0.5 s before it answered, and the active handed its calls over.
pub fn run_backstop(timeout: Duration) -> Duration {
    timeout * 3 + super::monitor::MAX_STARVED_CREDIT
}

/// Sleeps until `wake`; never ready when there is none (a `select!` branch with nothing to time).
pub(crate) async fn sleep_until(wake: Option<tokio::time::Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn apply_signal(monitor: &mut Monitor, signal: TargetSignal) {
    let at = now();
    match signal {
        TargetSignal::AmiConnected => monitor.ami_connected(at),
        TargetSignal::AmiDisconnected(reason) => monitor.ami_disconnected(&reason, at),
        TargetSignal::Shutdown { restart } => monitor.shutdown(restart, at),
        TargetSignal::FullyBooted => monitor.fully_booted(at),
        TargetSignal::ProbeNow(kind) => monitor.probe_now(kind, at),
        TargetSignal::Answered { sent } => monitor.answered(sent, at),
        TargetSignal::Starved(starved) => {
            let given = monitor.starved(starved);
            if given < starved {
                tracing::debug!(
                    starved_ms = u64::try_from(starved.as_millis()).unwrap_or(u64::MAX),
                    given_ms = u64::try_from(given.as_millis()).unwrap_or(u64::MAX),
                    "Asterisk starved of CPU past the most given back per silence"
                );
            }
        }
        TargetSignal::Finding { kind, result } => monitor.external_outcome(ProbeOutcome {
            kind,
            at,
            latency: Duration::ZERO,
            result,
        }),
    }
}

fn apply_outcome(status: &mut MonitoredTarget, outcome: &ProbeOutcome, monitor: &Monitor) {
    let track = monitor.health().track(outcome.kind);
    if let Some(p) = status.probes.iter_mut().find(|p| p.kind == outcome.kind) {
        p.ok = Some(outcome.ok());
        p.latency = Some(outcome.latency);
        p.last_at = Some(outcome.at);
        p.runs += 1;
        if let Some(e) = outcome.error() {
            p.failures += 1;
            p.last_error = Some(e.clone());
            // Only verdict changes reach the default log; with `--log-level debug` every
            // failed run shows, for a verdict that stays failed (say after a slow boot), with
            // the part of the silence given back for the host starving Asterisk of CPU (a
            // silence judged late under load says why).
            tracing::debug!(
                target = %status.name,
                probe = %outcome.kind,
                latency_ms = u64::try_from(outcome.latency.as_millis()).unwrap_or(u64::MAX),
                starved_given_ms =
                    u64::try_from(monitor.starved_credit().as_millis()).unwrap_or(u64::MAX),
                error = %e,
                "probe failed"
            );
        }
        if let Some(t) = track {
            p.state = t.state;
            p.consecutive_failures = t.consecutive_fail;
        }
    }
}

/// Each verdict change is logged once, with the evidence that caused it.
fn log_change(name: &str, change: &VerdictChange) {
    match change.to {
        Verdict::Failed => {
            tracing::warn!(target = name, from = %change.from, to = %change.to, evidence = %change.evidence, "verdict changed")
        }
        _ => {
            tracing::info!(target = name, from = %change.from, to = %change.to, evidence = %change.evidence, "verdict changed")
        }
    }
}
