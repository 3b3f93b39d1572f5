//! The sans-IO protocol core, driven by hand: no network, made-up time.

mod common;

use std::time::{Duration, Instant};

use ami_client::codec::{AmiCodec, Frame};
use ami_client::proto::{md5_key, Output, Protocol, Reply};
use ami_client::{Action, AuthMethod, ClientConfig, ConnectionState, Error, EventMask, Message};
use bytes::BytesMut;
use common::{fixture_block, fixture_blocks, with_action_id};
use tokio_util::codec::Decoder;

const BANNER: &str = "Asterisk Call Manager/11.0.0\r\n";

fn config() -> ClientConfig {
    let mut config = ClientConfig::new("127.0.0.1:5038", "hasidecar", "hasecret");
    config.server_name = "ha-a".into();
    config.ping_interval = Duration::from_secs(5);
    config.ping_timeout = Duration::from_secs(1);
    config.action_timeout = Duration::from_secs(10);
    config
}

/// A protocol core plus a fake server side that decodes what the core writes.
struct Harness {
    proto: Protocol<u32>,
    server: AmiCodec,
    now: Instant,
}

impl Harness {
    fn new(config: ClientConfig) -> Self {
        let mut proto = Protocol::new(&config, 7);
        let now = Instant::now();
        proto.connecting();
        proto.connected(now);
        Harness {
            proto,
            server: AmiCodec::server(),
            now,
        }
    }

    fn feed(&mut self, text: &str) {
        let mut buf = BytesMut::from(text.as_bytes());
        self.proto.receive(&mut buf, self.now);
    }

    /// Every action the core wrote since the last call.
    fn sent(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(mut bytes) = self.proto.poll_transmit() {
            while let Some(frame) = self.server.decode(&mut bytes).expect("decode") {
                match frame {
                    Frame::Message(m) => out.push(m),
                    other => panic!("client wrote {other:?}"),
                }
            }
            assert!(bytes.is_empty(), "client wrote a partial frame");
        }
        out
    }

    fn outputs(&mut self) -> Vec<Output<u32>> {
        std::iter::from_fn(|| self.proto.poll_output()).collect()
    }

    fn replies(&mut self) -> Vec<(u32, Result<Reply, Error>)> {
        self.outputs()
            .into_iter()
            .filter_map(|o| match o {
                Output::Reply { reply, result } => Some((reply, result)),
                _ => None,
            })
            .collect()
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.proto.handle_timeout(self.now);
    }

    /// Plain login answered with the real `Authentication accepted` response.
    fn login(&mut self) {
        self.feed(BANNER);
        let login = self.sent().pop().expect("login sent");
        assert_eq!(login.get("Action"), Some("Login"));
        let id = login.action_id().expect("ActionID").to_owned();
        self.feed(&with_action_id(
            &fixture_block("01-banner-login-ok", "Message: Authentication accepted"),
            &id,
        ));
        assert_eq!(self.proto.state(), &ConnectionState::LoggedIn);
        self.outputs();
    }
}

