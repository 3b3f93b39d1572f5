//! Configuration of the actuators and of the takeover/release sequence, embeddable in the main TOML config.
//!
//! Read by the configuration's one reader ([`crate::config`]): each type here has a
//! `FromSection` impl (at the end of this file) that takes its keys, with defaults for everything
//! that has a sensible one; any other key is an error (a typo must not be a silently ignored
//! setting). Durations are plain integers with their unit in the field name (`_ms`), so the
//! file needs no duration syntax.
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
//! resource = "asterisk"          # contrib/drbd/asterisk.res
//! mount = { device = "/dev/drbd0", mountpoint = "/srv/asterisk", fstype = "ext4" }
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

use toml::de::DeValue;
use toml::Spanned;

use crate::config::problem::{ProblemSeverity, Problems};
use crate::config::reader::{parse_string, FromSection, FromToml, Section, ValueError};
use crate::side::Side;

/// All actuator settings of one node. Absent sections mean "this node has no such device".
#[derive(Debug, Clone, Default)]
pub struct ActuateConfig {
    pub relay: Option<RelayConfig>,
    pub floating_ip: Option<FloatingIpConfig>,
    pub drbd: Option<DrbdConfig>,
    pub asterisk: AsteriskServiceConfig,
    pub sequence: SequenceConfig,
}

// ---------------------------------------------------------------------------------------------
// Relay

/// Which relay driver to use and how to reach the device. Selected by `driver = "..."`.
#[derive(Debug, Clone)]
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

#[derive(Debug, Clone)]
pub struct NumatoConfig {
    /// Serial device, e.g. `/dev/ttyACM0` (prefer a stable `/dev/serial/by-id/...` link).
    pub path: PathBuf,
    pub baud: u32,
    /// How long one command may take to be answered (echo and prompt included).
    pub timeout_ms: u64,
    /// Relay channels switched together (one per PSTN span, for example).
    pub channels: Vec<u8>,
    /// The side the circuits go to when the relay coil is energised (`relay on`).
    pub energized_side: Side,
    /// Read the channels back after switching and fail when they disagree.
    pub verify: bool,
}

#[derive(Debug, Clone)]
pub struct LcusConfig {
    pub path: PathBuf,
    pub baud: u32,
    pub timeout_ms: u64,
    /// LCUS channels are numbered from 1.
    pub channels: Vec<u8>,
    pub energized_side: Side,
}

/// How a reply line is recognised: `{ exact = "OK" }` or `{ regex = "^OK( .*)?$" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyMatch {
    Exact(String),
    Regex(String),
}

/// One command of a line profile and the reply that confirms it.
#[derive(Debug, Clone)]
pub struct LineCommand {
    /// Sent as is, followed by the profile's `line_ending`.
    pub send: String,
    /// Reply line that confirms the command; `None` means the device does not answer.
    pub expect: Option<ReplyMatch>,
}

/// The query that reads the position back, and the replies meaning side A and side B.
#[derive(Debug, Clone)]
pub struct LineReadBack {
    pub send: String,
    pub side_a: ReplyMatch,
    pub side_b: ReplyMatch,
}

#[derive(Debug, Clone)]
pub struct LineProfileConfig {
    pub path: PathBuf,
    pub baud: u32,
    pub timeout_ms: u64,
    /// Appended to every command.
    pub line_ending: String,
    /// The device repeats each command before answering; the echo line is skipped.
    pub echo: bool,
    pub select_a: LineCommand,
    pub select_b: LineCommand,
    pub read_back: Option<LineReadBack>,
    pub kick_watchdog: Option<LineWatchdog>,
    /// An identification query used as a health check (e.g. a version command).
    pub identify: Option<LineCommand>,
    /// A reply line that means the device refused the command.
    pub error_reply: Option<ReplyMatch>,
}

/// A line-profile device's own watchdog: the command that kicks it, how often the node holding
/// the calls sends it, and where the device puts the circuits by itself when the kicks stop.
#[derive(Debug, Clone)]
pub struct LineWatchdog {
    pub kick: LineCommand,
    /// How often `astha run` kicks while this node holds the calls (well inside the device's
    /// own timeout).
    pub kick_every_ms: u64,
    /// The side the device switches to by itself when nobody kicks it (its fail-safe side).
    pub falls_back_to: Side,
}

