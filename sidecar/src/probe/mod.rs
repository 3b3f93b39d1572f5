//! Health probes of an Asterisk target: one module per probe kind, a sans-IO scheduler and monitor, and their tokio driver.
//!
//! The daemon starts one [`TargetMonitor`] per Asterisk (its own and its peer's):
//!
//! ```no_run
//! # async fn demo(config: astha::config::Config) {
//! use astha::config::TargetRole;
//! use astha::probe::{MonitorEvent, TargetMonitor};
//!
//! let local = TargetMonitor::start("local", config.target(TargetRole::Local), &config.probes);
//! let peer = TargetMonitor::start("peer", config.target(TargetRole::Peer), &config.probes);
//! let mut verdicts = local.handle().status(); // watch: verdict, since, last change, per-probe state
//! let mut events = peer.handle().events(); // broadcast: every outcome and verdict change
//! verdicts.changed().await.ok();
//! if let Ok(MonitorEvent::Verdict(change)) = events.recv().await {
//!     println!("peer: {} -> {} ({})", change.from, change.to, change.evidence);
//! }
//! let report = local.report("local"); // astha::status::TargetStatus for `astha status`
//! # let _ = report;
//! # }
//! ```
//!
//! Layers, from pure to I/O: [`schedule`] (which run is due, deadlines) and
//! [`crate::health`] (hysteresis, verdicts) combine into [`monitor::Monitor`], which
//! `monitor_sim` (with the `test-support` feature) drives on simulated time and [`runner`]
//! drives with tokio against a [`ProbeBackend`]; [`target_monitor::TargetProbes`] is the real backend
//! ([`ami`], [`sip`], [`ari`]).

pub mod ami;
pub mod ari;
pub mod boot;
mod kind;
pub mod lag;
pub mod monitor;
#[cfg(feature = "test-support")]
pub mod monitor_sim;
pub mod monitored;
pub mod oneshot;
mod outcome;
pub mod runner;
pub mod schedule;
pub mod shared_silence;
pub mod sip;
pub mod starvation;
pub mod target_monitor;
mod unique;

pub use kind::ProbeKind;
pub use monitor::{Monitor, MonitorOutput};
pub use monitored::{MonitoredProbe, MonitoredTarget, SchedulingLag};
pub use outcome::{ProbeError, ProbeOutcome};
pub use runner::{
    spawn_monitor, MonitorEvent, MonitorHandle, ProbeBackend, ProbeFuture, TargetSignal,
};
pub use schedule::{ProbeSchedule, RunId, StartProbe};
pub use target_monitor::{TargetMonitor, TargetProbes};
