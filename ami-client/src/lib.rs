//! `ami-client`: the Asterisk Manager Interface protocol (sans-IO core) and a tokio driver.
#![forbid(unsafe_code)]

pub mod codec;
mod message;

pub use message::Message;
