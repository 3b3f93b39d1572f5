//! The daemon's own sections: peer link, decision tunables, the service network, actuators, control socket, metrics, state.
//!
//! Read by the same reader as the rest of the file (`config::reader`): every mistake is
//! reported with its key and line, unknown keys included.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::de::DeValue;
use toml::Spanned;

use crate::actuate::ActuateConfig;
use crate::side::Side;
use crate::witness::WitnessTarget;

use super::problem::{ProblemSeverity, Problems};
use super::reader::{parse_string, FromSection, FromToml, Section, ValueError};

/// Everything `astha run` needs beyond the probes.
#[derive(Debug, Clone, Default)]
pub struct DaemonConfig {
    pub peer_link: Option<PeerLinkConfig>,
    pub decide: DecideSection,
    pub service_network: ServiceNetworkSection,
    pub actuate: ActuateConfig,
    pub control: ControlConfig,
    pub metrics: MetricsConfig,
    pub state: StateConfig,
    pub dialplan: DialplanConfig,
    pub contacts: ContactsConfig,
    pub astdb: AstdbConfig,
}

/// `[peer_link]`: authenticated datagrams to the other sidecar over one or more links.
#[derive(Debug, Clone)]
pub struct PeerLinkConfig {
    /// Shared key file (≥ 32 bytes, mode 0600 or 0400), the same on both servers.
    pub key_file: PathBuf,
    pub interval_ms: u64,
    /// Silence on every link after which the peer counts as silent.
    pub dead_after_ms: u64,
    pub links: Vec<LinkConfig>,
}

/// One path to the peer, e.g. the LAN and a crossover cable.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub name: String,
    /// Where this node listens.
    pub local: SocketAddr,
    /// Where the peer listens on this link.
    pub remote: SocketAddr,
}

/// `[decide]`: decision tunables (defaults are tuned for sub-second takeover).
#[derive(Debug, Clone)]
pub struct DecideSection {
    /// Minimum time between two automatic, non-emergency switches.
    pub hold_down_ms: u64,
    /// Side that takes the calls when both are healthy and nobody is active yet.
    pub preferred: Side,
    /// Move the calls back to the preferred side once it is healthy again (off by default).
    pub failback: bool,
    /// A third party that must answer, after the peer fell silent, before this node takes over
    /// from it (see [`crate::witness`]).
    pub witness: Option<WitnessTarget>,
    /// How often the witness is checked besides the checks a silent peer triggers.
    pub witness_interval_ms: u64,
    /// How long one check may take.
    pub witness_timeout_ms: u64,
}

impl Default for DecideSection {
    fn default() -> Self {
        DecideSection {
            hold_down_ms: 10_000,
            preferred: Side::A,
            failback: false,
            witness: None,
            witness_interval_ms: 1_000,
            witness_timeout_ms: 100,
        }
    }
}

/// `[service_network]`: reachability targets that, with the floating IP's interface carrier,
/// say whether this node can serve clients (see `daemon::reachability`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNetworkSection {
    /// Addresses checked from this node (ICMP echo, or a TCP connect to address:port); the
    /// service network is down while none of them answers. Empty: the carrier alone decides.
    pub targets: Vec<WitnessTarget>,
    /// How often each target is checked.
    pub interval_ms: u64,
    /// How long one check may take.
    pub timeout_ms: u64,
    /// Consecutive unanswered checks after which a target counts as down (one lost ping is not
    /// a reason to move every call).
    pub down_after: u32,
}

impl Default for ServiceNetworkSection {
    fn default() -> Self {
        ServiceNetworkSection {
            targets: Vec::new(),
            interval_ms: 1_000,
            timeout_ms: 500,
            down_after: 3,
        }
    }
}

impl FromSection for ServiceNetworkSection {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let d = ServiceNetworkSection::default();
        let targets: Vec<WitnessTarget> = s.get_or(p, "targets", d.targets);
        let interval_ms = s.get_or(p, "interval_ms", d.interval_ms);
        let timeout_ms = s.get_or(p, "timeout_ms", d.timeout_ms);
        let down_after = s.get_or(p, "down_after", d.down_after);
        if timeout_ms == 0 || timeout_ms >= interval_ms {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "timeout_ms",
                format!("must be above 0 and shorter than interval_ms ({interval_ms} ms)"),
            );
        }
        if down_after == 0 {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "down_after",
                "must be at least 1 (unanswered checks before a target counts as down)",
            );
        }
        let mut seen = Vec::new();
        for target in &targets {
            if seen.contains(target) {
                s.problem_at(
                    p,
                    ProblemSeverity::Error,
                    "targets",
                    format!("{target} is listed twice"),
                );
            }
            seen.push(*target);
        }
        Some(ServiceNetworkSection {
            targets,
            interval_ms,
            timeout_ms,
            down_after,
        })
    }
}

