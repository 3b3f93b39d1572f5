//! Unit tests of the decision core, driven by hand-fed inputs: scenarios here, one test per
//! named rule in [`standby_rules`] and [`active_rules`].

mod active_rules;
mod standby_rules;

use super::*;
use crate::side::Side;
use crate::verdict::Verdict;

struct Harness {
    core: Core,
    now: u64,
    /// Everything the core emitted, in order.
    log: Vec<Command>,
    /// When set, every `ProbePeerNow` is answered at once with this result.
    urgent_answer: Option<bool>,
}

fn peer_state(from: Side, role: Role, term: u64, own: Verdict, handover: Handover) -> PeerState {
    PeerState {
        from,
        role,
        term,
        seen_term: term,
        maintenance: false,
        own_verdict: own,
        peer_verdict: Verdict::Healthy,
        relay_seen: None,
        handover,
        readiness: Readiness::from_verdict(own),
        cold_standby: false,
    }
}

impl Harness {
    fn new(me: Side) -> Harness {
        Harness::with(DecideConfig::new(me), PersistedState::default())
    }

    fn with(cfg: DecideConfig, persisted: PersistedState) -> Harness {
        Harness {
            core: Core::new(cfg, persisted, Millis(0)),
            now: 0,
            log: Vec::new(),
            urgent_answer: None,
        }
    }

    fn me(&self) -> Side {
        self.core.config().me
    }

    fn input(&mut self, i: Input) -> Vec<Command> {
        let out = self.core.handle(Millis(self.now), i);
        let out = self.answer_probes(out);
        self.log.extend(out.iter().cloned());
        out
    }

    fn answer_probes(&mut self, mut out: Vec<Command>) -> Vec<Command> {
        if let Some(ok) = self.urgent_answer {
            if out
                .iter()
                .any(|c| matches!(c, Command::ProbePeerNow { .. }))
            {
                let more = self
                    .core
                    .handle(Millis(self.now), Input::UrgentProbeResult { ok });
                out.extend(more);
            }
        }
        out
    }

    /// Let `ms` pass, ticking every 10 ms; returns what was emitted meanwhile.
    fn wait(&mut self, ms: u64) -> Vec<Command> {
        let mut all = Vec::new();
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 10).min(end);
            let out = self.core.tick(Millis(self.now));
            let out = self.answer_probes(out);
            all.extend(out);
        }
        self.log.extend(all.iter().cloned());
        all
    }

    /// Let `ms` pass while the peer keeps reporting `role` every 100 ms.
    fn wait_hearing(&mut self, ms: u64, role: Role, term: u64, own: Verdict) -> Vec<Command> {
        let mut all = Vec::new();
        for _ in 0..ms / 100 {
            all.extend(self.peer(role, term, own, Handover::None));
            all.extend(self.wait(100));
        }
        all
    }

    fn peer(&mut self, role: Role, term: u64, own: Verdict, handover: Handover) -> Vec<Command> {
        let state = peer_state(self.me().other(), role, term, own, handover);
        self.input(Input::PeerMessage {
            link: 0,
            state,
            newest: true,
        })
    }

    /// The peer says exactly `state` (for fields `peer` does not set, e.g. maintenance).
    fn peer_says(&mut self, state: PeerState) -> Vec<Command> {
        self.input(Input::PeerMessage {
            link: 0,
            state,
            newest: true,
        })
    }

    /// Both Asterisks healthy, peer heard as `role` for a while.
    fn settle(&mut self, peer_role: Role, peer_term: u64) {
        self.input(Input::LocalVerdict(Verdict::Healthy));
        self.input(Input::PeerAsteriskVerdict(Verdict::Healthy));
        for _ in 0..10 {
            self.peer(peer_role, peer_term, Verdict::Healthy, Handover::None);
            self.wait(100);
        }
    }

    /// Make the core active (takeover with nobody active, then done).
    fn make_active(&mut self) {
        self.settle(Role::Standby, 0);
        assert!(
            takeover(&self.log).is_some() || self.core.role() == Role::TakingOver,
            "designated node should take over"
        );
        self.input(Input::TakeoverDone);
        assert_eq!(self.core.role(), Role::Active);
    }
}

fn takeover(cmds: &[Command]) -> Option<(u64, Reason)> {
    cmds.iter().find_map(|c| match c {
        Command::StartTakeover { term, reason } => Some((*term, reason.clone())),
        _ => None,
    })
}

fn release(cmds: &[Command]) -> Option<Reason> {
    cmds.iter().find_map(|c| match c {
        Command::StartRelease { reason } => Some(reason.clone()),
        _ => None,
    })
}

