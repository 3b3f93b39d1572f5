//! astha: the sidecar library behind the `astha` binary (probes, peer link, decision core, actuators, control API).

pub mod actuate;
pub mod alerts;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod decide;
pub mod doctor;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod peer;
pub mod probe;
pub mod sd_notify;
pub mod side;
pub mod status;
pub mod verdict;
pub mod wall_clock;
pub mod witness;
