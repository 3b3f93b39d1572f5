//! `[alerts]`: the webhooks to POST and the commands to run on every event, and how hard delivery tries.
//!
//! ```toml
//! [alerts]
//! max_attempts = 6          # per event and sink; 1 s, 2 s, 4 s, ... between attempts
//! retry_initial_ms = 1000
//! retry_max_ms = 60000
//! queue = 100               # events kept per sink while it is down; the oldest are dropped
//!
//! [[alerts.webhook]]
//! name = "ops-chat"
//! url_file = "/etc/astha/ops-chat.url"   # or url = "https://..." when the URL holds no token
//! token_file = "/etc/astha/ops-chat.token" # optional: `Authorization: Bearer <token>`
//! token_header = "X-Api-Key"               # optional: the token in this header instead
//!
//! [[alerts.command]]
//! name = "mail"
//! command = ["/usr/local/bin/astha-mail", "oncall@example.com"]
//! ```
//!
//! Secrets (a URL that carries a token, a token) are read like the AMI secrets: from a file
//! or an environment variable, never inline, never logged.

use std::path::Path;
use std::time::Duration;

use crate::config::problem::{ProblemSeverity, Problems};
use crate::config::reader::{parse_string, FromToml, Section, ValueError};
use crate::config::secret::{self, Need, Secret, SecretResolver};

use super::event::EventKind;

/// Everything `[alerts]` configures; empty (no sinks) when the section is absent.
#[derive(Debug, Clone, Default)]
pub struct AlertsConfig {
    pub webhooks: Vec<WebhookConfig>,
    pub commands: Vec<CommandSinkConfig>,
    pub delivery: DeliveryConfig,
}

impl AlertsConfig {
    /// Whether any sink is configured.
    pub fn has_sinks(&self) -> bool {
        !self.webhooks.is_empty() || !self.commands.is_empty()
    }
}

/// Retries and queueing, the same for every sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Attempts per event and sink before it is given up (logged, counted).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles with every retry up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Events waiting per sink; when a sink is down for long, the oldest are dropped (counted,
    /// and the next event it gets says how many).
    pub queue: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 6,
            retry_initial: Duration::from_millis(1000),
            retry_max: Duration::from_millis(60_000),
            queue: 100,
        }
    }
}

impl DeliveryConfig {
    /// The wait before retry number `retry` (1 for the first): `retry_initial` doubled each
    /// time, at most `retry_max`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.retry_initial
            .checked_mul(factor)
            .unwrap_or(self.retry_max)
            .min(self.retry_max)
    }
}

/// One `[[alerts.webhook]]`: events are POSTed to `url` as JSON.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub name: String,
    /// The whole URL is treated as a secret (chat webhooks carry their token in the path).
    pub url: Secret,
    /// What logs and `astha alert test` show of the URL: scheme, host and port only.
    pub shown_url: String,
    pub token: Option<Secret>,
    /// The header the token goes in: `Authorization` (as `Bearer <token>`) unless set.
    pub token_header: Option<String>,
    pub timeout: Duration,
    pub events: Vec<EventKind>,
}

/// One `[[alerts.command]]`: run with the event's JSON on stdin (and `ASTHA_EVENT`, ... in the
/// environment); exit status 0 means delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSinkConfig {
    pub name: String,
    pub command: Vec<String>,
    pub timeout: Duration,
    pub events: Vec<EventKind>,
}

impl FromToml for EventKind {
    fn from_toml(value: &toml::Spanned<toml::de::DeValue<'_>>) -> Result<Self, ValueError> {
        parse_string(value, "an event name")
    }
}

