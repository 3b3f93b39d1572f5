//! Sans-IO monitor of one target: the scheduler plus the health core. Time and answers in; runs to start, outcomes and verdict changes out.

use std::collections::VecDeque;
use std::time::Instant;

use crate::config::ProbesConfig;
use crate::health::{TargetHealth, TargetObservation, VerdictChange};
use crate::verdict::Verdict;

use super::schedule::{ProbeSchedule, RunId, StartProbe};
use super::{ProbeError, ProbeKind, ProbeOutcome};

/// What the monitor asks of its driver, or tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorOutput {
    /// Start this probe run now; report its result with [`Monitor::complete`].
    Start(StartProbe),
    /// A probe run finished (or timed out, or was aborted).
    Outcome(ProbeOutcome),
    /// The verdict changed; log it once with its evidence.
    Verdict(VerdictChange),
}

/// One target's probes and verdict, without I/O.
#[derive(Debug, Clone)]
pub struct Monitor {
    schedule: ProbeSchedule,
    health: TargetHealth,
    outputs: VecDeque<MonitorOutput>,
    ami_connected: bool,
}

impl Monitor {
    /// Monitors the `enabled` probe kinds with the timings and hysteresis of `probes`.
    pub fn new(probes: &ProbesConfig, enabled: &[ProbeKind], now: Instant) -> Self {
        let schedule = ProbeSchedule::new(
            enabled.iter().map(|k| {
                let t = probes.timing(*k);
                (*k, t.interval, t.timeout)
            }),
            now,
        );
        Monitor {
            schedule,
            health: TargetHealth::new(probes, enabled),
            outputs: VecDeque::new(),
            ami_connected: true,
        }
    }

    pub fn verdict(&self) -> Verdict {
        self.health.verdict()
    }

    pub fn health(&self) -> &TargetHealth {
        &self.health
    }

    /// Advances time: times out overdue runs, starts due ones.
    pub fn poll(&mut self, now: Instant) {
        let mut timed_out = Vec::new();
        let mut start = Vec::new();
        self.schedule.poll(now, &mut timed_out, &mut start);
        for outcome in timed_out {
            self.record(outcome);
        }
        self.outputs
            .extend(start.into_iter().map(MonitorOutput::Start));
    }

    /// The answer to a run started earlier. Late answers to timed-out runs are dropped.
    pub fn complete(&mut self, id: RunId, result: Result<(), ProbeError>, now: Instant) {
        if let Some(outcome) = self.schedule.complete(id, result, now) {
            self.record(outcome);
        }
    }

    /// The AMI connection dropped: in-flight AMI probes fail now, and so does liveness (a
    /// crashed Asterisk is judged at once instead of at the next ping).
    pub fn ami_disconnected(&mut self, reason: &str, now: Instant) {
        if !self.ami_connected {
            return;
        }
        self.ami_connected = false;
        let error = ProbeError::NotConnected(reason.to_string());
        let aborted = self.schedule.abort_where(ProbeKind::uses_ami, &error, now);
        let ping_aborted = aborted.iter().any(|o| o.kind == ProbeKind::Ping);
        for outcome in aborted {
            self.record(outcome);
        }
        if !ping_aborted {
            self.record(ProbeOutcome {
                kind: ProbeKind::Ping,
                at: now,
                latency: std::time::Duration::ZERO,
                result: Err(error),
            });
        }
    }

    /// The AMI connection is back (logged in): probe it right away.
    pub fn ami_connected(&mut self, now: Instant) {
        self.ami_connected = true;
        self.schedule.kick(ProbeKind::Ping, now);
    }

    /// AMI `Shutdown`: failed at once.
    pub fn shutdown(&mut self, restart: bool, now: Instant) {
        let aborted =
            self.schedule
                .abort_where(ProbeKind::uses_ami, &ProbeError::ShutDown { restart }, now);
        for outcome in aborted {
            self.outputs.push_back(MonitorOutput::Outcome(outcome));
        }
        self.observe(TargetObservation::Shutdown { restart, at: now });
    }

    /// AMI `FullyBooted`: run every probe now so recovery is not held back by cadences.
    pub fn fully_booted(&mut self, now: Instant) {
        self.observe(TargetObservation::FullyBooted { at: now });
        let kinds: Vec<ProbeKind> = self.schedule.kinds().collect();
        for kind in kinds {
            self.schedule.kick(kind, now);
        }
    }

    /// Runs `kind` as soon as possible (unless a run is in flight), e.g. an urgent check of the
    /// peer's Asterisk when its datagrams stop. The cadence then continues from that run.
    pub fn probe_now(&mut self, kind: ProbeKind, now: Instant) {
        self.schedule.kick(kind, now);
    }

    /// A finding from outside the schedule (e.g. a span alarm event) counts as an outcome.
    pub fn external_outcome(&mut self, outcome: ProbeOutcome) {
        self.record(outcome);
    }

    /// When to call `poll` next.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.schedule.next_wakeup()
    }

    pub fn pop_output(&mut self) -> Option<MonitorOutput> {
        self.outputs.pop_front()
    }

    fn record(&mut self, outcome: ProbeOutcome) {
        self.outputs
            .push_back(MonitorOutput::Outcome(outcome.clone()));
        self.observe(TargetObservation::Probe(outcome));
    }

    fn observe(&mut self, observation: TargetObservation) {
        if let Some(change) = self.health.observe(observation) {
            self.outputs.push_back(MonitorOutput::Verdict(change));
        }
    }
}
