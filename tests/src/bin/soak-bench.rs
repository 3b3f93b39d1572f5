//! Soak benchmark on a loaded host: takeovers and false verdicts while a saturated server carries real SIP calls (the active's host, the standby's, with 5 % peer-link loss), then hang and node-death detection under the same load over random-phase injections.
//!
//! Every scenario runs a fresh pair of real Asterisk 22 servers with astha scheduled as the
//! shipped unit schedules it, sipp placing `--rate` new calls per second each up for
//! `--hold-ms` through the floating IP, and stress-ng saturating a host (every core, memory
//! kept hot, disk I/O). The two servers' namespaces share one machine: by default each server
//! (its Asterisk and its daemon) is pinned to half the CPUs, its host, and stress-ng to the
//! loaded server's; `--hosts shared` puts everything on every CPU, the active and the standby
//! saturated together. Prints a Markdown section (or writes it to `--out`);
//! `scripts/bench-soak.sh` puts it into BENCHMARKS.md.

use std::io::Read;
use std::time::{Duration, Instant};

use astha_tests::asterisk::Install;
use astha_tests::harness::client::now_unix;
use astha_tests::harness::{
    require_root, CallCounts, CallLoad, Fault, Host, HostLoad, LinkLoss, LoadSpec, Pair,
    PairAsterisk, PairOptions, SchedTrace, Side,
};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "astha soak benchmark on a loaded host (real Asterisk, sipp, stress-ng)")]
struct Args {
    /// Minutes per soak scenario (0: no soak, detection only).
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// The faults whose detection is measured under load, comma-separated: hang, node-loss.
    #[arg(long, default_value = "hang,node-loss")]
    faults: String,
    /// Injections of each fault (hang, node death) under load, each at a random phase.
    #[arg(long, default_value_t = 20)]
    injections: usize,
    /// New calls per second.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// How long each call stays up (ms): rate x hold = calls at once.
    #[arg(long, default_value_t = 10_000)]
    hold_ms: u32,
    /// Where the servers and the load run: `pinned` gives each server half the CPUs (its host)
    /// and loads one server's only; `shared` lets both servers and the load share every CPU
    /// (both saturated together).
    #[arg(long, value_enum, default_value_t = Hosts::Pinned)]
    hosts: Hosts,
    /// Write the Markdown section here instead of stdout.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

/// Where the servers and the load run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Hosts {
    /// Every process on every CPU: the load saturates both servers at once.
    Shared,
    /// Server A on the first half of the CPUs, B on the second: two hosts on one machine.
    Pinned,
}

