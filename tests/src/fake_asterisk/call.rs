//! One originated Local call and the manager events it produces, step by step (no I/O, no clock).
//!
//! The event order follows the captures (fixtures 10, 11, 15, 16, 23): the `;1`/`;2` Local channel
//! pair is created, caller ID is set, the pair is bridged and dialed, then `;2` runs the dialplan
//! priorities one at a time. Where the real Asterisk orders events nondeterministically (the
//! `OriginateResponse` floats around the answer), one of the observed orders is used.
//! A driver (see `core.rs`) calls the step methods and sleeps between them.

use std::time::{Duration, Instant};

use super::channel::{Channel, ChannelState, UNKNOWN};
use super::classes::EventClass;
use super::dialplan::{substitute, DialplanApp, Extension, Vars};
use super::event::{AmiEvent, Headers};

/// What the originated channel is connected to once answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginateTarget {
    /// `Application:` / `Data:`.
    Application {
        /// Application name (`Echo`, `Wait`).
        app: String,
        /// Its data (`5`).
        data: String,
    },
    /// `Context:` / `Exten:` / `Priority:` (the `;1` side then idles until the call ends).
    Dialplan {
        /// Context.
        context: String,
        /// Extension.
        exten: String,
        /// Priority.
        priority: String,
    },
}

/// A parsed Originate request for a `Local/<exten>@<context>` channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginateRequest {
    /// `ActionID` of the action, echoed in `OriginateResponse`.
    pub action_id: Option<String>,
    /// `Local/probe@ha-probe` as sent.
    pub channel: String,
    /// The extension part.
    pub exten: String,
    /// The context part.
    pub context: String,
    /// What `;1` runs after the answer.
    pub target: OriginateTarget,
    /// Caller ID (number, name) from `CallerID: "Name" <num>`.
    pub caller: Option<(String, String)>,
    /// `Variable:` assignments.
    pub variables: Vec<(String, String)>,
}

/// Why a call ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HangupCause {
    /// The `;2` dialplan hung up (Hangup() or fell off the end): cause 16 from `;2`.
    DialplanHangup,
    /// The `;1` application finished (e.g. `Wait(5)` elapsed): cause 16 from `;1`.
    OriginatorDone,
    /// An AMI `Hangup` action on one of the channels.
    HangupAction {
        /// Which side was named in the action (`true` for `;1`).
        first: bool,
    },
    /// The `;2` dialplan reached an application that is not loaded: Asterisk logs
    /// `No application 'X'` and ends the channel, cause 0 on both sides (fixture 26).
    DialplanError,
}

/// The next thing the driver must do for this call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Run the next priority at once.
    Continue,
    /// Sleep this long, then run the next priority (`Answer`, `Playback`, `Wait`).
    Sleep(Duration),
    /// Nothing more until the call is hung up from elsewhere (`Echo`).
    UntilHangup,
    /// The call is over.
    Finished,
}

/// One call in progress: the Local channel pair and where `;2` is in the dialplan.
#[derive(Clone, Debug)]
pub struct Call {
    /// Call number (order of creation since boot).
    pub index: u64,
    /// The request that created it.
    pub request: OriginateRequest,
    /// `;1`, the originated side.
    pub one: Channel,
    /// `;2`, the side that runs the dialplan.
    pub two: Channel,
    extension: Option<Extension>,
    /// Index of the next priority to run on `;2`.
    next_priority: usize,
    answered: bool,
    finished: bool,
    /// Async originates report their outcome in an `OriginateResponse` event; sync ones do not.
    reports_outcome: bool,
    system_name: String,
    /// `;2`'s channel variables: the Originate's (a Local channel copies them) and those the
    /// dialplan sets (`PLAYBACKSTATUS`).
    vars: Vec<(String, String)>,
}

/// Identifiers a new call needs from the core.
#[derive(Clone, Debug)]
pub struct CallIds {
    /// Call number since boot.
    pub index: u64,
    /// Local channel sequence number (the `-00000043` suffix).
    pub local_seq: u32,
    /// Uniqueid of `;1`.
    pub uniqueid_one: String,
    /// Uniqueid of `;2`.
    pub uniqueid_two: String,
}

fn ev(name: &str, class: EventClass, body: Headers) -> AmiEvent {
    AmiEvent::new(name, class, body)
}

