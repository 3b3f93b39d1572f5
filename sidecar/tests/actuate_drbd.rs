//! DRBD promotion that cannot fork the data, against the stand-in for DRBD 9's kernel side (`tests/tools/fake-drbd`: the `status --json` and exit codes of drbd-utils 9.22), the real drbdadm running the shipped resource file's fence-peer handler, and real mounts.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use astha::actuate::config::{DrbdConfig, MountConfig};
use astha::actuate::drbd::{is_mounted, DiskState, Drbd, DrbdError, DrbdRole};
use astha::actuate::fence::FenceEvidence;
use common::{drbd_khelper_sandbox, drbd_khelper_unavailable, drbd_stand_in, Scratch};
use tokio::time::Instant;

/// A scratch directory with `drbdadm` and `drbdsetup` wrappers running the stand-in.
struct FakeDrbd {
    dir: PathBuf,
    resource: &'static str,
}

impl FakeDrbd {
    /// `state`: the stand-in's KEY=VALUE lines for resource r0; `mode`: `FAKE_DRBD_MODE`.
    fn new(name: &str, mode: &str, state: &str) -> Self {
        Self::with_khelper(name, mode, state, "")
    }

    /// Also sets the usermode helper the stand-in kernel calls to fence the peer.
    fn with_khelper(name: &str, mode: &str, state: &str, khelper: &str) -> Self {
        Self::for_resource("r0", name, mode, state, khelper)
    }

