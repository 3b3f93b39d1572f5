//! The tokio monitor driver on paused time with a scripted backend: verdicts, timeouts, signals, status and event stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use astha::config::ProbesConfig;
use astha::probe::{
    spawn_monitor, MonitorEvent, MonitorHandle, ProbeBackend, ProbeError, ProbeFuture, ProbeKind,
    TargetSignal,
};
use astha::verdict::Verdict;
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Ok(Duration),
    Fail,
    Hang,
}

#[derive(Default)]
struct Scripted {
    behaviour: Mutex<HashMap<ProbeKind, Behaviour>>,
}

impl Scripted {
    fn set(&self, kind: ProbeKind, b: Behaviour) {
        if let Ok(mut m) = self.behaviour.lock() {
            m.insert(kind, b);
        }
    }
}

impl ProbeBackend for Scripted {
    fn run(&self, kind: ProbeKind) -> ProbeFuture {
        let b = self
            .behaviour
            .lock()
            .ok()
            .and_then(|m| m.get(&kind).copied())
            .unwrap_or(Behaviour::Ok(Duration::from_millis(3)));
        Box::pin(async move {
            match b {
                Behaviour::Ok(latency) => {
                    tokio::time::sleep(latency).await;
                    Ok(())
                }
                Behaviour::Fail => Err(ProbeError::Refused("scripted".into())),
                Behaviour::Hang => std::future::pending().await,
            }
        })
    }
}

const KINDS: [ProbeKind; 3] = [ProbeKind::Ping, ProbeKind::Core, ProbeKind::Call];

fn start(backend: &Arc<Scripted>) -> (MonitorHandle, mpsc::UnboundedSender<TargetSignal>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = spawn_monitor(
        "test",
        &ProbesConfig::default(),
        &KINDS,
        backend.clone(),
        rx,
    );
    (handle, tx)
}

