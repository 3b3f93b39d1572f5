//! Failover from a phone: watches the local Asterisk for `UserEvent: HAFailover` and rate-limits it.
//!
//! Only the *local* Asterisk's events are watched: the same sidecar also holds an AMI
//! connection to the peer's Asterisk, and a `*999` dialled there is the peer sidecar's business.
//!
//! Only an event the dialplan raised is taken: any AMI user with the `user` write class can send
//! a `UserEvent` action named `HAFailover`, bypassing the PIN of `[ha-admin]`. Asterisk tells the
//! two apart by header order (see [`raised_by_a_channel`]).

use std::sync::Arc;
use std::time::Duration;

use ami_client::{Message, RecvError};
use tokio::sync::{mpsc, watch};

use crate::config::daemon::DialplanConfig;
use crate::probe::TargetProbes;

/// The user event name emitted by `[ha-admin]` in `dialplan/extensions_astha.conf`.
pub const FAILOVER_EVENT: &str = "HAFailover";

/// Whether a `UserEvent` was raised by a channel running the dialplan (`UserEvent()` application)
/// rather than by the AMI `UserEvent` action.
///
/// The application's event carries the channel's snapshot (`Channel`, `Uniqueid`, …) *before*
/// the `UserEvent` header; the action's event is `UserEvent: <name>` followed by the sender's own
/// headers (Asterisk's `action_userevent` in `main/manager.c` copies them after it). A sender can
/// forge a `Channel` header, but only after `UserEvent`, so the order is the proof.
pub fn raised_by_a_channel(event: &Message) -> bool {
    let headers = event.headers();
    let Some(user_event_at) = headers
        .iter()
        .position(|(name, _)| name.eq_ignore_ascii_case("UserEvent"))
    else {
        return false;
    };
    let before = &headers[..user_event_at];
    ["Channel", "Uniqueid"].iter().all(|wanted| {
        before
            .iter()
            .any(|(name, value)| name.eq_ignore_ascii_case(wanted) && !value.is_empty())
    })
}

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
            if !raised_by_a_channel(event.raw()) {
                tracing::warn!(
                    "HAFailover UserEvent ignored: not raised by a call in the dialplan (an AMI \
                     UserEvent action cannot pass the [ha-admin] PIN)"
                );
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

    /// The first `UserEvent` frame of a capture, as the codec would hand it over.
    fn first_user_event(capture: &str) -> Message {
        let frame = capture
            .split("\r\n\r\n")
            .find(|f| f.starts_with("Event: UserEvent"))
            .expect("a UserEvent frame");
        let mut message = Message::new();
        for line in frame.split("\r\n") {
            let (name, value) = line.split_once(':').expect("Name: value");
            message.push(name, value.trim_start());
        }
        message
    }

    #[test]
    fn the_dialplan_event_of_a_real_asterisk_is_raised_by_a_channel() {
        let capture = include_str!(
            "../../../tests/fixtures/asterisk-22/ami/15-userevent-dialplan-failover.server.txt"
        );
        let event = first_user_event(capture);
        assert_eq!(event.get("UserEvent"), Some(FAILOVER_EVENT));
        assert!(raised_by_a_channel(&event));
    }

    #[test]
    fn an_ami_userevent_action_is_not_raised_by_a_channel_even_with_forged_headers() {
        // What manager.c's action_userevent publishes for
        // `Action: UserEvent / UserEvent: HAFailover / Channel: … / Uniqueid: …`.
        let forged = "Event: UserEvent\r\nPrivilege: user,all\r\nSystemName: ha-a\r\n\
                      UserEvent: HAFailover\r\nChannel: PJSIP/200-00000001\r\n\
                      Uniqueid: ha-a-1.1\r\nReason: manual\r\nActionID: 7\r\n\r\n";
        let event = first_user_event(forged);
        assert_eq!(event.get("Channel"), Some("PJSIP/200-00000001"));
        assert!(!raised_by_a_channel(&event));
        let mut bare = Message::new();
        bare.push("Event", "UserEvent");
        assert!(!raised_by_a_channel(&bare), "no UserEvent header at all");
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_lets_one_request_through_per_interval() {
        let mut limit = RateLimit::new(Duration::from_secs(60));
        let t0 = tokio::time::Instant::now();
        assert!(limit.allow(t0));
        assert!(!limit.allow(t0 + Duration::from_secs(59)));
        assert!(limit.allow(t0 + Duration::from_secs(60)));
    }
}
