//! The PSTN relay: one blocking trait for every device, its typed errors, and an async handle that runs it off the runtime.
//!
//! The relay is the fence of the pair: whichever side holds the circuits is the one the PSTN
//! reaches. Drivers talk to devices with plain blocking I/O and short device timeouts;
//! [`RelayHandle`] moves every call to a blocking thread and bounds it with a deadline, so a
//! stuck device can never stall the async runtime.

mod berofos;
mod berofos_kick;
mod lcus;
mod line_profile;
mod numato;
mod serial_link;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use berofos::BerofosRelay;
pub use lcus::LcusRelay;
pub use line_profile::LineProfileRelay;
pub use numato::NumatoRelay;

use super::config::RelayConfig;
use crate::side::Side;

/// What a relay device can do besides switching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayCapabilities {
    /// The device can report its current position.
    pub read_back: bool,
    /// The device has a watchdog of its own that must be kicked (configured to be used).
    pub watchdog: Option<DeviceWatchdog>,
}

/// A relay's own watchdog: a fence that needs no software on a dead node. The node holding the
/// calls on the side the watchdog guards kicks it; when the kicks stop (that node died, hung or
/// was cut off from the device), the device moves the circuits to `falls_back_to` by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceWatchdog {
    /// Where the device puts the circuits when nobody kicks it.
    pub falls_back_to: Side,
    /// How often the node holding the calls on the other side kicks it.
    pub kick_every: Duration,
}

impl DeviceWatchdog {
    /// The side whose node keeps the watchdog alive.
    pub fn guards(&self) -> Side {
        self.falls_back_to.other()
    }
}

/// A device watchdog's state, as the device reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogState {
    /// Not running (never switched on, or switched off because the circuits are on the side it
    /// falls back to anyway).
    Off,
    /// Running: it falls back unless kicked within `remaining_s` seconds (when the device says).
    Running { remaining_s: Option<u32> },
    /// It expired and the device fell back by itself; it stays so until switched on again.
    Expired,
}

impl WatchdogState {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchdogState::Off => "off",
            WatchdogState::Running { .. } => "running",
            WatchdogState::Expired => "expired",
        }
    }
}

/// A PSTN relay. Methods block (device I/O with device timeouts); call them through
/// [`RelayHandle`] from async code.
pub trait Relay: Send + fmt::Debug {
    /// A short human description: driver and device, for logs and status.
    fn describe(&self) -> String;
    fn capabilities(&self) -> RelayCapabilities;
    /// Switch the circuits to `side`. Idempotent: selecting the current side succeeds.
    fn select(&mut self, side: Side) -> Result<(), RelayError>;
    /// The side the circuits are on, or `None` when the device cannot tell.
    fn read_side(&mut self) -> Result<Option<Side>, RelayError>;
    /// Kick the device watchdog; a no-op for devices without one.
    fn kick_watchdog(&mut self) -> Result<(), RelayError>;
    /// The device watchdog's state, when the device can tell.
    fn read_watchdog(&mut self) -> Result<Option<WatchdogState>, RelayError> {
        Ok(None)
    }
    /// Ask the device who it is (version, status page): a health check of the link.
    fn identify(&mut self) -> Result<String, RelayError>;
}

/// Why a relay operation failed. Every variant names the device or command involved.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot open relay device {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: serialport::Error,
    },
    #[error("relay device did not answer `{command}` within {} ms", waited.as_millis())]
    Timeout { command: String, waited: Duration },
    #[error("relay device disconnected ({detail})")]
    Unplugged { detail: String },
    #[error("relay device I/O error during `{command}`: {source}")]
    Io {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("relay device answered `{command}` with unexpected {reply:?}")]
    UnexpectedReply { command: String, reply: String },
    #[error("relay device refused `{command}`: {reply:?}")]
    DeviceError { command: String, reply: String },
    #[error("relay channels disagree: {detail}")]
    Inconsistent { detail: String },
    #[error("relay did not move: asked for side {wanted}, device reports {}", got.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into()))]
    VerifyFailed { wanted: Side, got: Option<Side> },
    #[error("relay HTTP request `{request}` failed: {detail}")]
    Http { request: String, detail: String },
    #[error("relay configuration invalid: {0}")]
    Config(String),
    #[error("relay operation did not finish within {} ms", .0.as_millis())]
    Deadline(Duration),
    #[error("relay driver thread failed: {0}")]
    Internal(String),
}

