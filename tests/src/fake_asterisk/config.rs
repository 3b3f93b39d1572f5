//! Configuration of one emulated Asterisk instance: addresses, identity, users, dialplan, timing.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::classes::ClassSet;
use super::dialplan::Dialplan;

/// An AMI user as in manager.conf.
#[derive(Clone, PartialEq, Eq)]
pub struct AmiUser {
    /// `[name]`.
    pub name: String,
    /// `secret =` (never printed by `Debug`).
    pub secret: String,
    /// `read =`: the event classes the user may receive.
    pub read: ClassSet,
    /// `write =`: the action classes the user may send.
    pub write: ClassSet,
    /// `eventfilter = Event: X` lines: when non-empty, only events whose name starts with one of
    /// these reach the user (Asterisk matches the filter as an unanchored regular expression
    /// on the event's text, so `Event: Hangup` lets `HangupRequest` through too: fixture 24).
    pub event_filter: Vec<String>,
}

impl AmiUser {
    /// A user with `read = all`, `write = all`.
    pub fn full(name: &str, secret: &str) -> AmiUser {
        AmiUser {
            name: name.to_owned(),
            secret: secret.to_owned(),
            read: ClassSet::all(),
            write: ClassSet::all(),
            event_filter: Vec::new(),
        }
    }

    /// A user with `read = all` and no write permission (the fixtures' `readonly`).
    pub fn read_only(name: &str, secret: &str) -> AmiUser {
        AmiUser {
            write: ClassSet::none(),
            ..AmiUser::full(name, secret)
        }
    }

    /// A user with explicit manager.conf `read =` / `write =` lists.
    pub fn with_permissions(name: &str, secret: &str, read: &str, write: &str) -> AmiUser {
        AmiUser {
            read: ClassSet::parse(read),
            write: ClassSet::parse(write),
            ..AmiUser::full(name, secret)
        }
    }

    /// Adds `eventfilter = Event: <name>` lines (only these events reach the user).
    #[must_use]
    pub fn with_event_filter(mut self, names: &[&str]) -> AmiUser {
        self.event_filter = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }
}

impl fmt::Debug for AmiUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmiUser")
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .field("read", &self.read)
            .field("write", &self.write)
            .field("event_filter", &self.event_filter)
            .finish()
    }
}

/// An ARI (HTTP Basic) user as in ari.conf.
#[derive(Clone, PartialEq, Eq)]
pub struct AriUser {
    /// User name.
    pub name: String,
    /// Password (never printed by `Debug`).
    pub password: String,
}

impl fmt::Debug for AriUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AriUser")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// One emulated DAHDI span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanConfig {
    /// Span number (1-based, as in `dahdi show status`).
    pub span: u32,
    /// `Description:` of `DAHDIShowStatus`.
    pub description: String,
    /// The DAHDI channel numbers on this span (each gets an `Alarm` event).
    pub channels: Vec<u32>,
}

impl SpanConfig {
    /// A span with `channels` B-channels numbered after the previous spans' (E1-style 30 by default
    /// is overkill for tests: pass what you need).
    pub fn new(span: u32, channels: std::ops::RangeInclusive<u32>) -> SpanConfig {
        SpanConfig {
            span,
            description: format!("Emulated T1/E1 Card 0 Span {span}"),
            channels: channels.collect(),
        }
    }
}

/// When the emulated Asterisk reports `FullyBooted` after it starts listening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootMode {
    /// Booted as soon as it listens (a session that logs in gets `FullyBooted` at once).
    Immediate,
    /// Booted this long after it starts listening; logins before that see fixture 22.
    After(Duration),
    /// Stays booting until [`super::FakeAsterisk::finish_boot`] is called.
    Manual,
}

