//! DRBD promotion and demotion that cannot fork the data, the standby outdating itself when it is left behind, and the replicated file system's mount.
//!
//! The resource's state is read as data (`drbdsetup status <res> --json`, see [`state`]) before
//! and after every change: `drbdadm`'s exit status is not evidence (`drbdadm secondary` and
//! `down` exit 0 when nothing happened, on a host without the kernel module for one). Whether
//! a promotion is safe is decided by [`promotion::plan`] from that state and the fencing
//! evidence of the takeover; astha never promotes with `--force`.

mod mount;
pub mod promotion;
pub mod state;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::command::{self, CommandError, CommandOutput};
use super::config::DrbdConfig;
use super::fence::{FenceEvidence, HANDLER_WAIT};
pub use mount::{is_mounted, mount_view, MountView};
use promotion::{Plan, Refusal};
pub use state::{ConnectionState, DiskState, ResourceState, Role as DrbdRole, StateParseError};

#[derive(Debug, thiserror::Error)]
pub enum DrbdError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("`drbdsetup status {resource} --json` failed (exit {code:?}): {message}")]
    StatusQuery {
        resource: String,
        code: Option<i32>,
        message: String,
    },
    #[error("`drbdsetup status {resource} --json`: {source}")]
    StatusUnparsable {
        resource: String,
        #[source]
        source: StateParseError,
    },
    #[error("DRBD resource {resource}: {refusal}")]
    Refused { resource: String, refusal: Refusal },
    #[error("DRBD resource {resource}: peer {peer} is still Primary after {waited_ms} ms; it did not demote within the step's deadline")]
    PeerStillPrimary {
        resource: String,
        peer: String,
        waited_ms: u128,
    },
    #[error(
        "`drbdadm {action} {resource}` exited {code:?} but the resource is now {state}: {message}"
    )]
    NotEffective {
        action: &'static str,
        resource: String,
        code: Option<i32>,
        state: String,
        message: String,
    },
    #[error("`{command}` failed (exit {code:?}): {message}")]
    Mount {
        command: String,
        code: Option<i32>,
        message: String,
    },
    #[error("`{command}` exited {code:?} but {mountpoint} is {}mounted for the host: {message}", if *.mounted { "still " } else { "not " })]
    MountNotEffective {
        command: String,
        code: Option<i32>,
        mountpoint: String,
        mounted: bool,
        message: String,
    },
    #[error("{} is mounted in astha's own mount namespace only: the host and Asterisk do not see it. The service must not run astha in a private mount namespace (no ProtectSystem=, ProtectHome=, PrivateTmp=, ReadWritePaths=…; see contrib/systemd/astha.service)", .mountpoint.display())]
    MountInvisibleToHost { mountpoint: std::path::PathBuf },
    #[error("cannot read {path}: {source}")]
    MountInfo {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// One DRBD resource and its optional mount.
#[derive(Debug, Clone)]
pub struct Drbd {
    cfg: DrbdConfig,
    /// Consecutive readings in which this standby was left behind (see [`Drbd::observe`]).
    left_behind: Arc<AtomicU32>,
}

/// What one background reading found, for `astha status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrbdObservation {
    /// The role, or the error that kept it from being read.
    pub role: String,
    /// `Secondary UpToDate, pbx-b Connected Primary UpToDate`, or the error.
    pub summary: String,
    pub mounted: bool,
    /// Set when this reading outdated the local disk.
    pub outdated_now: Option<String>,
    /// The local disk was read as UpToDate (false when it could not be read).
    pub up_to_date: bool,
}

/// What a failed `drbdadm` says: the kernel's reason (`r0: State change failed: (-2) Need access
/// to UpToDate data`) rather than drbdadm's closing "Command … terminated with exit code 17".
fn drbdadm_says(out: &CommandOutput) -> String {
    out.stderr
        .lines()
        .map(str::trim)
        .find(|l| l.contains(": State change failed:") || l.contains(": Failure:"))
        .map(str::to_owned)
        .unwrap_or_else(|| out.last_words())
}

/// Readings in a row that must find the standby left behind before it outdates itself: one
/// reading may catch the peer's DRBD restarting or the moment the peer dies.
const LEFT_BEHIND_READINGS: u32 = 2;

