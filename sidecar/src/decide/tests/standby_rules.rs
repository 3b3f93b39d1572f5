//! One test per standby rule, named after it: the rule alone holds the step back (with its alert
//! where it has one), and the step follows once its condition is gone.

use super::*;

fn took_over(cmds: &[Command]) -> Option<Reason> {
    takeover(cmds).map(|(_, reason)| reason)
}

fn requests_release(cmds: &[Command]) -> usize {
    cmds.iter()
        .filter(|c| matches!(c, Command::Decision(d) if d.kind == DecisionKind::RequestRelease))
        .count()
}

fn has_alert(h: &Harness, text: &str) -> bool {
    alerts(&h.log).iter().any(|a| a.contains(text))
}

/// A, configured to take the calls back, with both Asterisks healthy.
fn failback_node() -> Harness {
    let mut cfg = DecideConfig::new(Side::A);
    cfg.failback_to = Some(Side::A);
    let mut a = Harness::with(cfg, PersistedState::default());
    a.input(Input::LocalVerdict(Verdict::Healthy));
    a.input(Input::PeerAsteriskVerdict(Verdict::Healthy));
    a
}

/// B, the preferred side (so designated when both are healthy and nobody is active).
fn preferred_standby() -> Harness {
    let mut cfg = DecideConfig::new(Side::B);
    cfg.preferred = Side::B;
    let mut b = Harness::with(cfg, PersistedState::default());
    b.input(Input::LocalVerdict(Verdict::Healthy));
    b.input(Input::PeerAsteriskVerdict(Verdict::Healthy));
    b
}

fn with_maintenance(state: PeerState, maintenance: bool) -> PeerState {
    PeerState {
        maintenance,
        ..state
    }
}

// ----- gates ----------------------------------------------------------------------------------

#[test]
fn takeover_retry_wait_over() {
    let mut b = standby_with_silent_active();
    b.urgent_answer = Some(false);
    assert_eq!(took_over(&b.wait(1_000)), Some(Reason::PeerDead));
    b.input(Input::TakeoverFailed {
        error: "relay did not answer".into(),
    });
    b.input(Input::ReleaseDone);
    assert!(
        takeover(&b.wait(900)).is_none(),
        "retried within takeover_retry"
    );
    assert_eq!(took_over(&b.wait(200)), Some(Reason::PeerDead));
}

// ----- handover -------------------------------------------------------------------------------

#[test]
fn peer_hands_over_to_this_node() {
    let mut b = Harness::new(Side::B);
    b.settle(Role::Active, 1);
    let out = b.peer(Role::Releasing, 1, Verdict::Healthy, Handover::None);
    assert!(
        takeover(&out).is_none(),
        "a peer that releases without handing over invites nobody"
    );
    let out = b.peer(
        Role::Releasing,
        1,
        Verdict::Healthy,
        Handover::ReleasingToYou { forced: false },
    );
    assert_eq!(took_over(&out), Some(Reason::PeerHandedOver));
}

#[test]
fn this_node_can_take_over_or_handover_forced() {
    let mut b = Harness::new(Side::B);
    b.settle(Role::Active, 1);
    b.input(Input::LocalVerdict(Verdict::Failed));
    let offer = |forced| Handover::ReleasingToYou { forced };
    let out = b.peer(Role::Releasing, 1, Verdict::Healthy, offer(false));
    assert!(takeover(&out).is_none());
    assert!(has_alert(
        &b,
        "peer handed over but this node cannot take over (its Asterisk is failed)"
    ));
    let out = b.peer(Role::Releasing, 1, Verdict::Healthy, offer(true));
    assert_eq!(took_over(&out), Some(Reason::PeerHandedOver));
}

// ----- dead peer ------------------------------------------------------------------------------

