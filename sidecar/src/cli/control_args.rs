//! How the CLI finds the daemon's control socket: `--socket`, else the config's `[control] socket`, else the default.

use std::path::PathBuf;

use crate::config::{Config, DEFAULT_CONTROL_SOCKET};
use crate::control::{ControlClient, ControlClientError, ControlReply, RequestBody};

use super::Exit;

#[derive(Debug, Clone, clap::Args)]
pub struct ControlArgs {
    /// The daemon's control socket.
    #[arg(long, conflicts_with = "config")]
    pub socket: Option<PathBuf>,
    /// Read the control socket's path from this configuration file.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

impl ControlArgs {
    pub fn socket_path(&self) -> Result<PathBuf, String> {
        if let Some(socket) = &self.socket {
            return Ok(socket.clone());
        }
        match &self.config {
            Some(path) => Config::load(path)
                .map(|(c, _)| c.daemon.control.socket)
                .map_err(|e| e.to_string()),
            None => Ok(PathBuf::from(DEFAULT_CONTROL_SOCKET)),
        }
    }

    /// Sends one request; prints a plain message and maps failures to exit codes
    /// (3 when the daemon is not running or the socket cannot be used).
    pub async fn call(
        &self,
        body: RequestBody,
        out: &mut dyn std::io::Write,
    ) -> Result<ControlReply, Exit> {
        let path = self.socket_path().map_err(|e| {
            let _ = writeln!(out, "astha: {e}");
            Exit::Usage
        })?;
        match ControlClient::new(&path).call(body).await {
            Ok(reply) => Ok(reply),
            Err(e @ ControlClientError::NotRunning { .. }) => {
                let _ = writeln!(
                    out,
                    "astha: {e}. Start it with `astha run` (or `systemctl start astha`)."
                );
                Err(Exit::Usage)
            }
            Err(e) => {
                let _ = writeln!(out, "astha: {e}");
                Err(Exit::Usage)
            }
        }
    }
}
