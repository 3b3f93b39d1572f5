//! Answers the takeover sequence's questions about the local Asterisk ("booted?", "carries a call?") from its probes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::actuate::{AsteriskReadiness, ReadinessError};
use crate::probe::boot::wait_fully_booted;
use crate::probe::ProbeKind;
use crate::probe::TargetProbes;

/// The local Asterisk as the sequence runner sees it, backed by the daemon's persistent AMI connection.
#[derive(Debug, Clone)]
pub struct LocalAsterisk {
    probes: Arc<TargetProbes>,
}

impl LocalAsterisk {
    pub fn new(probes: Arc<TargetProbes>) -> Self {
        LocalAsterisk { probes }
    }
}

impl AsteriskReadiness for LocalAsterisk {
    /// `FullyBooted` on the current session of the daemon's AMI connection (the one boot wait).
    fn wait_fully_booted(
        &self,
        deadline: tokio::time::Instant,
    ) -> BoxFuture<'_, Result<(), ReadinessError>> {
        Box::pin(async move {
            let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
            wait_fully_booted(self.probes.ami().client(), timeout)
                .await
                .map_err(|e| ReadinessError(e.to_string()))
        })
    }

    fn call_path_probe(&self) -> BoxFuture<'_, Result<Duration, ReadinessError>> {
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            self.probes
                .ami()
                .run(ProbeKind::Call)
                .await
                .map(|()| started.elapsed())
                .map_err(|e| ReadinessError(format!("test call failed: {e}")))
        })
    }
}
