//! `astha status`: the node, its peer, both Asterisk targets, relay, IP, DRBD and the last takeover at a glance.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::control::RequestBody;
use crate::status::Style;

use super::control_args::ControlArgs;
use super::Exit;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub control: ControlArgs,
    /// Print the stable JSON document instead of the table (see README, "Status JSON").
    #[arg(long)]
    pub json: bool,
    /// Refresh every second until interrupted.
    #[arg(long)]
    pub watch: bool,
}

pub async fn run(args: StatusArgs, out: &mut dyn Write) -> Exit {
    let colour = !args.json && std::io::stdout().is_terminal();
    loop {
        let reply = match args.control.call(RequestBody::Status, out).await {
            Ok(reply) => reply,
            Err(exit) => return exit,
        };
        let Some(report) = reply.status else {
            let _ = writeln!(
                out,
                "astha: the daemon answered without a status: {}",
                reply.error.unwrap_or_default()
            );
            return Exit::Failed;
        };
        if args.watch && colour {
            let _ = write!(out, "\x1b[2J\x1b[H");
        }
        if args.json {
            match serde_json::to_string_pretty(&report) {
                Ok(json) => {
                    let _ = writeln!(out, "{json}");
                }
                Err(e) => {
                    let _ = writeln!(out, "astha: cannot encode status: {e}");
                    return Exit::Failed;
                }
            }
        } else {
            let _ = write!(out, "{}", report.render(Style { colour }));
        }
        let _ = out.flush();
        if !args.watch {
            return Exit::Ok;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