fn response(reply: &Result<Reply, Error>) -> &ami_client::Response {
    match reply {
        Ok(Reply::Response(r)) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

#[test]
fn plain_login_sends_credentials_and_event_mask() {
    let mut config = config();
    config.events = EventMask::Off;
    let mut h = Harness::new(config);
    assert_eq!(h.proto.state(), &ConnectionState::LoggingIn);
    assert!(h.sent().is_empty(), "nothing before the banner");
    h.feed(BANNER);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let login = &sent[0];
    assert_eq!(login.get("Action"), Some("Login"));
    assert_eq!(login.get("Username"), Some("hasidecar"));
    assert_eq!(login.get("Secret"), Some("hasecret"));
    assert_eq!(login.get("Events"), Some("off"));
    let id = login.action_id().expect("ActionID").to_owned();
    h.feed(&with_action_id(
        &fixture_block("01-banner-login-ok", "Message: Authentication accepted"),
        &id,
    ));
    assert_eq!(h.proto.state(), &ConnectionState::LoggedIn);
    let states: Vec<_> = h
        .outputs()
        .into_iter()
        .filter_map(|o| match o {
            Output::State(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [
            ConnectionState::Connecting,
            ConnectionState::LoggingIn,
            ConnectionState::LoggedIn
        ]
    );
}

#[test]
fn md5_key_matches_the_real_capture() {
    // 03-challenge-md5-login: challenge 572601176, secret hasecret, Key sent and accepted.
    let challenge = fixture_block("03-challenge-md5-login", "Challenge: 572601176");
    assert!(challenge.contains("572601176"));
    let client = String::from_utf8(
        std::fs::read(common::ami_fixture_dir().join("03-challenge-md5-login.client.txt"))
            .expect("client fixture"),
    )
    .expect("utf8");
    let key = client
        .lines()
        .find_map(|l| l.strip_prefix("Key: "))
        .expect("Key line");
    assert_eq!(md5_key("572601176", "hasecret"), key);
}

#[test]
fn md5_login_uses_the_challenge() {
    let mut config = config();
    config.auth = AuthMethod::Md5;
    let mut h = Harness::new(config);
    h.feed(BANNER);
    let challenge = h.sent().pop().expect("challenge");
    assert_eq!(challenge.get("Action"), Some("Challenge"));
    assert_eq!(challenge.get("AuthType"), Some("MD5"));
    let block = fixture_block("03-challenge-md5-login", "Challenge: 572601176");
    h.feed(&with_action_id(&block, challenge.action_id().expect("id")));
    let login = h.sent().pop().expect("login");
    assert_eq!(login.get("AuthType"), Some("MD5"));
    assert_eq!(login.get("Key"), Some("4df5dbab5efd1362f2860b07b3754ddd"));
    assert_eq!(login.get("Secret"), None, "no clear-text secret with MD5");
    h.feed(&with_action_id(
        &fixture_blocks("03-challenge-md5-login")[1],
        login.action_id().expect("id"),
    ));
    assert_eq!(h.proto.state(), &ConnectionState::LoggedIn);
}

#[test]
fn bad_secret_is_auth_failed_with_long_backoff() {
    let mut config = config();
    config.auth_failure_backoff = Duration::from_secs(77);
    let mut h = Harness::new(config);
    h.feed(BANNER);
    let login = h.sent().pop().expect("login");
    h.feed(&with_action_id(
        &fixture_block("02-login-bad-secret", "Message: Authentication failed"),
        login.action_id().expect("id"),
    ));
    assert_eq!(
        h.proto.state(),
        &ConnectionState::AuthFailed {
            message: "Authentication failed".into()
        }
    );
    assert!(h
        .outputs()
        .iter()
        .any(|o| matches!(o, Output::Close { .. })));
    // The server closes the socket; the state keeps saying why.
    h.proto.connection_lost("connection closed by the server");
    assert!(matches!(
        h.proto.state(),
        ConnectionState::AuthFailed { .. }
    ));
    assert_eq!(h.proto.reconnect_delay(), Duration::from_secs(77));
    assert_eq!(h.proto.reconnect_delay(), Duration::from_secs(77));
}

#[test]
fn a_login_refused_while_asterisk_shuts_down_is_no_auth_failure() {
    let mut config = config();
    config.auth_failure_backoff = Duration::from_secs(77);
    let mut h = Harness::new(config);
    h.feed(BANNER);
    let login = h.sent().pop().expect("login");
    h.feed(&with_action_id(
        &fixture_block(
            "28-login-refused-shutting-down",
            "Message: Asterisk is shutting down",
        ),
        login.action_id().expect("id"),
    ));
    assert!(
        matches!(h.proto.state(), ConnectionState::Disconnected { reason } if reason.contains("Asterisk is shutting down")),
        "{:?}",
        h.proto.state()
    );
    assert!(h
        .outputs()
        .iter()
        .any(|o| matches!(o, Output::Close { .. })));
    // Back at the normal pace: the restart that follows must be noticed in seconds.
    assert!(h.proto.reconnect_delay() < Duration::from_secs(77));
}

#[test]
fn responses_are_matched_by_action_id_in_any_order() {
    let mut h = Harness::new(config());
    h.login();
    h.proto.submit(Action::ping(), false, 1, h.now);
    h.proto.submit(Action::new("CoreStatus"), false, 2, h.now);
    let sent = h.sent();
    assert_eq!(sent.len(), 2);
    let (ping_id, status_id) = (
        sent[0].action_id().expect("id").to_owned(),
        sent[1].action_id().expect("id").to_owned(),
    );
    assert_ne!(ping_id, status_id);
    h.feed(&with_action_id(
        &fixture_block("05-corestatus", "ActionID: ha-corestatus-1"),
        &status_id,
    ));
    h.feed(&with_action_id(
        &fixture_block("04-ping", "Ping: Pong"),
        &ping_id,
    ));
    let replies = h.replies();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0].0, 2);
    assert!(response(&replies[0].1).get("CoreCurrentCalls").is_some());
    assert_eq!(replies[1].0, 1);
    assert_eq!(response(&replies[1].1).get("Ping"), Some("Pong"));
}

#[test]
fn user_action_id_is_replaced_by_the_clients_own() {
    let mut h = Harness::new(config());
    h.login();
    h.proto
        .submit(Action::ping().header("ActionID", "mine"), false, 1, h.now);
    let sent = h.sent();
    let ids: Vec<_> = sent[0].get_all("ActionID").collect();
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0], "mine");
}

