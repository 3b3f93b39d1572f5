//! `astha alert test`: sends one test event through every configured alert sink (`[alerts]`) and reports each result.
//!
//! Exit codes: 0 every sink took the event, 2 at least one did not, 3 usage or configuration
//! error (including no sink configured). One attempt per sink, all at once, each under its
//! own timeout: the point is to see what works now, not to retry.

use std::io::Write;
use std::path::PathBuf;

use crate::alerts::{build_sinks, AlertEvent, EventKind, EventSource};
use crate::config::{self, Config};
use crate::wall_clock;

use super::Exit;

#[derive(Debug, clap::Args)]
pub struct AlertArgs {
    #[command(subcommand)]
    pub action: AlertAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum AlertAction {
    /// Send a test event to every webhook and command of `[alerts]`; one line per sink
    /// (exit 0 all delivered, 2 one failed, 3 configuration error or no sink).
    Test {
        /// Configuration file.
        #[arg(long, short, default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// Print one JSON object per sink instead: {"sink", "ok", "detail", "ms"}.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: AlertArgs, out: &mut dyn Write) -> Exit {
    match args.action {
        AlertAction::Test { config, json } => test(&config, json, out).await,
    }
}

async fn test(path: &std::path::Path, json: bool, out: &mut dyn Write) -> Exit {
    let config = match Config::load(path) {
        Ok((config, _warnings)) => config,
        Err(e) => {
            let _ = writeln!(out, "astha alert test: {e}");
            return Exit::Usage;
        }
    };
    if !config.alerts.has_sinks() {
        let _ = writeln!(
            out,
            "astha alert test: {}: no [[alerts.webhook]] or [[alerts.command]] configured",
            path.display()
        );
        return Exit::Usage;
    }
    let sinks = match build_sinks(&config.alerts) {
        Ok(sinks) => sinks,
        Err(e) => {
            let _ = writeln!(out, "astha alert test: {e}");
            return Exit::Usage;
        }
    };
    let event = AlertEvent::new(
        EventKind::Test,
        EventSource::of(&config),
        0,
        "test",
        "test event from `astha alert test`: this sink works".into(),
        wall_clock::now_unix_ms(),
    )
    .with_text();
    let results =
        futures_util::future::join_all(sinks.iter().map(|sink| sink.deliver(&event))).await;
    let mut all_ok = true;
    for (sink, result) in sinks.iter().zip(results) {
        all_ok &= result.is_ok();
        let line = match (&result, json) {
            (Ok(done), false) => format!(
                "ok      {}: {} in {} ms",
                sink.describe(),
                done.detail,
                done.elapsed.as_millis()
            ),
            (Err(e), false) => format!("FAILED  {}: {e}", sink.describe()),
            (Ok(done), true) => serde_json::json!({
                "sink": sink.describe(),
                "ok": true,
                "detail": done.detail,
                "ms": done.elapsed.as_millis() as u64,
            })
            .to_string(),
            (Err(e), true) => serde_json::json!({
                "sink": sink.describe(),
                "ok": false,
                "detail": e.to_string(),
            })
            .to_string(),
        };
        let _ = writeln!(out, "{line}");
    }
    if all_ok {
        Exit::Ok
    } else {
        Exit::Failed
    }
}
