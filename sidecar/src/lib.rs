//! astha: the sidecar library behind the `astha` binary (probes, peer link, decision core, actuators, control API).

pub mod control;
pub mod metrics;
pub mod node;
pub mod sd_notify;
pub mod status;
pub mod verdict;
