//! Executes the decision core's commands, in order: persist the term, start a sequence, send
//! the state to the peer, probe the peer's Asterisk now, alert, log a decision, answer an
//! operator.

use std::collections::VecDeque;
use std::time::Duration;

use crate::actuate::fence::FenceEvidence;
use crate::control::ControlReply;
use crate::decide::{Command, DecisionRecord, Input, Reason};
use crate::probe::shared_silence::fell_silent_together;

use super::actuator_task::ActuatorJob;
use super::alerts::Stamp;
use super::Daemon;

/// How long an urgent probe that found both Asterisks silent waits for the own one to answer
/// again: longer than the multi-second host stalls seen under load.
const SHARED_SILENCE_WAIT: Duration = Duration::from_secs(10);

/// A term write at least this slow is logged: the decision after it waited as long.
const SLOW_TERM_WRITE: std::time::Duration = std::time::Duration::from_millis(50);

impl Daemon {
    /// Executes a batch of commands in order; a term that cannot be persisted stops the batch.
    pub(super) async fn execute(&mut self, commands: Vec<Command>) {
        let mut queue = VecDeque::from(commands);
        while let Some(command) = queue.pop_front() {
            match command {
                Command::PersistTerm { term, active_in } => {
                    // The batch waits for the term to be durable; the probes, AMI readers and
                    // the log writer do not. On the daemon's own thread the two fsyncs stopped
                    // them all for 726 ms on a saturated host (logged as a stall of astha).
                    let started = std::time::Instant::now();
                    let stored = self.terms.store_off_thread(term, active_in).await;
                    let took = started.elapsed();
                    if took >= SLOW_TERM_WRITE {
                        // Time a decision waited for the disk, not for Asterisk or the network.
                        tracing::info!(
                            term,
                            ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                            "the term write waited for the disk; the decision after it did too"
                        );
                    }
                    if let Err(e) = stored {
                        tracing::error!(term, error = %e, "cannot persist the term: refusing to act on it");
                        let error = format!("term not persisted: {e}");
                        let more = self
                            .core
                            .handle(self.clock.now(), Input::TakeoverFailed { error });
                        queue = more.into();
                    }
                }
                Command::StartTakeover { term, reason } => {
                    // An operator's --force vouches for the peer: DRBD may promote past it.
                    if let Reason::Operator {
                        reason,
                        forced: true,
                    } = &reason
                    {
                        let evidence = FenceEvidence::OperatorForce {
                            reason: reason.clone(),
                        };
                        self.devices.fence.record(term, evidence);
                    }
                    let reason = reason.to_string();
                    self.report.takeover_started(term, &reason);
                    let _ = self.jobs.send(ActuatorJob::Takeover { term, reason }).await;
                }
                Command::CancelTakeover { term } => self.takeover_canceller.cancel(term),
                Command::StartRelease { reason } => {
                    let term = self.core.status().term;
                    let reason = reason.to_string();
                    let _ = self.jobs.send(ActuatorJob::Release { term, reason }).await;
                }
                Command::SendPeer(state) => {
                    let link = &mut self.peer_link;
                    let results = link
                        .links
                        .send_all(&mut link.codec, &state, crate::wall_clock::now_unix_ms())
                        .await;
                    for (i, result) in results.into_iter().enumerate() {
                        if let Err(e) = result {
                            tracing::debug!(link = i, error = %e, "peer datagram not sent");
                        }
                    }
                }
                Command::ProbePeerNow { deadline_ms } => {
                    self.probe_peer_now(deadline_ms);
                    // The core trusts a witness answer only from after the silence began.
                    if let Some(w) = self.witness.as_mut() {
                        w.start();
                    }
                }
                Command::Alert {
                    key,
                    severity,
                    message,
                } => {
                    let stamp = self.stamp();
                    self.alerts.raise(key, severity, message, stamp);
                }
                Command::AlertCleared { key } => {
                    let stamp = self.stamp();
                    self.alerts.clear(key, stamp);
                }
                Command::Decision(record) => self.log_decision(&record),
                Command::OperatorReply(result) => {
                    let reply = match result {
                        Ok(message) => ControlReply::ok(message),
                        Err(reason) => ControlReply::error(reason),
                    };
                    self.answer_operator(reply);
                }
            }
        }
    }

    /// The urgent check of the peer's Asterisk with the core's deadline, off the loop; the
    /// answer comes back as an `UrgentProbeResult`. The deadline is counted on the silence of
    /// the AMI connection since its last answer (see `AmiProbes::urgent_ping`): a dead node is
    /// then known about `deadline_ms` after it died rather than after the urgent ping was sent,
    /// which comes only once its datagrams are missed. At least half the deadline is given to
    /// the ping itself.
    ///
    /// Common-mode rejection: when this node's own Asterisk fell silent together with the
    /// peer's (`probe::shared_silence`), this host or its network stalled and the peer's silence
    /// says nothing; the answer waits until the own Asterisk answers again and then gives the
    /// peer's a full window from there (no answer from the own one within
    /// [`SHARED_SILENCE_WAIT`]: failed, and the core's readiness rule keeps this node from
    /// taking over anyway).
    fn probe_peer_now(&self, deadline_ms: u64) {
        let peer = self.peer.probes_arc();
        let local = self.local.probes_arc();
        let urgent = self.urgent.clone();
        tokio::spawn(async move {
            let window = Duration::from_millis(deadline_ms);
            let mut ok = peer.ami().urgent_ping(window, window / 2).await;
            if !ok
                && fell_silent_together(
                    local.ami().last_answered(),
                    peer.ami().last_answered(),
                    std::time::Instant::now(),
                    window,
                )
            {
                tracing::warn!(
                    window_ms = deadline_ms,
                    "the peer's Asterisk and this node's own fell silent together: this host or its network stalled, the peer is judged once the own Asterisk answers again"
                );
                ok = local.ami().answers_again(SHARED_SILENCE_WAIT).await
                    && peer.ami().urgent_ping(window, window).await;
            }
            let _ = urgent.send(ok).await;
        });
    }

    /// The term and role alert events are stamped with.
    pub(super) fn stamp(&self) -> Stamp {
        Stamp {
            term: self.core.term(),
            role: self.core.role(),
        }
    }

    fn log_decision(&mut self, record: &DecisionRecord) {
        tracing::warn!(
            kind = ?record.kind,
            term = record.term,
            reason = %record.reason,
            inputs = ?record.inputs,
            "decision"
        );
        self.report.last_decision = Some(format!(
            "{:?} (term {}): {}",
            record.kind, record.term, record.reason
        ));
    }
}