impl Call {
    /// Creates the call; `extension` is `None` when the dialplan has no such extension (the call
    /// then fails in [`Call::start`] as in fixture 11).
    pub fn new(
        request: OriginateRequest,
        extension: Option<Extension>,
        ids: CallIds,
        system_name: &str,
        now: Instant,
    ) -> Call {
        let base = format!("{}-{:08x}", request.channel, ids.local_seq);
        let one = Channel::new(
            format!("{base};1"),
            ChannelState::Down,
            &request.context,
            &request.exten,
            ids.uniqueid_one.clone(),
            ids.uniqueid_one.clone(),
            now,
        );
        let mut two = Channel::new(
            format!("{base};2"),
            ChannelState::Ring,
            &request.context,
            &request.exten,
            ids.uniqueid_two,
            ids.uniqueid_one,
            now,
        );
        two.application = "(None)".to_owned();
        let mut call = Call {
            index: ids.index,
            request,
            one,
            two,
            extension,
            next_priority: 0,
            answered: false,
            finished: false,
            reports_outcome: true,
            system_name: system_name.to_owned(),
            vars: Vec::new(),
        };
        call.vars = call.request.variables.clone();
        call.one.application = "AppDial2".to_owned();
        call.one.app_data = "(Outgoing Line)".to_owned();
        call
    }

    /// Whether the extension exists (otherwise the call fails at once).
    pub fn routable(&self) -> bool {
        self.extension.is_some()
    }

    /// Whether the call was answered.
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// Whether the call is over.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The device name of `DeviceStateChange` (`Local/probe@ha-probe`).
    pub fn device(&self) -> &str {
        &self.request.channel
    }

    fn device_state(&self, state: &str) -> AmiEvent {
        ev(
            "DeviceStateChange",
            EventClass::Call,
            Headers::new()
                .with("Device", self.device())
                .with("State", state),
        )
    }

    fn originate_response(&self, success: bool) -> AmiEvent {
        let mut h = Headers::new().with_action_id(self.request.action_id.as_deref());
        h.push("Response", if success { "Success" } else { "Failure" });
        let (channel, uniqueid, num, name) = if success {
            (
                self.one.name.as_str(),
                self.one.uniqueid.as_str(),
                self.one.caller_num.as_str(),
                self.one.caller_name.as_str(),
            )
        } else {
            let (num, name) = self
                .request
                .caller
                .as_ref()
                .map(|(n, m)| (n.as_str(), m.as_str()))
                .unwrap_or((UNKNOWN, UNKNOWN));
            (self.request.channel.as_str(), UNKNOWN, num, name)
        };
        h.push("Channel", channel);
        push_target(&mut h, &self.request.target);
        h.push("Reason", if success { "4" } else { "0" });
        h.push("Uniqueid", uniqueid);
        h.push("CallerIDNum", num);
        h.push("CallerIDName", name);
        ev("OriginateResponse", EventClass::Call, h)
    }

    fn varset(chan: &Channel, name: &str, value: &str) -> AmiEvent {
        let mut h = chan.headers("");
        h.push("Variable", name);
        h.push("Value", value);
        ev("VarSet", EventClass::Dialplan, h)
    }

    fn newexten(chan: &Channel, app: &str, data: &str) -> AmiEvent {
        let mut h = chan.headers("");
        h.push("Extension", chan.exten.as_str());
        h.push("Application", app);
        h.push("AppData", data);
        ev("Newexten", EventClass::Dialplan, h)
    }

    fn hangup_event(chan: &Channel, cause: u8) -> AmiEvent {
        let mut h = chan.headers("");
        h.push("Cause", cause.to_string());
        h.push(
            "Cause-txt",
            if cause == 16 {
                "Normal Clearing"
            } else {
                "Unknown"
            },
        );
        ev("Hangup", EventClass::Call, h)
    }

    fn request_event(name: &str, chan: &Channel, cause: u8) -> AmiEvent {
        let mut h = chan.headers("");
        h.push("Cause", cause.to_string());
        ev(name, EventClass::Call, h)
    }

