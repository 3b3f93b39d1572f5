//! Checks the witness (`[decide] witness`) and feeds the answers to the core: every `witness_interval_ms`, every peer interval while the peer is silent, and at once when the core asks for an urgent probe of the silent peer.
//!
//! The core trusts only an answer that arrived after the peer fell silent (see
//! [`crate::witness`]); the checks during a silence make sure one does, well before the peer
//! counts as dead. Each check runs off the loop with its own deadline.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::config::daemon::DecideSection;
use crate::decide::CoreStatus;
use crate::status::WitnessStatus;
use crate::witness::WitnessTarget;

/// At most this many checks in flight (a periodic one and an urgent one).
const MAX_IN_FLIGHT: u8 = 2;

/// One finished check.
#[derive(Debug)]
pub(super) struct WitnessAnswer {
    pub result: Result<Duration, String>,
}

/// The witness, its schedule and what it last answered.
#[derive(Debug)]
pub(super) struct WitnessWatch {
    target: WitnessTarget,
    timeout: Duration,
    interval: Duration,
    /// How often to check while the peer is silent.
    silent_interval: Duration,
    last_started: Option<Instant>,
    in_flight: u8,
    answers: mpsc::Sender<WitnessAnswer>,
    history: CheckHistory,
}

/// What the checks of one address answered: the last answer, the counts, and how many in a row
/// went unanswered (shared by the witness and the reachability targets).
#[derive(Debug, Default)]
pub(super) struct CheckHistory {
    last: Option<(Instant, Result<Duration, String>)>,
    checks: u64,
    failures: u64,
    unanswered_in_a_row: u32,
}

impl CheckHistory {
    /// Records one answer; returns whether the one before was answered (`None`: the first).
    pub(super) fn record(&mut self, result: Result<Duration, String>) -> Option<bool> {
        self.checks += 1;
        if result.is_ok() {
            self.unanswered_in_a_row = 0;
        } else {
            self.failures += 1;
            self.unanswered_in_a_row = self.unanswered_in_a_row.saturating_add(1);
        }
        let was_ok = self.last.as_ref().map(|(_, r)| r.is_ok());
        self.last = Some((Instant::now(), result));
        was_ok
    }

    /// The last answer, when there was one.
    pub(super) fn last(&self) -> Option<&Result<Duration, String>> {
        self.last.as_ref().map(|(_, r)| r)
    }

    /// Checks in a row that went unanswered, up to now.
    pub(super) fn unanswered_in_a_row(&self) -> u32 {
        self.unanswered_in_a_row
    }

    /// What `astha status` shows of the checks of `target`.
    pub(super) fn status(&self, target: WitnessTarget) -> WitnessStatus {
        let (age_ms, reachable, rtt_ms, error) = match &self.last {
            None => (None, None, None, None),
            Some((at, result)) => (
                Some(at.elapsed().as_millis() as u64),
                Some(result.is_ok()),
                result.as_ref().ok().map(|d| d.as_secs_f64() * 1000.0),
                result.as_ref().err().cloned(),
            ),
        };
        WitnessStatus {
            target: target.to_string(),
            reachable,
            rtt_ms,
            error,
            age_ms,
            checks: self.checks,
            failures: self.failures,
        }
    }
}

impl WitnessWatch {
    /// The watch when a witness is configured; answers come back on the returned receiver.
    pub(super) fn new(
        section: &DecideSection,
        peer_interval: Duration,
    ) -> Option<(WitnessWatch, mpsc::Receiver<WitnessAnswer>)> {
        let target = section.witness?;
        let (answers, rx) = mpsc::channel(4);
        let watch = WitnessWatch {
            target,
            timeout: Duration::from_millis(section.witness_timeout_ms),
            interval: Duration::from_millis(section.witness_interval_ms),
            silent_interval: peer_interval,
            last_started: None,
            in_flight: 0,
            answers,
            history: CheckHistory::default(),
        };
        tracing::info!(witness = %target, "witness configured: a takeover from a silent peer needs its answer");
        Some((watch, rx))
    }

    /// How often the loop should look at the schedule.
    pub(super) fn tick_every(&self) -> Duration {
        self.silent_interval.min(self.interval)
    }

    /// Starts a check when one is due: every interval, or every peer interval while the peer
    /// is not heard.
    pub(super) fn on_tick(&mut self, core: &CoreStatus) {
        let every = if core.peer.alive {
            self.interval
        } else {
            self.silent_interval
        };
        let due = self.last_started.is_none_or(|t| t.elapsed() >= every);
        if due {
            self.start();
        }
    }

    /// Starts a check now (the core asked about the silent peer).
    pub(super) fn start(&mut self) {
        if self.in_flight >= MAX_IN_FLIGHT {
            return;
        }
        self.in_flight += 1;
        self.last_started = Some(Instant::now());
        let (target, timeout, answers) = (self.target, self.timeout, self.answers.clone());
        tokio::spawn(async move {
            let result = target.check(timeout).await;
            let _ = answers.send(WitnessAnswer { result }).await;
        });
    }

    /// Records an answer; returns whether the witness answered.
    pub(super) fn record(&mut self, answer: WitnessAnswer) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        let ok = answer.result.is_ok();
        if let Err(e) = &answer.result {
            if self.history.last().is_none_or(Result::is_ok) {
                tracing::warn!(witness = %self.target, error = %e, "witness does not answer");
            }
        }
        if self.history.record(answer.result) == Some(false) && ok {
            tracing::info!(witness = %self.target, "witness answers again");
        }
        ok
    }

    /// What `astha status` and the metrics show.
    pub(super) fn status(&self) -> WitnessStatus {
        self.history.status(self.target)
    }
}