#[test]
fn action_timeout_and_late_response_ignored() {
    let mut h = Harness::new(config());
    h.login();
    h.proto.submit(
        Action::new("CoreStatus").timeout(Duration::from_secs(2)),
        false,
        9,
        h.now,
    );
    let id = h.sent()[0].action_id().expect("id").to_owned();
    assert_eq!(h.proto.poll_timeout(), Some(h.now + Duration::from_secs(2)));
    h.advance(Duration::from_millis(1999));
    assert!(h.replies().is_empty());
    h.advance(Duration::from_millis(1));
    let replies = h.replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(
        replies[0].1,
        Err(Error::Timeout {
            action: "CoreStatus".into(),
            after: Duration::from_secs(2)
        })
    );
    h.feed(&with_action_id(
        &fixture_block("05-corestatus", "ActionID: ha-corestatus-1"),
        &id,
    ));
    assert!(h.replies().is_empty(), "a late response is dropped");
    assert_eq!(h.proto.state(), &ConnectionState::LoggedIn);
}

#[test]
fn in_flight_limit_queues_actions() {
    let mut config = config();
    config.max_in_flight = 1;
    let mut h = Harness::new(config);
    h.login();
    h.proto.submit(Action::ping(), false, 1, h.now);
    h.proto.submit(Action::ping(), false, 2, h.now);
    let first = h.sent();
    assert_eq!(first.len(), 1, "second action waits for a slot");
    h.feed(&with_action_id(
        &fixture_block("04-ping", "Ping: Pong"),
        first[0].action_id().expect("id"),
    ));
    assert_eq!(h.replies().len(), 1);
    let second = h.sent();
    assert_eq!(second.len(), 1, "slot freed: queued action sent");
    assert_ne!(second[0].action_id(), first[0].action_id());
}

#[test]
fn event_list_is_collected_into_one_result() {
    let mut h = Harness::new(config());
    h.login();
    h.proto
        .submit(Action::new("CoreShowChannels"), true, 5, h.now);
    let id = h.sent()[0].action_id().expect("id").to_owned();
    // The real 07 capture: start response, 6 CoreShowChannel events, Complete, all with the
    // list's ActionID; an unrelated event arrives in the middle.
    let blocks = fixture_blocks("07-coreshowchannels-calls-up");
    let list: Vec<&String> = blocks
        .iter()
        .filter(|b| b.contains("ActionID: ha-csc-1"))
        .collect();
    assert_eq!(list.len(), 8);
    for (i, block) in list.iter().enumerate() {
        h.feed(&with_action_id(block, &id));
        if i == 3 {
            h.feed("Event: Newexten\r\nChannel: x\r\n\r\n");
        }
    }
    let replies = h.replies();
    assert_eq!(replies.len(), 1);
    match &replies[0].1 {
        Ok(Reply::List(list)) => {
            assert_eq!(list.items.len(), 6);
            assert_eq!(list.announced_items(), Some(6));
            assert!(list.items.iter().all(|e| e.name() == "CoreShowChannel"));
            assert_eq!(list.response.message(), Some("Channels will follow"));
        }
        other => panic!("{other:?}"),
    }
    let mut events = Vec::new();
    h.proto.take_events(&mut events);
    assert_eq!(events.len(), 1, "only the unrelated event is an event");
    assert_eq!(events[0].name(), "Newexten");
    assert_eq!(events[0].server(), "ha-a");
}

