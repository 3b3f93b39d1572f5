//! `failover-bench`: failover times of astha and of Corosync + Pacemaker in the same namespace harness, as a Markdown section.
//!
//! For each fault it builds a fresh pair per run, waits for the steady state, waits a random
//! part of the probe cycle (so the runs sample every phase of the probes' schedule, not the
//! one right after start-up), injects the fault into the active server and records detection,
//! takeover, the client-visible SIP and ping outage and, with a real Asterisk, the SIP calls
//! that failed or dropped; then the same against a Pacemaker pair with the default Corosync
//! `token` (3000 ms) and a tuned one (1000 ms). Prints p50 / p95 / max per fault, and the
//! Pacemaker/astha ratios, as the "Failover" section of BENCHMARKS.md. Needs root.

use std::fmt::Write as _;
use std::time::Duration;

use astha_tests::asterisk::Install;
use astha_tests::harness::client::now_unix;
use astha_tests::harness::pacemaker::PacemakerPair;
use astha_tests::harness::{
    require_root, ClientOutage, Fault, Pair, PairAsterisk, PairOptions, Side, Standby, Takeover,
};
use clap::Parser;

/// Measure failover times of astha and of Corosync + Pacemaker.
#[derive(Debug, Parser)]
#[command(name = "failover-bench")]
struct Args {
    /// Runs per fault and system.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Skip the Pacemaker comparison.
    #[arg(long)]
    skip_pacemaker: bool,
    /// Faults to measure (comma list of crash, hang, deadlock, call-path, node-loss).
    #[arg(long, default_value = "node-loss,hang,crash,deadlock,call-path")]
    faults: String,
    /// Do not measure: render the section from the per-run lines of an earlier run's stderr.
    #[arg(long)]
    from_log: Option<std::path::PathBuf>,
    /// Write the Markdown section here (default: stdout).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// astha's Asterisks: `emulated` (fake-asterisk) or `real` (Asterisk 22 from
    /// `scripts/asterisk.sh`, with sipp calls through the floating IP).
    #[arg(long, default_value = "emulated", value_parser = ["emulated", "real"])]
    asterisk: String,
    /// astha's standby: `warm` (both Asterisks run) or `cold` (started on takeover).
    #[arg(long, default_value = "warm", value_parser = ["warm", "cold"])]
    standby: String,
    /// The fault comes a random 0..N ms after the pair is steady (uniform; 0 = at once).
    #[arg(long, default_value_t = 3000)]
    phase_spread_ms: u64,
    /// Seed of the random fault phases (default: from the clock; printed for reruns).
    #[arg(long)]
    seed: Option<u64>,
}

/// What astha runs with, from the command line.
struct AsthaSetup {
    asterisk: PairAsterisk,
    standby: Standby,
    phase_spread: Duration,
    phases: std::cell::RefCell<Phases>,
}

impl AsthaSetup {
    fn label(&self) -> String {
        let asterisk = match self.asterisk {
            PairAsterisk::Emulated => "emulated",
            PairAsterisk::Real(_) => "real Asterisk 22",
        };
        let standby = match self.standby {
            Standby::Warm => "warm",
            Standby::Cold => "cold",
        };
        format!("astha ({asterisk}, {standby})")
    }
}

/// Random fault phases: xorshift64*, enough for spreading faults over a probe cycle.
struct Phases(u64);

impl Phases {
    fn next(&mut self, spread: Duration) -> Duration {
        if spread.is_zero() {
            return Duration::ZERO;
        }
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        Duration::from_micros(r % spread.as_micros().max(1) as u64)
    }
}

/// One measured run (seconds); `None` when nothing happened before the timeout.
#[derive(Debug, Clone, Copy)]
struct Run {
    detection: f64,
    takeover: f64,
    sip: f64,
    ping: f64,
    /// SIP calls that failed or dropped around the fault (real Asterisk only).
    lost_calls: Option<u64>,
}

impl Run {
    fn of(t: &Takeover, lost_calls: Option<u64>) -> Run {
        Run::from_times(t.detection_s, t.takeover_s, &t.outage, lost_calls)
    }

    fn from_times(
        detection: f64,
        takeover: f64,
        outage: &ClientOutage,
        lost_calls: Option<u64>,
    ) -> Run {
        Run {
            detection,
            takeover,
            sip: outage.sip_s,
            ping: outage.ping_s,
            lost_calls,
        }
    }

