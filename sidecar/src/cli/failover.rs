//! `astha failover` and `astha maintenance`: operator commands sent to the running daemon.

use std::io::Write;

use crate::control::{ControlReply, RequestBody};

use super::control_args::ControlArgs;
use super::Exit;

#[derive(Debug, clap::Args)]
pub struct FailoverArgs {
    #[command(flatten)]
    pub control: ControlArgs,
    /// Hand over even when the standby is not healthy (it may not carry calls!).
    #[arg(long)]
    pub force: bool,
    /// Why, for the log and the takeover record.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, clap::Args)]
pub struct MaintenanceArgs {
    /// `on` stops automatic decisions on this node; `off` resumes them.
    #[arg(value_enum)]
    pub mode: OnOff,
    #[command(flatten)]
    pub control: ControlArgs,
}

fn print(reply: ControlReply, out: &mut dyn Write) -> Exit {
    if reply.ok {
        let _ = writeln!(out, "{}", reply.message.unwrap_or_else(|| "ok".into()));
        Exit::Ok
    } else {
        let _ = writeln!(
            out,
            "refused: {}",
            reply.error.unwrap_or_else(|| "no reason given".into())
        );
        Exit::Failed
    }
}

pub async fn failover(args: FailoverArgs, out: &mut dyn Write) -> Exit {
    let body = RequestBody::Failover {
        force: args.force,
        reason: args.reason,
    };
    match args.control.call(body, out).await {
        Ok(reply) => print(reply, out),
        Err(exit) => exit,
    }
}

pub async fn maintenance(args: MaintenanceArgs, out: &mut dyn Write) -> Exit {
    let body = RequestBody::Maintenance {
        on: args.mode == OnOff::On,
    };
    match args.control.call(body, out).await {
        Ok(reply) => print(reply, out),
        Err(exit) => exit,
    }
}