/// Build the driver a configuration names. Opening the device is deferred to the first
/// command, so a missing device is reported by that command (and retried by later ones).
pub fn build_relay(cfg: &RelayConfig) -> Result<Box<dyn Relay>, RelayError> {
    Ok(match cfg {
        RelayConfig::Numato(c) => Box::new(NumatoRelay::new(c.clone())?),
        RelayConfig::Lcus(c) => Box::new(LcusRelay::new(c.clone())?),
        RelayConfig::LineProfile(c) => Box::new(LineProfileRelay::new((**c).clone())?),
        RelayConfig::Berofos(c) => Box::new(BerofosRelay::new(c.clone())?),
    })
}

/// An async, cloneable handle on one relay. Calls are serialised (one device, one
/// conversation at a time) and each runs on a blocking thread under a deadline.
#[derive(Clone)]
pub struct RelayHandle {
    inner: Arc<Mutex<Box<dyn Relay>>>,
    description: Arc<str>,
    capabilities: RelayCapabilities,
}

impl fmt::Debug for RelayHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayHandle")
            .field("device", &self.description)
            .finish()
    }
}

impl RelayHandle {
    pub fn new(relay: Box<dyn Relay>) -> Self {
        let description = relay.describe().into();
        let capabilities = relay.capabilities();
        RelayHandle {
            inner: Arc::new(Mutex::new(relay)),
            description,
            capabilities,
        }
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    pub fn capabilities(&self) -> RelayCapabilities {
        self.capabilities
    }

    pub async fn select(&self, side: Side, deadline: Duration) -> Result<(), RelayError> {
        self.run(deadline, move |r| r.select(side)).await
    }

    pub async fn read_side(&self, deadline: Duration) -> Result<Option<Side>, RelayError> {
        self.run(deadline, |r| r.read_side()).await
    }

    pub async fn kick_watchdog(&self, deadline: Duration) -> Result<(), RelayError> {
        self.run(deadline, |r| r.kick_watchdog()).await
    }

    pub async fn read_watchdog(
        &self,
        deadline: Duration,
    ) -> Result<Option<WatchdogState>, RelayError> {
        self.run(deadline, |r| r.read_watchdog()).await
    }

    pub async fn identify(&self, deadline: Duration) -> Result<String, RelayError> {
        self.run(deadline, |r| r.identify()).await
    }

    async fn run<T, F>(&self, deadline: Duration, op: F) -> Result<T, RelayError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Relay) -> Result<T, RelayError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let job = tokio::task::spawn_blocking(move || {
            // A panic in an earlier call poisons the lock; the device state is still usable
            // (drivers reopen on error), so take the guard back instead of failing forever.
            let mut guard = inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            op(guard.as_mut())
        });
        match tokio::time::timeout(deadline, job).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(RelayError::Internal(join.to_string())),
            // The blocking call keeps running until its device timeout; its result is dropped.
            Err(_) => Err(RelayError::Deadline(deadline)),
        }
    }
}

/// Relay channel positions for a side, given which side the energised coil selects.
pub(crate) fn coil_on_for(side: Side, energized_side: Side) -> bool {
    side == energized_side
}

/// The side a coil position means.
pub(crate) fn side_for_coil(on: bool, energized_side: Side) -> Side {
    if on {
        energized_side
    } else {
        energized_side.other()
    }
}

/// Combine per-channel positions (all channels must agree).
pub(crate) fn agree(
    positions: &[(u8, bool)],
    energized_side: Side,
) -> Result<Option<Side>, RelayError> {
    let Some(&(_, first)) = positions.first() else {
        return Ok(None);
    };
    if positions.iter().all(|&(_, on)| on == first) {
        Ok(Some(side_for_coil(first, energized_side)))
    } else {
        let detail = positions
            .iter()
            .map(|(ch, on)| format!("channel {ch} {}", if *on { "on" } else { "off" }))
            .collect::<Vec<_>>()
            .join(", ");
        Err(RelayError::Inconsistent { detail })
    }
}
