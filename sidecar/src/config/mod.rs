//! The astha configuration file (TOML): loading, validation with every problem reported by key and line.
//!
//! One reader reads the whole file (`config::reader`): TOML's spanned tree, walked section by
//! section by typed getters that record every problem (file, line, column, dotted key) and
//! keep going, so `astha check-config` lists all mistakes at once; every key nobody read is
//! reported as unknown. Each top-level section lives in its own module (the actuators' in
//! [`crate::actuate::config`]); adding a section means a type with a `FromSection` impl, a field
//! on [`Config`] and one line in [`parse_with`].

mod address;
mod asterisk;
mod cross_checks;
pub mod daemon;
mod node;
mod probes;
pub(crate) mod problem;
pub(crate) mod reader;
pub(crate) mod secret;

use std::path::{Path, PathBuf};

pub use address::{HostPort, HttpUrl};
pub use asterisk::{AmiEndpoint, AriEndpoint, AsteriskCgroup, AsteriskTarget, SipEndpoint};
pub use daemon::{DaemonConfig, DEFAULT_CONTROL_SOCKET};
pub use node::NodeConfig;
pub use probes::{default_timing, CoreMethod, ProbeTiming, ProbesConfig, AMI_BUDGET_PER_SECOND};
pub use problem::{Problem, ProblemSeverity};
pub use secret::{Secret, SecretError, SecretResolver, SecretSource, SystemSecrets};

use crate::alerts::AlertsConfig;
use crate::side::Side;
use problem::Problems;
use reader::Section;

/// Where the daemon and the CLI look for the configuration unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/astha/astha.toml";

/// The whole configuration of one node.
#[derive(Debug, Clone)]
pub struct Config {
    /// This server's side and name, and the peer's name.
    pub node: NodeConfig,
    /// The Asterisk on side A and on side B.
    pub asterisk_a: AsteriskTarget,
    pub asterisk_b: AsteriskTarget,
    pub probes: ProbesConfig,
    /// Peer link, decision tunables, actuators, control socket, metrics, state directory.
    pub daemon: DaemonConfig,
    /// Where alert events go (`[alerts]`, see [`crate::alerts`]).
    pub alerts: AlertsConfig,
}

/// Which of the two Asterisk instances, seen from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetRole {
    Local,
    Peer,
}

impl Config {
    pub fn asterisk(&self, side: Side) -> &AsteriskTarget {
        match side {
            Side::A => &self.asterisk_a,
            Side::B => &self.asterisk_b,
        }
    }

    /// The Asterisk on this node (`Local`) or on the peer (`Peer`).
    pub fn target(&self, role: TargetRole) -> &AsteriskTarget {
        match role {
            TargetRole::Local => self.asterisk(self.node.side),
            TargetRole::Peer => self.asterisk(self.node.side.other()),
        }
    }

    /// Reads, validates and resolves secrets. Warnings are returned alongside the config.
    pub fn load(path: &Path) -> Result<(Config, Vec<Problem>), ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        parse_with(&text, base, &SystemSecrets).map_err(|problems| ConfigFileError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read configuration {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {} error(s):\n{}", problems.iter().filter(|p| p.severity == ProblemSeverity::Error).count(), render(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn render(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {}:{p}", path.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses configuration text. Relative secret files are taken from `base_dir`.
///
/// On success returns the config and any warnings; on failure returns every problem found
/// (errors and warnings), sorted by line.
pub fn parse_with(
    text: &str,
    base_dir: &Path,
    resolver: &dyn SecretResolver,
) -> Result<(Config, Vec<Problem>), Vec<Problem>> {
    let mut problems = Problems::default();
    let (doc, syntax_errors) = toml::de::DeTable::parse_recoverable(text);
    for e in syntax_errors {
        let span = e.span().unwrap_or(0..0);
        problems.error("", span, format!("TOML syntax: {}", e.message().trim()));
    }
    let mut root = Section::root(&doc);
    let node = node::read(&mut root, &mut problems);
    let mut asterisk_section = root.section(&mut problems, "asterisk");
    let targets = [Side::A, Side::B].map(|side| {
        let mut s = asterisk_section.section(&mut problems, side.as_str());
        let target = asterisk::read(&mut s, &mut problems, side, base_dir, resolver);
        s.finish(&mut problems);
        target
    });
    asterisk_section.finish(&mut problems);
    let mut probes_section = root.section(&mut problems, "probes");
    let probes = probes::read(&mut probes_section, &mut problems);
    probes_section.finish(&mut problems);
    let daemon = DaemonConfig::read(&mut root, &mut problems, base_dir);
    let mut alerts_section = root.section(&mut problems, "alerts");
    let alerts =
        crate::alerts::config::read(&mut alerts_section, &mut problems, base_dir, resolver);
    alerts_section.finish(&mut problems);
    root.finish(&mut problems);
    if !problems.has_errors() {
        cross_checks::check(&doc, &node, &daemon, &mut problems);
    }

    let failed = problems.has_errors();
    let list = problems.finish(text);
    match targets {
        [Some(asterisk_a), Some(asterisk_b)] if !failed => Ok((
            Config {
                node,
                asterisk_a,
                asterisk_b,
                probes,
                daemon,
                alerts,
            },
            list,
        )),
        _ => Err(list),
    }
}

/// Parses with the real file system and environment.
pub fn parse(text: &str, base_dir: &Path) -> Result<(Config, Vec<Problem>), Vec<Problem>> {
    parse_with(text, base_dir, &SystemSecrets)
}

pub use secret::from_file as secret_from_file;