/// Reads `[alerts]` (secrets relative to `base_dir`).
pub(crate) fn read(
    s: &mut Section<'_, '_>,
    p: &mut Problems,
    base_dir: &Path,
    resolver: &dyn SecretResolver,
) -> AlertsConfig {
    let d = DeliveryConfig::default();
    let max_attempts = s.get_or(p, "max_attempts", d.max_attempts);
    if max_attempts == 0 {
        s.problem_at(
            p,
            ProblemSeverity::Error,
            "max_attempts",
            "must be at least 1",
        );
    }
    let retry_initial_ms: u64 = s.get_or(p, "retry_initial_ms", 1000);
    let retry_max_ms: u64 = s.get_or(p, "retry_max_ms", 60_000);
    if retry_max_ms < retry_initial_ms {
        s.problem_at(
            p,
            ProblemSeverity::Error,
            "retry_max_ms",
            format!("must not be below retry_initial_ms ({retry_initial_ms})"),
        );
    }
    let queue: u32 = s.get_or(p, "queue", 100);
    if queue == 0 {
        s.problem_at(p, ProblemSeverity::Error, "queue", "must be at least 1");
    }
    let delivery = DeliveryConfig {
        max_attempts: max_attempts.max(1),
        retry_initial: Duration::from_millis(retry_initial_ms),
        retry_max: Duration::from_millis(retry_max_ms.max(retry_initial_ms)),
        queue: usize::try_from(queue.max(1)).unwrap_or(usize::MAX),
    };
    // Every sink's name, also of sinks with mistakes: a clash is reported with them.
    let mut names = Vec::new();
    let mut index = 0;
    let webhooks = s
        .tables_with(p, "webhook", |w, p| {
            index += 1;
            read_webhook(w, p, index, &mut names, base_dir, resolver)
        })
        .unwrap_or_default();
    let mut index = 0;
    let commands = s
        .tables_with(p, "command", |c, p| {
            index += 1;
            read_command(c, p, index, &mut names)
        })
        .unwrap_or_default();
    let config = AlertsConfig {
        webhooks,
        commands,
        delivery,
    };
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        s.problem_at(
            p,
            ProblemSeverity::Error,
            "webhook",
            format!("two sinks are named \"{}\": names must be unique", twice[0]),
        );
    }
    config
}

/// `name` (default `<kind>-<n>`, added to `names`), `timeout_ms` and `events`, shared by both
/// kinds of sink.
fn common(
    s: &mut Section<'_, '_>,
    p: &mut Problems,
    kind: &str,
    index: usize,
    names: &mut Vec<String>,
    default_timeout_ms: u64,
) -> (String, Duration, Vec<EventKind>) {
    let name = s
        .get::<String>(p, "name")
        .unwrap_or_else(|| format!("{kind}-{index}"));
    if name.is_empty() || name.contains(|c: char| c.is_control()) {
        s.problem_at(
            p,
            ProblemSeverity::Error,
            "name",
            "must be a non-empty line of text",
        );
    }
    let timeout_ms: u64 = s.get_or(p, "timeout_ms", default_timeout_ms);
    if timeout_ms == 0 {
        s.problem_at(p, ProblemSeverity::Error, "timeout_ms", "must be above 0");
    }
    names.push(name.clone());
    let events: Vec<EventKind> = s
        .get(p, "events")
        .unwrap_or_else(|| EventKind::SUBSCRIBABLE.to_vec());
    if events.is_empty() {
        s.problem_at(
            p,
            ProblemSeverity::Error,
            "events",
            "an empty list sends nothing: remove the sink instead",
        );
    }
    (name, Duration::from_millis(timeout_ms.max(1)), events)
}

