//! Benchmark (root, network namespaces): warm-standby takeover latency and the client-visible gap of a planned move.
//!
//! Two "servers" and a client share a bridge in namespaces created here. A relay simulator
//! runs on a pty. Each run:
//! - failover: A's floating IP vanishes (A died); at t0 B decides and runs its takeover
//!   (relay → IP + GARP → warm Asterisk check → probe). Reported: the sequence's own time,
//!   and t0 → the first ping reply the client gets from the VIP (now on B).
//! - planned move: A releases, then B takes over, while the client pings the VIP every 2 ms.
//!   Reported: the longest gap between two ping replies.
//!
//! Run: `cargo run -p astha --release --example takeover_bench [-- RUNS]` as root.

#[path = "../tests/actuate_support/mod.rs"]
mod actuate_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actuate_support::{netns_unavailable, Lan, VIP, VIP_CIDR};
use astha::actuate::asterisk::BoxFuture;
use astha::actuate::config::{
    AsteriskServiceConfig, FloatingIpConfig, NumatoConfig, SequenceConfig, StandbyMode,
};
use astha::actuate::relay::{NumatoRelay, RelayHandle};
use astha::actuate::{
    Actuators, AsteriskReadiness, AsteriskService, FloatingIp, ReadinessError, SequenceOutcome,
    SequenceRunner,
};
use astha::side::Side;
use astha_tests::relay_sim::{NumatoProtocol, PtyRelaySim};

/// Warm standby: Asterisk already runs and is booted; the probe answers at once.
struct Ready;
impl AsteriskReadiness for Ready {
    fn wait_fully_booted(
        &self,
        _deadline: tokio::time::Instant,
    ) -> BoxFuture<'_, Result<(), ReadinessError>> {
        Box::pin(async { Ok(()) })
    }
    fn call_path_probe(&self) -> BoxFuture<'_, Result<Duration, ReadinessError>> {
        Box::pin(async { Ok(Duration::ZERO) })
    }
}

/// `ping -D` from the client, its reply timestamps collected as they arrive.
struct Pinger {
    child: Child,
    replies: Arc<Mutex<Vec<f64>>>,
}

