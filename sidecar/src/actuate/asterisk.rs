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

    /// Cold standby: whether Asterisk could be started here now (the configured
    /// `cold_start_check` exits 0), else why not, in words.
    pub async fn cold_start_check(&self) -> Result<(), String> {
        let argv = &self.cfg.cold_start_check;
        // A short deadline: the check runs about once a second.
        let timeout = self.timeout().min(Duration::from_secs(5));
        match command::run(argv, timeout).await {
            Ok(out) if out.success() => Ok(()),
            Ok(out) => Err(format!(
                "`{}` exited {:?}: {}",
                argv.join(" "),
                out.code,
                out.last_words()
            )),
            Err(e) => Err(e.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn service(mode: StandbyMode, flag: &std::path::Path) -> AsteriskService {
        let sh = |script: String| vec!["sh".to_owned(), "-c".to_owned(), script];
        AsteriskService::new(AsteriskServiceConfig {
            mode,
            start_command: sh(format!("touch '{}'", flag.display())),
            stop_command: sh(format!("rm -f '{}'", flag.display())),
            status_command: sh(format!("test -f '{}'", flag.display())),
            cold_start_check: vec!["true".to_owned()],
            command_timeout_ms: 5_000,
        })
    }

    fn flag(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("astha-svc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[tokio::test]
    async fn cold_standby_starts_and_stops_idempotently() {
        let flag = flag("cold");
        let svc = service(StandbyMode::Cold, &flag);
        assert!(!svc.is_active().await.unwrap());
        svc.ensure_running().await.unwrap();
        svc.ensure_running().await.unwrap();
        assert!(svc.is_active().await.unwrap());
        svc.ensure_released().await.unwrap();
        svc.ensure_released().await.unwrap();
        assert!(!flag.exists());
    }

    #[tokio::test]
    async fn warm_standby_never_starts_or_stops_asterisk() {
        let flag = flag("warm");
        let svc = service(StandbyMode::Warm, &flag);
        let err = svc.ensure_running().await.unwrap_err();
        assert!(matches!(err, ServiceError::NotRunning { .. }), "{err}");
        assert!(!flag.exists(), "warm standby must not start Asterisk");
        std::fs::write(&flag, b"").unwrap();
        svc.ensure_running().await.unwrap();
        svc.ensure_released().await.unwrap();
        assert!(
            flag.exists(),
            "warm standby keeps Asterisk running on release"
        );
        let _ = std::fs::remove_file(&flag);
    }

    #[tokio::test]
    async fn the_cold_start_check_says_why_it_fails() {
        let flag = flag("check");
        assert_eq!(
            service(StandbyMode::Cold, &flag).cold_start_check().await,
            Ok(())
        );
        let svc = AsteriskService::new(AsteriskServiceConfig {
            cold_start_check: vec![
                "sh".into(),
                "-c".into(),
                "echo 'asterisk: not found' >&2; exit 127".into(),
            ],
            ..AsteriskServiceConfig::default()
        });
        let err = svc.cold_start_check().await.unwrap_err();
        assert!(
            err.contains("asterisk: not found") && err.contains("127"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_failing_start_command_is_reported_with_its_output() {
        let svc = AsteriskService::new(AsteriskServiceConfig {
            start_command: vec![
                "sh".into(),
                "-c".into(),
                "echo 'Job for asterisk.service failed' >&2; exit 1".into(),
            ],
            status_command: vec!["false".into()],
            ..AsteriskServiceConfig::default()
        });
        let err = svc.ensure_running().await.unwrap_err();
        assert!(
            err.to_string().contains("Job for asterisk.service failed"),
            "{err}"
        );
    }
}