fn read_webhook(
    s: &mut Section<'_, '_>,
    p: &mut Problems,
    index: usize,
    names: &mut Vec<String>,
    base_dir: &Path,
    resolver: &dyn SecretResolver,
) -> Option<WebhookConfig> {
    let (name, timeout, events) = common(s, p, "webhook", index, names, 5_000);
    // Every key is read before anything is refused: a key left unread would be reported as
    // unknown on top of the real mistake.
    let inline = s.string(p, "url");
    let from_secret = secret::read(s, p, "url", base_dir, resolver, Need::Optional);
    let url = match (inline, from_secret) {
        (Some(_), Some(_)) => {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "url",
                "set only one of url, url_file and url_env",
            );
            None
        }
        (Some(url), None) => Some((Secret::new(url.into_inner()), "url")),
        (None, Some((url, _))) => Some((url, "url_file")),
        (None, None) => {
            if !s.contains("url_file") && !s.contains("url_env") {
                s.missing(p, "url");
            }
            None
        }
    };
    let url = url.and_then(|(url, key)| match shown_url(url.expose()) {
        Ok(shown) => Some((url, shown)),
        Err(e) => {
            s.problem_at(p, ProblemSeverity::Error, key, e);
            None
        }
    });
    secret::refuse_inline(s, p, "token");
    let token = secret::read(s, p, "token", base_dir, resolver, Need::Optional).map(|(t, _)| t);
    let token_header = s.get::<String>(p, "token_header");
    if let Some(header) = &token_header {
        if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "token_header",
                format!("`{header}` is not a valid HTTP header name"),
            );
        }
        if token.is_none() {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "token_header",
                "set token_file or token_env too: the header carries the token",
            );
        }
    }
    if let Some(t) = &token {
        if reqwest::header::HeaderValue::from_str(t.expose()).is_err() {
            // Said without the value: it is a secret.
            s.problem_at(
                p,
                ProblemSeverity::Error,
                if s.contains("token_file") {
                    "token_file"
                } else {
                    "token_env"
                },
                "the token has characters an HTTP header cannot carry",
            );
        }
    }
    let (url, shown_url) = url?;
    Some(WebhookConfig {
        name,
        url,
        shown_url,
        token,
        token_header,
        timeout,
        events,
    })
}

/// Checks a webhook URL (http or https, with a host) and returns what may be shown of it:
/// `https://hooks.example.com:443`. Errors never repeat the URL (it may carry a token).
fn shown_url(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| format!("not a valid URL ({e}); expected https://host/path"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "scheme `{}` is not supported: use https:// (or http://)",
            parsed.scheme()
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| "the URL has no host".to_string())?;
    let port = parsed
        .port_or_known_default()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    Ok(format!("{}://{host}{port}", parsed.scheme()))
}

fn read_command(
    s: &mut Section<'_, '_>,
    p: &mut Problems,
    index: usize,
    names: &mut Vec<String>,
) -> Option<CommandSinkConfig> {
    let (name, timeout, events) = common(s, p, "command", index, names, 10_000);
    let command: Vec<String> = s.required(p, "command")?;
    if command.first().is_none_or(|program| program.is_empty()) {
        s.problem_at(
            p,
            ProblemSeverity::Error,
            "command",
            "must name a program: [\"/path/to/program\", \"arg\", ...]",
        );
        return None;
    }
    Some(CommandSinkConfig {
        name,
        command,
        timeout,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let d = DeliveryConfig {
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_millis(500),
            ..DeliveryConfig::default()
        };
        let waits: Vec<u128> = (1..=6).map(|n| d.backoff(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500, 500]);
        assert_eq!(d.backoff(200), Duration::from_millis(500));
    }

    #[test]
    fn shown_urls_keep_only_scheme_host_and_port() {
        assert_eq!(
            shown_url("https://hooks.example.com/services/T0/B0/SECRET?x=1"),
            Ok("https://hooks.example.com:443".to_string())
        );
        assert_eq!(
            shown_url("http://127.0.0.1:9000/hook"),
            Ok("http://127.0.0.1:9000".to_string())
        );
        let err = shown_url("ftp://example.com/SECRET").unwrap_err();
        assert!(err.contains("ftp") && !err.contains("SECRET"), "{err}");
        let err = shown_url("not a url SECRET").unwrap_err();
        assert!(!err.contains("SECRET"), "{err}");
    }
}
