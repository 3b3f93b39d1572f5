//! Health probes of an Asterisk target: one module per probe kind, a sans-IO scheduler and monitor, and their tokio driver.

pub mod ami;
pub mod ari;
mod kind;
pub mod monitor;
pub mod oneshot;
mod outcome;
pub mod runner;
pub mod schedule;
pub mod sim;
pub mod sip;
pub mod snapshot;
pub mod target;
mod unique;

pub use kind::ProbeKind;
pub use monitor::{Monitor, Output};
pub use outcome::{ProbeError, ProbeOutcome};
pub use runner::{
    spawn_monitor, MonitorEvent, MonitorHandle, ProbeBackend, ProbeFuture, ProbeStatus,
    TargetSignal, TargetStatus,
};
pub use schedule::{RunId, Schedule, StartProbe};
pub use target::{TargetMonitor, TargetProbes};
