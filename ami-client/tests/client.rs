//! The tokio client against a local TCP server that replays the real Asterisk captures.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ami_client::codec::{AmiCodec, Frame};
use ami_client::proto::md5_key;
use ami_client::{
    Action, AuthMethod, Client, ClientConfig, ConnectionState, Error, KnownEvent, RecvError,
    ResponseKind,
};
use common::{fixture_block, fixture_blocks, with_action_id};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;

const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";
const SECRET: &str = "hasecret";
const CHALLENGE: &str = "572601176";
const WAIT: Duration = Duration::from_secs(10);

/// How the fake Asterisk behaves.
#[derive(Clone, Copy, Default)]
struct Script {
    /// On the first connection, answer the first Ping and then send `Shutdown` and close.
    shutdown_after_first_ping: bool,
    /// Answer a `Ping` with an `X-Burst` header only after sending the originate events.
    burst_before_pong: bool,
}

#[derive(Clone, Default)]
struct Counters {
    connections: Arc<AtomicUsize>,
    logins: Arc<AtomicUsize>,
}

struct FakeAsterisk {
    addr: SocketAddr,
    counters: Counters,
}

impl FakeAsterisk {
    async fn start(script: Script) -> FakeAsterisk {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let counters = Counters::default();
        let c = counters.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let n = c.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, script, n, c.clone()));
            }
        });
        FakeAsterisk { addr, counters }
    }

    fn config(&self, secret: &str) -> ClientConfig {
        let mut config = ClientConfig::new(self.addr, "hasidecar", secret);
        config.server_name = "ha-a".into();
        config.ping_interval = Duration::from_secs(600);
        config.reconnect_backoff_min = Duration::from_millis(10);
        config.reconnect_backoff_max = Duration::from_millis(50);
        config
    }

    fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::SeqCst)
    }

    fn logins(&self) -> usize {
        self.counters.logins.load(Ordering::SeqCst)
    }
}

/// The real events that followed the `Originate` in capture 10, ActionIDs rewritten.
fn originate_events(action_id: &str) -> String {
    let blocks = fixture_blocks("10-originate-async-echo-events");
    let queued = blocks
        .iter()
        .position(|b| b.contains("Message: Originate successfully queued"))
        .expect("originate response");
    blocks[queued + 1..]
        .iter()
        .filter(|b| b.starts_with("Event:"))
        .map(|b| with_action_id(b, action_id))
        .collect()
}

async fn serve(stream: TcpStream, script: Script, connection: usize, counters: Counters) {
    let (reader, mut writer) = stream.into_split();
    if writer.write_all(BANNER).await.is_err() {
        return;
    }
    let mut actions = FramedRead::new(reader, AmiCodec::server());
    let mut pings = 0;
    while let Some(Ok(Frame::Message(action))) = actions.next().await {
        let id = action.action_id().unwrap_or_default().to_owned();
        let name = action
            .get("Action")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut out = String::new();
        let mut close = false;
        match name.as_str() {
            "challenge" => {
                out = with_action_id(
                    &fixture_block("03-challenge-md5-login", "Challenge: 572601176"),
                    &id,
                )
            }
            "login" => {
                let plain_ok = action.get("Secret") == Some(SECRET);
                let md5_ok = action.get("Key") == Some(md5_key(CHALLENGE, SECRET).as_str());
                if plain_ok || md5_ok {
                    counters.logins.fetch_add(1, Ordering::SeqCst);
                    out = with_action_id(
                        &fixture_block("01-banner-login-ok", "Message: Authentication accepted"),
                        &id,
                    );
                } else {
                    out = with_action_id(
                        &fixture_block("02-login-bad-secret", "Message: Authentication failed"),
                        &id,
                    );
                    close = true;
                }
            }
            "ping" => {
                pings += 1;
                if script.burst_before_pong && action.contains("X-Burst") {
                    out.push_str(&originate_events(""));
                }
                out.push_str(&with_action_id(
                    &fixture_block("04-ping", "Ping: Pong"),
                    &id,
                ));
                if script.shutdown_after_first_ping && connection == 0 && pings == 1 {
                    out.push_str(&fixture_block(
                        "19-shutdown-event-stop-now",
                        "Event: Shutdown",
                    ));
                    close = true;
                }
            }
            "originate" => {
                out = with_action_id(
                    &fixture_block(
                        "10-originate-async-echo-events",
                        "Message: Originate successfully queued",
                    ),
                    &id,
                );
                out.push_str(&originate_events(&id));
            }
            "command" => {
                out = with_action_id(
                    &fixture_block(
                        "08-command-core-show-version",
                        "ActionID: ha-cmd-channels-idle",
                    ),
                    &id,
                )
            }
            "coreshowchannels" => {
                out = fixture_blocks("07-coreshowchannels-calls-up")
                    .iter()
                    .filter(|b| b.contains("ActionID: ha-csc-1"))
                    .map(|b| with_action_id(b, &id))
                    .collect()
            }
            // A hung Asterisk: never answered.
            "silence" => continue,
            "logoff" => {
                out = with_action_id(&fixture_block("17-logoff", "Response: Goodbye"), &id);
                close = true;
            }
            _ => out = with_action_id(&fixture_block("14-unknown-action", "Response: Error"), &id),
        }
        if writer.write_all(out.as_bytes()).await.is_err() || close {
            return;
        }
    }
}

