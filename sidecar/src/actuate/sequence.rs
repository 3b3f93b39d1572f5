//! The ordered takeover and release: relay → DRBD → floating IP → Asterisk → call-path probe, and back (the floating IP first).
//!
//! Every step has a deadline per attempt, may be retried, and is timed. A takeover whose step
//! fails for good is rolled back (the steps already done are undone in reverse order) or left
//! as is, as configured. A release undoes every step in reverse and carries on past a failing
//! step, because leaving the floating IP up on a releasing node is worse than a noisy log.
//! The outcome goes to the caller (the decision core) and, as one audit record, to the
//! journal and the log.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
// The runtime's clock, so durations follow paused time in tests.
use tokio::time::Instant;

use serde::Serialize;

use super::asterisk::{AsteriskReadiness, AsteriskService, BoxFuture};
use super::audit::{AuditJournal, AuditRecord, AuditStep};
use super::config::{FailurePolicy, RelayReleaseAction, SequenceConfig, StepPolicy};
use super::drbd::Drbd;
use super::fence::{FenceEvidence, FenceLedger};
use super::floating_ip::FloatingIp;
use super::relay::{RelayHandle, WatchdogState};
use crate::side::Side;

/// The steps, in takeover order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Relay,
    Drbd,
    FloatingIp,
    Asterisk,
    CallPathProbe,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Relay => "relay",
            StepKind::Drbd => "drbd",
            StepKind::FloatingIp => "floating_ip",
            StepKind::Asterisk => "asterisk",
            StepKind::CallPathProbe => "call_path_probe",
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a step was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Takeover direction.
    Engage,
    /// Release direction.
    Disengage,
    /// Undoing a partial takeover.
    Rollback,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Engage => "engage",
            Phase::Disengage => "disengage",
            Phase::Rollback => "rollback",
        }
    }
}

/// How one step went.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTiming {
    pub step: StepKind,
    pub phase: Phase,
    /// From the first attempt's start to the last attempt's end, retry delays included.
    pub duration: Duration,
    pub attempts: u32,
    /// The last attempt's error; `None` when the step succeeded.
    pub error: Option<String>,
    /// What the step found or relied on, for the journal.
    pub note: Option<String>,
}

/// What the decision core learns from a sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum SequenceOutcome {
    TakeoverDone {
        timings: Vec<StepTiming>,
        total: Duration,
    },
    TakeoverFailed {
        step: StepKind,
        error: String,
        timings: Vec<StepTiming>,
        rolled_back: bool,
    },
    /// Stopped by [`TakeoverCanceller::cancel`] at `step` (interrupted there, or not started);
    /// nothing is rolled back: the release the core orders next undoes it all.
    TakeoverCancelled {
        step: StepKind,
        timings: Vec<StepTiming>,
    },
    ReleaseDone {
        timings: Vec<StepTiming>,
        total: Duration,
    },
    /// Every step was still attempted; `step` is the first that failed.
    ReleaseFailed {
        step: StepKind,
        error: String,
        timings: Vec<StepTiming>,
    },
}

impl SequenceOutcome {
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            SequenceOutcome::TakeoverDone { .. } | SequenceOutcome::ReleaseDone { .. }
        )
    }

    pub fn timings(&self) -> &[StepTiming] {
        match self {
            SequenceOutcome::TakeoverDone { timings, .. }
            | SequenceOutcome::TakeoverFailed { timings, .. }
            | SequenceOutcome::TakeoverCancelled { timings, .. }
            | SequenceOutcome::ReleaseDone { timings, .. }
            | SequenceOutcome::ReleaseFailed { timings, .. } => timings,
        }
    }
}

/// One reversible step. `engage` and `disengage` must be idempotent.
pub trait Step: Send + Sync {
    fn kind(&self) -> StepKind;
    fn engage(&self) -> BoxFuture<'_, Result<(), String>>;
    fn disengage(&self) -> BoxFuture<'_, Result<(), String>>;
    /// What the last engage or disengage found or relied on, for the journal (taken once).
    fn take_note(&self) -> Option<String> {
        None
    }
}