    /// The per-run line on stderr (`rows_from_log` reads it back).
    fn line(&self, system: &str, fault: Fault, i: usize) -> String {
        let calls = self
            .lost_calls
            .map(|n| format!(", calls lost {n}"))
            .unwrap_or_default();
        format!(
            "{system} {} run {}: detection {:.0} ms, takeover {:.0} ms, SIP {:.0} ms, ping {:.0} ms{calls}",
            fault.name(),
            i + 1,
            self.detection * 1e3,
            self.takeover * 1e3,
            self.sip * 1e3,
            self.ping * 1e3
        )
    }
}

#[derive(Debug, Default)]
struct Series {
    runs: Vec<Run>,
    /// Runs where no takeover happened within the timeout, with the error.
    missed: Vec<String>,
}

fn parse_fault(name: &str) -> Option<Fault> {
    Some(match name {
        "crash" => Fault::AsteriskCrash,
        "hang" => Fault::AsteriskHang,
        "deadlock" => Fault::CoreDeadlock,
        "call-path" => Fault::CallPathBroken,
        "node-loss" => Fault::NetworkLoss,
        _ => return None,
    })
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Err(e) = require_root() {
        eprintln!("failover-bench: {e}");
        return std::process::ExitCode::from(2);
    }
    let mut faults = Vec::new();
    for name in args.faults.split(',').map(str::trim) {
        match parse_fault(name) {
            Some(f) => faults.push(f),
            None => {
                eprintln!("failover-bench: unknown fault {name:?}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let asterisk = if args.asterisk == "real" {
        match Install::locate() {
            Ok(install) => PairAsterisk::Real(install),
            Err(e) => {
                eprintln!("failover-bench: --asterisk real: {e}");
                return std::process::ExitCode::from(2);
            }
        }
    } else {
        PairAsterisk::Emulated
    };
    let seed = args.seed.unwrap_or_else(|| (now_unix() * 1e6) as u64) | 1;
    eprintln!("failover-bench: fault phases from seed {seed}");
    let astha = AsthaSetup {
        asterisk,
        standby: if args.standby == "cold" {
            Standby::Cold
        } else {
            Standby::Warm
        },
        phase_spread: Duration::from_millis(args.phase_spread_ms),
        phases: std::cell::RefCell::new(Phases(seed)),
    };
    let mut rows = Vec::new();
    if let Some(log) = &args.from_log {
        match std::fs::read_to_string(log) {
            Ok(text) => rows = rows_from_log(&text, &faults, args.skip_pacemaker, &astha.label()),
            Err(e) => {
                eprintln!("failover-bench: cannot read {}: {e}", log.display());
                return std::process::ExitCode::from(2);
            }
        }
        faults.clear();
    }
    for fault in faults {
        let series = measure_astha(&astha, fault, args.runs);
        let (pcmk_default, pcmk_tuned) = if args.skip_pacemaker {
            (None, None)
        } else {
            // A fault Pacemaker's monitor cannot see is tried once, not `runs` times.
            let runs = if fault == Fault::CallPathBroken {
                1
            } else {
                args.runs
            };
            (
                Some(measure_pacemaker(fault, runs, 3000)),
                Some(measure_pacemaker(fault, runs, 1000)),
            )
        };
        rows.push((fault, series, pcmk_default, pcmk_tuned));
    }
    let runs = rows
        .first()
        .map_or(args.runs, |(_, a, _, _)| a.runs.len() + a.missed.len());
    let text = render(&rows, runs, &astha, seed);
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                eprintln!("failover-bench: cannot write {}: {e}", path.display());
                return std::process::ExitCode::FAILURE;
            }
        }
        None => print!("{text}"),
    }
    std::process::ExitCode::SUCCESS
}

fn timeout_for(fault: Fault) -> Duration {
    match fault {
        Fault::CallPathBroken => Duration::from_secs(60),
        _ => Duration::from_secs(30),
    }
}

fn measure_astha(setup: &AsthaSetup, fault: Fault, runs: usize) -> Series {
    let label = setup.label();
    let mut series = Series::default();
    for i in 0..runs {
        let result = (|| {
            let real = matches!(setup.asterisk, PairAsterisk::Real(_));
            let pair = Pair::start(PairOptions {
                asterisk: setup.asterisk.clone(),
                standby: setup.standby,
                calls: real,
                ..PairOptions::default()
            })?;
            let active = pair.wait_steady(Duration::from_secs(60))?;
            if active != Side::A {
                eprintln!("  note: B came up active; injecting into B");
            }
            // A random phase of the probe cycle (a condition-free wait is the point here).
            std::thread::sleep(setup.phases.borrow_mut().next(setup.phase_spread));
            let at = pair.inject(active, fault)?;
            let t = pair.measure_takeover(active.other(), at, timeout_for(fault))?;
            let lost = pair.calls().map(|calls| {
                // Calls placed from just before the fault until the takeover has settled.
                let counts = calls.counts(at - 1.0, at + t.takeover_s + 1.0);
                counts.failed + counts.dropped
            });
            Ok::<_, astha_tests::harness::HarnessError>(Run::of(&t, lost))
        })();
        match result {
            Ok(run) => {
                eprintln!("{}", run.line(&label, fault, i));
                series.runs.push(run);
            }
            Err(e) => {
                eprintln!("{label} {} run {}: {e}", fault.name(), i + 1);
                series.missed.push(e.to_string());
            }
        }
    }
    series
}

