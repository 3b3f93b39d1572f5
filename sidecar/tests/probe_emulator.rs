//! Every emulator fault mode against the real probe stack (ami-client, SIP, ARI, monitor): the verdict reached, and the wall-clock time it took (printed).
//!
//! Assertions are on verdicts, with generous waits; the timing targets are measured by
//! `examples/probe_timings.rs` and recorded in BENCHMARKS.md.

mod common;

use std::time::{Duration, Instant};

use astha::config::ProbesConfig;
use astha::probe::{MonitorEvent, ProbeError, ProbeKind, TargetMonitor};
use astha::verdict::Verdict;
use astha_tests::fake_asterisk::{Fault, SpanConfig};
use common::*;

const SETTLE: Duration = Duration::from_secs(20);

async fn healthy_monitor(
    config: astha_tests::fake_asterisk::FakeConfig,
    probes: &ProbesConfig,
) -> (astha_tests::fake_asterisk::FakeAsterisk, TargetMonitor) {
    let asterisk = emulator(config).await;
    let monitor = TargetMonitor::start("emulated", &target_of(&asterisk), probes);
    wait_for(&monitor, Verdict::Healthy, SETTLE).await;
    (asterisk, monitor)
}

/// Injects `fault` into a healthy target and waits for `failed`; prints the time and evidence.
async fn fault_to_failed(fault: Fault, probes: ProbesConfig, expect_probe: &[ProbeKind]) {
    let (asterisk, monitor) = healthy_monitor(fast_config(), &probes).await;
    let mut events = monitor.handle().events();
    let started = Instant::now();
    asterisk.set_fault(fault).await;
    let change = next_change_to(&mut events, Verdict::Failed, Duration::from_secs(30)).await;
    let took = started.elapsed();
    println!(
        "{fault:?}: failed after {} ms; evidence: {}",
        took.as_millis(),
        change.evidence
    );
    assert!(
        change
            .evidence
            .probe
            .is_some_and(|p| expect_probe.contains(&p)),
        "{fault:?}: unexpected evidence {}",
        change.evidence
    );
    let report = monitor.report("local");
    assert_eq!(report.verdict, "failed");
    assert!(
        report
            .probes
            .iter()
            .any(|p| p.ok == Some(false) && p.error.is_some()),
        "{report:?}"
    );
    // And back: clearing the fault brings the target back to healthy.
    asterisk.clear_faults().await;
    let recovered = wait_for(&monitor, Verdict::Healthy, Duration::from_secs(30)).await;
    println!(
        "{fault:?}: healthy again {} ms after the fault cleared",
        recovered.as_millis()
    );
    asterisk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_is_failed() {
    fault_to_failed(Fault::Crash, ProbesConfig::default(), &[ProbeKind::Ping]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_is_failed() {
    // Ping (deadline 500 ms) or the core probe, whichever runs first after the hang.
    fault_to_failed(
        Fault::Hang,
        ProbesConfig::default(),
        &[ProbeKind::Ping, ProbeKind::Core, ProbeKind::Call],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_deadlock_is_failed() {
    // As on a real Asterisk, the AMI session blocks behind its stuck core action, so a Ping sent
    // on the same connection after it may be the first run to time out.
    let expected = [ProbeKind::Core, ProbeKind::Call, ProbeKind::Ping];
    fault_to_failed(Fault::CoreDeadlock, ProbesConfig::default(), &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originate_failure_is_failed_by_the_call_probe() {
    fault_to_failed(Fault::OriginateFail, scaled_probes(), &[ProbeKind::Call]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_down_is_failed_by_the_sip_probe() {
    fault_to_failed(Fault::SipDown, scaled_probes(), &[ProbeKind::Sip]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_fails_at_once_and_recovers() {
    let (asterisk, monitor) = healthy_monitor(fast_config(), &ProbesConfig::default()).await;
    let mut events = monitor.handle().events();
    let started = Instant::now();
    let restart = asterisk.restart(Duration::from_secs(1));
    let change = async {
        let change = next_change_to(&mut events, Verdict::Failed, Duration::from_secs(10)).await;
        (change, started.elapsed())
    };
    let ((), (change, took)) = tokio::join!(restart, change);
    println!(
        "restart: failed after {} ms; evidence: {}",
        took.as_millis(),
        change.evidence
    );
    assert!(
        matches!(
            change.evidence.error,
            Some(ProbeError::ShutDown { restart: true })
        ) || change.evidence.probe == Some(ProbeKind::Ping),
        "{}",
        change.evidence
    );
    let recovered = wait_for(&monitor, Verdict::Healthy, Duration::from_secs(30)).await;
    println!(
        "restart: healthy again {} ms after",
        (started.elapsed()).as_millis()
    );
    assert!(recovered > Duration::ZERO);
    asterisk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_new_connections_only_degrade_through_ari() {
    // Established AMI connection keeps working (as on a real host whose listen queue is gone);
    // ARI opens a connection per probe, so it is the one to notice.
    let (asterisk, monitor) = healthy_monitor(fast_config(), &scaled_probes()).await;
    let mut events = monitor.handle().events();
    asterisk.set_fault(Fault::Refuse).await;
    let change = next_change_to(&mut events, Verdict::Degraded, Duration::from_secs(10)).await;
    println!("refuse: degraded; evidence: {}", change.evidence);
    assert_eq!(change.evidence.probe, Some(ProbeKind::Ari));
    assert_ne!(monitor.handle().verdict(), Verdict::Failed);
    asterisk.clear_faults().await;
    wait_for(&monitor, Verdict::Healthy, Duration::from_secs(20)).await;
    asterisk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_alarm_degrades_and_clears() {
    let config = fast_config().with_span(SpanConfig::new(1, 1..=24));
    let (asterisk, monitor) = healthy_monitor(config, &scaled_probes()).await;
    let mut events = monitor.handle().events();
    asterisk
        .span_alarm(1, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let change = next_change_to(&mut events, Verdict::Degraded, Duration::from_secs(10)).await;
    println!("span alarm: degraded; evidence: {}", change.evidence);
    assert_eq!(change.evidence.probe, Some(ProbeKind::Spans));
    assert!(
        matches!(change.evidence.error, Some(ProbeError::Alarm(_))),
        "{}",
        change.evidence
    );
    asterisk
        .span_alarm(1, false)
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for(&monitor, Verdict::Healthy, Duration::from_secs(20)).await;
    asterisk.stop().await;
}

/// Slow answers below every deadline, plus a flood of call events from other calls: never failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_but_healthy_is_never_failed() {
    let (asterisk, monitor) = healthy_monitor(fast_config(), &scaled_probes()).await;
    let mut events = monitor.handle().events();
    asterisk
        .set_fault(Fault::Slow(Duration::from_millis(150)))
        .await;
    let flood = tokio::spawn(call_flood(asterisk.ami_addr(), Duration::from_secs(12)));
    let watch_for = Duration::from_secs(12);
    let started = Instant::now();
    let mut outcomes = 0u32;
    while started.elapsed() < watch_for {
        match tokio::time::timeout(watch_for.saturating_sub(started.elapsed()), events.recv()).await
        {
            Ok(Ok(MonitorEvent::Verdict(c))) => {
                assert_ne!(
                    c.to,
                    Verdict::Failed,
                    "busy target judged failed: {}",
                    c.evidence
                )
            }
            Ok(Ok(MonitorEvent::Outcome(_))) => outcomes += 1,
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => break,
        }
    }
    let originated = flood.await.unwrap_or(0);
    println!(
        "busy: {outcomes} probe outcomes, {originated} flood calls, verdict {}",
        monitor.handle().verdict()
    );
    assert!(outcomes > 10, "the probes kept running");
    assert!(originated > 0, "the flood ran");
    assert_ne!(monitor.handle().verdict(), Verdict::Failed);
    asterisk.stop().await;
}

/// Another AMI user places bursts of calls, so the sidecar's connection carries a stream of call events.
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
        // Pace the bursts (this is load generation, not waiting for a condition).
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.close().await;
    sent
}

/// At start the AMI connection is still being made: that must not read as a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_goes_from_unknown_to_healthy_without_a_failed_verdict() {
    let asterisk = emulator(fast_config()).await;
    let monitor = TargetMonitor::start("startup", &target_of(&asterisk), &ProbesConfig::default());
    let mut events = monitor.handle().events();
    let change = next_change_to(&mut events, Verdict::Healthy, Duration::from_secs(20));
    let change = change.await;
    assert_eq!(
        change.from,
        Verdict::Unknown,
        "went through {} first: {}",
        change.from,
        change.evidence
    );
    asterisk.stop().await;
}

/// A target that is down when the monitor starts is failed with the reason, not left unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_down_at_start_is_failed_with_the_reason() {
    let asterisk = emulator(fast_config()).await;
    let target = target_of(&asterisk);
    asterisk.set_fault(Fault::Crash).await;
    let monitor = TargetMonitor::start("down", &target, &ProbesConfig::default());
    wait_for(&monitor, Verdict::Failed, Duration::from_secs(10)).await;
    // Which probe kind reports first depends on scheduling; whichever AMI probe has run must
    // be failed with the reason, and no probe that ran may pass.
    let report = monitor.report("peer");
    assert!(
        report.ami_state.contains("Connection refused"),
        "{report:?}"
    );
    let ami_kinds = ["ping", "core", "call", "spans"];
    let failed_ami: Vec<_> = report
        .probes
        .iter()
        .filter(|p| ami_kinds.contains(&p.kind.as_str()) && p.ok == Some(false))
        .collect();
    assert!(
        !failed_ami.is_empty()
            && failed_ami.iter().all(|p| p
                .error
                .as_deref()
                .is_some_and(|e| e.contains("not connected"))),
        "{report:?}"
    );
    assert!(
        report.probes.iter().all(|p| p.ok != Some(true)),
        "{report:?}"
    );
    asterisk.stop().await;
}

/// An AMI user without write permission: Ping works, the core action and the call are refused,
/// and the error says why (a configuration problem an admin must see, not a silent failure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_ami_user_is_reported_as_permission_denied() {
    let asterisk = emulator(fast_config()).await;
    let mut target = target_of(&asterisk);
    target.ami.username = "readonly".into();
    target.ami.secret = astha::config::Secret::new("ro");
    let probes = ProbesConfig::default();
    let backend = astha::probe::TargetProbes::new("ro", &target, &probes);
    backend
        .wait_ready(Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("login: {e}"));
    let report = astha::probe::oneshot::run_once(
        &backend,
        &probes,
        &[ProbeKind::Ping, ProbeKind::Core, ProbeKind::Call],
    )
    .await;
    print!("{}", report.table());
    assert_eq!(report.verdict_value, Verdict::Failed);
    let by_kind = |k: &str| report.probes.iter().find(|p| p.kind == k).cloned();
    assert!(by_kind("ping").is_some_and(|p| p.ok));
    let core = by_kind("core");
    assert!(
        core.as_ref().is_some_and(|p| !p.ok
            && p.error
                .as_deref()
                .is_some_and(|e| e.contains("Permission denied"))),
        "core: {core:?}"
    );
    // The failed core probe decided the verdict: the one-shot check does not wait for the call.
    let call = by_kind("call");
    assert!(
        call.as_ref()
            .is_some_and(|p| !p.ok && p.error.as_deref() == Some(astha::probe::oneshot::NOT_RUN)),
        "call: {call:?}"
    );
    backend.ami().client().close().await;
    asterisk.stop().await;
}