/// The actuators a node has; absent ones are skipped (a node may have no DRBD, for one).
#[derive(Default, Clone)]
pub struct Actuators {
    pub relay: Option<RelayHandle>,
    pub drbd: Option<Drbd>,
    pub floating_ip: Option<FloatingIp>,
    pub asterisk: Option<AsteriskService>,
    /// Answers "FullyBooted?" and runs the call-path probe (the daemon's AMI client).
    pub readiness: Option<Arc<dyn AsteriskReadiness>>,
    /// Fencing evidence of the takeover under way: the relay step records its read-back, the
    /// DRBD step needs it to promote past an unreachable peer, the daemon answers DRBD's
    /// `fence-peer` handler from it.
    pub fence: FenceLedger,
}

impl fmt::Debug for Actuators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Actuators")
            .field("relay", &self.relay)
            .field("drbd", &self.drbd)
            .field("floating_ip", &self.floating_ip)
            .field("asterisk", &self.asterisk)
            .field("readiness", &self.readiness.as_ref().map(|_| "<check>"))
            .field("fence", &self.fence)
            .finish()
    }
}

impl StepKind {
    /// A step that waits on something else (the peer's demotion, Asterisk's boot, a test
    /// call) for up to seconds: a cancel interrupts it. The others (relay, floating IP) are
    /// short device commands, finished before a cancel takes effect so that no device is left
    /// half-commanded.
    fn waits(self) -> bool {
        matches!(
            self,
            StepKind::Drbd | StepKind::Asterisk | StepKind::CallPathProbe
        )
    }
}

/// Stops a takeover in progress (see [`crate::decide::Command::CancelTakeover`]). Held by the
/// daemon while the runner works in the actuator task.
#[derive(Debug, Clone)]
pub struct TakeoverCanceller(Arc<watch::Sender<u64>>);

impl TakeoverCanceller {
    /// Cancels the takeover of `term` and of every older term, running or not yet started.
    /// A later takeover (a higher term) is not affected.
    pub fn cancel(&self, term: u64) {
        self.0.send_modify(|up_to| *up_to = (*up_to).max(term));
    }
}

/// Runs takeovers and releases for one node.
pub struct SequenceRunner {
    node: Side,
    steps: Vec<(Box<dyn Step>, StepPolicy)>,
    cfg: SequenceConfig,
    journal: Option<AuditJournal>,
    fence: FenceLedger,
    /// One sequence at a time: a release must never interleave with a takeover.
    running: tokio::sync::Mutex<()>,
    /// Takeovers of this term and older ones are cancelled.
    cancelled_up_to: Arc<watch::Sender<u64>>,
}

impl fmt::Debug for SequenceRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequenceRunner")
            .field("node", &self.node)
            .field(
                "steps",
                &self.steps.iter().map(|(s, _)| s.kind()).collect::<Vec<_>>(),
            )
            .field("journal", &self.journal)
            .finish()
    }
}

impl SequenceRunner {
    /// The standard sequence for node `node` over the actuators it has.
    pub fn new(node: Side, actuators: Actuators, cfg: SequenceConfig) -> Self {
        let mut steps: Vec<Box<dyn Step>> = Vec::new();
        let fence = actuators.fence;
        if let Some(relay) = actuators.relay {
            steps.push(Box::new(RelayStep {
                relay,
                node,
                on_release: cfg.relay_on_release,
                deadline: cfg.relay.deadline(),
                // Only DRBD needs the read-back: without it the step stays as fast as it was.
                fence: actuators.drbd.is_some().then(|| fence.clone()),
                note: NoteSlot::default(),
            }));
        }
        if let Some(drbd) = actuators.drbd {
            steps.push(Box::new(DrbdStep {
                drbd,
                fence: fence.clone(),
                deadline: cfg.drbd.deadline(),
                note: NoteSlot::default(),
            }));
        }
        if let Some(ip) = actuators.floating_ip {
            steps.push(Box::new(IpStep { ip }));
        }
        if actuators.asterisk.is_some() || actuators.readiness.is_some() {
            steps.push(Box::new(AsteriskStep {
                service: actuators.asterisk,
                readiness: actuators.readiness.clone(),
                boot_deadline: cfg.asterisk.deadline(),
            }));
        }
        if let Some(readiness) = actuators.readiness {
            steps.push(Box::new(ProbeStep { readiness }));
        }
        let mut runner = Self::with_steps(node, steps, cfg);
        runner.fence = fence;
        runner
    }

