//! `astha relay`: read, switch and kick the configured PSTN relay (`[actuate.relay]`) once, for admins and the Pacemaker agents.
//!
//! Exit codes: 0 done (for `status`: the position is known), 1 the device answered but cannot
//! tell its position (no read-back), 2 the device failed, 3 usage or configuration error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::actuate::relay::{build_relay, RelayHandle, WatchdogState};
use crate::config::{self, Config};
use crate::side::Side;

use super::Exit;

#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// Configuration file (its `[actuate.relay]` section names the device).
    #[arg(long, short, global = true, default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Deadline of one device operation, in milliseconds.
    #[arg(long, global = true, default_value_t = 5000)]
    pub timeout_ms: u64,
    #[command(subcommand)]
    pub action: RelayAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum RelayAction {
    /// Print the side the circuits are on (read back from the device) and what the device can do.
    Status {
        /// Print only `a`, `b` or `unknown`.
        #[arg(long, conflicts_with = "json")]
        brief: bool,
        /// Print {"side": "a"|"b"|null, "device": ..., "read_back": bool, "watchdog": bool, "watchdog_state": ...}.
        #[arg(long)]
        json: bool,
    },
    /// Switch the circuits to a side: `a`, `b`, `local` (this node) or `peer`.
    Select {
        #[arg(value_enum)]
        side: SideArg,
    },
    /// Kick the device watchdog (a no-op for devices without one).
    Kick,
    /// List the two sides with the node names the configuration gives them: `SIDE NAME local|peer` per line.
    List,
}

/// A side named absolutely or relative to this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SideArg {
    A,
    B,
    /// The side of this node (`node.side`).
    Local,
    /// The other side.
    Peer,
}

pub async fn run(args: RelayArgs, out: &mut dyn Write) -> Exit {
    match execute(&args, out).await {
        Ok(exit) => exit,
        Err(Failure { exit, message }) => {
            let _ = writeln!(out, "astha relay: {message}");
            exit
        }
    }
}

/// An error message with the exit code it maps to.
struct Failure {
    exit: Exit,
    message: String,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        exit: Exit::Usage,
        message: message.into(),
    }
}

fn device(message: impl std::fmt::Display) -> Failure {
    Failure {
        exit: Exit::Failed,
        message: message.to_string(),
    }
}

async fn execute(args: &RelayArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let deadline = Duration::from_millis(args.timeout_ms);
    // The whole file is validated (as the daemon would), then only its relay is used.
    let config = load_config(&args.config)?;
    match args.action {
        RelayAction::List => {
            for side in [Side::A, Side::B] {
                let (name, role) = if side == config.node.side {
                    (&config.node.name, "local")
                } else {
                    (&config.node.peer_name, "peer")
                };
                let _ = writeln!(out, "{side} {name} {role}");
            }
            Ok(Exit::Ok)
        }
        RelayAction::Select { side } => {
            let side = match side {
                SideArg::A => Side::A,
                SideArg::B => Side::B,
                SideArg::Local => config.node.side,
                SideArg::Peer => config.node.side.other(),
            };
            let relay = open(&config, &args.config)?;
            relay.select(side, deadline).await.map_err(device)?;
            // Report what the device says now, when it can tell (the drivers already verify).
            let now = match relay.read_side(deadline).await {
                Ok(Some(s)) => s.to_string(),
                Ok(None) => "not readable".to_string(),
                Err(e) => return Err(device(format!("switched, but read-back failed: {e}"))),
            };
            let _ = writeln!(out, "selected {side} (device reports: {now})");
            Ok(Exit::Ok)
        }
        RelayAction::Kick => {
            let relay = open(&config, &args.config)?;
            relay.kick_watchdog(deadline).await.map_err(device)?;
            let _ = writeln!(
                out,
                "{}",
                if relay.capabilities().watchdog.is_some() {
                    "watchdog kicked"
                } else {
                    "device has no watchdog: nothing to do"
                }
            );
            Ok(Exit::Ok)
        }
        RelayAction::Status { brief, json } => {
            let relay = open(&config, &args.config)?;
            let side = relay.read_side(deadline).await.map_err(device)?;
            let caps = relay.capabilities();
            let side_text = side.map_or("unknown", Side::as_str);
            let watchdog = match (caps.watchdog, relay.read_watchdog(deadline).await) {
                (None, _) => "none".to_string(),
                (Some(w), Ok(state)) => format!(
                    "{} (falls back to side {}{})",
                    state.map_or("state not readable", |s| s.as_str()),
                    w.falls_back_to,
                    match state {
                        Some(WatchdogState::Running {
                            remaining_s: Some(left),
                        }) => format!(" in {left} s unless kicked"),
                        _ => String::new(),
                    }
                ),
                (Some(_), Err(e)) => format!("state not readable: {e}"),
            };
            let _ = if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({
                        "side": side.map(Side::as_str),
                        "device": relay.describe(),
                        "read_back": caps.read_back,
                        "watchdog": caps.watchdog.is_some(),
                        "watchdog_state": watchdog,
                    })
                )
            } else if brief {
                writeln!(out, "{side_text}")
            } else {
                writeln!(
                    out,
                    "side: {side_text}\ndevice: {}\nread_back: {}\nwatchdog: {}",
                    relay.describe(),
                    yes_no(caps.read_back),
                    watchdog
                )
            };
            Ok(if side.is_some() {
                Exit::Ok
            } else {
                Exit::Degraded
            })
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn load_config(path: &Path) -> Result<Config, Failure> {
    Config::load(path)
        .map(|(config, _warnings)| config)
        .map_err(|e| usage(e.to_string()))
}

fn open(config: &Config, path: &Path) -> Result<RelayHandle, Failure> {
    let cfg = config.daemon.actuate.relay.as_ref().ok_or_else(|| {
        usage(format!(
            "{}: no [actuate.relay] section: this node has no relay",
            path.display()
        ))
    })?;
    let relay = build_relay(cfg).map_err(|e| usage(e.to_string()))?;
    Ok(RelayHandle::new(relay))
}