impl Hosts {
    /// The CPUs (`taskset -c` list) of `side`'s host; None when hosts are shared.
    fn cpus(self, side: Side) -> Option<String> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let half = (n / 2).max(1);
        match (self, side) {
            (Hosts::Shared, _) => None,
            (Hosts::Pinned, Side::A) => Some(format!("0-{}", half - 1)),
            (Hosts::Pinned, Side::B) => Some(format!("{}-{}", half.min(n - 1), n - 1)),
        }
    }

    /// Pins both servers to their hosts' CPUs (nothing when shared).
    fn pin(self, pair: &Pair) -> Result<(), String> {
        for side in [Side::A, Side::B] {
            self.pin_side(pair, side)?;
        }
        Ok(())
    }

    fn pin_side(self, pair: &Pair, side: Side) -> Result<(), String> {
        match self.cpus(side) {
            Some(cpus) => pair.pin(side, &cpus).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}

/// What one soak scenario saw.
#[derive(Debug, Default)]
struct Soak {
    name: String,
    minutes: f64,
    /// Times the active side changed.
    takeovers: u32,
    /// `failed` / `degraded` verdicts on healthy Asterisks, by the probe that caused them.
    failed: Vec<(String, u32)>,
    degraded: Vec<(String, u32)>,
    /// Each `failed` verdict: whose daemon judged which Asterisk, on what evidence.
    failed_views: Vec<String>,
    /// astha wake-ups logged as late (>= 100 ms) and the longest, in ms.
    stalls: u32,
    max_lag_ms: u64,
    datagrams_dropped: u64,
    calls: CallCounts,
    /// The calls in progress on the active's Asterisk at each status sample (astha's count).
    calls_at_once: Vec<f64>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Err(e) = require_root() {
        eprintln!("soak-bench: {e}");
        return std::process::ExitCode::from(2);
    }
    let install = match Install::locate() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("soak-bench: a real Asterisk is needed: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let load = CallLoad {
        rate: args.rate,
        hold_ms: args.hold_ms,
    };
    let mut faults = Vec::new();
    for name in args
        .faults
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        match name {
            "hang" => faults.push(Fault::AsteriskHang),
            "node-loss" => faults.push(Fault::NetworkLoss),
            _ => {
                eprintln!("soak-bench: unknown fault {name:?} (hang, node-loss)");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let minutes = Duration::from_secs(args.minutes * 60);
    let started = now_unix();
    let mut soaks = Vec::new();
    if args.hosts == Hosts::Pinned
        && std::thread::available_parallelism().map_or(1, |n| n.get()) < 2
    {
        eprintln!("soak-bench: --hosts pinned needs at least 2 CPUs (use --hosts shared)");
        return std::process::ExitCode::from(2);
    }
    // (name, the server whose host is saturated (None: every CPU), peer-link loss %)
    let scenarios: &[(&str, Option<Side>, u32)] = match (args.minutes, args.hosts) {
        (0, _) => &[],
        (_, Hosts::Shared) => &[
            ("saturated host, calls", None, 0),
            ("saturated host, calls, peer link 5 % loss", None, 5),
        ],
        (_, Hosts::Pinned) => &[
            ("active's host saturated, calls", Some(Side::A), 0),
            ("standby's host saturated, calls", Some(Side::B), 0),
            (
                "active's host saturated, calls, peer link 5 % loss",
                Some(Side::A),
                5,
            ),
        ],
    };
    for &(name, loaded, loss) in scenarios {
        eprintln!("soak-bench: {name} for {} min", args.minutes);
        let stress_cpus = loaded.and_then(|side| args.hosts.cpus(side));
        match soak(&install, load, args.hosts, stress_cpus, minutes, loss, name) {
            Ok(s) => {
                // Logged as it completes, so a later failure loses nothing.
                eprintln!("soak-bench: {s:?}");
                soaks.push(s);
            }
            Err(e) => {
                eprintln!("soak-bench: {name}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let mut detections = Vec::new();
    for fault in faults {
        eprintln!(
            "soak-bench: {} x {} under load",
            fault.name(),
            args.injections
        );
        match detect(&install, load, args.hosts, fault, args.injections) {
            Ok(d) => detections.push((fault, d)),
            Err(e) => {
                eprintln!("soak-bench: {}: {e}", fault.name());
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let text = render(&args, &soaks, &detections, started);
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                eprintln!("soak-bench: cannot write {}: {e}", path.display());
                return std::process::ExitCode::FAILURE;
            }
        }
        None => print!("{text}"),
    }
    std::process::ExitCode::SUCCESS
}

/// A pair of real Asterisks carrying `load`, steady with A active and calls answered.
fn loaded_pair(install: &Install, load: CallLoad) -> Result<Pair, String> {
    let mut options = PairOptions {
        asterisk: PairAsterisk::Real(install.clone()),
        calls: true,
        call_load: load,
        ..PairOptions::default()
    };
    for s in &mut options.settings {
        // Short hold-down so the injections can follow each other.
        s.hold_down_ms = Some(3_000);
    }
    let pair = Pair::start(options).map_err(|e| e.to_string())?;
    pair.wait_steady(Duration::from_secs(60))
        .map_err(|e| e.to_string())?;
    if let Some(calls) = pair.calls() {
        calls
            .wait_set_up_after(now_unix() - 1.0, Duration::from_secs(60))
            .map_err(|e| e.to_string())?;
    }
    Ok(pair)
}

/// Both daemons' main threads traced from now on (see `SchedTrace`).
fn sched_traces(pair: &Pair) -> Vec<SchedTrace> {
    [Side::A, Side::B]
        .into_iter()
        .filter_map(|side| {
            let pid = pair.daemon_pid(side)?;
            Some(SchedTrace::start(&format!("astha-{}", side.letter()), pid))
        })
        .collect()
}

/// stress-ng saturating `cpus` (every CPU when None).
fn start_load(pair: &Pair, duration: Duration, cpus: Option<String>) -> Result<HostLoad, String> {
    HostLoad::start(
        &LoadSpec {
            cpus,
            ..LoadSpec::saturated()
        },
        Some(&pair.topology().name(Host::A)),
        duration,
        pair.dir(),
    )
    .map_err(|e| e.to_string())
}

fn soak(
    install: &Install,
    load: CallLoad,
    hosts: Hosts,
    stress_cpus: Option<String>,
    duration: Duration,
    loss_percent: u32,
    name: &str,
) -> Result<Soak, String> {
    let pair = loaded_pair(install, load)?;
    hosts.pin(&pair)?;
    let traces = sched_traces(&pair);
    let from = now_unix();
    let _stress = start_load(&pair, duration + Duration::from_secs(30), stress_cpus)?;
    let loss = (loss_percent > 0)
        .then(|| LinkLoss::start(pair.topology(), loss_percent))
        .transpose()
        .map_err(|e| e.to_string())?;
    let mut takeovers = 0;
    let mut calls_at_once = Vec::new();
    let mut active = Some(Side::A);
    let started = Instant::now();
    while started.elapsed() < duration {
        if let (Ok(a), Ok(b)) = (pair.status(Side::A), pair.status(Side::B)) {
            let now_active = match (a.role.as_str(), b.role.as_str()) {
                ("active", _) => Some(Side::A),
                (_, "active") => Some(Side::B),
                _ => active,
            };
            calls_at_once.extend(a.calls().or(b.calls()).map(|n| n as f64));
            if now_active != active {
                takeovers += 1;
                eprintln!("soak-bench: {name}: the calls moved to {now_active:?}");
                active = now_active;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut soak = Soak {
        name: name.to_owned(),
        minutes: duration.as_secs_f64() / 60.0,
        takeovers,
        datagrams_dropped: loss.as_ref().map_or(0, LinkLoss::dropped),
        calls_at_once,
        ..Soak::default()
    };
    if let Some(calls) = pair.calls() {
        soak.calls = calls.counts(from, now_unix() - f64::from(load.hold_ms) / 1000.0);
    }
    // Where each daemon's stalls went (the logs only say how long they were).
    for trace in &traces {
        eprintln!(
            "soak-bench: {name}: {}",
            trace.explain(from, now_unix(), Duration::from_millis(200))
        );
    }
    for daemon in ["astha-a", "astha-b"] {
        let log = pair.log(daemon);
        for line in log.lines().filter(|l| l.contains("verdict changed")) {
            let probe = log_field(line, "probe").unwrap_or("lifecycle").to_owned();
            if line.contains("to=failed") {
                bump(&mut soak.failed, probe);
                soak.failed_views.push(failed_view(daemon, line));
            } else if line.contains("to=degraded") {
                bump(&mut soak.degraded, probe);
            }
        }
        for lag in log
            .lines()
            .filter(|l| l.contains("astha woke late"))
            .filter_map(|l| {
                l.split("lag_ms=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
        {
            soak.stalls += 1;
            soak.max_lag_ms = soak.max_lag_ms.max(lag);
        }
    }
    Ok(soak)
}

/// `daemon`'s `failed` verdict `line` as "astha-a on local: <evidence>" (the daemon logs its
/// target's name and the evidence last, see `probe/runner.rs`).
fn failed_view(daemon: &str, line: &str) -> String {
    let target = log_field(line, "target").map_or("?", |t| t.trim_matches('"'));
    let evidence = line.split("evidence=").nth(1).unwrap_or("?").trim();
    format!("{daemon} on {target}: {evidence}")
}

/// The value of the first `key=value` in a log `line` (up to the next space).
fn log_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(&format!("{key}="))
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
}

fn bump(counts: &mut Vec<(String, u32)>, key: String) {
    match counts.iter_mut().find(|(k, _)| *k == key) {
        Some((_, n)) => *n += 1,
        None => counts.push((key, 1)),
    }
}

/// A detection slower than this (the p99 goal for a hang) prints both daemons' logs.
const SLOW_DETECTION_S: f64 = 1.5;

/// A uniformly random delay below `max`, so each fault lands at a random phase of the probe cycle.
fn random_phase(max: Duration) -> Duration {
    let mut bytes = [0u8; 4];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    max.mul_f64(f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX))
}

/// One fault's detection series under load.
#[derive(Debug, Default)]
struct Detections {
    /// Fault to the new active's takeover start, ms.
    times: Vec<f64>,
    /// A hang of a real Asterisk: from every thread stopped (the hang complete) to the takeover
    /// start, ms, and the SIGSTOP to every thread stopped, ms (see
    /// `astha_tests::asterisk::group_stop`).
    from_complete: Vec<f64>,
    stopping: Vec<f64>,
    /// Healed Asterisks that had to be restarted to return as a ready standby.
    restarts: u32,
    /// Pairs started for the series.
    pairs: usize,
}

/// Detection times of `fault` injected `n` times into whichever side is active, on a saturated
/// host carrying calls; the side heals and rejoins as a standby ready to take the calls between
/// injections. A pair stuck even so is reported with both daemons' logs, and the series goes on
/// with a fresh pair (at most [`MAX_PAIRS`]).
fn detect(
    install: &Install,
    load: CallLoad,
    hosts: Hosts,
    fault: Fault,
    n: usize,
) -> Result<Detections, String> {
    let mut d = Detections::default();
    while d.pairs < MAX_PAIRS {
        d.pairs += 1;
        let pair = loaded_pair(install, load)?;
        hosts.pin(&pair)?;
        match injections(&pair, hosts, fault, n, &mut d) {
            None => return Ok(d),
            Some(e) => eprintln!(
                "soak-bench: {}: pair {} stuck after {} runs: {e}",
                fault.name(),
                d.pairs,
                d.times.len()
            ),
        }
    }
    eprintln!(
        "soak-bench: {}: stopping after {} runs ({MAX_PAIRS} pairs)",
        fault.name(),
        d.times.len()
    );
    Ok(d)
}

/// Fresh pairs one detection series may use before it keeps what it has.
const MAX_PAIRS: usize = 4;
/// How long a healed side has to return as a ready standby before its Asterisk is restarted.
const HEAL_WAIT: Duration = Duration::from_secs(30);

/// Injects `fault` into one pair until `d` holds `n` runs: None, or why the pair is stuck.
/// A healed side not back within [`HEAL_WAIT`] has its Asterisk restarted (counted in `d`).
fn injections(
    pair: &Pair,
    hosts: Hosts,
    fault: Fault,
    n: usize,
    d: &mut Detections,
) -> Option<String> {
    let traces = sched_traces(pair);
    let mut active = Side::A;
    while d.times.len() < n {
        // The active's host saturated (every CPU when shared) from before the fault until the
        // takeover is measured.
        let stress = match start_load(pair, Duration::from_secs(600), hosts.cpus(active)) {
            Ok(stress) => stress,
            Err(e) => return Some(e),
        };
        // Hold-down over and the standby healthy again before the next fault.
        std::thread::sleep(Duration::from_secs(4) + random_phase(Duration::from_secs(1)));
        let both_logs = |first: Side| {
            format!(
                "--- astha-{} ---\n{}\n--- astha-{} ---\n{}",
                first.letter(),
                pair.log_tail(&format!("astha-{}", first.letter()), 25),
                first.other().letter(),
                pair.log_tail(&format!("astha-{}", first.other().letter()), 25)
            )
        };
        // A hang is timed from the SIGSTOP itself, and from when it took hold.
        let injected = match fault {
            Fault::AsteriskHang => pair.hang(active).map(|h| (h.signalled, Some(h.complete))),
            _ => pair.inject(active, fault).map(|at| (at, None)),
        };
        let (at, complete) = match injected {
            Ok(injected) => injected,
            Err(e) => return Some(e.to_string()),
        };
        let t = match pair.measure_takeover(active.other(), at, Duration::from_secs(60)) {
            Ok(t) => t,
            Err(e) => return Some(format!("{e}\n{}", both_logs(active))),
        };
        let detected_ms = t.detection_s * 1000.0;
        let mut stopping = String::new();
        if let Some(complete) = complete {
            let stopping_ms = (complete - at) * 1000.0;
            let from_complete_ms = detected_ms - stopping_ms;
            d.stopping.push(stopping_ms);
            d.from_complete.push(from_complete_ms);
            stopping = format!(
                " ({from_complete_ms:.0} ms after every thread stopped, {stopping_ms:.0} ms after the SIGSTOP)"
            );
        }
        eprintln!(
            "soak-bench: {} #{}: detected {:.0} ms{}",
            fault.name(),
            d.times.len() + 1,
            detected_ms,
            stopping
        );
        if t.detection_s > SLOW_DETECTION_S {
            // What each daemon did meanwhile: the distribution says how often, this says why.
            eprintln!(
                "soak-bench: slow detection, the daemons' logs:\n{}",
                both_logs(active)
            );
            for trace in &traces {
                eprintln!(
                    "soak-bench: {}",
                    trace.explain(
                        at - 0.5,
                        at + t.detection_s + 0.2,
                        Duration::from_millis(100)
                    )
                );
            }
        }
        d.times.push(detected_ms);
        drop(stress);
        if let Err(e) = pair.heal(active, fault) {
            return Some(e.to_string());
        }
        let healed = active;
        active = active.other();
        let back = |within: Duration| {
            astha_tests::harness::poll(
                "the healed side back as a healthy standby",
                within,
                Duration::from_millis(100),
                || {
                    let s = pair.status(healed).ok()?;
                    let other = pair.status(active).ok()?;
                    // Degraded is ready to take the calls (what the active's handover asks): a
                    // healed Asterisk can stay degraded for a while (its test call, its SIP probe).
                    let ready = |v: Option<&str>| matches!(v, Some("healthy" | "degraded"));
                    (s.role == "standby"
                        && ready(s.verdict("local"))
                        && ready(other.verdict("peer")))
                    .then_some(())
                },
            )
        };
        if let Err(e) = back(HEAL_WAIT) {
            // A hung Asterisk that carried the calls, continued on a saturated host, can stay too
            // slow for its test call for minutes (both Asterisks share the two CPUs with
            // stress-ng and sipp's retransmissions). An admin restarts it; so does the bench.
            eprintln!(
                "soak-bench: {}: {e}; restarting {healed:?}'s Asterisk\n{}",
                fault.name(),
                both_logs(healed)
            );
            d.restarts += 1;
            let restarted = pair
                .inject(healed, Fault::AsteriskCrash)
                .and_then(|_| pair.heal(healed, Fault::AsteriskCrash))
                .map_err(|e| e.to_string())
                .and_then(|()| hosts.pin_side(pair, healed));
            if let Err(e) =
                restarted.and_then(|()| back(Duration::from_secs(60)).map_err(|e| e.to_string()))
            {
                return Some(format!("{e}\n{}", both_logs(healed)));
            }
        }
    }
    None
}

/// The median and the most of the calls counted at once, or a dash when none was counted.
fn at_once(counts: &[f64]) -> String {
    let mut sorted = counts.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.last() {
        Some(max) => format!("{:.0} / {max:.0}", percentile(&sorted, 0.5)),
        None => "-".into(),
    }
}

/// One row of the detection table: the distribution of `times` (ms).
fn detection_row(name: &str, times: &[f64], pairs: &str, restarts: &str) -> String {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    format!(
        "| {name} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {pairs} | {restarts} |\n",
        sorted.len(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.95),
        percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or(f64::NAN),
    )
}

/// The value below which `q` of the sorted samples fall (nearest rank).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn list(counts: &[(String, u32)]) -> String {
    if counts.is_empty() {
        return "0".into();
    }
    counts
        .iter()
        .map(|(k, n)| format!("{n} ({k})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn render(args: &Args, soaks: &[Soak], detections: &[(Fault, Detections)], started: f64) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut s = String::from("## Soak (loaded host)\n\n");
    s.push_str(&format!(
        "`scripts/bench-soak.sh`, {date}, a {cpus}-CPU machine, {:.0} min in all. Two real Asterisk 22 servers \
         in network namespaces, astha scheduled as `contrib/systemd/astha.service` schedules it, sipp placing \
         {} new calls/s through the floating IP, each up {} s (about {} at once; the table has astha's count), and stress-ng saturating \
         a host (`{}`). {}\n\n",
        (now_unix() - started) / 60.0,
        args.rate,
        args.hold_ms / 1000,
        args.rate * args.hold_ms / 1000,
        LoadSpec::saturated()
            .args(Duration::from_secs(args.minutes * 60), std::path::Path::new("DIR"))
            .join(" "),
        match args.hosts {
            Hosts::Shared => "Both servers and the load share every CPU, the memory and the disk: \
                              the active and the standby are loaded together.",
            Hosts::Pinned => "Each server runs on its own half of the CPUs (`taskset`: its Asterisk and \
                              its daemon, A on the first half, B on the second) and stress-ng on the \
                              loaded server's CPUs only; memory and disk stay shared.",
        },
    ));
    if !soaks.is_empty() {
        s.push_str("| scenario | minutes | takeovers | failed verdicts (probe) | degraded verdicts (probe) | astha stalls >= 100 ms | longest stall | peer datagrams dropped | calls set up / failed / dropped | calls at once p50 / max |\n");
        s.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for k in soaks {
            s.push_str(&format!(
                "| {} | {:.0} | {} | {} | {} | {} | {} ms | {} | {} / {} / {} | {} |\n",
                k.name,
                k.minutes,
                k.takeovers,
                list(&k.failed),
                list(&k.degraded),
                k.stalls,
                k.max_lag_ms,
                k.datagrams_dropped,
                k.calls.set_up,
                k.calls.failed,
                k.calls.dropped,
                at_once(&k.calls_at_once),
            ));
        }
        let views: Vec<_> = soaks
            .iter()
            .flat_map(|k| k.failed_views.iter().map(move |v| (&k.name, v)))
            .collect();
        if !views.is_empty() {
            s.push_str("\nWhose view failed (the daemon, the Asterisk it judged, the evidence it logged):\n\n");
            for (name, view) in views {
                s.push_str(&format!("- {name}: {view}\n"));
            }
        }
    }
    s.push_str("\nDetection under the same load (fault to the new active's takeover start), each fault injected at a random phase of the probe cycle into whichever server is active, whose host is saturated from a few seconds before the fault until the takeover:\n\n");
    s.push_str("| fault | runs | p50 | p95 | p99 | max | pairs | healed Asterisks restarted |\n|---|---|---|---|---|---|---|---|\n");
    for (fault, d) in detections {
        s.push_str(&detection_row(
            fault.name(),
            &d.times,
            &d.pairs.to_string(),
            &d.restarts.to_string(),
        ));
        if !d.from_complete.is_empty() {
            // The same runs measured from when the Asterisk had stopped answering at all.
            s.push_str(&detection_row(
                &format!("{}, from every thread stopped", fault.name()),
                &d.from_complete,
                "same",
                "same",
            ));
            s.push_str(&detection_row(
                "(SIGSTOP to every thread stopped)",
                &d.stopping,
                "",
                "",
            ));
        }
    }
    s
}