    /// A runner over arbitrary steps (in takeover order), each with the configured policy of its kind.
    pub fn with_steps(node: Side, steps: Vec<Box<dyn Step>>, cfg: SequenceConfig) -> Self {
        let steps = steps
            .into_iter()
            .map(|s| {
                let policy = policy_for(&cfg, s.kind());
                (s, policy)
            })
            .collect();
        let journal = cfg.journal.clone().map(AuditJournal::new);
        SequenceRunner {
            node,
            steps,
            cfg,
            journal,
            fence: FenceLedger::default(),
            running: tokio::sync::Mutex::new(()),
            cancelled_up_to: Arc::new(watch::channel(0).0),
        }
    }

    /// The handle that cancels this runner's takeovers.
    pub fn canceller(&self) -> TakeoverCanceller {
        TakeoverCanceller(Arc::clone(&self.cancelled_up_to))
    }

    pub fn step_kinds(&self) -> Vec<StepKind> {
        self.steps.iter().map(|(s, _)| s.kind()).collect()
    }

    /// Take over: engage every step in order. On a step that fails for good, roll back or
    /// stop as configured. A cancel ([`TakeoverCanceller`]) stops it where it is.
    pub async fn takeover(&self, reason: &str, term: u64) -> SequenceOutcome {
        let _one_at_a_time = self.running.lock().await;
        let started = Instant::now();
        let started_wall = SystemTime::now();
        tracing::info!(node = %self.node, term, reason, "takeover starting");
        self.fence.begin_takeover(term);
        let mut cancel = self.cancelled_up_to.subscribe();
        let mut timings = Vec::new();
        let mut outcome = None;
        for (i, (step, policy)) in self.steps.iter().enumerate() {
            if *cancel.borrow_and_update() >= term {
                outcome = Some(SequenceOutcome::TakeoverCancelled {
                    step: step.kind(),
                    timings: Vec::new(),
                });
                break;
            }
            let engage = run_step(step.as_ref(), Phase::Engage, policy);
            let timing = if step.kind().waits() {
                let step_started = Instant::now();
                tokio::select! {
                    timing = engage => timing,
                    Ok(_) = cancel.wait_for(|up_to| *up_to >= term) => {
                        timings.push(StepTiming {
                            step: step.kind(),
                            phase: Phase::Engage,
                            duration: step_started.elapsed(),
                            attempts: 1,
                            error: Some("cancelled".into()),
                            note: None,
                        });
                        outcome = Some(SequenceOutcome::TakeoverCancelled {
                            step: step.kind(),
                            timings: Vec::new(),
                        });
                        break;
                    }
                }
            } else {
                engage.await
            };
            let failed = timing.error.clone();
            timings.push(timing);
            if let Some(error) = failed {
                let rolled_back = match self.cfg.on_failure {
                    FailurePolicy::Rollback => {
                        let mut all_ok = true;
                        // The failed step is undone too: it may have half happened.
                        for (done, policy) in self.steps[..=i].iter().rev() {
                            let undo = run_step(done.as_ref(), Phase::Rollback, policy).await;
                            all_ok &= undo.error.is_none();
                            timings.push(undo);
                        }
                        all_ok
                    }
                    FailurePolicy::Stop => false,
                };
                outcome = Some(SequenceOutcome::TakeoverFailed {
                    step: step.kind(),
                    error,
                    timings: Vec::new(),
                    rolled_back,
                });
                break;
            }
        }
        let total = started.elapsed();
        let outcome = match outcome {
            Some(SequenceOutcome::TakeoverFailed {
                step,
                error,
                rolled_back,
                ..
            }) => SequenceOutcome::TakeoverFailed {
                step,
                error,
                timings,
                rolled_back,
            },
            Some(SequenceOutcome::TakeoverCancelled { step, .. }) => {
                SequenceOutcome::TakeoverCancelled { step, timings }
            }
            _ => SequenceOutcome::TakeoverDone { timings, total },
        };
        self.report("takeover", reason, term, started_wall, total, &outcome)
            .await;
        outcome
    }

