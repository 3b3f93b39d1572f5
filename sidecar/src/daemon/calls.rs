//! Calls in progress on the active's Asterisk: what a switch would drop, for `astha status`,
//! `astha failover` and `astha failover --when-idle`.
//!
//! Counted on demand with AMI `CoreShowChannels` (the shipped AMI user's `reporting` write
//! class), one call per `Linkedid`, leaving out astha's own probe calls (`Local/probe@ha-probe`,
//! which a switch does not drop anyone from). Not a probe: a count that cannot be read says why
//! and judges nothing. `astha status` shares one count among the requests of
//! [`COUNT_REUSE`] ([`SharedCount`]).

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ami_client::{Action, Message};

use crate::status::CallsStatus;

/// How long `astha status` waits for the count; a hung Asterisk must not hang the status.
pub const COUNT_DEADLINE: Duration = Duration::from_millis(500);

/// The channel prefix of astha's own call probe (`dialplan/extensions_astha.conf`).
const PROBE_CHANNEL: &str = "Local/probe@ha-probe";

/// Counts the calls in progress from the `CoreShowChannel` items of one `CoreShowChannels`,
/// leaving out the call whose `Linkedid` is `leave_out` (a phone's failover request counts the
/// calls besides its own).
pub fn count_calls(channels: &[Message], leave_out: Option<&str>) -> u32 {
    let probe_calls: BTreeSet<&str> = channels
        .iter()
        .filter(|c| {
            c.get("Channel")
                .is_some_and(|n| n.starts_with(PROBE_CHANNEL))
        })
        .filter_map(|c| c.get("Linkedid"))
        .collect();
    let calls: BTreeSet<&str> = channels
        .iter()
        .filter_map(|c| c.get("Linkedid").or(c.get("Uniqueid")))
        .filter(|linked| !probe_calls.contains(linked) && Some(*linked) != leave_out)
        .collect();
    calls.len() as u32
}

/// Asks `client`'s Asterisk how many calls it carries besides `leave_out` (see
/// [`count_calls`]), within [`COUNT_DEADLINE`].
pub async fn count_on(client: &ami_client::Client, leave_out: Option<&str>) -> Result<u32, String> {
    // The bulk connection opens on the first request.
    client
        .wait_logged_in(COUNT_DEADLINE)
        .await
        .map_err(|e| e.to_string())?;
    let list = client
        .send_list(Action::new("CoreShowChannels").timeout(COUNT_DEADLINE))
        .await
        .map_err(|e| e.to_string())?;
    if !list.response.is_success() {
        return Err(list
            .response
            .message()
            .unwrap_or("CoreShowChannels refused")
            .to_owned());
    }
    let items: Vec<Message> = list.items.iter().map(|e| e.raw().clone()).collect();
    Ok(count_calls(&items, leave_out))
}

/// Asks `client`'s Asterisk (of the node `name`) how many calls it carries.
pub async fn calls_in_progress(client: &ami_client::Client, name: &str) -> CallsStatus {
    let (count, error) = match count_on(client, None).await {
        Ok(n) => (Some(n), None),
        Err(e) => (None, Some(e)),
    };
    CallsStatus {
        node: name.to_owned(),
        count,
        error,
    }
}

/// How old a count `astha status` may show. Each count lists every channel of the active's
/// Asterisk (400 on a server carrying 200 calls); without sharing, a dashboard polling both
/// daemons' status many times a second made the loaded Asterisk list them dozens of times a
/// second (the test bed's split-brain sampler asks every 50 ms), on top of its calls. Below the
/// 500 ms at which `astha failover --when-idle` reads the count, so that it still sees a fresh
/// one each time.
pub const COUNT_REUSE: Duration = Duration::from_millis(400);

/// The last calls-in-progress count, shared by every `astha status` request: requests that
/// arrive while one is being counted wait for it, and a count younger than [`COUNT_REUSE`] of
/// the same node is answered again.
#[derive(Debug, Clone, Default)]
pub struct SharedCount(Arc<tokio::sync::Mutex<Option<(tokio::time::Instant, CallsStatus)>>>);

