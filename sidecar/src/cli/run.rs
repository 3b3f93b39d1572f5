//! `astha run`: start the daemon in the foreground (systemd `Type=notify`).

use std::io::Write;
use std::path::PathBuf;

use crate::config;
use crate::daemon::{self, RunOptions};

use super::Exit;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file.
    #[arg(long, short, default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Control socket path (overrides `[control] socket`).
    #[arg(long)]
    pub socket: Option<PathBuf>,
}

pub async fn run(args: RunArgs, out: &mut dyn Write) -> Exit {
    match daemon::run(
        &args.config,
        RunOptions {
            control_socket: args.socket,
        },
    )
    .await
    {
        Ok(()) => Exit::Ok,
        Err(e) => {
            tracing::error!("{e}");
            let _ = writeln!(out, "astha run: {e}");
            Exit::Usage
        }
    }
}