    /// Release: disengage every step in reverse order (the floating IP first), continuing past
    /// failures.
    pub async fn release(&self, reason: &str, term: u64) -> SequenceOutcome {
        let _one_at_a_time = self.running.lock().await;
        let started = Instant::now();
        let started_wall = SystemTime::now();
        tracing::info!(node = %self.node, term, reason, "release starting");
        // Evidence gathered for a takeover never speaks for a later one.
        self.fence.clear();
        let mut timings = Vec::new();
        let mut first_failure: Option<(StepKind, String)> = None;
        // The reverse of the takeover, except that the floating IP goes first: on a handover
        // the peer takes over as soon as it hears this node release, and stopping Asterisk
        // (seconds for a hung one in cold standby) must not leave the address on both nodes.
        let is_ip = |(step, _): &&(Box<dyn Step>, StepPolicy)| step.kind() == StepKind::FloatingIp;
        let order = self.steps.iter().rev().filter(is_ip);
        let order = order.chain(self.steps.iter().rev().filter(|s| !is_ip(s)));
        for (step, policy) in order {
            let timing = run_step(step.as_ref(), Phase::Disengage, policy).await;
            if let (None, Some(error)) = (&first_failure, &timing.error) {
                first_failure = Some((step.kind(), error.clone()));
            }
            timings.push(timing);
        }
        let total = started.elapsed();
        let outcome = match first_failure {
            Some((step, error)) => SequenceOutcome::ReleaseFailed {
                step,
                error,
                timings,
            },
            None => SequenceOutcome::ReleaseDone { timings, total },
        };
        self.report("release", reason, term, started_wall, total, &outcome)
            .await;
        outcome
    }

