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

// ----- step down ------------------------------------------------------------------------------

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
fn hand_over_when_own_call_path_failed() {
    let mut a = active_a();
    a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    let out = a.input(Input::LocalVerdict(Verdict::Failed));
    assert!(release(&out).is_none(), "within hold-down");
    a.wait_hearing(10_000, Role::Standby, 1, Verdict::Failed);
    assert!(release(&a.log).is_none(), "to an unhealthy standby");
    assert!(alerts(&a.log)
        .iter()
        .any(|m| m.contains("no handover possible")));
    let out = a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    assert_eq!(release(&out), Some(Reason::OwnCallPathFailed));
}
