//! The Action builder: what a user sends to Asterisk.

use std::time::Duration;

use crate::config::EventMask;
use crate::message::Message;

/// An AMI action, e.g. `Action::new("Originate").header("Channel", "Local/probe@ha-probe")`.
///
/// The client sets the `ActionID` itself (any `ActionID` header given here is replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    message: Message,
    timeout: Option<Duration>,
}

impl Action {
    /// An action with this name (the `Action:` header).
    pub fn new(name: impl AsRef<str>) -> Self {
        Action {
            message: Message::new().with("Action", name),
            timeout: None,
        }
    }

    /// Adds a header (duplicates are kept, e.g. several `Variable` headers).
    #[must_use]
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.message.push(name, value);
        self
    }

    /// Overrides the client's default response deadline for this action.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The action name.
    pub fn name(&self) -> &str {
        self.message.get("Action").unwrap_or_default()
    }

    /// The per-action deadline, if one was set.
    pub fn timeout_override(&self) -> Option<Duration> {
        self.timeout
    }

    /// The headers of the action.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// Turns the action into its headers.
    pub fn into_message(self) -> Message {
        self.message
    }

    /// `Ping`.
    pub fn ping() -> Self {
        Action::new("Ping")
    }

    /// `Command` running a CLI command, e.g. `core show channels count`.
    pub fn command(command: impl AsRef<str>) -> Self {
        Action::new("Command").header("Command", command)
    }

    /// `Filter` adding an event filter expression, e.g. `Event: Hangup` or `!Event: VarSet`.
    pub fn filter_add(filter: impl AsRef<str>) -> Self {
        Action::new("Filter")
            .header("Operation", "Add")
            .header("Filter", filter)
    }

    /// `Events` changing the event mask of the session.
    pub fn events(mask: &EventMask) -> Self {
        Action::new("Events").header("EventMask", mask.header_value())
    }

    /// `Logoff`.
    pub fn logoff() -> Self {
        Action::new("Logoff")
    }
}

impl From<Message> for Action {
    fn from(message: Message) -> Self {
        Action {
            message,
            timeout: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_keeps_order_and_duplicates() {
        let action = Action::new("Originate")
            .header("Channel", "Local/probe@ha-probe")
            .header("Variable", "A=1")
            .header("Variable", "B=2")
            .timeout(Duration::from_secs(3));
        assert_eq!(action.name(), "Originate");
        assert_eq!(action.timeout_override(), Some(Duration::from_secs(3)));
        let vars: Vec<_> = action.message().get_all("Variable").collect();
        assert_eq!(vars, ["A=1", "B=2"]);
        assert_eq!(action.message().first(), Some(("Action", "Originate")));
    }
}