/// A MAC address, written `00:19:32:00:12:1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacAddress(pub [u8; 6]);

impl FromStr for MacAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}`: expected a MAC address, e.g. \"00:19:32:00:12:1d\"");
        let mut mac = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut mac {
            let part = parts.next().filter(|p| p.len() == 2).ok_or_else(bad)?;
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddress(mac))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The berofos HTTP interface. `Debug` hides the password.
#[derive(Clone)]
pub struct BerofosConfig {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub timeout_ms: u64,
    /// The berofos `mode` value that connects the circuits to side A: `1` is A--B (ports
    /// A to B, and C to D in bypass scenario), `0` is A--D.
    pub side_a_mode: u8,
    /// Also store the new position as `modedef` (the position after a power cycle).
    pub set_default_mode: bool,
    /// Watchdog interval (`wdogitime`, seconds). When set, the device's watchdog guards the
    /// side of `mode` 1: astha switches it on whenever it moves the circuits there, and the node
    /// holding the calls on that side kicks it; when the kicks stop for this long (that node is
    /// dead or cut off), the device falls back to `mode` 0 by itself. `None` leaves it alone.
    pub watchdog_interval_s: Option<u32>,
    /// The device's MAC address, which a watchdog kick must carry; `None`: asked from the device
    /// (the `bnfos --scan` query) before the first kick.
    pub mac: Option<MacAddress>,
    /// The UDP port the device takes kicks and queries on (50123 on every berofos).
    pub kick_port: u16,
    /// Scenario to enforce (`0` fallback, `1` bypass); `None` leaves it alone.
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
            .field("mac", &self.mac)
            .field("kick_port", &self.kick_port)
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

#[derive(Debug, Clone)]
pub struct FloatingIpConfig {
    /// Interface that carries the floating addresses, e.g. `eth0`.
    pub interface: String,
    pub addresses: Vec<IpCidr>,
    /// Gratuitous ARP / unsolicited NA packets sent at once after adding an address.
    pub garp_count: u32,
    pub garp_interval_ms: u64,
    /// A second burst after this delay catches switches and hosts that missed the first
    /// (keepalived does the same); `0` disables it.
    pub garp_repeat_after_ms: u64,
}

// ---------------------------------------------------------------------------------------------
// DRBD

/// The DRBD resource astha promotes on takeover and demotes on release. astha never promotes
/// with `--force`: a disk that is not `UpToDate`, or a peer that may still write, is refused
/// (see `actuate/drbd/promotion.rs`); the resource file's `fence-peer` handler is
/// `astha fence-peer` (example: `contrib/drbd/asterisk.res`).
#[derive(Debug, Clone)]
pub struct DrbdConfig {
    pub resource: String,
    /// The `drbdadm` program (a name looked up on PATH, or a path): primary, secondary, outdate.
    pub drbdadm: PathBuf,
    /// The `drbdsetup` program: `drbdsetup status <resource> --json` is how the state is read.
    pub drbdsetup: PathBuf,
    pub command_timeout_ms: u64,
    /// How often the state is read again while waiting for the peer to demote.
    pub poll_interval_ms: u64,
    pub mount: Option<MountConfig>,
}

#[derive(Debug, Clone)]
pub struct MountConfig {
    /// Block device, e.g. `/dev/drbd0`.
    pub device: String,
    pub mountpoint: PathBuf,
    pub fstype: Option<String>,
    pub options: Option<String>,
    /// Program and leading arguments; `[-t fstype] [-o options] device mountpoint` are appended.
    pub mount_command: Vec<String>,
    /// Program and leading arguments; `mountpoint` is appended.
    pub umount_command: Vec<String>,
    pub timeout_ms: u64,
    /// Check the host's mount table (`/proc/1/mountinfo`) before and after: never trust the
    /// exit status alone, nor a mount only astha's own mount namespace can see.
    pub verify: bool,
}

// ---------------------------------------------------------------------------------------------
// Asterisk service

/// Cold standby: Asterisk runs only on the active node and is started on takeover.
/// Warm standby: Asterisk runs on both; only relay, DRBD and IP move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StandbyMode {
    #[default]
    Cold,
    Warm,
}

#[derive(Debug, Clone)]
pub struct AsteriskServiceConfig {
    pub mode: StandbyMode,
    pub start_command: Vec<String>,
    pub stop_command: Vec<String>,
    /// Exit status 0 means "running".
    pub status_command: Vec<String>,
    /// Cold standby: exit status 0 means "Asterisk could be started here now" (installed,
    /// configured). Run about once a second while this node is a cold standby; a node whose
    /// check fails never takes over (see `decide/readiness.rs`).
    pub cold_start_check: Vec<String>,
    pub command_timeout_ms: u64,
}

impl Default for AsteriskServiceConfig {
    fn default() -> Self {
        AsteriskServiceConfig {
            mode: StandbyMode::Cold,
            start_command: default_start_command(),
            stop_command: default_stop_command(),
            status_command: default_status_command(),
            cold_start_check: default_cold_start_check(),
            command_timeout_ms: default_service_command_timeout_ms(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sequence

/// What a failed takeover step leads to once its retries are used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Undo the steps already done, in reverse order, so the node is cleanly standby again.
    #[default]
    Rollback,
    /// Leave everything as it is (for an operator to inspect).
    Stop,
}

/// What the releasing node does with the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelayReleaseAction {
    /// Leave the relay where it is: the node taking over moves it (the relay is the fence).
    #[default]
    Leave,
    /// Switch the circuits to the peer (planned handover to a peer that is known healthy).
    SelectPeer,
}

/// Deadline and retries of one step.
#[derive(Debug, Clone, Copy)]
pub struct StepPolicy {
    /// Deadline of one attempt.
    pub deadline_ms: u64,
    /// Extra attempts after the first fails.
    pub retries: u32,
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

#[derive(Debug, Clone)]
pub struct SequenceConfig {
    pub relay: StepPolicy,
    pub drbd: StepPolicy,
    pub floating_ip: StepPolicy,
    pub asterisk: StepPolicy,
    pub call_path_probe: StepPolicy,
    pub on_failure: FailurePolicy,
    pub relay_on_release: RelayReleaseAction,
    /// Audit journal (one JSON line per takeover/release, fsynced); `None` logs only.
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
/// Where every berofos takes `bnfos --kick` datagrams.
pub const BEROFOS_KICK_PORT: u16 = 50123;
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
fn default_drbdsetup() -> PathBuf {
    PathBuf::from("drbdsetup")
}
fn default_drbd_command_timeout_ms() -> u64 {
    10_000
}
fn default_drbd_poll_interval_ms() -> u64 {
    200
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
/// The binary runs and its configuration is there (`asterisk -V` needs no running Asterisk).
fn default_cold_start_check() -> Vec<String> {
    [
        "sh",
        "-c",
        "asterisk -V >/dev/null && test -r /etc/asterisk/asterisk.conf",
    ]
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

// ---------------------------------------------------------------------------------------------
// Reading (one `FromSection` per table; keys not read here are reported as unknown)

impl FromToml for IpCidr {
    fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<Self, ValueError> {
        parse_string(value, "an address/prefix, e.g. \"192.0.2.100/24\"")
    }
}

impl FromToml for MacAddress {
    fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<Self, ValueError> {
        parse_string(value, "a MAC address, e.g. \"00:19:32:00:12:1d\"")
    }
}

impl FromSection for ActuateConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        Some(ActuateConfig {
            relay: s.table(p, "relay"),
            floating_ip: s.table(p, "floating_ip"),
            drbd: s.table(p, "drbd"),
            asterisk: s.table(p, "asterisk").unwrap_or_default(),
            sequence: s.table(p, "sequence").unwrap_or_default(),
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum RelayDriver {
    Numato,
    Lcus,
    LineProfile,
    Berofos,
}

impl FromSection for RelayConfig {
    /// `driver = "..."` selects the variant; the other keys of the same table are its settings.
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let driver = s.required_choice(
            p,
            "driver",
            &[
                ("numato", RelayDriver::Numato),
                ("lcus", RelayDriver::Lcus),
                ("line_profile", RelayDriver::LineProfile),
                ("berofos", RelayDriver::Berofos),
            ],
        );
        Some(match driver? {
            RelayDriver::Numato => RelayConfig::Numato(NumatoConfig::read(s, p)?),
            RelayDriver::Lcus => RelayConfig::Lcus(LcusConfig::read(s, p)?),
            RelayDriver::LineProfile => {
                RelayConfig::LineProfile(Box::new(LineProfileConfig::read(s, p)?))
            }
            RelayDriver::Berofos => RelayConfig::Berofos(BerofosConfig::read(s, p)?),
        })
    }
}

impl FromSection for NumatoConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let path = s.required(p, "path");
        Some(NumatoConfig {
            baud: s.get_or(p, "baud", default_numato_baud()),
            timeout_ms: s.get_or(p, "timeout_ms", default_serial_timeout_ms()),
            channels: s.get_or(p, "channels", default_numato_channels()),
            energized_side: s.get_or(p, "energized_side", default_energized_side()),
            verify: s.get_or(p, "verify", true),
            path: path?,
        })
    }
}

impl FromSection for LcusConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let path = s.required(p, "path");
        Some(LcusConfig {
            baud: s.get_or(p, "baud", default_lcus_baud()),
            timeout_ms: s.get_or(p, "timeout_ms", default_serial_timeout_ms()),
            channels: s.get_or(p, "channels", default_lcus_channels()),
            energized_side: s.get_or(p, "energized_side", default_energized_side()),
            path: path?,
        })
    }
}

impl FromSection for ReplyMatch {
    /// Exactly one of `exact` and `regex`.
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let exact: Option<String> = s.get(p, "exact");
        let regex: Option<String> = s.get(p, "regex");
        match (exact, regex) {
            (Some(e), None) => Some(ReplyMatch::Exact(e)),
            (None, Some(r)) => Some(ReplyMatch::Regex(r)),
            (Some(_), Some(_)) => {
                s.problem_at(
                    p,
                    ProblemSeverity::Error,
                    "regex",
                    "set only one of exact and regex",
                );
                None
            }
            (None, None) => {
                p.error(&s.key_path("exact"), s.span(), "set `exact` or `regex`");
                None
            }
        }
    }
}

impl FromSection for LineCommand {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let send = s.required(p, "send");
        let expect = s.table(p, "expect");
        Some(LineCommand {
            send: send?,
            expect,
        })
    }
}

impl FromSection for LineWatchdog {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let kick = LineCommand::read(s, p);
        let kick_every_ms = s.required(p, "kick_every_ms");
        let falls_back_to = s.required(p, "falls_back_to");
        if kick_every_ms == Some(0) {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "kick_every_ms",
                "must be above 0",
            );
        }
        Some(LineWatchdog {
            kick: kick?,
            kick_every_ms: kick_every_ms.filter(|ms| *ms > 0)?,
            falls_back_to: falls_back_to?,
        })
    }
}

impl FromSection for LineReadBack {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let send = s.required(p, "send");
        let side_a = s.required_table(p, "side_a");
        let side_b = s.required_table(p, "side_b");
        Some(LineReadBack {
            send: send?,
            side_a: side_a?,
            side_b: side_b?,
        })
    }
}

impl FromSection for LineProfileConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let path = s.required(p, "path");
        let baud = s.get_or(p, "baud", default_line_baud());
        let timeout_ms = s.get_or(p, "timeout_ms", default_serial_timeout_ms());
        let line_ending = s.get_or(p, "line_ending", default_line_ending());
        let echo = s.get_or(p, "echo", false);
        let select_a = s.required_table(p, "select_a");
        let select_b = s.required_table(p, "select_b");
        Some(LineProfileConfig {
            read_back: s.table(p, "read_back"),
            kick_watchdog: s.table(p, "kick_watchdog"),
            identify: s.table(p, "identify"),
            error_reply: s.table(p, "error_reply"),
            path: path?,
            baud,
            timeout_ms,
            line_ending,
            echo,
            select_a: select_a?,
            select_b: select_b?,
        })
    }
}

impl FromSection for BerofosConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let host = s.required(p, "host");
        let watchdog_interval_s: Option<u32> = s.get(p, "watchdog_interval_s");
        if watchdog_interval_s.is_some_and(|i| !(1..=65_535).contains(&i)) {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "watchdog_interval_s",
                "the berofos takes 1 to 65535 seconds",
            );
        }
        Some(BerofosConfig {
            port: s.get_or(p, "port", default_http_port()),
            username: s.get(p, "username"),
            password: s.get(p, "password"),
            timeout_ms: s.get_or(p, "timeout_ms", default_http_timeout_ms()),
            side_a_mode: s.get_or(p, "side_a_mode", default_berofos_side_a_mode()),
            set_default_mode: s.get_or(p, "set_default_mode", false),
            watchdog_interval_s,
            mac: s.get(p, "mac"),
            kick_port: s.get_or(p, "kick_port", BEROFOS_KICK_PORT),
            scenario: s.get(p, "scenario"),
            host: host?,
        })
    }
}

impl FromSection for FloatingIpConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let interface = s.required(p, "interface");
        let addresses = s.required(p, "addresses");
        Some(FloatingIpConfig {
            garp_count: s.get_or(p, "garp_count", default_garp_count()),
            garp_interval_ms: s.get_or(p, "garp_interval_ms", default_garp_interval_ms()),
            garp_repeat_after_ms: s.get_or(
                p,
                "garp_repeat_after_ms",
                default_garp_repeat_after_ms(),
            ),
            interface: interface?,
            addresses: addresses?,
        })
    }
}

impl FromSection for DrbdConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let resource = s.required(p, "resource");
        Some(DrbdConfig {
            drbdadm: s.get_or(p, "drbdadm", default_drbdadm()),
            drbdsetup: s.get_or(p, "drbdsetup", default_drbdsetup()),
            command_timeout_ms: s.get_or(
                p,
                "command_timeout_ms",
                default_drbd_command_timeout_ms(),
            ),
            poll_interval_ms: s.get_or(p, "poll_interval_ms", default_drbd_poll_interval_ms()),
            mount: s.table(p, "mount"),
            resource: resource?,
        })
    }
}

impl FromSection for MountConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let device = s.required(p, "device");
        let mountpoint = s.required(p, "mountpoint");
        Some(MountConfig {
            fstype: s.get(p, "fstype"),
            options: s.get(p, "options"),
            mount_command: s.get_or(p, "mount_command", default_mount_command()),
            umount_command: s.get_or(p, "umount_command", default_umount_command()),
            timeout_ms: s.get_or(p, "timeout_ms", default_mount_timeout_ms()),
            verify: s.get_or(p, "verify", true),
            device: device?,
            mountpoint: mountpoint?,
        })
    }
}

impl FromSection for AsteriskServiceConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let d = AsteriskServiceConfig::default();
        let mode = s.choice(
            p,
            "mode",
            &[("cold", StandbyMode::Cold), ("warm", StandbyMode::Warm)],
        );
        Some(AsteriskServiceConfig {
            mode: mode.unwrap_or(d.mode),
            start_command: s.get_or(p, "start_command", d.start_command),
            stop_command: s.get_or(p, "stop_command", d.stop_command),
            status_command: s.get_or(p, "status_command", d.status_command),
            cold_start_check: s.get_or(p, "cold_start_check", d.cold_start_check),
            command_timeout_ms: s.get_or(p, "command_timeout_ms", d.command_timeout_ms),
        })
    }
}

impl FromSection for StepPolicy {
    /// An explicit policy: the deadline is required; retries default to none.
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let deadline_ms = s.required(p, "deadline_ms");
        Some(StepPolicy {
            retries: s.get_or(p, "retries", 0),
            retry_delay_ms: s.get_or(p, "retry_delay_ms", default_retry_delay_ms()),
            deadline_ms: deadline_ms?,
        })
    }
}

impl FromSection for SequenceConfig {
    fn read(s: &mut Section<'_, '_>, p: &mut Problems) -> Option<Self> {
        let d = SequenceConfig::default();
        let on_failure = s.choice(
            p,
            "on_failure",
            &[
                ("rollback", FailurePolicy::Rollback),
                ("stop", FailurePolicy::Stop),
            ],
        );
        let relay_on_release = s.choice(
            p,
            "relay_on_release",
            &[
                ("leave", RelayReleaseAction::Leave),
                ("select_peer", RelayReleaseAction::SelectPeer),
            ],
        );
        Some(SequenceConfig {
            relay: s.table(p, "relay").unwrap_or(d.relay),
            drbd: s.table(p, "drbd").unwrap_or(d.drbd),
            floating_ip: s.table(p, "floating_ip").unwrap_or(d.floating_ip),
            asterisk: s.table(p, "asterisk").unwrap_or(d.asterisk),
            call_path_probe: s.table(p, "call_path_probe").unwrap_or(d.call_path_probe),
            on_failure: on_failure.unwrap_or(d.on_failure),
            relay_on_release: relay_on_release.unwrap_or(d.relay_on_release),
            journal: s.get(p, "journal"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reader::read_text;
    use crate::config::Problem;

    fn problems(text: &str) -> Vec<Problem> {
        read_text::<ActuateConfig>(text)
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"))
    }

    #[test]
    fn relay_config_selects_driver_and_rejects_unknown_fields() {
        let cfg: ActuateConfig =
            read_text("[relay]\ndriver = \"numato\"\npath = \"/dev/ttyACM0\"\nchannels = [0, 1]\n")
                .unwrap_or_else(|p| panic!("{p:?}"));
        match cfg.relay {
            Some(RelayConfig::Numato(n)) => {
                assert_eq!(n.channels, vec![0, 1]);
                assert_eq!(n.energized_side, Side::B);
                assert_eq!(n.timeout_ms, 500);
            }
            other => panic!("wrong driver: {other:?}"),
        }
        let found = problems("[relay]\ndriver = \"lcus\"\npath = \"/dev/x\"\nchanels = [1]\n");
        let typo = found
            .iter()
            .find(|p| p.key == "relay.chanels")
            .unwrap_or_else(|| panic!("{found:?}"));
        assert_eq!(typo.line, 4);
        assert!(typo.message.contains("did you mean `channels`"), "{typo}");
        let found = problems("[relay]\ndriver = \"carrier-pigeon\"\n");
        assert!(
            found
                .iter()
                .any(|p| p.key == "relay.driver" && p.message.contains("\"numato\"")),
            "{found:?}"
        );
    }

    #[test]
    fn every_mistake_in_a_section_is_reported() {
        let found = problems(
            "[floating_ip]\ninterface = 7\naddresses = [\"10.0.0.1/24\", \"10.0.0.2/40\"]\n\
             [sequence]\non_failure = \"panic\"\nfloating_ip = { retries = 2 }\n",
        );
        for (key, line) in [
            ("floating_ip.interface", 2),
            ("floating_ip.addresses", 3),
            ("sequence.on_failure", 5),
            ("sequence.floating_ip.deadline_ms", 6),
        ] {
            assert!(
                found.iter().any(|p| p.key == key && p.line == line),
                "{key} at line {line} missing in {found:#?}"
            );
        }
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
        let cfg: ActuateConfig = read_text(
            "[relay]\ndriver = \"berofos\"\nhost = \"10.0.0.5\"\nusername = \"admin\"\npassword = \"s3cret\"\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn whole_section_defaults() {
        let cfg: ActuateConfig = read_text("").unwrap_or_else(|p| panic!("{p:?}"));
        assert!(cfg.relay.is_none() && cfg.drbd.is_none() && cfg.floating_ip.is_none());
        assert_eq!(cfg.asterisk.mode, StandbyMode::Cold);
        assert_eq!(cfg.sequence.on_failure, FailurePolicy::Rollback);
        assert_eq!(cfg.sequence.relay.deadline_ms, 3_000);
        let cfg: ActuateConfig = read_text(
            r#"[relay]
driver = "line_profile"
path = "/dev/x"
select_a = { send = "SW A", expect = { exact = "OK" } }
select_b = { send = "SW B", expect = { regex = "^OK" } }
"#,
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let Some(RelayConfig::LineProfile(line)) = cfg.relay else {
            panic!("not a line profile");
        };
        assert_eq!(line.select_b.expect, Some(ReplyMatch::Regex("^OK".into())));
        assert_eq!(line.line_ending, "\r\n");
    }
}
