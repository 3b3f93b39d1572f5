//! Alert events reaching their sinks: webhooks against a local HTTP server (real TCP), commands, retries with backoff, a hanging sink that delays nothing else, drop-oldest, secrets kept out of errors and logs.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use astha::alerts::{
    AlertEvent, CommandSinkConfig, DeliveryConfig, Dispatcher, EventKind, EventSource, Sink,
    WebhookConfig,
};
use astha::config::Secret;
use astha::status::StepStatus;
use common::webhook::{Answer, WebhookServer};
use common::Scratch;

/// Generous: only stops a broken run from hanging.
const WAIT: Duration = Duration::from_secs(10);

fn source() -> EventSource {
    EventSource {
        node: "pbx-b".into(),
        side: "b".into(),
        peer: "pbx-a".into(),
    }
}

fn takeover_event(reason: &str) -> AlertEvent {
    let mut event = AlertEvent::new(
        EventKind::Takeover,
        source(),
        8,
        "active",
        reason.into(),
        1_795_666_364_123,
    );
    event.outcome = Some("done".into());
    event.total_ms = Some(84.2);
    event.steps = vec![StepStatus {
        step: "relay engage".into(),
        ms: 12.5,
        outcome: "ok".into(),
    }];
    event.with_text()
}

fn webhook(name: &str, url: String, timeout: Duration) -> WebhookConfig {
    WebhookConfig {
        name: name.into(),
        shown_url: "http://127.0.0.1".into(),
        url: Secret::new(url),
        token: None,
        token_header: None,
        timeout,
        events: EventKind::SUBSCRIBABLE.to_vec(),
    }
}

fn sink(config: WebhookConfig) -> Sink {
    Sink::Webhook(astha::alerts::sink::WebhookSink::new(config).expect("HTTP client"))
}

fn delivery(initial_ms: u64, max_attempts: u32, queue: usize) -> DeliveryConfig {
    DeliveryConfig {
        max_attempts,
        retry_initial: Duration::from_millis(initial_ms),
        retry_max: Duration::from_millis(initial_ms * 8),
        queue,
    }
}

/// Polls `done` until it holds (or `WAIT` passes).
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_webhook_gets_the_event_as_json_with_its_token() {
    let server = WebhookServer::start(&[]).await;
    let mut bearer = webhook("ops", server.url("/hooks/T0/B0"), Duration::from_secs(5));
    bearer.token = Some(Secret::new("tok-123"));
    let mut keyed = webhook("keyed", server.url("/keyed"), Duration::from_secs(5));
    keyed.token = Some(Secret::new("key-456"));
    keyed.token_header = Some("X-Api-Key".into());
    let dispatcher = Dispatcher::start(vec![sink(bearer), sink(keyed)], delivery(100, 3, 10));
    dispatcher.dispatch(&takeover_event("peer silent on every link"));
    let got = server.wait_for(2, WAIT).await;
    let to = |path: &str| {
        got.iter()
            .find(|r| r.head.starts_with(&format!("POST {path} HTTP/1.1")))
            .unwrap_or_else(|| panic!("no POST {path}: {got:?}"))
            .clone()
    };
    let ops = to("/hooks/T0/B0");
    assert_eq!(ops.header("Authorization"), Some("Bearer tok-123"));
    assert_eq!(ops.header("Content-Type"), Some("application/json"));
    assert!(ops
        .header("User-Agent")
        .is_some_and(|u| u.starts_with("astha/")));
    let json = ops.json();
    assert_eq!(json["event"], "takeover");
    assert_eq!(json["node"], "pbx-b");
    assert_eq!(json["side"], "b");
    assert_eq!(json["term"], 8);
    assert_eq!(json["reason"], "peer silent on every link");
    assert_eq!(json["outcome"], "done");
    assert_eq!(json["total_ms"], 84.2);
    assert_eq!(json["steps"][0]["step"], "relay engage");
    assert_eq!(json["steps"][0]["ms"], 12.5);
    assert_eq!(json["time"], "2026-11-26T04:12:44.123Z");
    assert_eq!(json["dropped"], 0);
    assert_eq!(
        json["text"],
        "[astha pbx-b] takeover done: term 8 in 84 ms (peer silent on every link)"
    );
    let keyed = to("/keyed");
    assert_eq!(keyed.header("X-Api-Key"), Some("key-456"));
    assert_eq!(keyed.header("Authorization"), None);
    eventually("both counted as delivered", || {
        dispatcher.counts().iter().all(|c| c.delivered == 1)
    })
    .await;
}

