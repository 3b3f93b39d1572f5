//! DRBD promotion/demotion against a stand-in `drbdadm` (no DRBD kernel here) whose exit codes lie like the real one's, and mounts.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use astha::actuate::config::{DrbdConfig, MountConfig};
use astha::actuate::drbd::{is_mounted, Drbd, DrbdError, DrbdRole};

/// A scratch directory with a `drbdadm` wrapper that runs the fake in one mode.
struct FakeDrbd {
    dir: PathBuf,
}

impl FakeDrbd {
    fn new(name: &str, mode: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("astha-drbd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fake = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tools/fake-drbdadm");
        let wrapper = dir.join("drbdadm");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nFAKE_DRBD_STATE='{}' FAKE_DRBD_MODE='{mode}' exec '{fake}' \"$@\"\n",
                dir.join("state").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeDrbd { dir }
    }

    fn config(&self) -> DrbdConfig {
        DrbdConfig {
            resource: "r0".into(),
            drbdadm: self.dir.join("drbdadm"),
            force_primary: false,
            command_timeout_ms: 2_000,
            mount: None,
        }
    }

    fn set_role(&self, role: &str) {
        std::fs::create_dir_all(self.dir.join("state")).unwrap();
        std::fs::write(self.dir.join("state/r0.role"), format!("{role}\n")).unwrap();
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("state/calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for FakeDrbd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn promote_and_demote_are_verified_and_idempotent() {
    let fake = FakeDrbd::new("ok", "ok");
    let drbd = Drbd::new(fake.config());
    assert_eq!(drbd.role().await.unwrap(), DrbdRole::Secondary);
    drbd.promote().await.unwrap();
    assert_eq!(drbd.role().await.unwrap(), DrbdRole::Primary);
    drbd.promote().await.unwrap();
    drbd.demote().await.unwrap();
    assert_eq!(drbd.role().await.unwrap(), DrbdRole::Secondary);
    let calls = fake.calls();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("primary")).count(),
        1,
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c.contains("--force")),
        "never --force unless configured: {calls:?}"
    );
}

#[tokio::test]
async fn a_primary_that_exits_0_without_effect_is_caught() {
    let fake = FakeDrbd::new("plies", "primary-lies");
    let err = Drbd::new(fake.config()).promote().await.unwrap_err();
    assert!(
        matches!(
            err,
            DrbdError::NotEffective {
                action: "primary",
                code: Some(0),
                role: DrbdRole::Secondary,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_secondary_that_exits_0_without_effect_is_caught() {
    let fake = FakeDrbd::new("slies", "secondary-lies");
    fake.set_role("Primary");
    let err = Drbd::new(fake.config()).demote().await.unwrap_err();
    assert!(
        matches!(
            err,
            DrbdError::NotEffective {
                action: "secondary",
                code: Some(0),
                role: DrbdRole::Primary,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn without_a_kernel_module_nothing_is_believed() {
    let fake = FakeDrbd::new("nok", "no-kernel");
    let drbd = Drbd::new(fake.config());
    let err = drbd.demote().await.unwrap_err();
    assert!(
        matches!(err, DrbdError::RoleQuery { code: Some(20), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("exit code 20"), "{err}");
    let err = drbd.promote().await.unwrap_err();
    assert!(matches!(err, DrbdError::RoleQuery { .. }), "{err}");
}

#[tokio::test]
async fn force_is_used_only_when_configured() {
    let fake = FakeDrbd::new("force", "need-force");
    let err = Drbd::new(fake.config()).promote().await.unwrap_err();
    assert!(
        matches!(err, DrbdError::NotEffective { code: Some(11), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("UpToDate"), "{err}");
    let mut cfg = fake.config();
    cfg.force_primary = true;
    Drbd::new(cfg).promote().await.unwrap();
    assert!(
        fake.calls().iter().any(|c| c == "primary --force r0"),
        "{:?}",
        fake.calls()
    );
}

#[tokio::test]
async fn a_hanging_drbdadm_times_out() {
    let fake = FakeDrbd::new("hang", "hang");
    let mut cfg = fake.config();
    cfg.command_timeout_ms = 200;
    let err = Drbd::new(cfg).role().await.unwrap_err();
    assert!(
        matches!(err, DrbdError::Command(_)) && err.to_string().contains("200 ms"),
        "{err}"
    );
}

#[tokio::test]
async fn drbd_84_role_output_is_understood() {
    let fake = FakeDrbd::new("v84", "v84");
    fake.set_role("Primary");
    assert_eq!(
        Drbd::new(fake.config()).role().await.unwrap(),
        DrbdRole::Primary
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
async fn mount_and_umount_a_real_tmpfs_verified_by_mountinfo() {
    if !is_root() {
        println!("SKIP mount_and_umount_a_real_tmpfs_verified_by_mountinfo: needs root to mount");
        return;
    }
    let fake = FakeDrbd::new("mount", "ok");
    let mountpoint = std::env::temp_dir().join(format!("astha-mnt-{}", std::process::id()));
    std::fs::create_dir_all(&mountpoint).unwrap();
    let _guard = MountGuard(mountpoint.clone());
    let mut cfg = fake.config();
    cfg.mount = Some(tmpfs_mount(&mountpoint));
    let drbd = Drbd::new(cfg);
    drbd.promote().await.unwrap();
    drbd.mount().await.unwrap();
    assert!(is_mounted(&mountpoint).unwrap());
    drbd.mount().await.unwrap(); // idempotent
    drbd.umount().await.unwrap();
    assert!(!is_mounted(&mountpoint).unwrap());
    drbd.umount().await.unwrap();
}

#[tokio::test]
async fn a_mount_command_that_succeeds_without_mounting_is_caught() {
    let fake = FakeDrbd::new("mlies", "ok");
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
