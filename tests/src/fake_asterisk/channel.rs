//! One emulated channel: the snapshot fields every channel event and `CoreShowChannel` carries.

use std::time::{Duration, Instant};

use super::clock;
use super::event::Headers;

/// Channel states used by Local channels (`ChannelState:` number and `ChannelStateDesc:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelState {
    /// 0, `Down`.
    Down,
    /// 4, `Ring`.
    Ring,
    /// 6, `Up`.
    Up,
}

impl ChannelState {
    /// The number Asterisk prints.
    pub fn code(self) -> u8 {
        match self {
            ChannelState::Down => 0,
            ChannelState::Ring => 4,
            ChannelState::Up => 6,
        }
    }

    /// The description Asterisk prints.
    pub fn desc(self) -> &'static str {
        match self {
            ChannelState::Down => "Down",
            ChannelState::Ring => "Ring",
            ChannelState::Up => "Up",
        }
    }
}

/// The `<unknown>` Asterisk prints for an unset caller ID.
pub const UNKNOWN: &str = "<unknown>";

/// A channel snapshot (what `ast_manager_build_channel_state_string` prints).
#[derive(Clone, Debug)]
pub struct Channel {
    /// `Local/probe@ha-probe-00000043;1`.
    pub name: String,
    /// Current state.
    pub state: ChannelState,
    /// Caller ID number (`<unknown>` when unset).
    pub caller_num: String,
    /// Caller ID name.
    pub caller_name: String,
    /// Connected line number.
    pub connected_num: String,
    /// Connected line name.
    pub connected_name: String,
    /// Dialplan context.
    pub context: String,
    /// Dialplan extension.
    pub exten: String,
    /// Dialplan priority.
    pub priority: usize,
    /// `ha-a-1795666515.134`.
    pub uniqueid: String,
    /// Uniqueid of the first channel of the call.
    pub linkedid: String,
    /// Application currently running (CoreShowChannel `Application:`).
    pub application: String,
    /// Its data.
    pub app_data: String,
    /// When the channel was created (CoreShowChannel `Duration:`).
    pub created: Instant,
}

impl Channel {
    /// A new channel in the given state with unknown caller ID.
    pub fn new(
        name: String,
        state: ChannelState,
        context: &str,
        exten: &str,
        uniqueid: String,
        linkedid: String,
        now: Instant,
    ) -> Channel {
        Channel {
            name,
            state,
            caller_num: UNKNOWN.to_owned(),
            caller_name: UNKNOWN.to_owned(),
            connected_num: UNKNOWN.to_owned(),
            connected_name: UNKNOWN.to_owned(),
            context: context.to_owned(),
            exten: exten.to_owned(),
            priority: 1,
            uniqueid,
            linkedid,
            application: String::new(),
            app_data: String::new(),
            created: now,
        }
    }

    /// The channel headers with an optional prefix (`Dest`, `LocalOne`, `LocalTwo`), in the
    /// order Asterisk prints them.
    pub fn headers(&self, prefix: &str) -> Headers {
        let mut h = Headers::new();
        let mut put = |name: &str, value: &str| h.push(format!("{prefix}{name}"), value);
        put("Channel", &self.name);
        put("ChannelState", &self.state.code().to_string());
        put("ChannelStateDesc", self.state.desc());
        put("CallerIDNum", &self.caller_num);
        put("CallerIDName", &self.caller_name);
        put("ConnectedLineNum", &self.connected_num);
        put("ConnectedLineName", &self.connected_name);
        put("Language", "en");
        put("AccountCode", "");
        put("Context", &self.context);
        put("Exten", &self.exten);
        put("Priority", &self.priority.to_string());
        put("Uniqueid", &self.uniqueid);
        put("Linkedid", &self.linkedid);
        h
    }

    /// How long the channel has existed.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.created)
    }

    /// One `Event: CoreShowChannel` list item.
    pub fn core_show_channel(&self, action_id: Option<&str>, now: Instant) -> Headers {
        let mut h = Headers::new()
            .with("Event", "CoreShowChannel")
            .with_action_id(action_id);
        h.extend(self.headers(""));
        h.push("Application", self.application.as_str());
        h.push("ApplicationData", self.app_data.as_str());
        h.push("Duration", clock::hms(self.age(now)));
        h.push("BridgeId", "");
        h
    }

    /// The caller ID number as `core show channels concise` prints it (empty when unknown).
    pub fn concise_caller_num(&self) -> &str {
        if self.caller_num == UNKNOWN {
            ""
        } else {
            &self.caller_num
        }
    }
}