#[test]
fn empty_event_list() {
    let mut h = Harness::new(config());
    h.login();
    h.proto
        .submit(Action::new("CoreShowChannels"), true, 5, h.now);
    let id = h.sent()[0].action_id().expect("id").to_owned();
    for block in fixture_blocks("07b-coreshowchannels-idle")
        .iter()
        .filter(|b| b.contains("ha-coreshowchannels"))
    {
        h.feed(&with_action_id(block, &id));
    }
    match &h.replies()[0].1 {
        Ok(Reply::List(list)) => {
            assert!(list.items.is_empty());
            assert_eq!(list.announced_items(), Some(0));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn keepalive_ping_and_pong_deadline() {
    let mut h = Harness::new(config());
    h.login();
    let slow = Action::new("CoreStatus").timeout(Duration::from_secs(60));
    h.proto.submit(slow, false, 3, h.now);
    h.sent();
    assert_eq!(h.proto.poll_timeout(), Some(h.now + Duration::from_secs(5)));
    h.advance(Duration::from_secs(5));
    let ping = h.sent();
    assert_eq!(ping.len(), 1);
    assert_eq!(ping[0].get("Action"), Some("Ping"));
    // Answered: next ping 5 s later.
    h.feed(&with_action_id(
        &fixture_block("04-ping", "Ping: Pong"),
        ping[0].action_id().expect("id"),
    ));
    assert!(h.replies().is_empty(), "keepalive pongs are internal");
    assert_eq!(h.proto.poll_timeout(), Some(h.now + Duration::from_secs(5)));
    h.advance(Duration::from_secs(5));
    assert_eq!(h.sent().len(), 1);
    // Not answered within the 1 s deadline: connection dropped, pending action failed.
    h.advance(Duration::from_millis(999));
    assert_eq!(h.proto.state(), &ConnectionState::LoggedIn);
    h.advance(Duration::from_millis(1));
    let outputs = h.outputs();
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::Reply {
            reply: 3,
            result: Err(Error::Disconnected { .. })
        }
    )));
    assert!(outputs.iter().any(|o| matches!(o, Output::Close { .. })));
    assert!(matches!(
        h.proto.state(),
        ConnectionState::Disconnected { reason } if reason.contains("Pong")
    ));
}

#[test]
fn disconnect_fails_pending_at_once_and_relogin_works() {
    let mut h = Harness::new(config());
    h.login();
    h.proto.submit(Action::ping(), false, 1, h.now);
    h.proto
        .submit(Action::new("CoreShowChannels"), true, 2, h.now);
    h.proto.connection_lost("connection closed by the server");
    let replies = h.replies();
    assert_eq!(replies.len(), 2);
    for (_, result) in &replies {
        assert_eq!(
            result,
            &Err(Error::Disconnected {
                reason: "connection closed by the server".into()
            })
        );
    }
    // While disconnected: immediate NotConnected.
    h.proto.submit(Action::ping(), false, 3, h.now);
    assert!(matches!(h.replies()[0].1, Err(Error::NotConnected { .. })));
    let delay = h.proto.reconnect_delay();
    assert!(delay <= Duration::from_millis(100), "{delay:?}");
    // Reconnect: a fresh login on a fresh codec.
    h.proto.connecting();
    h.proto.connected(h.now);
    h.server = AmiCodec::server();
    h.login();
}

#[test]
fn login_timeout_drops_the_connection() {
    let mut h = Harness::new(config());
    h.feed(BANNER);
    h.sent();
    h.advance(Duration::from_secs(10));
    assert!(matches!(
        h.proto.state(),
        ConnectionState::Disconnected { reason } if reason.contains("login timed out")
    ));
}

#[test]
fn filters_are_sent_after_login() {
    let mut config = config();
    config.filters = vec!["Event: Hangup".into(), "!Event: VarSet".into()];
    let mut h = Harness::new(config);
    h.feed(BANNER);
    let login = h.sent().pop().expect("login");
    h.feed(&with_action_id(
        &fixture_block("01-banner-login-ok", "Message: Authentication accepted"),
        login.action_id().expect("id"),
    ));
    let filters = h.sent();
    assert_eq!(filters.len(), 2);
    assert_eq!(filters[0].get("Action"), Some("Filter"));
    assert_eq!(filters[0].get("Operation"), Some("Add"));
    assert_eq!(filters[1].get("Filter"), Some("!Event: VarSet"));
}

#[test]
fn header_injection_in_an_action_is_refused() {
    let mut h = Harness::new(config());
    h.login();
    h.proto.submit(
        Action::new("Originate").header("Channel", "Local/x\r\nAction: Logoff"),
        false,
        4,
        h.now,
    );
    assert!(h.sent().is_empty());
    assert!(matches!(h.replies()[0].1, Err(Error::InvalidAction(_))));
}