#[test]
fn silence_lasted_since_own_start_or_stall() {
    // Start-up grace: a peer never heard may well be active.
    let mut h = Harness::new(Side::B);
    h.input(Input::LocalVerdict(Verdict::Healthy));
    h.input(Input::PeerAsteriskVerdict(Verdict::Failed));
    let out = h.wait(500);
    assert!(
        takeover(&out).is_none(),
        "took over before hearing from the peer"
    );
    let out = h.wait(500);
    assert_eq!(
        took_over(&out),
        Some(Reason::PeerDead),
        "after the grace a silent peer whose Asterisk fails is dead"
    );

    // A stall: the silence counts again from the resumption.
    let mut b = standby_with_silent_active();
    b.wait(300);
    b.input(Input::UrgentProbeResult { ok: false });
    // Stalled for 5 s right before it would have decided; the peer's messages may be queued.
    b.now += 5_000;
    let out = b.core.tick(Millis(b.now));
    assert!(
        takeover(&out).is_none(),
        "acted on evidence from before the stall"
    );
    b.urgent_answer = Some(false);
    assert!(
        takeover(&b.wait(400)).is_none(),
        "fresh evidence, but the silence since the stall is short"
    );
    assert_eq!(took_over(&b.wait(400)), Some(Reason::PeerDead));
}

#[test]
fn silence_counts_again_once_the_own_service_network_is_back() {
    // Cut off itself: the peer silent and its Asterisk failed from here, which its own cut
    // explains. Back on the network, it takes nothing over on that stale evidence.
    let mut b = standby_with_silent_active();
    b.input(Input::Carrier(Err("eth0: no carrier".into())));
    b.input(Input::PeerAsteriskVerdict(Verdict::Failed));
    b.urgent_answer = Some(false);
    b.wait(2_000);
    assert!(
        takeover(&b.log).is_none(),
        "took over without its own network"
    );
    let out = b.input(Input::Carrier(Ok(())));
    assert!(
        takeover(&out).is_none(),
        "took over the moment its network came back"
    );
    assert!(
        takeover(&b.wait(300)).is_none(),
        "acted on evidence from its own cut"
    );
    // Still silent after a full silence on the network, with a fresh failed probe: dead.
    b.wait(1_000);
    assert_eq!(took_over(&b.log), Some(Reason::PeerDead));
}

#[test]
fn silent_peer_did_not_move_the_relay() {
    let mut b = standby_with_silent_active();
    b.urgent_answer = Some(false);
    b.input(Input::RelayPosition(Some(Side::B))); // after A went silent, still on B's side
    b.wait(100);
    b.input(Input::RelayPosition(Some(Side::A))); // then A moved it: A is alive
    assert!(takeover(&b.wait(2_000)).is_none());
    assert!(has_alert(&b, "moved the relay"));
    // A is heard once more; the move is older than its next silence.
    b.peer(Role::Active, 1, Verdict::Healthy, Handover::None);
    assert_eq!(took_over(&b.wait(1_000)), Some(Reason::PeerDead));
}

#[test]
fn peer_asterisk_fails_probes_from_here() {
    let mut h = standby_with_silent_active();
    let out = h.wait(2_000);
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::ProbePeerNow { .. })),
        "asks for fresh evidence"
    );
    h.input(Input::UrgentProbeResult { ok: true });
    h.wait(2_000);
    assert!(takeover(&h.log).is_none());
    assert!(has_alert(&h, "broken link"), "{:?}", alerts(&h.log));
    // The probe in flight fails, and so does every one after it.
    h.urgent_answer = Some(false);
    h.input(Input::UrgentProbeResult { ok: false });
    h.wait(1_000);
    assert_eq!(took_over(&h.log), Some(Reason::PeerDead));
}

#[test]
fn peer_asterisk_not_silent_with_own() {
    // The peer falls silent on every link, and its Asterisk and this node's own miss their
    // probes together: this host stalled. Its own Asterisk answers first once the stall ends.
    let mut h = standby_with_silent_active();
    h.urgent_answer = Some(false);
    h.input(Input::PeerAsteriskVerdict(Verdict::Failed));
    h.wait(150);
    h.input(Input::LocalVerdict(Verdict::Failed));
    h.wait(2_000);
    h.input(Input::LocalVerdict(Verdict::Healthy));
    h.wait(900);
    assert!(
        takeover(&h.log).is_none(),
        "the peer's Asterisk gets its chance to answer after the shared silence"
    );
    // The peer's Asterisk answers too: nothing happened, and a failure of it alone later is
    // taken over as fast as ever.
    h.urgent_answer = Some(true);
    h.input(Input::PeerAsteriskVerdict(Verdict::Healthy));
    h.wait(3_000);
    assert!(takeover(&h.log).is_none());
    h.urgent_answer = Some(false);
    h.input(Input::PeerAsteriskVerdict(Verdict::Failed));
    h.wait(1_000);
    assert_eq!(took_over(&h.log), Some(Reason::PeerDead));

    // The same shared silence, but the peer's Asterisk stays silent after the own one is back:
    // a takeover two probe deadlines later.
    let mut h = standby_with_silent_active();
    h.urgent_answer = Some(false);
    h.input(Input::LocalVerdict(Verdict::Failed));
    h.input(Input::PeerAsteriskVerdict(Verdict::Failed));
    h.wait(2_000);
    h.input(Input::LocalVerdict(Verdict::Healthy));
    let back = h.now;
    h.wait(900);
    assert!(takeover(&h.log).is_none());
    h.wait(200);
    assert_eq!(took_over(&h.log), Some(Reason::PeerDead));
    assert!(h.now - back >= 2 * h.core.config().probe_deadline_ms);
}