fn alerts(cmds: &[Command]) -> Vec<String> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Alert { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn reply(cmds: &[Command]) -> Option<Result<String, String>> {
    cmds.iter().find_map(|c| match c {
        Command::OperatorReply(r) => Some(r.clone()),
        _ => None,
    })
}

fn last_sent(cmds: &[Command]) -> Option<PeerState> {
    cmds.iter().rev().find_map(|c| match c {
        Command::SendPeer(s) => Some(*s),
        _ => None,
    })
}

/// B, standby, with A active and healthy, then A goes silent.
fn standby_with_silent_active() -> Harness {
    let mut h = Harness::new(Side::B);
    h.settle(Role::Active, 1);
    assert_eq!(h.core.role(), Role::Standby);
    h
}

#[test]
fn silent_peer_with_failing_asterisk_is_taken_over_with_a_durable_new_term() {
    let mut h = standby_with_silent_active();
    let out = h.wait(300);
    assert!(out
        .iter()
        .any(|c| matches!(c, Command::ProbePeerNow { .. })));
    h.input(Input::UrgentProbeResult { ok: false });
    let out = h.wait(400);
    let (term, reason) = takeover(&out).expect("takeover");
    assert_eq!((term, reason), (2, Reason::PeerDead));
    let persist = out
        .iter()
        .position(|c| matches!(c, Command::PersistTerm { term: 2, .. }))
        .expect("persist");
    let start = out
        .iter()
        .position(|c| matches!(c, Command::StartTakeover { .. }))
        .expect("start");
    let send = out
        .iter()
        .position(|c| matches!(c, Command::SendPeer(s) if s.term == 2))
        .expect("send");
    assert!(
        persist < start && persist < send,
        "term must be durable before it is used"
    );
    assert_eq!(h.core.role(), Role::TakingOver);
}

#[test]
fn a_failed_verdict_from_before_the_silence_is_not_evidence() {
    let mut h = Harness::new(Side::B);
    h.settle(Role::Active, 1);
    h.input(Input::PeerAsteriskVerdict(Verdict::Failed)); // A's sidecar still talks
    h.peer(Role::Active, 1, Verdict::Healthy, Handover::None);
    h.wait(300);
    h.input(Input::UrgentProbeResult { ok: true }); // fresh evidence: it answers
    h.wait(2_000);
    assert!(takeover(&h.log).is_none());
}

#[test]
fn active_hands_over_when_its_call_path_fails_and_the_standby_is_healthy() {
    let mut a = Harness::new(Side::A);
    a.make_active();
    a.wait_hearing(10_000, Role::Standby, 1, Verdict::Healthy); // past hold-down
    let out = a.input(Input::LocalVerdict(Verdict::Failed));
    assert_eq!(release(&out), Some(Reason::OwnCallPathFailed));
    let sent = last_sent(&out).expect("tells the peer at once");
    assert_eq!(sent.handover, Handover::ReleasingToYou { forced: false });
    assert_eq!(sent.role, Role::Releasing);

    // The standby's side of the same handover.
    let mut b = Harness::new(Side::B);
    b.settle(Role::Active, 1);
    let state = PeerState {
        from: Side::A,
        ..sent
    };
    let out = b.input(Input::PeerMessage {
        link: 1,
        state,
        newest: true,
    });
    assert_eq!(takeover(&out).map(|t| t.1), Some(Reason::PeerHandedOver));
    assert_eq!(last_sent(&out).map(|s| s.handover), Some(Handover::Ack));
}

#[test]
fn active_keeps_the_calls_when_the_standby_is_unhealthy() {
    let mut a = Harness::new(Side::A);
    a.make_active();
    a.wait_hearing(10_000, Role::Standby, 1, Verdict::Failed);
    let out = a.input(Input::LocalVerdict(Verdict::Failed));
    assert!(release(&out).is_none());
    assert!(alerts(&out)
        .iter()
        .any(|m| m.contains("no handover possible")));
}

#[test]
fn active_steps_down_for_a_peer_with_a_higher_term() {
    let mut a = Harness::new(Side::A);
    a.make_active();
    let out = a.peer(Role::Active, 5, Verdict::Healthy, Handover::None);
    assert_eq!(release(&out), Some(Reason::PeerHigherTerm { peer_term: 5 }));
    a.input(Input::ReleaseDone);
    assert_eq!(a.core.role(), Role::Standby);
}

#[test]
fn equal_terms_side_a_wins() {
    let mut b = Harness::new(Side::B);
    b.settle(Role::Standby, 0);
    // Force B active through an operator takeover (nobody active, B healthy).
    b.input(Input::Operator(OperatorCommand::Failover {
        force: false,
        reason: "test".into(),
    }));
    b.input(Input::TakeoverDone);
    let term = b.core.term();
    let out = b.peer(Role::Active, term, Verdict::Healthy, Handover::None);
    assert!(release(&out).is_some(), "B yields to A at equal terms");

    let mut a = Harness::new(Side::A);
    a.make_active();
    let term = a.core.term();
    let out = a.peer(Role::Active, term, Verdict::Healthy, Handover::None);
    assert!(release(&out).is_none(), "A keeps the calls at equal terms");
}

#[test]
fn manual_failover_is_refused_with_a_reason_when_the_standby_is_unhealthy_unless_forced() {
    let mut a = Harness::new(Side::A);
    a.make_active();
    a.peer(Role::Standby, 1, Verdict::Failed, Handover::None);
    let out = a.input(Input::Operator(OperatorCommand::Failover {
        force: false,
        reason: "test".into(),
    }));
    let err = reply(&out).expect("reply").expect_err("refused");
    assert!(
        err.contains("cannot take the calls") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(a.core.role(), Role::Active);
    let out = a.input(Input::Operator(OperatorCommand::Failover {
        force: true,
        reason: "test".into(),
    }));
    assert!(reply(&out).expect("reply").is_ok());
    assert_eq!(
        last_sent(&out).map(|s| s.handover),
        Some(Handover::ReleasingToYou { forced: true })
    );
}

#[test]
fn graceful_manual_failover_releases_then_the_standby_takes_over() {
    let mut a = Harness::new(Side::A);
    a.make_active();
    let out = a.input(Input::Operator(OperatorCommand::Failover {
        force: false,
        reason: "upgrade".into(),
    }));
    assert!(reply(&out).expect("reply").is_ok());
    assert!(matches!(
        release(&out),
        Some(Reason::Operator { forced: false, .. })
    ));
}

#[test]
fn manual_failover_on_the_standby_asks_the_active_or_needs_force_when_it_is_silent() {
    let mut b = Harness::new(Side::B);
    b.settle(Role::Active, 1);
    let out = b.input(Input::Operator(OperatorCommand::Failover {
        force: false,
        reason: "t".into(),
    }));
    assert!(reply(&out).expect("reply").is_ok());
    assert_eq!(
        last_sent(&out).map(|s| s.handover),
        Some(Handover::PleaseRelease { forced: false })
    );

    let mut b = standby_with_silent_active();
    b.wait(700);
    let out = b.input(Input::Operator(OperatorCommand::Failover {
        force: false,
        reason: "t".into(),
    }));
    let err = reply(&out).expect("reply").expect_err("refused");
    assert!(err.contains("silent"), "{err}");
    let out = b.input(Input::Operator(OperatorCommand::Failover {
        force: true,
        reason: "t".into(),
    }));
    assert!(matches!(
        takeover(&out),
        Some((_, Reason::Operator { forced: true, .. }))
    ));
}

#[test]
fn hold_down_delays_an_automatic_handover_after_a_switch() {
    // A takeover from a dead peer is a switch: the next automatic one waits out hold-down.
    let mut b = standby_with_silent_active();
    b.urgent_answer = Some(false);
    b.wait(1_000);
    assert_eq!(takeover(&b.log).map(|t| t.1), Some(Reason::PeerDead));
    b.input(Input::TakeoverDone);
    b.peer(Role::Standby, 2, Verdict::Healthy, Handover::None);
    let out = b.input(Input::LocalVerdict(Verdict::Failed));
    assert!(release(&out).is_none(), "within hold-down");
    let out = b.wait_hearing(10_000, Role::Standby, 2, Verdict::Healthy);
    assert_eq!(
        release(&out),
        Some(Reason::OwnCallPathFailed),
        "after hold-down"
    );
}

#[test]
fn the_start_up_election_is_no_switch() {
    let mut a = Harness::new(Side::A);
    a.make_active();
    a.peer(Role::Standby, 1, Verdict::Healthy, Handover::None);
    let out = a.input(Input::LocalVerdict(Verdict::Failed));
    assert_eq!(
        release(&out),
        Some(Reason::OwnCallPathFailed),
        "a failure right after the first election hands over at once"
    );
}

#[test]
fn maintenance_stops_automatic_decisions_until_turned_off() {
    let mut b = standby_with_silent_active();
    let out = b.input(Input::Operator(OperatorCommand::Maintenance { on: true }));
    assert!(reply(&out).expect("reply").is_ok());
    assert_eq!(b.core.role(), Role::Maintenance);
    b.urgent_answer = Some(false);
    b.wait(2_000);
    assert!(takeover(&b.log).is_none());
    let out = b.input(Input::Operator(OperatorCommand::Maintenance { on: false }));
    assert_eq!(takeover(&out).map(|t| t.1), Some(Reason::PeerDead));
}

#[test]
fn failed_takeovers_are_undone_retried_and_finally_faulted() {
    let mut b = standby_with_silent_active();
    b.urgent_answer = Some(false);
    b.wait(300);
    for attempt in 1..=3 {
        let out = b.wait(1_100);
        assert!(takeover(&out).is_some() || attempt == 1 && takeover(&b.log).is_some());
        let out = b.input(Input::TakeoverFailed {
            error: "relay did not answer".into(),
        });
        assert!(
            matches!(release(&out), Some(Reason::TakeoverFailed { .. })),
            "cleans up"
        );
        b.input(Input::ReleaseDone);
    }
    assert_eq!(b.core.role(), Role::Faulted);
    let out = b.wait(3_000);
    assert!(b.core.status().takeover_failures >= 3);
    assert!(
        takeover(&out).is_none(),
        "a faulted node waits for the operator"
    );
    // The operator clears it; the peer is still dead, so it tries again at once.
    let out = b.input(Input::Operator(OperatorCommand::Maintenance { on: false }));
    assert!(takeover(&out).is_some());
}

#[test]
fn a_node_that_lost_its_term_file_adopts_the_peers_term_before_taking_over() {
    let mut b = Harness::with(
        DecideConfig::new(Side::B),
        PersistedState {
            missing: true,
            ..PersistedState::default()
        },
    );
    b.input(Input::LocalVerdict(Verdict::Healthy));
    b.input(Input::PeerAsteriskVerdict(Verdict::Healthy));
    let out = b.peer(Role::Active, 41, Verdict::Healthy, Handover::None);
    assert!(
        out.contains(&Command::PersistTerm {
            term: 41,
            active_in: None
        }),
        "the learnt term is persisted"
    );
    b.wait(300);
    b.input(Input::UrgentProbeResult { ok: false });
    let out = b.wait(400);
    assert_eq!(takeover(&out).map(|t| t.0), Some(42));
}

#[test]
fn an_active_steps_down_when_the_relay_reads_back_on_the_silent_peers_side() {
    let mut a = Harness::new(Side::A);
    a.make_active();
    a.input(Input::RelayPosition(Some(Side::A)));
    a.wait(1_000); // the peer goes silent
    let out = a.input(Input::RelayPosition(Some(Side::B)));
    assert_eq!(release(&out), Some(Reason::PeerHoldsRelay));
    a.input(Input::ReleaseDone);
    // The peer moved the relay while silent: it is alive, so no takeover back.
    a.input(Input::UrgentProbeResult { ok: false });
    a.wait(3_000);
    assert_eq!(a.core.role(), Role::Standby);
    assert!(alerts(&a.log).iter().any(|m| m.contains("moved the relay")));
}

#[test]
fn a_clock_going_back_does_not_stop_the_heartbeat() {
    let mut h = Harness::new(Side::A);
    h.wait(1_000);
    h.now = 100; // the caller's clock jumped back by 900 ms
    let out = h.wait(450);
    let sends = out
        .iter()
        .filter(|c| matches!(c, Command::SendPeer(_)))
        .count();
    assert!(sends >= 2, "only {sends} messages in 450 ms");
}

#[test]
fn status_shows_role_peer_links_and_the_last_decision_with_its_inputs() {
    let mut b = standby_with_silent_active();
    b.wait(300);
    b.input(Input::UrgentProbeResult { ok: false });
    b.wait(400);
    let s = b.core.status();
    assert_eq!((s.me, s.role), (Side::B, Role::TakingOver));
    assert_eq!(s.peer.links.len(), 2);
    assert!(!s.peer.alive);
    let d = s.last_decision.expect("decision");
    assert_eq!(d.kind, DecisionKind::Takeover);
    assert_eq!(d.reason, Reason::PeerDead);
    assert!(d.inputs.urgent_probe_failed);
    assert!(d.inputs.peer_silent_ms.is_some_and(|ms| ms >= 600));
}

#[test]
fn a_missing_term_file_is_reported_once() {
    let mut h = Harness::with(
        DecideConfig::new(Side::A),
        PersistedState {
            missing: true,
            ..PersistedState::default()
        },
    );
    let out = h.wait(1_000);
    assert_eq!(
        alerts(&out)
            .iter()
            .filter(|a| a.contains("no term file"))
            .count(),
        1
    );
}

/// The kinds raised, and the kinds cleared, in `cmds`, in order.
fn alert_events(cmds: &[Command]) -> (Vec<AlertKey>, Vec<AlertKey>) {
    let raised = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Alert { key, .. } => Some(*key),
            _ => None,
        })
        .collect();
    let cleared = cmds
        .iter()
        .filter_map(|c| match c {
            Command::AlertCleared { key } => Some(*key),
            _ => None,
        })
        .collect();
    (raised, cleared)
}