impl FromToml for WitnessTarget {
    fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<Self, ValueError> {
        parse_string(
            value,
            "an IP address or address:port, e.g. \"192.0.2.1\" or \"192.0.2.5:5060\"",
        )
    }
}

/// `[control]`: the local API socket used by the CLI.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone, Default)]
pub struct MetricsConfig {
    pub listen: Option<SocketAddr>,
    pub allow_non_loopback: bool,
}

/// `[state]`: where the term, the boot epoch and the takeover journal live.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
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

/// `[contacts]`: the standby's Asterisk keeps the PJSIP contacts the phones registered on the
/// active's (see `daemon/contacts.rs`), so they receive calls right after a takeover.
#[derive(Debug, Clone)]
pub struct ContactsConfig {
    /// Mirror the active's contacts into the standby's Asterisk (on by default).
    pub mirror: bool,
}

impl Default for ContactsConfig {
    fn default() -> Self {
        ContactsConfig { mirror: true }
    }
}

/// `[contacts]` as written: `ami_user` used to live here (it is `[astdb] ami_user` now).
#[derive(Debug, Default)]
struct ContactsSection {
    config: ContactsConfig,
    legacy_ami_user: Option<Spanned<String>>,
}

/// `[astdb]`: how astha writes Asterisk's AstDB, for the contact mirror (`daemon/contacts.rs`)
/// and the call count a phone's failover request hears (`daemon/dialplan.rs`).
#[derive(Debug, Clone)]
pub struct AstdbConfig {
    /// The AMI user astha logs in as to write the AstDB, on both Asterisks (with the target's
    /// secret): the shipped `[astha-contacts]` of `manager_astha.conf`, allowed to write the
    /// AstDB (`system`) and nothing else, so astha's main user never needs `system` next to
    /// `originate` (together they would run shell commands).
    pub ami_user: String,
}

impl Default for AstdbConfig {
    fn default() -> Self {
        AstdbConfig {
            ami_user: "astha-contacts".to_owned(),
        }
    }
}

/// `[astdb]` as written, before `[contacts] ami_user` (its old place) is taken into account.
#[derive(Debug, Default)]
struct AstdbSection {
    ami_user: Option<Spanned<String>>,
}

impl AstdbConfig {
    /// `[astdb] ami_user`, or the deprecated `[contacts] ami_user` of older files (with a
    /// warning that says where it goes now), or the shipped user.
    fn resolve(
        astdb: AstdbSection,
        legacy: Option<Spanned<String>>,
        problems: &mut Problems,
    ) -> AstdbConfig {
        let moved = "`[contacts] ami_user` is deprecated: the same AMI user now also writes the \
                     call count of a phone's failover request, so it is `ami_user` in [astdb]";
        let chosen = match (astdb.ami_user, legacy) {
            // Which one wins would be a guess: an error, as for `[peer] name`.
            (Some(user), Some(old)) => {
                problems.error(
                    "contacts.ami_user",
                    old.span(),
                    format!("{moved}, which sets it too: remove it from [contacts]"),
                );
                user
            }
            (None, Some(old)) => {
                problems.warning(
                    "contacts.ami_user",
                    old.span(),
                    format!(
                        "{moved}: write `ami_user = \"{}\"` in [astdb] and remove it from \
                         [contacts] (it is still honoured)",
                        old.get_ref()
                    ),
                );
                old
            }
            (Some(user), None) => user,
            (None, None) => return AstdbConfig::default(),
        };
        if chosen.get_ref().trim().is_empty() {
            problems.error(
                "astdb.ami_user",
                chosen.span(),
                "must name the AMI user of manager_astha.conf's [astha-contacts] section",
            );
        }
        AstdbConfig {
            ami_user: chosen.into_inner(),
        }
    }
}

