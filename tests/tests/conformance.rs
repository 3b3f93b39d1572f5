//! Conformance of the emulator with the real Asterisk 22 captures in `tests/fixtures/asterisk-22/ami`.
//!
//! For every `NN-name.server.txt` the recorded client bytes (`*.client.txt`, in the chunks of
//! `*.flow.txt`) are replayed against a fresh emulator over real TCP. Each client chunk is sent
//! once the emulator has produced as many complete messages as the real server had sent before
//! that chunk (a condition, not a timer); server-side triggers (`core stop now`, end of boot)
//! fire at the recorded message count. The emulator's bytes are then compared with the recorded
//! server bytes (see `support::compare`):
//!
//! 1. the banner is identical;
//! 2. responses and response-list items (`Response:` messages and `Event:` messages whose second
//!    header is `ActionID`) are identical and in the same order, except that items of one list
//!    and the channel rows of `core show channels` are compared as sets (Asterisk prints them in
//!    hash-container order);
//! 3. the events are the same multiset: same names, same header names in the same order, same
//!    values;
//! 4. the events of each channel come in the same order, except `OriginateResponse` and
//!    `DeviceStateChange`, whose place is nondeterministic in Asterisk (fixture 16 shows the
//!    OriginateResponse in four different places among the 50 calls);
//! 5. channel-less events (FullyBooted, SuccessfulAuth, Shutdown) come in the same order, and an
//!    Originate's response precedes its `OriginateResponse` event.
//!
//! Values are compared exactly except the volatile fields listed once in
//! `support::VOLATILE_HEADERS` / `support::normalize` (clock values, uptime, processed-call
//! history, session pointer and TCP endpoints, channel age; channel sequence numbers and
//! Uniqueid numbers are replaced by names of the call they belong to, which keeps the
//! Uniqueid/Linkedid relations under test).

mod support;

use std::time::Duration;

use astha_tests::fake_asterisk::{
    control, BootMode, Dialplan, DialplanApp, FakeAsterisk, FakeConfig,
};
use support::{count_messages, fixture, parse_flow, parse_transcript, FlowChunk, RawAmi, WAIT};

struct Scenario {
    name: &'static str,
    instance_b: bool,
    /// `Local/echo@ha-probe` calls up before the session (`HA hold N` <900N>, `;1` in Wait(30)).
    hold_calls: usize,
    /// Control commands (`stop`, `restart 50`, `boot`, `fault ...`, `clear`), each fired once the
    /// client has received this many messages.
    triggers: &'static [(usize, &'static str)],
    /// A control command in force before the client connects.
    initial: Option<&'static str>,
    manual_boot: bool,
    /// Captured by `asterisk-capture` from the runner's instance (fixtures 24 and up): the
    /// shipped AMI user `astha` (secret `capture-secret`) and the shipped dialplan.
    shipped: bool,
    /// The probe's media application is not loaded (fixture 26).
    playback_unloaded: bool,
}

const fn plain(name: &'static str) -> Scenario {
    Scenario {
        name,
        instance_b: false,
        hold_calls: 0,
        triggers: &[],
        initial: None,
        manual_boot: false,
        shipped: false,
        playback_unloaded: false,
    }
}

fn config_for(s: &Scenario) -> FakeConfig {
    let base = if s.instance_b {
        FakeConfig::instance_b()
    } else {
        FakeConfig::instance_a()
    };
    let mut config = base.fast(Duration::from_millis(40));
    if s.shipped {
        config = config.with_user(support::shipped_user("capture-secret"));
    } else {
        // Fixtures 01-23 were captured with an earlier dialplan (NoOp first, no marker).
        config.dialplan = Dialplan::captured(Duration::from_millis(40));
    }
    if s.playback_unloaded {
        let mut probe = config
            .dialplan
            .lookup("ha-probe", "probe")
            .expect("the shipped probe extension")
            .clone();
        for app in &mut probe.priorities {
            if matches!(app, DialplanApp::Playback { .. }) {
                *app = DialplanApp::Unavailable("Playback".into());
            }
        }
        config.dialplan.add(probe);
    }
    // Fixture 03 was recorded with this challenge; fixing it makes its MD5 key replayable.
    config.fixed_challenge = Some("572601176".to_owned());
    if s.manual_boot {
        config.boot = BootMode::Manual;
    }
    config
}

