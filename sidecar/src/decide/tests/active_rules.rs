//! One test per active-side rule, named after it: the rule alone decides, and nothing happens
//! while its condition is absent.

use super::*;

/// A active under term 1, a moment after its takeover completed.
fn active_a() -> Harness {
    let mut a = Harness::new(Side::A);
    a.make_active();
    a.wait(10);
    a
}

/// A whose daemon restarted while it was active in term 5: resumed, nothing actuated.
fn resumed_a(peer_must_confirm: bool) -> Harness {
    let persisted = PersistedState {
        term: 5,
        active_in: Some(5),
        ..PersistedState::default()
    };
    let mut a = Harness::with(DecideConfig::new(Side::A), persisted);
    a.core = Core::resume(
        DecideConfig::new(Side::A),
        persisted,
        Millis(0),
        peer_must_confirm,
    );
    a.input(Input::LocalVerdict(Verdict::Healthy));
    assert_eq!(a.core.role(), Role::Active);
    a
}

// ----- step down ------------------------------------------------------------------------------

#[test]
fn no_newer_term_since_restart() {
    // The standby knows no newer term: the resumed role stands, no actuator runs.
    let mut a = resumed_a(false);
    a.wait_hearing(3_000, Role::Standby, 5, Verdict::Healthy);
    assert_eq!(a.core.role(), Role::Active);
    assert!(release(&a.log).is_none() && takeover(&a.log).is_none());
    assert!(!a.core.status().resume_unconfirmed);
    // The peer took over (and released) while this daemon was down: stale.
    let mut a = resumed_a(false);
    let out = a.peer(Role::Standby, 6, Verdict::Healthy, Handover::None);
    assert_eq!(
        release(&out),
        Some(Reason::NewerTermSinceRestart { peer_term: 6 })
    );
}

#[test]
fn restart_confirmed_by_peer_in_time() {
    let mut a = resumed_a(true);
    let out = a.wait(1_400);
    assert!(release(&out).is_none(), "within the grace");
    let out = a.wait(200);
    assert_eq!(release(&out), Some(Reason::ResumeUnconfirmed));
    // Heard in time: confirmed, and the grace's end changes nothing.
    let mut a = resumed_a(true);
    a.peer(Role::Standby, 5, Verdict::Healthy, Handover::None);
    a.wait_hearing(3_000, Role::Standby, 5, Verdict::Healthy);
    assert_eq!(a.core.role(), Role::Active);
    assert!(release(&a.log).is_none());
}

#[test]
fn peer_claims_calls_under_a_newer_term() {
    let mut a = active_a();
    let term = a.core.term();
    let out = a.peer(Role::Active, term, Verdict::Healthy, Handover::None);
    assert!(release(&out).is_none(), "A keeps the calls at equal terms");
    let out = a.peer(Role::Active, term + 1, Verdict::Healthy, Handover::None);
    assert_eq!(
        release(&out),
        Some(Reason::PeerHigherTerm {
            peer_term: term + 1
        })
    );

    // The same rule aborts a takeover in progress (B yields at equal terms).
    let mut b = Harness::new(Side::B);
    b.settle(Role::Standby, 0);
    b.input(Input::Operator(OperatorCommand::Failover {
        force: false,
        reason: "test".into(),
    }));
    assert_eq!(b.core.role(), Role::TakingOver);
    let term = b.core.term();
    b.peer(Role::Active, term, Verdict::Healthy, Handover::None);
    let out = b.input(Input::TakeoverDone);
    assert_eq!(
        release(&out),
        Some(Reason::PeerHigherTerm { peer_term: term })
    );
}

#[test]
fn relay_moved_to_the_peer() {
    let mut a = active_a();
    a.input(Input::RelayPosition(Some(Side::B)));
    let out = a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    assert!(
        release(&out).is_none(),
        "a standby does not claim the relay: an alert, no step-down"
    );
    assert!(alerts(&a.log)
        .iter()
        .any(|m| m.contains("relay reads back on the standby's side")));
    let out = a.peer(Role::Active, 0, Verdict::Healthy, Handover::None);
    assert_eq!(release(&out), Some(Reason::PeerHoldsRelay));
}

