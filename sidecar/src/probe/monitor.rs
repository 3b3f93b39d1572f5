//! Sans-IO monitor of one target: the scheduler plus the health core. Time and answers in; runs to start, outcomes and verdict changes out.

use std::collections::VecDeque;
use std::time::Instant;

use crate::config::ProbesConfig;
use crate::health::{ProbeState, TargetHealth, TargetObservation, VerdictChange};
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
    /// Starvation given back since the target last answered (bounded by [`MAX_STARVED_CREDIT`]).
    starved_credit: std::time::Duration,
}

/// The most time the target's own starvation ([`Monitor::starved`]) may add to the deadlines of
/// one silence. A deadlock whose other threads still wait for a CPU on a saturated host is
/// judged at most this much later; a stopped or wholly deadlocked Asterisk earns nothing. 5 s:
/// on a busy test machine the kernel kept healthy Asterisks wholly off the CPU for 4-6 s at a
/// time (their cgroups' `full` pressure), and with 1 s the active handed its calls over twice
/// in one run for it.
pub const MAX_STARVED_CREDIT: std::time::Duration = std::time::Duration::from_secs(5);

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
            starved_credit: std::time::Duration::ZERO,
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

    /// The target answered at `at` an action sent at `sent` (on the AMI connection, before the
    /// probe that sent it has an outcome): see [`ProbeSchedule::answered`].
    pub fn answered(&mut self, sent: Instant, at: Instant) {
        self.schedule.answered(sent, at);
        self.starved_credit = std::time::Duration::ZERO;
    }

    /// astha was not running for `lag` (see [`ProbeSchedule::postpone_deadlines`]): runs in
    /// flight get that time back before anything is judged. Call before [`Monitor::poll`].
    pub fn stalled(&mut self, lag: std::time::Duration) {
        self.schedule.postpone_deadlines(lag);
    }

    /// The target itself could not run for `starved` (its host gave none of its tasks a CPU,
    /// see [`super::starvation`]): runs in flight get that time back, up to
    /// [`MAX_STARVED_CREDIT`] per silence. Returns the time given back.
    pub fn starved(&mut self, starved: std::time::Duration) -> std::time::Duration {
        let credit = starved.min(MAX_STARVED_CREDIT.saturating_sub(self.starved_credit));
        if !credit.is_zero() {
            self.schedule.postpone_deadlines(credit);
            self.starved_credit += credit;
        }
        credit
    }

    /// The starvation given back to the deadlines since the target last answered: how much of
    /// a silence's wait was the host's doing, not Asterisk's.
    pub fn starved_credit(&self) -> std::time::Duration {
        self.starved_credit
    }

    /// When to call `poll` next.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.schedule.next_wakeup()
    }

    pub fn pop_output(&mut self) -> Option<MonitorOutput> {
        self.outputs.pop_front()
    }

    fn record(&mut self, outcome: ProbeOutcome) {
        if outcome.kind.uses_ami() && outcome.error().is_none_or(ProbeError::is_answer) {
            // Any answer on the AMI connection, even a refusal, shows the target alive: the
            // liveness ping is judged on the silence since then, not on its own deadline alone.
            let sent = outcome
                .at
                .checked_sub(outcome.latency)
                .unwrap_or(outcome.at);
            self.answered(sent, outcome.at);
        }
        let kind = outcome.kind;
        let at = outcome.at;
        // A run that failed because the connection is gone is not re-run: the connection's
        // drop fails the liveness probe at once (see `ami_disconnected`).
        let failed = outcome
            .error()
            .is_some_and(|e| !matches!(e, ProbeError::NotConnected(_)));
        let liveness_was_up = self.liveness_up();
        self.outputs
            .push_back(MonitorOutput::Outcome(outcome.clone()));
        self.observe(TargetObservation::Probe(outcome));
        if kind == ProbeKind::Ping && !liveness_was_up && self.liveness_up() {
            self.rerun_down_probes(at);
        }
        if failed && self.health.needs_confirmation(kind) {
            // A first miss of a probe that needs several is confirmed at once instead of at the
            // next cadence: one late answer never decides, and a real fault is not kept waiting.
            self.schedule.kick(kind, at);
        }
    }

    fn liveness_up(&self) -> bool {
        self.health
            .track(ProbeKind::Ping)
            .is_some_and(|t| t.state == ProbeState::Up)
    }

    /// The target answers again after a silence (its boot, a stall, a healed hang): every probe
    /// that went down meanwhile runs now instead of at its cadence. Otherwise a test call that
    /// failed during the boot keeps the verdict failed for up to its interval (10 s) while the
    /// Asterisk already carries calls, and the peer reports it unprobeable meanwhile.
    fn rerun_down_probes(&mut self, now: Instant) {
        for (kind, track) in self.health.tracks() {
            if kind != ProbeKind::Ping && track.state == ProbeState::Down {
                self.schedule.kick(kind, now);
            }
        }
    }

    fn observe(&mut self, observation: TargetObservation) {
        if let Some(change) = self.health.observe(observation) {
            self.outputs.push_back(MonitorOutput::Verdict(change));
        }
    }
}

