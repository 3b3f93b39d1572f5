//! Waiting for an Asterisk to finish booting: `FullyBooted` seen on the current AMI session.
//!
//! A real Asterisk accepts AMI logins before it has loaded everything (fixture
//! `22-connect-during-boot`: login at 0 ms, `FullyBooted` at 181 ms), so a login alone proves
//! nothing. Asterisk sends `FullyBooted` to each session right after its login once it is
//! booted, and broadcasts it at the end of a boot to the sessions already logged in; the AMI
//! client keeps that per session ([`ami_client::Client::fully_booted`]), and this wait is the
//! one place astha turns it into "booted or not in time": the takeover sequence (daemon) and
//! `astha wait-booted` both use it. The client must receive the `system` event class.

use std::time::Duration;

use ami_client::{Client, ConnectionState};

/// Why Asterisk was not seen fully booted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootWaitError {
    #[error("no FullyBooted within {} ms (AMI connection: {state})", after.as_millis())]
    NotInTime { after: Duration, state: String },
    #[error("AMI login refused: {0}")]
    LoginRefused(String),
    #[error("the AMI client was closed")]
    Closed,
}

/// Resolves once the current session of `client` has seen `FullyBooted` (at once if it already
/// has); fails when the login is refused, the client closes, or `timeout` passes first.
pub async fn wait_fully_booted(client: &Client, timeout: Duration) -> Result<(), BootWaitError> {
    let mut booted = client.fully_booted();
    let mut state = client.state();
    let wait = async {
        loop {
            if *booted.borrow_and_update() {
                return Ok(());
            }
            match &*state.borrow_and_update() {
                ConnectionState::AuthFailed { message } => {
                    return Err(BootWaitError::LoginRefused(message.clone()))
                }
                ConnectionState::Closed => return Err(BootWaitError::Closed),
                _ => {}
            }
            tokio::select! {
                changed = booted.changed() => changed.map_err(|_| BootWaitError::Closed)?,
                changed = state.changed() => changed.map_err(|_| BootWaitError::Closed)?,
            }
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(result) => result,
        Err(_) => Err(BootWaitError::NotInTime {
            after: timeout,
            state: client.state().borrow().to_string(),
        }),
    }
}
