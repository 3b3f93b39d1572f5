//! The mount actuator and mount namespaces, on a real ext4 on a loop device: a mount made inside a unit-like private namespace never reaches the host and astha says so; one made from the host's namespace (where the shipped unit runs astha) reaches namespaces created afterwards.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use astha::actuate::config::{DrbdConfig, MountConfig};
use astha::actuate::drbd::{is_mounted, mount_view, Drbd, DrbdError, MountView};
use common::{LoopDevice, Scratch};

fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (mounts and namespaces)".into());
    }
    ["losetup", "mkfs.ext4", "unshare", "findmnt"]
        .iter()
        .find(|p| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {p} >/dev/null")])
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|p| format!("`{p}` is not installed"))
}

fn drbd_for(device: &str, mountpoint: &Path) -> Drbd {
    Drbd::new(DrbdConfig {
        resource: "asterisk".into(),
        drbdadm: "drbdadm".into(),
        drbdsetup: "drbdsetup".into(),
        command_timeout_ms: 5_000,
        poll_interval_ms: 200,
        mount: Some(MountConfig {
            device: device.to_owned(),
            mountpoint: mountpoint.to_path_buf(),
            fstype: Some("ext4".into()),
            options: None,
            mount_command: vec!["mount".into()],
            umount_command: vec!["umount".into()],
            timeout_ms: 10_000,
            verify: true,
        }),
    })
}

/// `findmnt` in a new process, optionally in a fresh mount namespace: what another program sees.
fn seen_by_another_process(mountpoint: &Path, new_namespace: bool) -> bool {
    let mut cmd = if new_namespace {
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "slave", "--", "findmnt"]);
        c
    } else {
        Command::new("findmnt")
    };
    cmd.args(["-n", "-o", "TARGET"])
        .arg(mountpoint)
        .status()
        .is_ok_and(|s| s.success())
}

struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_mount_inside_a_unit_like_private_namespace_is_reported_invisible_to_the_host() {
    if let Some(why) = unavailable() {
        println!("SKIP a_mount_inside_a_unit_like_private_namespace_is_reported_invisible_to_the_host: {why}");
        return;
    }
    let scratch = Scratch::new("mntns-private");
    let disk = LoopDevice::new(scratch.0.join("disk.img"));
    let mountpoint = scratch.0.join("mnt");
    std::fs::create_dir_all(&mountpoint).unwrap();
    let _unmount = Unmount(mountpoint.clone());
    let drbd = drbd_for(&disk.device, &mountpoint);
    let inner_mountpoint = mountpoint.clone();
    // One thread gets the namespace systemd gives a unit with ProtectSystem=, PrivateTmp= or
    // ReadWritePaths=: a new mount namespace in which every mount is a slave of the host's.
    let (result, inside, seen_inside) = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare");
        let status = Command::new("mount")
            .args(["--make-rslave", "/"])
            .status()
            .expect("mount --make-rslave");
        assert!(status.success());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(drbd.mount());
        let inside = mount_view(&inner_mountpoint).unwrap();
        let seen_inside = seen_by_another_process(&inner_mountpoint, false);
        let _ = runtime.block_on(drbd.umount());
        let _ = Command::new("umount").arg(&inner_mountpoint).status();
        (result, inside, seen_inside)
    })
    .join()
    .unwrap();
    // The mount happened, inside only: its own mount table says "mounted" ...
    assert!(seen_inside, "the mount did not happen at all");
    assert_eq!(
        inside,
        MountView {
            host: false,
            here: true
        }
    );
    // ... and astha is not fooled: the step fails, saying why.
    let err = result.unwrap_err();
    assert!(
        matches!(err, DrbdError::MountInvisibleToHost { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("private mount namespace"), "{err}");
    // Outside, nobody ever saw it.
    assert!(!is_mounted(&mountpoint).unwrap());
    assert!(!seen_by_another_process(&mountpoint, false));
}

#[test]
fn a_mount_from_the_hosts_namespace_reaches_other_processes_and_new_namespaces() {
    if let Some(why) = unavailable() {
        println!("SKIP a_mount_from_the_hosts_namespace_reaches_other_processes_and_new_namespaces: {why}");
        return;
    }
    let scratch = Scratch::new("mntns-host");
    let disk = LoopDevice::new(scratch.0.join("disk.img"));
    let mountpoint = scratch.0.join("mnt");
    std::fs::create_dir_all(&mountpoint).unwrap();
    let _unmount = Unmount(mountpoint.clone());
    let drbd = drbd_for(&disk.device, &mountpoint);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(drbd.mount()).unwrap();
    assert_eq!(
        mount_view(&mountpoint).unwrap(),
        MountView {
            host: true,
            here: true
        }
    );
    assert!(seen_by_another_process(&mountpoint, false));
    // A service started afterwards with a namespace of its own (an Asterisk unit with
    // PrivateTmp=, say) gets a copy of the host's mounts, this one included.
    assert!(seen_by_another_process(&mountpoint, true));
    runtime.block_on(drbd.umount()).unwrap();
    assert!(!is_mounted(&mountpoint).unwrap());
    assert!(!seen_by_another_process(&mountpoint, false));
}