#[cfg(test)]
mod tests {
    //! The liveness rules on explicit times: silence, not one deadline, fails a target.

    use std::time::Duration;

    use super::*;

    const KINDS: [ProbeKind; 2] = [ProbeKind::Ping, ProbeKind::Core];

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Drains the outputs: the runs started (kind, id) and the verdict changes.
    fn drain(m: &mut Monitor) -> (Vec<(ProbeKind, RunId)>, Vec<Verdict>) {
        let mut started = Vec::new();
        let mut verdicts = Vec::new();
        while let Some(o) = m.pop_output() {
            match o {
                MonitorOutput::Start(s) => started.push((s.kind, s.id)),
                MonitorOutput::Verdict(c) => verdicts.push(c.to),
                MonitorOutput::Outcome(_) => {}
            }
        }
        (started, verdicts)
    }

    fn run_of(started: &[(ProbeKind, RunId)], kind: ProbeKind) -> RunId {
        started
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, id)| *id)
            .unwrap_or_else(|| panic!("no {kind} run started in {started:?}"))
    }

    /// A monitor with the default settings whose first runs were answered at once (healthy at
    /// t0); returns it and t0.
    fn healthy() -> (Monitor, Instant) {
        let t0 = Instant::now();
        let mut m = Monitor::new(&ProbesConfig::default(), &KINDS, t0);
        m.poll(t0);
        let (started, _) = drain(&mut m);
        for (_, id) in started {
            m.complete(id, Ok(()), t0);
        }
        assert_eq!(m.verdict(), Verdict::Healthy);
        (m, t0)
    }

    /// The next ping run, started at `at`.
    fn next_ping(m: &mut Monitor, at: Instant) -> RunId {
        m.poll(at);
        run_of(&drain(m).0, ProbeKind::Ping)
    }

    #[test]
    fn an_answer_late_by_the_old_deadline_is_an_answer() {
        let (mut m, t0) = healthy();
        let start = t0 + ms(250);
        let ping = next_ping(&mut m, start);
        // 500 ms was the old deadline: on a loaded host Asterisk took 625 ms.
        m.poll(start + ms(600));
        m.complete(ping, Ok(()), start + ms(625));
        m.poll(start + ms(700));
        assert_eq!(m.verdict(), Verdict::Healthy);
        assert!(drain(&mut m).1.is_empty());
    }

    #[test]
    fn probes_that_went_down_in_a_silence_rerun_once_the_target_answers_again() {
        let (mut m, t0) = healthy();
        let slow = |after| Err(ProbeError::Timeout(ms(after)));
        // A freshly booted (or stalled) Asterisk leaves everything unanswered for a while: the
        // runs give up at their deadlines (1 s).
        let start = t0 + ms(2000);
        m.poll(start);
        let (started, _) = drain(&mut m);
        let gave_up = start + ms(1000);
        m.complete(run_of(&started, ProbeKind::Core), slow(1000), gave_up);
        m.complete(run_of(&started, ProbeKind::Ping), slow(1000), gave_up);
        // The core's first miss is confirmed at once, and fails too: the core is down.
        m.poll(gave_up);
        let core = run_of(&drain(&mut m).0, ProbeKind::Core);
        m.complete(core, slow(1000), gave_up + ms(1000));
        assert_eq!(m.verdict(), Verdict::Failed);
        // The pings are answered again; liveness is back after `recover_after` (3) of them.
        let mut at = gave_up + ms(1000);
        for _ in 0..3 {
            at += ms(250);
            let ping = next_ping(&mut m, at);
            m.complete(ping, Ok(()), at);
        }
        // The core runs now, not a cadence (2 s) after its last failure.
        m.poll(at);
        let (started, _) = drain(&mut m);
        let core = run_of(&started, ProbeKind::Core);
        m.complete(core, Ok(()), at);
        // Its second success (`recover_after` 2) comes at its cadence.
        let next = at + ms(2000);
        m.poll(next);
        let core = run_of(&drain(&mut m).0, ProbeKind::Core);
        m.complete(core, Ok(()), next);
        assert_eq!(m.verdict(), Verdict::Healthy);
    }

    #[test]
    fn one_second_of_silence_is_a_failure() {
        let (mut m, t0) = healthy();
        let start = t0 + ms(250);
        next_ping(&mut m, start);
        m.poll(start + ms(999));
        assert_eq!(m.verdict(), Verdict::Healthy);
        m.poll(start + ms(1000));
        assert_eq!(m.verdict(), Verdict::Failed);
    }

    #[test]
    fn any_answer_on_the_connection_restarts_the_silence_window() {
        let (mut m, t0) = healthy();
        // A core action is in flight, then a ping queued behind it.
        let core_start = t0 + ms(2000);
        m.poll(core_start);
        let (started, _) = drain(&mut m);
        let core = run_of(&started, ProbeKind::Core);
        let ping = run_of(&started, ProbeKind::Ping);
        // The slow core action answers at 800 ms: Asterisk is alive, the ping waits behind it.
        m.complete(core, Ok(()), core_start + ms(800));
        m.poll(core_start + ms(1000));
        assert_eq!(m.verdict(), Verdict::Healthy, "heard from it 200 ms ago");
        m.complete(ping, Ok(()), core_start + ms(1300));
        assert_eq!(m.verdict(), Verdict::Healthy);
        // Silence after the last answer still fails it one window later.
        let next = core_start + ms(1400);
        next_ping(&mut m, next);
        m.poll(next + ms(999));
        assert_eq!(m.verdict(), Verdict::Healthy);
        m.poll(next + ms(1000));
        assert_eq!(m.verdict(), Verdict::Failed);
    }

    #[test]
    fn time_astha_was_not_running_is_not_charged_to_asterisk() {
        let (mut m, t0) = healthy();
        let start = t0 + ms(250);
        let ping = next_ping(&mut m, start);
        // astha starved: it wakes at 1.3 s for a deadline of 1.0 s, and the answer that
        // waited in the socket meanwhile is read before anything is judged (the runner drains).
        m.stalled(ms(300));
        m.complete(ping, Ok(()), start + ms(1300));
        let next = start + ms(1300);
        next_ping(&mut m, next);
        assert_eq!(m.verdict(), Verdict::Healthy);
        // Without an answer, the deadline passes once the lost time is made up.
        m.stalled(ms(300));
        m.poll(next + ms(1299));
        assert_eq!(m.verdict(), Verdict::Healthy);
        m.poll(next + ms(1300));
        assert_eq!(m.verdict(), Verdict::Failed);
    }

    #[test]
    fn a_starved_asterisk_gets_its_lost_time_back_up_to_the_most_per_silence() {
        let (mut m, t0) = healthy();
        let start = t0 + ms(250);
        next_ping(&mut m, start);
        // Its host gave it no CPU for 3 s, then for 2.9 s more: only 5 s in all is given back,
        // so a silent target is failed at 1 s + 5 s at the latest.
        assert_eq!(MAX_STARVED_CREDIT, ms(5000));
        assert_eq!(m.starved(ms(3000)), ms(3000));
        assert_eq!(m.starved(ms(2900)), ms(2000));
        assert_eq!(m.starved(ms(100)), ms(0));
        m.poll(start + ms(5999));
        assert_eq!(m.verdict(), Verdict::Healthy);
        m.poll(start + ms(6000));
        assert_eq!(m.verdict(), Verdict::Failed);
    }

    #[test]
    fn a_run_that_gives_up_before_the_starvation_deadline_is_not_a_failure() {
        // Seen on the saturated test bed: the local Asterisk starved for 3 s and given that
        // time back, the ping's own timeout (then 3 s) failed it 0.5 s before it answered.
        let (mut m, t0) = healthy();
        let start = t0 + ms(250);
        let ping = next_ping(&mut m, start);
        assert_eq!(m.starved(ms(2989)), ms(2989));
        m.complete(ping, Err(ProbeError::Timeout(ms(3000))), start + ms(3000));
        m.poll(start + ms(3000));
        assert_eq!(m.verdict(), Verdict::Healthy, "the deadline is 3989 ms");
        // Asterisk answers another action, sent before the silence, at 3.5 s: heard from.
        m.answered(start, start + ms(3500));
        m.poll(start + ms(4400));
        assert_eq!(m.verdict(), Verdict::Healthy, "1 s of silence from 3.5 s");
        // Without another answer the run times out at the deadline, not at the give-up.
        m.poll(start + ms(4500));
        assert_eq!(m.verdict(), Verdict::Failed);
        // And the driver's bound comes after the latest deadline the monitor may set.
        let ping_timeout = ProbesConfig::default().timing(ProbeKind::Ping).timeout;
        assert!(
            super::super::runner::run_backstop(ping_timeout) > ping_timeout + MAX_STARVED_CREDIT
        );
    }

    #[test]
    fn an_answer_renews_the_starvation_allowance() {
        let (mut m, t0) = healthy();
        let start = t0 + ms(250);
        let ping = next_ping(&mut m, start);
        assert_eq!(m.starved(ms(1000)), ms(1000));
        m.complete(ping, Ok(()), start + ms(1500));
        let next = start + ms(1500);
        next_ping(&mut m, next);
        assert_eq!(
            m.starved(ms(700)),
            ms(700),
            "a new silence, a new allowance"
        );
        m.poll(next + ms(1699));
        assert_eq!(m.verdict(), Verdict::Healthy);
        m.poll(next + ms(1700));
        assert_eq!(m.verdict(), Verdict::Failed);
    }

    #[test]
    fn a_first_miss_of_a_probe_that_needs_two_is_confirmed_at_once() {
        let t0 = Instant::now();
        let mut probes = ProbesConfig::default();
        probes.timing_mut(ProbeKind::Core).fail_after = 2;
        let mut m = Monitor::new(&probes, &KINDS, t0);
        m.poll(t0);
        for (_, id) in drain(&mut m).0 {
            m.complete(id, Ok(()), t0);
        }
        let core_start = t0 + ms(2000);
        m.poll(core_start);
        let (started, _) = drain(&mut m);
        let ping = run_of(&started, ProbeKind::Ping);
        m.complete(ping, Ok(()), core_start + ms(1));
        // The core action times out at 1 s: degraded, and the confirming run starts right
        // away instead of at the next cadence (4 s).
        let miss = core_start + ms(1000);
        m.poll(miss);
        let (_, verdicts) = drain(&mut m);
        assert_eq!(verdicts, vec![Verdict::Degraded]);
        m.poll(miss);
        let (started, _) = drain(&mut m);
        assert!(
            started.iter().any(|(k, _)| *k == ProbeKind::Core),
            "{started:?}"
        );
    }
}
