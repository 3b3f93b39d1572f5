//! astha: the sidecar library behind the `astha` binary (probes, peer link, decision core, actuators, control API).

pub mod decide;
pub mod node;
pub mod peer;
pub mod verdict;
