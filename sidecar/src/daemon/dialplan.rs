//! Failover from a phone: watches the local Asterisk for `UserEvent: HAFailover` and rate-limits it.
//!
//! Only the *local* Asterisk's events are watched: the same sidecar also holds an AMI
//! connection to the peer's Asterisk, and a `*999` dialled there is the peer sidecar's business.

use std::sync::Arc;
use std::time::Duration;

use ami_client::RecvError;
use tokio::sync::{mpsc, watch};

use crate::config::daemon::DialplanConfig;
use crate::probe::TargetProbes;

/// The user event name emitted by `[ha-admin]` in `dialplan/extensions_astha.conf`.
pub const FAILOVER_EVENT: &str = "HAFailover";

/// Decides whether a dialplan request may go through now (at most one per interval).
#[derive(Debug)]
pub struct RateLimit {
    min_interval: Duration,
    last: Option<tokio::time::Instant>,
}

impl RateLimit {
    pub fn new(min_interval: Duration) -> Self {
        RateLimit {
            min_interval,
            last: None,
        }
    }

    pub fn allow(&mut self, now: tokio::time::Instant) -> bool {
        match self.last {
            Some(last) if now.duration_since(last) < self.min_interval => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

/// Sends the caller ID of every accepted `HAFailover` request on the returned channel.
/// `config` is re-read for every event, so a reload (SIGHUP) applies at once.
pub fn spawn_watcher(
    local: Arc<TargetProbes>,
    config: watch::Receiver<DialplanConfig>,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(4);
    let mut events = local.ami().client().subscribe();
    tokio::spawn(async move {
        let mut limit = RateLimit::new(Duration::ZERO);
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged { .. }) => continue,
                Err(RecvError::Closed) => return,
            };
            if !event.name().eq_ignore_ascii_case("UserEvent")
                || event.get("UserEvent") != Some(FAILOVER_EVENT)
            {
                continue;
            }
            let config = config.borrow().clone();
            if !config.failover_event {
                tracing::warn!("HAFailover UserEvent ignored: [dialplan] failover_event = false");
                continue;
            }
            limit.min_interval = Duration::from_millis(config.min_interval_ms);
            let caller = format!(
                "{} <{}> on {}",
                event.get("CallerIDName").unwrap_or("unknown"),
                event.get("CallerIDNum").unwrap_or("unknown"),
                event.get("Channel").unwrap_or("unknown channel"),
            );
            if !limit.allow(tokio::time::Instant::now()) {
                tracing::warn!(%caller, "dialplan failover request ignored: rate limit (one per {} ms)", config.min_interval_ms);
                continue;
            }
            if tx.send(caller).await.is_err() {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rate_limit_lets_one_request_through_per_interval() {
        let mut limit = RateLimit::new(Duration::from_secs(60));
        let t0 = tokio::time::Instant::now();
        assert!(limit.allow(t0));
        assert!(!limit.allow(t0 + Duration::from_secs(59)));
        assert!(limit.allow(t0 + Duration::from_secs(60)));
    }
}