#[test]
fn peer_not_in_maintenance() {
    // A silent peer that was in maintenance.
    let mut b = Harness::new(Side::B);
    b.settle(Role::Active, 1);
    let active = peer_state(Side::A, Role::Active, 1, Verdict::Healthy, Handover::None);
    b.peer_says(with_maintenance(active, true));
    b.urgent_answer = Some(false);
    assert!(takeover(&b.wait(2_000)).is_none(), "dead peer");
    b.peer_says(with_maintenance(active, false));
    assert_eq!(took_over(&b.wait(1_000)), Some(Reason::PeerDead));

    // Nobody active, this node designated.
    let mut b = preferred_standby();
    let standby = peer_state(Side::A, Role::Standby, 0, Verdict::Healthy, Handover::None);
    for _ in 0..20 {
        b.peer_says(with_maintenance(standby, true));
        b.wait(100);
    }
    assert!(takeover(&b.log).is_none(), "nobody active");
    b.peer_says(standby);
    assert_eq!(took_over(&b.wait(300)), Some(Reason::NoActiveNode));

    // Failback.
    let mut a = failback_node();
    let active = peer_state(Side::B, Role::Active, 3, Verdict::Healthy, Handover::None);
    for _ in 0..120 {
        a.peer_says(with_maintenance(active, true));
        a.wait(100);
    }
    assert_eq!(requests_release(&a.log), 0, "failback");
    let out = a.peer_says(active);
    assert_eq!(requests_release(&out), 1);
}

#[test]
fn no_handover_offer_open() {
    let mut a = Harness::new(Side::A);
    a.make_active();
    a.wait_hearing(10_000, Role::Standby, 1, Verdict::Healthy); // past hold-down
    let out = a.input(Input::LocalVerdict(Verdict::Failed));
    assert_eq!(release(&out), Some(Reason::OwnCallPathFailed));
    a.input(Input::ReleaseDone);
    // A recovers; B, offered the calls, falls silent (as if busy taking over).
    a.input(Input::LocalVerdict(Verdict::Healthy));
    a.urgent_answer = Some(false);
    assert!(
        takeover(&a.wait(2_000)).is_none(),
        "took over while its own offer was open"
    );
    assert_eq!(took_over(&a.wait(1_500)), Some(Reason::PeerDead));
}

#[test]
fn no_recent_step_down_for_this_peer() {
    let mut a = Harness::new(Side::A);
    a.make_active();
    let out = a.peer(Role::Active, 5, Verdict::Healthy, Handover::None);
    assert_eq!(release(&out), Some(Reason::PeerHigherTerm { peer_term: 5 }));
    a.input(Input::ReleaseDone);
    a.urgent_answer = Some(false);
    assert!(takeover(&a.wait(3_000)).is_none());
    assert!(has_alert(&a, "stepped down for it recently"));
    assert_eq!(took_over(&a.wait(8_000)), Some(Reason::PeerDead));
}

#[test]
fn witness_reachable_if_configured() {
    let mut cfg = DecideConfig::new(Side::B);
    cfg.witness = true;
    let mut h = Harness::with(cfg, PersistedState::default());
    // An answer from while the peer was still heard says nothing about the cut since.
    h.settle(Role::Active, 1);
    h.input(Input::Witness(true));
    h.urgent_answer = Some(false);
    h.wait(1_000);
    assert!(
        takeover(&h.log).is_none(),
        "took over on an answer from before the silence"
    );
    assert!(!has_alert(&h, "witness"), "no answer yet is no alert");
    // Unreachable since the peer fell silent: no takeover, an alert.
    h.input(Input::Witness(false));
    h.wait(100);
    assert!(takeover(&h.log).is_none(), "took over without the witness");
    assert!(has_alert(&h, "witness is not reachable"));
    let out = h.input(Input::Witness(true));
    assert_eq!(took_over(&out), Some(Reason::PeerDead));
}

