//! Mounting the replicated file system where every process on the host sees it, and checking that from the host's side.
//!
//! A mount is only useful if Asterisk sees it. A service manager may run astha in a mount
//! namespace of its own (systemd does so for `ProtectSystem=`, `PrivateTmp=`,
//! `ReadWritePaths=`…), where a mount does not reach the host, while astha's own
//! `/proc/thread-self/mountinfo` shows it. So the verdict is taken from PID 1's mount table (the
//! host's, or the container's init), and a mount that exists only in astha's namespace is
//! reported as exactly that.

use std::path::Path;
use std::time::Duration;

use super::DrbdError;
use crate::actuate::command;
use crate::actuate::config::MountConfig;

/// The mount table every other process on the host sees.
const HOST_MOUNTINFO: &str = "/proc/1/mountinfo";
/// The calling thread's own mount table (a thread may have unshared its mount namespace).
const OWN_MOUNTINFO: &str = "/proc/thread-self/mountinfo";

/// Where a mount point is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountView {
    /// In the host's mount namespace (PID 1's): what Asterisk sees.
    pub host: bool,
    /// In this process's own mount namespace.
    pub here: bool,
}

/// Whether something is mounted exactly at `mountpoint` as the host sees it.
pub fn is_mounted(mountpoint: &Path) -> Result<bool, DrbdError> {
    Ok(mount_view(mountpoint)?.host)
}

/// Where `mountpoint` is mounted: in the host's mount table and in this process's.
pub fn mount_view(mountpoint: &Path) -> Result<MountView, DrbdError> {
    let wanted = std::fs::canonicalize(mountpoint).unwrap_or_else(|_| mountpoint.to_path_buf());
    let read = |path: &'static str| {
        std::fs::read_to_string(path)
            .map(|info| listed(&info, &wanted))
            .map_err(|source| DrbdError::MountInfo { path, source })
    };
    Ok(MountView {
        host: read(HOST_MOUNTINFO)?,
        here: read(OWN_MOUNTINFO)?,
    })
}

fn listed(mountinfo: &str, wanted: &Path) -> bool {
    let wanted = wanted.to_string_lossy();
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|field| unescape_mountinfo(field) == wanted)
}

/// Mounts the replicated file system (idempotent), verified from the host's side.
pub async fn mount(m: &MountConfig) -> Result<(), DrbdError> {
    if m.verify && checked_view(m)?.host {
        return Ok(());
    }
    let mut argv = m.mount_command.clone();
    if let Some(fstype) = &m.fstype {
        argv.extend(["-t".to_owned(), fstype.clone()]);
    }
    if let Some(options) = &m.options {
        argv.extend(["-o".to_owned(), options.clone()]);
    }
    argv.extend([
        m.device.clone(),
        m.mountpoint.to_string_lossy().into_owned(),
    ]);
    run(m, argv, true).await
}

/// Unmounts (idempotent), verified from the host's side.
pub async fn umount(m: &MountConfig) -> Result<(), DrbdError> {
    if m.verify && !mount_view(&m.mountpoint)?.host {
        return Ok(());
    }
    let mut argv = m.umount_command.clone();
    argv.push(m.mountpoint.to_string_lossy().into_owned());
    run(m, argv, false).await
}

/// The view, with a mount that only this namespace has turned into the error it is.
fn checked_view(m: &MountConfig) -> Result<MountView, DrbdError> {
    let view = mount_view(&m.mountpoint)?;
    if view.here && !view.host {
        return Err(private_namespace(&m.mountpoint));
    }
    Ok(view)
}

fn private_namespace(mountpoint: &Path) -> DrbdError {
    DrbdError::MountInvisibleToHost {
        mountpoint: mountpoint.to_path_buf(),
    }
}

async fn run(m: &MountConfig, argv: Vec<String>, want_mounted: bool) -> Result<(), DrbdError> {
    let shown = argv.join(" ");
    let out = command::run(&argv, Duration::from_millis(m.timeout_ms)).await?;
    if !m.verify {
        return if out.success() {
            Ok(())
        } else {
            Err(DrbdError::Mount {
                command: shown,
                code: out.code,
                message: out.last_words(),
            })
        };
    }
    let view = mount_view(&m.mountpoint)?;
    if want_mounted && view.here && !view.host {
        return Err(private_namespace(&m.mountpoint));
    }
    if view.host != want_mounted {
        return Err(DrbdError::MountNotEffective {
            command: shown,
            code: out.code,
            mountpoint: m.mountpoint.display().to_string(),
            mounted: view.host,
            message: out.last_words(),
        });
    }
    Ok(())
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_unescapes_octal() {
        assert_eq!(unescape_mountinfo("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn root_is_mounted_for_the_host_and_here() {
        assert_eq!(
            mount_view(Path::new("/")).unwrap(),
            MountView {
                host: true,
                here: true
            }
        );
    }

    #[test]
    fn a_line_is_matched_on_its_mount_point_field() {
        let info = "36 25 0:32 / /srv/ast\\040data rw,relatime shared:1 - ext4 /dev/drbd0 rw\n";
        assert!(listed(info, Path::new("/srv/ast data")));
        assert!(!listed(info, Path::new("/srv")));
    }
}
