//! `astha-demo`: builds a sandbox pair in network namespaces, shows live status, injects a failure and prints the takeover timeline.
//!
//! This is what `astha demo` runs. It needs root (namespaces, veth, bridges); without root
//! it explains what it needs and exits with status 2. Everything it creates is removed on
//! exit, on error and on Ctrl-C (SIGINT/SIGTERM are handled on a dedicated thread).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use astha_tests::harness::client::now_unix;
use astha_tests::harness::{require_root, Fault, Host, Pair, PairOptions, Side, Teardown};
use clap::{Parser, ValueEnum};
use nix::sys::signal::{SigSet, Signal};

/// The failure to demonstrate.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum DemoFault {
    /// Asterisk on the active server crashes.
    Crash,
    /// Asterisk hangs (process alive, nothing answered).
    Hang,
    /// The core deadlocks while AMI still answers Ping.
    Deadlock,
    /// Every test call fails (takes ~25 s to judge with the defaults).
    CallPath,
    /// The active server loses its network (both cables pulled).
    Network,
}

impl DemoFault {
    fn fault(self) -> Fault {
        match self {
            DemoFault::Crash => Fault::AsteriskCrash,
            DemoFault::Hang => Fault::AsteriskHang,
            DemoFault::Deadlock => Fault::CoreDeadlock,
            DemoFault::CallPath => Fault::CallPathBroken,
            DemoFault::Network => Fault::NetworkLoss,
        }
    }
}

/// Build a two-server astha pair in network namespaces on this machine and watch it fail over.
#[derive(Debug, Parser)]
#[command(name = "astha-demo", version)]
struct Args {
    /// The failure injected into the active server.
    #[arg(long, value_enum, default_value = "crash")]
    fault: DemoFault,
    /// After the takeover, keep the pair running and show live status until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
}

const NEEDS_ROOT: &str = "\
astha demo builds a sandbox pair on this machine and needs root for that:
  * four network namespaces (server A, server B, a client, a switch with two bridges),
    veth cables, and a floating IP that moves with gratuitous ARP;
  * in each server namespace an emulated Asterisk (fake-asterisk) and an `astha run` daemon;
  * a berofos relay simulator on the LAN, and a client sending SIP OPTIONS and pings.
Nothing outside the namespaces is touched, and everything is removed on exit or Ctrl-C.
Tools used: ip (iproute2), ping (iputils-ping), arping (iputils-arping); see scripts/setup.sh.
Run it as root, e.g.:  sudo scripts/demo.sh   (or: sudo astha demo)";