    /// Creates the channel pair, sets caller ID and dials. `report_failure` is set for an async
    /// originate, whose outcome goes out as an `OriginateResponse` event (success or failure).
    /// For an unroutable call this also fails it: `OriginateResponse: Failure`, both hangups (cause 0), and
    /// `DeviceStateChange: INVALID` twice, exactly as fixture 11.
    pub fn start(&mut self, report_failure: bool) -> Vec<AmiEvent> {
        self.reports_outcome = report_failure;
        let mut out = vec![
            ev("Newchannel", EventClass::Call, self.one.headers("")),
            ev("Newchannel", EventClass::Call, self.two.headers("")),
            Call::newexten(&self.one, "AppDial2", "(Outgoing Line)"),
        ];
        for (k, v) in &self.request.variables {
            out.push(Call::varset(&self.one, k, v));
        }
        if let Some((num, name)) = self.request.caller.clone() {
            self.one.caller_num = num.clone();
            self.one.caller_name = name.clone();
            let mut h = self.one.headers("");
            h.push("CID-CallingPres", "0 (Presentation Allowed, Not Screened)");
            out.push(ev("NewCallerid", EventClass::Call, h));
            self.one.connected_num = num.clone();
            self.one.connected_name = name.clone();
            out.push(ev(
                "NewConnectedLine",
                EventClass::Call,
                self.one.headers(""),
            ));
            for (k, v) in &self.request.variables {
                out.push(Call::varset(&self.two, k, v));
            }
            // `;2` gets caller and connected line at once (its first NewCallerid shows both).
            self.two.caller_num = num.clone();
            self.two.caller_name = name.clone();
            self.two.connected_num = num;
            self.two.connected_name = name;
            let mut h = self.two.headers("");
            h.push("CID-CallingPres", "0 (Presentation Allowed, Not Screened)");
            out.push(ev("NewCallerid", EventClass::Call, h));
            out.push(ev(
                "NewConnectedLine",
                EventClass::Call,
                self.two.headers(""),
            ));
        } else {
            for (k, v) in &self.request.variables {
                out.push(Call::varset(&self.two, k, v));
            }
        }
        if self.extension.is_none() {
            if report_failure {
                out.push(self.originate_response(false));
            }
            out.push(Call::hangup_event(&self.two, 0));
            out.push(Call::hangup_event(&self.one, 0));
            out.push(self.device_state("INVALID"));
            out.push(self.device_state("INVALID"));
            self.finished = true;
            return out;
        }
        let mut h = self.one.headers("LocalOne");
        h.extend(self.two.headers("LocalTwo"));
        h.push("Context", self.request.context.as_str());
        h.push("Exten", self.request.exten.as_str());
        h.push("LocalOptimization", "Yes");
        out.push(ev("LocalBridge", EventClass::Call, h));
        let mut h = self.one.headers("Dest");
        h.push(
            "DialString",
            format!("{}@{}", self.request.exten, self.request.context),
        );
        out.push(ev("DialBegin", EventClass::Call, h));
        out
    }

    /// Runs the next dialplan priority on `;2`; returns its events and what to do next.
    /// `answer_delay` is how long `Answer()` settles.
    pub fn step(&mut self, answer_delay: Duration) -> (Vec<AmiEvent>, Next) {
        if self.finished {
            return (Vec::new(), Next::Finished);
        }
        let Some(app) = self
            .extension
            .as_ref()
            .and_then(|e| e.priorities.get(self.next_priority))
            .cloned()
        else {
            // Fell off the end of the extension: Asterisk hangs the channel up.
            return (self.hang_up(HangupCause::DialplanHangup), Next::Finished);
        };
        self.next_priority += 1;
        self.two.priority = self.next_priority;
        if let DialplanApp::Unavailable(name) = &app {
            tracing::warn!(
                "No application '{name}' for extension ({}, {}, {})",
                self.request.context,
                self.request.exten,
                self.next_priority
            );
            return (self.hang_up(HangupCause::DialplanError), Next::Finished);
        }
        let vars = Vars {
            system_name: &self.system_name,
            channel: &self.vars,
        };
        let data = app.data(vars);
        let jump = match (&app, app.condition(vars)) {
            (DialplanApp::GotoIf { label, .. }, Some(true)) => {
                self.extension.as_ref().and_then(|e| e.label(label))
            }
            _ => None,
        };
        let user_event_headers: Vec<(String, String)> = match &app {
            DialplanApp::UserEvent { headers, .. } => headers
                .iter()
                .map(|(k, v)| (k.clone(), substitute(v, vars)))
                .collect(),
            _ => Vec::new(),
        };
        self.two.application = app.name().to_owned();
        self.two.app_data = data.clone();
        let mut out = vec![Call::newexten(&self.two, app.name(), &data)];
        let next = match app {
            DialplanApp::NoOp(_) => Next::Continue,
            DialplanApp::Answer => {
                out.extend(self.answer());
                if answer_delay.is_zero() {
                    Next::Continue
                } else {
                    Next::Sleep(answer_delay)
                }
            }
            DialplanApp::Playback { duration, .. } => Next::Sleep(duration),
            DialplanApp::Wait(d) => Next::Sleep(d),
            DialplanApp::Echo => Next::UntilHangup,
            DialplanApp::UserEvent { name, .. } => {
                let mut h = self.two.headers("");
                h.push("UserEvent", name);
                for (k, v) in user_event_headers {
                    h.push(k, v);
                }
                out.push(ev("UserEvent", EventClass::User, h));
                Next::Continue
            }
            DialplanApp::Unavailable(_) => Next::Finished,
            DialplanApp::GotoIf { .. } => {
                if let Some(index) = jump {
                    self.next_priority = index;
                }
                Next::Continue
            }
            DialplanApp::Hangup => {
                out.extend(self.hang_up(HangupCause::DialplanHangup));
                Next::Finished
            }
        };
        (out, next)
    }

