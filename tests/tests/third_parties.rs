//! The two third parties of a pair, on a real pair in network namespaces: the witness that breaks the two-node tie, and the berofos's own watchdog that fences a dead active without any software on it.
//!
//! The relay is the harness's berofos simulator on the LAN (README: "A relay the survivor can
//! switch", the network switch topology); its watchdog behaves as a berofos does (see
//! `relay_sim::berofos`). The witness scenario runs against the emulator and a real Asterisk 22
//! (what the standby sees of a cut-off peer's Asterisk is the point); the watchdog scenarios
//! against the emulator (the device's fence does not depend on the PBX). Needs root, and for the
//! `real` variant an Asterisk (see `astha_tests::asterisk::install`); skipped with one line
//! otherwise. Bounds are generous: the machine may be loaded.

use std::time::{Duration, Instant};

use astha_tests::asterisk::Install;
use astha_tests::harness::client::now_unix;
use astha_tests::harness::netns::RELAY;
use astha_tests::harness::{
    poll, require_root, AsteriskKind, Fault, Pair, PairAsterisk, PairOptions, RelayState, Side,
};

const SETTLE: Duration = Duration::from_secs(30);
const TAKEOVER: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);
const HOLD_DOWN_MS: u64 = 3_000;
/// The watchdog interval of the berofos scenarios (seconds; the device's smallest).
const WATCHDOG_S: u32 = 1;

fn start(
    kind: AsteriskKind,
    test: &str,
    configure: impl Fn(&mut astha_tests::harness::NodeSettings),
) -> Option<Pair> {
    if let Err(e) = require_root() {
        eprintln!("SKIP {test}: {e}");
        return None;
    }
    let mut options = PairOptions::default();
    for s in &mut options.settings {
        s.hold_down_ms = Some(HOLD_DOWN_MS);
        configure(s);
    }
    if kind == AsteriskKind::Real {
        options.asterisk = PairAsterisk::Real(Install::for_test(test)?);
    }
    let pair = Pair::start(options).unwrap_or_else(|e| panic!("{test}: harness start: {e}"));
    let active = pair
        .wait_steady(SETTLE)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", pair.failure_report()));
    assert_eq!(active, Side::A, "the preferred side A starts active");
    Some(pair)
}

fn relay(pair: &mut Pair) -> RelayState {
    pair.relay_state()
        .unwrap_or_else(|e| panic!("relay-sim: {e}"))
}

/// A standby cut off from everything sees its peer silent and its peer's Asterisk unreachable,
/// exactly as if the peer had died; only the witness tells the two apart. Cut off, B does not
/// take over (its witness does not answer); when A is cut off instead, B still reaches the
/// witness and takes over from the silent, failed peer.
mod a_witness_breaks_a_total_cut {
    use super::*;

    #[test]
    fn emulated() {
        super::a_witness_breaks_a_total_cut(AsteriskKind::Emulated, "witness_total_cut::emulated");
    }

    #[test]
    fn real() {
        super::a_witness_breaks_a_total_cut(AsteriskKind::Real, "witness_total_cut::real");
    }
}

