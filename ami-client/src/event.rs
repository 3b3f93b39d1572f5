//! Events from Asterisk, with typed views of the ones the HA sidecar acts on.
//!
//! Typed views borrow from the event and never fail: a missing header is `None`, and every event
//! (known or not) stays available as its full [`Message`], so nothing is ever rejected.

use std::sync::Arc;

use crate::message::Message;

/// One event, labelled with the server it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    server: Arc<str>,
    raw: Message,
}

impl Event {
    /// Wraps a decoded message that has an `Event:` header.
    pub fn new(server: Arc<str>, raw: Message) -> Self {
        Event { server, raw }
    }

    /// The event name (`Event:` header), e.g. `Hangup`.
    pub fn name(&self) -> &str {
        // `Event` is the first header of every event Asterisk sends.
        match self.raw.first() {
            Some((name, value)) if name.eq_ignore_ascii_case("Event") => value,
            _ => self.raw.get("Event").unwrap_or_default(),
        }
    }

    /// The label of the server this event came from ([`crate::ClientConfig::server_name`]).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The value of a header (case-insensitive, first match).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw.get(name)
    }

    /// The `ActionID` header (list items, `OriginateResponse`).
    pub fn action_id(&self) -> Option<&str> {
        self.raw.action_id()
    }

    /// All headers.
    pub fn raw(&self) -> &Message {
        &self.raw
    }

    /// Turns the event into its headers.
    pub fn into_raw(self) -> Message {
        self.raw
    }

    /// A typed view of the event; unknown events are [`KnownEvent::Other`].
    pub fn typed(&self) -> KnownEvent<'_> {
        let m = &self.raw;
        let name = self.name();
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("FullyBooted") {
            KnownEvent::FullyBooted(FullyBooted {
                status: m.get("Status"),
                uptime: parse_num(m.get("Uptime")),
                last_reload: parse_num(m.get("LastReload")),
            })
        } else if is("Shutdown") {
            KnownEvent::Shutdown(Shutdown {
                shutdown: m.get("Shutdown"),
                restart: m.get("Restart").map(is_true),
            })
        } else if is("OriginateResponse") {
            let response = m.get("Response");
            KnownEvent::OriginateResponse(OriginateResponse {
                action_id: m.action_id(),
                response,
                success: response.is_some_and(|r| r.eq_ignore_ascii_case("Success")),
                channel: m.get("Channel"),
                reason: parse_num(m.get("Reason")),
                uniqueid: m.get("Uniqueid"),
                context: m.get("Context"),
                exten: m.get("Exten"),
                application: m.get("Application"),
            })
        } else if is("Newchannel") {
            KnownEvent::Newchannel(Newchannel {
                channel: m.get("Channel"),
                channel_state: parse_num(m.get("ChannelState")),
                uniqueid: m.get("Uniqueid"),
                linkedid: m.get("Linkedid"),
                context: m.get("Context"),
                exten: m.get("Exten"),
                caller_id_num: m.get("CallerIDNum"),
            })
        } else if is("Hangup") {
            KnownEvent::Hangup(Hangup {
                channel: m.get("Channel"),
                uniqueid: m.get("Uniqueid"),
                linkedid: m.get("Linkedid"),
                cause: parse_num(m.get("Cause")),
                cause_txt: m.get("Cause-txt"),
            })
        } else if is("UserEvent") {
            KnownEvent::UserEvent(UserEvent {
                user_event: m.get("UserEvent"),
                channel: m.get("Channel"),
                message: m,
            })
        } else if is("Alarm") {
            KnownEvent::Alarm(Alarm {
                channel: dahdi_channel(m),
                alarm: m.get("Alarm"),
            })
        } else if is("AlarmClear") {
            KnownEvent::AlarmClear(AlarmClear {
                channel: dahdi_channel(m),
            })
        } else if is("SpanAlarm") {
            KnownEvent::SpanAlarm(SpanAlarm {
                span: parse_num(m.get("Span")),
                alarm: m.get("Alarm"),
            })
        } else if is("SpanAlarmClear") {
            KnownEvent::SpanAlarmClear(SpanAlarmClear {
                span: parse_num(m.get("Span")),
            })
        } else {
            KnownEvent::Other(self)
        }
    }
}