    async fn report(
        &self,
        kind: &'static str,
        reason: &str,
        term: u64,
        started_wall: SystemTime,
        total: Duration,
        outcome: &SequenceOutcome,
    ) {
        let (failed_step, error, rolled_back) = match outcome {
            SequenceOutcome::TakeoverFailed {
                step,
                error,
                rolled_back,
                ..
            } => (Some(step.as_str()), Some(error.clone()), *rolled_back),
            SequenceOutcome::ReleaseFailed { step, error, .. } => {
                (Some(step.as_str()), Some(error.clone()), false)
            }
            SequenceOutcome::TakeoverCancelled { step, .. } => {
                (Some(step.as_str()), Some("cancelled".to_owned()), false)
            }
            _ => (None, None, false),
        };
        let record = AuditRecord {
            kind,
            node: self.node.to_string(),
            reason: reason.to_owned(),
            term,
            started_unix_ms: started_wall
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0),
            total_ms: ms(total),
            outcome: match outcome {
                SequenceOutcome::TakeoverCancelled { .. } => "cancelled",
                _ if outcome.is_success() => "done",
                _ => "failed",
            },
            failed_step,
            error,
            rolled_back,
            steps: outcome
                .timings()
                .iter()
                .map(|t| AuditStep {
                    step: t.step.as_str(),
                    phase: t.phase.as_str(),
                    duration_ms: ms(t.duration),
                    attempts: t.attempts,
                    ok: t.error.is_none(),
                    error: t.error.clone(),
                    note: t.note.clone(),
                })
                .collect(),
        };
        let steps = record
            .steps
            .iter()
            .map(|s| {
                format!(
                    "{}:{}={:.1}ms{}",
                    s.step,
                    s.phase,
                    s.duration_ms,
                    if s.ok { "" } else { "!" }
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        if outcome.is_success() {
            tracing::info!(kind, node = %self.node, term, reason, total_ms = record.total_ms, steps, "sequence done");
        } else if let SequenceOutcome::TakeoverCancelled { step, .. } = outcome {
            tracing::warn!(kind, node = %self.node, term, reason, total_ms = record.total_ms, steps,
                %step, "takeover cancelled: this node gave way to a newer term");
        } else {
            tracing::error!(kind, node = %self.node, term, reason, total_ms = record.total_ms, steps,
                failed_step = record.failed_step, error = record.error.as_deref(), rolled_back, "sequence failed");
        }
        if let Some(journal) = &self.journal {
            if let Err(e) = journal.append(&record).await {
                tracing::error!(error = %e, "audit journal write failed");
            }
        }
    }
}

fn policy_for(cfg: &SequenceConfig, kind: StepKind) -> StepPolicy {
    match kind {
        StepKind::Relay => cfg.relay,
        StepKind::Drbd => cfg.drbd,
        StepKind::FloatingIp => cfg.floating_ip,
        StepKind::Asterisk => cfg.asterisk,
        StepKind::CallPathProbe => cfg.call_path_probe,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run_step(step: &dyn Step, phase: Phase, policy: &StepPolicy) -> StepTiming {
    let started = Instant::now();
    let mut attempts = 0;
    let error = loop {
        attempts += 1;
        let attempt = match phase {
            Phase::Engage => step.engage(),
            Phase::Disengage | Phase::Rollback => step.disengage(),
        };
        let error = match tokio::time::timeout(policy.deadline(), attempt).await {
            Ok(Ok(())) => break None,
            Ok(Err(e)) => e,
            Err(_) => format!("deadline of {} ms passed", policy.deadline_ms),
        };
        tracing::warn!(step = %step.kind(), phase = phase.as_str(), attempt = attempts, error, "step attempt failed");
        if attempts > policy.retries {
            break Some(error);
        }
        tokio::time::sleep(policy.retry_delay()).await;
    };
    let duration = started.elapsed();
    let note = step.take_note();
    tracing::debug!(step = %step.kind(), phase = phase.as_str(), ms = ms(duration), attempts, ok = error.is_none(), note, "step finished");
    StepTiming {
        step: step.kind(),
        phase,
        duration,
        attempts,
        error,
        note,
    }
}

/// An error with its chain of causes, for reports.
fn explain(e: &dyn StdError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// A step's note, set by its last attempt and taken by the runner.
#[derive(Default)]
struct NoteSlot(std::sync::Mutex<Option<String>>);

impl NoteSlot {
    fn set(&self, note: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(note);
    }
    fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

struct RelayStep {
    relay: RelayHandle,
    node: Side,
    on_release: RelayReleaseAction,
    deadline: Duration,
    /// Where the read-back is recorded as fencing evidence (when DRBD needs it).
    fence: Option<FenceLedger>,
    note: NoteSlot,
}

impl RelayStep {
    /// Reads the position back after switching: the circuits on this side are the proof that
    /// the peer is fenced which lets DRBD promote past an unreachable peer.
    async fn record_read_back(&self, fence: &FenceLedger) {
        if !self.relay.capabilities().read_back {
            self.note.set(format!(
                "{} cannot be read back: no fencing evidence for DRBD",
                self.relay.describe()
            ));
            return;
        }
        match self.relay.read_side(self.deadline).await {
            Ok(Some(side)) if side == self.node => {
                fence.record_current(FenceEvidence::RelayReadBack {
                    side: side.to_string(),
                });
                self.note.set(format!("read back on side {side}"));
                self.record_watchdog_expiry(fence).await;
            }
            Ok(other) => self.note.set(format!(
                "read back {}, not this side: no fencing evidence",
                other
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".into())
            )),
            Err(e) => self.note.set(format!("read-back failed: {}", explain(&e))),
        }
    }
}

impl RelayStep {
    /// A device watchdog that guards the peer's side and expired says the peer stopped kicking
    /// it (it died or lost the device): that is fencing evidence of its own.
    async fn record_watchdog_expiry(&self, fence: &FenceLedger) {
        let Some(watchdog) = self.relay.capabilities().watchdog else {
            return;
        };
        if watchdog.falls_back_to != self.node {
            return;
        }
        if let Ok(Some(WatchdogState::Expired)) = self.relay.read_watchdog(self.deadline).await {
            fence.record_current(FenceEvidence::WatchdogExpired {
                detail: format!(
                    "{} fell back to side {} by itself: side {} stopped kicking it",
                    self.relay.describe(),
                    self.node,
                    watchdog.guards()
                ),
            });
        }
    }
}

impl Step for RelayStep {
    fn kind(&self) -> StepKind {
        StepKind::Relay
    }
    fn engage(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.relay
                .select(self.node, self.deadline)
                .await
                .map_err(|e| explain(&e))?;
            if let Some(fence) = &self.fence {
                self.record_read_back(fence).await;
            }
            Ok(())
        })
    }
    fn take_note(&self) -> Option<String> {
        self.note.take()
    }
    fn disengage(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match self.on_release {
                RelayReleaseAction::Leave => Ok(()),
                RelayReleaseAction::SelectPeer => self
                    .relay
                    .select(self.node.other(), self.deadline)
                    .await
                    .map_err(|e| explain(&e)),
            }
        })
    }
}

struct DrbdStep {
    drbd: Drbd,
    fence: FenceLedger,
    /// The step's deadline: waiting for a demoting peer ends early enough to say so.
    deadline: Duration,
    note: NoteSlot,
}

impl Step for DrbdStep {
    fn kind(&self) -> StepKind {
        StepKind::Drbd
    }
    fn engage(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            // Leave room in the deadline for `drbdadm primary` and the state read after it.
            let reserve = self.drbd.promotion_reserve().min(self.deadline / 2);
            let wait_until = Instant::now() + self.deadline.saturating_sub(reserve);
            let evidence = self.fence.evidence();
            let promoted = self
                .drbd
                .promote(&evidence, wait_until)
                .await
                .map_err(|e| explain(&e))?;
            self.note.set(promoted);
            self.drbd.mount().await.map_err(|e| explain(&e))
        })
    }
    fn take_note(&self) -> Option<String> {
        self.note.take()
    }
    fn disengage(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.drbd.umount().await.map_err(|e| explain(&e))?;
            self.drbd.demote().await.map_err(|e| explain(&e))
        })
    }
}

