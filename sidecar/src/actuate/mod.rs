//! Actuators: the effects of a takeover or release (relay, DRBD, floating IP, Asterisk service), the fencing evidence DRBD relies on, and the ordered, audited sequence that applies them.
//!
//! Each actuator sits behind a small type or trait and is idempotent: applying a step that is
//! already in effect succeeds without doing anything. Blocking device I/O (serial relays,
//! the berofos HTTP client) runs on blocking threads, never on the async runtime.

pub mod asterisk;
pub mod audit;
pub mod command;
pub mod config;
pub mod drbd;
pub mod fence;
pub mod floating_ip;
mod garp;
#[cfg(feature = "test-support")]
pub mod netns;
pub mod relay;
pub mod sequence;

pub use asterisk::{AsteriskReadiness, AsteriskService, ReadinessError};
pub use audit::{AuditJournal, AuditRecord};
pub use config::ActuateConfig;
pub use drbd::{Drbd, DrbdRole};
pub use fence::{FenceEvidence, FenceLedger, FenceVerdict};
pub use floating_ip::FloatingIp;
pub use relay::{Relay, RelayError, RelayHandle};
pub use sequence::{
    Actuators, SequenceOutcome, SequenceRunner, StepKind, StepTiming, TakeoverCanceller,
};