    /// Events that close a sleeping priority (Playback sets `PLAYBACKSTATUS`).
    pub fn finish_sleep(&mut self) -> Vec<AmiEvent> {
        let current = self
            .extension
            .as_ref()
            .and_then(|e| e.priorities.get(self.next_priority.wrapping_sub(1)));
        match current {
            Some(DialplanApp::Playback { .. }) => {
                self.vars
                    .push(("PLAYBACKSTATUS".to_owned(), "SUCCESS".to_owned()));
                vec![Call::varset(&self.two, "PLAYBACKSTATUS", "SUCCESS")]
            }
            _ => Vec::new(),
        }
    }

    fn answer(&mut self) -> Vec<AmiEvent> {
        if self.answered {
            return Vec::new();
        }
        self.answered = true;
        let mut out = Vec::new();
        // Printed before `;1`'s Newstate, as in most calls of fixture 16.
        if self.reports_outcome {
            out.push(self.originate_response(true));
        }
        self.two.state = ChannelState::Up;
        out.push(ev("Newstate", EventClass::Call, self.two.headers("")));
        out.push(self.device_state("INUSE"));
        self.one.state = ChannelState::Up;
        out.push(ev("Newstate", EventClass::Call, self.one.headers("")));
        let mut h = self.one.headers("Dest");
        h.push("DialStatus", "ANSWER");
        out.push(ev("DialEnd", EventClass::Call, h));
        out.push(self.device_state("INUSE"));
        if let OriginateTarget::Application { app, data } = &self.request.target {
            self.one.application = app.clone();
            self.one.app_data = data.clone();
        }
        out
    }

