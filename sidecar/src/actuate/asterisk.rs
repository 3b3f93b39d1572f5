//! The Asterisk service actuator (start/stop/status commands) and the readiness check the sequence waits on.
//!
//! Whether Asterisk is *ready* is not the service manager's call: the daemon answers it
//! over AMI (`FullyBooted`, then one call-path probe) by implementing [`AsteriskReadiness`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::command::{self, CommandError};
use super::config::{AsteriskServiceConfig, StandbyMode};

/// A boxed future, so the readiness check can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why Asterisk is not (yet) ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReadinessError(pub String);

/// How the sequence learns that the local Asterisk is up and carries calls.
pub trait AsteriskReadiness: Send + Sync {
    /// Resolve once Asterisk reports `FullyBooted`, or fail at `deadline`.
    fn wait_fully_booted(
        &self,
        deadline: tokio::time::Instant,
    ) -> BoxFuture<'_, Result<(), ReadinessError>>;
    /// Place one test call through the dialplan; resolves with its round-trip time.
    fn call_path_probe(&self) -> BoxFuture<'_, Result<Duration, ReadinessError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("`{command}` failed (exit {code:?}): {message}")]
    Failed {
        command: String,
        code: Option<i32>,
        message: String,
    },
    #[error("warm standby, but Asterisk is not running here (`{status_command}` says so)")]
    NotRunning { status_command: String },
}

/// Starts, stops and queries the local Asterisk through configured commands.
#[derive(Debug, Clone)]
pub struct AsteriskService {
    cfg: AsteriskServiceConfig,
}

impl AsteriskService {
    pub fn new(cfg: AsteriskServiceConfig) -> Self {
        AsteriskService { cfg }
    }

    pub fn mode(&self) -> StandbyMode {
        self.cfg.mode
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.command_timeout_ms)
    }

    /// Whether the service runs (status command exits 0).
    pub async fn is_active(&self) -> Result<bool, ServiceError> {
        Ok(command::run(&self.cfg.status_command, self.timeout())
            .await?
            .success())
    }

    async fn checked(&self, argv: &[String]) -> Result<(), ServiceError> {
        let out = command::run(argv, self.timeout()).await?;
        if out.success() {
            Ok(())
        } else {
            Err(ServiceError::Failed {
                command: argv.join(" "),
                code: out.code,
                message: out.last_words(),
            })
        }
    }

    /// Make sure Asterisk runs: start it (cold standby) unless it already does; in warm
    /// standby it must already run, and not running is an error.
    pub async fn ensure_running(&self) -> Result<(), ServiceError> {
        if self.is_active().await? {
            return Ok(());
        }
        match self.cfg.mode {
            StandbyMode::Cold => self.checked(&self.cfg.start_command).await,
            StandbyMode::Warm => Err(ServiceError::NotRunning {
                status_command: self.cfg.status_command.join(" "),
            }),
        }
    }

    /// Stop Asterisk on release (cold standby only; warm standby keeps it running).
    pub async fn ensure_released(&self) -> Result<(), ServiceError> {
        if self.cfg.mode == StandbyMode::Warm || !self.is_active().await? {
            return Ok(());
        }
        self.checked(&self.cfg.stop_command).await
    }
}
