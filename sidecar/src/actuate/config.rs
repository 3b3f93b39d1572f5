//! Configuration of the actuators and of the takeover/release sequence, embeddable in the main TOML config.
//!
//! Every struct denies unknown fields (a typo must be an error, not a silently ignored
//! setting) and has defaults for everything that has a sensible one. Durations are plain
//! integers with their unit in the field name (`_ms`), so the file needs no duration syntax.
//!
//! As a TOML section (every field not shown has a default):
//!
//! ```toml
//! [actuate.relay]
//! driver = "numato"              # or "lcus", "line_profile", "berofos"
//! path = "/dev/serial/by-id/usb-Numato_Lab_2_Channel_USB_Relay-if00"
//! channels = [0, 1]
//! energized_side = "b"
//!
//! [actuate.floating_ip]
//! interface = "eth0"
//! addresses = ["192.0.2.100/24", "2001:db8::100/64"]
//!
//! [actuate.drbd]
//! resource = "r0"
//! mount = { device = "/dev/drbd0", mountpoint = "/var/lib/asterisk-ha", fstype = "ext4" }
//!
//! [actuate.asterisk]
//! mode = "warm"                  # or "cold" (default): start/stop on takeover/release
//!
//! [actuate.sequence]
//! journal = "/var/lib/astha/takeovers.jsonl"
//! on_failure = "rollback"
//! floating_ip = { deadline_ms = 2000, retries = 1 }
//! ```

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::node::Side;

/// All actuator settings of one node. Absent sections mean "this node has no such device".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActuateConfig {
    #[serde(default)]
    pub relay: Option<RelayConfig>,
    #[serde(default)]
    pub floating_ip: Option<FloatingIpConfig>,
    #[serde(default)]
    pub drbd: Option<DrbdConfig>,
    #[serde(default)]
    pub asterisk: AsteriskServiceConfig,
    #[serde(default)]
    pub sequence: SequenceConfig,
}

// ---------------------------------------------------------------------------------------------
// Relay

/// Which relay driver to use and how to reach the device. Selected by `driver = "..."`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "driver", rename_all = "snake_case")]
pub enum RelayConfig {
    /// Numato-style USB relay module: ASCII commands over a serial port.
    Numato(NumatoConfig),
    /// LCUS-style CH340 relay module: 4-byte binary frames, no read-back.
    Lcus(LcusConfig),
    /// Any line-oriented serial device whose command strings come from its manual.
    LineProfile(Box<LineProfileConfig>),
    /// beroNet berofos failover switch over HTTP.
    Berofos(BerofosConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumatoConfig {
    /// Serial device, e.g. `/dev/ttyACM0` (prefer a stable `/dev/serial/by-id/...` link).
    pub path: PathBuf,
    #[serde(default = "default_numato_baud")]
    pub baud: u32,
    /// How long one command may take to be answered (echo and prompt included).
    #[serde(default = "default_serial_timeout_ms")]
    pub timeout_ms: u64,
    /// Relay channels switched together (one per PSTN span, for example).
    #[serde(default = "default_numato_channels")]
    pub channels: Vec<u8>,
    /// The side the circuits go to when the relay coil is energised (`relay on`).
    #[serde(
        default = "default_energized_side",
        deserialize_with = "deserialize_side"
    )]
    pub energized_side: Side,
    /// Read the channels back after switching and fail when they disagree.
    #[serde(default = "default_true")]
    pub verify: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LcusConfig {
    pub path: PathBuf,
    #[serde(default = "default_lcus_baud")]
    pub baud: u32,
    #[serde(default = "default_serial_timeout_ms")]
    pub timeout_ms: u64,
    /// LCUS channels are numbered from 1.
    #[serde(default = "default_lcus_channels")]
    pub channels: Vec<u8>,
    #[serde(
        default = "default_energized_side",
        deserialize_with = "deserialize_side"
    )]
    pub energized_side: Side,
}

/// How a reply line is recognised: `{ exact = "OK" }` or `{ regex = "^OK( .*)?$" }`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReplyMatch {
    Exact(String),
    Regex(String),
}

/// One command of a line profile and the reply that confirms it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineCommand {
    /// Sent as is, followed by the profile's `line_ending`.
    pub send: String,
    /// Reply line that confirms the command; `None` means the device does not answer.
    #[serde(default)]
    pub expect: Option<ReplyMatch>,
}