#[tokio::test]
async fn a_refused_event_is_retried_with_growing_waits_until_it_gets_through() {
    let server = WebhookServer::start(&[Answer::Status(500), Answer::Status(503)]).await;
    let config = webhook("ops", server.url("/hook"), Duration::from_secs(5));
    let dispatcher = Dispatcher::start(vec![sink(config)], delivery(150, 5, 10));
    dispatcher.dispatch(&takeover_event("retry me"));
    let got = server.wait_for(3, WAIT).await;
    assert!(got.iter().all(|r| r.json()["reason"] == "retry me"));
    // Backoff: at least 150 ms, then at least 300 ms (the waits double).
    let first_wait = got[1].at - got[0].at;
    let second_wait = got[2].at - got[1].at;
    assert!(first_wait >= Duration::from_millis(150), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(300), "{second_wait:?}");
    eventually("delivered after two retries", || {
        let c = &dispatcher.counts()[0];
        (c.delivered, c.retried, c.failed) == (1, 2, 0)
    })
    .await;
    // No further attempt once delivered.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn a_hanging_webhook_delays_neither_the_caller_nor_the_other_sinks() {
    let hanging = WebhookServer::start(&[Answer::Hang]).await;
    let healthy = WebhookServer::start(&[]).await;
    let dispatcher = Dispatcher::start(
        vec![
            sink(webhook(
                "stuck",
                hanging.url("/hook"),
                Duration::from_secs(60),
            )),
            sink(webhook("ops", healthy.url("/hook"), Duration::from_secs(5))),
        ],
        delivery(100, 3, 10),
    );
    dispatcher.dispatch(&takeover_event("event 1"));
    hanging.wait_for(1, WAIT).await;
    // The stuck sink holds event 1 for a minute; handing it more events does not wait.
    let started = Instant::now();
    for n in 2..=4 {
        dispatcher.dispatch(&takeover_event(&format!("event {n}")));
    }
    // Microseconds in fact; the bound is only far below the stuck request's minute.
    let handing_over = started.elapsed();
    assert!(handing_over < Duration::from_secs(1), "{handing_over:?}");
    // The other sink gets all four, in order, while the stuck one still waits.
    let got = healthy.wait_for(4, WAIT).await;
    let reasons: Vec<String> = got
        .iter()
        .map(|r| r.json()["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(reasons, ["event 1", "event 2", "event 3", "event 4"]);
    assert_eq!(hanging.received().len(), 1);
    assert_eq!(dispatcher.counts()[0].delivered, 0);
}

#[tokio::test]
async fn a_sink_down_for_long_loses_the_oldest_events_and_says_how_many() {
    let server = WebhookServer::start(&[Answer::AfterGate]).await;
    let dispatcher = Dispatcher::start(
        vec![sink(webhook(
            "ops",
            server.url("/hook"),
            Duration::from_secs(30),
        ))],
        delivery(100, 3, 2),
    );
    dispatcher.dispatch(&takeover_event("event 1"));
    server.wait_for(1, WAIT).await;
    // Event 1 is in flight; the queue holds two: 2 and 3 are pushed out by 4 and 5.
    for n in 2..=5 {
        dispatcher.dispatch(&takeover_event(&format!("event {n}")));
    }
    assert_eq!(dispatcher.counts()[0].dropped, 2);
    server.open_gate();
    let got = server.wait_for(3, WAIT).await;
    let seen: Vec<(String, u64)> = got
        .iter()
        .map(|r| {
            let j = r.json();
            (
                j["reason"].as_str().unwrap_or_default().to_string(),
                j["dropped"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("event 1".to_string(), 0),
            ("event 4".to_string(), 2),
            ("event 5".to_string(), 0)
        ]
    );
    eventually("three delivered", || dispatcher.counts()[0].delivered == 3).await;
}

#[tokio::test]
async fn a_command_reads_the_event_on_stdin_and_a_failing_one_is_given_up() {
    let scratch = Scratch::new("alert-command");
    let log = scratch.0.join("events.jsonl");
    let script = format!(
        "cat >> '{0}'; echo >> '{0}'; echo \"$ASTHA_EVENT $ASTHA_NODE $ASTHA_TERM\" >> '{0}'",
        log.display()
    );
    let writer = CommandSinkConfig {
        name: "log".into(),
        command: vec!["sh".into(), "-c".into(), script],
        timeout: Duration::from_secs(5),
        events: vec![EventKind::Takeover],
    };
    let failing = CommandSinkConfig {
        name: "broken".into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            "echo 'no route to pager' >&2; exit 3".into(),
        ],
        timeout: Duration::from_secs(5),
        events: EventKind::SUBSCRIBABLE.to_vec(),
    };
    let dispatcher = Dispatcher::start(
        vec![
            Sink::Command(astha::alerts::sink::CommandSink::new(writer)),
            Sink::Command(astha::alerts::sink::CommandSink::new(failing)),
        ],
        delivery(50, 2, 10),
    );
    let mut cleared = AlertEvent::new(
        EventKind::AlertCleared,
        source(),
        8,
        "standby",
        "gone".into(),
        0,
    );
    cleared.text = "not for the log sink".into();
    dispatcher.dispatch(&cleared);
    dispatcher.dispatch(&takeover_event("by command"));
    eventually(
        "the log sink delivered, the broken one gave up twice",
        || {
            let c = dispatcher.counts();
            c[0].delivered == 1 && c[1].failed == 2 && c[1].retried == 2
        },
    )
    .await;
    let text = std::fs::read_to_string(&log).expect("the command wrote its log");
    let (json, env) = text.trim_end().rsplit_once('\n').unwrap_or((&text, ""));
    let json: serde_json::Value = serde_json::from_str(json).expect("stdin was the JSON event");
    assert_eq!(json["event"], "takeover");
    assert_eq!(json["reason"], "by command");
    // Only the event kinds it subscribed to.
    assert!(!text.contains("alert_cleared"), "{text}");
    assert_eq!(env.trim(), "takeover pbx-b 8");
}

/// Log lines written while a test runs (the runtime is single-threaded: the sinks' tasks log
/// on this thread).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn webhook_secrets_stay_out_of_errors_and_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // A closed port, and a receiver that refuses: the two ways an error could echo the URL.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let refusing = WebhookServer::start(&[Answer::Status(403); 3]).await;
    let mut sinks = Vec::new();
    for url in [
        format!("http://127.0.0.1:{closed}/services/SECRETPATH?token=SECRETQUERY"),
        refusing.url("/services/SECRETPATH?token=SECRETQUERY"),
    ] {
        let mut config = webhook("ops", url, Duration::from_secs(2));
        config.token = Some(Secret::new("SECRETTOKEN"));
        sinks.push(sink(config));
    }
    let event = takeover_event("secrets");
    for s in &sinks {
        let err = s
            .deliver(&event)
            .await
            .expect_err("cannot deliver")
            .to_string();
        assert!(!err.contains("SECRET"), "{err}");
        assert!(!s.describe().contains("SECRET"), "{}", s.describe());
    }
    let dispatcher = Dispatcher::start(sinks, delivery(20, 2, 10));
    dispatcher.dispatch(&event);
    eventually("both given up", || {
        dispatcher.counts().iter().all(|c| c.failed == 1)
    })
    .await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap_or_default();
    assert!(logs.contains("alert event given up"), "{logs}");
    assert!(logs.contains("answered HTTP 403"), "{logs}");
    assert!(!logs.contains("SECRET"), "{logs}");
}