#[test]
fn older_active_cannot_hear_this_node() {
    let mut a = active_a();
    a.input(Input::RelayPosition(Some(Side::A)));
    for _ in 0..5 {
        let out = a.peer(Role::Active, 0, Verdict::Healthy, Handover::None);
        assert!(
            release(&out).is_none(),
            "yielded although the relay reads back on its own side"
        );
    }
    // The relay reading ages out (relay_fresh: 2 s); B still never learns A's term.
    let out = a.wait_hearing(2_500, Role::Active, 0, Verdict::Healthy);
    assert_eq!(release(&out), Some(Reason::PeerCannotHearUs));
}

#[test]
fn a_burst_of_stale_datagrams_is_not_a_deaf_peer() {
    // A node back from a cut: its datagrams from before it heard this node arrive all at once
    // (queued behind neighbour resolution), with no relay reading to vouch for this node.
    let mut a = active_a();
    for _ in 0..5 {
        let out = a.peer(Role::Active, 0, Verdict::Healthy, Handover::None);
        assert!(
            release(&out).is_none(),
            "yielded to a burst of stale datagrams"
        );
    }
    // A peer that keeps claiming the calls without hearing this node is deaf after all.
    let out = a.wait_hearing(600, Role::Active, 0, Verdict::Healthy);
    assert_eq!(release(&out), Some(Reason::PeerCannotHearUs));
}

// ----- hand over ------------------------------------------------------------------------------

#[test]
fn standby_asks_for_the_calls() {
    let mut a = active_a();
    let term = a.core.term();
    let ask = |forced| Handover::PleaseRelease { forced };
    let out = a.peer(Role::Standby, term - 1, Verdict::Healthy, ask(false));
    assert!(
        release(&out).is_none(),
        "a request older than our term was already honoured"
    );
    let out = a.peer(Role::Standby, term, Verdict::Failed, ask(false));
    assert!(
        release(&out).is_none(),
        "an unforced request from an unhealthy standby"
    );
    let out = a.peer(Role::Standby, term, Verdict::Healthy, ask(false));
    assert_eq!(release(&out), Some(Reason::PeerRequested { forced: false }));

    let mut a = active_a();
    let out = a.peer(Role::Standby, term, Verdict::Failed, ask(true));
    assert_eq!(release(&out), Some(Reason::PeerRequested { forced: true }));
}

#[test]
fn hand_over_when_this_node_cannot_serve() {
    // Its call path failed (right after the start-up election, which is no switch: no
    // hold-down to wait out).
    let mut a = active_a();
    a.peer(Role::Standby, 1, Verdict::Failed, Handover::None);
    let out = a.input(Input::LocalVerdict(Verdict::Failed));
    assert!(release(&out).is_none(), "to an unhealthy standby");
    a.wait_hearing(1_000, Role::Standby, 1, Verdict::Failed);
    assert!(alerts(&a.log)
        .iter()
        .any(|m| m.contains("no handover possible")));
    let out = a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    assert_eq!(release(&out), Some(Reason::OwnCallPathFailed));

    // Its service network is down (its Asterisk still answers locally).
    let mut a = active_a();
    a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    let out = a.input(Input::Carrier(Err("eth0: no carrier".into())));
    assert!(
        matches!(release(&out), Some(Reason::ServiceNetworkDown { detail }) if detail.contains("carrier"))
    );
}

#[test]
fn both_failures_of_a_shared_silence_delivered_together_move_no_calls() {
    // The verdict gate held the standby's Asterisk's failure back (its own was still heard);
    // when its own fails too, both arrive in one input. Applied one by one, the first (its own,
    // the standby's still counted as answering) would be a handover: seen on a busy machine.
    let mut a = active_a();
    a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    let out = a.core.handle_all(
        Millis(a.now),
        [
            Input::LocalVerdict(Verdict::Failed),
            Input::PeerAsteriskVerdict(Verdict::Failed),
        ],
    );
    assert!(release(&out).is_none(), "{out:?}");
    a.wait_hearing(3_000, Role::Standby, 1, Verdict::Healthy);
    assert!(release(&a.log).is_none(), "{:?}", a.log);

    // The same two, one input each in that order: the first alone is acted upon.
    let mut a = active_a();
    a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    let out = a.input(Input::LocalVerdict(Verdict::Failed));
    assert_eq!(release(&out), Some(Reason::OwnCallPathFailed));
}

