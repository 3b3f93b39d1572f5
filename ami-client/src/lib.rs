//! `ami-client`: the Asterisk Manager Interface protocol (sans-IO core) and a tokio driver.
//!
//! * [`codec`]: the wire format (tokio-util `Decoder`/`Encoder`), usable on its own, also by
//!   servers ([`codec::AmiCodec::server`]).
//! * [`Message`], [`Action`], [`Response`], [`Event`] (with typed views, [`KnownEvent`]),
//!   [`ListResult`].
//! * [`proto::Protocol`]: login, ActionID correlation, timeouts, lists, keepalive; no I/O.
//! * [`Client`]: the tokio driver that keeps a connection logged in.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ami_client::Error> {
//! use ami_client::{Action, Client, ClientConfig};
//! use std::time::Duration;
//!
//! let client = Client::connect(ClientConfig::new("127.0.0.1:5038", "hasidecar", "hasecret"));
//! client.wait_logged_in(Duration::from_secs(5)).await?;
//! let mut events = client.subscribe();
//! let response = client
//!     .send(Action::new("Originate").header("Channel", "Local/probe@ha-probe"))
//!     .await?;
//! println!("{:?} {:?}", response.kind(), response.message());
//! while let Ok(event) = events.recv().await {
//!     println!("{} from {}", event.name(), event.server());
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod action;
mod backoff;
mod bus;
mod client;
pub mod codec;
mod config;
mod error;
pub mod event;
mod fuzz;
mod message;
pub mod proto;
mod response;
mod state;

pub use action::Action;
pub use backoff::Backoff;
pub use bus::{EventReceiver, RecvError};
pub use client::Client;
pub use config::{AuthMethod, ClientConfig, EventMask, DEFAULT_EVENT_BUFFER};
pub use error::Error;
pub use event::{Event, KnownEvent};
pub use message::Message;
pub use response::{ListResult, Response, ResponseKind};
pub use state::ConnectionState;
