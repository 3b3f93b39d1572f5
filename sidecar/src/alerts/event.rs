//! The alert event: one JSON document per takeover, release, alert raised or cleared, as webhooks receive it and commands read it on stdin.
//!
//! The field names are part of astha's interface (receivers parse them): add fields freely,
//! never rename or remove one.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::status::{AlertStatus, StepStatus};
use crate::wall_clock;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A takeover by this node finished (done or failed), with its step timings.
    Takeover,
    /// A release by this node finished (done or failed), with its step timings.
    Release,
    AlertRaised,
    AlertCleared,
    /// Sent by `astha alert test` only.
    Test,
}

impl EventKind {
    /// The kinds a sink may subscribe to (`events = [...]`); `test` always reaches every sink.
    pub const SUBSCRIBABLE: [EventKind; 4] = [
        EventKind::Takeover,
        EventKind::Release,
        EventKind::AlertRaised,
        EventKind::AlertCleared,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Takeover => "takeover",
            EventKind::Release => "release",
            EventKind::AlertRaised => "alert_raised",
            EventKind::AlertCleared => "alert_cleared",
            EventKind::Test => "test",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::SUBSCRIBABLE
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<String> = EventKind::SUBSCRIBABLE
                    .iter()
                    .map(|k| format!("\"{k}\""))
                    .collect();
                format!("unknown event \"{s}\": expected {}", names.join(", "))
            })
    }
}

/// The node an event comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventSource {
    /// This node's name (`[node] name`).
    pub node: String,
    /// `a` or `b`.
    pub side: String,
    /// The peer's name.
    pub peer: String,
}

impl EventSource {
    /// This node as the configuration names it.
    pub fn of(config: &crate::config::Config) -> EventSource {
        EventSource {
            node: config.node.name.clone(),
            side: config.node.side.to_string(),
            peer: config.node.peer_name.clone(),
        }
    }
}

/// One event, as sent to every sink that wants its kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEvent {
    pub event: EventKind,
    #[serde(flatten)]
    pub source: EventSource,
    /// The highest term this node knows (for a takeover: the term it took over under).
    pub term: u64,
    /// This node's role when the event was sent.
    pub role: String,
    /// Why: the takeover's or release's reason, or the alert's message.
    pub reason: String,
    /// Takeover and release: `done`, or `failed at <step>: <error>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Takeover and release: the steps' total time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<f64>,
    /// Takeover and release: each step's time and result, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepStatus>,
    /// Alert events: the alert (for `alert_cleared`, `active_s` is how long it lasted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertStatus>,
    /// When the event happened: RFC 3339, UTC.
    pub time: String,
    pub unix_ms: u64,
    /// One line for people, so chat webhooks (Slack, Mattermost, ...) can show it as it is.
    pub text: String,
    /// Events this sink lost right before this one (its queue was full while it was down).
    pub dropped: u64,
}

impl AlertEvent {
    /// An event of `kind` at `unix_ms`; the caller fills in what the kind carries, then [`AlertEvent::with_text`].
    pub fn new(
        kind: EventKind,
        source: EventSource,
        term: u64,
        role: &str,
        reason: String,
        unix_ms: u64,
    ) -> AlertEvent {
        AlertEvent {
            event: kind,
            source,
            term,
            role: role.to_string(),
            reason,
            outcome: None,
            total_ms: None,
            steps: Vec::new(),
            alert: None,
            time: wall_clock::rfc3339(unix_ms),
            unix_ms,
            text: String::new(),
            dropped: 0,
        }
    }

    /// Fills in `text`: `[astha pbx-b] takeover done: term 8 in 84 ms (peer silent ...)`.
    pub fn with_text(mut self) -> AlertEvent {
        let what = match (self.event, &self.alert, &self.outcome) {
            (EventKind::AlertRaised, Some(a), _) => {
                format!("ALERT {} {}: {}", a.severity, a.kind, a.message)
            }
            (EventKind::AlertCleared, Some(a), _) => format!(
                "alert cleared after {} s: {} ({})",
                a.active_s, a.kind, a.message
            ),
            (kind, _, Some(outcome)) => format!(
                "{kind} {outcome}: term {}{} ({})",
                self.term,
                self.total_ms
                    .map(|ms| format!(" in {ms:.0} ms"))
                    .unwrap_or_default(),
                self.reason
            ),
            (kind, _, None) => format!("{kind}: {}", self.reason),
        };
        self.text = format!("[astha {}] {what}", self.source.node);
        self
    }
}
