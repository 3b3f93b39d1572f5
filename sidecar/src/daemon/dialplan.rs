//! Failover from a phone: answers the `[ha-admin]` dialplan's question of how many calls a switch would drop, and takes its confirmed `UserEvent: HAFailover`, rate-limited.
//!
//! The conversation (`dialplan/extensions_astha.conf`): after the PIN the dialplan raises
//! `UserEvent(HAFailoverAsk)`; astha counts the calls in progress on this server besides the
//! asking one (`calls.rs`, what `astha status` counts) and writes the number into that
//! Asterisk's AstDB under `astha-failover/<the channel's Uniqueid>` (AMI `DBPut`, through the
//! AstDB writer's user: astha's main user cannot write the AstDB, see `astdb.rs`). The dialplan
//! waits up to 2 s for it, deletes it, says the number and asks for confirmation; only then
//! does it raise `UserEvent(HAFailover)` (taken here) or, when not confirmed,
//! `UserEvent(HAFailoverCancelled)` (logged). Both carry `Calls:`, what the caller heard.
//!
//! Only the *local* Asterisk's events are watched: the same sidecar also holds an AMI
//! connection to the peer's Asterisk, and a `*999` dialled there is the peer sidecar's business.
//!
//! Only an event the dialplan raised is taken: any AMI user with the `user` write class can send
//! a `UserEvent` action named `HAFailover`, bypassing the PIN of `[ha-admin]`. Asterisk tells the
//! two apart by header order (see [`raised_by_a_channel`]). The confirmation is the dialplan's
//! step, like the PIN: whoever can change the dialplan can skip both. A `HAFailover` from a
//! channel that never asked is still taken (as before this conversation existed) but with a
//! warning that the installed dialplan is older than astha's and asks nobody to confirm.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ami_client::{ClientConfig, Message, RecvError};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::daemon::DialplanConfig;
use crate::probe::TargetProbes;

/// The user event name emitted by `[ha-admin]` in `dialplan/extensions_astha.conf` once the
/// caller confirmed.
pub const FAILOVER_EVENT: &str = "HAFailover";
/// The dialplan asks how many calls a switch would drop (after the PIN).
pub const ASK_EVENT: &str = "HAFailoverAsk";
/// The caller heard the count and did not confirm.
pub const CANCELLED_EVENT: &str = "HAFailoverCancelled";
/// The AstDB family of the answers; the key is the asking channel's `Uniqueid`.
pub const ANSWER_FAMILY: &str = "astha-failover";
/// The answer is useless once the dialplan stopped waiting for it (2 s).
const ANSWER_DEADLINE: Duration = Duration::from_secs(2);
/// How long after its question a channel's `HAFailover` counts as confirmed after hearing the
/// count: the dialplan's wait, the announcement and two tries of the confirmation take well
/// under this.
const ASK_VALID: Duration = Duration::from_secs(120);
/// Questions remembered at most (each is a caller who passed the PIN).
const MAX_PENDING_ASKS: usize = 32;

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
    last: Option<Instant>,
}

impl RateLimit {
    pub fn new(min_interval: Duration) -> Self {
        RateLimit {
            min_interval,
            last: None,
        }
    }