#[test]
fn this_node_can_take_over() {
    let mut h = standby_with_silent_active();
    h.input(Input::Carrier(Err("eth0: no carrier".into())));
    h.urgent_answer = Some(false);
    h.wait(2_000);
    assert!(takeover(&h.log).is_none());
    assert!(has_alert(
        &h,
        "cannot take over (its service network is down (eth0: no carrier))"
    ));

    let mut h = standby_with_silent_active();
    h.input(Input::LocalVerdict(Verdict::Failed));
    h.urgent_answer = Some(false);
    h.wait(2_000);
    assert!(takeover(&h.log).is_none());
    assert!(has_alert(
        &h,
        "cannot take over (its Asterisk is failed): no takeover"
    ));
    let out = h.input(Input::LocalVerdict(Verdict::Degraded));
    assert_eq!(
        took_over(&out),
        Some(Reason::PeerDead),
        "degraded still carries calls"
    );
}

// ----- nobody active --------------------------------------------------------------------------

#[test]
fn nobody_claims_the_calls() {
    let mut b = preferred_standby();
    for role in [Role::TakingOver, Role::Active, Role::Releasing] {
        let out = b.wait_hearing(1_000, role, 1, Verdict::Healthy);
        assert!(takeover(&out).is_none(), "took over from a peer {role}");
    }
    let out = b.wait_hearing(1_000, Role::Standby, 1, Verdict::Healthy);
    assert_eq!(took_over(&out), Some(Reason::NoActiveNode));
}

#[test]
fn peer_not_faulted() {
    let mut b = preferred_standby();
    assert!(takeover(&b.wait_hearing(1_000, Role::Faulted, 1, Verdict::Healthy)).is_none());
    assert!(has_alert(&b, "is faulted and nobody is active"));
    let out = b.wait_hearing(1_000, Role::Standby, 1, Verdict::Healthy);
    assert_eq!(took_over(&out), Some(Reason::NoActiveNode));
}

#[test]
fn peer_has_judged_its_readiness() {
    // A is preferred but has not judged its Asterisk yet: after a while B goes ahead without.
    let mut b = Harness::new(Side::B);
    b.input(Input::LocalVerdict(Verdict::Healthy));
    b.input(Input::PeerAsteriskVerdict(Verdict::Healthy));
    let out = b.wait_hearing(4_500, Role::Standby, 0, Verdict::Unknown);
    assert!(
        takeover(&out).is_none(),
        "designated before the peer judged itself"
    );
    let out = b.wait_hearing(1_000, Role::Standby, 0, Verdict::Unknown);
    assert_eq!(took_over(&out), Some(Reason::NoActiveNode));
}

#[test]
fn knowledge_of_peer_is_current() {
    let mut b = preferred_standby();
    b.input(Input::LocalVerdict(Verdict::Unknown)); // A is designated meanwhile
    assert!(takeover(&b.wait_hearing(1_000, Role::Standby, 0, Verdict::Healthy)).is_none());
    b.wait(250); // A's last word is 350 ms old: alive, but a message is missing
    let mut out = b.input(Input::LocalVerdict(Verdict::Healthy));
    out.extend(b.wait(200));
    assert!(takeover(&out).is_none(), "designated on stale knowledge");
    b.peer(Role::Standby, 0, Verdict::Healthy, Handover::None);
    assert_eq!(took_over(&b.wait(300)), Some(Reason::NoActiveNode));
}

#[test]
fn this_node_is_designated() {
    let mut b = Harness::new(Side::B); // A is preferred
    b.input(Input::LocalVerdict(Verdict::Healthy));
    b.input(Input::PeerAsteriskVerdict(Verdict::Healthy));
    let out = b.wait_hearing(2_000, Role::Standby, 0, Verdict::Healthy);
    assert!(takeover(&out).is_none(), "the preferred side is healthy");
    let out = b.wait_hearing(1_000, Role::Standby, 0, Verdict::Failed);
    assert_eq!(took_over(&out), Some(Reason::NoActiveNode));
}

// ----- failback -------------------------------------------------------------------------------

