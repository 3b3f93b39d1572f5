//! The astha configuration each server of the harness runs with (written to the pair's directory).

use std::fmt::Write as _;
use std::path::Path;

use super::netns::{CROSS_A, CROSS_B, FLOATING_IP, LAN_A, LAN_B, PEER_LAN_A, PEER_LAN_B, RELAY};
use super::Side;

/// Probe windows for a real Asterisk in a test whose subject is not detection speed
/// ([`NodeSettings::shared_machine_probes`]), one table per probe kind. On a busy test machine
/// a healthy Asterisk was seen silent for 1.8 s, past the default 1 s window, and its SIP stack
/// left two OPTIONS in a row unanswered for 2 s, and the calls moved in the middle of the
/// scenario under test. What the defaults do under load is `loaded_host`'s subject (it runs
/// alone) and the soak benchmark's; the emulated variants keep the defaults.
pub const SHARED_MACHINE_PROBES: [(&str, &str); 3] = [
    ("[probes.ping]", "timeout_ms = 3000"),
    ("[probes.core]", "interval_ms = 5000\ntimeout_ms = 3000"),
    ("[probes.sip]", "timeout_ms = 3000"),
];

/// UDP port of the peer link on both links.
pub const PEER_PORT: u16 = 7400;
/// TCP port of the berofos relay simulator.
pub const RELAY_PORT: u16 = 8080;
/// AMI credentials of both emulators (fake-asterisk's defaults).
pub const AMI_USER: &str = "hasidecar";
pub const AMI_SECRET: &str = "hasecret";

/// Warm standby (both Asterisks run all the time) or cold (the standby's is stopped, and astha
/// starts it on takeover).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Standby {
    #[default]
    Warm,
    Cold,
}

/// How a node's astha reaches and drives the Asterisks.
#[derive(Debug, Clone)]
pub struct AsteriskSetup {
    /// The AMI user on both Asterisks (its secret is in `ami.secret` of the run directory).
    pub ami_user: String,
    pub standby: Standby,
    /// This server's `start`, `stop` and `status` commands.
    pub commands: [std::path::PathBuf; 3],
    /// The Asterisks have a PJSIP registrar (real ones; the emulator has none, so astha's
    /// contact mirror is switched off with it).
    pub registrar: bool,
    /// This server's Asterisk's own cgroup (`[asterisk.<side>] cgroup`), where it has one;
    /// without, astha is told not to look for `asterisk.service` (`off`).
    pub cgroup: Option<std::path::PathBuf>,
}

/// Settings a scenario may change; everything else is astha's defaults.
#[derive(Debug, Clone, Default)]
pub struct NodeSettings {
    /// `[decide] hold_down_ms`; `None` keeps the default.
    pub hold_down_ms: Option<u64>,
    /// `[decide] failback`.
    pub failback: bool,
    /// `[decide] witness` (e.g. the relay's address, which every server on the LAN reaches).
    pub witness: Option<String>,
    /// `[actuate.relay] watchdog_interval_s`: the berofos's own watchdog, kicked by the active.
    pub relay_watchdog_s: Option<u32>,
    /// `[contacts] mirror`; `None` keeps the default (on with a real Asterisk).
    pub contacts_mirror: Option<bool>,
    /// Extra TOML appended verbatim (new tables only).
    pub extra_toml: String,
    /// [`SHARED_MACHINE_PROBES`], each table unless `extra_toml` has its own.
    pub shared_machine_probes: bool,
}

/// Renders the configuration of `side`; every path is absolute, inside `dir`.
pub fn render(side: Side, dir: &Path, settings: &NodeSettings, asterisk: &AsteriskSetup) -> String {
    let (me, other) = (side.letter(), side.other().letter());
    let (lan_me, lan_peer, x_me, x_peer) = match side {
        Side::A => (PEER_LAN_A, PEER_LAN_B, CROSS_A, CROSS_B),
        Side::B => (PEER_LAN_B, PEER_LAN_A, CROSS_B, CROSS_A),
    };
    let mut toml = format!(
        r#"# Written by astha-tests' namespace harness for server {me}.
[node]
side = "{me}"
name = "harness-{me}"
peer_name = "harness-{other}"

[asterisk.a.ami]
address = "{LAN_A}:5038"
username = "{user}"
secret_file = "{dir}/ami.secret"

[asterisk.a.sip]
address = "{LAN_A}:5060"

[asterisk.b.ami]
address = "{LAN_B}:5038"
username = "{user}"
secret_file = "{dir}/ami.secret"

[asterisk.b.sip]
address = "{LAN_B}:5060"

[peer_link]
key_file = "{dir}/peer.key"
links = [
  {{ name = "lan", local = "{lan_me}:{PEER_PORT}", remote = "{lan_peer}:{PEER_PORT}" }},
  {{ name = "crossover", local = "{x_me}:{PEER_PORT}", remote = "{x_peer}:{PEER_PORT}" }},
]

[asterisk.{me}]
cgroup = "{cgroup}"

[decide]
failback = {failback}
"#,
        cgroup = asterisk
            .cgroup
            .as_ref()
            .map_or_else(|| "off".to_owned(), |c| c.display().to_string()),
        failback = settings.failback,
        dir = dir.display(),
        user = asterisk.ami_user,
    );
    if let Some(ms) = settings.hold_down_ms {
        let _ = writeln!(toml, "hold_down_ms = {ms}");
    }
    if let Some(witness) = &settings.witness {
        let _ = writeln!(toml, "witness = \"{witness}\"");
    }
    let _ = write!(
        toml,
        r#"
[actuate.relay]
driver = "berofos"
host = "{RELAY}"
port = {RELAY_PORT}
timeout_ms = 500
{watchdog}
[actuate.floating_ip]
interface = "eth0"
addresses = ["{FLOATING_IP}/24"]

[actuate.asterisk]
mode = "{mode}"
start_command = ["{start}"]
stop_command = ["{stop}"]
status_command = ["{status}"]
# The harness's start check: the script astha runs to start this server's Asterisk is there.
cold_start_check = ["test", "-x", "{start}"]

[contacts]
mirror = {mirror}

[control]
socket = "{dir}/control-{me}.sock"

[state]
dir = "{dir}/state-{me}"
"#,
        dir = dir.display(),
        watchdog = settings
            .relay_watchdog_s
            .map(|s| format!("watchdog_interval_s = {s}\n"))
            .unwrap_or_default(),
        mode = match asterisk.standby {
            Standby::Warm => "warm",
            Standby::Cold => "cold",
        },
        mirror = settings.contacts_mirror.unwrap_or(asterisk.registrar),
        start = asterisk.commands[0].display(),
        stop = asterisk.commands[1].display(),
        status = asterisk.commands[2].display(),
    );
    toml.push_str(&settings.extra_toml);
    if settings.shared_machine_probes {
        for (table, body) in SHARED_MACHINE_PROBES {
            if !settings.extra_toml.contains(table) {
                let _ = write!(toml, "\n{table}\n{body}\n");
            }
        }
    }
    toml
}
