//! Relay drivers against simulated devices on real pseudo-terminals and a real local HTTP server.

use std::path::Path;
use std::time::Duration;

use astha::actuate::config::{
    BerofosConfig, LcusConfig, LineCommand, LineProfileConfig, LineReadBack, NumatoConfig,
    ReplyMatch,
};
use astha::actuate::relay::{
    BerofosRelay, LcusRelay, LineProfileRelay, NumatoRelay, Relay, RelayError, RelayHandle,
};
use astha::side::Side;
use astha_tests::relay_sim::{
    Behaviour, BerofosSim, LcusProtocol, LineProtocol, NumatoProtocol, PtyRelaySim,
};

fn numato(path: &Path, channels: Vec<u8>) -> NumatoRelay {
    NumatoRelay::new(NumatoConfig {
        path: path.to_path_buf(),
        baud: 19200,
        timeout_ms: 300,
        channels,
        energized_side: Side::B,
        verify: true,
    })
    .unwrap()
}

#[test]
fn numato_switches_reads_back_and_identifies() {
    let sim = PtyRelaySim::start(NumatoProtocol::default()).unwrap();
    let mut relay = numato(sim.path(), vec![0, 1]);
    assert_eq!(relay.read_side().unwrap(), Some(Side::A));
    relay.select(Side::B).unwrap();
    assert!(sim.state().coils[0] && sim.state().coils[1]);
    assert_eq!(relay.read_side().unwrap(), Some(Side::B));
    relay.select(Side::B).unwrap(); // idempotent
    relay.select(Side::A).unwrap();
    assert!(!sim.state().coils[0]);
    assert_eq!(relay.identify().unwrap(), "numato firmware 00000008");
    assert!(sim.state().commands.contains(&"relay on 1".to_owned()));
}

#[test]
fn numato_channels_that_disagree_are_an_error() {
    let sim = PtyRelaySim::start(NumatoProtocol::default()).unwrap();
    sim.state().coils[1] = true;
    let err = numato(sim.path(), vec![0, 1]).read_side().unwrap_err();
    assert!(matches!(err, RelayError::Inconsistent { .. }), "{err}");
}

#[test]
fn numato_garbage_reply_is_a_typed_error() {
    let sim = PtyRelaySim::start(NumatoProtocol::default()).unwrap();
    sim.set_behaviour(Behaviour::Garbage);
    let err = numato(sim.path(), vec![0]).select(Side::B).unwrap_err();
    assert!(matches!(err, RelayError::UnexpectedReply { .. }), "{err}");
    println!("garbage -> {err}");
}

#[test]
fn numato_silence_is_a_timeout() {
    let sim = PtyRelaySim::start(NumatoProtocol::default()).unwrap();
    sim.set_behaviour(Behaviour::Silent);
    let err = numato(sim.path(), vec![0]).read_side().unwrap_err();
    assert!(matches!(err, RelayError::Timeout { .. }), "{err}");
    println!("silence -> {err}");
}

#[test]
fn numato_unplugged_then_missing_device_are_typed_errors() {
    let mut sim = PtyRelaySim::start(NumatoProtocol::default()).unwrap();
    let mut relay = numato(sim.path(), vec![0]);
    relay.select(Side::B).unwrap();
    sim.unplug();
    let err = relay.read_side().unwrap_err();
    assert!(
        matches!(err, RelayError::Unplugged { .. } | RelayError::Io { .. }),
        "{err}"
    );
    println!("unplug -> {err}");
    // The driver dropped the port; reopening a vanished device says so.
    let err = relay.read_side().unwrap_err();
    assert!(matches!(err, RelayError::Open { .. }), "{err}");
    let err = numato(Path::new("/dev/astha-no-such-relay"), vec![0])
        .identify()
        .unwrap_err();
    assert!(matches!(err, RelayError::Open { .. }), "{err}");
}

