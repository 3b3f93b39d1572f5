//! The two kinds of sink: a webhook (HTTP POST of the event's JSON, with reqwest) and a command (the JSON on its stdin).
//!
//! One delivery is one attempt under the sink's timeout; retries are the dispatcher's. Errors
//! never carry the webhook URL (chat webhooks keep their token in it) nor the token.

use std::time::{Duration, Instant};

use crate::actuate::command::{self, CommandError, CommandInput};
use crate::http::error_text;

use super::config::{CommandSinkConfig, WebhookConfig};
use super::event::{AlertEvent, EventKind};

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("answered HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status { status: u16, body: String },
    #[error("{0}")]
    Request(String),
    #[error("cannot encode the event: {0}")]
    Encode(String),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("exited with {}{}", code.map_or("a signal".to_string(), |c| format!("status {c}")), if last_words.is_empty() { String::new() } else { format!(": {last_words}") })]
    CommandFailed {
        code: Option<i32>,
        last_words: String,
    },
}

/// A delivery that worked: what the receiver answered, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub detail: String,
    pub elapsed: Duration,
}

/// Where events go.
#[derive(Debug)]
pub enum Sink {
    Webhook(WebhookSink),
    Command(CommandSink),
}

impl Sink {
    pub fn name(&self) -> &str {
        match self {
            Sink::Webhook(w) => &w.config.name,
            Sink::Command(c) => &c.config.name,
        }
    }

    /// `webhook ops-chat (https://hooks.example.com:443)`, `command mail (/usr/local/bin/astha-mail)`:
    /// safe to log.
    pub fn describe(&self) -> String {
        match self {
            Sink::Webhook(w) => format!("webhook {} ({})", w.config.name, w.config.shown_url),
            Sink::Command(c) => format!(
                "command {} ({})",
                c.config.name,
                c.config.command.first().map_or("", String::as_str)
            ),
        }
    }

    /// Whether this sink subscribed to `kind` (every sink gets `test`).
    pub fn wants(&self, kind: EventKind) -> bool {
        let events = match self {
            Sink::Webhook(w) => &w.config.events,
            Sink::Command(c) => &c.config.events,
        };
        kind == EventKind::Test || events.contains(&kind)
    }

    /// One attempt to deliver `event`.
    pub async fn deliver(&self, event: &AlertEvent) -> Result<Delivered, DeliveryError> {
        let json = serde_json::to_vec(event).map_err(|e| DeliveryError::Encode(e.to_string()))?;
        let started = Instant::now();
        let detail = match self {
            Sink::Webhook(w) => w.post(json).await?,
            Sink::Command(c) => c.run(event, json).await?,
        };
        Ok(Delivered {
            detail,
            elapsed: started.elapsed(),
        })
    }
}

/// Largest part of a refusing answer's body kept for the log.
const BODY_SHOWN: usize = 200;

/// POSTs events to one URL.
#[derive(Debug)]
pub struct WebhookSink {
    config: WebhookConfig,
    client: reqwest::Client,
}

impl WebhookSink {
    /// Builds the HTTP client (the system's TLS roots are loaded here).
    pub fn new(config: WebhookConfig) -> Result<WebhookSink, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("astha/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| {
                format!(
                    "webhook {}: cannot build the HTTP client: {}",
                    config.name,
                    error_text(e)
                )
            })?;
        Ok(WebhookSink { config, client })
    }

    async fn post(&self, json: Vec<u8>) -> Result<String, DeliveryError> {
        let mut request = self
            .client
            .post(self.config.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json);
        if let Some(token) = &self.config.token {
            request = match &self.config.token_header {
                Some(header) => request.header(header.as_str(), token.expose()),
                None => request.bearer_auth(token.expose()),
            };
        }
        let response = request
            .send()
            .await
            .map_err(|e| DeliveryError::Request(error_text(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(format!("HTTP {}", status.as_u16()));
        }
        let body = response.text().await.unwrap_or_default();
        Err(DeliveryError::Status {
            status: status.as_u16(),
            body: body.trim().chars().take(BODY_SHOWN).collect(),
        })
    }
}

/// Runs a program for every event.
#[derive(Debug)]
pub struct CommandSink {
    config: CommandSinkConfig,
}

impl CommandSink {
    pub fn new(config: CommandSinkConfig) -> CommandSink {
        CommandSink { config }
    }

    async fn run(&self, event: &AlertEvent, json: Vec<u8>) -> Result<String, DeliveryError> {
        let mut env = vec![
            ("ASTHA_EVENT".to_string(), event.event.to_string()),
            ("ASTHA_NODE".to_string(), event.source.node.clone()),
            ("ASTHA_TERM".to_string(), event.term.to_string()),
            ("ASTHA_TEXT".to_string(), event.text.clone()),
        ];
        if let Some(alert) = &event.alert {
            env.push(("ASTHA_ALERT_KIND".to_string(), alert.kind.clone()));
            env.push(("ASTHA_ALERT_SEVERITY".to_string(), alert.severity.clone()));
        }
        let input = CommandInput {
            stdin: Some(json),
            env,
        };
        let output = command::run_with(&self.config.command, self.config.timeout, &input).await?;
        if output.success() {
            Ok("exit status 0".to_string())
        } else {
            Err(DeliveryError::CommandFailed {
                code: output.code,
                last_words: output.last_words(),
            })
        }
    }
}

/// Builds every configured sink, in configuration order (webhooks first).
pub fn build_sinks(config: &super::AlertsConfig) -> Result<Vec<Sink>, String> {
    let mut sinks = Vec::new();
    for webhook in &config.webhooks {
        sinks.push(Sink::Webhook(WebhookSink::new(webhook.clone())?));
    }
    for command in &config.commands {
        sinks.push(Sink::Command(CommandSink::new(command.clone())));
    }
    Ok(sinks)
}