impl SharedCount {
    /// The count of `node`'s calls: the last one if fresh enough, else what `count` says.
    pub async fn get_or_count(
        &self,
        node: &str,
        count: impl Future<Output = CallsStatus>,
    ) -> CallsStatus {
        let mut last = self.0.lock().await;
        if let Some((at, status)) = last.as_ref() {
            if status.node == node && at.elapsed() < COUNT_REUSE {
                return status.clone();
            }
        }
        let status = count.await;
        *last = Some((tokio::time::Instant::now(), status.clone()));
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A count of `n` calls on `node`, noting that it was asked for.
    async fn counted(node: &str, n: u32, asked: &std::cell::Cell<u32>) -> CallsStatus {
        asked.set(asked.get() + 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
        CallsStatus {
            node: node.into(),
            count: Some(n),
            error: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn status_requests_share_one_count_until_it_is_too_old() {
        let shared = SharedCount::default();
        let asked = std::cell::Cell::new(0);
        // Three requests at once: one count, three answers.
        let (a, b, c) = tokio::join!(
            shared.get_or_count("pbx-a", counted("pbx-a", 3, &asked)),
            shared.get_or_count("pbx-a", counted("pbx-a", 4, &asked)),
            shared.get_or_count("pbx-a", counted("pbx-a", 5, &asked)),
        );
        assert_eq!(asked.get(), 1);
        assert_eq!([a.count, b.count, c.count], [Some(3); 3]);
        // Still fresh: answered again.
        tokio::time::sleep(COUNT_REUSE - Duration::from_millis(1)).await;
        let again = shared
            .get_or_count("pbx-a", counted("pbx-a", 6, &asked))
            .await;
        assert_eq!((asked.get(), again.count), (1, Some(3)));
        // Too old, or another node active: counted again.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let later = shared
            .get_or_count("pbx-a", counted("pbx-a", 7, &asked))
            .await;
        assert_eq!((asked.get(), later.count), (2, Some(7)));
        let other = shared
            .get_or_count("pbx-b", counted("pbx-b", 0, &asked))
            .await;
        assert_eq!((asked.get(), other.node.as_str()), (3, "pbx-b"));
    }

    fn channel(name: &str, linkedid: &str) -> Message {
        let mut m = Message::new();
        m.push("Event", "CoreShowChannel");
        m.push("Channel", name);
        m.push("Linkedid", linkedid);
        m
    }

    #[test]
    fn both_legs_of_a_call_are_one_call_and_the_probe_is_none() {
        let channels = [
            channel("PJSIP/trunk-00000001", "pbx-1.1"),
            channel("PJSIP/200-00000002", "pbx-1.1"),
            channel("DAHDI/1-1", "pbx-1.3"),
            channel("Local/probe@ha-probe-00000007;1", "pbx-1.9"),
            channel("Local/probe@ha-probe-00000007;2", "pbx-1.9"),
        ];
        assert_eq!(count_calls(&channels, None), 2);
        assert_eq!(
            count_calls(&channels, Some("pbx-1.3")),
            1,
            "the asking call left out"
        );
        assert_eq!(count_calls(&[], None), 0);
    }

    #[test]
    fn the_captured_hold_calls_count_as_calls() {
        // Fixture 07: three `Local/echo@ha-probe` calls up, each with both halves listed.
        let capture = include_str!(
            "../../../tests/fixtures/asterisk-22/ami/07-coreshowchannels-calls-up.server.txt"
        );
        let items: Vec<Message> = capture
            .split("\r\n\r\n")
            .filter(|f| f.starts_with("Event: CoreShowChannel\r\n"))
            .map(|frame| {
                let mut m = Message::new();
                for line in frame.split("\r\n") {
                    if let Some((name, value)) = line.split_once(':') {
                        m.push(name, value.trim_start());
                    }
                }
                m
            })
            .collect();
        assert_eq!(items.len(), 6, "both halves of three Local calls");
        assert_eq!(count_calls(&items, None), 3);
    }
}