    pub fn allow(&mut self, now: Instant) -> bool {
        match self.last {
            Some(last) if now.duration_since(last) < self.min_interval => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

/// Channels that asked for the count, by `Uniqueid`, for a while.
#[derive(Debug, Default)]
pub struct PendingAsks {
    asked: HashMap<String, Instant>,
}

impl PendingAsks {
    pub fn asked(&mut self, uniqueid: &str, now: Instant) {
        self.asked
            .retain(|_, at| now.duration_since(*at) < ASK_VALID);
        if self.asked.len() >= MAX_PENDING_ASKS {
            if let Some(oldest) = self
                .asked
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(id, _)| id.clone())
            {
                self.asked.remove(&oldest);
            }
        }
        self.asked.insert(uniqueid.to_owned(), now);
    }

    /// Whether `uniqueid` asked within [`ASK_VALID`]; forgets it (one question, one answer).
    pub fn take(&mut self, uniqueid: &str, now: Instant) -> bool {
        self.asked
            .remove(uniqueid)
            .is_some_and(|at| now.duration_since(at) < ASK_VALID)
    }
}

/// Sends the caller ID of every accepted `HAFailover` request on the returned channel, and
/// answers every `HAFailoverAsk` with the call count in the AstDB (`astdb_writer`: the AstDB
/// writer's connection settings for the local Asterisk). `config` is re-read for every event,
/// so a reload (SIGHUP) applies at once.
pub fn spawn_watcher(
    local: Arc<TargetProbes>,
    astdb_writer: ClientConfig,
    config: watch::Receiver<DialplanConfig>,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(4);
    let mut events = local.ami().client().subscribe();
    tokio::spawn(async move {
        let mut limit = RateLimit::new(Duration::ZERO);
        let mut asks = PendingAsks::default();
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged { .. }) => continue,
                Err(RecvError::Closed) => return,
            };
            if !event.name().eq_ignore_ascii_case("UserEvent") {
                continue;
            }
            let Some(name) = event
                .get("UserEvent")
                .filter(|n| [FAILOVER_EVENT, ASK_EVENT, CANCELLED_EVENT].contains(n))
            else {
                continue;
            };
            if !raised_by_a_channel(event.raw()) {
                tracing::warn!(
                    "{name} UserEvent ignored: not raised by a call in the dialplan (an AMI \
                     UserEvent action cannot pass the [ha-admin] PIN)"
                );
                continue;
            }
            let config = config.borrow().clone();
            if !config.failover_event {
                tracing::warn!("{name} UserEvent ignored: [dialplan] failover_event = false");
                continue;
            }
            let caller = format!(
                "{} <{}> on {}",
                event.get("CallerIDName").unwrap_or("unknown"),
                event.get("CallerIDNum").unwrap_or("unknown"),
                event.get("Channel").unwrap_or("unknown channel"),
            );
            let uniqueid = event.get("Uniqueid").unwrap_or_default().to_owned();
            let heard = event.get("Calls").unwrap_or("nothing");
            match name {
                ASK_EVENT => {
                    asks.asked(&uniqueid, Instant::now());
                    let bulk = local.ami().bulk_client().clone();
                    let linkedid = event.get("Linkedid").map(str::to_owned);
                    let writer = astdb_writer.clone();
                    tokio::spawn(answer_ask(bulk, writer, caller, uniqueid, linkedid));
                    continue;
                }
                CANCELLED_EVENT => {
                    tracing::warn!(%caller, calls = %heard, "dialplan failover request not confirmed: nothing done");
                    continue;
                }
                _ => {}
            }
            let told = asks.take(&uniqueid, Instant::now());
            if !told {
                tracing::warn!(
                    %caller,
                    "HAFailover from a call that was not told how many calls the switch drops: \
                     the installed extensions_astha.conf is older than this astha; install the \
                     shipped one, whose [ha-admin] asks the caller to confirm"
                );
            }
            limit.min_interval = Duration::from_millis(config.min_interval_ms);
            if !limit.allow(Instant::now()) {
                tracing::warn!(%caller, "dialplan failover request ignored: rate limit (one per {} ms)", config.min_interval_ms);
                continue;
            }
            if told {
                tracing::warn!(%caller, calls = %heard, "dialplan failover confirmed by the caller");
            }
            if tx.send(caller).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Counts the calls besides the asking one (`linkedid`) and writes the number where the
/// asking channel's dialplan looks for it. A failure is logged: the dialplan then says it does
/// not know the count and still asks for confirmation.
async fn answer_ask(
    bulk: ami_client::Client,
    writer: ClientConfig,
    caller: String,
    uniqueid: String,
    linkedid: Option<String>,
) {
    let answer = async {
        let calls = super::calls::count_on(&bulk, linkedid.as_deref())
            .await
            .map_err(|e| format!("counting the calls: {e}"))?;
        let value = calls.to_string();
        super::astdb::put_once(writer, ANSWER_FAMILY, &uniqueid, &value, ANSWER_DEADLINE)
            .await
            .map_err(|e| format!("writing the count into the AstDB: {e}"))?;
        Ok::<u32, String>(calls)
    };
    // Past the dialplan's wait no write starts (a hangup handler removes one in flight).
    let answer = async {
        tokio::time::timeout(ANSWER_DEADLINE, answer)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {ANSWER_DEADLINE:?}")))
    };
    match answer.await {
        Ok(calls) => {
            tracing::info!(%caller, calls, "dialplan failover request: told the caller how many other calls the switch drops")
        }
        Err(e) => {
            tracing::warn!(%caller, "dialplan failover request: the caller will hear no call count ({e})")
        }
    }
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
    async fn a_question_counts_once_and_for_a_while() {
        let mut asks = PendingAsks::default();
        let t0 = Instant::now();
        asks.asked("ha-a-1.1", t0);
        assert!(!asks.take("ha-a-1.2", t0), "another channel never asked");
        assert!(asks.take("ha-a-1.1", t0 + Duration::from_secs(10)));
        assert!(
            !asks.take("ha-a-1.1", t0 + Duration::from_secs(11)),
            "taken once"
        );
        asks.asked("ha-a-1.3", t0);
        assert!(!asks.take("ha-a-1.3", t0 + ASK_VALID), "too old");
        for n in 0..MAX_PENDING_ASKS + 5 {
            asks.asked(&format!("x-{n}"), t0 + Duration::from_millis(n as u64));
        }
        assert_eq!(asks.asked.len(), MAX_PENDING_ASKS, "bounded");
        assert!(asks.take(
            &format!("x-{}", MAX_PENDING_ASKS + 4),
            t0 + Duration::from_secs(1)
        ));
        assert!(
            !asks.take("x-0", t0 + Duration::from_secs(1)),
            "the oldest went first"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_lets_one_request_through_per_interval() {
        let mut limit = RateLimit::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limit.allow(t0));
        assert!(!limit.allow(t0 + Duration::from_secs(59)));
        assert!(limit.allow(t0 + Duration::from_secs(60)));
    }
}
