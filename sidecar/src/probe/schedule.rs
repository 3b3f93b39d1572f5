//! Sans-IO probe scheduler: given the time, which probes are due, which are overdue; matches completions to runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{ProbeError, ProbeKind, ProbeOutcome};

/// Identifies one probe run, so that a late answer to an abandoned run is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub u64);

/// A probe run the driver must start now and answer (via `complete`) before `deadline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartProbe {
    pub kind: ProbeKind,
    pub id: RunId,
    pub started: Instant,
    pub deadline: Instant,
}

/// A run in flight: its id, when it started and when it is judged unanswered. The deadline
/// starts at `started + timeout` and only ever moves later: by the time astha itself was not
/// running ([`ProbeSchedule::postpone_deadlines`]) and, for liveness, by every answer heard
/// from the target ([`ProbeSchedule::answered`]).
#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: RunId,
    started: Instant,
    deadline: Instant,
}

#[derive(Debug, Clone)]
struct Slot {
    interval: Duration,
    timeout: Duration,
    next_due: Instant,
    in_flight: Option<InFlight>,
}

/// The cadence of every enabled probe of one target.
#[derive(Debug, Clone)]
pub struct ProbeSchedule {
    slots: BTreeMap<ProbeKind, Slot>,
    next_id: u64,
}

impl ProbeSchedule {
    /// Every probe is due at `now` (a fresh monitor wants a verdict quickly).
    pub fn new(
        probes: impl IntoIterator<Item = (ProbeKind, Duration, Duration)>,
        now: Instant,
    ) -> Self {
        let slots = probes
            .into_iter()
            .map(|(kind, interval, timeout)| {
                (
                    kind,
                    Slot {
                        interval,
                        timeout,
                        next_due: now,
                        in_flight: None,
                    },
                )
            })
            .collect();
        ProbeSchedule { slots, next_id: 0 }
    }

    pub fn kinds(&self) -> impl Iterator<Item = ProbeKind> + '_ {
        self.slots.keys().copied()
    }

    /// Runs that passed their deadline become timed-out outcomes; due probes are started.
    pub fn poll(
        &mut self,
        now: Instant,
        timed_out: &mut Vec<ProbeOutcome>,
        start: &mut Vec<StartProbe>,
    ) {
        for (kind, slot) in &mut self.slots {
            if let Some(run) = slot.in_flight {
                if now >= run.deadline {
                    slot.in_flight = None;
                    let waited = now.saturating_duration_since(run.started);
                    timed_out.push(ProbeOutcome {
                        kind: *kind,
                        at: now,
                        latency: waited,
                        result: Err(ProbeError::Timeout(waited)),
                    });
                }
            }
            if slot.in_flight.is_none() && now >= slot.next_due {
                let id = RunId(self.next_id);
                self.next_id += 1;
                slot.in_flight = Some(InFlight {
                    id,
                    started: now,
                    deadline: now + slot.timeout,
                });
                // Fixed rate from the due time, so the cadence does not drift with poll jitter;
                // after a stall, resume one interval from now instead of bursting to catch up.
                slot.next_due += slot.interval;
                if slot.next_due <= now {
                    slot.next_due = now + slot.interval;
                }
                start.push(StartProbe {
                    kind: *kind,
                    id,
                    started: now,
                    deadline: now + slot.timeout,
                });
            }
        }
    }

    /// Matches an answer to its run. `None` for unknown or abandoned (timed-out) runs, and for
    /// a run that gave up waiting (its driver's or its client's own timeout) before the deadline
    /// this schedule holds for it: silence is judged here, at the deadline as moved for astha's
    /// lag, the target's starvation and the answers heard, so such a run stays in flight and
    /// times out at that deadline unless it moves again.
    pub fn complete(
        &mut self,
        id: RunId,
        result: Result<(), ProbeError>,
        now: Instant,
    ) -> Option<ProbeOutcome> {
        let (kind, slot) = self
            .slots
            .iter_mut()
            .find(|(_, s)| s.in_flight.map(|r| r.id) == Some(id))?;
        if matches!(result, Err(ProbeError::Timeout(_)))
            && slot.in_flight.is_some_and(|run| now < run.deadline)
        {
            return None;
        }
        let run = slot.in_flight.take()?;
        Some(ProbeOutcome {
            kind: *kind,
            at: now,
            latency: now.saturating_duration_since(run.started),
            result,
        })
    }

    /// Fails every in-flight run of the given kinds now (e.g. the AMI connection just dropped).
    pub fn abort_where(
        &mut self,
        matches: impl Fn(ProbeKind) -> bool,
        error: &ProbeError,
        now: Instant,
    ) -> Vec<ProbeOutcome> {
        let mut out = Vec::new();
        for (kind, slot) in self.slots.iter_mut().filter(|(k, _)| matches(**k)) {
            if let Some(run) = slot.in_flight.take() {
                out.push(ProbeOutcome {
                    kind: *kind,
                    at: now,
                    latency: now.saturating_duration_since(run.started),
                    result: Err(error.clone()),
                });
            }
        }
        out
    }

    /// astha itself was not running for `stalled` (its process starved of CPU, or its event
    /// loop blocked): every run in flight gets that time back. An answer may have been waiting
    /// in a socket all along; Asterisk is never blamed for time astha did not look.
    pub fn postpone_deadlines(&mut self, stalled: Duration) {
        for run in self.slots.values_mut().filter_map(|s| s.in_flight.as_mut()) {
            run.deadline += stalled;
        }
    }

    /// The target answered, at `at`, an action sent at `sent`. The liveness ping in flight is
    /// judged on a full timeout of silence from then: any answer shows the target alive, so the
    /// verdict becomes a matter of how long it has been silent, not of whether one answer was
    /// late. Another AMI run in flight gets the same only if the answered action was sent before
    /// it: Asterisk works through one connection's actions in order, so its clock starts when
    /// the action ahead of it is done (and an answer to an action sent after it, say a ping
    /// answered past a deadlocked core action, says nothing about it).
    pub fn answered(&mut self, sent: Instant, at: Instant) {
        for (kind, slot) in self.slots.iter_mut().filter(|(k, _)| k.uses_ami()) {
            let timeout = slot.timeout;
            if let Some(run) = slot.in_flight.as_mut() {
                if *kind == ProbeKind::Ping || sent < run.started {
                    run.deadline = run.deadline.max(at + timeout);
                }
            }
        }
    }

    /// Makes a probe due now (unless one run is already in flight).
    pub fn kick(&mut self, kind: ProbeKind, now: Instant) {
        if let Some(slot) = self.slots.get_mut(&kind) {
            slot.next_due = slot.next_due.min(now);
        }
    }

    /// When `poll` next has something to do.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.slots
            .values()
            .map(|s| match s.in_flight {
                // A run in flight blocks the next one, so only its deadline matters.
                Some(run) => run.deadline,
                None => s.next_due,
            })
            .min()
    }

    pub fn in_flight(&self, kind: ProbeKind) -> bool {
        self.slots.get(&kind).is_some_and(|s| s.in_flight.is_some())
    }
}
