//! Prints the decision core's timing numbers from the simulator: failure (or operator command)
//! to the standby commanding the relay, for node death, Asterisk crash/hang/deadlock and a planned
//! handover, with the default configuration (200 ms peer interval, 600 ms dead-after; probes: ping
//! every 1 s with a 500 ms deadline, core action every 2 s, test call every 10 s).
//!
//! `cargo run -p astha --example decide_timings [runs-per-kind]`

use astha::decide::pair_sim::{run_schedule, FailureKind, PairFault, PairSchedule, SimRng, World};
use astha::side::Side;

/// How to inject one failure of a kind, given a random source.
type MakeFault = fn(&mut SimRng) -> PairFault;

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let runs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let kinds: [(FailureKind, MakeFault); 6] = [
        (FailureKind::NodeDeath, |r| PairFault::HostCrash {
            node: Side::A,
            down_ms: r.range(5_000, 9_000),
            keep_term: true,
        }),
        (FailureKind::NodeDeath, |r| PairFault::HostFreeze {
            node: Side::A,
            ms: r.range(5_000, 9_000),
        }),
        (FailureKind::AsteriskCrash, |r| PairFault::AsteriskCrash {
            node: Side::A,
            down_ms: r.range(5_000, 9_000),
        }),
        (FailureKind::AsteriskHang, |r| PairFault::AsteriskHang {
            node: Side::A,
            ms: r.range(5_000, 9_000),
        }),
        (FailureKind::CoreDeadlock, |r| PairFault::CoreDeadlock {
            node: Side::A,
            ms: r.range(5_000, 9_000),
        }),
        (FailureKind::PlannedHandover, |_| PairFault::Failover {
            node: Side::A,
            force: false,
        }),
    ];
    println!("| failure | runs measured | median ms | p99 ms | max ms | target ms | violations |");
    println!("|---|---|---|---|---|---|---|");
    for (i, (kind, make)) in kinds.iter().enumerate() {
        let mut rng = SimRng::new(0xD3C1DE + i as u64);
        let mut lat = Vec::new();
        let mut violations = 0;
        for run in 0..runs {
            let at = rng.range(12_000, 20_000);
            let schedule = PairSchedule {
                seed: run * 7 + i as u64,
                world: World::default(),
                faults: vec![(at, make(&mut rng))],
                duration_ms: 30_000,
            };
            let report = run_schedule(&schedule, false);
            violations += report.violations.len();
            lat.extend(
                report
                    .latencies
                    .iter()
                    .filter(|(k, _)| k == kind)
                    .map(|(_, ms)| *ms),
            );
        }
        lat.sort_unstable();
        let label = match (i, kind) {
            (0, _) => "node death (power off)".to_string(),
            (1, _) => "node death (host freeze)".to_string(),
            (_, k) => k.as_str().to_string(),
        };
        let target = match kind {
            FailureKind::NodeDeath => "800",
            FailureKind::AsteriskHang => "1500",
            FailureKind::PlannedHandover => "100",
            _ => "-",
        };
        println!(
            "| {label} | {} | {} | {} | {} | {target} | {violations} |",
            lat.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(0),
        );
    }
}