async fn set_up_hold_calls(asterisk: &FakeAsterisk, n: usize) {
    if n == 0 {
        return;
    }
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    for i in 0..n {
        let id = format!("hold-{i}");
        let caller = format!("\"HA hold {i}\" <900{i}>");
        ami.send(&[
            ("Action", "Originate"),
            ("ActionID", &id),
            ("Channel", "Local/echo@ha-probe"),
            ("Application", "Wait"),
            ("Data", "30"),
            ("CallerID", &caller),
            ("Async", "true"),
        ])
        .await
        .expect("send hold Originate");
        ami.response(&id).await;
    }
    let core = asterisk.core().clone();
    support::eventually(WAIT, "hold calls up in Echo", || {
        let channels = core.channels();
        async move {
            channels.len() == 2 * n
                && channels.iter().all(|c| {
                    c.state.desc() == "Up" && (c.application == "Echo" || c.application == "Wait")
                })
        }
    })
    .await;
    ami.send(&[("Action", "Logoff"), ("ActionID", "bye")])
        .await
        .expect("send Logoff");
    assert!(ami.read_to_eof(WAIT).await);
}

async fn run(s: Scenario) {
    let server = fixture(&format!("ami/{}.server.txt", s.name));
    let client = fixture(&format!("ami/{}.client.txt", s.name));
    let flow = parse_flow(&fixture(&format!("ami/{}.flow.txt", s.name)));
    // The flow file must agree with the two raw files.
    let flow_client: Vec<u8> = flow
        .iter()
        .filter_map(|c| match c {
            FlowChunk::Client(b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let flow_server: Vec<u8> = flow
        .iter()
        .filter_map(|c| match c {
            FlowChunk::Server(b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(flow_client, client, "flow and client files disagree");
    assert_eq!(flow_server, server, "flow and server files disagree");

    let asterisk = FakeAsterisk::start(config_for(&s))
        .await
        .expect("emulator starts");
    set_up_hold_calls(&asterisk, s.hold_calls).await;

    if let Some(command) = s.initial {
        control_ok(&asterisk, s.name, command).await;
    }
    let mut ami = RawAmi::connect(asterisk.ami_addr()).await.expect("connect");
    let mut server_so_far = Vec::new();
    let mut fired = 0;
    for chunk in &flow {
        match chunk {
            FlowChunk::Server(bytes) => server_so_far.extend_from_slice(bytes),
            FlowChunk::ServerEof => {}
            FlowChunk::Client(bytes) => {
                let needed = count_messages(&server_so_far);
                if let Err(e) = ami.read_until_count(needed, WAIT).await {
                    if !e.starts_with("EOF") {
                        panic!("{}: before sending a client chunk: {e}", s.name);
                    }
                }
                // After the server closed (fixture 02) the write may fail, as it did for real.
                let _ = ami.send_raw(bytes).await;
            }
        }
        // A trigger fires once the recording shows its count of server messages, before the
        // client's next chunk goes out.
        while let Some((after, command)) = s.triggers.get(fired).copied() {
            if count_messages(&server_so_far) < after {
                break;
            }
            ami.read_until_count(after, WAIT)
                .await
                .unwrap_or_else(|e| panic!("{}: before the trigger: {e}", s.name));
            fired += 1;
            // Through the control channel, as a test script would drive the binary.
            control_ok(&asterisk, s.name, command).await;
        }
    }
    assert!(
        ami.read_to_eof(WAIT).await,
        "{}: the emulator did not close the connection like the recording",
        s.name
    );
    let recorded = parse_transcript(&server);
    let emulated = ami.transcript();
    assert_eq!(
        emulated.trailing, 0,
        "{}: partial message at the end",
        s.name
    );
    if let Err(diff) = support::compare(&recorded, &emulated) {
        panic!(
            "{}: emulator differs from the recording: {diff}\n=== full emulated transcript ===\n{}",
            s.name,
            String::from_utf8_lossy(&ami.received)
        );
    }
}

async fn control_ok(asterisk: &FakeAsterisk, name: &str, command: &str) {
    let outcome = control::execute(asterisk, command).await;
    assert!(
        matches!(&outcome, control::Outcome::Reply(r) if r.starts_with("ok")),
        "{name}: control {command:?} failed: {outcome:?}"
    );
}

macro_rules! scenario {
    ($test:ident, $scenario:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            run($scenario).await;
        }
    };
}

scenario!(s01_banner_login_ok, plain("01-banner-login-ok"));
scenario!(s02_login_bad_secret, plain("02-login-bad-secret"));
scenario!(s03_challenge_md5_login, plain("03-challenge-md5-login"));
scenario!(s04_ping, plain("04-ping"));
scenario!(s05_corestatus, plain("05-corestatus"));
scenario!(s06_coresettings, plain("06-coresettings"));
scenario!(
    s07_coreshowchannels_calls_up,
    Scenario {
        hold_calls: 3,
        ..plain("07-coreshowchannels-calls-up")
    }
);
scenario!(
    s07b_coreshowchannels_idle,
    plain("07b-coreshowchannels-idle")
);
scenario!(
    s08_command_core_show_version,
    plain("08-command-core-show-version")
);
scenario!(
    s09_command_core_show_channels_calls_up,
    Scenario {
        hold_calls: 3,
        ..plain("09-command-core-show-channels-calls-up")
    }
);
scenario!(
    s10_originate_async_echo_events,
    plain("10-originate-async-echo-events")
);
scenario!(
    s11_originate_nonexistent_async,
    plain("11-originate-nonexistent-async")
);
scenario!(
    s12_originate_nonexistent_sync,
    plain("12-originate-nonexistent-sync")
);
scenario!(
    s13_permission_denied_readonly,
    plain("13-permission-denied-readonly")
);
scenario!(s14_unknown_action, plain("14-unknown-action"));
scenario!(
    s15_userevent_dialplan_failover,
    plain("15-userevent-dialplan-failover")
);
scenario!(s16_event_burst_50_calls, plain("16-event-burst-50-calls"));
scenario!(s17_logoff, plain("17-logoff"));
scenario!(
    s18_fullybooted_at_connect,
    plain("18-fullybooted-at-connect")
);
scenario!(
    s19_shutdown_event_stop_now,
    Scenario {
        instance_b: true,
        triggers: &[(4, "stop")],
        ..plain("19-shutdown-event-stop-now")
    }
);
scenario!(
    s20_shutdown_event_stop_gracefully,
    Scenario {
        instance_b: true,
        triggers: &[(4, "stop")],
        ..plain("20-shutdown-event-stop-gracefully")
    }
);
scenario!(
    s21_shutdown_event_restart_now,
    Scenario {
        instance_b: true,
        triggers: &[(4, "restart 50")],
        ..plain("21-shutdown-event-restart-now")
    }
);
scenario!(
    s22_connect_during_boot,
    Scenario {
        instance_b: true,
        manual_boot: true,
        triggers: &[(3, "boot")],
        ..plain("22-connect-during-boot")
    }
);
scenario!(
    s23_shutdown_event_stop_now_calls_up,
    Scenario {
        instance_b: true,
        hold_calls: 2,
        triggers: &[(4, "stop")],
        ..plain("23-shutdown-event-stop-now-calls-up")
    }
);

scenario!(
    s24_originate_probe_marker,
    Scenario {
        shipped: true,
        ..plain("24-originate-probe-marker")
    }
);
scenario!(
    s25_originate_probe_quick,
    Scenario {
        shipped: true,
        ..plain("25-originate-probe-quick")
    }
);
scenario!(
    s26_originate_probe_playback_unloaded,
    Scenario {
        shipped: true,
        playback_unloaded: true,
        ..plain("26-originate-probe-playback-unloaded")
    }
);
scenario!(
    s27_action_refused_shutting_down,
    Scenario {
        shipped: true,
        // After the first Pong a graceful shutdown begins; after the refusal it is aborted.
        triggers: &[(3, "fault shutting-down"), (4, "clear")],
        ..plain("27-action-refused-shutting-down")
    }
);
scenario!(
    s28_login_refused_shutting_down,
    Scenario {
        shipped: true,
        initial: Some("fault shutting-down"),
        triggers: &[(2, "clear")],
        ..plain("28-login-refused-shutting-down")
    }
);

/// Every AMI fixture has a scenario above (a new capture must not go untested).
#[test]
fn every_ami_fixture_has_a_scenario() {
    let source = include_str!("conformance.rs");
    let dir = support::fixtures_dir().join("ami");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".server.txt").map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(names.len(), 29, "fixture count changed: {names:?}");
    for name in names {
        assert!(
            source.contains(&format!("plain(\"{name}\")")),
            "no conformance scenario for fixture {name}"
        );
    }
}