fn parse_num<N: std::str::FromStr>(value: Option<&str>) -> Option<N> {
    value.and_then(|v| v.trim().parse().ok())
}

fn is_true(value: &str) -> bool {
    ["true", "yes", "1", "on"]
        .iter()
        .any(|t| value.trim().eq_ignore_ascii_case(t))
}

/// chan_dahdi names the channel `DAHDIChannel` (older versions: `Channel`).
fn dahdi_channel(m: &Message) -> Option<&str> {
    m.get("DAHDIChannel").or_else(|| m.get("Channel"))
}

/// Typed views of the events the sidecar needs; everything else is `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownEvent<'a> {
    /// `FullyBooted`: Asterisk finished starting (also sent right after login).
    FullyBooted(FullyBooted<'a>),
    /// `Shutdown`: Asterisk is stopping or restarting; the connection ends next.
    Shutdown(Shutdown<'a>),
    /// `OriginateResponse`: the outcome of an async `Originate` (same ActionID).
    OriginateResponse(OriginateResponse<'a>),
    /// `Newchannel`.
    Newchannel(Newchannel<'a>),
    /// `Hangup`.
    Hangup(Hangup<'a>),
    /// `UserEvent` from the dialplan (e.g. `HAFailover`).
    UserEvent(UserEvent<'a>),
    /// `Alarm` on a DAHDI channel.
    Alarm(Alarm<'a>),
    /// `AlarmClear` on a DAHDI channel.
    AlarmClear(AlarmClear<'a>),
    /// `SpanAlarm` on a DAHDI span.
    SpanAlarm(SpanAlarm<'a>),
    /// `SpanAlarmClear` on a DAHDI span.
    SpanAlarmClear(SpanAlarmClear),
    /// Any other event, complete and unchanged.
    Other(&'a Event),
}

/// `FullyBooted` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullyBooted<'a> {
    /// `Status` (`Fully Booted`).
    pub status: Option<&'a str>,
    /// `Uptime` in seconds.
    pub uptime: Option<u64>,
    /// `LastReload` in seconds.
    pub last_reload: Option<u64>,
}

/// `Shutdown` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shutdown<'a> {
    /// `Cleanly` or `Uncleanly`.
    pub shutdown: Option<&'a str>,
    /// `Restart: True` means Asterisk comes back by itself.
    pub restart: Option<bool>,
}

/// `OriginateResponse` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginateResponse<'a> {
    /// The ActionID of the `Originate`.
    pub action_id: Option<&'a str>,
    /// `Success` or `Failure`.
    pub response: Option<&'a str>,
    /// Whether `Response` is `Success`.
    pub success: bool,
    /// The originated channel.
    pub channel: Option<&'a str>,
    /// Asterisk's reason code (4 = answered, 0 = failed, 1/5/8 = no answer/busy/congestion).
    pub reason: Option<u32>,
    /// `Uniqueid` (`<unknown>` when no channel was created).
    pub uniqueid: Option<&'a str>,
    /// `Context` when originating into the dialplan.
    pub context: Option<&'a str>,
    /// `Exten` when originating into the dialplan.
    pub exten: Option<&'a str>,
    /// `Application` when originating into an application.
    pub application: Option<&'a str>,
}

/// `Newchannel` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newchannel<'a> {
    /// Channel name.
    pub channel: Option<&'a str>,
    /// Numeric channel state.
    pub channel_state: Option<u32>,
    /// `Uniqueid`.
    pub uniqueid: Option<&'a str>,
    /// `Linkedid`.
    pub linkedid: Option<&'a str>,
    /// Dialplan context.
    pub context: Option<&'a str>,
    /// Dialplan extension.
    pub exten: Option<&'a str>,
    /// Caller ID number.
    pub caller_id_num: Option<&'a str>,
}

/// `Hangup` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hangup<'a> {
    /// Channel name.
    pub channel: Option<&'a str>,
    /// `Uniqueid`.
    pub uniqueid: Option<&'a str>,
    /// `Linkedid`.
    pub linkedid: Option<&'a str>,
    /// Q.850 cause code (16 = normal clearing).
    pub cause: Option<u32>,
    /// `Cause-txt`.
    pub cause_txt: Option<&'a str>,
}

/// `UserEvent` fields; the user's own headers are in `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEvent<'a> {
    /// The user event name (`UserEvent:` header), e.g. `HAFailover`.
    pub user_event: Option<&'a str>,
    /// The channel that raised it.
    pub channel: Option<&'a str>,
    /// All headers, for the user-defined ones (e.g. `Reason`, `Node`).
    pub message: &'a Message,
}

/// `Alarm` fields (chan_dahdi).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm<'a> {
    /// The DAHDI channel.
    pub channel: Option<&'a str>,
    /// Alarm text, e.g. `Red Alarm`.
    pub alarm: Option<&'a str>,
}

/// `AlarmClear` fields (chan_dahdi).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmClear<'a> {
    /// The DAHDI channel.
    pub channel: Option<&'a str>,
}

/// `SpanAlarm` fields (chan_dahdi).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanAlarm<'a> {
    /// Span number.
    pub span: Option<u32>,
    /// Alarm text, e.g. `Red Alarm`.
    pub alarm: Option<&'a str>,
}