impl Drbd {
    pub fn new(cfg: DrbdConfig) -> Self {
        Drbd {
            cfg,
            left_behind: Arc::default(),
        }
    }

    pub fn config(&self) -> &DrbdConfig {
        &self.cfg
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.command_timeout_ms)
    }

    /// How long `drbdadm primary` may take: DRBD may run the fence-peer handler inside it.
    fn primary_timeout(&self) -> Duration {
        self.timeout().max(HANDLER_WAIT + Duration::from_secs(5))
    }

    /// The time a promotion needs after the wait for a demoting peer: `drbdadm primary` and the
    /// state read after it. A step deadline should leave this much after `wait_until`.
    pub fn promotion_reserve(&self) -> Duration {
        self.primary_timeout() + self.timeout()
    }

    async fn drbdadm(&self, args: &[&str]) -> Result<CommandOutput, CommandError> {
        self.drbdadm_within(args, self.timeout()).await
    }

    async fn drbdadm_within(
        &self,
        args: &[&str],
        timeout: Duration,
    ) -> Result<CommandOutput, CommandError> {
        let mut argv = vec![self.cfg.drbdadm.to_string_lossy().into_owned()];
        argv.extend(args.iter().map(|a| a.to_string()));
        command::run(&argv, timeout).await
    }

    /// The resource's state, from `drbdsetup status <res> --json`.
    pub async fn state(&self) -> Result<ResourceState, DrbdError> {
        let argv = vec![
            self.cfg.drbdsetup.to_string_lossy().into_owned(),
            "status".to_owned(),
            self.cfg.resource.clone(),
            "--json".to_owned(),
        ];
        let out = command::run(&argv, self.timeout()).await?;
        if !out.success() {
            return Err(DrbdError::StatusQuery {
                resource: self.cfg.resource.clone(),
                code: out.code,
                message: out.last_words(),
            });
        }
        ResourceState::from_status_json(&out.stdout, &self.cfg.resource).map_err(|source| {
            DrbdError::StatusUnparsable {
                resource: self.cfg.resource.clone(),
                source,
            }
        })
    }

    /// The local role.
    pub async fn role(&self) -> Result<DrbdRole, DrbdError> {
        Ok(self.state().await?.role)
    }

    /// Becomes Primary when that cannot fork the data (see [`promotion::plan`]), waiting for a
    /// connected peer's demotion until `wait_until`. Returns how it went, for the journal.
    pub async fn promote(
        &self,
        evidence: &[FenceEvidence],
        wait_until: Instant,
    ) -> Result<String, DrbdError> {
        let started = Instant::now();
        let poll = Duration::from_millis(self.cfg.poll_interval_ms);
        let mut waited_for: Option<String> = None;
        loop {
            let state = self.state().await?;
            match promotion::plan(&state, evidence) {
                Plan::AlreadyPrimary => return Ok("already Primary".into()),
                Plan::Refuse(refusal) => {
                    return Err(DrbdError::Refused {
                        resource: self.cfg.resource.clone(),
                        refusal,
                    })
                }
                Plan::WaitForPeerDemotion { peer } => {
                    if Instant::now() + poll > wait_until {
                        return Err(DrbdError::PeerStillPrimary {
                            resource: self.cfg.resource.clone(),
                            peer,
                            waited_ms: started.elapsed().as_millis(),
                        });
                    }
                    if waited_for.is_none() {
                        tracing::info!(resource = %self.cfg.resource, %peer, "waiting for the peer to demote");
                    }
                    waited_for = Some(peer);
                    tokio::time::sleep(poll).await;
                }
                Plan::Promote { basis } => {
                    let out = self
                        .drbdadm_within(&["primary", &self.cfg.resource], self.primary_timeout())
                        .await?;
                    let after = self.state().await?;
                    if after.role != DrbdRole::Primary {
                        return Err(DrbdError::NotEffective {
                            action: "primary",
                            resource: self.cfg.resource.clone(),
                            code: out.code,
                            state: after.summary(),
                            message: drbdadm_says(&out),
                        });
                    }
                    let waited = waited_for
                        .map(|peer| {
                            format!(
                                "; waited {} ms for {peer} to demote",
                                started.elapsed().as_millis()
                            )
                        })
                        .unwrap_or_default();
                    return Ok(format!("promoted: {basis}{waited}"));
                }
            }
        }
    }

    /// Becomes Secondary (idempotent), verified by reading the state back.
    pub async fn demote(&self) -> Result<(), DrbdError> {
        if self.role().await? == DrbdRole::Secondary {
            return Ok(());
        }
        let out = self.drbdadm(&["secondary", &self.cfg.resource]).await?;
        let after = self.state().await?;
        if after.role == DrbdRole::Secondary {
            Ok(())
        } else {
            Err(DrbdError::NotEffective {
                action: "secondary",
                resource: self.cfg.resource.clone(),
                code: out.code,
                state: after.summary(),
                message: drbdadm_says(&out),
            })
        }
    }

    /// Marks the local disk Outdated (`drbdadm outdate`), verified by reading the state back.
    pub async fn outdate(&self) -> Result<(), DrbdError> {
        let out = self.drbdadm(&["outdate", &self.cfg.resource]).await?;
        let after = self.state().await?;
        if after.worst_disk() <= DiskState::Outdated {
            Ok(())
        } else {
            Err(DrbdError::NotEffective {
                action: "outdate",
                resource: self.cfg.resource.clone(),
                code: out.code,
                state: after.summary(),
                message: drbdadm_says(&out),
            })
        }
    }

    /// One background reading for `astha status`. On a standby that hears an active peer while
    /// DRBD cannot reach it (reading after reading), the peer goes on writing without this
    /// node: the local disk is outdated, so that it is never promoted with stale data — this is
    /// what the active's `fence-peer` answer "peer outdated" relies on.
    pub async fn observe(&self, peer_active_and_heard: bool) -> DrbdObservation {
        let mounted = self
            .cfg
            .mount
            .as_ref()
            .is_some_and(|m| is_mounted(&m.mountpoint).unwrap_or(false));
        let state = match self.state().await {
            Ok(state) => state,
            Err(e) => {
                self.left_behind.store(0, Ordering::Relaxed);
                return DrbdObservation {
                    role: "unknown".into(),
                    summary: format!("error: {e}"),
                    mounted,
                    outdated_now: None,
                    up_to_date: false,
                };
            }
        };
        let left_behind = peer_active_and_heard
            && state.role == DrbdRole::Secondary
            && state.worst_disk() >= DiskState::Consistent
            && state.connections.iter().any(|c| !c.is_connected());
        let mut outdated_now = None;
        if !left_behind {
            self.left_behind.store(0, Ordering::Relaxed);
        } else if self.left_behind.fetch_add(1, Ordering::Relaxed) + 1 >= LEFT_BEHIND_READINGS {
            let why = format!(
                "the active peer is heard on the peer link but DRBD cannot reach it ({}): it writes without this node",
                state.summary()
            );
            match self.outdate().await {
                Ok(()) => {
                    tracing::warn!(resource = %self.cfg.resource, "local disk outdated: {why}");
                    outdated_now = Some(why);
                }
                Err(e) => {
                    tracing::error!(resource = %self.cfg.resource, error = %e, "could not outdate the local disk although {why}")
                }
            }
            self.left_behind.store(0, Ordering::Relaxed);
        }
        let state = if outdated_now.is_some() {
            self.state().await.unwrap_or(state)
        } else {
            state
        };
        DrbdObservation {
            role: state.role.to_string(),
            summary: state.summary(),
            mounted,
            outdated_now,
            up_to_date: state.worst_disk() == DiskState::UpToDate,
        }
    }

    /// Mounts the replicated file system when configured (idempotent).
    pub async fn mount(&self) -> Result<(), DrbdError> {
        match &self.cfg.mount {
            Some(m) => mount::mount(m).await,
            None => Ok(()),
        }
    }

    /// Unmounts when configured (idempotent).
    pub async fn umount(&self) -> Result<(), DrbdError> {
        match &self.cfg.mount {
            Some(m) => mount::umount(m).await,
            None => Ok(()),
        }
    }
}
