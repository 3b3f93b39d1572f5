//! `failover-bench`: failover times of astha and of Corosync + Pacemaker in the same namespace harness, as a Markdown section.
//!
//! For each fault and system it builds a fresh pair per run, waits for the steady state, waits
//! a random part of the probe cycle (so the runs sample every phase of the probes' schedule,
//! not the one right after start-up), injects the fault into the active server and records
//! detection, takeover, the client-visible SIP and ping outage and, with a real Asterisk, the
//! SIP calls that failed or dropped (and a cold standby's Asterisk start). The systems: astha
//! in warm and/or cold standby, and Pacemaker pairs — with the emulator under
//! `ocf:heartbeat:anything`, or with a real Asterisk under the stock `ocf:heartbeat:asterisk`
//! agent or astha's `astha-asterisk` agent — for each Corosync `token` asked for. Prints p50 /
//! p95 / max per fault and system, and the Pacemaker/astha ratios, as the "Failover" section
//! of BENCHMARKS.md; every run is also a line on stderr, from which `--from-log` renders the
//! section again (several logs of separate invocations make one table). Needs root.

use std::fmt::Write as _;
use std::time::Duration;

use astha_tests::asterisk::Install;
use astha_tests::harness::calls::CALL_RATE;
use astha_tests::harness::client::now_unix;
use astha_tests::harness::pacemaker::{PacemakerAsterisk, PacemakerPair};
use astha_tests::harness::{
    poll, require_root, CallClient, CallCounts, Fault, HarnessError, Pair, PairAsterisk,
    PairOptions, Side, Standby,
};
use clap::Parser;

/// Measure failover times of astha and of Corosync + Pacemaker.
#[derive(Debug, Parser)]
#[command(name = "failover-bench")]
struct Args {
    /// Runs per fault for astha.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Runs per fault for each Pacemaker system (default: --runs).
    #[arg(long)]
    pacemaker_runs: Option<usize>,
    /// Skip the Pacemaker comparison.
    #[arg(long)]
    skip_pacemaker: bool,
    /// Skip astha (measure only the Pacemaker systems).
    #[arg(long)]
    skip_astha: bool,
    /// Faults to measure (comma list of crash, hang, deadlock, call-path, sip-stack-gone,
    /// node-loss).
    #[arg(long, default_value = "node-loss,hang,crash,deadlock,call-path")]
    faults: String,
    /// Do not measure: render the section from the per-run lines of earlier runs' stderr
    /// (repeatable: the logs of several invocations make one table).
    #[arg(long)]
    from_log: Vec<std::path::PathBuf>,
    /// Write the Markdown section here (default: stdout).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// The Asterisks: `emulated` (fake-asterisk) or `real` (Asterisk 22 from
    /// `scripts/asterisk.sh`, with sipp calls through the floating IP).
    #[arg(long, default_value = "emulated", value_parser = ["emulated", "real"])]
    asterisk: String,
    /// astha's standby, a comma list: `warm` (both Asterisks run), `cold` (started on takeover).
    #[arg(long, default_value = "warm")]
    standby: String,
    /// Pacemaker's Asterisk agent with a real Asterisk, a comma list: `stock`
    /// (`ocf:heartbeat:asterisk` at its defaults), `astha` (contrib/ocf/astha-asterisk). With
    /// the emulator Pacemaker always runs `ocf:heartbeat:anything`.
    #[arg(long, default_value = "stock,astha")]
    pacemaker_agents: String,
    /// Corosync `token` values (ms) for the Pacemaker systems, a comma list.
    #[arg(long, default_value = "3000,1000")]
    tokens: String,
    /// The fault comes a random 0..N ms after the pair is steady (uniform; 0 = at once).
    #[arg(long, default_value_t = 3000)]
    phase_spread_ms: u64,
    /// Seed of the random fault phases (default: from the clock; printed for reruns).
    #[arg(long)]
    seed: Option<u64>,
}

/// One system under test.
#[derive(Debug, Clone)]
enum System {
    Astha(PairAsterisk, Standby),
    Pacemaker(PacemakerAsterisk, u32),
}