#[tokio::test]
async fn login_ok_ping_and_close() {
    let server = FakeAsterisk::start(Script::default()).await;
    let client = Client::connect(server.config(SECRET));
    client.wait_logged_in(WAIT).await.expect("logged in");
    assert_eq!(*client.state().borrow(), ConnectionState::LoggedIn);
    let pong = client.send(Action::ping()).await.expect("pong");
    assert_eq!(pong.kind(), &ResponseKind::Success);
    assert_eq!(pong.get("Ping"), Some("Pong"));
    let unknown = client
        .send(Action::new("NoSuchAction"))
        .await
        .expect("response");
    assert!(!unknown.is_success());
    assert!(unknown
        .message()
        .unwrap_or_default()
        .contains("Invalid/unknown command"));
    client.close().await;
    assert_eq!(*client.state().borrow(), ConnectionState::Closed);
    assert_eq!(client.send(Action::ping()).await, Err(Error::Closed));
    assert_eq!(server.logins(), 1);
}

/// CPU time this process has used (user + system), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and
    // 13th, in clock ticks (100 per second on Linux).
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// After an action times out and nothing else is in flight, the connection waits idle: it once
/// re-polled its elapsed timer about 3 million times a second until the next action, a whole
/// CPU at the daemon's real-time priority, which starved the host's Asterisk after a hang.
#[tokio::test]
async fn an_action_that_timed_out_leaves_the_connection_idle() {
    let server = FakeAsterisk::start(Script::default()).await;
    let mut config = server.config(SECRET);
    // No keepalive deadline either (astha's probes are their own keepalive).
    config.ping_interval = Duration::ZERO;
    let client = Client::connect(config);
    client.wait_logged_in(WAIT).await.expect("logged in");
    let unanswered = client
        .send(Action::new("Silence").timeout(Duration::from_millis(50)))
        .await;
    assert!(
        matches!(unanswered, Err(Error::Timeout { .. })),
        "{unanswered:?}"
    );
    let before = cpu_time();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let used = cpu_time() - before;
    assert!(
        used < Duration::from_millis(200),
        "{used:?} of CPU in 500 ms with nothing to do"
    );
    // And the connection still works.
    let pong = client.send(Action::ping()).await.expect("pong");
    assert!(pong.is_success());
}

#[tokio::test]
async fn md5_challenge_login() {
    let server = FakeAsterisk::start(Script::default()).await;
    let mut config = server.config(SECRET);
    config.auth = AuthMethod::Md5;
    let client = Client::connect(config);
    client
        .wait_logged_in(WAIT)
        .await
        .expect("logged in with MD5");
    assert_eq!(server.logins(), 1);
    client.close().await;
}