#[test]
fn a_broken_link_is_raised_once_and_cleared_when_the_peer_is_heard_again() {
    let mut b = standby_with_silent_active();
    // A is silent but its Asterisk answers B's probes: a broken link, said once.
    b.urgent_answer = Some(true);
    let out = b.wait(3_000);
    assert_eq!(alert_events(&out), (vec![AlertKey::BrokenLink], vec![]));
    assert!(takeover(&out).is_none());
    let out = b.peer(Role::Active, 1, Verdict::Healthy, Handover::None);
    assert_eq!(alert_events(&out), (vec![], vec![AlertKey::BrokenLink]));
    // Cleared once; nothing more while all is well.
    let out = b.wait_hearing(2_000, Role::Active, 1, Verdict::Healthy);
    assert_eq!(alert_events(&out), (vec![], vec![]));
}

#[test]
fn an_alert_ends_when_its_rule_is_no_longer_asked() {
    // B's own Asterisk is failed when A dies: no takeover, an alert.
    let mut b = standby_with_silent_active();
    b.input(Input::LocalVerdict(Verdict::Failed));
    b.urgent_answer = Some(false);
    let out = b.wait(2_000);
    assert_eq!(
        alert_events(&out),
        (vec![AlertKey::LocalUnhealthyNoTakeover], vec![])
    );
    // A comes back as the active: the dead-peer rules are not evaluated any more, and the
    // alert's situation (a takeover due) is over.
    let out = b.peer(Role::Active, 1, Verdict::Healthy, Handover::None);
    assert_eq!(
        alert_events(&out),
        (vec![], vec![AlertKey::LocalUnhealthyNoTakeover])
    );
    assert_eq!(b.core.role(), Role::Standby);
}

