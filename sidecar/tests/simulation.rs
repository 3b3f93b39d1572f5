//! Runs the decision-core simulator over many seeded fault schedules and checks every invariant.
//!
//! `ASTHA_SIM_SEED=N` reruns one seed with its full trace; `ASTHA_SIM_COUNT=N` changes how many
//! fixed seeds run (default 10,000).

use astha::decide::sim::{run_seed, SimRng};

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
    let mut kinds = std::collections::BTreeMap::new();
    let seeds = (1..=fixed_count()).chain(fresh.iter().copied());
    for seed in seeds {
        let report = run_seed(seed, false);
        events += report.events;
        takeovers += report.takeovers;
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
        "{} schedules, {events} events, {takeovers} takeovers, {} failing",
        fixed_count() + 5,
        failures.len()
    );
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
