//! Health verdicts with hysteresis (sans-IO): probe outcomes and lifecycle events in, verdict changes with evidence out.

mod target;
mod track;

pub use target::{Evidence, Lifecycle, Observation, TargetHealth, VerdictChange};
pub use track::{ProbeState, ProbeTrack};
