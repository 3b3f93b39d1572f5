//! Health verdicts with hysteresis (sans-IO): probe outcomes and lifecycle events in, verdict changes with evidence out.

mod target_health;
mod track;

pub use target_health::{Evidence, Lifecycle, TargetHealth, TargetObservation, VerdictChange};
pub use track::{ProbeState, ProbeTrack};