fn main() -> ExitCode {
    let args = Args::parse();
    if require_root().is_err() {
        eprintln!("{NEEDS_ROOT}");
        return ExitCode::from(2);
    }
    // Block SIGINT/SIGTERM in every thread (spawned threads inherit the mask); one thread
    // waits for them and tears the sandbox down.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    if let Err(e) = signals.thread_block() {
        eprintln!("astha-demo: cannot block signals: {e}");
        return ExitCode::FAILURE;
    }
    let teardown: std::sync::Arc<std::sync::Mutex<Option<(Teardown, PathBuf)>>> =
        Default::default();
    {
        let teardown = std::sync::Arc::clone(&teardown);
        std::thread::spawn(move || {
            if let Ok(signal) = signals.wait() {
                eprintln!("\n{signal}: removing the sandbox ...");
                if let Some((t, dir)) = teardown.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    t.run();
                    let _ = std::fs::remove_dir_all(dir);
                }
                std::process::exit(130);
            }
        });
    }
    match run(&args, &teardown) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("astha-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

type AnyError = Box<dyn std::error::Error>;

fn run(
    args: &Args,
    teardown: &std::sync::Mutex<Option<(Teardown, PathBuf)>>,
) -> Result<(), AnyError> {
    let started = Instant::now();
    let stamp = || format!("[{:6.2}s]", started.elapsed().as_secs_f64());
    println!("{} building the sandbox: namespaces, bridges, relay, two emulated Asterisks, two astha daemons, client", stamp());
    let pair = Pair::start(PairOptions::default())?;
    *teardown.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((pair.topology().teardown(), pair.dir().to_path_buf()));
    let topo = pair.topology();
    println!(
        "{} namespaces {} / {} / {} / {}; configs and logs in {}",
        stamp(),
        topo.name(Host::A),
        topo.name(Host::B),
        topo.name(Host::Client),
        topo.name(Host::Switch),
        pair.dir().display()
    );
    println!(
        "{} waiting for one server to become active (and its hold-down to pass) ...",
        stamp()
    );
    let active = pair.wait_steady(Duration::from_secs(60))?;
    let standby = active.other();
    show_status(&pair, &stamp());
    for _ in 0..4 {
        // Live status for two seconds before the failure.
        std::thread::sleep(Duration::from_millis(500));
        show_status(&pair, &stamp());
    }

    let fault = args.fault.fault();
    println!(
        "\n{} injecting `{}` into server {} (the active one)",
        stamp(),
        fault.name(),
        letter(active)
    );
    let at = pair.inject(active, fault)?;
    let takeover = pair.measure_takeover(standby, at, Duration::from_secs(90))?;
    let view = pair.status(standby)?;
    println!("\ntakeover timeline (ms after the fault):");
    println!(
        "  {:>7.0}  fault injected into server {}",
        0.0,
        letter(active)
    );
    println!(
        "  {:>7.0}  server {} starts taking over: {}",
        takeover.detection_s * 1000.0,
        letter(standby),
        takeover.reason
    );
    let mut offset = takeover.detection_s * 1000.0;
    if let Some(steps) = view
        .raw
        .pointer("/last_takeover/steps")
        .and_then(|s| s.as_array())
    {
        for step in steps {
            let name = step.get("step").and_then(|v| v.as_str()).unwrap_or("?");
            let ms = step.get("ms").and_then(|v| v.as_f64()).unwrap_or(0.0);
            let outcome = step.get("outcome").and_then(|v| v.as_str()).unwrap_or("?");
            offset += ms;
            println!("  {offset:>7.0}  step {name} {outcome} ({ms:.1} ms)");
        }
    }
    println!(
        "  {:>7.0}  server {} active",
        takeover.takeover_s * 1000.0,
        letter(standby)
    );
    println!(
        "\nthe client (SIP OPTIONS every 20 ms, ping every 10 ms to the floating IP) saw:\n  SIP outage {:.0} ms, ping outage {:.0} ms",
        takeover.outage.sip_s * 1000.0,
        takeover.outage.ping_s * 1000.0
    );
    let split = pair.split_brain();
    println!(
        "  split brain: {} of {} samples",
        split.len(),
        pair.samples().len()
    );
    show_status(&pair, &stamp());
    if args.keep_running {
        println!("\nkeeping the pair running; Ctrl-C removes it");
        loop {
            std::thread::sleep(Duration::from_secs(1));
            show_status(&pair, &stamp());
        }
    }
    println!("\n{} removing the sandbox", stamp());
    drop(pair);
    teardown.lock().unwrap_or_else(|p| p.into_inner()).take();
    Ok(())
}

fn letter(side: Side) -> &'static str {
    match side {
        Side::A => "A",
        Side::B => "B",
    }
}

fn show_status(pair: &Pair, stamp: &str) {
    let node = |side: Side| match pair.status(side) {
        Ok(v) => format!(
            "{}: {:<11} term {:<2} local {:<8} IP {}",
            letter(side),
            v.role,
            v.term,
            v.verdict("local").unwrap_or("?"),
            if pair
                .topology()
                .holds_floating_ip(side.host())
                .unwrap_or(false)
            {
                "yes"
            } else {
                "no "
            }
        ),
        Err(_) => format!("{}: (not answering)", letter(side)),
    };
    let client = pair.client().map_or(String::new(), |c| {
        let fresh = c.last_sip_answer().is_some_and(|t| now_unix() - t < 0.2);
        format!(
            "client SIP {}",
            if fresh { "answered" } else { "NO ANSWER" }
        )
    });
    println!("{stamp} {} | {} | {client}", node(Side::A), node(Side::B));
}
