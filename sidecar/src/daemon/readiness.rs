//! Answers the takeover sequence's questions about the local Asterisk ("booted?", "carries a call?") from its probes.

use std::sync::Arc;
use std::time::Duration;

use ami_client::ConnectionState;
use futures_util::future::BoxFuture;

use crate::actuate::{AsteriskReadiness, ReadinessError};
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
    /// A login on a booted Asterisk is always followed by `FullyBooted`; the AMI client only
    /// reports `LoggedIn` once the login succeeded, so a logged-in connection means booted.
    fn wait_fully_booted(
        &self,
        deadline: tokio::time::Instant,
    ) -> BoxFuture<'_, Result<(), ReadinessError>> {
        Box::pin(async move {
            let mut state = self.probes.ami().client().state();
            let logged_in = tokio::time::timeout_at(deadline, async {
                state
                    .wait_for(|s| matches!(s, ConnectionState::LoggedIn))
                    .await
                    .map(|_| ())
            })
            .await;
            match logged_in {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(ReadinessError("the AMI client was closed".into())),
                Err(_) => Err(ReadinessError(
                    "Asterisk did not finish booting in time (no AMI login)".into(),
                )),
            }
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
