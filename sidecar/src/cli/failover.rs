//! `astha failover` and `astha maintenance`: operator commands sent to the running daemon.

use std::io::Write;
use std::time::Duration;

use crate::control::{ControlReply, RequestBody};
use crate::status::CallsStatus;

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
    /// Wait until the active carries no call (new calls are still taken meanwhile), then hand
    /// over: a maintenance window that cuts nobody off.
    #[arg(long)]
    pub when_idle: bool,
    /// With --when-idle: give up after this long (e.g. 90s, 15m, 2h); exit 1 if still busy.
    #[arg(long, value_parser = parse_wait, default_value = "1h", requires = "when_idle")]
    pub max_wait: Duration,
}

/// How often `--when-idle` counts the calls again.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// `90s`, `15m`, `2h`, `500ms` or plain seconds.
fn parse_wait(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 15m or 2h"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" | "min" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "ms" => return Ok(Duration::from_millis(n)),
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}: use ms, s, m or h"
            ))
        }
    };
    Ok(Duration::from_secs(seconds))
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

/// The calls on the active node, from the daemon's status (`None`: no node is active, or the
/// daemon could not be asked: the failover request then says why).
async fn active_calls(control: &super::control_args::ControlArgs) -> Option<CallsStatus> {
    let mut ignored = Vec::new();
    let reply = control.call(RequestBody::Status, &mut ignored).await.ok()?;
    reply.status?.calls
}

/// Waits until the active carries no call, or `max_wait` passed (then `Err(exit)`).
async fn wait_until_idle(
    control: &super::control_args::ControlArgs,
    max_wait: Duration,
    out: &mut dyn Write,
) -> Result<(), Exit> {
    let deadline = tokio::time::Instant::now() + max_wait;
    let mut last_said = String::new();
    loop {
        let calls = active_calls(control).await;
        let Some(calls) = calls else {
            // No active node to drain (or no daemon): the request itself will say.
            return Ok(());
        };
        if calls.count == Some(0) {
            let _ = writeln!(out, "{}: handing over now", calls.describe());
            return Ok(());
        }
        let said = calls.describe();
        if said != last_said {
            let _ = writeln!(out, "waiting: {said}");
            last_said = said;
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = writeln!(
                out,
                "still busy after {} s: {last_said}; not handing over",
                max_wait.as_secs()
            );
            return Err(Exit::Degraded);
        }
        tokio::time::sleep(IDLE_POLL).await;
    }
}

pub async fn failover(args: FailoverArgs, out: &mut dyn Write) -> Exit {
    if args.when_idle {
        if let Err(exit) = wait_until_idle(&args.control, args.max_wait, out).await {
            return exit;
        }
    } else if let Some(calls) = active_calls(&args.control).await {
        let _ = writeln!(out, "{}", calls.describe());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_read_with_their_units() {
        assert_eq!(parse_wait("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_wait("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_wait("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_wait("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_wait("30"), Ok(Duration::from_secs(30)));
        assert!(parse_wait("soon").unwrap_err().contains("not a duration"));
        assert!(parse_wait("3d").unwrap_err().contains("unknown unit"));
    }
}
