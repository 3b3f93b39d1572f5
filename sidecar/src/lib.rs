//! astha: the sidecar library behind the `astha` binary (probes, peer link, decision core, actuators, control API).

pub mod cli;
pub mod config;
pub mod health;
pub mod node;
pub mod probe;
pub mod verdict;
