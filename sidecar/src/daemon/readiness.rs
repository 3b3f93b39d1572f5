//! Answers the takeover sequence's questions about the local Asterisk ("booted?", "carries a call?") from its probes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::actuate::config::StandbyMode;
use crate::actuate::{AsteriskReadiness, ReadinessError};
use crate::probe::boot::wait_fully_booted;
use crate::probe::ProbeKind;
use crate::probe::TargetProbes;

/// The local Asterisk as the sequence runner sees it, backed by the daemon's persistent AMI connection.
#[derive(Debug, Clone)]
pub struct LocalAsterisk {
    probes: Arc<TargetProbes>,
    mode: StandbyMode,
}

impl LocalAsterisk {
    pub fn new(probes: Arc<TargetProbes>, mode: StandbyMode) -> Self {
        LocalAsterisk { probes, mode }
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

    /// Warm standby: the quick variant (the dialplan end to end with its marker, without the
    /// media steps; milliseconds instead of about 1.5 s), because this node only took over with
    /// its own Asterisk healthy, i.e. its full test call passed within one probe interval.
    /// Cold standby: the full test call, since this Asterisk has just booted.
    fn call_path_probe(&self) -> BoxFuture<'_, Result<Duration, ReadinessError>> {
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            let ami = self.probes.ami();
            let result = match self.mode {
                StandbyMode::Warm => ami.quick_call().await,
                StandbyMode::Cold => ami.run(ProbeKind::Call).await,
            };
            result
                .map(|()| started.elapsed())
                .map_err(|e| ReadinessError(format!("test call failed: {e}")))
        })
    }
}