/// The query that reads the position back, and the replies meaning side A and side B.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineReadBack {
    pub send: String,
    pub side_a: ReplyMatch,
    pub side_b: ReplyMatch,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineProfileConfig {
    pub path: PathBuf,
    #[serde(default = "default_line_baud")]
    pub baud: u32,
    #[serde(default = "default_serial_timeout_ms")]
    pub timeout_ms: u64,
    /// Appended to every command.
    #[serde(default = "default_line_ending")]
    pub line_ending: String,
    /// The device repeats each command before answering; the echo line is skipped.
    #[serde(default)]
    pub echo: bool,
    pub select_a: LineCommand,
    pub select_b: LineCommand,
    #[serde(default)]
    pub read_back: Option<LineReadBack>,
    #[serde(default)]
    pub kick_watchdog: Option<LineCommand>,
    /// An identification query used as a health check (e.g. a version command).
    #[serde(default)]
    pub identify: Option<LineCommand>,
    /// A reply line that means the device refused the command.
    #[serde(default)]
    pub error_reply: Option<ReplyMatch>,
}

/// The berofos HTTP interface. `Debug` hides the password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BerofosConfig {
    pub host: String,
    #[serde(default = "default_http_port")]
    pub port: u16,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "default_http_timeout_ms")]
    pub timeout_ms: u64,
    /// The berofos `mode` value that connects the circuits to side A: `1` is A--B (ports
    /// A to B, and C to D in bypass scenario), `0` is A--D.
    #[serde(default = "default_berofos_side_a_mode")]
    pub side_a_mode: u8,
    /// Also store the new position as `modedef` (the position after a power cycle).
    #[serde(default)]
    pub set_default_mode: bool,
    /// Watchdog interval (`wdogitime`, seconds) to arm on the device; `None` leaves the watchdog alone.
    #[serde(default)]
    pub watchdog_interval_s: Option<u32>,
    /// Scenario to enforce (`0` fallback, `1` bypass); `None` leaves it alone.
    #[serde(default)]
    pub scenario: Option<u8>,
}

impl fmt::Debug for BerofosConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BerofosConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout_ms", &self.timeout_ms)
            .field("side_a_mode", &self.side_a_mode)
            .field("set_default_mode", &self.set_default_mode)
            .field("watchdog_interval_s", &self.watchdog_interval_s)
            .field("scenario", &self.scenario)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Floating IP

