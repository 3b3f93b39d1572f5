//! What one probe run produced: success with its latency, or a typed failure.

use std::time::{Duration, Instant};

use super::ProbeKind;

/// Why a probe run failed. Cloneable and printable so it can travel to status and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("not connected: {0}")]
    NotConnected(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("I/O error: {0}")]
    Io(String),
    #[error("malformed answer: {0}")]
    Malformed(String),
    #[error("answered {code} {reason}")]
    Status { code: u16, reason: String },
    #[error("action refused: {0}")]
    Refused(String),
    #[error("test call failed: {0}")]
    CallFailed(String),
    #[error("span alarm: {0}")]
    Alarm(String),
    #[error("Asterisk is shutting down{}", if *.restart { " (restart)" } else { "" })]
    ShutDown { restart: bool },
}

impl ProbeError {
    /// Whether the target answered at all (a refusal, an error status, a failed call, an
    /// alarm), as opposed to silence or a connection that is not there.
    pub fn is_answer(&self) -> bool {
        !matches!(
            self,
            ProbeError::Timeout(_)
                | ProbeError::NotConnected(_)
                | ProbeError::Connect(_)
                | ProbeError::Io(_)
        )
    }
}

/// The result of one probe run, as fed to the health core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub kind: ProbeKind,
    /// When the run finished (or was judged timed out).
    pub at: Instant,
    /// Time from start to answer (or to the failure).
    pub latency: Duration,
    pub result: Result<(), ProbeError>,
}

impl ProbeOutcome {
    pub fn ok(&self) -> bool {
        self.result.is_ok()
    }

    pub fn error(&self) -> Option<&ProbeError> {
        self.result.as_ref().err()
    }
}