#[test]
fn close_logs_off_then_closed() {
    let mut h = Harness::new(config());
    h.login();
    h.proto.submit(Action::ping(), false, 1, h.now);
    h.sent();
    h.proto.close(h.now);
    assert_eq!(h.replies()[0].1, Err(Error::Closed));
    let logoff = h.sent().pop().expect("logoff");
    assert_eq!(logoff.get("Action"), Some("Logoff"));
    h.feed(&with_action_id(
        &fixture_block("17-logoff", "Response: Goodbye"),
        logoff.action_id().expect("id"),
    ));
    assert_eq!(h.proto.state(), &ConnectionState::Closed);
    assert!(h.proto.is_closed());
}

#[test]
fn shutdown_event_then_eof() {
    let mut h = Harness::new(config());
    h.login();
    let mut buf =
        BytesMut::from(fixture_block("19-shutdown-event-stop-now", "Event: Shutdown").as_bytes());
    h.proto.receive_eof(&mut buf, h.now);
    let mut events = Vec::new();
    h.proto.take_events(&mut events);
    assert_eq!(events.len(), 1);
    assert!(matches!(
        events[0].typed(),
        ami_client::KnownEvent::Shutdown(s) if s.restart == Some(false)
    ));
    assert!(matches!(
        h.proto.state(),
        ConnectionState::Disconnected { .. }
    ));
}

#[test]
fn a_failed_connect_says_why_instead_of_staying_connecting() {
    let mut proto: Protocol<u32> = Protocol::new(&config(), 7);
    proto.connecting();
    assert_eq!(proto.state(), &ConnectionState::Connecting);
    proto.connection_lost("connection refused");
    assert_eq!(
        proto.state(),
        &ConnectionState::Disconnected {
            reason: "connection refused".into()
        }
    );
}

/// The login of fixture `prefix` (its `Authentication accepted` and what follows in the same
/// TCP read), answered to the login our core sent.
fn login_with(h: &mut Harness, prefix: &str, blocks_after_login: usize) {
    h.feed(BANNER);
    let login = h.sent().pop().expect("login sent");
    let id = login.action_id().expect("ActionID").to_owned();
    let blocks = fixture_blocks(prefix);
    let accepted = blocks
        .iter()
        .position(|b| b.contains("Message: Authentication accepted"))
        .expect("login response");
    let mut chunk = with_action_id(&blocks[accepted], &id);
    for block in &blocks[accepted + 1..=accepted + blocks_after_login] {
        chunk.push_str(block);
    }
    h.feed(&chunk);
    assert_eq!(h.proto.state(), &ConnectionState::LoggedIn);
}

#[test]
fn fully_booted_right_after_login_on_a_booted_server() {
    // 18: the per-session FullyBooted arrives in the same read as the login response.
    let mut h = Harness::new(config());
    assert!(!h.proto.is_fully_booted());
    login_with(&mut h, "18-fullybooted-at-connect", 1);
    assert!(h.proto.is_fully_booted());
}

#[test]
fn a_login_during_boot_is_not_booted_until_the_broadcast() {
    // 22: logged in at 0 ms, SuccessfulAuth, and the boot-time FullyBooted only at 181 ms.
    let mut h = Harness::new(config());
    login_with(&mut h, "22-connect-during-boot", 1);
    assert!(
        !h.proto.is_fully_booted(),
        "a login alone does not mean booted"
    );
    h.feed(&fixture_block(
        "22-connect-during-boot",
        "Event: FullyBooted",
    ));
    assert!(h.proto.is_fully_booted());
}

#[test]
fn fully_booted_belongs_to_one_session_and_ends_with_shutdown() {
    let mut h = Harness::new(config());
    login_with(&mut h, "18-fullybooted-at-connect", 1);
    assert!(h.proto.is_fully_booted());
    h.feed(&fixture_block(
        "19-shutdown-event-stop-now",
        "Event: Shutdown",
    ));
    assert!(!h.proto.is_fully_booted(), "shutting down is not booted");

    h.feed(&fixture_block(
        "22-connect-during-boot",
        "Event: FullyBooted",
    ));
    assert!(h.proto.is_fully_booted());
    h.proto.connection_lost("connection closed by the server");
    assert!(!h.proto.is_fully_booted());
    // The next session starts unbooted, even before its login.
    h.proto.connecting();
    h.proto.connected(h.now);
    h.feed(BANNER);
    h.feed(&fixture_block(
        "22-connect-during-boot",
        "Event: FullyBooted",
    ));
    assert!(
        !h.proto.is_fully_booted(),
        "an event before the login is not this session's answer"
    );
}
