//! The local control API: a versioned JSON protocol on a Unix socket, used by the CLI.
//!
//! One request per connection, one line of JSON each way. The socket is created with mode
//! 0660 (owner root, group configurable), never world-writable: whoever can write to it can
//! move the PBX service.

pub mod client;
pub mod protocol;
pub mod server;

pub use client::{ControlClient, ControlClientError};
pub use protocol::{ControlReply, Request, RequestBody, PROTOCOL_VERSION};
pub use server::{ControlServer, ControlServerError, IncomingRequest};