/// Everything that configures one emulated instance.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// `SYSTEMNAME` (`ha-a`): `SystemName:` headers and the Uniqueid prefix.
    pub system_name: String,
    /// Entity id (`02:00:00:00:00:0a`), reported by ARI.
    pub entity_id: String,
    /// AMI TCP address (port 0: any free port).
    pub ami_addr: SocketAddr,
    /// SIP UDP address; `None` disables SIP.
    pub sip_addr: Option<SocketAddr>,
    /// HTTP/ARI address; `None` disables HTTP.
    pub http_addr: Option<SocketAddr>,
    /// AMI users.
    pub users: Vec<AmiUser>,
    /// ARI users.
    pub ari_users: Vec<AriUser>,
    /// The dialplan Originate and SIP OPTIONS look extensions up in.
    pub dialplan: Dialplan,
    /// The context a SIP OPTIONS request-URI user part is looked up in.
    pub sip_context: String,
    /// The PJSIP module set whose capabilities SIP answers advertise.
    pub sip_capabilities: super::sip::SipCapabilities,
    /// DAHDI spans; empty means chan_dahdi is not loaded (`DAHDIShowStatus` is an unknown action).
    pub spans: Vec<SpanConfig>,
    /// How long `Answer()` keeps the channel before the next priority (about 500 ms on the
    /// captured system).
    pub answer_delay: Duration,
    /// Delay before a failed login is answered (about 1 s on a real Asterisk).
    pub auth_failure_delay: Duration,
    /// Asterisk disconnects a client that does not take its data within this time
    /// (`writetimeout`, 100 ms by default).
    pub write_timeout: Duration,
    /// When `FullyBooted` comes.
    pub boot: BootMode,
    /// A fixed `Challenge:` value instead of a random one (makes recorded MD5 logins replayable).
    pub fixed_challenge: Option<String>,
    /// Calls already processed at start (`CoreProcessedCalls`, `N calls processed`).
    pub initial_processed_calls: u64,
    /// Largest AMI frame accepted from a client; longer frames are skipped with a log line.
    pub max_frame_len: usize,
    /// How long a restart requested over AMI (`Command: core restart now`) stays down.
    pub restart_downtime: Duration,
}

impl FakeConfig {
    /// Instance `a` of the fixtures: `ha-a`, users `hasidecar`/`hasecret` (all) and `readonly`/`ro`,
    /// ARI user `hasidecar`, the shipped dialplan, everything on 127.0.0.1 with free ports.
    pub fn instance_a() -> FakeConfig {
        FakeConfig::named("ha-a", "02:00:00:00:00:0a")
    }

    /// Instance `b` of the fixtures (`ha-b`).
    pub fn instance_b() -> FakeConfig {
        FakeConfig::named("ha-b", "02:00:00:00:00:0b")
    }

    /// A configuration like the fixtures' with another system name and entity id.
    pub fn named(system_name: &str, entity_id: &str) -> FakeConfig {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        FakeConfig {
            system_name: system_name.to_owned(),
            entity_id: entity_id.to_owned(),
            ami_addr: any,
            sip_addr: Some(any),
            http_addr: Some(any),
            users: vec![
                AmiUser::full("hasidecar", "hasecret"),
                AmiUser::read_only("readonly", "ro"),
            ],
            ari_users: vec![AriUser {
                name: "hasidecar".to_owned(),
                password: "hasecret".to_owned(),
            }],
            dialplan: Dialplan::shipped(Duration::from_secs(1)),
            sip_context: "ha-probe".to_owned(),
            sip_capabilities: super::sip::SipCapabilities::Full,
            spans: Vec::new(),
            answer_delay: Duration::from_millis(500),
            auth_failure_delay: Duration::from_secs(1),
            write_timeout: Duration::from_millis(100),
            boot: BootMode::Immediate,
            fixed_challenge: None,
            initial_processed_calls: 0,
            max_frame_len: 64 * 1024,
            restart_downtime: Duration::from_secs(1),
        }
    }

    /// Makes every call fast: `Playback(silence/1)` takes `playback`, `Answer()` settles at once,
    /// a failed login is answered after 50 ms. For tests that do not care about real timing.
    /// Resets the dialplan to the shipped one (add own extensions afterwards).
    #[must_use]
    pub fn fast(mut self, playback: Duration) -> FakeConfig {
        self.dialplan = Dialplan::shipped(playback);
        self.answer_delay = Duration::from_millis(0);
        self.auth_failure_delay = Duration::from_millis(50);
        self
    }

    /// Adds an AMI user.
    #[must_use]
    pub fn with_user(mut self, user: AmiUser) -> FakeConfig {
        self.users.retain(|u| u.name != user.name);
        self.users.push(user);
        self
    }

    /// Adds (or replaces) a dialplan extension. Call after [`FakeConfig::fast`], which resets the
    /// dialplan to the shipped one.
    #[must_use]
    pub fn with_extension(mut self, extension: super::dialplan::Extension) -> FakeConfig {
        self.dialplan.add(extension);
        self
    }

    /// Adds a DAHDI span.
    #[must_use]
    pub fn with_span(mut self, span: SpanConfig) -> FakeConfig {
        self.spans.retain(|s| s.span != span.span);
        self.spans.push(span);
        self
    }

    /// The user with this name (names are case-sensitive in manager.conf).
    pub fn user(&self, name: &str) -> Option<&AmiUser> {
        self.users.iter().find(|u| u.name == name)
    }
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig::instance_a()
    }
}