    /// How long `;1`'s application runs before it ends the call, if it ends by itself
    /// (`Wait(N)`); `None` for `Echo` and the others, which run until the other side hangs up.
    pub fn originator_lifetime(&self) -> Option<Duration> {
        match &self.request.target {
            OriginateTarget::Application { app, data } if app.eq_ignore_ascii_case("wait") => data
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64),
            _ => None,
        }
    }

    /// Ends the call; returns the hangup events.
    pub fn hang_up(&mut self, cause: HangupCause) -> Vec<AmiEvent> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        let mut out = Vec::new();
        if !self.answered && self.reports_outcome {
            // Never answered: the async originate failed (fixture 25, the quick probe).
            out.push(self.originate_response(false));
        }
        match cause {
            HangupCause::DialplanHangup => {
                out.push(Call::request_event("SoftHangupRequest", &self.two, 16));
                out.push(Call::request_event("HangupRequest", &self.one, 16));
                out.push(Call::hangup_event(&self.two, 16));
                out.push(Call::hangup_event(&self.one, 16));
            }
            HangupCause::OriginatorDone | HangupCause::HangupAction { first: true } => {
                if cause != HangupCause::OriginatorDone {
                    out.push(Call::request_event("HangupRequest", &self.one, 16));
                }
                out.push(Call::request_event("HangupRequest", &self.two, 16));
                out.push(Call::hangup_event(&self.one, 16));
                out.push(Call::hangup_event(&self.two, 16));
            }
            HangupCause::HangupAction { first: false } => {
                out.push(Call::request_event("HangupRequest", &self.two, 16));
                out.push(Call::request_event("HangupRequest", &self.one, 16));
                out.push(Call::hangup_event(&self.two, 16));
                out.push(Call::hangup_event(&self.one, 16));
            }
            HangupCause::DialplanError => {
                out.push(Call::request_event("HangupRequest", &self.one, 0));
                out.push(Call::hangup_event(&self.two, 0));
                out.push(Call::hangup_event(&self.one, 0));
            }
        }
        out.push(self.device_state("NOT_INUSE"));
        out.push(self.device_state("NOT_INUSE"));
        out
    }

    /// First phase of a shutdown with calls up (fixture 23): the core soft-hangs every channel up
    /// with cause 4. Even-numbered calls also show the `;2` side's own cause-16 request here.
    pub fn shutdown_requests(&self, even: bool) -> Vec<AmiEvent> {
        if self.finished {
            return Vec::new();
        }
        let mut out = vec![Call::request_event("SoftHangupRequest", &self.two, 4)];
        if even {
            out.push(Call::request_event("SoftHangupRequest", &self.two, 16));
        }
        out.push(Call::request_event("SoftHangupRequest", &self.one, 4));
        out
    }

    /// Second phase of a shutdown: the hangups (cause 0). Fixture 23 shows two orders, depending
    /// on which side of the Local pair loses the race; even calls get the first, odd the second.
    pub fn shutdown_hangups(&mut self, even: bool) -> Vec<AmiEvent> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        if even {
            vec![
                Call::request_event("HangupRequest", &self.one, 0),
                Call::hangup_event(&self.two, 0),
                Call::hangup_event(&self.one, 0),
            ]
        } else {
            vec![
                Call::request_event("HangupRequest", &self.two, 0),
                Call::hangup_event(&self.one, 0),
                Call::request_event("SoftHangupRequest", &self.two, 16),
                Call::hangup_event(&self.two, 0),
            ]
        }
    }

    /// The last phase of a shutdown: the device goes idle (two events per call).
    pub fn shutdown_device_states(&self) -> Vec<AmiEvent> {
        vec![
            self.device_state("NOT_INUSE"),
            self.device_state("NOT_INUSE"),
        ]
    }

    /// The channels of the call, in the order `CoreShowChannels` lists them.
    pub fn channels(&self) -> [&Channel; 2] {
        [&self.two, &self.one]
    }
}

fn push_target(h: &mut Headers, target: &OriginateTarget) {
    match target {
        OriginateTarget::Application { app, data } => {
            h.push("Application", app.as_str());
            h.push("Data", data.as_str());
        }
        OriginateTarget::Dialplan { context, exten, .. } => {
            h.push("Context", context.as_str());
            h.push("Exten", exten.as_str());
        }
    }
}

/// Parses `CallerID: "HA probe" <9000>` into (number, name); a bare number gives an empty name
/// like Asterisk's `ast_callerid_parse`.
pub fn parse_caller_id(text: &str) -> (String, String) {
    let text = text.trim();
    if let (Some(lt), Some(gt)) = (text.rfind('<'), text.rfind('>')) {
        if lt < gt {
            let num = text[lt + 1..gt].trim().to_owned();
            let name = text[..lt].trim().trim_matches('"').trim().to_owned();
            return (num, name);
        }
    }
    if text
        .chars()
        .all(|c| c.is_ascii_digit() || "+*#".contains(c))
    {
        (text.to_owned(), String::new())
    } else {
        (String::new(), text.trim_matches('"').to_owned())
    }
}

