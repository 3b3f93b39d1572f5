//! A full takeover and release with all four actuators: relay simulator on a pty, floating IP in namespaces, fake drbdadm + tmpfs mount, fake Asterisk service.

mod actuate_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actuate_support::{netns_unavailable, Lan, VIP, VIP_CIDR};
use astha::actuate::asterisk::BoxFuture;
use astha::actuate::config::{
    AsteriskServiceConfig, DrbdConfig, FloatingIpConfig, MountConfig, NumatoConfig, SequenceConfig,
    StandbyMode,
};
use astha::actuate::drbd::is_mounted;
use astha::actuate::relay::{NumatoRelay, RelayHandle};
use astha::actuate::{
    Actuators, AsteriskReadiness, AsteriskService, Drbd, FloatingIp, ReadinessError,
    SequenceOutcome, SequenceRunner, StepKind,
};
use astha::node::Side;
use astha_tests::relay_sim::{NumatoProtocol, PtyRelaySim};

/// Stands in for the daemon's AMI client: booted when the fake service's state file exists.
struct FakeReadiness {
    running_flag: PathBuf,
    probe_ok: AtomicBool,
    probes: AtomicU32,
}

impl AsteriskReadiness for FakeReadiness {
    fn wait_fully_booted(
        &self,
        _deadline: tokio::time::Instant,
    ) -> BoxFuture<'_, Result<(), ReadinessError>> {
        Box::pin(async move {
            if self.running_flag.exists() {
                Ok(())
            } else {
                Err(ReadinessError("AMI not connected".into()))
            }
        })
    }
    fn call_path_probe(&self) -> BoxFuture<'_, Result<Duration, ReadinessError>> {
        Box::pin(async move {
            self.probes.fetch_add(1, Ordering::SeqCst);
            if self.probe_ok.load(Ordering::SeqCst) {
                Ok(Duration::from_millis(3))
            } else {
                Err(ReadinessError("OriginateResponse: Failure".into()))
            }
        })
    }
}

/// Scratch directory with the fake drbdadm wrapper, the mount point and the service flag; cleaned on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("astha-seq-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("mnt")).unwrap();
        let fake = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tools/fake-drbdadm");
        let wrapper = dir.join("drbdadm");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nFAKE_DRBD_STATE='{}' exec '{fake}' \"$@\"\n",
                dir.join("drbd").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Scratch { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.join("mnt"))
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sh(script: String) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script]
}

async fn actuators(
    lan: &Lan,
    sim: &PtyRelaySim,
    scratch: &Scratch,
    readiness: Arc<FakeReadiness>,
) -> Actuators {
    let flag = scratch.path("asterisk.running");
    let relay = NumatoRelay::new(NumatoConfig {
        path: sim.path().to_path_buf(),
        baud: 19200,
        timeout_ms: 300,
        channels: vec![0],
        energized_side: Side::B,
        verify: true,
    })
    .unwrap();
    let mountpoint = scratch.path("mnt");
    Actuators {
        relay: Some(RelayHandle::new(Box::new(relay))),
        drbd: Some(Drbd::new(DrbdConfig {
            resource: "r0".into(),
            drbdadm: scratch.path("drbdadm"),
            force_primary: false,
            command_timeout_ms: 5_000,
            mount: Some(MountConfig {
                device: "astha-seq".into(),
                mountpoint,
                fstype: Some("tmpfs".into()),
                options: Some("size=1m".into()),
                mount_command: vec!["mount".into()],
                umount_command: vec!["umount".into()],
                timeout_ms: 5_000,
                verify: true,
            }),
        })),
        floating_ip: Some(
            FloatingIp::open_in_netns(
                FloatingIpConfig {
                    interface: "eth0".into(),
                    addresses: vec![VIP_CIDR.parse().unwrap()],
                    garp_count: 3,
                    garp_interval_ms: 5,
                    garp_repeat_after_ms: 2000,
                },
                &Lan::netns_path(&lan.b),
            )
            .await
            .unwrap(),
        ),
        asterisk: Some(AsteriskService::new(AsteriskServiceConfig {
            mode: StandbyMode::Cold,
            start_command: sh(format!("touch '{}'", flag.display())),
            stop_command: sh(format!("rm -f '{}'", flag.display())),
            status_command: sh(format!("test -f '{}'", flag.display())),
            command_timeout_ms: 5_000,
        })),
        readiness: Some(readiness),
    }
}

fn print_timings(label: &str, outcome: &SequenceOutcome) {
    let steps: Vec<String> = outcome
        .timings()
        .iter()
        .map(|t| {
            format!(
                "{}:{}={:.2}ms",
                t.step,
                t.phase.as_str(),
                t.duration.as_secs_f64() * 1e3
            )
        })
        .collect();
    println!("{label}: {}", steps.join(" "));
}