impl DaemonConfig {
    /// Reads the daemon's top-level sections; relative paths are taken from `base_dir` (the
    /// configuration file's directory, like `secret_file`).
    pub(crate) fn read(
        root: &mut Section<'_, '_>,
        problems: &mut Problems,
        base_dir: &Path,
    ) -> Self {
        let mut config = DaemonConfig {
            peer_link: root.table(problems, "peer_link"),
            decide: root.table(problems, "decide").unwrap_or_default(),
            service_network: root.table(problems, "service_network").unwrap_or_default(),
            actuate: root.table(problems, "actuate").unwrap_or_default(),
            control: root.table(problems, "control").unwrap_or_default(),
            metrics: root.table(problems, "metrics").unwrap_or_default(),
            state: root.table(problems, "state").unwrap_or_default(),
            dialplan: root.table(problems, "dialplan").unwrap_or_default(),
            contacts: ContactsConfig::default(),
            astdb: AstdbConfig::default(),
        };
        let contacts: ContactsSection = root.table(problems, "contacts").unwrap_or_default();
        let astdb: AstdbSection = root.table(problems, "astdb").unwrap_or_default();
        config.contacts = contacts.config;
        config.astdb = AstdbConfig::resolve(astdb, contacts.legacy_ami_user, problems);
        config.resolve_paths(base_dir);
        config
    }

    fn resolve_paths(&mut self, base: &Path) {
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
}

impl FromSection for PeerLinkConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let key_file = s.required(p, "key_file");
        let interval_ms = s.get_or(p, "interval_ms", 200);
        let dead_after_ms = s.get_or(p, "dead_after_ms", 600);
        if !s.contains("links") {
            s.missing(p, "links");
        }
        let links: Option<Vec<LinkConfig>> = s.tables(p, "links");
        if links.as_ref().is_some_and(Vec::is_empty) {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "links",
                "at least one link is needed",
            );
        }
        if interval_ms == 0 || dead_after_ms < 2 * interval_ms {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "dead_after_ms",
                format!(
                    "must be at least twice interval_ms ({interval_ms} ms), or one lost datagram looks like a dead peer"
                ),
            );
        }
        Some(PeerLinkConfig {
            key_file: key_file?,
            interval_ms,
            dead_after_ms,
            links: links.filter(|l| !l.is_empty())?,
        })
    }
}

impl FromSection for LinkConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let name = s.required(p, "name");
        let local = s.required(p, "local");
        let remote = s.required(p, "remote");
        Some(LinkConfig {
            name: name?,
            local: local?,
            remote: remote?,
        })
    }
}

impl FromSection for DecideSection {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let d = DecideSection::default();
        let witness_interval_ms = s.get_or(p, "witness_interval_ms", d.witness_interval_ms);
        let witness_timeout_ms = s.get_or(p, "witness_timeout_ms", d.witness_timeout_ms);
        if witness_timeout_ms == 0 || witness_timeout_ms >= witness_interval_ms {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "witness_timeout_ms",
                format!(
                    "must be above 0 and shorter than witness_interval_ms ({witness_interval_ms} ms)"
                ),
            );
        }
        Some(DecideSection {
            hold_down_ms: s.get_or(p, "hold_down_ms", d.hold_down_ms),
            preferred: s.get_or(p, "preferred", d.preferred),
            failback: s.get_or(p, "failback", d.failback),
            witness: s.get(p, "witness"),
            witness_interval_ms,
            witness_timeout_ms,
        })
    }
}

impl FromSection for ControlConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let d = ControlConfig::default();
        Some(ControlConfig {
            socket: s.get_or(p, "socket", d.socket),
            group: s.get(p, "group"),
        })
    }
}

impl FromSection for MetricsConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        Some(MetricsConfig {
            listen: s.get(p, "listen"),
            allow_non_loopback: s.get_or(p, "allow_non_loopback", false),
        })
    }
}

impl FromSection for StateConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        Some(StateConfig {
            dir: s.get_or(p, "dir", StateConfig::default().dir),
        })
    }
}

impl FromSection for ContactsSection {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        Some(ContactsSection {
            config: ContactsConfig {
                mirror: s.get_or(p, "mirror", ContactsConfig::default().mirror),
            },
            legacy_ami_user: s.string(p, "ami_user"),
        })
    }
}

impl FromSection for AstdbSection {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        Some(AstdbSection {
            ami_user: s.string(p, "ami_user"),
        })
    }
}

impl FromSection for DialplanConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let d = DialplanConfig::default();
        Some(DialplanConfig {
            failover_event: s.get_or(p, "failover_event", d.failover_event),
            min_interval_ms: s.get_or(p, "min_interval_ms", d.min_interval_ms),
        })
    }
}
