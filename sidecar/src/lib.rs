//! astha: the sidecar library behind the `astha` binary (probes, peer link, decision core, actuators, control API).

pub mod node;
pub mod verdict;
pub mod decide;
pub mod peer;
