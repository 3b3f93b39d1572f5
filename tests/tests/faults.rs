//! What a client observes for each fault mode of the emulator, and for the lifecycle events
//! (restart, stop, boot, span alarms, UserEvent injection).
//!
//! Absence of an answer can only be shown over a window: those checks wait `QUIET` for nothing
//! to arrive, then show that the answer does arrive once the fault is cleared.

mod support;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use astha_tests::fake_asterisk::{FakeAsterisk, FakeConfig, Fault, RunState, SpanConfig};
use support::{eventually, get, RawAmi, WAIT};
use tokio::net::{TcpStream, UdpSocket};

/// How long "nothing is answered" is watched for.
const QUIET: Duration = Duration::from_millis(300);

async fn start() -> FakeAsterisk {
    FakeAsterisk::start(FakeConfig::instance_a().fast(Duration::from_millis(40)))
        .await
        .expect("emulator starts")
}

async fn ping(ami: &mut RawAmi, id: &str) -> support::Msg {
    ami.send(&[("Action", "Ping"), ("ActionID", id)])
        .await
        .expect("send Ping");
    ami.response(id).await
}

/// Waits until a TCP connect to `addr` is refused.
async fn wait_refused(addr: std::net::SocketAddr) {
    eventually(WAIT, "connections refused", || async move {
        matches!(TcpStream::connect(addr).await, Err(e) if e.kind() == ErrorKind::ConnectionRefused)
    })
    .await;
}