#[tokio::test(start_paused = true)]
async fn bad_secret_is_a_clear_error_without_reconnect_storm() {
    let server = FakeAsterisk::start(Script::default()).await;
    let mut config = server.config("wrong");
    config.auth_failure_backoff = Duration::from_secs(60);
    let client = Client::connect(config);
    let err = client.wait_logged_in(WAIT).await.expect_err("must fail");
    assert_eq!(
        err,
        Error::Authentication {
            message: "Authentication failed".into()
        }
    );
    assert!(matches!(
        &*client.state().borrow(),
        ConnectionState::AuthFailed { .. }
    ));
    assert!(matches!(
        client.send(Action::ping()).await,
        Err(Error::NotConnected { .. })
    ));
    // Paused clock: 59 virtual seconds pass instantly; no new connection in that time.
    let after_rejection = server.connections();
    assert!(after_rejection >= 1);
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(
        server.connections(),
        after_rejection,
        "no reconnect storm after a rejected login"
    );
    // After the auth-failure backoff it tries again (and fails again).
    tokio::time::timeout(Duration::from_secs(30), async {
        while server.connections() <= after_rejection {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("a retry after the backoff");
    assert_eq!(server.logins(), 0);
    client.close().await;
}

#[tokio::test]
async fn originate_then_its_originate_response() {
    let server = FakeAsterisk::start(Script::default()).await;
    let client = Client::connect(server.config(SECRET));
    let mut events = client.subscribe();
    client.wait_logged_in(WAIT).await.expect("logged in");
    let response = client
        .send(
            Action::new("Originate")
                .header("Channel", "Local/probe@ha-probe")
                .header("Application", "Echo")
                .header("Async", "true"),
        )
        .await
        .expect("response");
    assert!(response.is_success());
    assert_eq!(response.message(), Some("Originate successfully queued"));
    let id = response.action_id().expect("ActionID").to_owned();
    let outcome = tokio::time::timeout(WAIT, async {
        let mut names = Vec::new();
        loop {
            let event = events.recv().await.expect("event");
            assert_eq!(event.server(), "ha-a");
            names.push(event.name().to_owned());
            if let KnownEvent::OriginateResponse(o) = event.typed() {
                if o.action_id == Some(id.as_str()) {
                    return (o.success, o.reason, names);
                }
            }
        }
    })
    .await
    .expect("OriginateResponse in time");
    assert_eq!((outcome.0, outcome.1), (true, Some(4)));
    assert!(
        outcome.2.iter().any(|n| n == "Newchannel"),
        "{:?}",
        outcome.2
    );
    client.close().await;
}

#[tokio::test]
async fn command_with_multi_line_output() {
    let server = FakeAsterisk::start(Script::default()).await;
    let client = Client::connect(server.config(SECRET));
    client.wait_logged_in(WAIT).await.expect("logged in");
    let response = client
        .send(Action::command("core show channels"))
        .await
        .expect("response");
    let lines: Vec<&str> = response.output_lines().collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[1], "0 active channels");
    assert_eq!(lines[3], "65 calls processed");
    client.close().await;
}

#[tokio::test]
async fn list_action_collects_all_items() {
    let server = FakeAsterisk::start(Script::default()).await;
    let client = Client::connect(server.config(SECRET));
    client.wait_logged_in(WAIT).await.expect("logged in");
    let list = client
        .send_list(Action::new("CoreShowChannels"))
        .await
        .expect("list");
    assert_eq!(list.items.len(), 6);
    assert_eq!(list.announced_items(), Some(6));
    assert!(list.items.iter().all(|e| e.server() == "ha-a"));
    client.close().await;
}

#[tokio::test]
async fn shutdown_then_reconnect_and_relogin() {
    let server = FakeAsterisk::start(Script {
        shutdown_after_first_ping: true,
        ..Script::default()
    })
    .await;
    let client = Client::connect(server.config(SECRET));
    let mut events = client.subscribe();
    let mut state = client.state();
    client.wait_logged_in(WAIT).await.expect("logged in");
    state.borrow_and_update();
    client.send(Action::ping()).await.expect("pong");
    let shutdown = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("in time")
        .expect("event");
    assert!(matches!(
        shutdown.typed(),
        KnownEvent::Shutdown(s) if s.shutdown == Some("Cleanly")
    ));
    // The state goes through Disconnected (with the reason) and back to LoggedIn.
    let seen = tokio::time::timeout(WAIT, async {
        let mut seen = Vec::new();
        loop {
            if state.changed().await.is_err() {
                return seen;
            }
            let s = state.borrow_and_update().clone();
            let done = s == ConnectionState::LoggedIn;
            seen.push(s);
            if done {
                return seen;
            }
        }
    })
    .await
    .expect("relogin in time");
    assert!(
        seen.iter().any(
            |s| matches!(s, ConnectionState::Disconnected { reason } if reason.contains("closed"))
        ),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&ConnectionState::LoggedIn));
    assert_eq!(server.logins(), 2);
    assert_eq!(server.connections(), 2);
    client
        .send(Action::ping())
        .await
        .expect("works after relogin");
    client.close().await;
}

#[tokio::test]
async fn slow_subscriber_is_told_exactly_how_many_it_missed() {
    let server = FakeAsterisk::start(Script {
        burst_before_pong: true,
        ..Script::default()
    })
    .await;
    let mut config = server.config(SECRET);
    config.event_buffer = 10;
    let client = Client::connect(config);
    let mut events = client.subscribe();
    client.wait_logged_in(WAIT).await.expect("logged in");
    let total = originate_events("").matches("\r\n\r\n").count();
    assert!(total > 10);
    // The server sends `total` events, then the Pong: once the Pong is here, every event
    // was published while nobody was reading.
    client
        .send(Action::ping().header("X-Burst", "1"))
        .await
        .expect("pong");
    let mut received = 0u64;
    let mut missed = 0u64;
    while let Some(item) = events.try_recv() {
        match item {
            Ok(_) => received += 1,
            Err(RecvError::Lagged { missed: n }) => missed += n,
            Err(RecvError::Closed) => break,
        }
    }
    assert_eq!(received, 10);
    assert_eq!(received + missed, total as u64);
    client.close().await;
}