struct IpStep {
    ip: FloatingIp,
}

impl Step for IpStep {
    fn kind(&self) -> StepKind {
        StepKind::FloatingIp
    }
    fn engage(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.ip.add().await.map_err(|e| explain(&e)) })
    }
    fn disengage(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.ip.remove().await.map_err(|e| explain(&e)) })
    }
}

struct AsteriskStep {
    service: Option<AsteriskService>,
    readiness: Option<Arc<dyn AsteriskReadiness>>,
    boot_deadline: Duration,
}

impl Step for AsteriskStep {
    fn kind(&self) -> StepKind {
        StepKind::Asterisk
    }
    fn engage(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if let Some(service) = &self.service {
                service.ensure_running().await.map_err(|e| explain(&e))?;
            }
            if let Some(readiness) = &self.readiness {
                let deadline = tokio::time::Instant::now() + self.boot_deadline;
                readiness
                    .wait_fully_booted(deadline)
                    .await
                    .map_err(|e| format!("Asterisk not fully booted: {e}"))?;
            }
            Ok(())
        })
    }
    fn disengage(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match &self.service {
                Some(service) => service.ensure_released().await.map_err(|e| explain(&e)),
                None => Ok(()),
            }
        })
    }
}

struct ProbeStep {
    readiness: Arc<dyn AsteriskReadiness>,
}