fn measure_pacemaker(fault: Fault, runs: usize, token_ms: u32) -> Series {
    let mut series = Series::default();
    for i in 0..runs {
        let result = (|| {
            let pair = PacemakerPair::start(token_ms, true)?;
            let at = pair.inject(Side::A, fault)?;
            pair.measure_takeover(fault, at, timeout_for(fault))
        })();
        match result {
            Ok(t) => {
                let run = Run::from_times(t.detection_s, t.takeover_s, &t.outage, None);
                eprintln!(
                    "{}",
                    run.line(&format!("pacemaker token {token_ms}"), fault, i)
                );
                series.runs.push(run);
            }
            Err(e) => {
                eprintln!(
                    "pacemaker token {token_ms} {} run {}: {e}",
                    fault.name(),
                    i + 1
                );
                series.missed.push(e.to_string());
            }
        }
    }
    series
}

/// Rebuilds the measurements from the per-run lines this program prints on stderr.
fn rows_from_log(text: &str, faults: &[Fault], skip_pacemaker: bool, astha: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for &fault in faults {
        let series = |prefix: &str| {
            let mut s = Series::default();
            let head = format!("{prefix} {} run ", fault.name());
            for line in text.lines().filter(|l| l.starts_with(&head)) {
                let Some((_, rest)) = line.split_once(": ") else {
                    continue;
                };
                let ms: Vec<f64> = rest
                    .split(", ")
                    .filter_map(|part| part.strip_suffix(" ms")?.rsplit(' ').next()?.parse().ok())
                    .collect();
                let lost_calls = rest
                    .split(", ")
                    .find_map(|part| part.strip_prefix("calls lost ")?.parse().ok());
                match ms.as_slice() {
                    [d, t, sip, ping] => s.runs.push(Run {
                        detection: d / 1e3,
                        takeover: t / 1e3,
                        sip: sip / 1e3,
                        ping: ping / 1e3,
                        lost_calls,
                    }),
                    _ => s.missed.push(rest.to_owned()),
                }
            }
            s
        };
        let astha = series(astha);
        let (d, t) = if skip_pacemaker {
            (None, None)
        } else {
            (
                Some(series("pacemaker token 3000")),
                Some(series("pacemaker token 1000")),
            )
        };
        rows.push((fault, astha, d, t));
    }
    rows
}

/// The `q` quantile (0..=1) of `v` by the nearest-rank method.
fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

/// p50, p95 and max of one measure over a series' runs.
fn stat(series: &Series, pick: fn(&Run) -> f64) -> Option<(f64, f64, f64)> {
    let v: Vec<f64> = series.runs.iter().map(pick).collect();
    Some((quantile(&v, 0.5)?, quantile(&v, 0.95)?, quantile(&v, 1.0)?))
}

fn cell(series: &Series, pick: fn(&Run) -> f64) -> String {
    match stat(series, pick) {
        Some((p50, p95, max)) => format!("{:.0} / {:.0} / {:.0}", p50 * 1e3, p95 * 1e3, max * 1e3),
        None => "not detected".to_owned(),
    }
}

/// Calls lost per run: total over the runs and the worst run (real Asterisk only).
fn lost_calls_cell(series: &Series) -> String {
    let lost: Vec<u64> = series.runs.iter().filter_map(|r| r.lost_calls).collect();
    match lost.iter().max() {
        Some(max) => format!("{} / {max}", lost.iter().sum::<u64>()),
        None => "–".to_owned(),
    }
}

type Row = (Fault, Series, Option<Series>, Option<Series>);

