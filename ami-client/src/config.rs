//! Configuration of an AMI client: where to connect, how to log in, timers and limits.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::codec::DEFAULT_MAX_FRAME_LEN;

/// How to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// `Login` with `Secret: <secret>` (the secret crosses the wire in clear text).
    #[default]
    Plain,
    /// `Challenge` (AuthType MD5), then `Login` with `Key: md5hex(challenge + secret)`.
    Md5,
}

/// Which events the server should send (the `Events:` header of `Login`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EventMask {
    /// All events the user may read (`Events: on`).
    #[default]
    On,
    /// No events (`Events: off`): actions only.
    Off,
    /// Only these event classes, e.g. `["call", "system"]` (`Events: call,system`).
    Classes(Vec<String>),
}

impl EventMask {
    /// The value of the `Events:` header.
    pub fn header_value(&self) -> String {
        match self {
            EventMask::On => "on".to_owned(),
            EventMask::Off => "off".to_owned(),
            EventMask::Classes(classes) => classes.join(","),
        }
    }
}

/// Settings of a [`crate::Client`]. Build with [`ClientConfig::new`] and adjust the public fields.
#[derive(Clone)]
pub struct ClientConfig {
    /// `host:port` of the AMI server (e.g. `"127.0.0.1:5038"`).
    pub addr: String,
    /// AMI user name (`manager.conf` section).
    pub username: String,
    /// AMI secret; never printed by `Debug`.
    pub secret: String,
    /// Plain or MD5-challenge login.
    pub auth: AuthMethod,
    /// The `Events:` mask sent at login.
    pub events: EventMask,
    /// `Filter` expressions (`Operation: Add`) sent after every login, e.g. `"Event: Hangup"`.
    pub filters: Vec<String>,
    /// Deadline for the TCP connect.
    pub connect_timeout: Duration,
    /// Default deadline for an action's response (and for the login exchange).
    pub action_timeout: Duration,
    /// Interval of keepalive `Ping`s while logged in; zero disables them.
    pub ping_interval: Duration,
    /// A keepalive `Ping` without a response within this time drops the connection.
    pub ping_timeout: Duration,
    /// First reconnect delay; doubles up to `reconnect_backoff_max`, with jitter.
    pub reconnect_backoff_min: Duration,
    /// Largest reconnect delay.
    pub reconnect_backoff_max: Duration,
    /// Delay before retrying after the server rejected the login (no reconnect storm).
    pub auth_failure_backoff: Duration,
    /// At most this many user actions wait for a response at once; more wait in a queue.
    pub max_in_flight: usize,
    /// Events buffered per subscriber before the oldest unread ones are reported as missed.
    pub event_buffer: usize,
    /// Largest accepted frame in bytes (a bigger one is skipped, the connection stays).
    pub max_frame_len: usize,
    /// A label carried by every event of this connection (e.g. `"ha-a"`).
    pub server_name: String,
    /// Prefix of the ActionIDs this client allocates.
    pub action_id_prefix: String,
}

impl ClientConfig {
    /// A configuration with the defaults and this address and credentials.
    pub fn new(
        addr: impl ToString,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        let addr = addr.to_string();
        ClientConfig {
            server_name: addr.clone(),
            addr,
            username: username.into(),
            secret: secret.into(),
            auth: AuthMethod::Plain,
            events: EventMask::On,
            filters: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            action_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(3),
            reconnect_backoff_min: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(10),
            auth_failure_backoff: Duration::from_secs(60),
            max_in_flight: 64,
            event_buffer: DEFAULT_EVENT_BUFFER,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            action_id_prefix: "ami-".to_owned(),
        }
    }

    /// Same as [`ClientConfig::new`] with a socket address.
    pub fn with_socket_addr(
        addr: SocketAddr,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        ClientConfig::new(addr, username, secret)
    }
}

/// Default per-subscriber event buffer.
pub const DEFAULT_EVENT_BUFFER: usize = 16 * 1024;

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("auth", &self.auth)
            .field("events", &self.events)
            .field("filters", &self.filters)
            .field("connect_timeout", &self.connect_timeout)
            .field("action_timeout", &self.action_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("reconnect_backoff_min", &self.reconnect_backoff_min)
            .field("reconnect_backoff_max", &self.reconnect_backoff_max)
            .field("auth_failure_backoff", &self.auth_failure_backoff)
            .field("max_in_flight", &self.max_in_flight)
            .field("event_buffer", &self.event_buffer)
            .field("max_frame_len", &self.max_frame_len)
            .field("server_name", &self.server_name)
            .field("action_id_prefix", &self.action_id_prefix)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let config = ClientConfig::new("127.0.0.1:5038", "hasidecar", "hasecret");
        let text = format!("{config:?}");
        assert!(!text.contains("hasecret"), "{text}");
        assert!(text.contains("hasidecar"));
    }

    #[test]
    fn event_mask_header() {
        assert_eq!(EventMask::Off.header_value(), "off");
        let classes = EventMask::Classes(vec!["call".into(), "system".into()]);
        assert_eq!(classes.header_value(), "call,system");
    }
}
