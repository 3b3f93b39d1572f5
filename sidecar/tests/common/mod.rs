//! Shared helpers for the sidecar's integration tests: scratch directories, the in-process Asterisk emulator as a probe target.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use astha::config::{
    AmiEndpoint, AriEndpoint, AsteriskTarget, HostPort, HttpUrl, ProbesConfig, Secret,
    SecretSource, SipEndpoint,
};
use astha::probe::{MonitorEvent, ProbeKind, TargetMonitor};
use astha::side::Side;
use astha::verdict::Verdict;
use astha_tests::fake_asterisk::{FakeAsterisk, FakeConfig};

/// A scratch directory, unique per process and test, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("astha-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Scratch(dir)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The emulator with the captured dialplan, calls shortened to `playback`.
pub async fn emulator(config: FakeConfig) -> FakeAsterisk {
    FakeAsterisk::start(config)
        .await
        .unwrap_or_else(|e| panic!("emulator: {e}"))
}

pub fn fast_config() -> FakeConfig {
    FakeConfig::instance_a().fast(Duration::from_millis(300))
}

/// How the sidecar would be configured for this emulator (AMI, SIP and ARI).
pub fn target_of(asterisk: &FakeAsterisk) -> AsteriskTarget {
    let secret = Secret::new("hasecret");
    let source = SecretSource::Env("TEST_SECRET".into());
    let ami = asterisk.ami_addr();
    AsteriskTarget {
        side: Side::A,
        ami: AmiEndpoint {
            address: HostPort {
                host: ami.ip().to_string(),
                port: ami.port(),
            },
            username: "hasidecar".into(),
            secret: secret.clone(),
            secret_source: source.clone(),
        },
        sip: asterisk.sip_addr().map(|a| SipEndpoint {
            address: HostPort {
                host: a.ip().to_string(),
                port: a.port(),
            },
            user: None,
        }),
        ari: asterisk.http_addr().and_then(|a| {
            HttpUrl::parse(&format!("http://{a}"))
                .ok()
                .map(|url| AriEndpoint {
                    url,
                    username: "hasidecar".into(),
                    secret,
                    secret_source: source,
                })
        }),
    }
}

/// Defaults for ping/core (their targets are the point), shorter cadences for the slower
/// probes so the call-path and SIP faults are judged within seconds in CI.
pub fn scaled_probes() -> ProbesConfig {
    let mut p = ProbesConfig::default();
    let mut set = |k: ProbeKind, interval_ms: u64, timeout_ms: u64| {
        let t = p.timing_mut(k);
        t.interval = Duration::from_millis(interval_ms);
        t.timeout = Duration::from_millis(timeout_ms);
    };
    set(ProbeKind::Call, 2_000, 1_500);
    set(ProbeKind::Sip, 1_000, 500);
    set(ProbeKind::Ari, 1_000, 500);
    set(ProbeKind::Spans, 2_000, 1_000);
    p
}

/// Waits (polling the status watch, never sleeping blindly) for `verdict`; returns how long it took.
pub async fn wait_for(monitor: &TargetMonitor, verdict: Verdict, within: Duration) -> Duration {
    let started = Instant::now();
    let mut status = monitor.handle().status();
    let reached = tokio::time::timeout(within, status.wait_for(|s| s.verdict == verdict))
        .await
        .is_ok_and(|r| r.is_ok());
    if !reached {
        panic!(
            "no `{verdict}` within {within:?}; status: {:#?}",
            monitor.handle().status().borrow()
        );
    }
    started.elapsed()
}

/// The first verdict change to `verdict` on an event stream, with its evidence.
pub async fn next_change_to(
    events: &mut tokio::sync::broadcast::Receiver<MonitorEvent>,
    verdict: Verdict,
    within: Duration,
) -> astha::health::VerdictChange {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(MonitorEvent::Verdict(c)) if c.to == verdict => return c,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .unwrap_or_else(|_| panic!("no change to {verdict} within {within:?}"))
}