fn render(rows: &[Row], runs: usize, astha: &AsthaSetup, seed: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Failover\n");
    let _ = writeln!(
        s,
        "Written by `scripts/bench-failover.sh` (tests/src/bin/failover-bench.rs) on {}; {} run(s) per fault \
         and system, each on a freshly built pair in network namespaces (the two-node harness). \
         Fault injected into the active server a uniformly random 0–{} ms after the pair is steady \
         (seed {seed}), so the runs sample every phase of the probe cycle; times in ms after the \
         fault, **p50 / p95 / max** (nearest rank: with fewer than 20 runs p95 is the max). \
         Detection: astha = the standby starts its takeover (its own record); Pacemaker = B's \
         Corosync drops A (node loss) or the floating IP leaves A (application faults). Takeover: \
         astha = takeover finished (including the post-takeover test call, the quick probe \
         that answers and ends at once, after the IP has moved); Pacemaker = floating IP up on B. Outage: longest gap without answers at \
         the client (SIP OPTIONS every 20 ms, ping every 10 ms to the floating IP).\n",
        host_line(),
        runs,
        astha.phase_spread.as_millis()
    );
    let _ = writeln!(
        s,
        "Setup: {} with its defaults (berofos relay simulator on the LAN, peer link on LAN + \
         crossover; with a real Asterisk, sipp places calls through the floating IP, 4 per second, \
         and *calls lost* counts those that failed or dropped from 1 s before the fault to 1 s after \
         the takeover, as total / worst run). Pacemaker 2.1 / Corosync 3.1 (knet on both links, stonith off, two_node): \
         clone of `ocf:heartbeat:anything` running fake-asterisk on both nodes with an asterisk-style \
         monitor hook (AMI `core show channels count`, 3 s deadline, monitor every 2 s, \
         migration-threshold 1), `IPaddr2` colocated with it; `token` 3000 ms (default) and 1000 ms \
         (tuned). A fault Pacemaker never notices (broken call path) is tried once.\n",
        astha.label()
    );
    let _ = writeln!(
        s,
        "| fault | system | detection | takeover | SIP outage | ping outage | calls lost | runs (missed) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for (fault, series, default, tuned) in rows {
        let mut line = |name: &str, series: &Series| {
            let _ = writeln!(
                s,
                "| {} | {name} | {} | {} | {} | {} | {} | {} ({}) |",
                fault.name(),
                cell(series, |r| r.detection),
                cell(series, |r| r.takeover),
                cell(series, |r| r.sip),
                cell(series, |r| r.ping),
                lost_calls_cell(series),
                series.runs.len() + series.missed.len(),
                series.missed.len()
            );
        };
        line(&astha.label(), series);
        if let Some(d) = default {
            line("Pacemaker token 3000", d);
        }
        if let Some(t) = tuned {
            line("Pacemaker token 1000", t);
        }
    }
    let _ = writeln!(
        s,
        "\nRatios of p50s, Pacemaker / astha (higher = astha better). The client SIP outage is \
         what a caller sees; in a core deadlock the emulated SIP stack keeps answering OPTIONS, so \
         there the detection ratio (how long the broken core keeps the service) is the one that \
         matters:\n"
    );
    let _ = writeln!(
        s,
        "| fault | SIP outage, token 3000 / astha | SIP outage, token 1000 / astha | detection, token 3000 / astha | detection, token 1000 / astha |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|");
    for (fault, astha, default, tuned) in rows {
        let ratio = |p: &Option<Series>, pick: fn(&Run) -> f64| match (
            p.as_ref().and_then(|p| stat(p, pick)).map(|s| s.0),
            stat(astha, pick).map(|s| s.0),
        ) {
            (Some(p), Some(a)) if a > 0.0 => format!("{:.1}×", p / a),
            (None, Some(_)) if p.is_some() => "∞ (not detected)".to_owned(),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            fault.name(),
            ratio(default, |r| r.sip),
            ratio(tuned, |r| r.sip),
            ratio(default, |r| r.detection),
            ratio(tuned, |r| r.detection)
        );
    }
    let missed: Vec<String> = rows
        .iter()
        .flat_map(|(f, a, d, t)| {
            [
                ("astha", Some(a)),
                ("Pacemaker 3000", d.as_ref()),
                ("Pacemaker 1000", t.as_ref()),
            ]
            .into_iter()
            .filter_map(move |(n, s)| s.map(|s| (f, n, s)))
            .flat_map(|(f, n, s)| {
                s.missed
                    .iter()
                    .map(move |m| format!("- {} / {n}: {m}", f.name()))
            })
        })
        .collect();
    if !missed.is_empty() {
        let _ = writeln!(s, "\nRuns without a takeover:\n");
        for m in missed {
            let first = m.lines().next().unwrap_or_default();
            let _ = writeln!(s, "{first}");
        }
    }
    s
}

fn host_line() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    format!("a {cpus}-CPU machine (load average {load} at the end)")
}
