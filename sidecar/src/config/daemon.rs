//! The daemon's own sections: peer link, decision tunables, actuators, control socket, metrics, state.
//!
//! These are read with serde (`deny_unknown_fields`) from the same file as the rest of the
//! configuration; a mistake is reported with its key and line like every other problem.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use crate::actuate::ActuateConfig;
use crate::side::Side;

/// Top-level tables handled here (the hand-written reader must not call them unknown).
pub(crate) const SECTIONS: [&str; 7] = [
    "peer_link",
    "decide",
    "actuate",
    "control",
    "metrics",
    "state",
    "dialplan",
];

/// Everything `astha run` needs beyond the probes.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DaemonConfig {
    #[serde(default)]
    pub peer_link: Option<PeerLinkConfig>,
    #[serde(default)]
    pub decide: DecideSection,
    #[serde(default)]
    pub actuate: ActuateConfig,
    #[serde(default)]
    pub control: ControlConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub dialplan: DialplanConfig,
}

/// `[peer_link]`: authenticated datagrams to the other sidecar over one or more links.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerLinkConfig {
    /// Shared key file (≥ 32 bytes, mode 0600 or 0400), the same on both servers.
    pub key_file: PathBuf,
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    /// Silence on every link after which the peer counts as silent.
    #[serde(default = "default_dead_after_ms")]
    pub dead_after_ms: u64,
    pub links: Vec<LinkConfig>,
}

/// One path to the peer, e.g. the LAN and a crossover cable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    pub name: String,
    /// Where this node listens.
    pub local: SocketAddr,
    /// Where the peer listens on this link.
    pub remote: SocketAddr,
}

/// `[decide]`: decision tunables (defaults are tuned for sub-second takeover).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecideSection {
    /// Minimum time between two automatic, non-emergency switches.
    pub hold_down_ms: u64,
    /// Side that takes the calls when both are healthy and nobody is active yet.
    #[serde(deserialize_with = "side")]
    pub preferred: Side,
    /// Move the calls back to the preferred side once it is healthy again (off by default).
    pub failback: bool,
    /// An address that must answer before a takeover from a silent peer (e.g. the gateway).
    pub witness: Option<std::net::IpAddr>,
}

impl Default for DecideSection {
    fn default() -> Self {
        DecideSection {
            hold_down_ms: 10_000,
            preferred: Side::A,
            failback: false,
            witness: None,
        }
    }
}

/// `[control]`: the local API socket used by the CLI.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    pub socket: PathBuf,
    /// Group allowed to use the CLI (socket mode 0660); root only when unset.
    pub group: Option<String>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
            group: None,
        }
    }
}

/// Where the CLI looks for the daemon unless told otherwise.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/astha/control.sock";

/// `[metrics]`: Prometheus text format over HTTP; off unless `listen` is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub listen: Option<SocketAddr>,
    pub allow_non_loopback: bool,
}

/// `[state]`: where the term, the boot epoch and the takeover journal live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from("/var/lib/astha"),
        }
    }
}

/// `[dialplan]`: failover requested from a phone through `UserEvent(HAFailover)`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialplanConfig {
    pub failover_event: bool,
    /// At most one dialplan-triggered failover per this many milliseconds.
    pub min_interval_ms: u64,
}

impl Default for DialplanConfig {
    fn default() -> Self {
        DialplanConfig {
            failover_event: true,
            min_interval_ms: 60_000,
        }
    }
}

fn default_interval_ms() -> u64 {
    200
}

fn default_dead_after_ms() -> u64 {
    600
}

fn side<'de, D: Deserializer<'de>>(d: D) -> Result<Side, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

impl DaemonConfig {
    /// Makes relative paths relative to the configuration file's directory, like `secret_file`.
    pub(crate) fn resolve_paths(&mut self, base: &std::path::Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(link) = &mut self.peer_link {
            fix(&mut link.key_file);
        }
        fix(&mut self.control.socket);
        fix(&mut self.state.dir);
        if let Some(journal) = &mut self.actuate.sequence.journal {
            fix(journal);
        }
    }

    /// Checks that need several fields at once.
    pub(crate) fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(p) = &self.peer_link {
            if p.links.is_empty() {
                problems.push((
                    "peer_link.links".into(),
                    "at least one link is needed".into(),
                ));
            }
            if p.interval_ms == 0 || p.dead_after_ms < 2 * p.interval_ms {
                problems.push((
                    "peer_link.dead_after_ms".into(),
                    format!(
                        "must be at least twice interval_ms ({} ms), or one lost datagram looks like a dead peer",
                        p.interval_ms
                    ),
                ));
            }
        }
        problems
    }
}

/// Parses the daemon sections out of the whole file (serde ignores the other top-level tables):
/// `Err((message, byte span))` on a mistake.
pub(crate) fn parse(text: &str) -> Result<DaemonConfig, (String, std::ops::Range<usize>)> {
    toml::from_str::<DaemonConfig>(text)
        .map_err(|e| (e.message().trim().to_string(), e.span().unwrap_or(0..0)))
}