impl System {
    /// The label of its rows and of its per-run lines on stderr.
    fn label(&self) -> String {
        match self {
            System::Astha(asterisk, standby) => {
                let asterisk = match asterisk {
                    PairAsterisk::Emulated => "emulated",
                    PairAsterisk::Real(_) => "real Asterisk 22",
                };
                let standby = match standby {
                    Standby::Warm => "warm",
                    Standby::Cold => "cold",
                };
                format!("astha ({asterisk}, {standby})")
            }
            System::Pacemaker(agent, token) => {
                let agent = match agent {
                    PacemakerAsterisk::Emulated => "anything + emulator",
                    PacemakerAsterisk::StockAgent(_) => "stock asterisk agent",
                    PacemakerAsterisk::AsthaAgent(_) => "astha-asterisk agent",
                };
                format!("Pacemaker ({agent}, token {token})")
            }
        }
    }

    fn is_pacemaker(label: &str) -> bool {
        label.starts_with("Pacemaker") || label.starts_with("pacemaker")
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
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    detection: f64,
    takeover: f64,
    sip: f64,
    ping: f64,
    /// SIP calls that failed or dropped around the fault (real Asterisk only).
    lost_calls: Option<u64>,
    /// How long the new active's Asterisk took to start (astha, cold standby).
    asterisk_start: Option<f64>,
    /// The 1-minute load average when the run ended.
    load: Option<f64>,
}

impl Run {
    /// The per-run line on stderr (`runs_from_log` reads it back).
    fn line(&self, system: &str, fault: Fault, i: usize) -> String {
        let mut line = format!(
            "{system} {} run {}: detection {:.0} ms, takeover {:.0} ms, SIP {:.0} ms, ping {:.0} ms",
            fault.name(),
            i + 1,
            self.detection * 1e3,
            self.takeover * 1e3,
            self.sip * 1e3,
            self.ping * 1e3
        );
        if let Some(n) = self.lost_calls {
            let _ = write!(line, ", calls lost {n}");
        }
        if let Some(s) = self.asterisk_start {
            let _ = write!(line, ", Asterisk start {:.0} ms", s * 1e3);
        }
        if let Some(l) = self.load {
            let _ = write!(line, ", load {l:.2}");
        }
        line
    }

