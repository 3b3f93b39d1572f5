//! A full takeover and release with all four actuators: relay simulator on a pty, floating IP in namespaces, the DRBD stand-in + tmpfs mount, fake Asterisk service; and the relay's read-back as the DRBD step's fencing evidence.

mod actuate_support;
mod common;

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
use astha::side::Side;
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

/// Scratch directory with the DRBD stand-in's wrappers, the mount point and the service flag; cleaned on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// `drbd_state`: the stand-in's KEY=VALUE lines for resource r0.
    fn new(tag: &str, drbd_state: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("astha-seq-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("mnt")).unwrap();
        common::drbd_stand_in(&dir, "ok", "");
        std::fs::write(dir.join("state/r0.state"), drbd_state).unwrap();
        Scratch { dir }
    }

    fn drbd_config(&self, mount: Option<MountConfig>) -> DrbdConfig {
        DrbdConfig {
            resource: "r0".into(),
            drbdadm: self.path("drbdadm"),
            drbdsetup: self.path("drbdsetup"),
            command_timeout_ms: 5_000,
            poll_interval_ms: 50,
            mount,
        }
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
        drbd: Some(Drbd::new(scratch.drbd_config(Some(MountConfig {
            device: "astha-seq".into(),
            mountpoint,
            fstype: Some("tmpfs".into()),
            options: Some("size=1m".into()),
            mount_command: vec!["mount".into()],
            umount_command: vec!["umount".into()],
            timeout_ms: 5_000,
            verify: true,
        })))),
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
            cold_start_check: vec!["true".to_owned()],
            command_timeout_ms: 5_000,
        })),
        readiness: Some(readiness),
        fence: Default::default(),
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

/// The local role the stand-in kernel holds for r0.
fn drbd_role_file(scratch: &Scratch) -> String {
    std::fs::read_to_string(scratch.path("state/r0.state"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("role="))
        .unwrap_or("Secondary")
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
    let scratch = Scratch::new("ok", "");
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
    let scratch = Scratch::new("rb", "");
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

/// The stand-in's state for a DRBD peer that cannot be reached (the old active died): this
/// Secondary's disk is UpToDate, the peer's unknown.
const PEER_UNREACHABLE: &str =
    "conn=Connecting\npeer_role=Unknown\npeer_disk=DUnknown\nfencing=dont-care\n";

fn journal(scratch: &Scratch) -> Vec<serde_json::Value> {
    std::fs::read_to_string(scratch.path("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn an_unreachable_drbd_peer_without_fencing_evidence_is_not_promoted_past() {
    let scratch = Scratch::new("unfenced", PEER_UNREACHABLE);
    let cfg = SequenceConfig {
        journal: Some(scratch.path("audit.jsonl")),
        ..SequenceConfig::default()
    };
    let actuators = Actuators {
        drbd: Some(Drbd::new(scratch.drbd_config(None))),
        ..Actuators::default()
    };
    let outcome = SequenceRunner::new(Side::B, actuators, cfg)
        .takeover("peer silent on all links", 3)
        .await;
    match &outcome {
        SequenceOutcome::TakeoverFailed { step, error, .. } => {
            assert_eq!(*step, StepKind::Drbd);
            assert!(error.contains("not fenced"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(drbd_role_file(&scratch), "Secondary");
    let records = journal(&scratch);
    assert_eq!(records[0]["failed_step"], "drbd");
    assert!(
        records[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("pbx-a (node 0) is unreachable (connection Connecting)")),
        "{}",
        records[0]
    );
}

#[tokio::test]
async fn the_relays_read_back_is_the_evidence_that_lets_drbd_promote() {
    let sim = PtyRelaySim::start(NumatoProtocol::default()).unwrap();
    let scratch = Scratch::new("fenced", PEER_UNREACHABLE);
    let relay = NumatoRelay::new(NumatoConfig {
        path: sim.path().to_path_buf(),
        baud: 19200,
        timeout_ms: 300,
        channels: vec![0],
        energized_side: Side::B,
        verify: true,
    })
    .unwrap();
    let cfg = SequenceConfig {
        journal: Some(scratch.path("audit.jsonl")),
        ..SequenceConfig::default()
    };
    let actuators = Actuators {
        relay: Some(RelayHandle::new(Box::new(relay))),
        drbd: Some(Drbd::new(scratch.drbd_config(None))),
        ..Actuators::default()
    };
    let outcome = SequenceRunner::new(Side::B, actuators, cfg)
        .takeover("peer silent on all links", 4)
        .await;
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(drbd_role_file(&scratch), "Primary");
    let records = journal(&scratch);
    let steps = records[0]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["step"], "relay");
    assert_eq!(steps[0]["note"], "read back on side b");
    assert_eq!(steps[1]["step"], "drbd");
    let note = steps[1]["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("unreachable (Connecting), fenced: the PSTN relay reads back on side b"),
        "{note}"
    );
}
