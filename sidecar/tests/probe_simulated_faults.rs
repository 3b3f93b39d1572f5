//! Every fault mode against the sans-IO monitor on simulated time, with default settings: verdict reached and how long it took.
//!
//! Simulated time is deterministic, so the design targets (crash <= 1 s, hang <= 1.25 s, core
//! deadlock <= 4 s, call path <= 25 s) are checked here as properties of the defaults; the
//! wall-clock numbers against the emulator live in examples/probe_timings.rs.

use std::time::Duration;

use astha::config::ProbesConfig;
use astha::probe::monitor_sim::{detection_times, simulate, Fault, FaultModel};
use astha::probe::ProbeKind;
use astha::verdict::Verdict;

const ALL: [ProbeKind; 6] = ProbeKind::ALL;

fn worst_case(fault: Fault) -> Duration {
    let probes = ProbesConfig::default();
    // Sweep the fault start over a whole call-probe cycle (the longest cadence that matters).
    let times = detection_times(&probes, &ALL, fault, Duration::from_secs(10), 100);
    assert!(
        times.all_detected,
        "{}: not every simulated run reached `failed`",
        fault.name()
    );
    let worst = times.worst.unwrap_or(Duration::MAX);
    println!(
        "{:<18} worst {:>6} ms  mean {:>6} ms (simulated, defaults, 100 fault phases)",
        fault.name(),
        worst.as_millis(),
        times.mean.unwrap_or_default().as_millis()
    );
    worst
}

#[test]
fn crash_is_failed_at_once() {
    assert!(worst_case(Fault::Crash) <= Duration::from_secs(1));
}

#[test]
fn hang_is_failed_within_one_and_a_quarter_seconds() {
    // One second of silence after the last answer, pings every 250 ms.
    assert!(worst_case(Fault::Hang) <= Duration::from_millis(1250));
}

#[test]
fn core_deadlock_is_failed_within_four_seconds() {
    // Two misses in a row, the second run started at once.
    assert!(worst_case(Fault::CoreDeadlock) <= Duration::from_secs(4));
}

#[test]
fn broken_call_path_is_failed_within_two_call_periods() {
    assert!(worst_case(Fault::OriginateFail) <= Duration::from_secs(25));
    assert!(worst_case(Fault::CallHang) <= Duration::from_secs(25));
}

#[test]
fn sip_down_is_failed() {
    // Two 5 s periods plus the 2 s timeout.
    assert!(worst_case(Fault::SipDown) <= Duration::from_secs(12));
}

#[test]
fn restart_fails_at_shutdown_and_recovers_after_fully_booted() {
    let probes = ProbesConfig::default();
    let fault_at = Duration::from_secs(30);
    let down_for = Duration::from_secs(8);
    let mut model = FaultModel::new(Fault::Restart { down_for }, fault_at, &probes);
    let report = simulate(&probes, &ALL, &mut model, Duration::from_secs(90));
    let failed = report
        .first(Verdict::Failed, fault_at)
        .unwrap_or_else(|| panic!("never failed: {:?}", report.changes));
    assert_eq!(failed, fault_at, "Shutdown must fail the target at once");
    let shutdown_evidence = &report
        .changes
        .iter()
        .find(|(t, _)| *t == failed)
        .map(|(_, c)| c.evidence.clone());
    assert!(
        format!("{shutdown_evidence:?}").contains("Shutdown"),
        "{shutdown_evidence:?}"
    );
    let booted = fault_at + down_for;
    let healthy = report
        .first(Verdict::Healthy, booted)
        .unwrap_or_else(|| panic!("never recovered: {:?}", report.changes));
    println!(
        "restart: failed after 0 ms, healthy again {} ms after FullyBooted",
        (healthy - booted).as_millis()
    );
    // Nothing healthy while Asterisk was down.
    assert!(report
        .changes
        .iter()
        .all(|(t, c)| !(*t > fault_at && *t < booted && c.to == Verdict::Healthy)));
    assert_eq!(report.final_verdict(), Verdict::Healthy);
}

#[test]
fn span_alarm_degrades_but_does_not_fail_by_default() {
    let probes = ProbesConfig::default();
    let fault_at = Duration::from_secs(30);
    let mut model = FaultModel::new(Fault::SpanAlarm, fault_at, &probes);
    let report = simulate(&probes, &ALL, &mut model, Duration::from_secs(120));
    assert!(!report.ever(Verdict::Failed), "{:?}", report.changes);
    assert_eq!(report.final_verdict(), Verdict::Degraded);
    let degraded = report
        .first(Verdict::Degraded, fault_at)
        .unwrap_or(Duration::MAX);
    println!(
        "span alarm: degraded after {} ms (poll)",
        (degraded - fault_at).as_millis()
    );
}

#[test]
fn slow_but_healthy_target_is_never_failed_in_ten_simulated_minutes() {
    let probes = ProbesConfig::default();
    for percent in [50, 90, 99] {
        let mut model = FaultModel::new(
            Fault::Slow {
                fraction_percent: percent,
            },
            Duration::ZERO,
            &probes,
        );
        let report = simulate(&probes, &ALL, &mut model, Duration::from_secs(600));
        assert!(
            !report.ever(Verdict::Failed),
            "{percent}%: {:?}",
            report.changes
        );
        assert!(
            !report.ever(Verdict::Degraded),
            "{percent}%: {:?}",
            report.changes
        );
        assert_eq!(report.final_verdict(), Verdict::Healthy);
    }
}

#[test]
fn probe_load_stays_within_budget() {
    let probes = ProbesConfig::default();
    let minutes = 10;
    let mut model = FaultModel::new(
        Fault::Slow {
            fraction_percent: 10,
        },
        Duration::ZERO,
        &probes,
    );
    let report = simulate(&probes, &ALL, &mut model, Duration::from_secs(60 * minutes));
    let seconds = (60 * minutes) as f64;
    let ami_actions: u32 = ALL
        .iter()
        .filter(|k| k.uses_ami())
        .map(|k| report.runs_of(*k))
        .sum();
    let calls = report.runs_of(ProbeKind::Call);
    // The first run of each probe happens at t=0, so N runs span N-1 intervals.
    let call_period = seconds / (calls.max(2) - 1) as f64;
    println!(
        "load: {:.2} AMI actions/s, one test call per {call_period:.1} s",
        ami_actions as f64 / seconds
    );
    assert!(
        ami_actions as f64 / seconds <= astha::config::AMI_BUDGET_PER_SECOND,
        "{ami_actions} AMI actions in {seconds} s"
    );
    assert!(
        calls as f64 <= seconds / 10.0 + 1.0,
        "{calls} calls in {seconds} s"
    );
}
