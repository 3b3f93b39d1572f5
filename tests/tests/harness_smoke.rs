//! The namespace harness on its own (no astha daemons): topology, emulators, relay, client measurement, cleanup.

use std::time::Duration;

use astha_tests::harness::{poll, require_root, Fault, Host, Pair, PairOptions, Side};

fn root_or_skip(test: &str) -> bool {
    if require_root().is_err() {
        eprintln!("SKIP {test}: needs root for network namespaces (run the tests as root)");
        return false;
    }
    true
}

fn emulators_only() -> Pair {
    Pair::start(PairOptions {
        daemons: false,
        ..PairOptions::default()
    })
    .unwrap_or_else(|e| panic!("harness start: {e}"))
}

#[test]
fn client_sees_the_floating_ip_move_by_hand_and_measures_the_gap() {
    if !root_or_skip("client_sees_the_floating_ip_move_by_hand_and_measures_the_gap") {
        return;
    }
    let pair = emulators_only();
    let client = pair.client().expect("client probe started");
    pair.move_floating_ip_by_hand(Side::A).unwrap();
    let t0 = astha_tests::harness::client::now_unix();
    pair.wait_client_answered(t0, Duration::from_secs(10))
        .unwrap();

    // A crashes; the client stops getting SIP answers while ping (the IP) still answers.
    let crash_at = pair.inject(Side::A, Fault::AsteriskCrash).unwrap();
    poll(
        "SIP answers to stop",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || {
            let last = client.last_sip_answer()?;
            (astha_tests::harness::client::now_unix() - last > 0.3).then_some(())
        },
    )
    .unwrap();

    let moved_at = astha_tests::harness::client::now_unix();
    pair.move_floating_ip_by_hand(Side::B).unwrap();
    pair.wait_client_answered(moved_at, Duration::from_secs(10))
        .unwrap();
    assert!(pair.topology().holds_floating_ip(Host::B).unwrap());
    assert!(!pair.topology().holds_floating_ip(Host::A).unwrap());

    let outage = client.outage_since(crash_at);
    eprintln!(
        "by-hand move: SIP outage {:.0} ms, ping outage {:.0} ms",
        outage.sip_s * 1000.0,
        outage.ping_s * 1000.0
    );
    // SIP was down from the crash until the move; ping only across the move itself.
    assert!(outage.sip_s >= moved_at - crash_at - 0.1, "{outage:?}");
    assert!(outage.ping_s < outage.sip_s, "{outage:?}");
}

#[test]
fn relay_simulator_is_steerable_and_the_pair_cleans_up() {
    if !root_or_skip("relay_simulator_is_steerable_and_the_pair_cleans_up") {
        return;
    }
    let names;
    {
        let mut pair = emulators_only();
        names = [Host::A, Host::B, Host::Client, Host::Switch].map(|h| pair.topology().name(h));
        assert_eq!(pair.relay_side().unwrap(), Some(Side::A));
        assert!(pair
            .relay_command("behaviour silent")
            .unwrap()
            .starts_with("ok"));
        assert!(pair.relay_command("bogus").is_err());
        assert!(pair.asterisk(Side::B, "status").unwrap().starts_with("ok"));
    }
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for name in names {
        assert!(
            !list.contains(&name),
            "namespace {name} left behind:\n{list}"
        );
    }
}
