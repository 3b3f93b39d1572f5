//! The daemon's alerts: the ones active now (for `astha status` and the metrics), their log
//! lines, and the events the sinks get for them and for every finished takeover and release.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::alerts::{AlertEvent, Dispatcher, EventKind, EventSource, SinkCounts};
use crate::decide::{AlertKey, AlertSeverity, Role};
use crate::status::{AlertStatus, TakeoverRecordStatus};
use crate::wall_clock;

/// One active alert.
#[derive(Debug, Clone)]
struct ActiveAlert {
    severity: AlertSeverity,
    message: String,
    raised_unix_ms: u64,
    raised_at: Instant,
}

impl ActiveAlert {
    fn status(&self, key: AlertKey) -> AlertStatus {
        AlertStatus {
            kind: key.as_str().to_string(),
            severity: self.severity.as_str().to_string(),
            message: self.message.clone(),
            raised_unix_ms: self.raised_unix_ms,
            raised: wall_clock::rfc3339(self.raised_unix_ms),
            active_s: self.raised_at.elapsed().as_secs(),
        }
    }
}

/// The node's state an event is stamped with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamp {
    pub term: u64,
    pub role: Role,
}

/// Active alerts, counts, and the way out to the sinks.
#[derive(Debug)]
pub(super) struct Alerting {
    active: BTreeMap<AlertKey, ActiveAlert>,
    raised_total: BTreeMap<AlertKey, u64>,
    source: EventSource,
    dispatcher: Dispatcher,
    /// Events kept back while a finished sequence is fed to the core, so that the sequence's
    /// own event goes out before the alerts it caused (see [`Alerting::hold`]).
    held: Option<Vec<AlertEvent>>,
}

impl Alerting {
    pub fn new(source: EventSource, dispatcher: Dispatcher) -> Alerting {
        Alerting {
            active: BTreeMap::new(),
            raised_total: BTreeMap::new(),
            source,
            dispatcher,
            held: None,
        }
    }

    /// Raises `key` (a second raise of an active alert is ignored: the core raises each once).
    pub fn raise(&mut self, key: AlertKey, severity: AlertSeverity, message: String, at: Stamp) {
        if self.active.contains_key(&key) {
            return;
        }
        match severity {
            AlertSeverity::Critical => {
                tracing::error!(kind = %key, term = at.term, "ALERT critical {key}: {message}")
            }
            AlertSeverity::Warning => {
                tracing::warn!(kind = %key, term = at.term, "ALERT warning {key}: {message}")
            }
        }
        let alert = ActiveAlert {
            severity,
            message,
            raised_unix_ms: wall_clock::now_unix_ms(),
            raised_at: Instant::now(),
        };
        *self.raised_total.entry(key).or_default() += 1;
        let status = alert.status(key);
        self.active.insert(key, alert);
        self.send(
            EventKind::AlertRaised,
            status.message.clone(),
            Some(status),
            at,
        );
    }

    /// Ends `key` if it is active.
    pub fn clear(&mut self, key: AlertKey, at: Stamp) {
        let Some(alert) = self.active.remove(&key) else {
            return;
        };
        let status = alert.status(key);
        tracing::warn!(kind = %key, term = at.term, active_s = status.active_s, "alert cleared: {key} ({})", status.message);
        self.send(
            EventKind::AlertCleared,
            status.message.clone(),
            Some(status),
            at,
        );
    }

    /// The event for a finished takeover or release (its summary line is logged by the report);
    /// it goes out at once, ahead of what is held back.
    pub fn sequence_finished(&mut self, kind: EventKind, record: &TakeoverRecordStatus, at: Stamp) {
        let mut event = AlertEvent::new(
            kind,
            self.source.clone(),
            record.term,
            at.role.as_str(),
            record.reason.clone(),
            wall_clock::now_unix_ms(),
        );
        event.outcome = Some(record.outcome.clone());
        event.total_ms = Some(record.total_ms);
        event.steps = record.steps.clone();
        self.dispatcher.dispatch(&event.with_text());
    }

    fn send(&mut self, kind: EventKind, reason: String, alert: Option<AlertStatus>, at: Stamp) {
        let mut event = AlertEvent::new(
            kind,
            self.source.clone(),
            at.term,
            at.role.as_str(),
            reason,
            wall_clock::now_unix_ms(),
        );
        event.alert = alert;
        self.dispatch(event.with_text());
    }

    fn dispatch(&mut self, event: AlertEvent) {
        match &mut self.held {
            Some(held) => held.push(event),
            None => self.dispatcher.dispatch(&event),
        }
    }

    /// Keeps alert events back until [`Alerting::release`].
    pub fn hold(&mut self) {
        self.held.get_or_insert_with(Vec::new);
    }

    /// Sends what was held back, in order.
    pub fn release(&mut self) {
        for event in self.held.take().unwrap_or_default() {
            self.dispatcher.dispatch(&event);
        }
    }

    /// Every active alert, oldest first.
    pub fn active(&self) -> Vec<AlertStatus> {
        let mut list: Vec<AlertStatus> = self
            .active
            .iter()
            .map(|(key, alert)| alert.status(*key))
            .collect();
        list.sort_by_key(|a| a.raised_unix_ms);
        list
    }

    pub fn raised_totals(&self) -> BTreeMap<String, u64> {
        self.raised_total
            .iter()
            .map(|(key, n)| (key.as_str().to_string(), *n))
            .collect()
    }

    pub fn sink_counts(&self) -> Vec<SinkCounts> {
        self.dispatcher.counts()
    }

    /// New node names and sinks (SIGHUP); the active alerts stay. The old sinks deliver what
    /// they have queued, then stop.
    pub fn reconfigure(&mut self, source: EventSource, dispatcher: Dispatcher) {
        self.dispatcher.close();
        self.source = source;
        self.dispatcher = dispatcher;
    }
}