fn drbd_role_file(scratch: &Scratch) -> String {
    std::fs::read_to_string(scratch.path("drbd/r0.role"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_then_release_with_all_four_actuators() {
    if let Some(why) = netns_unavailable() {
        println!("SKIP takeover_then_release_with_all_four_actuators: {why}");
        return;
    }
    let lan = Lan::new("seq");
    let sim = PtyRelaySim::start(NumatoProtocol::default()).unwrap();
    let scratch = Scratch::new("ok");
    let readiness = Arc::new(FakeReadiness {
        running_flag: scratch.path("asterisk.running"),
        probe_ok: AtomicBool::new(true),
        probes: AtomicU32::new(0),
    });
    let mut cfg = SequenceConfig {
        journal: Some(scratch.path("audit.jsonl")),
        ..SequenceConfig::default()
    };
    cfg.call_path_probe.retries = 0;
    let runner = SequenceRunner::new(
        Side::B,
        actuators(&lan, &sim, &scratch, Arc::clone(&readiness)).await,
        cfg,
    );
    assert_eq!(
        runner.step_kinds(),
        [
            StepKind::Relay,
            StepKind::Drbd,
            StepKind::FloatingIp,
            StepKind::Asterisk,
            StepKind::CallPathProbe
        ]
    );

    let outcome = runner.takeover("peer silent on all links", 5).await;
    print_timings("takeover", &outcome);
    assert!(
        matches!(outcome, SequenceOutcome::TakeoverDone { ref timings, .. } if timings.len() == 5),
        "{outcome:?}"
    );
    assert!(sim.state().coils[0], "relay moved to side B");
    assert_eq!(drbd_role_file(&scratch), "Primary");
    assert!(is_mounted(&scratch.path("mnt")).unwrap());
    assert!(scratch.path("asterisk.running").exists());
    assert_eq!(readiness.probes.load(Ordering::SeqCst), 1);
    assert!(lan.client_ping(VIP), "the VIP answers from b");
    assert_eq!(lan.client_neighbour(VIP), Some(lan.mac(&lan.b)));

    let outcome = runner.release("planned handover", 5).await;
    print_timings("release", &outcome);
    assert!(
        matches!(outcome, SequenceOutcome::ReleaseDone { .. }),
        "{outcome:?}"
    );
    assert!(!scratch.path("asterisk.running").exists());
    assert!(!is_mounted(&scratch.path("mnt")).unwrap());
    assert_eq!(drbd_role_file(&scratch), "Secondary");
    assert!(!lan.client_ping(VIP), "nobody holds the VIP after release");
    assert!(
        sim.state().coils[0],
        "default release leaves the relay to the node taking over"
    );

    let journal = std::fs::read_to_string(scratch.path("audit.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["reason"], "peer silent on all links");
    assert_eq!(records[0]["steps"].as_array().map(Vec::len), Some(5));
    assert_eq!(records[1]["kind"], "release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_call_path_probe_rolls_the_takeover_back() {
    if let Some(why) = netns_unavailable() {
        println!("SKIP a_failing_call_path_probe_rolls_the_takeover_back: {why}");
        return;
    }
    let lan = Lan::new("seqrb");
    let sim = PtyRelaySim::start(NumatoProtocol::default()).unwrap();
    let scratch = Scratch::new("rb");
    let readiness = Arc::new(FakeReadiness {
        running_flag: scratch.path("asterisk.running"),
        probe_ok: AtomicBool::new(false),
        probes: AtomicU32::new(0),
    });
    let mut cfg = SequenceConfig::default();
    cfg.call_path_probe.retries = 1;
    cfg.call_path_probe.retry_delay_ms = 10;
    let runner = SequenceRunner::new(
        Side::B,
        actuators(&lan, &sim, &scratch, Arc::clone(&readiness)).await,
        cfg,
    );
    let outcome = runner.takeover("peer asked", 9).await;
    print_timings("failed takeover", &outcome);
    match &outcome {
        SequenceOutcome::TakeoverFailed {
            step,
            error,
            rolled_back,
            ..
        } => {
            assert_eq!(*step, StepKind::CallPathProbe);
            assert!(error.contains("OriginateResponse"), "{error}");
            assert!(rolled_back);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(readiness.probes.load(Ordering::SeqCst), 2);
    assert!(
        !scratch.path("asterisk.running").exists(),
        "Asterisk stopped again"
    );
    assert!(!is_mounted(Path::new(&scratch.path("mnt"))).unwrap());
    assert_eq!(drbd_role_file(&scratch), "Secondary");
    assert!(!lan.client_ping(VIP), "VIP removed again");
}