#[test]
fn faulted_stays_raised_until_the_operator_clears_it() {
    let mut b = standby_with_silent_active();
    b.urgent_answer = Some(false);
    b.wait(1_000);
    assert_eq!(b.core.role(), Role::TakingOver);
    let out = b.input(Input::TakeoverFailed {
        error: "relay: no answer".into(),
    });
    assert_eq!(alert_events(&out).0, vec![AlertKey::TakeoverFailed]);
    let out = b.input(Input::ReleaseFailed {
        error: "floating_ip: netlink refused".into(),
    });
    assert_eq!(alert_events(&out), (vec![AlertKey::Faulted], vec![]));
    assert_eq!(b.core.role(), Role::Faulted);
    let out = b.wait(5_000);
    assert_eq!(alert_events(&out), (vec![], vec![]), "no repeat, no end");
    let out = b.input(Input::Operator(OperatorCommand::Maintenance { on: false }));
    assert!(alert_events(&out).1.contains(&AlertKey::Faulted));
    // A takeover that succeeds ends the failed-takeover alert too.
    b.wait(2_000);
    let out = b.input(Input::TakeoverDone);
    assert_eq!(b.core.role(), Role::Active);
    assert_eq!(alert_events(&out).1, vec![AlertKey::TakeoverFailed]);
}

