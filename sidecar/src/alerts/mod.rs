//! Alerts that reach a person: events (takeover, release, alert raised, alert cleared) POSTed to webhooks and handed to commands.
//!
//! | file | what it does |
//! |---|---|
//! | `config.rs` | reads `[alerts]`: the sinks, their secrets, retries and queue size |
//! | `event.rs` | the event document every sink receives (JSON) |
//! | `sink.rs` | one delivery attempt: a webhook POST (reqwest) or a command run |
//! | `dispatch.rs` | a task and a bounded queue per sink: retries with backoff, drop-oldest |
//!
//! The daemon builds an event for every takeover and release it finishes and for every alert
//! the decision core raises or clears (`daemon/alerts.rs`), and hands it to the [`Dispatcher`],
//! which never makes the daemon wait. `astha alert test` sends a test event through every
//! sink once and reports each result.

pub mod config;
pub mod dispatch;
pub mod event;
pub mod sink;

pub use config::{AlertsConfig, CommandSinkConfig, DeliveryConfig, WebhookConfig};
pub use dispatch::{Dispatcher, SinkCounts};
pub use event::{AlertEvent, EventKind, EventSource};
pub use sink::{build_sinks, Delivered, DeliveryError, Sink};
