//! `contacts-bench`: how soon phones registered on the old active receive calls through the new one, with astha's contact mirror and without it, as a Markdown section.
//!
//! Each run builds a real Asterisk 22 pair in warm standby, registers the phones (50 by default)
//! once through the floating IP, waits until B's astha reports them mirrored (with the mirror),
//! crashes A's Asterisk and, from the moment B finished taking over, calls every phone that has
//! not answered yet on B's Asterisk (AMI `Originate`, as an inbound call reaches it) every
//! 250 ms. A phone's time is when it answered, after the takeover ended; p50 / p95 / max over
//! every phone of every run. Without the mirror no phone registers again within the window
//! (they registered for an hour), so that row counts the phones reached instead. Needs root.

use std::fmt::Write as _;
use std::time::Duration;

use astha_tests::asterisk::Install;
use astha_tests::harness::client::now_unix;
use astha_tests::harness::{require_root, Fault, Pair, PairAsterisk, PairOptions, Side};
use clap::Parser;

/// Measure when phones are reachable again after a takeover.
#[derive(Debug, Parser)]
#[command(name = "contacts-bench")]
struct Args {
    /// Runs per mode (mirror on, mirror off).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Phones registered per run (at most 50, the site configuration's).
    #[arg(long, default_value_t = 50)]
    phones: u32,
    /// How long after the takeover the phones are called before the run gives up on them.
    #[arg(long, default_value_t = 20)]
    window_s: u64,
    /// Write the Markdown section here (default: stdout).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

const SETTLE: Duration = Duration::from_secs(60);
const CALL_EVERY: Duration = Duration::from_millis(250);

/// One run's outcome: each reached phone's time after the takeover ended (s), and how many
/// phones there were.
struct Run {
    takeover_s: f64,
    reached_after_takeover: Vec<f64>,
    phones: usize,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = require_root() {
        eprintln!("contacts-bench: {e}");
        std::process::exit(2);
    }
    let install = match Install::locate() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("contacts-bench: needs a real Asterisk (scripts/asterisk.sh): {e}");
            std::process::exit(2);
        }
    };
    let phones = args.phones.clamp(1, astha_tests::asterisk::config::PHONES);
    let window = Duration::from_secs(args.window_s);
    let mut rows = Vec::new();
    for mirror in [true, false] {
        let mut runs = Vec::new();
        for i in 0..args.runs {
            match one_run(&install, mirror, phones, window) {
                Ok(run) => {
                    eprintln!(
                        "run {} mirror={mirror}: takeover {:.0} ms, {} of {} phones reached",
                        i + 1,
                        run.takeover_s * 1000.0,
                        run.reached_after_takeover.len(),
                        run.phones
                    );
                    runs.push(run);
                }
                Err(e) => eprintln!("run {} mirror={mirror} failed: {e}", i + 1),
            }
        }
        rows.push((mirror, runs));
    }
    let section = render(&rows, phones, window);
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &section) {
                eprintln!("contacts-bench: write {}: {e}", path.display());
                std::process::exit(1);
            }
        }
        None => print!("{section}"),
    }
}

fn one_run(
    install: &Install,
    mirror: bool,
    phones: u32,
    window: Duration,
) -> Result<Run, Box<dyn std::error::Error>> {
    let mut options = PairOptions {
        asterisk: PairAsterisk::Real(install.clone()),
        ..PairOptions::default()
    };
    for s in &mut options.settings {
        s.hold_down_ms = Some(3_000);
        s.contacts_mirror = Some(mirror);
    }
    let pair = Pair::start(options)?;
    if pair.wait_steady(SETTLE)? != Side::A {
        return Err("A did not become active".into());
    }
    let mut registered = pair.start_phones(phones)?;
    registered.register(SETTLE)?;
    let names = registered.registered();
    if mirror {
        astha_tests::harness::poll(
            "B's astha to mirror every phone",
            SETTLE,
            Duration::from_millis(100),
            || {
                let status = pair.status(Side::B).ok()?;
                (status.raw["contacts"]["contacts"].as_u64() == Some(u64::from(phones)))
                    .then_some(())
            },
        )?;
    }
    let at = pair.inject(Side::A, Fault::AsteriskCrash)?;
    let takeover = pair.measure_takeover(Side::B, at, SETTLE)?;
    let done = at + takeover.takeover_s;
    let mut caller = pair.phone_caller(Side::B)?;
    let until = done + window.as_secs_f64();
    loop {
        let waiting: Vec<String> = names
            .iter()
            .filter(|n| registered.answered_after(n, done).is_none())
            .cloned()
            .collect();
        if waiting.is_empty() || now_unix() > until {
            break;
        }
        caller.call(&waiting)?;
        std::thread::sleep(CALL_EVERY);
    }
    // Calls placed just before the window closed may still be answered.
    std::thread::sleep(Duration::from_secs(2));
    let reached = names
        .iter()
        .filter_map(|n| registered.answered_after(n, done))
        .map(|t| t - done)
        .collect();
    Ok(Run {
        takeover_s: takeover.takeover_s,
        reached_after_takeover: reached,
        phones: names.len(),
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn render(rows: &[(bool, Vec<Run>)], phones: u32, window: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Phones after a takeover\n");
    let _ = writeln!(
        out,
        "`scripts/bench-contacts.sh`: a real Asterisk 22 pair in warm standby, {phones} phones \
         (sipp) registered once through the floating IP, A's Asterisk crashed; from the end of \
         B's takeover every phone not reached yet is called on B's Asterisk (AMI `Originate` to \
         `PJSIP/<phone>`, as an inbound call reaches it) every {} ms. Time until each phone \
         answered, counted from the end of the takeover, over every phone of every run; calls \
         given up {} s after the takeover.\n",
        CALL_EVERY.as_millis(),
        window.as_secs()
    );
    let _ = writeln!(
        out,
        "| contacts | runs | phones reached | p50 | p95 | max | takeover (p50) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (mirror, runs) in rows {
        let mut times: Vec<f64> = runs
            .iter()
            .flat_map(|r| r.reached_after_takeover.iter().copied())
            .collect();
        times.sort_by(f64::total_cmp);
        let total: usize = runs.iter().map(|r| r.phones).sum();
        let mut takeovers: Vec<f64> = runs.iter().map(|r| r.takeover_s).collect();
        takeovers.sort_by(f64::total_cmp);
        let ms = |v: f64| format!("{:.0} ms", v * 1000.0);
        let (p50, p95, max) = if times.is_empty() {
            ("-".to_owned(), "-".to_owned(), "-".to_owned())
        } else {
            (
                ms(percentile(&times, 50.0)),
                ms(percentile(&times, 95.0)),
                ms(*times.last().unwrap_or(&0.0)),
            )
        };
        let label = if *mirror {
            "mirrored by astha (`[contacts] mirror = true`)"
        } else {
            "no sync (`mirror = false`): until each phone registers again"
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} of {total} | {p50} | {p95} | {max} | {} |",
            runs.len(),
            times.len(),
            if takeovers.is_empty() {
                "-".to_owned()
            } else {
                ms(percentile(&takeovers, 50.0))
            }
        );
    }
    let _ = writeln!(
        out,
        "\nWithout the mirror a phone is reached only after its next REGISTER: its registration \
         interval (an hour for most phones, `Expires: 3600` here), none within the window."
    );
    out
}