#[test]
fn every_raised_alert_is_cleared_at_most_once_and_only_after_it_was_raised() {
    // The failed-takeover scenario above and a broken link, replayed from the log: raises and
    // clears alternate per kind.
    let mut b = standby_with_silent_active();
    b.urgent_answer = Some(true);
    b.wait(3_000);
    b.peer(Role::Active, 1, Verdict::Healthy, Handover::None);
    b.urgent_answer = Some(false);
    b.wait(2_000);
    b.input(Input::TakeoverFailed { error: "x".into() });
    b.input(Input::ReleaseDone);
    b.wait(3_000);
    let mut raised = std::collections::BTreeSet::new();
    for c in &b.log {
        match c {
            Command::Alert { key, .. } => assert!(raised.insert(*key), "{key} raised twice"),
            Command::AlertCleared { key } => assert!(raised.remove(key), "{key} cleared unraised"),
            _ => {}
        }
    }
    assert!(!alert_events(&b.log).0.is_empty());
}

mod contract {
    //! Random input sequences: whatever happens, the core keeps its driving contract.
    use super::*;
    use proptest::prelude::*;

    fn arb_verdict() -> impl Strategy<Value = Verdict> {
        prop_oneof![
            Just(Verdict::Unknown),
            Just(Verdict::Healthy),
            Just(Verdict::Degraded),
            Just(Verdict::Failed)
        ]
    }