    /// Reads back what [`Run::line`] wrote after the colon; `None` for an error line.
    fn parse(rest: &str) -> Option<Run> {
        let mut run = Run::default();
        let mut seen = 0;
        for part in rest.split(", ") {
            let ms = |name: &str| -> Option<f64> {
                part.strip_prefix(name)?
                    .strip_suffix(" ms")?
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .map(|v| v / 1e3)
            };
            if let Some(v) = ms("detection ") {
                run.detection = v;
                seen += 1;
            } else if let Some(v) = ms("takeover ") {
                run.takeover = v;
                seen += 1;
            } else if let Some(v) = ms("SIP ") {
                run.sip = v;
                seen += 1;
            } else if let Some(v) = ms("ping ") {
                run.ping = v;
                seen += 1;
            } else if let Some(v) = ms("Asterisk start ") {
                run.asterisk_start = Some(v);
            } else if let Some(n) = part.strip_prefix("calls lost ") {
                run.lost_calls = n.trim().parse().ok();
            } else if let Some(l) = part.strip_prefix("load ") {
                run.load = l.trim().parse().ok();
            }
        }
        (seen == 4).then_some(run)
    }
}

#[derive(Debug, Default)]
struct Series {
    runs: Vec<Run>,
    /// Runs where no takeover happened within the timeout, with the error.
    missed: Vec<String>,
}

/// Per fault, the systems' series in the order they were measured.
type Rows = Vec<(String, Vec<(String, Series)>)>;

fn parse_fault(name: &str) -> Option<Fault> {
    Some(match name {
        "crash" => Fault::AsteriskCrash,
        "hang" => Fault::AsteriskHang,
        "deadlock" => Fault::CoreDeadlock,
        "call-path" => Fault::CallPathBroken,
        "sip-stack-gone" => Fault::SipStackGone,
        "node-loss" => Fault::NetworkLoss,
        _ => return None,
    })
}

fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failover-bench: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mut faults = Vec::new();
    for name in list(&args.faults) {
        faults.push(parse_fault(name).ok_or_else(|| format!("unknown fault {name:?}"))?);
    }
    let mut rows: Rows = Vec::new();
    // The invocations the rows come from: their command lines and seeds.
    let mut invocations = Invocations::default();
    if !args.from_log.is_empty() {
        for log in &args.from_log {
            let text = std::fs::read_to_string(log)
                .map_err(|e| format!("cannot read {}: {e}", log.display()))?;
            runs_from_log(&text, &mut rows);
            invocations.read(&text);
        }
    } else {
        require_root().map_err(|e| e.to_string())?;
        let systems = systems(args)?;
        let s = args.seed.unwrap_or_else(|| (now_unix() * 1e6) as u64) | 1;
        // The command that measured, without where this one wrote its table.
        let mut command = vec!["failover-bench".to_owned()];
        let mut argv = std::env::args().skip(1);
        while let Some(arg) = argv.next() {
            match arg.as_str() {
                "--out" => {
                    argv.next();
                }
                _ if arg.starts_with("--out=") => {}
                _ => command.push(arg),
            }
        }
        let command = command.join(" ");
        let seed = format!("{s}");
        eprintln!("{COMMAND_LINE}{command}");
        eprintln!("{SEED_LINE}{seed}");
        invocations.commands.push(command);
        invocations.seeds.push(seed);
        let mut phases = Phases(s);
        let spread = Duration::from_millis(args.phase_spread_ms);
        for &fault in &faults {
            let mut measured = Vec::new();
            for system in &systems {
                let series = match system {
                    System::Astha(..) => {
                        measure_astha(system, fault, args.runs, &mut phases, spread)
                    }
                    System::Pacemaker(agent, _) => {
                        // A fault the emulated pair's monitor cannot see is tried once.
                        let runs = if matches!(agent, PacemakerAsterisk::Emulated)
                            && fault == Fault::CallPathBroken
                        {
                            1
                        } else {
                            args.pacemaker_runs.unwrap_or(args.runs)
                        };
                        measure_pacemaker(system, fault, runs, &mut phases, spread)
                    }
                };
                measured.push((system.label(), series));
            }
            rows.push((fault.name().to_owned(), measured));
        }
    }
    let text = render(&rows, args.phase_spread_ms, &invocations);
    match &args.out {
        Some(path) => std::fs::write(path, &text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

/// The systems the command line asks for, astha's first.
fn systems(args: &Args) -> Result<Vec<System>, String> {
    let install = if args.asterisk == "real" {
        Some(Install::locate().map_err(|e| format!("--asterisk real: {e}"))?)
    } else {
        None
    };
    let mut systems = Vec::new();
    if !args.skip_astha {
        for name in list(&args.standby) {
            let standby = match name {
                "warm" => Standby::Warm,
                "cold" => Standby::Cold,
                _ => return Err(format!("unknown standby {name:?} (warm, cold)")),
            };
            let asterisk = match &install {
                Some(install) => PairAsterisk::Real(install.clone()),
                None => PairAsterisk::Emulated,
            };
            systems.push(System::Astha(asterisk, standby));
        }
    }
    if !args.skip_pacemaker {
        let agents = match &install {
            None => vec![PacemakerAsterisk::Emulated],
            Some(install) => list(&args.pacemaker_agents)
                .map(|name| match name {
                    "stock" => Ok(PacemakerAsterisk::StockAgent(install.clone())),
                    "astha" => Ok(PacemakerAsterisk::AsthaAgent(install.clone())),
                    _ => Err(format!("unknown Pacemaker agent {name:?} (stock, astha)")),
                })
                .collect::<Result<_, _>>()?,
        };
        for agent in agents {
            for token in list(&args.tokens) {
                let token: u32 = token
                    .parse()
                    .map_err(|_| format!("--tokens: {token:?} is not a number of ms"))?;
                systems.push(System::Pacemaker(agent.clone(), token));
            }
        }
    }
    Ok(systems)
}

fn timeout_for(system: &System, fault: Fault) -> Duration {
    match (system, fault) {
        // The stock agent's defaults: up to 20 s to the next monitor, 30 s for it to time
        // out, 15 s for the stop to give up on SIGTERM, then a boot.
        (System::Pacemaker(PacemakerAsterisk::StockAgent(_), _), _) => Duration::from_secs(180),
        // astha-asterisk: a monitor every second, a test call every 10 s, a stop that kills a
        // hung Asterisk at once, then a boot on B; 120 s is room for a loaded machine.
        (System::Pacemaker(PacemakerAsterisk::AsthaAgent(_), _), _) => Duration::from_secs(120),
        (_, Fault::CallPathBroken) => Duration::from_secs(60),
        _ => Duration::from_secs(30),
    }
}

/// Calls lost from 1 s before the fault to 1 s after the service was back, once every one of
/// them has been judged (a call is judged failed after 3 s unanswered): those that failed or
/// dropped, and those sipp never placed because unanswered calls filled its limit of
/// simultaneous calls (a caller would have placed them, into the outage).
fn lost_calls(calls: &CallClient, fault_at: f64, back_at: f64) -> u64 {
    let (since, until) = (fault_at - 1.0, back_at + 1.0);
    let placed_too_few = |c: &CallCounts| {
        let expected = (f64::from(CALL_RATE) * (until - since)).floor() as u64;
        expected.saturating_sub(c.attempted)
    };
    let lost = |c: &CallCounts| c.failed + c.dropped + placed_too_few(c);
    poll(
        "the calls around the fault to be judged",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || {
            let c = calls.counts(since, until);
            (c.in_flight == 0).then(|| lost(&c))
        },
    )
    .unwrap_or_else(|_| lost(&calls.counts(since, until)))
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn measure_astha(
    system: &System,
    fault: Fault,
    runs: usize,
    phases: &mut Phases,
    spread: Duration,
) -> Series {
    let System::Astha(asterisk, standby) = system else {
        return Series::default();
    };
    let label = system.label();
    let mut series = Series::default();
    for i in 0..runs {
        let result = (|| {
            let real = matches!(asterisk, PairAsterisk::Real(_));
            let pair = Pair::start(PairOptions {
                asterisk: asterisk.clone(),
                standby: *standby,
                calls: real,
                ..PairOptions::default()
            })?;
            let active = pair.wait_steady(Duration::from_secs(60))?;
            if active != Side::A {
                eprintln!("  note: B came up active; injecting into B");
            }
            // A random phase of the probe cycle (a condition-free wait is the point here).
            std::thread::sleep(phases.next(spread));
            let at = pair.inject(active, fault)?;
            let t = pair.measure_takeover(active.other(), at, timeout_for(system, fault))?;
            let back = at + t.takeover_s.max(t.outage.sip_s);
            Ok::<_, HarnessError>(Run {
                detection: t.detection_s,
                takeover: t.takeover_s,
                sip: t.outage.sip_s,
                ping: t.outage.ping_s,
                lost_calls: pair.calls().map(|calls| lost_calls(calls, at, back)),
                asterisk_start: t.asterisk_start_s.filter(|_| *standby == Standby::Cold),
                load: load_average(),
            })
        })();
        record(&mut series, &label, fault, i, result);
    }
    series
}

fn measure_pacemaker(
    system: &System,
    fault: Fault,
    runs: usize,
    phases: &mut Phases,
    spread: Duration,
) -> Series {
    let System::Pacemaker(agent, token) = system else {
        return Series::default();
    };
    let label = system.label();
    // An application fault is found by the monitor: its phase spreads over a whole monitor
    // cycle at least (Corosync's token runs all the time).
    let spread = if fault == Fault::NetworkLoss {
        spread
    } else {
        spread.max(agent.monitor_interval(fault))
    };
    let mut series = Series::default();
    for i in 0..runs {
        let result = (|| {
            let pair = PacemakerPair::start(*token, agent.clone(), true)?;
            std::thread::sleep(phases.next(spread));
            let at = pair.inject(Side::A, fault)?;
            let t = pair.measure_takeover(fault, at, timeout_for(system, fault))?;
            let back = at + t.takeover_s.max(t.outage.sip_s);
            Ok::<_, HarnessError>(Run {
                detection: t.detection_s,
                takeover: t.takeover_s,
                sip: t.outage.sip_s,
                ping: t.outage.ping_s,
                lost_calls: pair.calls().map(|calls| lost_calls(calls, at, back)),
                asterisk_start: None,
                load: load_average(),
            })
        })();
        record(&mut series, &label, fault, i, result);
    }
    series
}

fn record(
    series: &mut Series,
    label: &str,
    fault: Fault,
    i: usize,
    result: Result<Run, HarnessError>,
) {
    match result {
        Ok(run) => {
            eprintln!("{}", run.line(label, fault, i));
            series.runs.push(run);
        }
        Err(e) => {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or_default();
            eprintln!("{label} {} run {}: {first}", fault.name(), i + 1);
            series.missed.push(first.to_owned());
        }
    }
}

/// What a log says of the invocation that wrote it.
const COMMAND_LINE: &str = "failover-bench: command: ";
const SEED_LINE: &str = "failover-bench: fault phases from seed ";

#[derive(Debug, Default)]
struct Invocations {
    commands: Vec<String>,
    seeds: Vec<String>,
}

impl Invocations {
    fn read(&mut self, log: &str) {
        for line in log.lines() {
            if let Some(c) = line.strip_prefix(COMMAND_LINE) {
                self.commands.push(c.to_owned());
            } else if let Some(s) = line.strip_prefix(SEED_LINE) {
                self.seeds.push(s.to_owned());
            }
        }
    }
}

/// Adds the per-run lines of one log (`<system> <fault> run <n>: ...`) to `rows`.
fn runs_from_log(text: &str, rows: &mut Rows) {
    for line in text.lines() {
        let Some((head, rest)) = line.split_once(": ") else {
            continue;
        };
        let Some((prefix, _n)) = head.rsplit_once(" run ") else {
            continue;
        };
        let Some((label, fault)) = prefix.rsplit_once(' ') else {
            continue;
        };
        if !Fault::ALL.iter().any(|f| f.name() == fault) {
            continue;
        }
        let idx = match rows.iter().position(|(f, _)| f == fault) {
            Some(i) => i,
            None => {
                rows.push((fault.to_owned(), Vec::new()));
                rows.len() - 1
            }
        };
        let systems = &mut rows[idx].1;
        let sidx = match systems.iter().position(|(l, _)| l == label) {
            Some(i) => i,
            None => {
                systems.push((label.to_owned(), Series::default()));
                systems.len() - 1
            }
        };
        let series = &mut systems[sidx].1;
        match Run::parse(rest) {
            Some(run) => series.runs.push(run),
            None => series.missed.push(rest.to_owned()),
        }
    }
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

/// p50, p95 and max of one measure over a series' runs (runs without it left out).
fn stat(series: &Series, pick: fn(&Run) -> Option<f64>) -> Option<(f64, f64, f64)> {
    let v: Vec<f64> = series.runs.iter().filter_map(pick).collect();
    Some((quantile(&v, 0.5)?, quantile(&v, 0.95)?, quantile(&v, 1.0)?))
}

fn cell(series: &Series, pick: fn(&Run) -> Option<f64>) -> String {
    match stat(series, pick) {
        Some((p50, p95, max)) => format!("{:.0} / {:.0} / {:.0}", p50 * 1e3, p95 * 1e3, max * 1e3),
        None if series.runs.is_empty() => "no takeover".to_owned(),
        None => "–".to_owned(),
    }
}

/// Calls lost per run: p50 / p95 / max, and the total over the runs (real Asterisk only).
fn lost_calls_cell(series: &Series) -> String {
    let lost: Vec<f64> = series
        .runs
        .iter()
        .filter_map(|r| r.lost_calls.map(|n| n as f64))
        .collect();
    match (
        quantile(&lost, 0.5),
        quantile(&lost, 0.95),
        quantile(&lost, 1.0),
    ) {
        (Some(p50), Some(p95), Some(max)) => format!(
            "{p50:.0} / {p95:.0} / {max:.0} (Σ {:.0})",
            lost.iter().sum::<f64>()
        ),
        _ => "–".to_owned(),
    }
}

fn load_cell(series: &Series) -> String {
    let load: Vec<f64> = series.runs.iter().filter_map(|r| r.load).collect();
    match (
        quantile(&load, 0.0),
        quantile(&load, 0.5),
        quantile(&load, 1.0),
    ) {
        (Some(min), Some(p50), Some(max)) => format!("{min:.1} / {p50:.1} / {max:.1}"),
        _ => "–".to_owned(),
    }
}

fn render(rows: &Rows, phase_spread_ms: u64, invocations: &Invocations) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Failover\n");
    let seed = match invocations.seeds.as_slice() {
        [] => "not recorded".to_owned(),
        [one] => format!("seed {one}"),
        many => format!("seeds {}", many.join(", ")),
    };
    let _ = writeln!(
        s,
        "Written by `scripts/bench-failover.sh` (tests/src/bin/failover-bench.rs) on {}. Each run \
         builds a fresh pair in network namespaces (the two-node harness); the fault goes into the \
         active server a uniformly random 0–{} ms (Pacemaker: at least one monitor interval) after the pair is steady ({seed}), so the \
         runs sample every phase of the probe cycle. Times in ms after the fault, **p50 / p95 / \
         max** (nearest rank: with fewer than 20 runs p95 is the max). Detection: astha = the \
         standby starts its takeover (its own record); Pacemaker = B's Corosync drops A (node \
         loss), or the cluster records A's failed monitor or moves the floating IP away \
         (application faults). Takeover: astha = takeover finished (including the \
         post-takeover test call); Pacemaker = floating IP up on B. Outage: longest gap without \
         answers at the client (SIP OPTIONS every 20 ms, ping every 10 ms to the floating IP). \
         *Calls lost*: sipp calls through the floating IP (real Asterisk, 4 new calls per second) \
         that failed or dropped from 1 s before the fault to 1 s after the service was back, per \
         run p50 / p95 / max and the sum. *Asterisk start*: a cold standby's step starting \
         Asterisk (its boot, part of the outage). *Load*: the 1-minute load average at the end of \
         the runs, min / p50 / max (the machine was shared with other builds and tests).\n",
        host_line(),
        phase_spread_ms,
    );
    let _ = writeln!(
        s,
        "Setup: astha with its defaults (berofos relay simulator on the LAN, peer link on LAN + \
         crossover; cold standby: Asterisk started by the takeover). Pacemaker 2.1 / Corosync 3.1 \
         (knet on both links, stonith off, `two_node`). With a real Asterisk 22 (the shipped \
         `dialplan/` files): a group `IPaddr2` then Asterisk preferring node A, \
         `migration-threshold=1` (a failed monitor moves the group instead of restarting in \
         place), Asterisk watched either by the **stock `ocf:heartbeat:asterisk`** agent with the \
         operations its metadata advertises (monitor every 20 s with a 30 s timeout, start and \
         stop 20 s; only `binary`, `config`, `user`/`group` root set) or by **astha's \
         `astha-asterisk`** agent as `contrib/ocf/example-cib.crm` sets it up (monitor every 1 s \
         within 1.5 s, a test call every 10 s, stop timeout 60 s). With the emulator: a clone of \
         `ocf:heartbeat:anything` running fake-asterisk on both nodes with an asterisk-style \
         monitor hook (AMI `core show channels count`, 3 s deadline, every 2 s), `IPaddr2` \
         colocated with it.\n"
    );
    if !invocations.commands.is_empty() {
        let _ = writeln!(
            s,
            "Commands (as root, each run's line on stderr kept for `--from-log`):\n"
        );
        for command in &invocations.commands {
            let _ = writeln!(s, "    {command}");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "| fault | system | detection | takeover | SIP outage | ping outage | calls lost | Asterisk start | load | runs (missed) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for (fault, systems) in rows {
        for (label, series) in systems {
            let _ = writeln!(
                s,
                "| {fault} | {label} | {} | {} | {} | {} | {} | {} | {} | {} ({}) |",
                cell(series, |r| Some(r.detection)),
                cell(series, |r| Some(r.takeover)),
                cell(series, |r| Some(r.sip)),
                cell(series, |r| Some(r.ping)),
                lost_calls_cell(series),
                cell(series, |r| r.asterisk_start),
                load_cell(series),
                series.runs.len() + series.missed.len(),
                series.missed.len()
            );
        }
    }
    let _ = writeln!(
        s,
        "\nRatios of p50s, Pacemaker / astha, from the same runs (higher = astha better); the \
         client SIP outage is what a caller sees:\n"
    );
    let _ = writeln!(
        s,
        "| fault | Pacemaker system | astha system | SIP outage ratio | detection ratio |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|");
    for (fault, systems) in rows {
        let p50 = |series: &Series, pick: fn(&Run) -> Option<f64>| stat(series, pick).map(|s| s.0);
        let ratio = |p: &Series, a: &Series, pick: fn(&Run) -> Option<f64>| match (
            p50(p, pick),
            p50(a, pick),
        ) {
            (Some(p), Some(a)) if a > 0.0 => format!("{:.1}×", p / a),
            (None, Some(_)) => "∞ (no takeover)".to_owned(),
            _ => "–".to_owned(),
        };
        for (plabel, pseries) in systems.iter().filter(|(l, _)| System::is_pacemaker(l)) {
            for (alabel, aseries) in systems.iter().filter(|(l, _)| !System::is_pacemaker(l)) {
                let _ = writeln!(
                    s,
                    "| {fault} | {plabel} | {alabel} | {} | {} |",
                    ratio(pseries, aseries, |r| Some(r.sip)),
                    ratio(pseries, aseries, |r| Some(r.detection)),
                );
            }
        }
    }
    let missed: Vec<String> = rows
        .iter()
        .flat_map(|(fault, systems)| {
            systems.iter().flat_map(move |(label, series)| {
                series
                    .missed
                    .iter()
                    .map(move |m| format!("- {fault} / {label}: {m}"))
            })
        })
        .collect();
    if !missed.is_empty() {
        let _ = writeln!(s, "\nRuns without a measured takeover:\n");
        for m in missed {
            let _ = writeln!(s, "{m}");
        }
    }
    s
}

fn host_line() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{date}, a {cpus}-CPU machine")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_line_reads_back_into_its_system_and_fault() {
        let run = Run {
            detection: 1.244,
            takeover: 1.254,
            sip: 1.264,
            ping: 0.033,
            lost_calls: Some(2),
            asterisk_start: Some(1.5),
            load: Some(12.14),
        };
        let label = "astha (real Asterisk 22, cold)";
        let log = format!(
            "harness: noise\n{}\n{label} asterisk-hang run 2: no takeover within 30 s\n",
            run.line(label, Fault::AsteriskHang, 0)
        );
        let mut rows = Rows::new();
        runs_from_log(&log, &mut rows);
        assert_eq!(rows.len(), 1);
        let (fault, systems) = &rows[0];
        assert_eq!(fault, "asterisk-hang");
        assert_eq!(systems.len(), 1);
        let (read_label, series) = &systems[0];
        assert_eq!(read_label, label);
        assert_eq!(series.missed, vec!["no takeover within 30 s".to_owned()]);
        let back = series.runs[0];
        assert!((back.detection - 1.244).abs() < 1e-9, "{back:?}");
        assert!((back.sip - 1.264).abs() < 1e-9, "{back:?}");
        assert_eq!(back.lost_calls, Some(2));
        assert_eq!(back.asterisk_start, Some(1.5));
        assert_eq!(back.load, Some(12.14));
    }

    #[test]
    fn a_line_of_the_earlier_format_still_reads() {
        let mut rows = Rows::new();
        runs_from_log(
            "pacemaker token 3000 asterisk-hang run 1: detection 6609 ms, takeover 6617 ms, SIP 6637 ms, ping 6633 ms",
            &mut rows,
        );
        let run = rows[0].1[0].1.runs[0];
        assert!((run.takeover - 6.617).abs() < 1e-9);
        assert_eq!(run.lost_calls, None);
        assert!(System::is_pacemaker(&rows[0].1[0].0));
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(10.0));
        assert_eq!(quantile(&v, 0.95), Some(19.0));
        assert_eq!(quantile(&v, 1.0), Some(20.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
