//! `failover-bench`: failover times of astha and of Corosync + Pacemaker in the same namespace harness, as a Markdown section.
//!
//! For each fault it builds a fresh pair per run, waits for the steady state, injects the
//! fault into the active server A and records detection, takeover and the client-visible
//! SIP and ping outage; then the same against a Pacemaker pair with the default Corosync
//! `token` (3000 ms) and a tuned one (1000 ms). Prints median and max per fault, and the
//! Pacemaker/astha ratios, as the "Failover" section of BENCHMARKS.md. Needs root.

use std::fmt::Write as _;
use std::time::Duration;

use astha_tests::harness::pacemaker::PacemakerPair;
use astha_tests::harness::{require_root, Fault, Pair, PairOptions, Side};
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
}

/// One measured run (seconds); `None` when nothing happened before the timeout.
#[derive(Debug, Clone, Copy)]
struct Run {
    detection: f64,
    takeover: f64,
    sip: f64,
    ping: f64,
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
    let mut rows = Vec::new();
    if let Some(log) = &args.from_log {
        match std::fs::read_to_string(log) {
            Ok(text) => rows = rows_from_log(&text, &faults, args.skip_pacemaker),
            Err(e) => {
                eprintln!("failover-bench: cannot read {}: {e}", log.display());
                return std::process::ExitCode::from(2);
            }
        }
        faults.clear();
    }
    for fault in faults {
        let astha = measure_astha(fault, args.runs);
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
        rows.push((fault, astha, pcmk_default, pcmk_tuned));
    }
    let runs = rows
        .first()
        .map_or(args.runs, |(_, a, _, _)| a.runs.len() + a.missed.len());
    let text = render(&rows, runs);
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

fn measure_astha(fault: Fault, runs: usize) -> Series {
    let mut series = Series::default();
    for i in 0..runs {
        let result = (|| {
            let pair = Pair::start(PairOptions::default())?;
            let active = pair.wait_steady(Duration::from_secs(60))?;
            if active != Side::A {
                eprintln!("  note: B came up active; injecting into B");
            }
            let at = pair.inject(active, fault)?;
            pair.measure_takeover(active.other(), at, timeout_for(fault))
        })();
        match result {
            Ok(t) => {
                eprintln!(
                    "astha {} run {}: detection {:.0} ms, takeover {:.0} ms, SIP {:.0} ms, ping {:.0} ms",
                    fault.name(),
                    i + 1,
                    t.detection_s * 1e3,
                    t.takeover_s * 1e3,
                    t.outage.sip_s * 1e3,
                    t.outage.ping_s * 1e3
                );
                series.runs.push(Run {
                    detection: t.detection_s,
                    takeover: t.takeover_s,
                    sip: t.outage.sip_s,
                    ping: t.outage.ping_s,
                });
            }
            Err(e) => {
                eprintln!("astha {} run {}: {e}", fault.name(), i + 1);
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
                eprintln!(
                    "pacemaker token {token_ms} {} run {}: detection {:.0} ms, takeover {:.0} ms, SIP {:.0} ms, ping {:.0} ms",
                    fault.name(),
                    i + 1,
                    t.detection_s * 1e3,
                    t.takeover_s * 1e3,
                    t.outage.sip_s * 1e3,
                    t.outage.ping_s * 1e3
                );
                series.runs.push(Run {
                    detection: t.detection_s,
                    takeover: t.takeover_s,
                    sip: t.outage.sip_s,
                    ping: t.outage.ping_s,
                });
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
fn rows_from_log(text: &str, faults: &[Fault], skip_pacemaker: bool) -> Vec<Row> {
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
                match ms.as_slice() {
                    [d, t, sip, ping] => s.runs.push(Run {
                        detection: d / 1e3,
                        takeover: t / 1e3,
                        sip: sip / 1e3,
                        ping: ping / 1e3,
                    }),
                    _ => s.missed.push(rest.to_owned()),
                }
            }
            s
        };
        let astha = series("astha");
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

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn stat(series: &Series, pick: fn(&Run) -> f64) -> (Option<f64>, Option<f64>) {
    let v: Vec<f64> = series.runs.iter().map(pick).collect();
    let max = v.iter().copied().reduce(f64::max);
    (median(v), max)
}

fn cell(series: &Series, pick: fn(&Run) -> f64) -> String {
    match stat(series, pick) {
        (Some(m), Some(x)) => format!("{:.0} / {:.0}", m * 1e3, x * 1e3),
        _ => "not detected".to_owned(),
    }
}

type Row = (Fault, Series, Option<Series>, Option<Series>);

fn render(rows: &[Row], runs: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Failover\n");
    let _ = writeln!(
        s,
        "Written by `scripts/bench-failover.sh` (tests/src/bin/failover-bench.rs) on {}; {} run(s) per fault \
         and system, each on a freshly built pair in network namespaces (the two-node harness). \
         Fault injected into the active server A; times in ms after the fault, **median / max**. \
         Detection: astha = the standby starts its takeover (its own record); Pacemaker = B's \
         Corosync drops A (node loss) or the floating IP leaves A (application faults). Takeover: \
         astha = takeover finished (including the post-takeover test call, ~1.5 s, that runs after \
         the IP has moved); Pacemaker = floating IP up on B. Outage: longest gap without answers at \
         the client (SIP OPTIONS every 20 ms, ping every 10 ms to the floating IP).\n",
        host_line(),
        runs
    );
    let _ = writeln!(
        s,
        "Setup: astha with its defaults (warm standby, berofos relay simulator on the LAN, peer link on \
         LAN + crossover). Pacemaker 2.1 / Corosync 3.1 (knet on both links, stonith off, two_node): \
         clone of `ocf:heartbeat:anything` running fake-asterisk on both nodes with an asterisk-style \
         monitor hook (AMI `core show channels count`, 3 s deadline, monitor every 2 s, \
         migration-threshold 1), `IPaddr2` colocated with it; `token` 3000 ms (default) and 1000 ms \
         (tuned). A fault Pacemaker never notices (broken call path) is tried once.\n"
    );
    let _ = writeln!(
        s,
        "| fault | system | detection | takeover | SIP outage | ping outage | runs (missed) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for (fault, astha, default, tuned) in rows {
        let mut line = |name: &str, series: &Series| {
            let _ = writeln!(
                s,
                "| {} | {name} | {} | {} | {} | {} | {} ({}) |",
                fault.name(),
                cell(series, |r| r.detection),
                cell(series, |r| r.takeover),
                cell(series, |r| r.sip),
                cell(series, |r| r.ping),
                series.runs.len() + series.missed.len(),
                series.missed.len()
            );
        };
        line("astha", astha);
        if let Some(d) = default {
            line("Pacemaker token 3000", d);
        }
        if let Some(t) = tuned {
            line("Pacemaker token 1000", t);
        }
    }
    let _ = writeln!(
        s,
        "\nRatios of medians, Pacemaker / astha (higher = astha better). The client SIP outage is \
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
            p.as_ref().and_then(|p| stat(p, pick).0),
            stat(astha, pick).0,
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