#[test]
fn an_own_call_path_failed_with_the_standbys_asterisk_is_handed_over_once_that_one_answers() {
    // Its Asterisk and the standby's miss its probes together (this host stalled): the calls
    // stay, even when the standby reports itself ready.
    let mut a = active_a();
    a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    a.input(Input::PeerAsteriskVerdict(Verdict::Failed));
    a.wait(200);
    let out = a.input(Input::LocalVerdict(Verdict::Failed));
    assert!(release(&out).is_none(), "{out:?}");
    a.wait_hearing(3_000, Role::Standby, 1, Verdict::Healthy);
    assert!(release(&a.log).is_none());
    // The standby's Asterisk answers again and its own still does not: handed over two probe
    // deadlines later.
    a.input(Input::PeerAsteriskVerdict(Verdict::Healthy));
    a.wait_hearing(900, Role::Standby, 1, Verdict::Healthy);
    assert!(release(&a.log).is_none());
    a.wait_hearing(200, Role::Standby, 1, Verdict::Healthy);
    assert_eq!(release(&a.log), Some(Reason::OwnCallPathFailed));

    // Both answer again: nothing moves, and a failure of its own alone later is handed over at once.
    let mut a = active_a();
    a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    a.input(Input::PeerAsteriskVerdict(Verdict::Failed));
    a.wait(100);
    a.input(Input::LocalVerdict(Verdict::Failed));
    a.wait_hearing(1_000, Role::Standby, 1, Verdict::Healthy);
    a.input(Input::LocalVerdict(Verdict::Healthy));
    a.wait(100);
    a.input(Input::PeerAsteriskVerdict(Verdict::Healthy));
    a.wait_hearing(3_000, Role::Standby, 1, Verdict::Healthy);
    assert!(release(&a.log).is_none());
    let out = a.input(Input::LocalVerdict(Verdict::Failed));
    assert_eq!(release(&out), Some(Reason::OwnCallPathFailed));

    // Failures more than a probe deadline apart are two faults, each acted upon as ever.
    let mut a = active_a();
    a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    a.input(Input::PeerAsteriskVerdict(Verdict::Failed));
    a.wait_hearing(2_000, Role::Standby, 1, Verdict::Healthy);
    let out = a.input(Input::LocalVerdict(Verdict::Failed));
    assert_eq!(release(&out), Some(Reason::OwnCallPathFailed));
}

#[test]
fn hand_over_when_no_reachability_target_answers() {
    // The interface keeps its carrier, but no target (gateway, trunk) answers from here: a
    // standby that reaches them takes the calls.
    let mut a = active_a();
    a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    let out = a.input(Input::Reachability(Err(
        "no reachability target answers: 192.0.2.1 (ICMP echo): no reply".into(),
    )));
    assert!(
        matches!(release(&out), Some(Reason::ServiceNetworkDown { detail }) if detail.contains("192.0.2.1")),
        "{out:?}"
    );

    // A standby that cannot reach them either gets nothing: the active keeps the calls and says
    // why no handover happens.
    let mut a = active_a();
    let mut cut_off = peer_state(Side::B, Role::Standby, 1, Verdict::Healthy, Handover::None);
    cut_off.readiness = Readiness::ServiceNetworkDown;
    a.peer_says(cut_off);
    let out = a.input(Input::Reachability(Err("no target answers".into())));
    assert!(release(&out).is_none(), "handed over to a cut-off standby");
    a.wait(300);
    assert!(
        alerts(&a.log)
            .iter()
            .any(|m| m.contains("no handover possible") && m.contains("service network")),
        "{:?}",
        alerts(&a.log)
    );
    assert_eq!(a.core.role(), Role::Active);

    // Carrier back but targets still silent: still down (both halves must be up), so once
    // the standby can take the calls, they go.
    a.input(Input::Carrier(Err("eth0: no carrier".into())));
    a.input(Input::Carrier(Ok(())));
    assert!(release(&a.log).is_none());
    let out = a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    assert!(
        matches!(release(&out), Some(Reason::ServiceNetworkDown { detail }) if detail == "no target answers"),
        "{out:?}"
    );
}