/// An address with its prefix length, written `10.0.0.100/24` or `2001:db8::10/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpCidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl FromStr for IpCidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected address/prefix, e.g. 10.0.0.100/24"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|e| format!("`{s}`: bad address: {e}"))?;
        let prefix_len: u8 = prefix
            .parse()
            .map_err(|e| format!("`{s}`: bad prefix length: {e}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(format!("`{s}`: prefix length {prefix_len} exceeds {max}"));
        }
        Ok(IpCidr { addr, prefix_len })
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl<'de> Deserialize<'de> for IpCidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloatingIpConfig {
    /// Interface that carries the floating addresses, e.g. `eth0`.
    pub interface: String,
    pub addresses: Vec<IpCidr>,
    /// Gratuitous ARP / unsolicited NA packets sent at once after adding an address.
    #[serde(default = "default_garp_count")]
    pub garp_count: u32,
    #[serde(default = "default_garp_interval_ms")]
    pub garp_interval_ms: u64,
    /// A second burst after this delay catches switches and hosts that missed the first
    /// (keepalived does the same); `0` disables it.
    #[serde(default = "default_garp_repeat_after_ms")]
    pub garp_repeat_after_ms: u64,
}

// ---------------------------------------------------------------------------------------------
// DRBD

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrbdConfig {
    pub resource: String,
    /// The `drbdadm` program (a name looked up on PATH, or a path).
    #[serde(default = "default_drbdadm")]
    pub drbdadm: PathBuf,
    /// Promote with `--force`. Dangerous (may promote outdated data): off unless configured.
    #[serde(default)]
    pub force_primary: bool,
    #[serde(default = "default_drbd_command_timeout_ms")]
    pub command_timeout_ms: u64,
    #[serde(default)]
    pub mount: Option<MountConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountConfig {
    /// Block device, e.g. `/dev/drbd0`.
    pub device: String,
    pub mountpoint: PathBuf,
    #[serde(default)]
    pub fstype: Option<String>,
    #[serde(default)]
    pub options: Option<String>,
    /// Program and leading arguments; `[-t fstype] [-o options] device mountpoint` are appended.
    #[serde(default = "default_mount_command")]
    pub mount_command: Vec<String>,
    /// Program and leading arguments; `mountpoint` is appended.
    #[serde(default = "default_umount_command")]
    pub umount_command: Vec<String>,
    #[serde(default = "default_mount_timeout_ms")]
    pub timeout_ms: u64,
    /// Check `/proc/self/mountinfo` before and after (never trust the exit status alone).
    #[serde(default = "default_true")]
    pub verify: bool,
}

// ---------------------------------------------------------------------------------------------
// Asterisk service

/// Cold standby: Asterisk runs only on the active node and is started on takeover.
/// Warm standby: Asterisk runs on both; only relay, DRBD and IP move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StandbyMode {
    #[default]
    Cold,
    Warm,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsteriskServiceConfig {
    #[serde(default)]
    pub mode: StandbyMode,
    #[serde(default = "default_start_command")]
    pub start_command: Vec<String>,
    #[serde(default = "default_stop_command")]
    pub stop_command: Vec<String>,
    /// Exit status 0 means "running".
    #[serde(default = "default_status_command")]
    pub status_command: Vec<String>,
    #[serde(default = "default_service_command_timeout_ms")]
    pub command_timeout_ms: u64,
}

impl Default for AsteriskServiceConfig {
    fn default() -> Self {
        AsteriskServiceConfig {
            mode: StandbyMode::Cold,
            start_command: default_start_command(),
            stop_command: default_stop_command(),
            status_command: default_status_command(),
            command_timeout_ms: default_service_command_timeout_ms(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sequence

/// What a failed takeover step leads to once its retries are used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Undo the steps already done, in reverse order, so the node is cleanly standby again.
    #[default]
    Rollback,
    /// Leave everything as it is (for an operator to inspect).
    Stop,
}

/// What the releasing node does with the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayReleaseAction {
    /// Leave the relay where it is: the node taking over moves it (the relay is the fence).
    #[default]
    Leave,
    /// Switch the circuits to the peer (planned handover to a peer that is known healthy).
    SelectPeer,
}

/// Deadline and retries of one step.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepPolicy {
    /// Deadline of one attempt.
    pub deadline_ms: u64,
    /// Extra attempts after the first fails.
    #[serde(default)]
    pub retries: u32,
    #[serde(default = "default_retry_delay_ms")]
    pub retry_delay_ms: u64,
}

impl StepPolicy {
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }
    pub fn retry_delay(&self) -> Duration {
        Duration::from_millis(self.retry_delay_ms)
    }
    const fn new(deadline_ms: u64, retries: u32) -> Self {
        StepPolicy {
            deadline_ms,
            retries,
            retry_delay_ms: 200,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceConfig {
    #[serde(default = "default_relay_policy")]
    pub relay: StepPolicy,
    #[serde(default = "default_drbd_policy")]
    pub drbd: StepPolicy,
    #[serde(default = "default_ip_policy")]
    pub floating_ip: StepPolicy,
    #[serde(default = "default_asterisk_policy")]
    pub asterisk: StepPolicy,
    #[serde(default = "default_probe_policy")]
    pub call_path_probe: StepPolicy,
    #[serde(default)]
    pub on_failure: FailurePolicy,
    #[serde(default)]
    pub relay_on_release: RelayReleaseAction,
    /// Audit journal (one JSON line per takeover/release, fsynced); `None` logs only.
    #[serde(default)]
    pub journal: Option<PathBuf>,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        SequenceConfig {
            relay: default_relay_policy(),
            drbd: default_drbd_policy(),
            floating_ip: default_ip_policy(),
            asterisk: default_asterisk_policy(),
            call_path_probe: default_probe_policy(),
            on_failure: FailurePolicy::default(),
            relay_on_release: RelayReleaseAction::default(),
            journal: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Defaults

fn default_true() -> bool {
    true
}
fn default_numato_baud() -> u32 {
    19200
}
fn default_lcus_baud() -> u32 {
    9600
}
fn default_line_baud() -> u32 {
    9600
}
fn default_serial_timeout_ms() -> u64 {
    500
}
fn default_numato_channels() -> Vec<u8> {
    vec![0]
}
fn default_lcus_channels() -> Vec<u8> {
    vec![1]
}
fn default_energized_side() -> Side {
    Side::B
}
fn default_line_ending() -> String {
    "\r\n".to_owned()
}
fn default_http_port() -> u16 {
    80
}
fn default_http_timeout_ms() -> u64 {
    2000
}
fn default_berofos_side_a_mode() -> u8 {
    1
}
fn default_garp_count() -> u32 {
    3
}
fn default_garp_interval_ms() -> u64 {
    5
}
fn default_garp_repeat_after_ms() -> u64 {
    2000
}
fn default_drbdadm() -> PathBuf {
    PathBuf::from("drbdadm")
}
fn default_drbd_command_timeout_ms() -> u64 {
    10_000
}
fn default_mount_command() -> Vec<String> {
    vec!["mount".to_owned()]
}
fn default_umount_command() -> Vec<String> {
    vec!["umount".to_owned()]
}
fn default_mount_timeout_ms() -> u64 {
    30_000
}
fn default_start_command() -> Vec<String> {
    ["systemctl", "start", "asterisk"]
        .map(String::from)
        .to_vec()
}
fn default_stop_command() -> Vec<String> {
    ["systemctl", "stop", "asterisk"].map(String::from).to_vec()
}
fn default_status_command() -> Vec<String> {
    ["systemctl", "is-active", "--quiet", "asterisk"]
        .map(String::from)
        .to_vec()
}
fn default_service_command_timeout_ms() -> u64 {
    30_000
}
fn default_retry_delay_ms() -> u64 {
    200
}
fn default_relay_policy() -> StepPolicy {
    StepPolicy::new(3_000, 1)
}
fn default_drbd_policy() -> StepPolicy {
    StepPolicy::new(60_000, 0)
}
fn default_ip_policy() -> StepPolicy {
    StepPolicy::new(2_000, 1)
}
fn default_asterisk_policy() -> StepPolicy {
    StepPolicy::new(90_000, 0)
}
fn default_probe_policy() -> StepPolicy {
    StepPolicy::new(10_000, 1)
}

/// `Side` lives in `node` without serde; config files spell it `"a"` or `"b"`.
fn deserialize_side<'de, D: Deserializer<'de>>(d: D) -> Result<Side, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_config_selects_driver_and_rejects_unknown_fields() {
        let cfg: RelayConfig =
            serde_json::from_str(r#"{"driver":"numato","path":"/dev/ttyACM0","channels":[0,1]}"#)
                .unwrap();
        match cfg {
            RelayConfig::Numato(n) => {
                assert_eq!(n.channels, vec![0, 1]);
                assert_eq!(n.energized_side, Side::B);
                assert_eq!(n.timeout_ms, 500);
            }
            other => panic!("wrong driver: {other:?}"),
        }
        let err = serde_json::from_str::<RelayConfig>(
            r#"{"driver":"lcus","path":"/dev/x","chanels":[1]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("chanels"), "{err}");
    }

    #[test]
    fn cidr_parses_and_rejects_nonsense() {
        let c: IpCidr = "10.0.0.100/24".parse().unwrap();
        assert_eq!(c.prefix_len, 24);
        assert_eq!(c.to_string(), "10.0.0.100/24");
        assert!("10.0.0.100/33".parse::<IpCidr>().is_err());
        assert!("10.0.0.100".parse::<IpCidr>().is_err());
        assert!("2001:db8::1/64".parse::<IpCidr>().is_ok());
    }

    #[test]
    fn berofos_debug_redacts_password() {
        let cfg: BerofosConfig =
            serde_json::from_str(r#"{"host":"10.0.0.5","username":"admin","password":"s3cret"}"#)
                .unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn whole_section_defaults() {
        let cfg: ActuateConfig = serde_json::from_str("{}").unwrap();
        assert!(cfg.relay.is_none() && cfg.drbd.is_none() && cfg.floating_ip.is_none());
        assert_eq!(cfg.asterisk.mode, StandbyMode::Cold);
        assert_eq!(cfg.sequence.on_failure, FailurePolicy::Rollback);
        let line: LineProfileConfig = serde_json::from_str(
            r#"{"path":"/dev/x","select_a":{"send":"SW A","expect":{"exact":"OK"}},
                "select_b":{"send":"SW B","expect":{"regex":"^OK"}}}"#,
        )
        .unwrap();
        assert_eq!(line.select_b.expect, Some(ReplyMatch::Regex("^OK".into())));
        assert_eq!(line.line_ending, "\r\n");
    }
}
