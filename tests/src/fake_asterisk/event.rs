//! AMI messages as the emulator builds them: ordered headers, and manager events with a class.
//!
//! Kept independent of the wire codec so the call generator and the actions stay plain data;
//! the AMI session turns them into `ami_client::Message` and bytes at the last moment.

use super::classes::EventClass;

/// Ordered `Name: value` headers, duplicates allowed, exactly as they go on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// Appends one header.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Builder form of [`Headers::push`].
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Headers {
        self.push(name, value);
        self
    }

    /// Appends `ActionID: <id>` when the action had one (Asterisk omits the line otherwise).
    #[must_use]
    pub fn with_action_id(mut self, action_id: Option<&str>) -> Headers {
        if let Some(id) = action_id {
            self.push("ActionID", id);
        }
        self
    }

    /// Appends every header of `other`.
    pub fn extend(&mut self, other: Headers) {
        self.0.extend(other.0);
    }

    /// The first value of a header (case-insensitive name).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Iterates `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The exact wire bytes of this message (`Name: value\r\n` lines, then `\r\n`).
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        for (n, v) in &self.0 {
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out
    }
}

/// `Response: Success` + ActionID + `Message: <text>` (astman_send_ack).
pub fn ack(action_id: Option<&str>, message: &str) -> Headers {
    Headers::new()
        .with("Response", "Success")
        .with_action_id(action_id)
        .with("Message", message)
}

/// `Response: Error` + ActionID + `Message: <text>` (astman_send_error).
pub fn error(action_id: Option<&str>, message: &str) -> Headers {
    Headers::new()
        .with("Response", "Error")
        .with_action_id(action_id)
        .with("Message", message)
}

/// An event on the manager event bus: it gets `Privilege: <class>,all` and `SystemName:` when
/// rendered, and reaches the sessions whose read permission includes the class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmiEvent {
    /// `Event:` value.
    pub name: String,
    /// Class, for `Privilege:` and permission filtering.
    pub class: EventClass,
    /// The headers after `SystemName:`.
    pub body: Headers,
}

impl AmiEvent {
    /// A bus event.
    pub fn new(name: &str, class: EventClass, body: Headers) -> AmiEvent {
        AmiEvent {
            name: name.to_owned(),
            class,
            body,
        }
    }

    /// The full message: `Event`, `Privilege`, `SystemName`, then the body.
    pub fn render(&self, system_name: &str) -> Headers {
        let mut h = Headers::new()
            .with("Event", self.name.as_str())
            .with("Privilege", format!("{},all", self.class.as_str()))
            .with("SystemName", system_name);
        h.0.extend(self.body.0.iter().cloned());
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_privilege_and_system_name_after_the_event_name() {
        let ev = AmiEvent::new(
            "Shutdown",
            EventClass::System,
            Headers::new()
                .with("Shutdown", "Cleanly")
                .with("Restart", "False"),
        );
        assert_eq!(
            ev.render("ha-b").to_wire(),
            "Event: Shutdown\r\nPrivilege: system,all\r\nSystemName: ha-b\r\nShutdown: Cleanly\r\nRestart: False\r\n\r\n"
        );
        assert_eq!(
            error(None, "Permission denied").to_wire(),
            "Response: Error\r\nMessage: Permission denied\r\n\r\n"
        );
    }
}
