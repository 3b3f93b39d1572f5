//! The event loop: waits for whatever happens next (a core tick, a peer datagram, a verdict, an
//! actuator result, a control request, a timer, a signal) and routes it to the core.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::actuate::drbd::DrbdObservation;
use crate::control::IncomingRequest;
use crate::decide::{AlertKey, AlertSeverity, Input, OperatorCommand};
use crate::probe::ami::Answer;
use crate::probe::shared_silence::{Judged, VerdictGate};
use crate::sd_notify::Notifier;
use crate::verdict::Verdict;

use super::actuator_task::ActuatorResult;
use super::devices::DeviceReading;
use super::reachability::ReachabilityAnswer;
use super::relay_watchdog::KickResult;
use super::witness::WitnessAnswer;
use super::{setup, Daemon, DaemonError};

/// How often the relay position is read back (when the device can) and the status refreshed.
const DEVICE_READ_INTERVAL: Duration = Duration::from_secs(1);

/// The channels the loop listens on besides the peer link, verdicts, timers and signals.
#[derive(Debug)]
pub(super) struct EventSources {
    pub control: mpsc::Receiver<IncomingRequest>,
    pub results: mpsc::Receiver<ActuatorResult>,
    /// Callers who dialled the failover code.
    pub dialplan: mpsc::Receiver<String>,
    pub urgent_results: mpsc::Receiver<bool>,
    pub device_readings_tx: mpsc::Sender<DeviceReading>,
    pub device_readings: mpsc::Receiver<DeviceReading>,
    /// Witness checks (when a witness is configured).
    pub witness_answers: Option<mpsc::Receiver<WitnessAnswer>>,
    /// Reachability target checks (when targets are configured).
    pub reachability_answers: Option<mpsc::Receiver<ReachabilityAnswer>>,
    /// Relay watchdog kicks (when the relay has a watchdog).
    pub kick_results: Option<mpsc::Receiver<KickResult>>,
}