/// `SpanAlarmClear` fields (chan_dahdi).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanAlarmClear {
    /// Span number.
    pub span: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(headers: &[(&str, &str)]) -> Event {
        Event::new(Arc::from("ha-a"), headers.iter().copied().collect())
    }

    #[test]
    fn originate_response_failure() {
        let e = event(&[
            ("Event", "OriginateResponse"),
            ("ActionID", "x1"),
            ("Response", "Failure"),
            ("Reason", "0"),
            ("Uniqueid", "<unknown>"),
        ]);
        match e.typed() {
            KnownEvent::OriginateResponse(o) => {
                assert!(!o.success);
                assert_eq!(o.reason, Some(0));
                assert_eq!(o.action_id, Some("x1"));
                assert_eq!(o.channel, None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.server(), "ha-a");
    }

    #[test]
    fn shutdown_restart_and_missing_fields() {
        let e = event(&[
            ("Event", "Shutdown"),
            ("Shutdown", "Cleanly"),
            ("Restart", "True"),
        ]);
        assert_eq!(
            e.typed(),
            KnownEvent::Shutdown(Shutdown {
                shutdown: Some("Cleanly"),
                restart: Some(true)
            })
        );
        let bare = event(&[("Event", "Shutdown")]);
        assert_eq!(
            bare.typed(),
            KnownEvent::Shutdown(Shutdown {
                shutdown: None,
                restart: None
            })
        );
    }

    #[test]
    fn span_alarm_and_unknown_events() {
        let e = event(&[
            ("Event", "SpanAlarm"),
            ("Span", "2"),
            ("Alarm", "Red Alarm"),
        ]);
        assert_eq!(
            e.typed(),
            KnownEvent::SpanAlarm(SpanAlarm {
                span: Some(2),
                alarm: Some("Red Alarm")
            })
        );
        let local = event(&[("Event", "LocalBridge"), ("LocalOneChannel", "Local/x;1")]);
        match local.typed() {
            KnownEvent::Other(o) => assert_eq!(o.get("LocalOneChannel"), Some("Local/x;1")),
            other => panic!("{other:?}"),
        }
    }
}