    fn arb_role() -> impl Strategy<Value = Role> {
        prop_oneof![
            Just(Role::Standby),
            Just(Role::TakingOver),
            Just(Role::Active),
            Just(Role::Releasing),
            Just(Role::Maintenance),
            Just(Role::Faulted)
        ]
    }

    fn arb_handover() -> impl Strategy<Value = Handover> {
        prop_oneof![
            Just(Handover::None),
            any::<bool>().prop_map(|forced| Handover::PleaseRelease { forced }),
            any::<bool>().prop_map(|forced| Handover::ReleasingToYou { forced }),
            Just(Handover::Ack),
        ]
    }

    #[derive(Debug, Clone)]
    enum ContractStep {
        Wait(u64),
        Input(Input),
    }

    fn arb_step() -> impl Strategy<Value = ContractStep> {
        prop_oneof![
            (0u64..1_500).prop_map(ContractStep::Wait),
            arb_verdict().prop_map(|v| ContractStep::Input(Input::LocalVerdict(v))),
            arb_verdict().prop_map(|v| ContractStep::Input(Input::PeerAsteriskVerdict(v))),
            any::<bool>().prop_map(|ok| ContractStep::Input(Input::UrgentProbeResult { ok })),
            (
                arb_role(),
                0u64..8,
                arb_verdict(),
                arb_handover(),
                0usize..3,
                any::<bool>()
            )
                .prop_map(|(role, term, own, handover, link, newest)| {
                    let state = PeerState {
                        role,
                        term,
                        seen_term: term,
                        own_verdict: own,
                        handover,
                        ..peer_state(Side::B, role, term, own, handover)
                    };
                    ContractStep::Input(Input::PeerMessage {
                        link,
                        state,
                        newest,
                    })
                }),
            prop_oneof![Just(None), Just(Some(Side::A)), Just(Some(Side::B))]
                .prop_map(|r| ContractStep::Input(Input::RelayPosition(r))),
            Just(ContractStep::Input(Input::TakeoverDone)),
            Just(ContractStep::Input(Input::TakeoverFailed {
                error: "x".into()
            })),
            Just(ContractStep::Input(Input::ReleaseDone)),
            Just(ContractStep::Input(Input::ReleaseFailed {
                error: "x".into()
            })),
            any::<bool>().prop_map(|force| ContractStep::Input(Input::Operator(
                OperatorCommand::Failover {
                    force,
                    reason: "p".into()
                }
            ))),
            any::<bool>().prop_map(|on| ContractStep::Input(Input::Operator(
                OperatorCommand::Maintenance { on }
            ))),
            any::<bool>().prop_map(|ok| ContractStep::Input(Input::Witness(ok))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn the_core_keeps_its_contract(steps in proptest::collection::vec(arb_step(), 1..120)) {
            let mut core = Core::new(DecideConfig::new(Side::A), PersistedState::default(), Millis(0));
            let mut now = 0u64;
            let mut outstanding: Option<&'static str> = None;
            let mut last_takeover_term = 0u64;
            let mut cancelled_term = None;
            let mut last_sent_term = 0u64;
            // Alerts are raised once and cleared once, in turn, per kind.
            let mut raised = std::collections::BTreeSet::new();
            for step in steps {
                let out = match step {
                    ContractStep::Wait(ms) => { now += ms; core.tick(Millis(now)) }
                    ContractStep::Input(input) => {
                        // Actuator answers are only fed for the command that is running.
                        let answer = match &input {
                            Input::TakeoverDone | Input::TakeoverFailed { .. } => Some("takeover"),
                            Input::ReleaseDone | Input::ReleaseFailed { .. } => Some("release"),
                            _ => None,
                        };
                        if let Some(kind) = answer {
                            if outstanding != Some(kind) { continue; }
                            outstanding = None;
                        }
                        core.handle(Millis(now), input)
                    }
                };
                let mut persisted = Vec::new();
                for c in &out {
                    match c {
                        Command::PersistTerm { term, .. } => persisted.push(*term),
                        Command::StartTakeover { term, .. } => {
                            prop_assert!(persisted.contains(term), "takeover term {} not persisted first", term);
                            prop_assert!(*term > last_takeover_term, "takeover terms must grow");
                            prop_assert!(outstanding.is_none(), "second actuator command while {:?} runs", outstanding);
                            last_takeover_term = *term;
                            outstanding = Some("takeover");
                        }
                        Command::CancelTakeover { term } => {
                            prop_assert_eq!(outstanding, Some("takeover"), "cancel without a takeover running");
                            prop_assert_eq!(*term, last_takeover_term, "cancel of another takeover");
                            prop_assert!(cancelled_term != Some(*term), "takeover {} cancelled twice", term);
                            cancelled_term = Some(*term);
                        }
                        Command::StartRelease { .. } => {
                            prop_assert!(outstanding.is_none(), "second actuator command while {:?} runs", outstanding);
                            outstanding = Some("release");
                        }
                        Command::SendPeer(s) => {
                            prop_assert_eq!(s.from, Side::A);
                            prop_assert!(s.term >= last_sent_term, "advertised term went back");
                            last_sent_term = s.term;
                        }
                        Command::Alert { key, .. } => {
                            prop_assert!(raised.insert(*key), "{} raised while raised", key);
                        }
                        Command::AlertCleared { key } => {
                            prop_assert!(raised.remove(key), "{} cleared while not raised", key);
                        }
                        _ => {}
                    }
                }
                let role = core.role();
                match outstanding {
                    Some("takeover") => prop_assert_eq!(role, Role::TakingOver),
                    Some(_) => prop_assert_eq!(role, Role::Releasing),
                    None => prop_assert!(!matches!(role, Role::TakingOver | Role::Releasing), "role {} without a running step", role),
                }
            }
        }
    }
}

#[test]
fn defaults_validate_and_inconsistent_tunables_are_refused() {
    assert_eq!(DecideConfig::new(Side::A).validate(), Ok(()));
    let mut c = DecideConfig::new(Side::A);
    c.peer_dead_after_ms = 300;
    assert!(matches!(
        c.validate(),
        Err(DecideConfigError::DeadAfterTooShort { .. })
    ));
    let mut c = DecideConfig::new(Side::A);
    c.urgent_probe_deadline_ms = 200;
    let err = c.validate().expect_err("short urgent deadline");
    assert!(err.to_string().contains("slow but working"), "{err}");
    let mut c = DecideConfig::new(Side::A);
    c.links = 0;
    assert_eq!(c.validate(), Err(DecideConfigError::NoLinks));
    let mut c = DecideConfig::new(Side::A);
    c.suspect_after_ms = 700;
    assert!(matches!(
        c.validate(),
        Err(DecideConfigError::SuspectOutOfRange { .. })
    ));
}

/// B as a cold standby: its Asterisk is stopped (its probes fail) and its start check speaks
/// for it.
fn cold_standby_b() -> Harness {
    let mut cfg = DecideConfig::new(Side::B);
    cfg.standby = crate::actuate::config::StandbyMode::Cold;
    let mut b = Harness::with(cfg, PersistedState::default());
    b.input(Input::LocalVerdict(Verdict::Failed));
    b
}

#[test]
fn a_cold_standby_whose_start_check_passes_takes_over_a_dead_peer() {
    let mut b = cold_standby_b();
    b.input(Input::ColdStartCheck(Ok(())));
    b.settle(Role::Active, 1);
    b.input(Input::LocalVerdict(Verdict::Failed));
    let sent = last_sent(&b.log).expect("state sent");
    assert_eq!(
        (sent.readiness, sent.cold_standby),
        (Readiness::Ready, true)
    );
    b.urgent_answer = Some(false);
    let out = b.wait(1_000);
    assert_eq!(takeover(&out).map(|t| t.1), Some(Reason::PeerDead));
    // Once it claims the calls its Asterisk runs: its probes decide again.
    assert!(!b.core.status().cold_standby);
}

#[test]
fn a_cold_standby_whose_start_check_fails_takes_nothing_over_and_says_why() {
    let mut b = cold_standby_b();
    b.input(Input::ColdStartCheck(Err("asterisk: not found".into())));
    b.settle(Role::Active, 1);
    b.input(Input::LocalVerdict(Verdict::Failed));
    b.urgent_answer = Some(false);
    b.wait(2_000);
    assert!(takeover(&b.log).is_none());
    let status = b.core.status();
    assert_eq!(status.readiness, Readiness::ColdStartCheckFailed);
    assert!(b.log.iter().any(|c| matches!(
        c,
        Command::Alert { key: AlertKey::ColdStartCheckFailed, message, .. }
            if message.contains("asterisk: not found")
    )));
}

#[test]
fn a_cold_standby_pair_elects_the_preferred_side() {
    // A, preferred, cold: its Asterisk stopped too (both released at start).
    let mut cfg = DecideConfig::new(Side::A);
    cfg.standby = crate::actuate::config::StandbyMode::Cold;
    let mut a = Harness::with(cfg, PersistedState::default());
    a.input(Input::LocalVerdict(Verdict::Failed));
    a.input(Input::PeerAsteriskVerdict(Verdict::Failed));
    a.input(Input::ColdStartCheck(Ok(())));
    let cold_peer = PeerState {
        readiness: Readiness::Ready,
        cold_standby: true,
        ..peer_state(Side::B, Role::Standby, 0, Verdict::Failed, Handover::None)
    };
    for _ in 0..10 {
        a.input(Input::PeerMessage {
            link: 0,
            state: cold_peer,
            newest: true,
        });
        a.wait(100);
    }
    assert_eq!(takeover(&a.log).map(|t| t.1), Some(Reason::NoActiveNode));
}

#[test]
fn a_completed_cold_takeover_vouches_for_the_asterisk_it_booted_until_the_probes_speak() {
    let mut b = cold_standby_b();
    b.input(Input::ColdStartCheck(Ok(())));
    b.settle(Role::Active, 1);
    b.input(Input::LocalVerdict(Verdict::Failed));
    b.urgent_answer = Some(false);
    b.wait(1_000);
    assert!(takeover(&b.log).is_some());
    b.input(Input::TakeoverDone);
    // The probes still say "failed" (from while Asterisk was stopped): no handover.
    let out = b.wait_hearing(10_000, Role::Standby, 2, Verdict::Healthy);
    assert!(release(&out).is_none(), "stale verdict acted upon");
    assert_eq!(
        last_sent(&out).map(|s| s.own_verdict),
        Some(Verdict::Healthy)
    );
    // A change of the probes' verdict ends the vouching: a real failure is acted upon.
    b.input(Input::LocalVerdict(Verdict::Healthy));
    let out = b.input(Input::LocalVerdict(Verdict::Failed));
    assert_eq!(release(&out), Some(Reason::OwnCallPathFailed));
}

/// The sequence the simulator found: a cold standby takes over a silent active and, while its
/// Asterisk boots, hears the active claim the calls under a newer term. It cancels its takeover
/// at once (the boot would hold the floating IP for seconds next to the newer active), releases
/// on the sequence's answer, and counts no failure of its own.
#[test]
fn an_aborted_cold_takeover_is_cancelled_at_once_and_released_without_a_failure() {
    let mut b = cold_standby_b();
    b.input(Input::ColdStartCheck(Ok(())));
    b.settle(Role::Active, 1);
    b.input(Input::LocalVerdict(Verdict::Failed));
    b.urgent_answer = Some(false);
    b.wait(1_000);
    let (term, _) = takeover(&b.log).expect("B takes over the silent active");
    assert_eq!(b.core.role(), Role::TakingOver);
    // Asterisk boots; A is heard again, active under a newer term.
    let out = b.peer(Role::Active, term + 1, Verdict::Healthy, Handover::None);
    let cancels: Vec<u64> = out
        .iter()
        .filter_map(|c| match c {
            Command::CancelTakeover { term } => Some(*term),
            _ => None,
        })
        .collect();
    assert_eq!(cancels, [term], "the takeover is cancelled at once, once");
    assert!(
        release(&out).is_none(),
        "no second sequence before the first answers"
    );
    // Still heard while the sequence stops: no second cancel.
    let out = b.peer(Role::Active, term + 1, Verdict::Healthy, Handover::None);
    assert!(!out
        .iter()
        .any(|c| matches!(c, Command::CancelTakeover { .. })));
    // The cancelled sequence answers; the release follows at once.
    let out = b.input(Input::TakeoverFailed {
        error: "cancelled at asterisk".into(),
    });
    assert_eq!(
        release(&out),
        Some(Reason::PeerHigherTerm {
            peer_term: term + 1
        })
    );
    assert_eq!(b.core.role(), Role::Releasing);
    assert_eq!(b.core.status().takeover_failures, 0);
    assert!(alerts(&out).is_empty(), "giving way is no failure: {out:?}");
    b.input(Input::ReleaseDone);
    assert_eq!(b.core.role(), Role::Standby);
}
