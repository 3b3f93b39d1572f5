//! Relay drivers against simulated devices on real pseudo-terminals and a real local HTTP server.

use std::path::Path;
use std::time::{Duration, Instant};

use astha::actuate::config::{
    BerofosConfig, LcusConfig, LineCommand, LineProfileConfig, LineReadBack, LineWatchdog,
    MacAddress, NumatoConfig, ReplyMatch,
};
use astha::actuate::relay::{
    BerofosRelay, DeviceWatchdog, LcusRelay, LineProfileRelay, NumatoRelay, Relay, RelayError,
    RelayHandle, WatchdogState,
};
use astha::side::Side;
use astha_tests::relay_sim::{
    Behaviour, BerofosSim, LcusProtocol, LineProtocol, NumatoProtocol, PtyRelaySim, SIM_MAC,
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
        kick_watchdog: Some(LineWatchdog {
            kick: LineCommand {
                send: "WDT".into(),
                expect: exact("OK"),
            },
            kick_every_ms: 250,
            falls_back_to: Side::B,
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

fn berofos_config(
    sim: &BerofosSim,
    password: &str,
    watchdog_interval_s: Option<u32>,
) -> BerofosConfig {
    BerofosConfig {
        host: "127.0.0.1".into(),
        port: sim.addr().port(),
        username: Some("admin".into()),
        password: Some(password.into()),
        timeout_ms: 500,
        side_a_mode: 1,
        set_default_mode: true,
        watchdog_interval_s,
        mac: None,
        kick_port: sim.kick_addr().port(),
        scenario: Some(1),
    }
}

fn berofos(sim: &BerofosSim, password: &str) -> BerofosRelay {
    BerofosRelay::new(berofos_config(sim, password, Some(30))).unwrap()
}

#[test]
fn berofos_switches_stores_default_and_arms_the_watchdog_for_the_guarded_side() {
    let sim = BerofosSim::start(Some(("admin", "berofos"))).unwrap();
    let mut relay = berofos(&sim, "berofos");
    assert_eq!(
        relay.capabilities().watchdog,
        Some(DeviceWatchdog {
            falls_back_to: Side::B,
            kick_every: Duration::from_secs(10),
        }),
        "mode 0 (A--D) is side B, where the device falls back"
    );
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
        assert_eq!(
            st.watchdog_state(),
            "0",
            "nothing to guard on the fallback side"
        );
    }
    relay.select(Side::A).unwrap();
    assert_eq!(sim.mode().as_deref(), Some("1"));
    assert_eq!(sim.state().watchdog_state(), "1", "switched on for side A");
    assert!(matches!(
        relay.read_watchdog().unwrap(),
        Some(WatchdogState::Running {
            remaining_s: Some(1..=30)
        })
    ));
    // The kick is a datagram carrying the MAC address the device reported.
    relay.kick_watchdog().unwrap();
    relay.kick_watchdog().unwrap();
    assert_eq!(sim.state().watchdog_kicks, 2);
    // A deliberate move to side B switches the running watchdog off again.
    relay.select(Side::B).unwrap();
    assert_eq!(relay.read_watchdog().unwrap(), Some(WatchdogState::Off));
    assert!(relay
        .identify()
        .unwrap()
        .starts_with("berofos at 127.0.0.1"));
}

#[test]
fn berofos_falls_back_by_itself_when_the_kicks_stop() {
    let sim = BerofosSim::start(Some(("admin", "berofos"))).unwrap();
    let mut relay = BerofosRelay::new(berofos_config(&sim, "berofos", Some(1))).unwrap();
    relay.select(Side::A).unwrap();
    // Kicked well inside its 1 s interval, the watchdog holds side A for several intervals.
    let kicked_until = Instant::now() + Duration::from_millis(2_500);
    while Instant::now() < kicked_until {
        relay.kick_watchdog().unwrap();
        assert_eq!(relay.read_side().unwrap(), Some(Side::A));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(sim.state().watchdog_expiries, 0);
    // No more kicks: the device moves the circuits to side B itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    while relay.read_side().unwrap() != Some(Side::B) {
        assert!(Instant::now() < deadline, "the watchdog never expired");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(relay.read_watchdog().unwrap(), Some(WatchdogState::Expired));
    assert_eq!(sim.state().watchdog_expiries, 1);
    // A kick does not bring it back; a takeover by side B leaves the expiry visible...
    relay.kick_watchdog().unwrap();
    relay.select(Side::B).unwrap();
    assert_eq!(relay.read_watchdog().unwrap(), Some(WatchdogState::Expired));
    // ...and side A taking the calls again switches it back on.
    relay.select(Side::A).unwrap();
    assert!(matches!(
        relay.read_watchdog().unwrap(),
        Some(WatchdogState::Running { .. })
    ));
}

#[test]
fn berofos_kicks_for_another_device_or_to_a_silent_one_fail() {
    let sim = BerofosSim::start(None).unwrap();
    let mut other = berofos_config(&sim, "", Some(30));
    other.mac = Some(MacAddress([0x00, 0x19, 0x32, 0xff, 0xff, 0xff]));
    let err = BerofosRelay::new(other)
        .unwrap()
        .kick_watchdog()
        .unwrap_err();
    assert!(matches!(err, RelayError::Timeout { .. }), "{err}");
    let mut right = berofos_config(&sim, "", Some(30));
    right.mac = Some(MacAddress(SIM_MAC));
    let mut relay = BerofosRelay::new(right).unwrap();
    relay.kick_watchdog().unwrap();
    sim.set_behaviour(Behaviour::Silent);
    let err = relay.kick_watchdog().unwrap_err();
    assert!(err.to_string().contains("500 ms"), "{err}");
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
        mac: None,
        kick_port: 1,
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

#[test]
fn a_line_profile_watchdog_says_where_it_falls_back_and_how_often_to_kick() {
    let sim = PtyRelaySim::start(LineProtocol::new(false)).unwrap();
    let relay = line_profile(sim.path(), false);
    assert_eq!(
        relay.capabilities().watchdog,
        Some(DeviceWatchdog {
            falls_back_to: Side::B,
            kick_every: Duration::from_millis(250),
        })
    );
    assert_eq!(
        relay.capabilities().watchdog.map(|w| w.guards()),
        Some(Side::A)
    );
}