impl Step for ProbeStep {
    fn kind(&self) -> StepKind {
        StepKind::CallPathProbe
    }
    fn engage(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let rtt = self
                .readiness
                .call_path_probe()
                .await
                .map_err(|e| format!("call-path probe failed: {e}"))?;
            tracing::info!(rtt_ms = ms(rtt), "call-path probe passed");
            Ok(())
        })
    }
    fn disengage(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A step that records calls into a shared log and fails its first `fail_engage` engages.
    struct Fake {
        kind: StepKind,
        log: Arc<Mutex<Vec<String>>>,
        fail_engage: Mutex<u32>,
        hang: bool,
    }

    impl Fake {
        fn boxed(
            kind: StepKind,
            log: &Arc<Mutex<Vec<String>>>,
            fail_engage: u32,
            hang: bool,
        ) -> Box<dyn Step> {
            Box::new(Fake {
                kind,
                log: Arc::clone(log),
                fail_engage: Mutex::new(fail_engage),
                hang,
            })
        }
    }

    impl Step for Fake {
        fn kind(&self) -> StepKind {
            self.kind
        }
        fn engage(&self) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async move {
                self.log.lock().unwrap().push(format!("+{}", self.kind));
                if self.hang {
                    std::future::pending::<()>().await;
                }
                let mut left = self.fail_engage.lock().unwrap();
                if *left > 0 {
                    *left -= 1;
                    return Err(format!("{} broke", self.kind));
                }
                Ok(())
            })
        }
        fn disengage(&self) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async move {
                self.log.lock().unwrap().push(format!("-{}", self.kind));
                Ok(())
            })
        }
    }

    fn all_kinds() -> [StepKind; 5] {
        [
            StepKind::Relay,
            StepKind::Drbd,
            StepKind::FloatingIp,
            StepKind::Asterisk,
            StepKind::CallPathProbe,
        ]
    }

    #[tokio::test(start_paused = true)]
    async fn takeover_runs_in_order_and_release_in_reverse_floating_ip_first() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let steps = all_kinds()
            .into_iter()
            .map(|k| Fake::boxed(k, &log, 0, false))
            .collect();
        let runner = SequenceRunner::with_steps(Side::B, steps, SequenceConfig::default());
        let outcome = runner.takeover("test", 7).await;
        assert!(
            matches!(outcome, SequenceOutcome::TakeoverDone { ref timings, .. } if timings.len() == 5),
            "{outcome:?}"
        );
        let outcome = runner.release("test", 7).await;
        assert!(
            matches!(outcome, SequenceOutcome::ReleaseDone { .. }),
            "{outcome:?}"
        );
        assert_eq!(
            *log.lock().unwrap(),
            [
                "+relay",
                "+drbd",
                "+floating_ip",
                "+asterisk",
                "+call_path_probe",
                "-floating_ip",
                "-call_path_probe",
                "-asterisk",
                "-drbd",
                "-relay"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_step_is_retried_then_succeeds() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut cfg = SequenceConfig::default();
        cfg.floating_ip.retries = 2;
        let steps = vec![
            Fake::boxed(StepKind::Relay, &log, 0, false),
            Fake::boxed(StepKind::FloatingIp, &log, 2, false),
        ];
        let outcome = SequenceRunner::with_steps(Side::A, steps, cfg)
            .takeover("retry", 1)
            .await;
        let SequenceOutcome::TakeoverDone { timings, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(timings[1].attempts, 3);
        assert!(timings[1].error.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_step_rolls_back_what_was_done_in_reverse() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let steps = vec![
            Fake::boxed(StepKind::Relay, &log, 0, false),
            Fake::boxed(StepKind::Drbd, &log, 0, false),
            Fake::boxed(StepKind::FloatingIp, &log, 99, false),
            Fake::boxed(StepKind::Asterisk, &log, 0, false),
        ];
        let outcome = SequenceRunner::with_steps(Side::A, steps, SequenceConfig::default())
            .takeover("rb", 2)
            .await;
        match outcome {
            SequenceOutcome::TakeoverFailed {
                step,
                error,
                rolled_back,
                ..
            } => {
                assert_eq!(step, StepKind::FloatingIp);
                assert!(error.contains("floating_ip broke"), "{error}");
                assert!(rolled_back);
            }
            other => panic!("{other:?}"),
        }
        // Default policy: one retry for the IP step, then undo IP, DRBD, relay; Asterisk never started.
        assert_eq!(
            *log.lock().unwrap(),
            [
                "+relay",
                "+drbd",
                "+floating_ip",
                "+floating_ip",
                "-floating_ip",
                "-drbd",
                "-relay"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_step_hits_its_deadline_and_stop_policy_leaves_things() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut cfg = SequenceConfig {
            on_failure: FailurePolicy::Stop,
            ..SequenceConfig::default()
        };
        cfg.relay.retries = 0;
        let steps = vec![
            Fake::boxed(StepKind::Relay, &log, 0, true),
            Fake::boxed(StepKind::Drbd, &log, 0, false),
        ];
        let outcome = SequenceRunner::with_steps(Side::A, steps, cfg)
            .takeover("hang", 3)
            .await;
        match outcome {
            SequenceOutcome::TakeoverFailed {
                step,
                error,
                rolled_back,
                timings,
            } => {
                assert_eq!(step, StepKind::Relay);
                assert!(error.contains("deadline"), "{error}");
                assert!(!rolled_back);
                assert_eq!(timings[0].duration, Duration::from_millis(3000));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(*log.lock().unwrap(), ["+relay"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_ends_the_boot_wait_at_once_and_the_release_runs_right_after() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let steps = vec![
            Fake::boxed(StepKind::Relay, &log, 0, false),
            Fake::boxed(StepKind::FloatingIp, &log, 0, false),
            // Asterisk boots (for ever, here); its deadline is far away.
            Fake::boxed(StepKind::Asterisk, &log, 0, true),
            Fake::boxed(StepKind::CallPathProbe, &log, 0, false),
        ];
        let runner = Arc::new(SequenceRunner::with_steps(
            Side::B,
            steps,
            SequenceConfig::default(),
        ));
        let canceller = runner.canceller();
        let started = Instant::now();
        let takeover = tokio::spawn({
            let runner = Arc::clone(&runner);
            async move { runner.takeover("peer dead", 4).await }
        });
        // Yielding keeps the paused clock still: the boot's deadline cannot pass meanwhile.
        while !log.lock().unwrap().contains(&"+asterisk".to_owned()) {
            tokio::task::yield_now().await;
        }
        canceller.cancel(4);
        let outcome = takeover.await.unwrap();
        let SequenceOutcome::TakeoverCancelled { step, timings } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(step, StepKind::Asterisk);
        assert_eq!(
            timings.last().and_then(|t| t.error.as_deref()),
            Some("cancelled")
        );
        assert!(started.elapsed() < SequenceConfig::default().asterisk.deadline());
        // Nothing rolled back, the test call never placed: the release undoes it all.
        assert_eq!(
            *log.lock().unwrap(),
            ["+relay", "+floating_ip", "+asterisk"]
        );
        let outcome = runner.release("gave way", 4).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(log.lock().unwrap()[3], "-floating_ip");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_stops_its_own_term_and_older_ones_not_a_later_takeover() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let steps = vec![
            Fake::boxed(StepKind::Relay, &log, 0, false),
            Fake::boxed(StepKind::FloatingIp, &log, 0, false),
        ];
        let runner = SequenceRunner::with_steps(Side::A, steps, SequenceConfig::default());
        // The cancel may reach the runner before the job does: nothing is touched.
        runner.canceller().cancel(5);
        let outcome = runner.takeover("peer dead", 5).await;
        assert!(
            matches!(outcome, SequenceOutcome::TakeoverCancelled { step: StepKind::Relay, ref timings } if timings.is_empty()),
            "{outcome:?}"
        );
        assert!(log.lock().unwrap().is_empty());
        let outcome = runner.takeover("peer dead", 6).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(*log.lock().unwrap(), ["+relay", "+floating_ip"]);
    }

    #[tokio::test]
    async fn outcome_is_journaled_as_one_json_line() {
        let path =
            std::env::temp_dir().join(format!("astha-audit-unit-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let log = Arc::new(Mutex::new(Vec::new()));
        let cfg = SequenceConfig {
            journal: Some(path.clone()),
            ..SequenceConfig::default()
        };
        let runner = SequenceRunner::with_steps(
            Side::B,
            vec![Fake::boxed(StepKind::Relay, &log, 0, false)],
            cfg,
        );
        runner.takeover("peer silent", 42).await;
        runner.release("handover", 42).await;
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["kind"], "takeover");
        assert_eq!(lines[0]["term"], 42);
        assert_eq!(lines[0]["reason"], "peer silent");
        assert_eq!(lines[0]["outcome"], "done");
        assert_eq!(lines[0]["steps"][0]["step"], "relay");
        assert_eq!(lines[1]["kind"], "release");
    }
}