fn a_witness_breaks_a_total_cut(kind: AsteriskKind, test: &str) {
    // The berofos's web port: every server on the LAN reaches it, and a server that cannot
    // could not switch the PSTN either.
    let witness = format!("{RELAY}:8080");
    let Some(mut pair) = start(kind, test, |s| s.witness = Some(witness.clone())) else {
        return;
    };
    let b = pair.status(Side::B).unwrap();
    assert_eq!(
        b.raw.pointer("/witness/reachable"),
        Some(&serde_json::Value::Bool(true)),
        "B's witness answers: {}",
        b.raw
    );

    // B alone cut off: A silent and unreachable from B, the witness too. B holds back.
    pair.isolate(Side::B).unwrap();
    let cut_at = Instant::now();
    let hold = Duration::from_secs(5);
    while cut_at.elapsed() < hold {
        let b = pair.status(Side::B).unwrap();
        assert_eq!(
            b.role,
            "standby",
            "{test}: cut-off B took over after {:?}\n{}",
            cut_at.elapsed(),
            pair.failure_report()
        );
        assert_eq!(pair.status(Side::A).unwrap().role, "active");
        std::thread::sleep(Duration::from_millis(50));
    }
    let b = pair.status(Side::B).unwrap();
    assert_eq!(
        b.raw.pointer("/witness/reachable"),
        Some(&serde_json::Value::Bool(false)),
        "B sees the witness unreachable: {}",
        b.raw
    );
    assert_eq!(
        b.verdict("peer"),
        Some("failed"),
        "the peer's Asterisk looks dead from B, as a dead peer's would"
    );
    pair.rejoin(Side::B).unwrap();
    poll("B hears A again", SETTLE, POLL, || {
        let b = pair.status(Side::B).ok()?;
        let heard = b.raw.pointer("/peer/links_down")?.as_array()?.is_empty();
        let witness = b.raw.pointer("/witness/reachable")?.as_bool()?;
        (heard && witness && b.role == "standby").then_some(())
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", pair.failure_report()));

    // A cut off: B still reaches the witness and takes over.
    let at = pair.inject(Side::A, Fault::NetworkLoss).unwrap();
    let t = pair
        .measure_takeover(Side::B, at, TAKEOVER)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", pair.failure_report()));
    eprintln!(
        "TIMING {test}: B took over {:.0} ms after A was cut off ({}), client SIP outage {:.0} ms",
        t.takeover_s * 1000.0,
        t.reason,
        t.outage.sip_s * 1000.0
    );
    assert_eq!(relay(&mut pair).side, Some(Side::B));
    assert!(
        pair.split_brain().is_empty(),
        "{:?}",
        pair.split_brain().first()
    );
}

/// The berofos's watchdog guards side A (mode 1): the active A kicks it, and it holds A's
/// position for as long as the kicks come. When A dies with no daemon on B to take over, the
/// device moves the PSTN to B by itself.
#[test]
fn the_relay_watchdog_moves_the_calls_when_the_active_dies() {
    let test = "relay_watchdog_active_dies";
    let Some(mut pair) = start(AsteriskKind::Emulated, test, |s| {
        s.relay_watchdog_s = Some(WATCHDOG_S)
    }) else {
        return;
    };
    // A healthy active keeps the relay for many intervals.
    let before = relay(&mut pair);
    assert_eq!(
        before.watchdog, "1",
        "switched on when A took the calls: {before:?}"
    );
    let intervals = 6;
    let until = now_unix() + f64::from(WATCHDOG_S * intervals);
    while now_unix() < until {
        let now = relay(&mut pair);
        assert_eq!(
            now.side,
            Some(Side::A),
            "{test}: the relay moved: {now:?}\n{}",
            pair.failure_report()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let kept = relay(&mut pair);
    assert_eq!(
        (kept.watchdog.as_str(), kept.expiries),
        ("1", 0),
        "{kept:?}"
    );
    assert!(
        kept.kicks >= before.kicks + u64::from(intervals),
        "A kicked at least once per interval: {before:?} -> {kept:?}"
    );
    let a = pair.status(Side::A).unwrap();
    assert_eq!(
        a.raw.pointer("/relay/watchdog/kicking"),
        Some(&serde_json::Value::Bool(true)),
        "{}",
        a.raw
    );

    // No software left to act: B's daemon is gone, then A's daemon and Asterisk die.
    pair.kill_daemon(Side::B);
    pair.kill_daemon(Side::A);
    let died_at = Instant::now();
    pair.inject(Side::A, Fault::AsteriskCrash).unwrap();
    let died = relay(&mut pair);
    let moved = poll("the berofos to fall back by itself", TAKEOVER, POLL, || {
        let now = pair.relay_state().ok()?;
        (now.side == Some(Side::B)).then_some(now)
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", pair.failure_report()));
    eprintln!(
        "TIMING {test}: the berofos moved the calls to B {:.0} ms after A died (watchdog {WATCHDOG_S} s)",
        died_at.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(
        moved.watchdog, "2",
        "the device shows its watchdog expired: {moved:?}"
    );
    assert_eq!(moved.expiries, 1, "{moved:?}");
    assert_eq!(
        moved.mode_commands, died.mode_commands,
        "nobody commanded the move: {died:?} -> {moved:?}"
    );
}

/// Cut off from the LAN, an active's kicks no longer reach the berofos: the device moves the
/// PSTN to B by itself, and A, once back, finds the relay on B's side and gives way.
#[test]
fn the_relay_watchdog_moves_the_calls_when_the_active_is_cut_off() {
    let test = "relay_watchdog_active_cut_off";
    let Some(mut pair) = start(AsteriskKind::Emulated, test, |s| {
        s.relay_watchdog_s = Some(WATCHDOG_S)
    }) else {
        return;
    };
    pair.kill_daemon(Side::B);
    let cut = relay(&mut pair);
    let cut_at = Instant::now();
    pair.isolate(Side::A).unwrap();
    let moved = poll("the berofos to fall back by itself", TAKEOVER, POLL, || {
        let now = pair.relay_state().ok()?;
        (now.side == Some(Side::B)).then_some(now)
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", pair.failure_report()));
    eprintln!(
        "TIMING {test}: the berofos moved the calls to B {:.0} ms after A was cut off (watchdog {WATCHDOG_S} s)",
        cut_at.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(
        (moved.watchdog.as_str(), moved.expiries),
        ("2", 1),
        "{moved:?}"
    );
    assert_eq!(
        moved.mode_commands, cut.mode_commands,
        "nobody commanded the move"
    );
    assert_eq!(
        pair.status(Side::A).unwrap().role,
        "active",
        "cut off, A cannot know yet"
    );
    pair.rejoin(Side::A).unwrap();
    poll(
        "A to give way to the relay's position",
        SETTLE,
        POLL,
        || (pair.status(Side::A).ok()?.role == "standby").then_some(()),
    )
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", pair.failure_report()));
    assert_eq!(
        relay(&mut pair).side,
        Some(Side::B),
        "A gave way without moving it back"
    );
}
