//! DRBD promotion/demotion through `drbdadm` and mounting the replicated file system, verified by reading state back.
//!
//! `drbdadm`'s exit status is not evidence: `drbdadm secondary` and `down` exit 0 even when
//! nothing happened (no kernel module, for one). So every change is followed by
//! `drbdadm role <res>` and, for mounts, a look at `/proc/self/mountinfo`.

use std::path::Path;
use std::time::Duration;

use super::command::{self, CommandError, CommandOutput};
use super::config::{DrbdConfig, MountConfig};

/// The local role of a DRBD resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrbdRole {
    Primary,
    Secondary,
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum DrbdError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("`drbdadm role {resource}` failed (exit {code:?}): {message}")]
    RoleQuery {
        resource: String,
        code: Option<i32>,
        message: String,
    },
    #[error("`drbdadm role {resource}` printed {output:?}, not a role")]
    RoleUnparsable { resource: String, output: String },
    #[error(
        "`drbdadm {action} {resource}` exited {code:?} but the role is still {role:?}: {message}"
    )]
    NotEffective {
        action: &'static str,
        resource: String,
        code: Option<i32>,
        role: DrbdRole,
        message: String,
    },
    #[error("`{command}` failed (exit {code:?}): {message}")]
    Mount {
        command: String,
        code: Option<i32>,
        message: String,
    },
    #[error("`{command}` exited {code:?} but {mountpoint} is {}mounted", if *.mounted { "still " } else { "not " })]
    MountNotEffective {
        command: String,
        code: Option<i32>,
        mountpoint: String,
        mounted: bool,
    },
    #[error("cannot read /proc/self/mountinfo: {0}")]
    MountInfo(std::io::Error),
}

/// One DRBD resource and its optional mount.
#[derive(Debug, Clone)]
pub struct Drbd {
    cfg: DrbdConfig,
}

impl Drbd {
    pub fn new(cfg: DrbdConfig) -> Self {
        Drbd { cfg }
    }

    pub fn config(&self) -> &DrbdConfig {
        &self.cfg
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.command_timeout_ms)
    }

    async fn drbdadm(&self, args: &[&str]) -> Result<CommandOutput, CommandError> {
        let mut argv = vec![self.cfg.drbdadm.to_string_lossy().into_owned()];
        argv.extend(args.iter().map(|a| a.to_string()));
        command::run(&argv, self.timeout()).await
    }

    /// The local role, read from `drbdadm role` (DRBD 9 prints `Primary`; 8.4 printed
    /// `Primary/Secondary`, local first).
    pub async fn role(&self) -> Result<DrbdRole, DrbdError> {
        let out = self.drbdadm(&["role", &self.cfg.resource]).await?;
        if !out.success() {
            return Err(DrbdError::RoleQuery {
                resource: self.cfg.resource.clone(),
                code: out.code,
                message: out.last_words(),
            });
        }
        let first = out
            .stdout
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        match first.split('/').next().unwrap_or_default() {
            "Primary" => Ok(DrbdRole::Primary),
            "Secondary" => Ok(DrbdRole::Secondary),
            "Unknown" => Ok(DrbdRole::Unknown),
            _ => Err(DrbdError::RoleUnparsable {
                resource: self.cfg.resource.clone(),
                output: first.to_owned(),
            }),
        }
    }

    /// Become primary (idempotent), verified by `drbdadm role`.
    pub async fn promote(&self) -> Result<(), DrbdError> {
        if self.role().await? == DrbdRole::Primary {
            return Ok(());
        }
        let mut args = vec!["primary"];
        if self.cfg.force_primary {
            args.push("--force");
        }
        args.push(&self.cfg.resource);
        let out = self.drbdadm(&args).await?;
        let role = self.role().await?;
        if role == DrbdRole::Primary {
            Ok(())
        } else {
            Err(DrbdError::NotEffective {
                action: "primary",
                resource: self.cfg.resource.clone(),
                code: out.code,
                role,
                message: out.last_words(),
            })
        }
    }

    /// Become secondary (idempotent), verified by `drbdadm role`.
    pub async fn demote(&self) -> Result<(), DrbdError> {
        if self.role().await? == DrbdRole::Secondary {
            return Ok(());
        }
        let out = self.drbdadm(&["secondary", &self.cfg.resource]).await?;
        let role = self.role().await?;
        if role == DrbdRole::Secondary {
            Ok(())
        } else {
            Err(DrbdError::NotEffective {
                action: "secondary",
                resource: self.cfg.resource.clone(),
                code: out.code,
                role,
                message: out.last_words(),
            })
        }
    }

    /// Mount the replicated file system when configured (idempotent).
    pub async fn mount(&self) -> Result<(), DrbdError> {
        let Some(m) = &self.cfg.mount else {
            return Ok(());
        };
        if m.verify && is_mounted(&m.mountpoint)? {
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
        self.run_mount(m, argv, true).await
    }

    /// Unmount when configured (idempotent).
    pub async fn umount(&self) -> Result<(), DrbdError> {
        let Some(m) = &self.cfg.mount else {
            return Ok(());
        };
        if m.verify && !is_mounted(&m.mountpoint)? {
            return Ok(());
        }
        let mut argv = m.umount_command.clone();
        argv.push(m.mountpoint.to_string_lossy().into_owned());
        self.run_mount(m, argv, false).await
    }

    async fn run_mount(
        &self,
        m: &MountConfig,
        argv: Vec<String>,
        want_mounted: bool,
    ) -> Result<(), DrbdError> {
        let shown = argv.join(" ");
        let out = command::run(&argv, Duration::from_millis(m.timeout_ms)).await?;
        if m.verify {
            let mounted = is_mounted(&m.mountpoint)?;
            if mounted != want_mounted {
                return Err(DrbdError::MountNotEffective {
                    command: shown,
                    code: out.code,
                    mountpoint: m.mountpoint.display().to_string(),
                    mounted,
                });
            }
            Ok(())
        } else if out.success() {
            Ok(())
        } else {
            Err(DrbdError::Mount {
                command: shown,
                code: out.code,
                message: out.last_words(),
            })
        }
    }
}

/// Whether something is mounted exactly at `mountpoint`, per `/proc/self/mountinfo`.
pub fn is_mounted(mountpoint: &Path) -> Result<bool, DrbdError> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").map_err(DrbdError::MountInfo)?;
    let wanted = std::fs::canonicalize(mountpoint).unwrap_or_else(|_| mountpoint.to_path_buf());
    let wanted = wanted.to_string_lossy();
    Ok(info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|field| unescape_mountinfo(field) == wanted))
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
    fn root_is_mounted() {
        assert!(is_mounted(Path::new("/")).unwrap());
    }
}