#[test]
fn failback_configured_to_this_node() {
    let mut a = Harness::new(Side::A);
    a.settle(Role::Active, 3);
    a.wait(20_000);
    a.peer(Role::Active, 3, Verdict::Healthy, Handover::None);
    assert_eq!(requests_release(&a.log), 0, "failback without failback_to");

    let mut a = failback_node();
    a.wait_hearing(12_000, Role::Active, 3, Verdict::Healthy);
    assert!(a.log.iter().any(|c| matches!(c, Command::SendPeer(s) if s.handover == Handover::PleaseRelease { forced: false })));
}

#[test]
fn peer_is_active() {
    let mut a = failback_node();
    a.wait_hearing(12_000, Role::TakingOver, 3, Verdict::Healthy);
    assert_eq!(
        requests_release(&a.log),
        0,
        "asked a peer still taking over"
    );
    let out = a.peer(Role::Active, 3, Verdict::Healthy, Handover::None);
    assert_eq!(requests_release(&out), 1);
}

#[test]
fn this_node_is_fully_ready() {
    let mut a = failback_node();
    a.input(Input::LocalVerdict(Verdict::Degraded));
    a.wait_hearing(12_000, Role::Active, 3, Verdict::Healthy);
    assert_eq!(
        requests_release(&a.log),
        0,
        "failback to a degraded Asterisk"
    );
    let out = a.input(Input::LocalVerdict(Verdict::Healthy));
    assert_eq!(requests_release(&out), 1);
}

#[test]
fn hold_down_over() {
    // B is preferred, so A does not take over while B is standby; B's switch starts hold-down.
    let mut cfg = DecideConfig::new(Side::A);
    cfg.failback_to = Some(Side::A);
    cfg.preferred = Side::B;
    let mut a = Harness::with(cfg, PersistedState::default());
    a.input(Input::LocalVerdict(Verdict::Healthy));
    // B was elected at the start (no switch), then released and took the calls again at 5 s:
    // the release is a switch.
    a.wait_hearing(5_000, Role::Active, 1, Verdict::Healthy);
    a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    a.wait_hearing(9_500, Role::Active, 2, Verdict::Healthy);
    assert_eq!(requests_release(&a.log), 0, "failback within hold-down");
    let out = a.wait_hearing(1_000, Role::Active, 2, Verdict::Healthy);
    assert_eq!(requests_release(&out), 1);
}

#[test]
fn up_for_hold_down() {
    let mut a = failback_node();
    a.wait_hearing(9_500, Role::Active, 3, Verdict::Healthy);
    assert_eq!(
        requests_release(&a.log),
        0,
        "failback before knowing how long the peer was active"
    );
    let out = a.wait_hearing(1_000, Role::Active, 3, Verdict::Healthy);
    assert_eq!(requests_release(&out), 1);
}

#[test]
fn no_release_request_open() {
    let mut a = failback_node();
    a.wait_hearing(10_500, Role::Active, 3, Verdict::Healthy);
    assert_eq!(requests_release(&a.log), 1);
    a.wait_hearing(2_000, Role::Active, 3, Verdict::Healthy);
    assert_eq!(
        requests_release(&a.log),
        1,
        "asked again while a request is open"
    );
    // The request expires after handover_timeout (3 s), then failback asks again.
    a.wait_hearing(2_000, Role::Active, 3, Verdict::Healthy);
    assert_eq!(requests_release(&a.log), 2);
}

#[test]
fn a_standby_that_reaches_no_target_takes_nothing_over() {
    // The active is dead (silent, its Asterisk fails), but no reachability target answers from
    // here either: this node could not serve the calls, so it stays standby and says why.
    let mut h = standby_with_silent_active();
    h.input(Input::Reachability(Err(
        "no reachability target answers: 10.0.0.254 (ICMP echo): no reply".into(),
    )));
    h.urgent_answer = Some(false);
    h.wait(2_000);
    assert!(takeover(&h.log).is_none(), "took over without its targets");
    assert!(has_alert(
        &h,
        "service network down (no reachability target answers"
    ));
    assert_eq!(
        h.core.status().readiness,
        Readiness::ServiceNetworkDown,
        "the peer hears why"
    );
    // A target answers again: fresh evidence first, then the takeover.
    let out = h.input(Input::Reachability(Ok(())));
    assert!(
        takeover(&out).is_none(),
        "took over on evidence from its cut"
    );
    h.wait(1_500);
    assert_eq!(took_over(&h.log), Some(Reason::PeerDead));
}