    fn for_resource(
        resource: &'static str,
        name: &str,
        mode: &str,
        state: &str,
        khelper: &str,
    ) -> Self {
        let dir = std::env::temp_dir().join(format!("astha-drbd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        drbd_stand_in(&dir, mode, khelper);
        std::fs::write(dir.join(format!("state/{resource}.state")), state).unwrap();
        FakeDrbd { dir, resource }
    }

    fn config(&self) -> DrbdConfig {
        DrbdConfig {
            resource: self.resource.into(),
            drbdadm: self.dir.join("drbdadm"),
            drbdsetup: self.dir.join("drbdsetup"),
            command_timeout_ms: 5_000,
            poll_interval_ms: 20,
            mount: None,
        }
    }

    fn drbd(&self) -> Drbd {
        Drbd::new(self.config())
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("state/calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn primary_calls(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.starts_with("drbdadm primary"))
            .count()
    }
}

impl Drop for FakeDrbd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn relay_read_back() -> Vec<FenceEvidence> {
    vec![FenceEvidence::RelayReadBack { side: "b".into() }]
}

#[tokio::test]
async fn status_json_of_the_stand_in_is_read_as_data() {
    let fake = FakeDrbd::new(
        "status",
        "ok",
        "conn=Connected\npeer_role=Primary\npeer_name=pbx-a\n",
    );
    let state = fake.drbd().state().await.unwrap();
    assert_eq!(state.role, DrbdRole::Secondary);
    assert_eq!(state.worst_disk(), DiskState::UpToDate);
    assert_eq!(
        state.summary(),
        "Secondary UpToDate, pbx-a Connected Primary UpToDate"
    );
}

#[tokio::test]
async fn up_to_date_with_a_connected_secondary_peer_is_promoted_once_and_never_forced() {
    let fake = FakeDrbd::new("ok", "ok", "");
    let drbd = fake.drbd();
    let note = drbd.promote(&[], soon()).await.unwrap();
    assert!(
        note.contains("every peer connected and Secondary"),
        "{note}"
    );
    assert_eq!(drbd.role().await.unwrap(), DrbdRole::Primary);
    assert_eq!(drbd.promote(&[], soon()).await.unwrap(), "already Primary");
    drbd.demote().await.unwrap();
    assert_eq!(drbd.role().await.unwrap(), DrbdRole::Secondary);
    drbd.demote().await.unwrap();
    let calls = fake.calls();
    assert_eq!(fake.primary_calls(), 1, "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("--force")), "{calls:?}");
}

#[tokio::test]
async fn outdated_and_inconsistent_disks_are_refused_with_the_reason() {
    for disk in ["Outdated", "Inconsistent"] {
        // Even with the relay read back: fencing the peer does not make stale data current.
        let fake = FakeDrbd::new(
            &format!("refuse-{disk}"),
            "ok",
            &format!("disk={disk}\nconn=StandAlone\npeer_role=Unknown\npeer_disk=DUnknown\n"),
        );
        let err = fake
            .drbd()
            .promote(&relay_read_back(), soon())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, DrbdError::Refused { .. }), "{text}");
        assert!(text.contains(&format!("is {disk}")), "{text}");
        assert_eq!(fake.primary_calls(), 0, "no attempt: {:?}", fake.calls());
    }
}

#[tokio::test]
async fn a_demoting_peer_is_waited_for_then_the_promotion_succeeds() {
    let fake = FakeDrbd::new(
        "wait",
        "ok",
        "conn=Connected\npeer_role=Primary\npeer_demotes_after=4\n",
    );
    let drbd = fake.drbd();
    let note = drbd.promote(&[], soon()).await.unwrap();
    assert!(note.contains("waited"), "{note}");
    assert_eq!(drbd.role().await.unwrap(), DrbdRole::Primary);
    // The stand-in refuses two primaries (exit 11): astha never even tried while the peer was one.
    assert_eq!(fake.primary_calls(), 1, "{:?}", fake.calls());
}

#[tokio::test]
async fn a_peer_that_stays_primary_ends_the_wait_at_the_deadline() {
    let fake = FakeDrbd::new("stuck", "ok", "conn=Connected\npeer_role=Primary\n");
    let started = Instant::now();
    let err = fake
        .drbd()
        .promote(&[], Instant::now() + Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, DrbdError::PeerStillPrimary { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.primary_calls(), 0);
}

#[tokio::test]
async fn an_unreachable_unfenced_peer_blocks_the_promotion() {
    for conn in ["StandAlone", "Connecting"] {
        let fake = FakeDrbd::new(
            &format!("unfenced-{conn}"),
            "ok",
            &format!("conn={conn}\npeer_role=Unknown\npeer_disk=DUnknown\n"),
        );
        let err = fake.drbd().promote(&[], soon()).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not fenced"), "{text}");
        assert!(text.contains(conn), "{text}");
        assert_eq!(fake.primary_calls(), 0);
    }
}

/// A usermode helper that answers with a fixed fence-peer exit code.
fn answering_khelper(dir: &Path, code: u8) -> String {
    let path = dir.join(format!("khelper-{code}"));
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&path, format!("#!/bin/sh\nexit {code}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn a_fenced_unreachable_peer_is_promoted_past_when_drbds_handler_agrees() {
    let helpers = Scratch::new("khelpers");
    let helpers = &helpers.0;
    // DRBD 9 left this Secondary Consistent when it lost its Primary; the relay was read back.
    let state = "disk=Consistent\nconn=Connecting\npeer_role=Unknown\npeer_disk=DUnknown\n";
    let fake = FakeDrbd::with_khelper("fenced", "ok", state, &answering_khelper(helpers, 7));
    let note = fake
        .drbd()
        .promote(&relay_read_back(), soon())
        .await
        .unwrap();
    assert!(note.contains("relay reads back on side b"), "{note}");
    assert!(fake.calls().contains(&"fence-peer r0 -> 7".to_owned()));
    // The kernel asks the handler too: when it does not vouch (exit 1), DRBD refuses and astha says so.
    let fake = FakeDrbd::with_khelper("unvouched", "ok", state, &answering_khelper(helpers, 1));
    let err = fake
        .drbd()
        .promote(&relay_read_back(), soon())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DrbdError::NotEffective {
                action: "primary",
                code: Some(17),
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("Need access to UpToDate data"),
        "{err}"
    );
}

#[tokio::test]
async fn a_primary_or_secondary_that_exits_0_without_effect_is_caught() {
    let fake = FakeDrbd::new("plies", "primary-lies", "");
    let err = fake.drbd().promote(&[], soon()).await.unwrap_err();
    assert!(
        matches!(
            err,
            DrbdError::NotEffective {
                action: "primary",
                code: Some(0),
                ..
            }
        ),
        "{err}"
    );
    let fake = FakeDrbd::new("slies", "secondary-lies", "role=Primary\n");
    let err = fake.drbd().demote().await.unwrap_err();
    assert!(
        matches!(
            err,
            DrbdError::NotEffective {
                action: "secondary",
                code: Some(0),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn without_a_kernel_module_nothing_is_believed() {
    let fake = FakeDrbd::new("nok", "no-kernel", "");
    let drbd = fake.drbd();
    for err in [
        drbd.demote().await.unwrap_err(),
        drbd.promote(&relay_read_back(), soon()).await.unwrap_err(),
    ] {
        assert!(
            matches!(err, DrbdError::StatusQuery { code: Some(20), .. }),
            "{err}"
        );
        assert!(err.to_string().contains("modprobe"), "{err}");
    }
}

#[tokio::test]
async fn a_resource_drbd_does_not_know_is_reported() {
    let fake = FakeDrbd::new("nores", "ok", "");
    let mut cfg = fake.config();
    cfg.resource = "r9".into();
    let err = Drbd::new(cfg).state().await.unwrap_err();
    assert!(
        matches!(err, DrbdError::StatusQuery { code: Some(10), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("No such resource"), "{err}");
}

#[tokio::test]
async fn a_hanging_drbdsetup_times_out() {
    let fake = FakeDrbd::new("hang", "hang", "");
    let mut cfg = fake.config();
    cfg.command_timeout_ms = 200;
    let err = Drbd::new(cfg).role().await.unwrap_err();
    assert!(
        matches!(err, DrbdError::Command(_)) && err.to_string().contains("200 ms"),
        "{err}"
    );
}

#[tokio::test]
async fn a_standby_left_behind_by_the_active_outdates_itself() {
    let fake = FakeDrbd::new(
        "behind",
        "ok",
        "conn=Connecting\npeer_role=Unknown\npeer_disk=DUnknown\n",
    );
    let drbd = fake.drbd();
    // Peer silent on the peer link too: it may be dead, this disk may be the newest. Keep it.
    for _ in 0..3 {
        assert_eq!(drbd.observe(false).await.outdated_now, None);
    }
    // Active peer heard, DRBD cut: one reading is not enough, two are.
    assert_eq!(drbd.observe(true).await.outdated_now, None);
    let second = drbd.observe(true).await;
    assert!(second.outdated_now.is_some(), "{second:?}");
    assert_eq!(
        drbd.state().await.unwrap().worst_disk(),
        DiskState::Outdated
    );
    assert!(
        second.summary.starts_with("Secondary Outdated"),
        "{second:?}"
    );
    // ... and from then on it is refused as a promotion candidate.
    let err = drbd.promote(&relay_read_back(), soon()).await.unwrap_err();
    assert!(err.to_string().contains("is Outdated"), "{err}");
}

#[tokio::test]
async fn a_connected_standby_is_never_outdated() {
    let fake = FakeDrbd::new("connected", "ok", "peer_role=Primary\n");
    let drbd = fake.drbd();
    for _ in 0..3 {
        assert_eq!(drbd.observe(true).await.outdated_now, None);
    }
    assert!(!fake.calls().iter().any(|c| c.contains("outdate")));
}

/// The real drbdadm runs the shipped resource file's handler, `/usr/bin/astha fence-peer`, the
/// way the kernel's usermode helper does; without a daemon the handler gives no answer (exit
/// 1) and the stand-in kernel keeps the promotion refused.
#[tokio::test]
async fn the_shipped_handler_without_a_daemon_keeps_the_promotion_refused() {
    if let Some(why) = drbd_khelper_unavailable() {
        println!("SKIP the_shipped_handler_without_a_daemon_keeps_the_promotion_refused: {why}");
        return;
    }
    let socket = std::env::temp_dir().join(format!("astha-nodaemon-{}.sock", std::process::id()));
    // A socket file nobody listens on (a crashed daemon's leftover).
    let _ = std::fs::remove_file(&socket);
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let state = "node_id=1\npeer_node_id=0\npeer_name=pbx-a\ndisk=Consistent\nconn=Connecting\npeer_role=Unknown\npeer_disk=DUnknown\n";
    let khelper = drbd_khelper_sandbox("pbx-b", env!("CARGO_BIN_EXE_astha"), &socket);
    let fake = FakeDrbd::for_resource("asterisk", "nodaemon", "ok", state, &khelper);
    let err = fake
        .drbd()
        .promote(&relay_read_back(), soon())
        .await
        .unwrap_err();
    let _ = std::fs::remove_file(&socket);
    assert!(
        matches!(
            err,
            DrbdError::NotEffective {
                action: "primary",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        fake.calls()
            .contains(&"fence-peer asterisk -> 1".to_owned()),
        "{:?}",
        fake.calls()
    );
    // It was astha that answered, through drbdadm: the handler line of the shipped file ran.
    let said = std::fs::read_to_string(fake.dir.join("state/khelper.log")).unwrap_or_default();
    assert!(
        said.contains("astha fence-peer asterisk, pbx-a (node 0): no answer from the daemon"),
        "{said}"
    );
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct MountGuard(PathBuf);
impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn tmpfs_mount(mountpoint: &Path) -> MountConfig {
    MountConfig {
        device: "astha-test".into(),
        mountpoint: mountpoint.to_path_buf(),
        fstype: Some("tmpfs".into()),
        options: Some("size=1m".into()),
        mount_command: vec!["mount".into()],
        umount_command: vec!["umount".into()],
        timeout_ms: 5_000,
        verify: true,
    }
}

#[tokio::test]
async fn mount_and_umount_a_real_tmpfs_verified_from_the_host_side() {
    if !is_root() {
        println!(
            "SKIP mount_and_umount_a_real_tmpfs_verified_from_the_host_side: needs root to mount"
        );
        return;
    }
    let fake = FakeDrbd::new("mount", "ok", "");
    let mountpoint = std::env::temp_dir().join(format!("astha-mnt-{}", std::process::id()));
    std::fs::create_dir_all(&mountpoint).unwrap();
    let _guard = MountGuard(mountpoint.clone());
    let mut cfg = fake.config();
    cfg.mount = Some(tmpfs_mount(&mountpoint));
    let drbd = Drbd::new(cfg);
    drbd.promote(&[], soon()).await.unwrap();
    drbd.mount().await.unwrap();
    assert!(is_mounted(&mountpoint).unwrap());
    drbd.mount().await.unwrap(); // idempotent
    drbd.umount().await.unwrap();
    assert!(!is_mounted(&mountpoint).unwrap());
    drbd.umount().await.unwrap();
}

#[tokio::test]
async fn a_mount_command_that_succeeds_without_mounting_is_caught() {
    let fake = FakeDrbd::new("mlies", "ok", "");
    let mountpoint = std::env::temp_dir().join(format!("astha-mnt-lie-{}", std::process::id()));
    std::fs::create_dir_all(&mountpoint).unwrap();
    let _guard = MountGuard(mountpoint.clone());
    let mut mount = tmpfs_mount(&mountpoint);
    mount.mount_command = vec!["true".into()];
    let mut cfg = fake.config();
    cfg.mount = Some(mount);
    let err = Drbd::new(cfg).mount().await.unwrap_err();
    assert!(
        matches!(
            err,
            DrbdError::MountNotEffective {
                mounted: false,
                code: Some(0),
                ..
            }
        ),
        "{err}"
    );
}
