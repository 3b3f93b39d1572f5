//! Measures fault-to-`failed` times with the default probe settings (simulated and against the emulator), a busy-but-healthy soak, and the probes' load.
//!
//! ```text
//! cargo run -p astha --example probe_timings -- [--reps N] [--soak-secs S] [--skip-emulator]
//! ```
//! Defaults: 3 repetitions per fault, a 600 s soak. Prints Markdown tables for BENCHMARKS.md.

// The same helpers as the emulator tests (target description of an emulated Asterisk).
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use astha::config::ProbesConfig;
use astha::probe::monitor_sim::{detection_times, Fault as SimFault};
use astha::probe::{MonitorEvent, ProbeKind, TargetMonitor};
use astha::verdict::Verdict;
use astha_tests::fake_asterisk::{FakeAsterisk, FakeConfig, Fault};
use common::target_of;

struct Args {
    reps: u32,
    soak: Duration,
    emulator: bool,
}

fn args() -> Args {
    let mut a = Args {
        reps: 3,
        soak: Duration::from_secs(600),
        emulator: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--reps" => a.reps = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.reps),
            "--soak-secs" => {
                a.soak = Duration::from_secs(it.next().and_then(|v| v.parse().ok()).unwrap_or(600))
            }
            "--skip-emulator" => a.emulator = false,
            other => eprintln!("ignoring unknown argument {other}"),
        }
    }
    a
}

fn main() {
    let args = args();
    simulated();
    if !args.emulator {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        eprintln!("cannot start tokio");
        return;
    };
    runtime.block_on(emulated(args.reps));
    runtime.block_on(soak(args.soak));
}

fn simulated() {
    let probes = ProbesConfig::default();
    println!(
        "## Simulated time, default settings (fault start swept over 100 phases of a 10 s cycle)\n"
    );
    println!("| fault | worst | mean | target |\n|---|---|---|---|");
    for (fault, target) in [
        (SimFault::Crash, "≤ 1 s"),
        (SimFault::Hang, "≤ 1.5 s"),
        (SimFault::CoreDeadlock, "≤ 3 s"),
        (SimFault::OriginateFail, "≤ 25 s"),
        (SimFault::CallHang, "≤ 25 s"),
        (SimFault::SipDown, "-"),
    ] {
        let t = detection_times(
            &probes,
            &ProbeKind::ALL,
            fault,
            Duration::from_secs(10),
            100,
        );
        let ms = |d: Option<Duration>| {
            d.map(|d| format!("{} ms", d.as_millis()))
                .unwrap_or_else(|| "never".into())
        };
        println!(
            "| {} | {} | {} | {target} |",
            fault.name(),
            ms(t.worst),
            ms(t.mean)
        );
    }
    println!();
}

async fn wait_verdict(
    monitor: &TargetMonitor,
    verdict: Verdict,
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut status = monitor.handle().status();
    let reached = tokio::time::timeout(within, status.wait_for(|s| s.verdict == verdict))
        .await
        .is_ok_and(|r| r.is_ok());
    reached.then(|| started.elapsed())
}