/// Splits `Local/<exten>@<context>[/n]` into (exten, context).
pub fn parse_local_channel(channel: &str) -> Option<(String, String)> {
    let rest = channel.strip_prefix("Local/").or_else(|| {
        channel
            .get(..6)
            .filter(|p| p.eq_ignore_ascii_case("local/"))
            .map(|_| &channel[6..])
    })?;
    let rest = rest.split('/').next().unwrap_or(rest);
    let (exten, context) = rest.split_once('@').unwrap_or((rest, "default"));
    if exten.is_empty() || context.is_empty() {
        return None;
    }
    Some((exten.to_owned(), context.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_asterisk::dialplan::Dialplan;

    fn probe_call(caller: Option<(&str, &str)>, exten: &str) -> Call {
        let plan = Dialplan::captured(Duration::from_secs(1));
        let request = OriginateRequest {
            action_id: Some("ha-orig-1".to_owned()),
            channel: format!("Local/{exten}@ha-probe"),
            exten: exten.to_owned(),
            context: "ha-probe".to_owned(),
            target: OriginateTarget::Application {
                app: "Echo".to_owned(),
                data: String::new(),
            },
            caller: caller.map(|(n, m)| (n.to_owned(), m.to_owned())),
            variables: vec![],
        };
        Call::new(
            request,
            plan.lookup("ha-probe", exten).cloned(),
            CallIds {
                index: 0,
                local_seq: 0x43,
                uniqueid_one: "ha-a-1.134".to_owned(),
                uniqueid_two: "ha-a-1.135".to_owned(),
            },
            "ha-a",
            Instant::now(),
        )
    }

    fn names(events: &[AmiEvent]) -> Vec<&str> {
        events.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn probe_call_runs_the_captured_sequence() {
        let mut call = probe_call(Some(("9000", "HA probe")), "probe");
        let start = call.start(true);
        assert_eq!(
            names(&start),
            [
                "Newchannel",
                "Newchannel",
                "Newexten",
                "NewCallerid",
                "NewConnectedLine",
                "NewCallerid",
                "NewConnectedLine",
                "LocalBridge",
                "DialBegin"
            ]
        );
        assert_eq!(
            start[0].body.get("Channel"),
            Some("Local/probe@ha-probe-00000043;1")
        );
        let mut all = Vec::new();
        loop {
            let (events, next) = call.step(Duration::from_millis(500));
            all.extend(events);
            match next {
                Next::Sleep(_) => all.extend(call.finish_sleep()),
                Next::Continue => {}
                Next::Finished => break,
                Next::UntilHangup => panic!("probe must hang up by itself"),
            }
        }
        assert_eq!(
            names(&all),
            [
                "Newexten",
                "Newexten",
                "OriginateResponse",
                "Newstate",
                "DeviceStateChange",
                "Newstate",
                "DialEnd",
                "DeviceStateChange",
                "Newexten",
                "VarSet",
                "Newexten",
                "SoftHangupRequest",
                "HangupRequest",
                "Hangup",
                "Hangup",
                "DeviceStateChange",
                "DeviceStateChange"
            ]
        );
        let response = &all[2];
        assert_eq!(response.body.get("Response"), Some("Success"));
        assert_eq!(response.body.get("Reason"), Some("4"));
        assert_eq!(response.body.get("Uniqueid"), Some("ha-a-1.134"));
    }

    #[test]
    fn unknown_extension_fails_like_fixture_11() {
        let mut call = probe_call(None, "doesnotexist");
        let events = call.start(true);
        assert_eq!(
            names(&events),
            [
                "Newchannel",
                "Newchannel",
                "Newexten",
                "OriginateResponse",
                "Hangup",
                "Hangup",
                "DeviceStateChange",
                "DeviceStateChange"
            ]
        );
        assert_eq!(events[3].body.get("Uniqueid"), Some("<unknown>"));
        assert_eq!(
            events[3].body.get("Channel"),
            Some("Local/doesnotexist@ha-probe")
        );
        assert!(call.finished());
    }

    #[test]
    fn parses_caller_ids_and_local_channels() {
        assert_eq!(
            parse_caller_id("\"HA probe\" <9000>"),
            ("9000".to_owned(), "HA probe".to_owned())
        );
        assert_eq!(parse_caller_id("9000"), ("9000".to_owned(), String::new()));
        assert_eq!(
            parse_local_channel("Local/*999@ha-admin"),
            Some(("*999".to_owned(), "ha-admin".to_owned()))
        );
        assert_eq!(
            parse_local_channel("Local/probe@ha-probe/n"),
            Some(("probe".to_owned(), "ha-probe".to_owned()))
        );
        assert_eq!(parse_local_channel("Bogus/foo"), None);
    }
}
