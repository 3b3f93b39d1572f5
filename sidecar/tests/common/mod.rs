//! Shared helpers for the sidecar's integration tests: scratch directories, the in-process Asterisk emulator as a probe target.
#![allow(dead_code)]

pub mod webhook;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use astha::config::{
    AmiEndpoint, AriEndpoint, AsteriskCgroup, AsteriskTarget, HostPort, HttpUrl, ProbesConfig,
    Secret, SecretSource, SipEndpoint,
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
        cgroup: AsteriskCgroup::Off,
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

/// The stand-in for DRBD 9's kernel side (`status --json` and exit codes of drbd-utils 9.22).
pub const FAKE_DRBD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tools/fake-drbd");

/// Writes `drbdadm` and `drbdsetup` wrappers into `dir` that run the stand-in with its state in
/// `dir/state` (created), `FAKE_DRBD_MODE=mode` and `FAKE_DRBD_KHELPER=khelper` (the usermode
/// helper it calls to fence the peer; empty: none).
pub fn drbd_stand_in(dir: &std::path::Path, mode: &str, khelper: &str) {
    use std::os::unix::fs::PermissionsExt;
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap_or_else(|e| panic!("{}: {e}", state.display()));
    for tool in ["drbdadm", "drbdsetup"] {
        let wrapper = dir.join(tool);
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nFAKE_DRBD_STATE='{}' FAKE_DRBD_MODE='{mode}' FAKE_DRBD_KHELPER='{khelper}' exec '{FAKE_DRBD}' {tool} \"$@\"\n",
                state.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Why the real drbdadm cannot run the shipped resource file's handler here, if it cannot.
pub fn drbd_khelper_unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (the handler sandbox needs mount and UTS namespaces)".into());
    }
    match std::process::Command::new("drbdadm")
        .arg("--version")
        .output()
    {
        Ok(o) if o.status.success() => None,
        _ => Some("drbdadm (Debian package drbd-utils) is not installed".into()),
    }
}

/// The usermode helper for the stand-in: the real drbdadm running the shipped
/// `contrib/drbd/asterisk.res` on host `host`, whose handler `/usr/bin/astha fence-peer` (the
/// binary `astha`) asks the daemon listening on `socket` (see `tests/tools/drbd-khelper-sandbox`).
pub fn drbd_khelper_sandbox(host: &str, astha: &str, socket: &std::path::Path) -> String {
    format!(
        "{} {host} {} {astha} {}",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/tools/drbd-khelper-sandbox"
        ),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../contrib/drbd/asterisk.res"),
        socket.display()
    )
}

/// A loop device with an empty ext4 on it: the DRBD device's stand-in.
pub struct LoopDevice {
    pub device: String,
    image: PathBuf,
}

impl LoopDevice {
    /// Needs root, `losetup` and `mkfs.ext4`.
    pub fn new(image: PathBuf) -> LoopDevice {
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(64 << 20).unwrap();
        let out = std::process::Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&image)
            .output()
            .unwrap();
        assert!(out.status.success(), "losetup: {out:?}");
        let device = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let dev = LoopDevice { device, image };
        let out = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", &dev.device])
            .output()
            .unwrap();
        assert!(out.status.success(), "mkfs.ext4: {out:?}");
        dev
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .args(["-d", &self.device])
            .status();
        let _ = std::fs::remove_file(&self.image);
    }
}
