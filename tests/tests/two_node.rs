//! End-to-end scenarios on a real pair in network namespaces: two astha daemons, two emulated Asterisks, a shared relay, a measuring client.
//!
//! Each scenario asserts its end state and that no sample (every 50 ms, throughout) showed
//! split brain, and prints its timings (detection, takeover, client-visible outage). Needs
//! root; skipped with a message otherwise. Timings are printed, not asserted: the machine
//! may be loaded (the failover benchmark, `scripts/bench-failover.sh`, measures them).

use std::time::Duration;

use astha_tests::harness::client::now_unix;
use astha_tests::harness::{
    poll, require_root, Cable, Fault, Host, Pair, PairOptions, Side, Takeover,
};

/// Generous bounds: a takeover is expected within ~1 s (call path: ~25 s), but CI machines
/// are shared; these only stop a broken run from hanging.
const SETTLE: Duration = Duration::from_secs(30);
const TAKEOVER: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

fn start(test: &str, options: PairOptions) -> Option<Pair> {
    if let Err(e) = require_root() {
        eprintln!("SKIP {test}: {e}");
        return None;
    }
    let pair = Pair::start(options).unwrap_or_else(|e| panic!("{test}: harness start: {e}"));
    Some(pair)
}

/// Hold-down used by these scenarios (astha's default is 10 s): shorter, so the steady state
/// after start-up and the "no failback" wait fit the time budget.
const HOLD_DOWN_MS: u64 = 3_000;

fn options() -> PairOptions {
    let mut options = PairOptions::default();
    for s in &mut options.settings {
        s.hold_down_ms = Some(HOLD_DOWN_MS);
    }
    options
}

/// Starts a pair and waits for the steady state: A (the preferred side) active, hold-down
/// over, the client answered.
fn running_pair(test: &str) -> Option<Pair> {
    let pair = start(test, options())?;
    let active = pair
        .wait_steady(SETTLE)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    assert_eq!(active, Side::A, "the preferred side A starts active");
    Some(pair)
}

fn logs(pair: &Pair) -> String {
    format!(
        "--- astha-a ---\n{}\n--- astha-b ---\n{}",
        pair.log_tail("astha-a", 30),
        pair.log_tail("astha-b", 30)
    )
}

fn report(test: &str, t: &Takeover) {
    eprintln!(
        "TIMING {test}: detection {:.0} ms, takeover {:.0} ms, client SIP outage {:.0} ms, ping outage {:.0} ms ({})",
        t.detection_s * 1000.0,
        t.takeover_s * 1000.0,
        t.outage.sip_s * 1000.0,
        t.outage.ping_s * 1000.0,
        t.reason
    );
}

/// The end state every scenario ends in: `active` holds the role, the relay and the IP alone.
fn assert_served_by(pair: &mut Pair, active: Side) {
    let topo = pair.topology();
    assert!(
        topo.holds_floating_ip(active.host()).unwrap(),
        "{active:?} holds the floating IP"
    );
    assert!(
        !topo.holds_floating_ip(active.other().host()).unwrap(),
        "{:?} must not hold the floating IP",
        active.other()
    );
    assert_eq!(pair.status(active).unwrap().role, "active");
    assert_eq!(pair.relay_side().unwrap(), Some(active), "relay position");
}

fn assert_no_split_brain(pair: &Pair) {
    let samples = pair.samples();
    assert!(
        samples.len() > 10,
        "the sampler ran ({} samples)",
        samples.len()
    );
    let bad = pair.split_brain();
    assert!(
        bad.is_empty(),
        "split brain in {} of {} samples, first: {:?}",
        bad.len(),
        samples.len(),
        bad.first()
    );
}