async fn emulated(reps: u32) {
    println!("## Wall clock against the emulator, default settings ({reps} runs each, the fault injected at spread phases of the probe cycles)\n");
    println!("| fault | min | median | max |\n|---|---|---|---|");
    for (name, fault) in [
        ("crash", Fault::Crash),
        ("hang", Fault::Hang),
        ("core deadlock", Fault::CoreDeadlock),
        ("originate failure", Fault::OriginateFail),
        ("SIP down", Fault::SipDown),
    ] {
        let mut times = Vec::new();
        for rep in 0..reps {
            let Ok(asterisk) = FakeAsterisk::start(FakeConfig::instance_a()).await else {
                eprintln!("emulator did not start");
                return;
            };
            let monitor =
                TargetMonitor::start("bench", &target_of(&asterisk), &ProbesConfig::default());
            if wait_verdict(&monitor, Verdict::Healthy, Duration::from_secs(30))
                .await
                .is_none()
            {
                eprintln!("{name}: never healthy");
                continue;
            }
            // Vary the phase of the fault against the probe cadences (deterministic spread).
            tokio::time::sleep(Duration::from_millis(
                1_000 + 3_700 * u64::from(rep) % 10_000,
            ))
            .await;
            let started = Instant::now();
            asterisk.set_fault(fault).await;
            match wait_verdict(&monitor, Verdict::Failed, Duration::from_secs(60)).await {
                Some(_) => times.push(started.elapsed()),
                None => eprintln!("{name}: not failed within 60 s"),
            }
            drop(monitor);
            asterisk.stop().await;
        }
        times.sort();
        let ms = |d: Option<&Duration>| {
            d.map(|d| format!("{} ms", d.as_millis()))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "| {name} | {} | {} | {} |",
            ms(times.first()),
            ms(times.get(times.len() / 2)),
            ms(times.last())
        );
    }
    println!();
}

/// A busy but healthy Asterisk (answers slowed by 150 ms, a stream of other calls) for `duration`:
/// counts false `failed` verdicts and the probes' load.
async fn soak(duration: Duration) {
    let Ok(asterisk) = FakeAsterisk::start(FakeConfig::instance_a()).await else {
        return;
    };
    let monitor = TargetMonitor::start("soak", &target_of(&asterisk), &ProbesConfig::default());
    let mut events = monitor.handle().events();
    if wait_verdict(&monitor, Verdict::Healthy, Duration::from_secs(30))
        .await
        .is_none()
    {
        eprintln!("soak: never healthy");
        return;
    }
    asterisk
        .set_fault(Fault::Slow(Duration::from_millis(150)))
        .await;
    let flood = tokio::spawn(call_flood(asterisk.ami_addr(), duration));
    let started = Instant::now();
    let (mut failed, mut degraded, mut ami_actions, mut calls, mut outcomes) =
        (0u32, 0u32, 0u64, 0u64, 0u64);
    while started.elapsed() < duration {
        match tokio::time::timeout(duration.saturating_sub(started.elapsed()), events.recv()).await
        {
            Ok(Ok(MonitorEvent::Verdict(c))) => {
                eprintln!(
                    "soak: {} -> {} at {:?}: {}",
                    c.from,
                    c.to,
                    started.elapsed(),
                    c.evidence
                );
                match c.to {
                    Verdict::Failed => failed += 1,
                    Verdict::Degraded => degraded += 1,
                    _ => {}
                }
            }
            Ok(Ok(MonitorEvent::Outcome(o))) => {
                outcomes += 1;
                if o.kind.uses_ami() {
                    ami_actions += 1;
                }
                if o.kind == ProbeKind::Call {
                    calls += 1;
                }
            }
            Ok(Err(_)) | Err(_) => {}
        }
    }
    let flood_calls = flood.await.unwrap_or(0);
    let secs = started.elapsed().as_secs_f64();
    println!("## Soak: busy but healthy emulator, default settings, {secs:.0} s\n");
    println!("| false `failed` | `degraded` episodes | probe outcomes | AMI actions/s | test calls per 10 s | other calls placed |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {failed} | {degraded} | {outcomes} | {:.2} | {:.2} | {flood_calls} |\n",
        ami_actions as f64 / secs,
        calls as f64 * 10.0 / secs
    );
    drop(monitor);
    asterisk.stop().await;
}

async fn call_flood(addr: std::net::SocketAddr, duration: Duration) -> u32 {
    let client =
        ami_client::Client::connect(ami_client::ClientConfig::new(addr, "hasidecar", "hasecret"));
    if client.wait_logged_in(Duration::from_secs(5)).await.is_err() {
        return 0;
    }
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < duration {
        for _ in 0..10 {
            let action = ami_client::Action::new("Originate")
                .header("Channel", "Local/probe@ha-probe")
                .header("Application", "Echo")
                .header("Async", "true");
            if client.send(action).await.is_ok() {
                sent += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    client.close().await;
    sent
}
