//! Runs the decision-core simulator over many seeded fault schedules and checks every invariant.
//!
//! `ASTHA_SIM_SEED=N` reruns one seed with its full trace; `ASTHA_SIM_COUNT=N` changes how many
//! fixed seeds run (default 10,000).

use astha::decide::pair_sim::{
    run_schedule, run_seed, schedule_for_seed, FailureKind, PairFault, PairSchedule, SimRng, World,
};
use astha::decide::{DecideConfig, Role};
use astha::side::Side;

fn fixed_count() -> u64 {
    std::env::var("ASTHA_SIM_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

#[test]
fn ten_thousand_schedules_hold_every_invariant() {
    if let Some(seed) = std::env::var("ASTHA_SIM_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        let report = run_seed(seed, true);
        println!("{}", report.explain());
        assert!(report.ok(), "seed {seed} violates an invariant");
        return;
    }
    // Fixed seeds 1..=N, plus a few fresh ones per run (printed so a failure can be replayed).
    let fresh_base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut fresh_rng = SimRng::new(fresh_base);
    let fresh: Vec<u64> = (0..5).map(|_| fresh_rng.next_u64()).collect();
    println!("fresh seeds this run: {fresh:?}");
    let mut failures = Vec::new();
    let mut events = 0;
    let mut takeovers = 0;
    let mut cancelled = 0;
    let mut cold = 0;
    let mut double_ip_ms = 0;
    let mut double_ip_runs = 0;
    let mut double_ip_daemon_down_ms = 0;
    let mut kinds = std::collections::BTreeMap::new();
    let seeds = (1..=fixed_count()).chain(fresh.iter().copied());
    for seed in seeds {
        let report = run_seed(seed, false);
        events += report.events;
        takeovers += report.takeovers;
        cancelled += report.cancelled_takeovers;
        cold += u32::from(schedule_for_seed(seed).world.cold);
        double_ip_ms += report.double_ip_ms;
        double_ip_runs += u32::from(report.double_ip_ms > 0);
        double_ip_daemon_down_ms += report.double_ip_daemon_down_ms;
        if !report.ok() {
            failures.push(seed);
            for v in &report.violations {
                // Group by the violation's text without its timestamp and numbers.
                let kind: String = v
                    .split_once(": ")
                    .map_or(v.as_str(), |(_, k)| k)
                    .chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect();
                *kinds.entry(kind).or_insert(0u32) += 1;
            }
        }
    }
    println!(
        "{} schedules ({cold} cold standby), {events} events, {takeovers} takeovers ({cancelled} cancelled), {} failing",
        fixed_count() + 5,
        failures.len()
    );
    println!("two IP holders (only while cut off or a daemon down, and within the grace after): {double_ip_runs} schedules, {double_ip_ms} ms in total, {double_ip_daemon_down_ms} ms of it with a daemon down");
    for (kind, count) in &kinds {
        println!("{count:>6} x {kind}");
    }
    if let Some(&first) = failures.first() {
        let report = run_seed(first, true);
        panic!(
            "{} failing seeds (first 20: {:?}); first one:\n{}",
            failures.len(),
            &failures[..failures.len().min(20)],
            report.explain()
        );
    }
}

fn one_fault(
    seed: u64,
    world: World,
    faults: Vec<(u64, PairFault)>,
) -> astha::decide::pair_sim::PairSimReport {
    run_schedule(
        &PairSchedule {
            seed,
            world,
            faults,
            duration_ms: 30_000,
        },
        false,
    )
}

/// Every combination of directional link cuts, LAN port failures and a total cut, on one and two
/// links, with and without witness and relay read-back, short and long.
#[test]
fn every_partition_pattern_holds_the_invariants() {
    let mut runs = 0;
    let mut failures = Vec::new();
    for links in [1usize, 2] {
        let directions = 2 * links; // (link, from) pairs
        for mask in 0u32..(1 << directions) {
            for lan_down in [None, Some(Side::A), Some(Side::B)] {
                for full in [false, true] {
                    for (witness, readback) in
                        [(false, false), (false, true), (true, false), (true, true)]
                    {
                        for ms in [1_500u64, 5_000] {
                            for seed in 0..2u64 {
                                let at = 12_000 + seed * 137;
                                let mut faults = Vec::new();
                                for d in 0..directions {
                                    if mask & (1 << d) != 0 {
                                        let from = if d % 2 == 0 { Side::A } else { Side::B };
                                        faults.push((
                                            at,
                                            PairFault::LinkCut {
                                                link: d / 2,
                                                from,
                                                both: false,
                                                ms,
                                            },
                                        ));
                                    }
                                }
                                if let Some(node) = lan_down {
                                    faults.push((at, PairFault::LanPortDown { node, ms }));
                                }
                                if full {
                                    faults.push((at, PairFault::FullPartition { ms }));
                                }
                                let world = World {
                                    links,
                                    witness,
                                    relay_readback: readback,
                                    ..World::default()
                                };
                                let report = one_fault(
                                    seed * 1_000 + u64::from(mask),
                                    world.clone(),
                                    faults.clone(),
                                );
                                runs += 1;
                                if !report.ok() {
                                    failures.push(format!(
                                        "{world:?} {faults:?}\n{}",
                                        report.explain()
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    println!("{runs} partition patterns run");
    assert!(
        failures.is_empty(),
        "{} of {runs} partition runs failed; first:\n{}",
        failures.len(),
        failures[0]
    );
}

#[test]
fn a_dead_active_is_replaced_within_the_bound_and_it_rejoins_as_standby() {
    for seed in 0..50 {
        let report = one_fault(
            seed,
            World::default(),
            vec![(
                15_000,
                PairFault::HostCrash {
                    node: Side::A,
                    down_ms: 4_000,
                    keep_term: seed % 2 == 0,
                },
            )],
        );
        assert!(report.ok(), "{}", report.explain());
        let measured: Vec<u64> = report
            .latencies
            .iter()
            .filter(|(k, _)| *k == FailureKind::NodeDeath)
            .map(|(_, ms)| *ms)
            .collect();
        assert_eq!(measured.len(), 1, "seed {seed}: the death was not measured");
        assert!(measured[0] <= FailureKind::NodeDeath.bound_ms());
        // No automatic failback: the returning node is standby, the survivor keeps the calls.
        assert_eq!(
            report.final_roles,
            [Some(Role::Standby), Some(Role::Active)],
            "seed {seed}"
        );
    }
}

/// The world as shipped: cold standby (the default `mode`), no DRBD.
fn cold_without_drbd() -> World {
    World {
        cold: true,
        drbd: false,
        ..World::default()
    }
}

/// A cold standby boots its Asterisk on takeover; the relay is still commanded within the bound.
#[test]
fn a_cold_standby_replaces_a_dead_active_within_the_bound() {
    for seed in 0..50 {
        let report = one_fault(
            seed,
            cold_without_drbd(),
            vec![(
                15_000,
                PairFault::HostCrash {
                    node: Side::A,
                    down_ms: 4_000,
                    keep_term: true,
                },
            )],
        );
        assert!(report.ok(), "{}", report.explain());
        let measured: Vec<u64> = report
            .latencies
            .iter()
            .filter(|(k, _)| *k == FailureKind::NodeDeath)
            .map(|(_, ms)| *ms)
            .collect();
        assert_eq!(measured.len(), 1, "seed {seed}: the death was not measured");
        assert_eq!(
            report.final_roles,
            [Some(Role::Standby), Some(Role::Active)],
            "seed {seed}"
        );
    }
}

/// The sequence the random schedules found (seed 1672): A's Asterisk hangs, A hands over to the
/// cold standby B, and while B's Asterisk boots A's clock jumps: A sees B silent with a failing
/// (booting) Asterisk and takes over under a newer term. B must give way at once — cancel its
/// boot, remove the floating IP — and not when the boot completes, seconds later, while both
/// hold the address and can talk.
#[test]
fn an_aborted_cold_takeover_gives_way_at_once_not_after_its_boot() {
    let mut cancelled = 0;
    for seed in 0..40 {
        for jump_after in [1_500, 1_900, 2_300] {
            let report = one_fault(
                seed,
                cold_without_drbd(),
                vec![
                    (
                        9_000,
                        PairFault::AsteriskHang {
                            node: Side::A,
                            ms: 8_000,
                        },
                    ),
                    (
                        9_000 + jump_after,
                        // Just under `peer_dead_after` (a longer jump is a stall: the core
                        // gathers fresh evidence before acting).
                        PairFault::ClockJump {
                            node: Side::A,
                            ms: 450,
                        },
                    ),
                ],
            );
            assert!(report.ok(), "{}", report.explain());
            cancelled += report.cancelled_takeovers;
        }
    }
    // The schedules reach the sequence (else this test proves nothing).
    println!("{cancelled} of 120 runs cancelled a cold takeover");
    assert!(cancelled > 0, "no takeover was cancelled");
}

/// `systemctl restart astha` on the active (the daemon down for 0.2–5 s, everything else left as
/// it was): the restarted daemon resumes the active role, nothing moves, in warm and cold mode.
#[test]
fn a_restarted_daemon_on_the_active_resumes_and_moves_nothing() {
    for seed in 0..50 {
        for world in [World::default(), cold_without_drbd()] {
            let report = one_fault(
                seed,
                world.clone(),
                vec![(
                    15_000,
                    PairFault::SidecarCrash {
                        node: Side::A,
                        down_ms: 200 + seed * 100,
                    },
                )],
            );
            assert!(report.ok(), "{}", report.explain());
            assert_eq!(report.takeovers, 1, "only the election: {world:?}");
            assert_eq!(
                report.final_roles,
                [Some(Role::Active), Some(Role::Standby)],
                "seed {seed} {world:?}"
            );
            assert_eq!(report.double_ip_ms, 0);
        }
    }
}

/// The checker itself must be able to fail: a standby configured to wait 5 s before declaring the
/// peer dead misses the 800 ms bound, and the simulator says so with a readable trace.
#[test]
fn the_invariant_checker_catches_a_slow_configuration() {
    fn slow(c: &mut DecideConfig) {
        c.peer_dead_after_ms = 5_000;
    }
    let world = World {
        config_tweak: Some(slow),
        ..World::default()
    };
    let faults = vec![(
        15_000,
        PairFault::HostCrash {
            node: Side::A,
            down_ms: 8_000,
            keep_term: true,
        },
    )];
    let report = run_schedule(
        &PairSchedule {
            seed: 7,
            world,
            faults,
            duration_ms: 30_000,
        },
        true,
    );
    assert!(
        !report.ok(),
        "a 5 s dead-after must violate the 800 ms bound"
    );
    assert!(
        report.violations.iter().any(|v| v.contains("node death")),
        "{:?}",
        report.violations
    );
    let text = report.explain();
    assert!(
        text.contains("ASTHA_SIM_SEED=7") && text.contains("FAULT HostCrash"),
        "{text}"
    );
}

#[test]
fn a_planned_handover_is_decided_within_100_ms() {
    for seed in 0..50 {
        let report = one_fault(
            seed,
            World::default(),
            vec![(
                15_000,
                PairFault::Failover {
                    node: Side::A,
                    force: false,
                },
            )],
        );
        assert!(report.ok(), "{}", report.explain());
        assert_eq!(
            report.latencies.len(),
            1,
            "seed {seed}: handover not measured"
        );
    }
}