#[test]
fn lcus_sends_documented_frames_and_cannot_read_back() {
    let sim = PtyRelaySim::start(LcusProtocol::default()).unwrap();
    let mut relay = LcusRelay::new(LcusConfig {
        path: sim.path().to_path_buf(),
        baud: 9600,
        timeout_ms: 300,
        channels: vec![1, 2],
        energized_side: Side::B,
    })
    .unwrap();
    relay.select(Side::B).unwrap();
    relay.select(Side::A).unwrap();
    assert_eq!(relay.read_side().unwrap(), None);
    // The frames arrive asynchronously on the simulator thread: poll for them.
    let want = [
        "[A0, 01, 01, A2]",
        "[A0, 02, 01, A3]",
        "[A0, 01, 00, A1]",
        "[A0, 02, 00, A2]",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sim.state().commands.len() < want.len() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(sim.state().commands, want);
    assert!(sim.state().rejected.is_empty());
}

#[test]
fn lcus_unplugged_is_an_error_not_a_hang() {
    let mut sim = PtyRelaySim::start(LcusProtocol::default()).unwrap();
    let mut relay = LcusRelay::new(LcusConfig {
        path: sim.path().to_path_buf(),
        baud: 9600,
        timeout_ms: 300,
        channels: vec![1],
        energized_side: Side::B,
    })
    .unwrap();
    relay.select(Side::B).unwrap();
    sim.unplug();
    let first = relay.select(Side::A);
    // A write into a hung-up pty may still be buffered once; the next must fail.
    let err = match first {
        Err(e) => e,
        Ok(()) => relay.select(Side::A).unwrap_err(),
    };
    println!("lcus unplug -> {err}");
}

fn line_profile(path: &Path, echo: bool) -> LineProfileRelay {
    let exact = |s: &str| Some(ReplyMatch::Exact(s.into()));
    LineProfileRelay::new(LineProfileConfig {
        path: path.to_path_buf(),
        baud: 9600,
        timeout_ms: 300,
        line_ending: "\r\n".into(),
        echo,
        select_a: LineCommand {
            send: "SWITCH A".into(),
            expect: exact("OK"),
        },
        select_b: LineCommand {
            send: "SWITCH B".into(),
            expect: exact("OK"),
        },
        read_back: Some(LineReadBack {
            send: "STATUS?".into(),
            side_a: ReplyMatch::Regex("^SIDE A$".into()),
            side_b: ReplyMatch::Regex("^SIDE B$".into()),
        }),
        kick_watchdog: Some(LineCommand {
            send: "WDT".into(),
            expect: exact("OK"),
        }),
        identify: None,
        error_reply: Some(ReplyMatch::Regex("^ERR".into())),
    })
    .unwrap()
}

#[test]
fn line_profile_switches_verifies_and_kicks_with_and_without_echo() {
    for echo in [false, true] {
        let sim = PtyRelaySim::start(LineProtocol::new(echo)).unwrap();
        let mut relay = line_profile(sim.path(), echo);
        relay.select(Side::B).unwrap();
        assert_eq!(relay.read_side().unwrap(), Some(Side::B));
        relay.select(Side::A).unwrap();
        assert_eq!(relay.read_side().unwrap(), Some(Side::A));
        relay.kick_watchdog().unwrap();
        assert_eq!(sim.state().watchdog_kicks, 1);
    }
}

#[test]
fn line_profile_error_garbage_and_silence_are_typed() {
    let sim = PtyRelaySim::start(LineProtocol::new(false)).unwrap();
    let mut bad = LineProfileRelay::new(LineProfileConfig {
        select_b: LineCommand {
            send: "SWITCH Z".into(),
            expect: Some(ReplyMatch::Exact("OK".into())),
        },
        ..config_of(sim.path())
    })
    .unwrap();
    let err = bad.select(Side::B).unwrap_err();
    assert!(matches!(err, RelayError::DeviceError { .. }), "{err}");
    // The port is opened exclusively (as on real hardware): release it before reopening.
    drop(bad);

    let mut relay = line_profile(sim.path(), false);
    sim.set_behaviour(Behaviour::Garbage);
    let err = relay.select(Side::B).unwrap_err();
    assert!(matches!(err, RelayError::UnexpectedReply { .. }), "{err}");
    sim.set_behaviour(Behaviour::Silent);
    let err = relay.select(Side::B).unwrap_err();
    assert!(matches!(err, RelayError::Timeout { .. }), "{err}");
}

#[test]
fn line_profile_rejects_a_bad_regex_at_construction() {
    let mut cfg = config_of(Path::new("/dev/null"));
    cfg.error_reply = Some(ReplyMatch::Regex("(unclosed".into()));
    let err = LineProfileRelay::new(cfg).unwrap_err();
    assert!(matches!(err, RelayError::Config(_)), "{err}");
}

fn config_of(path: &Path) -> LineProfileConfig {
    LineProfileConfig {
        path: path.to_path_buf(),
        baud: 9600,
        timeout_ms: 300,
        line_ending: "\r\n".into(),
        echo: false,
        select_a: LineCommand {
            send: "SWITCH A".into(),
            expect: Some(ReplyMatch::Exact("OK".into())),
        },
        select_b: LineCommand {
            send: "SWITCH B".into(),
            expect: Some(ReplyMatch::Exact("OK".into())),
        },
        read_back: None,
        kick_watchdog: None,
        identify: None,
        error_reply: Some(ReplyMatch::Regex("^ERR".into())),
    }
}

fn berofos(sim: &BerofosSim, password: &str) -> BerofosRelay {
    BerofosRelay::new(BerofosConfig {
        host: "127.0.0.1".into(),
        port: sim.addr().port(),
        username: Some("admin".into()),
        password: Some(password.into()),
        timeout_ms: 500,
        side_a_mode: 1,
        set_default_mode: true,
        watchdog_interval_s: Some(30),
        scenario: Some(1),
    })
    .unwrap()
}

#[test]
fn berofos_switches_stores_default_arms_and_kicks_watchdog() {
    let sim = BerofosSim::start(Some(("admin", "berofos"))).unwrap();
    let mut relay = berofos(&sim, "berofos");
    assert_eq!(relay.read_side().unwrap(), Some(Side::A));
    relay.select(Side::B).unwrap();
    assert_eq!(sim.mode().as_deref(), Some("0"));
    {
        let st = sim.state();
        assert_eq!(st.values["1_rm"], "0", "modedef follows the position");
        assert_eq!(st.values["1_sz"], "1", "scenario enforced");
        assert_eq!(st.values["1_p0"], "1", "unchanged group keys are sent back");
        assert_eq!(st.values["2_wintv"], "30");
        assert_eq!(st.values["2_wen"], "1");
    }
    relay.kick_watchdog().unwrap();
    assert_eq!(sim.state().watchdog_kicks, 1);
    relay.select(Side::A).unwrap();
    assert_eq!(sim.mode().as_deref(), Some("1"));
    assert!(relay
        .identify()
        .unwrap()
        .starts_with("berofos at 127.0.0.1"));
}

#[test]
fn berofos_wrong_password_garbage_and_silence_are_typed() {
    let sim = BerofosSim::start(Some(("admin", "berofos"))).unwrap();
    let err = berofos(&sim, "wrong").read_side().unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let mut relay = berofos(&sim, "berofos");
    sim.set_behaviour(Behaviour::Garbage);
    let err = relay.read_side().unwrap_err();
    assert!(matches!(err, RelayError::Http { .. }), "{err}");
    sim.set_behaviour(Behaviour::Silent);
    let err = relay.read_side().unwrap_err();
    assert!(
        matches!(err, RelayError::Http { .. }) && err.to_string().contains("500 ms"),
        "{err}"
    );
    // Nothing listening at all.
    drop(sim);
    let mut gone = BerofosRelay::new(BerofosConfig {
        host: "127.0.0.1".into(),
        port: 1,
        username: None,
        password: None,
        timeout_ms: 500,
        side_a_mode: 1,
        set_default_mode: false,
        watchdog_interval_s: None,
        scenario: None,
    })
    .unwrap();
    let err = gone.select(Side::A).unwrap_err();
    assert!(matches!(err, RelayError::Http { .. }), "{err}");
}

#[tokio::test]
async fn relay_handle_runs_off_the_runtime_and_enforces_its_deadline() {
    let sim = PtyRelaySim::start(NumatoProtocol::default()).unwrap();
    let handle = RelayHandle::new(Box::new(numato(sim.path(), vec![0])));
    handle
        .select(Side::B, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(
        handle.read_side(Duration::from_secs(2)).await.unwrap(),
        Some(Side::B)
    );
    sim.set_behaviour(Behaviour::Silent);
    // The device timeout is 300 ms; a 50 ms deadline fires first.
    let err = handle
        .read_side(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, RelayError::Deadline(_)), "{err}");
}

#[tokio::test]
async fn the_watchdog_kicker_kicks_until_aborted() {
    let sim = BerofosSim::start(Some(("admin", "berofos"))).unwrap();
    let handle = RelayHandle::new(Box::new(berofos(&sim, "berofos")));
    let kicker = handle
        .spawn_watchdog_kicker(Duration::from_millis(20))
        .expect("berofos with a watchdog");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sim.state().watchdog_kicks < 3 && std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kicker.abort();
    assert!(
        sim.state().watchdog_kicks >= 3,
        "kicks: {}",
        sim.state().watchdog_kicks
    );
    let no_watchdog = PtyRelaySim::start(NumatoProtocol::default()).unwrap();
    assert!(
        RelayHandle::new(Box::new(numato(no_watchdog.path(), vec![0])))
            .spawn_watchdog_kicker(Duration::from_millis(20))
            .is_none()
    );
}
