//! Responses to actions, and the collected result of list actions (`EventList`).

use crate::event::Event;
use crate::message::Message;

/// The `Response:` header of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseKind {
    /// `Response: Success`.
    Success,
    /// `Response: Error` (the action failed; see [`Response::message`]).
    Error,
    /// `Response: Goodbye` (answer to `Logoff`).
    Goodbye,
    /// `Response: Follows` (legacy `Command` output; the lines are `Output` headers).
    Follows,
    /// Any other value, kept as sent.
    Other(String),
}

impl ResponseKind {
    fn parse(value: &str) -> Self {
        if value.eq_ignore_ascii_case("Success") {
            ResponseKind::Success
        } else if value.eq_ignore_ascii_case("Error") {
            ResponseKind::Error
        } else if value.eq_ignore_ascii_case("Goodbye") {
            ResponseKind::Goodbye
        } else if value.eq_ignore_ascii_case("Follows") {
            ResponseKind::Follows
        } else {
            ResponseKind::Other(value.to_owned())
        }
    }
}

/// The response to one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    kind: ResponseKind,
    raw: Message,
}

impl Response {
    /// Wraps a decoded message that has a `Response:` header.
    pub fn from_message(raw: Message) -> Self {
        let kind = ResponseKind::parse(raw.get("Response").unwrap_or_default());
        Response { kind, raw }
    }

    /// Success, Error, Goodbye, Follows or other.
    pub fn kind(&self) -> &ResponseKind {
        &self.kind
    }

    /// Whether the action succeeded (`Success`, `Goodbye` or `Follows`).
    pub fn is_success(&self) -> bool {
        matches!(
            self.kind,
            ResponseKind::Success | ResponseKind::Goodbye | ResponseKind::Follows
        )
    }

    /// The `Message:` header, e.g. `Authentication accepted` or `Permission denied`.
    pub fn message(&self) -> Option<&str> {
        self.raw.get("Message")
    }

    /// The `ActionID` header.
    pub fn action_id(&self) -> Option<&str> {
        self.raw.action_id()
    }

    /// The value of a header (case-insensitive, first match).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw.get(name)
    }

    /// The lines of a `Command` output (both the modern and the legacy form).
    pub fn output_lines(&self) -> impl Iterator<Item = &str> {
        self.raw.get_all("Output")
    }

    /// All headers.
    pub fn raw(&self) -> &Message {
        &self.raw
    }

    /// Turns the response into its headers.
    pub fn into_raw(self) -> Message {
        self.raw
    }
}

/// The result of a list action (`EventList: start` … `EventList: Complete`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// The initial response (`EventList: start`), or the only response if no list followed.
    pub response: Response,
    /// The list items, in order (e.g. the `CoreShowChannel` events).
    pub items: Vec<Event>,
    /// The closing event (`EventList: Complete`, with `ListItems`), if a list followed.
    pub complete: Option<Event>,
}

impl ListResult {
    /// The `ListItems` count the server announced in the closing event.
    pub fn announced_items(&self) -> Option<usize> {
        self.complete
            .as_ref()
            .and_then(|c| c.get("ListItems"))
            .and_then(|n| n.trim().parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_case_insensitively() {
        let r = Response::from_message(
            Message::new()
                .with("Response", "error")
                .with("Message", "Permission denied"),
        );
        assert_eq!(r.kind(), &ResponseKind::Error);
        assert!(!r.is_success());
        assert_eq!(r.message(), Some("Permission denied"));
        let other = Response::from_message(Message::new().with("Response", "Weird"));
        assert_eq!(other.kind(), &ResponseKind::Other("Weird".into()));
    }
}