async fn wait_verdict(handle: &MonitorHandle, verdict: Verdict, within: Duration) -> Duration {
    let started = Instant::now();
    let mut status = handle.status();
    tokio::time::timeout(within, status.wait_for(|s| s.verdict == verdict))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no {verdict} within {within:?}; status: {:?}",
                handle.status().borrow()
            )
        })
        .unwrap_or_else(|e| panic!("monitor stopped: {e}"));
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn healthy_then_ping_hang_fails_within_deadline() {
    let backend = Arc::new(Scripted::default());
    let (handle, _signals) = start(&backend);
    wait_verdict(&handle, Verdict::Healthy, Duration::from_secs(5)).await;
    let mut events = handle.events();
    backend.set(ProbeKind::Ping, Behaviour::Hang);
    let took = wait_verdict(&handle, Verdict::Failed, Duration::from_secs(10)).await;
    println!(
        "ping hang -> failed after {} ms (paused time)",
        took.as_millis()
    );
    assert!(took <= Duration::from_millis(1500), "took {took:?}");
    // The change is streamed with its evidence.
    let change = loop {
        match events.recv().await {
            Ok(MonitorEvent::Verdict(c)) => break c,
            Ok(_) => {}
            Err(e) => panic!("event stream: {e}"),
        }
    };
    assert_eq!(change.to, Verdict::Failed);
    assert_eq!(change.evidence.probe, Some(ProbeKind::Ping));
    assert!(
        matches!(change.evidence.error, Some(ProbeError::Timeout(_))),
        "{:?}",
        change.evidence
    );
    let status = handle.status().borrow().clone();
    let ping = status
        .probes
        .iter()
        .find(|p| p.kind == ProbeKind::Ping)
        .cloned();
    assert!(ping
        .as_ref()
        .is_some_and(|p| p.ok == Some(false) && p.failures >= 1));
    assert_eq!(
        ping.map(|p| p.state),
        Some(astha::health::ProbeState::Down),
        "down after hysteresis"
    );
    let why = status
        .last_change
        .as_ref()
        .map(|c| format!("{} -> {}: {}", c.from, c.to, c.evidence));
    assert!(
        why.as_deref()
            .is_some_and(|c| c.contains("healthy -> failed") && c.contains("probe=ping")),
        "{why:?}"
    );
    // The status document (`astha status`) built from it.
    let report = status.to_report("local", "logged in", std::time::Instant::now());
    assert_eq!(report.verdict, "failed");
    let json = serde_json::to_value(&report).unwrap_or_default();
    assert_eq!(json["probes"][0]["kind"], "ping");
    assert_eq!(json["probes"][0]["ok"], false);
    // Recovers after the configured successes.
    backend.set(ProbeKind::Ping, Behaviour::Ok(Duration::from_millis(2)));
    wait_verdict(&handle, Verdict::Healthy, Duration::from_secs(10)).await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_call_degrades_then_is_confirmed_at_once_by_a_second_call() {
    let backend = Arc::new(Scripted::default());
    let (handle, _signals) = start(&backend);
    wait_verdict(&handle, Verdict::Healthy, Duration::from_secs(5)).await;
    let mut events = handle.events();
    backend.set(ProbeKind::Call, Behaviour::Fail);
    let mut changes = Vec::new();
    let mut call_failures = 0;
    tokio::time::timeout(Duration::from_secs(11), async {
        while changes.last().map(|c: &(Verdict, std::time::Instant)| c.0) != Some(Verdict::Failed) {
            match events.recv().await {
                Ok(MonitorEvent::Verdict(c)) => changes.push((c.to, c.at)),
                Ok(MonitorEvent::Outcome(o)) if o.kind == ProbeKind::Call && !o.ok() => {
                    call_failures += 1
                }
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never failed: {changes:?}"));
    let verdicts: Vec<Verdict> = changes.iter().map(|(v, _)| *v).collect();
    assert_eq!(verdicts, [Verdict::Degraded, Verdict::Failed]);
    assert_eq!(call_failures, 2, "one miss, one confirmation");
    // The confirming call starts at once, not one 10 s period later.
    let confirmed_after = changes[1].1 - changes[0].1;
    assert!(
        confirmed_after < Duration::from_secs(1),
        "confirmed {confirmed_after:?} after the first miss"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_fails_at_once_and_fully_booted_recovers() {
    let backend = Arc::new(Scripted::default());
    let (handle, signals) = start(&backend);
    wait_verdict(&handle, Verdict::Healthy, Duration::from_secs(5)).await;
    let _ = signals.send(TargetSignal::Shutdown { restart: true });
    let took = wait_verdict(&handle, Verdict::Failed, Duration::from_secs(1)).await;
    assert!(took < Duration::from_millis(10), "{took:?}");
    let _ = signals.send(TargetSignal::AmiDisconnected("EOF".into()));
    let _ = signals.send(TargetSignal::AmiConnected);
    let _ = signals.send(TargetSignal::FullyBooted);
    let took = wait_verdict(&handle, Verdict::Healthy, Duration::from_secs(30)).await;
    println!(
        "recovered {} ms after FullyBooted (paused time)",
        took.as_millis()
    );
}

#[tokio::test(start_paused = true)]
async fn disconnect_fails_liveness_immediately() {
    let backend = Arc::new(Scripted::default());
    let (handle, signals) = start(&backend);
    wait_verdict(&handle, Verdict::Healthy, Duration::from_secs(5)).await;
    backend.set(ProbeKind::Ping, Behaviour::Fail);
    let _ = signals.send(TargetSignal::AmiDisconnected("connection reset".into()));
    let took = wait_verdict(&handle, Verdict::Failed, Duration::from_secs(1)).await;
    assert!(took < Duration::from_millis(10), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn probe_now_runs_a_probe_before_its_cadence() {
    let backend = Arc::new(Scripted::default());
    let (handle, _signals) = start(&backend);
    wait_verdict(&handle, Verdict::Healthy, Duration::from_secs(5)).await;
    // Let the first call finish, then break the call path: without a request the next call
    // would only run at t = 10 s.
    tokio::time::sleep(Duration::from_secs(1)).await;
    backend.set(ProbeKind::Call, Behaviour::Fail);
    let mut events = handle.events();
    let asked = Instant::now();
    handle.probe_now(ProbeKind::Call);
    let outcome = loop {
        match events.recv().await {
            Ok(MonitorEvent::Outcome(o)) if o.kind == ProbeKind::Call => break o,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert!(!outcome.ok());
    assert!(
        asked.elapsed() < Duration::from_millis(100),
        "ran {:?} after the request",
        asked.elapsed()
    );
}