impl Pinger {
    fn start(lan: &Lan) -> Pinger {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lan.client,
                "ping",
                "-D",
                "-n",
                "-i",
                "0.002",
                "-W",
                "0.5",
                VIP,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start ping");
        let replies = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("ping stdout");
        let sink = Arc::clone(&replies);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(ts) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
                    if line.contains("bytes from") {
                        if let Ok(ts) = ts.parse::<f64>() {
                            sink.lock().unwrap().push(ts);
                        }
                    }
                }
            }
        });
        Pinger { child, replies }
    }

    fn replies_after(&self, t: f64) -> Vec<f64> {
        self.replies
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|&r| r > t)
            .collect()
    }

    fn wait_reply_after(&self, t: f64, limit: Duration) -> Option<f64> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(first) = self.replies_after(t).first() {
                return Some(*first);
            }
            std::thread::park_timeout(Duration::from_millis(1));
        }
        None
    }

    fn all(&self) -> Vec<f64> {
        self.replies.lock().unwrap().clone()
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn stats(label: &str, values: &mut [f64]) -> String {
    values.sort_by(|a, b| a.total_cmp(b));
    let median = values[values.len() / 2];
    let max = values[values.len() - 1];
    let min = values[0];
    format!(
        "| {label} | {} | {min:.1} | {median:.1} | {max:.1} |",
        values.len()
    )
}

async fn open_ip(ns: &str) -> FloatingIp {
    let cfg = FloatingIpConfig {
        interface: "eth0".into(),
        addresses: vec![VIP_CIDR.parse().expect("VIP")],
        garp_count: 3,
        garp_interval_ms: 5,
        garp_repeat_after_ms: 2000,
    };
    FloatingIp::open_in_netns(cfg, &Lan::netns_path(ns))
        .await
        .expect("floating IP")
}

fn warm_asterisk() -> AsteriskService {
    AsteriskService::new(AsteriskServiceConfig {
        mode: StandbyMode::Warm,
        start_command: vec!["true".into()],
        stop_command: vec!["true".into()],
        status_command: vec!["true".into()],
        cold_start_check: vec!["true".into()],
        command_timeout_ms: 2000,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Some(why) = netns_unavailable() {
        eprintln!("takeover_bench: cannot run: {why}");
        std::process::exit(2);
    }
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7)
        .max(5);
    let lan = Lan::new("bench");
    let sim = PtyRelaySim::start(NumatoProtocol::default()).expect("relay simulator");
    let relay = RelayHandle::new(Box::new(
        NumatoRelay::new(NumatoConfig {
            path: sim.path().to_path_buf(),
            baud: 19200,
            timeout_ms: 300,
            channels: vec![0],
            energized_side: Side::B,
            verify: true,
        })
        .expect("relay"),
    ));
    let ip_a = open_ip(&lan.a).await;
    let ip_b = open_ip(&lan.b).await;
    let runner_a = SequenceRunner::new(
        Side::A,
        Actuators {
            floating_ip: Some(ip_a.clone()),
            asterisk: Some(warm_asterisk()),
            readiness: Some(Arc::new(Ready)),
            ..Actuators::default()
        },
        SequenceConfig::default(),
    );
    let runner_b = SequenceRunner::new(
        Side::B,
        Actuators {
            relay: Some(relay.clone()),
            floating_ip: Some(ip_b.clone()),
            asterisk: Some(warm_asterisk()),
            readiness: Some(Arc::new(Ready)),
            ..Actuators::default()
        },
        SequenceConfig::default(),
    );

    let mut sequence_ms = Vec::new();
    let mut answering_ms = Vec::new();
    let mut relay_ms = Vec::new();
    let mut ip_ms = Vec::new();
    let mut gap_ms = Vec::new();
    let mut planned_ms = Vec::new();

    for run in 0..runs {
        // Reset: A active with the VIP and the relay; the client's neighbour entry points at A.
        ip_b.remove().await.expect("reset b");
        relay
            .select(Side::A, Duration::from_secs(2))
            .await
            .expect("relay to A");
        ip_a.add().await.expect("reset a");
        assert!(lan.client_ping(VIP), "client cannot reach VIP on A");
        // Let the neighbour entry age past locktime, as between real failovers.
        tokio::time::sleep(Duration::from_millis(1100)).await;

        // 1. Failover: A dies (its VIP vanishes), then B decides.
        let pinger = Pinger::start(&lan);
        assert!(
            pinger
                .wait_reply_after(0.0, Duration::from_secs(3))
                .is_some(),
            "pinger not answering"
        );
        ip_a.remove().await.expect("A dies");
        tokio::time::sleep(Duration::from_millis(30)).await;
        let t0 = now_unix();
        let started = Instant::now();
        let outcome = runner_b.takeover("benchmark: peer dead", run as u64).await;
        let took = started.elapsed().as_secs_f64() * 1e3;
        let SequenceOutcome::TakeoverDone { timings, .. } = &outcome else {
            panic!("takeover failed: {outcome:?}");
        };
        let first = pinger
            .wait_reply_after(t0, Duration::from_secs(5))
            .expect("VIP never answered from B");
        drop(pinger);
        let answered = (first - t0) * 1e3;
        let step = |k: &str| {
            timings
                .iter()
                .find(|t| t.step.as_str() == k)
                .map_or(0.0, |t| t.duration.as_secs_f64() * 1e3)
        };
        relay_ms.push(step("relay"));
        ip_ms.push(step("floating_ip"));
        sequence_ms.push(took);
        answering_ms.push(answered);

        // 2. Planned move B -> A... keep direction A -> B: reset to A first.
        runner_b.release("benchmark reset", run as u64).await;
        relay
            .select(Side::A, Duration::from_secs(2))
            .await
            .expect("relay to A");
        ip_a.add().await.expect("A again");
        assert!(lan.client_ping(VIP));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let pinger = Pinger::start(&lan);
        assert!(pinger
            .wait_reply_after(0.0, Duration::from_secs(3))
            .is_some());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t0 = now_unix();
        let started = Instant::now();
        let released = runner_a
            .release("benchmark: planned handover", run as u64)
            .await;
        let taken = runner_b
            .takeover("benchmark: planned handover", run as u64)
            .await;
        let planned = started.elapsed().as_secs_f64() * 1e3;
        assert!(
            released.is_success() && taken.is_success(),
            "{released:?} {taken:?}"
        );
        let after = pinger
            .wait_reply_after(t0, Duration::from_secs(5))
            .expect("no reply after planned move");
        // A few more replies so the gap is closed on both sides.
        let _ = pinger.wait_reply_after(after + 0.02, Duration::from_secs(2));
        let replies = pinger.all();
        drop(pinger);
        let gap = replies
            .windows(2)
            .filter(|w| w[1] > t0 - 0.05)
            .map(|w| (w[1] - w[0]) * 1e3)
            .fold(0.0f64, f64::max);
        gap_ms.push(gap);
        planned_ms.push(planned);
        println!(
            "run {run}: failover sequence {took:.2} ms (relay {:.2}, ip {:.2}), VIP answering from B after {answered:.1} ms; planned move {planned:.2} ms, max ping gap {gap:.1} ms",
            step("relay"),
            step("floating_ip")
        );
        runner_b.release("benchmark reset", run as u64).await;
    }

    println!();
    println!("| measurement (ms) | runs | min | median | max |");
    println!("|---|---|---|---|---|");
    println!(
        "{}",
        stats(
            "warm-standby takeover sequence, decision → active (relay + IP/GARP + verification)",
            &mut sequence_ms
        )
    );
    println!(
        "{}",
        stats(
            "  of which relay step (Numato sim on a pty, with read-back)",
            &mut relay_ms
        )
    );
    println!(
        "{}",
        stats(
            "  of which floating IP step (rtnetlink add + first GARP)",
            &mut ip_ms
        )
    );
    println!(
        "{}",
        stats(
            "decision → first ping reply from the VIP on the new node (client pings every 2 ms)",
            &mut answering_ms
        )
    );
    println!(
        "{}",
        stats(
            "planned move (A release + B takeover), sequence time",
            &mut planned_ms
        )
    );
    println!(
        "{}",
        stats(
            "planned move, client-visible max gap between ping replies",
            &mut gap_ms
        )
    );
}