/// Connects again until it works (after a restart or a cleared crash).
async fn reconnect(addr: std::net::SocketAddr) -> RawAmi {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(ami) = RawAmi::connect(addr).await {
            return ami;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cannot reconnect to {addr}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn sip_options(
    socket: &UdpSocket,
    to: std::net::SocketAddr,
    timeout: Duration,
) -> Option<String> {
    let request = String::from_utf8(support::fixture(
        "sip/01-options-endpoint-exten-200.request.txt",
    ))
    .expect("fixture is text");
    socket
        .send_to(request.as_bytes(), to)
        .await
        .expect("send OPTIONS");
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(timeout, socket.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_closes_everything_and_clear_starts_fresh() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("on")).await;
    let before = ami.received.len();
    asterisk.set_fault(Fault::Crash).await;
    // The connection just ends: no Shutdown event, no Goodbye.
    assert!(
        ami.read_to_eof(WAIT).await,
        "connection not closed by the crash"
    );
    let after = String::from_utf8_lossy(&ami.received[before..]).into_owned();
    assert!(
        !after.contains("Shutdown"),
        "a crash must not say goodbye: {after}"
    );
    wait_refused(asterisk.ami_addr()).await;
    let http = asterisk.http_addr().expect("http enabled");
    wait_refused(http).await;
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let sip = asterisk.sip_addr().expect("sip enabled");
    assert!(
        sip_options(&udp, sip, QUIET).await.is_none(),
        "SIP answered after a crash"
    );
    assert_eq!(asterisk.status().state, RunState::Crashed);

    asterisk.clear_faults().await;
    let mut ami = reconnect(asterisk.ami_addr()).await;
    ami.send(&[
        ("Action", "Login"),
        ("ActionID", "l"),
        ("Username", "hasidecar"),
        ("Secret", "hasecret"),
    ])
    .await
    .expect("send Login");
    ami.response("l").await;
    let booted = ami
        .wait_for(WAIT, "FullyBooted", |m| {
            get(m, "Event") == Some("FullyBooted")
        })
        .await;
    assert_eq!(
        get(&booted, "Uptime"),
        Some("0"),
        "a crash restarts the clock"
    );
    assert!(
        sip_options(&udp, sip, WAIT).await.is_some(),
        "SIP back after clear"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_accepts_connections_but_answers_nothing_until_cleared() {
    let asterisk = start().await;
    let mut old = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    asterisk.set_fault(Fault::Hang).await;
    old.send(&[("Action", "Ping"), ("ActionID", "stuck")])
        .await
        .expect("send Ping");
    assert!(
        old.read_until_count(3, QUIET).await.is_err(),
        "a hung Asterisk answered a Ping"
    );
    // New connections are accepted (the kernel does it) but get no banner.
    let mut fresh = RawAmi::connect(asterisk.ami_addr())
        .await
        .expect("connect while hung");
    assert!(
        fresh.read_until_count(1, QUIET).await.is_err(),
        "a hung Asterisk sent a banner"
    );
    assert_eq!(asterisk.status().faults.describe(), "hang");

    asterisk.clear_faults().await;
    let pong = old.response("stuck").await;
    assert_eq!(get(&pong, "Ping"), Some("Pong"));
    fresh
        .read_until_count(1, WAIT)
        .await
        .expect("banner after the hang");
    assert!(fresh
        .transcript()
        .banner
        .starts_with("Asterisk Call Manager/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_deadlock_answers_ping_but_not_core_actions() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    asterisk.set_fault(Fault::CoreDeadlock).await;
    ami.send(&[("Action", "CoreStatus"), ("ActionID", "core")])
        .await
        .expect("send CoreStatus");
    ami.send(&[
        ("Action", "Command"),
        ("ActionID", "cmd"),
        ("Command", "core show channels count"),
    ])
    .await
    .expect("send Command");
    // Ping after them is still answered, and is the only thing answered.
    let pong = ping(&mut ami, "alive").await;
    assert_eq!(get(&pong, "Ping"), Some("Pong"));
    let t = ami.transcript();
    assert!(
        t.messages
            .iter()
            .all(|m| get(m, "ActionID") != Some("core") && get(m, "ActionID") != Some("cmd")),
        "core actions answered during a deadlock"
    );
    assert!(ami
        .read_until_count(t.messages.len() + 2, QUIET)
        .await
        .is_err());
    // A fresh connection can still log in and Ping.
    let mut other = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    ping(&mut other, "other").await;

    asterisk.clear_faults().await;
    let status = ami.response("core").await;
    assert_eq!(get(&status, "Response"), Some("Success"));
    let cmd = ami.response("cmd").await;
    assert_eq!(get(&cmd, "Message"), Some("Command output follows"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_delays_every_answer() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    let delay = Duration::from_millis(250);
    asterisk.set_fault(Fault::Slow(delay)).await;
    let started = Instant::now();
    ping(&mut ami, "slow").await;
    assert!(
        started.elapsed() >= delay,
        "Ping answered faster than the slow fault"
    );
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let started = Instant::now();
    let sip = asterisk.sip_addr().expect("sip enabled");
    assert!(sip_options(&udp, sip, WAIT).await.is_some());
    assert!(
        started.elapsed() >= delay,
        "SIP answered faster than the slow fault"
    );
    asterisk.clear_faults().await;
    assert_eq!(asterisk.status().faults.describe(), "none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originate_fail_breaks_the_call_path_while_ami_works() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("on")).await;
    asterisk.set_fault(Fault::OriginateFail).await;
    ami.send(&[
        ("Action", "Originate"),
        ("ActionID", "probe"),
        ("Channel", "Local/probe@ha-probe"),
        ("Application", "Echo"),
        ("Async", "true"),
    ])
    .await
    .expect("send Originate");
    let queued = ami.response("probe").await;
    assert_eq!(
        get(&queued, "Message"),
        Some("Originate successfully queued")
    );
    let result = ami
        .wait_for(WAIT, "OriginateResponse", |m| {
            get(m, "Event") == Some("OriginateResponse")
        })
        .await;
    assert_eq!(get(&result, "Response"), Some("Failure"));
    assert_eq!(get(&result, "Reason"), Some("0"));
    assert_eq!(get(&result, "Uniqueid"), Some("<unknown>"));
    ami.send(&[
        ("Action", "Originate"),
        ("ActionID", "sync"),
        ("Channel", "Local/probe@ha-probe"),
        ("Application", "Echo"),
    ])
    .await
    .expect("send Originate");
    let failed = ami.response("sync").await;
    assert_eq!(get(&failed, "Message"), Some("Originate failed"));
    ping(&mut ami, "fine").await;

    asterisk.clear_faults().await;
    ami.send(&[
        ("Action", "Originate"),
        ("ActionID", "again"),
        ("Channel", "Local/probe@ha-probe"),
        ("Application", "Echo"),
        ("Async", "true"),
    ])
    .await
    .expect("send Originate");
    let ok = ami
        .wait_for(WAIT, "successful OriginateResponse", |m| {
            get(m, "Event") == Some("OriginateResponse") && get(m, "ActionID") == Some("again")
        })
        .await;
    assert_eq!(get(&ok, "Response"), Some("Success"));
    assert_eq!(get(&ok, "Reason"), Some("4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_down_drops_options_while_ami_works() {
    let asterisk = start().await;
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let sip = asterisk.sip_addr().expect("sip enabled");
    assert!(sip_options(&udp, sip, WAIT).await.is_some());
    asterisk.set_fault(Fault::SipDown).await;
    assert!(
        sip_options(&udp, sip, QUIET).await.is_none(),
        "SIP answered while down"
    );
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    ping(&mut ami, "ami-ok").await;
    asterisk.clear_faults().await;
    // A late answer to the dropped request cannot arrive: it was dropped, not delayed.
    assert!(sip_options(&udp, sip, WAIT)
        .await
        .is_some_and(|r| r.starts_with("SIP/2.0 200 OK")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_rejects_new_connections_but_keeps_old_ones() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    asterisk.set_fault(Fault::Refuse).await;
    let err = TcpStream::connect(asterisk.ami_addr())
        .await
        .expect_err("connect must be refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    ping(&mut ami, "still-here").await;
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let sip = asterisk.sip_addr().expect("sip enabled");
    assert!(
        sip_options(&udp, sip, WAIT).await.is_some(),
        "SIP is not TCP: still answers"
    );
    asterisk.clear_faults().await;
    RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_sends_shutdown_goes_down_and_boots_again() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("on")).await;
    ami.wait_for(WAIT, "SuccessfulAuth", |m| {
        get(m, "Event") == Some("SuccessfulAuth")
    })
    .await;
    let restart = {
        let addr = asterisk.ami_addr();
        let handle = tokio::spawn(async move {
            // While down, connections are refused.
            wait_refused(addr).await;
        });
        asterisk.restart(Duration::from_millis(300)).await;
        handle
    };
    restart.await.expect("refused while down");
    let shutdown = ami
        .wait_for(WAIT, "Shutdown", |m| get(m, "Event") == Some("Shutdown"))
        .await;
    assert_eq!(get(&shutdown, "Restart"), Some("True"));
    assert_eq!(get(&shutdown, "Shutdown"), Some("Cleanly"));
    assert!(ami.read_to_eof(WAIT).await);
    let mut again = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", None).await;
    let booted = again
        .wait_for(WAIT, "FullyBooted", |m| {
            get(m, "Event") == Some("FullyBooted")
        })
        .await;
    assert_eq!(get(&booted, "Status"), Some("Fully Booted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_core_restart_over_ami_restarts() {
    let mut config = FakeConfig::instance_b().fast(Duration::from_millis(40));
    config.restart_downtime = Duration::from_millis(50);
    let asterisk = FakeAsterisk::start(config).await.expect("starts");
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("on")).await;
    ami.send(&[
        ("Action", "Command"),
        ("ActionID", "rs"),
        ("Command", "core restart now"),
    ])
    .await
    .expect("send Command");
    ami.response("rs").await;
    let shutdown = ami
        .wait_for(WAIT, "Shutdown", |m| get(m, "Event") == Some("Shutdown"))
        .await;
    assert_eq!(get(&shutdown, "SystemName"), Some("ha-b"));
    assert_eq!(get(&shutdown, "Restart"), Some("True"));
    assert!(ami.read_to_eof(WAIT).await);
    let mut again = reconnect(asterisk.ami_addr()).await;
    again
        .read_until_count(1, WAIT)
        .await
        .expect("banner after restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_says_shutdown_and_stays_down() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("on")).await;
    asterisk.stop().await;
    let shutdown = ami
        .wait_for(WAIT, "Shutdown", |m| get(m, "Event") == Some("Shutdown"))
        .await;
    assert_eq!(get(&shutdown, "Restart"), Some("False"));
    assert!(ami.read_to_eof(WAIT).await);
    wait_refused(asterisk.ami_addr()).await;
    assert_eq!(asterisk.status().state, RunState::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_alarm_events_and_dahdi_show_status() {
    let config = FakeConfig::instance_a()
        .fast(Duration::from_millis(40))
        .with_span(SpanConfig::new(1, 1..=2));
    let asterisk = FakeAsterisk::start(config).await.expect("starts");
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("on")).await;
    ami.wait_for(WAIT, "SuccessfulAuth", |m| {
        get(m, "Event") == Some("SuccessfulAuth")
    })
    .await;
    asterisk.span_alarm(1, true).expect("span 1 exists");
    for chan in ["1", "2"] {
        let alarm = ami.next_message(WAIT).await.expect("Alarm event");
        assert_eq!(get(&alarm, "Event"), Some("Alarm"));
        assert_eq!(get(&alarm, "Privilege"), Some("system,all"));
        assert_eq!(get(&alarm, "DAHDIChannel"), Some(chan));
        assert_eq!(get(&alarm, "Alarm"), Some("Red Alarm"));
    }
    let span = ami.next_message(WAIT).await.expect("SpanAlarm event");
    assert_eq!(get(&span, "Event"), Some("SpanAlarm"));
    assert_eq!(get(&span, "Span"), Some("1"));
    ami.send(&[("Action", "DAHDIShowStatus"), ("ActionID", "ds")])
        .await
        .expect("send DAHDIShowStatus");
    ami.response("ds").await;
    let item = ami.next_message(WAIT).await.expect("list item");
    assert_eq!(get(&item, "Event"), Some("DAHDIShowStatus"));
    assert_eq!(get(&item, "Alarms"), Some("RED"));
    let done = ami.next_message(WAIT).await.expect("list end");
    assert_eq!(get(&done, "Event"), Some("DAHDIShowStatusComplete"));
    assert_eq!(get(&done, "ListItems"), Some("1"));
    assert_eq!(asterisk.status().spans_in_alarm, [1]);

    asterisk.span_alarm(1, false).expect("span 1 exists");
    let names: Vec<String> = [
        ami.next_message(WAIT).await.expect("event"),
        ami.next_message(WAIT).await.expect("event"),
        ami.next_message(WAIT).await.expect("event"),
    ]
    .iter()
    .map(|m| get(m, "Event").unwrap_or("").to_owned())
    .collect();
    assert_eq!(names, ["AlarmClear", "AlarmClear", "SpanAlarmClear"]);
    assert!(asterisk.span_alarm(9, true).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_user_event_reaches_event_sessions_only() {
    let asterisk = start().await;
    let mut on = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("on")).await;
    let mut off = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    on.wait_for(WAIT, "SuccessfulAuth", |m| {
        get(m, "Event") == Some("SuccessfulAuth")
    })
    .await;
    asterisk.inject_user_event("HAFailover", &[("Reason", "manual"), ("Node", "ha-a")]);
    let ev = on
        .wait_for(WAIT, "UserEvent", |m| get(m, "Event") == Some("UserEvent"))
        .await;
    assert_eq!(get(&ev, "Privilege"), Some("user,all"));
    assert_eq!(get(&ev, "SystemName"), Some("ha-a"));
    assert_eq!(get(&ev, "UserEvent"), Some("HAFailover"));
    assert_eq!(get(&ev, "Reason"), Some("manual"));
    assert_eq!(get(&ev, "Context"), Some("ha-admin"));
    // The events-off session sees nothing but its own answers.
    ping(&mut off, "p").await;
    assert!(off
        .transcript()
        .messages
        .iter()
        .all(|m| get(m, "Event").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_privilege_user_gets_only_its_events() {
    // The manager.conf user of dialplan/manager_astha.conf.
    let user = astha_tests::fake_asterisk::AmiUser::with_permissions(
        "astha",
        "s3cret",
        "system,call,user,reporting",
        "originate,reporting",
    )
    .with_event_filter(&["FullyBooted", "OriginateResponse", "Hangup", "UserEvent"]);
    let config = FakeConfig::instance_a()
        .fast(Duration::from_millis(20))
        .with_user(user);
    let asterisk = FakeAsterisk::start(config).await.expect("starts");
    let mut ami = RawAmi::login(asterisk.ami_addr(), "astha", "s3cret", None).await;
    ami.send(&[("Action", "CoreStatus"), ("ActionID", "cs")])
        .await
        .expect("send");
    assert_eq!(get(&ami.response("cs").await, "Response"), Some("Success"));
    ami.send(&[
        ("Action", "Command"),
        ("ActionID", "cmd"),
        ("Command", "core show version"),
    ])
    .await
    .expect("send");
    assert_eq!(
        get(&ami.response("cmd").await, "Message"),
        Some("Permission denied")
    );
    ami.send(&[
        ("Action", "Originate"),
        ("ActionID", "o"),
        ("Channel", "Local/probe@ha-probe"),
        ("Application", "Echo"),
        ("Async", "true"),
    ])
    .await
    .expect("send");
    ami.response("o").await;
    let hangups = [
        ami.wait_for(WAIT, "Hangup", |m| get(m, "Event") == Some("Hangup"))
            .await,
        ami.wait_for(WAIT, "Hangup", |m| get(m, "Event") == Some("Hangup"))
            .await,
    ];
    assert!(hangups.iter().all(|h| get(h, "Cause") == Some("16")));
    let seen: Vec<String> = ami
        .transcript()
        .messages
        .iter()
        .filter_map(|m| get(m, "Event").map(str::to_owned))
        .collect();
    // `Event: Hangup` lets HangupRequest through as well, as on a real Asterisk (fixture 24);
    // the UserEvent is the probe's marker.
    assert!(
        seen.iter().all(|e| [
            "FullyBooted",
            "OriginateResponse",
            "Hangup",
            "HangupRequest",
            "UserEvent"
        ]
        .contains(&e.as_str())),
        "event filter not applied: {seen:?}"
    );
    assert!(seen.contains(&"OriginateResponse".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_core_deadlock_leaves_the_session_stuck_behind_its_core_action() {
    let asterisk = start().await;
    let mut stuck = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    let mut pinger = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    asterisk.set_fault(Fault::CoreDeadlockStrict).await;
    assert_eq!(asterisk.status().faults.describe(), "deadlock-strict");
    stuck
        .send(&[("Action", "CoreShowChannels"), ("ActionID", "csc")])
        .await
        .expect("send");
    stuck
        .send(&[("Action", "Ping"), ("ActionID", "behind")])
        .await
        .expect("send");
    let before = stuck.transcript().messages.len();
    assert!(
        stuck.read_until_count(before + 2, QUIET).await.is_err(),
        "a session stuck behind a core action answered"
    );
    // Another session that touches no core action still answers Ping.
    ping(&mut pinger, "free").await;
    asterisk.clear_faults().await;
    stuck.response("csc").await;
    stuck.response("behind").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_a_hung_instance_kills_it_and_comes_back_healthy() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("on")).await;
    asterisk.set_fault(Fault::Hang).await;
    asterisk.restart(Duration::from_millis(50)).await;
    assert!(
        ami.read_to_eof(WAIT).await,
        "hung connection not dropped by the restart"
    );
    assert!(
        !String::from_utf8_lossy(&ami.received).contains("Event: Shutdown"),
        "a hung process cannot send Shutdown"
    );
    assert_eq!(asterisk.status().faults.describe(), "none");
    let mut again = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    ping(&mut again, "healthy").await;
}
