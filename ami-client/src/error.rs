//! The errors of the AMI client (connection, actions, login).

use std::time::Duration;

use crate::codec::CodecError;

/// Why an AMI operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The client is not logged in right now (connecting, reconnecting or login failed).
    #[error("not connected to the AMI server: {state}")]
    NotConnected {
        /// The connection state at the time, for the error message.
        state: String,
    },
    /// The connection was lost while the action was pending.
    #[error("AMI connection lost: {reason}")]
    Disconnected {
        /// Why the connection ended.
        reason: String,
    },
    /// No response arrived in time.
    #[error("AMI action {action} got no response within {after:?}")]
    Timeout {
        /// The action name (or what was awaited).
        action: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// The server rejected the login (wrong user or secret, or no permission to log in).
    #[error("AMI authentication failed: {message}")]
    Authentication {
        /// The server's message, e.g. `Authentication failed`.
        message: String,
    },
    /// The action cannot be sent (e.g. CR/LF in a header).
    #[error("invalid AMI action: {0}")]
    InvalidAction(CodecError),
    /// The client was closed.
    #[error("AMI client closed")]
    Closed,
}