/// Receives from an optional channel; never ready when there is none.
async fn recv_some<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A timer that ticks every `every` (when there is something to time; else once an hour,
/// and its branch is disabled).
fn timer(every: Option<Duration>) -> tokio::time::Interval {
    let mut t = tokio::time::interval(every.unwrap_or(Duration::from_secs(3600)));
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

impl Daemon {
    /// Runs until SIGTERM/SIGINT (or until every peer link receive task ended).
    pub(super) async fn event_loop(&mut self, mut events: EventSources) -> Result<(), DaemonError> {
        let mut sigterm = signal(SignalKind::terminate()).map_err(setup("SIGTERM handler"))?;
        let mut sigint = signal(SignalKind::interrupt()).map_err(setup("SIGINT handler"))?;
        let mut sighup = signal(SignalKind::hangup()).map_err(setup("SIGHUP handler"))?;
        let mut local_status = self.local.handle().status();
        let mut peer_status = self.peer.handle().status();
        let mut device_timer = tokio::time::interval(DEVICE_READ_INTERVAL);
        device_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let watchdog = Notifier::watchdog_interval();
        let mut watchdog_timer =
            tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        let mut witness_timer = timer(self.witness.as_ref().map(|w| w.tick_every()));
        let mut reachability_timer = timer(self.reachability.as_ref().map(|r| r.interval()));
        let mut kick_timer = timer(self.relay_watchdog.as_ref().map(|k| k.kick_every()));

        // Failed verdicts reach the core once the other Asterisk is heard from (see
        // `VerdictGate`); it follows both Asterisks' answers while it holds one back.
        let window = Duration::from_millis(self.core.config().probe_deadline_ms);
        let mut gate = VerdictGate::new(window);
        let mut local_answers = self.local.probes().ami().answers();
        let mut peer_answers = self.peer.probes().ami().answers();

        // Verdicts known before the loop starts.
        let local_verdict = local_status.borrow_and_update().verdict;
        self.gated(&mut gate, Judged::Own, local_verdict, &peer_answers)
            .await;
        let peer_verdict = peer_status.borrow_and_update().verdict;
        self.gated(&mut gate, Judged::Peer, peer_verdict, &local_answers)
            .await;

        loop {
            let next_tick = self.clock.instant_at(self.core.next_tick_at());
            let release = gate.next_release().map(tokio::time::Instant::from_std);
            let link = &mut self.peer_link;
            tokio::select! {
                _ = tokio::time::sleep_until(next_tick.into()) => self.tick().await,
                () = crate::probe::runner::sleep_until(release) => {
                    let released = gate.poll(tokio::time::Instant::now().into_std());
                    self.feed_verdicts(released).await;
                }
                Ok(()) = local_answers.changed(), if gate.waits_for_answers_of(Judged::Own) => {
                    if let Some(a) = *local_answers.borrow_and_update() {
                        gate.answered(Judged::Own, a.heard);
                    }
                }
                Ok(()) = peer_answers.changed(), if gate.waits_for_answers_of(Judged::Peer) => {
                    if let Some(a) = *peer_answers.borrow_and_update() {
                        gate.answered(Judged::Peer, a.heard);
                    }
                }
                received = link.links.recv(&mut link.codec, self.clock.start) => {
                    let Some(r) = received else {
                        return Err(DaemonError::Setup("every peer link receive task ended".into()));
                    };
                    self.feed(Input::PeerMessage { link: r.link, state: r.state, newest: r.newest }).await;
                }
                Ok(()) = local_status.changed() => {
                    let verdict = local_status.borrow_and_update().verdict;
                    self.gated(&mut gate, Judged::Own, verdict, &peer_answers).await;
                }
                Ok(()) = peer_status.changed() => {
                    let verdict = peer_status.borrow_and_update().verdict;
                    self.gated(&mut gate, Judged::Peer, verdict, &local_answers).await;
                }
                Some(ok) = events.urgent_results.recv() => {
                    self.feed(Input::UrgentProbeResult { ok }).await;
                }
                Some(result) = events.results.recv() => self.sequence_finished(&result).await,
                Some(request) = events.control.recv() => self.control(request).await,
                Some(caller) = events.dialplan.recv() => {
                    tracing::warn!(%caller, "failover requested from the dialplan (HAFailover UserEvent)");
                    let command = OperatorCommand::Failover { force: false, reason: format!("dialplan *999 by caller {caller}") };
                    self.operator(command, None).await;
                }
                _ = device_timer.tick() => self.devices.read_in_background(&events.device_readings_tx, &self.core.status()),
                Some(reading) = events.device_readings.recv() => {
                    let relay_read = matches!(reading, DeviceReading::Relay(_));
                    if let DeviceReading::Drbd(observed, _) = &reading {
                        self.watch_drbd(observed);
                    }
                    if let Some(input) = self.report.observe(reading) {
                        self.feed(input).await;
                    }
                    if relay_read {
                        self.check_relay_watchdog();
                    }
                }
                _ = watchdog_timer.tick(), if watchdog.is_some() => self.notifier.watchdog(),
                _ = witness_timer.tick(), if self.witness.is_some() => {
                    let status = self.core.status();
                    if let Some(w) = self.witness.as_mut() {
                        w.on_tick(&status);
                    }
                }
                Some(answer) = recv_some(&mut events.witness_answers) => {
                    if let Some(w) = self.witness.as_mut() {
                        let ok = w.record(answer);
                        self.feed(Input::Witness(ok)).await;
                    }
                }
                _ = reachability_timer.tick(), if self.reachability.is_some() => {
                    if let Some(r) = self.reachability.as_mut() {
                        r.check_all();
                    }
                }
                Some(answer) = recv_some(&mut events.reachability_answers) => {
                    let judged = self.reachability.as_mut().and_then(|r| r.record(answer));
                    if let Some(judged) = judged {
                        self.feed(Input::Reachability(judged)).await;
                    }
                }
                _ = kick_timer.tick(), if self.relay_watchdog.is_some() => {
                    let status = self.core.status();
                    if let Some(k) = self.relay_watchdog.as_mut() {
                        k.on_tick(&status);
                    }
                }
                Some(kick) = recv_some(&mut events.kick_results) => self.record_relay_kick(kick),
                _ = sighup.recv() => self.reload(),
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
            }
            self.trunks.set_role(self.core.status().role);
            self.steer_contact_mirror();
            self.publish_metrics();
        }
        self.notifier.stopping();
        tracing::info!(role = %self.core.status().role, "astha daemon stopping; the role is kept (no release on exit)");
        Ok(())
    }

    /// A verdict of `judged` as its monitor published it, through the gate (`other`: the other
    /// Asterisk's answers).
    async fn gated(
        &mut self,
        gate: &mut VerdictGate,
        judged: Judged,
        verdict: Verdict,
        other: &watch::Receiver<Option<Answer>>,
    ) {
        let other_heard = other.borrow().map(|a| a.heard);
        let now = tokio::time::Instant::now().into_std();
        let passed = gate.verdict(judged, verdict, now, other_heard);
        self.feed_verdicts(passed).await;
    }

    /// The verdicts the gate passes at once reach the core as one input: two of them are one
    /// shared silence, which the core must see whole.
    async fn feed_verdicts(&mut self, verdicts: Vec<(Judged, Verdict)>) {
        if verdicts.is_empty() {
            return;
        }
        self.feed_all(verdicts.into_iter().map(|(judged, verdict)| match judged {
            Judged::Own => Input::LocalVerdict(verdict),
            Judged::Peer => Input::PeerAsteriskVerdict(verdict),
        }))
        .await;
    }

    /// Feeds one input to the core and executes what it decides.
    pub(super) async fn feed(&mut self, input: Input) {
        self.feed_all([input]).await;
    }

    /// Feeds inputs that arrived together (see `Core::handle_all`) and executes what it decides.
    async fn feed_all(&mut self, inputs: impl IntoIterator<Item = Input>) {
        let commands = self.core.handle_all(self.clock.now(), inputs);
        self.execute(commands).await;
    }

    /// A takeover or release finished: the core learns the outcome, the sinks get its event
    /// (ahead of the alerts the outcome raises or clears).
    async fn sequence_finished(&mut self, result: &ActuatorResult) {
        let finished = self.report.record_outcome(result);
        self.alerts.hold();
        self.feed(finished.input.clone()).await;
        let stamp = self.stamp();
        self.alerts
            .sequence_finished(finished.kind, &finished.record, stamp);
        self.alerts.release();
    }

    /// DRBD outdating this standby's disk is an alert until the disk is UpToDate again.
    fn watch_drbd(&mut self, observed: &DrbdObservation) {
        let stamp = self.stamp();
        if let Some(why) = &observed.outdated_now {
            let message = format!("DRBD outdated this node's disk: {why}");
            self.alerts.raise(
                AlertKey::DrbdOutdated,
                AlertSeverity::Critical,
                message,
                stamp,
            );
        } else if observed.up_to_date {
            self.alerts.clear(AlertKey::DrbdOutdated, stamp);
        }
    }

    /// The core's periodic evaluation.
    async fn tick(&mut self) {
        let commands = self.core.tick(self.clock.now());
        self.execute(commands).await;
    }
}
