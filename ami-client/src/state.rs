//! The observable state of an AMI connection.

use std::fmt;

/// Where the client's connection is; observe it with [`crate::Client::state`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening the TCP connection.
    Connecting,
    /// Connected; waiting for the banner and the login exchange.
    LoggingIn,
    /// Logged in: actions can be sent, events flow.
    LoggedIn,
    /// Not connected; a reconnect is scheduled. `reason` says why the last connection ended.
    Disconnected {
        /// Why the connection ended (or could not be made).
        reason: String,
    },
    /// The server rejected the login; retried only after the long auth-failure backoff.
    AuthFailed {
        /// The server's message.
        message: String,
    },
    /// The client was closed; it will not reconnect.
    Closed,
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionState::Connecting => write!(f, "connecting"),
            ConnectionState::LoggingIn => write!(f, "logging in"),
            ConnectionState::LoggedIn => write!(f, "logged in"),
            ConnectionState::Disconnected { reason } => write!(f, "disconnected ({reason})"),
            ConnectionState::AuthFailed { message } => {
                write!(f, "authentication failed ({message})")
            }
            ConnectionState::Closed => write!(f, "closed"),
        }
    }
}
