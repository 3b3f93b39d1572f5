//! The AMI message model: an ordered list of `Name: value` headers, duplicates kept.
//!
//! A decoded message keeps the text of its whole frame in one `String` and the headers as
//! byte ranges into it, so decoding costs two allocations per message whatever the number of
//! headers (the event stream of a busy Asterisk is hundreds of thousands of messages per second).

use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

/// Byte ranges of one header's name and value inside [`Message::text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    name_start: u32,
    name_end: u32,
    value_start: u32,
    value_end: u32,
}

impl Span {
    pub(crate) fn new(name: Range<usize>, value: Range<usize>) -> Self {
        // Frames are limited far below 4 GiB by the codec, so offsets fit in u32.
        Span {
            name_start: name.start as u32,
            name_end: name.end as u32,
            value_start: value.start as u32,
            value_end: value.end as u32,
        }
    }

    fn name(self) -> Range<usize> {
        self.name_start as usize..self.name_end as usize
    }

    fn value(self) -> Range<usize> {
        self.value_start as usize..self.value_end as usize
    }
}

/// Header names whose values are secrets and never appear in `Debug` output.
const REDACTED_HEADERS: [&str; 2] = ["Secret", "Key"];

/// One AMI message (action, response or event): headers in wire order, duplicates kept.
///
/// Header names compare case-insensitively (Asterisk accepts `action: ping`).
#[derive(Default)]
pub struct Message {
    text: String,
    spans: Vec<Span>,
    /// `(String, String)` pairs built on the first call of [`Message::headers`] only.
    owned_headers: OnceLock<Vec<(String, String)>>,
}

impl Message {
    /// An empty message.
    pub fn new() -> Self {
        Message::default()
    }

    /// Builds a message from the text of a frame and header ranges into it (used by the codec).
    pub(crate) fn from_parts(text: String, spans: Vec<Span>) -> Self {
        Message {
            text,
            spans,
            owned_headers: OnceLock::new(),
        }
    }

    /// Appends a header (kept after any existing header of the same name).
    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        let name_start = self.text.len();
        self.text.push_str(name);
        let value_start = self.text.len();
        self.text.push_str(value);
        self.spans.push(Span::new(
            name_start..value_start,
            value_start..self.text.len(),
        ));
        self.owned_headers = OnceLock::new();
    }

    /// Builder form of [`Message::push`].
    #[must_use]
    pub fn with(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.push(name, value);
        self
    }

    /// Removes every header with this name (case-insensitive); returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.spans.len();
        let text = &self.text;
        self.spans
            .retain(|span| !text[span.name()].eq_ignore_ascii_case(name));
        let removed = before - self.spans.len();
        if removed > 0 {
            self.owned_headers = OnceLock::new();
        }
        removed
    }

    /// Replaces every header of this name with one header at the end.
    pub fn set(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        self.remove(name.as_ref());
        self.push(name, value);
    }

    /// The value of the first header with this name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The values of every header with this name (case-insensitive), in wire order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Whether a header with this name exists (case-insensitive).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The `ActionID` header, if any.
    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }

    /// All headers as `(name, value)` pairs in wire order, without allocating.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.spans
            .iter()
            .map(move |span| (&self.text[span.name()], &self.text[span.value()]))
    }

    /// All headers as owned pairs in wire order.
    ///
    /// Built (and cached) on first use; prefer [`Message::iter`] or [`Message::get`] on hot paths.
    pub fn headers(&self) -> &[(String, String)] {
        self.owned_headers.get_or_init(|| {
            self.iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect()
        })
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the message has no header.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The first header (for events `Event`, for responses `Response`, for actions `Action`).
    pub fn first(&self) -> Option<(&str, &str)> {
        self.iter().next()
    }
}

impl Clone for Message {
    fn clone(&self) -> Self {
        // The cache is not cloned: it is rebuilt on demand.
        Message::from_parts(self.text.clone(), self.spans.clone())
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (name, value) in self.iter() {
            let secret = REDACTED_HEADERS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name));
            if secret {
                list.entry(&(name, "<redacted>"));
            } else {
                list.entry(&(name, value));
            }
        }
        list.finish()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Message {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut message = Message::new();
        for (name, value) in iter {
            message.push(name, value);
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_is_case_insensitive_and_returns_first() {
        let m = Message::new()
            .with("Output", "one")
            .with("output", "two")
            .with("ActionID", "7");
        assert_eq!(m.get("OUTPUT"), Some("one"));
        assert_eq!(m.get_all("Output").collect::<Vec<_>>(), ["one", "two"]);
        assert_eq!(m.action_id(), Some("7"));
        assert_eq!(m.get("missing"), None);
    }

    #[test]
    fn headers_keep_order_and_duplicates() {
        let mut m = Message::new().with("A", "1").with("B", "");
        m.push("A", "2");
        let expected = [("A", "1"), ("B", ""), ("A", "2")].map(|(a, b)| (a.into(), b.into()));
        assert_eq!(m.headers(), expected);
        m.push("C", "3");
        assert_eq!(m.headers().len(), 4, "cache must be rebuilt after push");
    }

    #[test]
    fn set_replaces_all() {
        let mut m = Message::new()
            .with("ActionID", "a")
            .with("X", "1")
            .with("actionid", "b");
        m.set("ActionID", "c");
        assert_eq!(m.get_all("ActionID").collect::<Vec<_>>(), ["c"]);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn debug_redacts_secrets() {
        let m = Message::new()
            .with("Action", "Login")
            .with("Secret", "hunter2")
            .with("key", "abcdef");
        let text = format!("{m:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("abcdef"), "{text}");
        assert!(text.contains("Login"));
    }
}