/// Asserts the roles stay as they are for `hold` (nothing switches).
fn assert_stays(pair: &Pair, active: Side, hold: Duration) {
    let until = now_unix() + hold.as_secs_f64();
    while now_unix() < until {
        let a = pair.status(active).unwrap();
        assert_eq!(a.role, "active", "{active:?} stays active");
        let b = pair.status(active.other()).unwrap();
        assert_ne!(
            b.role,
            "active",
            "{:?} must not become active",
            active.other()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn fault_takes_over(test: &str, fault: Fault, timeout: Duration) {
    let Some(mut pair) = running_pair(test) else {
        return;
    };
    let at = pair.inject(Side::A, fault).unwrap();
    let t = pair
        .measure_takeover(Side::B, at, timeout)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    report(test, &t);
    assert_served_by(&mut pair, Side::B);
    assert_no_split_brain(&pair);
}

#[test]
fn asterisk_crash_on_a_moves_the_service_to_b() {
    fault_takes_over("asterisk_crash", Fault::AsteriskCrash, TAKEOVER);
}

#[test]
fn asterisk_hang_on_a_moves_the_service_to_b() {
    fault_takes_over("asterisk_hang", Fault::AsteriskHang, TAKEOVER);
}

#[test]
fn core_deadlock_on_a_moves_the_service_to_b() {
    fault_takes_over("core_deadlock", Fault::CoreDeadlock, TAKEOVER);
}

#[test]
fn broken_call_path_on_a_moves_the_service_to_b() {
    // The test call runs every 10 s and must fail twice: about 25 s with the defaults.
    fault_takes_over(
        "call_path_broken",
        Fault::CallPathBroken,
        Duration::from_secs(60),
    );
}

#[test]
fn a_losing_its_network_moves_the_service_to_b() {
    let test = "node_network_loss";
    let Some(mut pair) = running_pair(test) else {
        return;
    };
    let at = pair.inject(Side::A, Fault::NetworkLoss).unwrap();
    let t = pair
        .measure_takeover(Side::B, at, TAKEOVER)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    report(test, &t);
    assert_eq!(pair.status(Side::B).unwrap().role, "active");
    assert_eq!(pair.relay_side().unwrap(), Some(Side::B), "relay position");
    assert!(pair.topology().holds_floating_ip(Host::B).unwrap());
    assert_no_split_brain(&pair);
}

#[test]
fn a_reconnected_after_losing_its_network_rejoins_as_standby() {
    let test = "node_network_loss_rejoin";
    let Some(mut pair) = running_pair(test) else {
        return;
    };
    let at = pair.inject(Side::A, Fault::NetworkLoss).unwrap();
    let t = pair
        .measure_takeover(Side::B, at, TAKEOVER)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    report(test, &t);
    pair.heal(Side::A, Fault::NetworkLoss).unwrap();
    poll(
        "A back as standby without the floating IP",
        SETTLE,
        POLL,
        || {
            let a = pair.status(Side::A).ok()?;
            let ip = pair.topology().holds_floating_ip(Host::A).ok()?;
            (a.role == "standby" && !ip).then_some(())
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    assert_stays(&pair, Side::B, Duration::from_secs(2));
    assert_served_by(&mut pair, Side::B);
    assert_no_split_brain(&pair);
}

#[test]
fn cutting_the_peer_link_alone_causes_no_takeover() {
    let test = "peer_link_cut";
    let Some(mut pair) = running_pair(test) else {
        return;
    };
    pair.set_peer_link(false).unwrap();
    // Both sides notice the silence ...
    poll("B to see both peer links down", SETTLE, POLL, || {
        let down = pair.status(Side::B).ok()?.links_down();
        (down.len() == 2).then_some(())
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    // ... but A's Asterisk still answers B's probes: a broken link, not a dead server. B says
    // so in its status, for as long as it lasts.
    poll("B to list the broken_link alert", SETTLE, POLL, || {
        let alerts = pair.status(Side::B).ok()?.alerts();
        alerts.contains(&"broken_link".to_string()).then_some(())
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    assert_stays(&pair, Side::A, Duration::from_secs(5));
    pair.set_peer_link(true).unwrap();
    poll("the peer link back", SETTLE, POLL, || {
        pair.status(Side::B)
            .ok()?
            .links_down()
            .is_empty()
            .then_some(())
    })
    .unwrap();
    poll("B to clear the broken_link alert", SETTLE, POLL, || {
        let alerts = pair.status(Side::B).ok()?.alerts();
        (!alerts.contains(&"broken_link".to_string())).then_some(())
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    assert_stays(&pair, Side::A, Duration::from_secs(1));
    assert_served_by(&mut pair, Side::A);
    assert_no_split_brain(&pair);
}

#[test]
fn cutting_one_of_two_peer_links_has_no_effect() {
    let test = "one_peer_link_cut";
    let Some(mut pair) = running_pair(test) else {
        return;
    };
    pair.set_cable(Side::A, Cable::Crossover, false).unwrap();
    poll("the crossover link reported down", SETTLE, POLL, || {
        let down = pair.status(Side::A).ok()?.links_down();
        (down == ["crossover"]).then_some(())
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    assert_stays(&pair, Side::A, Duration::from_secs(3));
    assert_served_by(&mut pair, Side::A);
    assert_no_split_brain(&pair);
}

#[test]
fn manual_failover_from_the_cli_hands_over_to_b() {
    let test = "manual_failover_cli";
    let Some(mut pair) = running_pair(test) else {
        return;
    };
    let at = now_unix();
    let out = pair
        .cli(Side::A, &["failover", "--reason", "harness test"])
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    eprintln!("astha failover: {}", out.trim());
    let t = pair
        .measure_takeover(Side::B, at, TAKEOVER)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    report(test, &t);
    poll("A standby after the handover", SETTLE, POLL, || {
        (pair.status(Side::A).ok()?.role == "standby").then_some(())
    })
    .unwrap();
    assert_served_by(&mut pair, Side::B);
    assert_no_split_brain(&pair);
}

#[test]
fn dialplan_failover_event_hands_over_to_b() {
    let test = "dialplan_failover";
    let Some(mut pair) = running_pair(test) else {
        return;
    };
    let at = now_unix();
    pair.asterisk(Side::A, "userevent HAFailover Reason=manual")
        .unwrap();
    let t = pair
        .measure_takeover(Side::B, at, TAKEOVER)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    report(test, &t);
    assert_served_by(&mut pair, Side::B);
    assert_no_split_brain(&pair);
}

#[test]
fn a_recovering_rejoins_as_standby_without_failback() {
    let test = "rejoin_no_failback";
    let Some(mut pair) = running_pair(test) else {
        return;
    };
    let at = pair.inject(Side::A, Fault::AsteriskCrash).unwrap();
    let t = pair
        .measure_takeover(Side::B, at, TAKEOVER)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    report(test, &t);
    pair.heal(Side::A, Fault::AsteriskCrash).unwrap();
    poll("A healthy again, as standby", SETTLE, POLL, || {
        let a = pair.status(Side::A).ok()?;
        (a.role == "standby" && a.verdict("local") == Some("healthy")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    // Past the hold-down: a failback would happen now if it were configured.
    assert_stays(&pair, Side::B, Duration::from_millis(HOLD_DOWN_MS + 2_000));
    assert_served_by(&mut pair, Side::B);
    assert_no_split_brain(&pair);
}

#[test]
fn both_servers_restarting_at_once_elect_exactly_one_active() {
    let test = "both_restart";
    let Some(mut pair) = running_pair(test) else {
        return;
    };
    pair.kill_daemon(Side::A);
    pair.kill_daemon(Side::B);
    pair.start_both_daemons()
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    let active = pair
        .wait_single_active(SETTLE)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    eprintln!("both restarted: {active:?} is active");
    assert_stays(&pair, active, Duration::from_secs(3));
    assert_served_by(&mut pair, active);
    assert_no_split_brain(&pair);
}

#[test]
fn relay_silent_during_a_takeover_never_gives_two_actives() {
    let test = "relay_silent_takeover";
    let Some(mut pair) = running_pair(test) else {
        return;
    };
    pair.relay_command("behaviour silent").unwrap();
    let at = pair.inject(Side::A, Fault::AsteriskCrash).unwrap();
    // B tries and cannot move the relay (the fence): it must not end up active meanwhile
    // with the relay still at A.
    poll("B to try a takeover", SETTLE, POLL, || {
        let b = pair.status(Side::B).ok()?;
        b.last_takeover
            .filter(|t| t.started_unix_ms as f64 >= at * 1000.0 - 50.0)
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    let relay_back = now_unix();
    pair.relay_command("behaviour normal").unwrap();
    let t = pair
        .measure_takeover(Side::B, at, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    report(test, &t);
    eprintln!(
        "relay answered again {:.0} ms after the crash",
        (relay_back - at) * 1000.0
    );
    assert_served_by(&mut pair, Side::B);
    assert_no_split_brain(&pair);
}

/// A webhook receiver inside a server's namespace that reads every request and never answers:
/// a chat service that hangs.
struct HangingWebhook {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Request heads received, and whether each connection is still held open.
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HangingWebhook {
    fn start(netns: &std::path::Path, port: u16) -> HangingWebhook {
        use std::io::Read;
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let thread = astha_tests::harness::client::spawn_in_netns(netns, move || {
            let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind in netns");
            listener.set_nonblocking(true).expect("nonblocking");
            let mut held = Vec::new();
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                        let mut buf = [0u8; 4096];
                        let n = stream.read(&mut buf).unwrap_or(0);
                        let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                        requests2.lock().unwrap().push(head);
                        // Never answered: held open until the test ends.
                        held.push(stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
        .expect("thread in the server's namespace");
        HangingWebhook {
            stop,
            requests,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HangingWebhook {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The alert sinks of a real daemon: B sends its events to a webhook that hangs and to a command
/// that appends them to a file. B's first event (the alert a fresh node raises for its missing
/// term file) gets the webhook stuck for a minute; A's Asterisk then crashes, and B takes over as
/// fast as ever; the command still receives B's takeover event with its step timings.
#[test]
fn a_hanging_webhook_delays_no_takeover_and_the_takeover_reaches_the_sinks() {
    let test = "alerts_hanging_webhook";
    if let Err(e) = require_root() {
        eprintln!("SKIP {test}: {e}");
        return;
    }
    let scratch = std::env::temp_dir().join(format!("astha-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let events = scratch.join("events-b.jsonl");
    const HOOK_PORT: u16 = 18_080;
    let mut options = options();
    options.settings[Side::B.index()].extra_toml = format!(
        r#"
[alerts]
# Keep retrying until the test's receiver is up (it starts with the namespaces).
max_attempts = 40
retry_initial_ms = 100
retry_max_ms = 300

[[alerts.webhook]]
name = "hanging"
url = "http://127.0.0.1:{HOOK_PORT}/hooks/SECRETPATH"
timeout_ms = 60000

[[alerts.command]]
name = "file"
command = ["sh", "-c", "cat >> '{}'; echo >> '{}'"]
"#,
        events.display(),
        events.display()
    );
    let Some(mut pair) = start(test, options) else {
        return;
    };
    let hook = HangingWebhook::start(&pair.topology().path(Side::B.host()), HOOK_PORT);
    poll(
        "B's first event to reach the hanging webhook",
        SETTLE,
        POLL,
        || hook.requests().first().cloned(),
    )
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    let active = pair
        .wait_steady(SETTLE)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    assert_eq!(active, Side::A);
    let head = hook.requests()[0].clone();
    assert!(
        head.starts_with("POST /hooks/SECRETPATH HTTP/1.1"),
        "{head}"
    );

    let at = pair.inject(Side::A, Fault::AsteriskCrash).unwrap();
    let t = pair
        .measure_takeover(Side::B, at, TAKEOVER)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    report(test, &t);
    // The webhook is still stuck on that first event (its timeout is a minute) ...
    assert_eq!(hook.requests().len(), 1, "the stuck sink got nothing else");
    // ... and the takeover took its usual time (typically well under a second; the bound only
    // has to be far below the stuck request's minute).
    let record = pair.status(Side::B).unwrap().last_takeover.unwrap();
    assert!(
        record.total_ms < 10_000.0,
        "takeover took {} ms",
        record.total_ms
    );

    // The command sink got B's takeover event, with its step timings.
    let takeover = poll(
        "B's takeover event in the command's file",
        SETTLE,
        POLL,
        || {
            let text = std::fs::read_to_string(&events).ok()?;
            text.lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|e| e["event"] == "takeover")
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", logs(&pair)));
    assert_eq!(takeover["node"], "harness-b");
    assert_eq!(takeover["outcome"], "done");
    assert_eq!(takeover["role"], "active");
    assert!(takeover["term"].as_u64() >= Some(2), "{takeover}");
    assert!(
        takeover["steps"].as_array().is_some_and(|s| !s.is_empty()),
        "{takeover}"
    );
    assert!(
        takeover["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{takeover}"
    );
    // The secret part of the URL never reached B's log.
    let log = pair.log_tail("astha-b", 10_000);
    assert!(!log.contains("SECRETPATH"), "{log}");
    assert_served_by(&mut pair, Side::B);
    assert_no_split_brain(&pair);
    drop(hook);
    let _ = std::fs::remove_dir_all(&scratch);
}
