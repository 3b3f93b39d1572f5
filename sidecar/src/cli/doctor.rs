//! `astha doctor`: the pre-flight check of the pair from this node, one line per check with the fix (exit 0 all ok, 1 warnings only, 2 a failure, 3 configuration unreadable or invalid).

use std::io::Write;
use std::path::PathBuf;

use crate::config::{self, Config, ConfigFileError, ProblemSeverity};
use crate::doctor::{self, Check, Report, Status};

use super::Exit;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Configuration file (the one the daemon runs with).
    #[arg(long, short, default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Print a JSON array of {"check", "status": "ok"|"skip"|"warn"|"fail", "detail", "fix"}.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: DoctorArgs, out: &mut dyn Write) -> Exit {
    let path = &args.config;
    let fix_config = format!(
        "`astha check-config --config {}` lists every problem with its line",
        path.display()
    );
    // The same loading and validation as `astha check-config` and the daemon.
    let (report, exit) = match Config::load(path) {
        Ok((config, warnings)) => {
            let summary = format!(
                "{}: node {} ({}), peer {}",
                path.display(),
                config.node.side,
                config.node.name,
                config.node.peer_name
            );
            let line = if warnings.is_empty() {
                Check::ok("config", format!("{summary}; valid"))
            } else {
                Check::warn(
                    "config",
                    format!(
                        "{summary}; {} warning(s): {}",
                        warnings.len(),
                        joined(warnings.iter().map(ToString::to_string))
                    ),
                    fix_config,
                )
            };
            let report = doctor::run(&config, path, line).await;
            let exit = match report.worst() {
                Status::Ok | Status::Skip => Exit::Ok,
                Status::Warn => Exit::Degraded,
                Status::Fail => Exit::Failed,
            };
            (report, exit)
        }
        Err(ConfigFileError::Read { path, source }) => (
            single(Check::fail(
                "config",
                format!("cannot read {}: {source}", path.display()),
                "give the path of the daemon's configuration with --config (default /etc/astha/astha.toml)",
            )),
            Exit::Usage,
        ),
        Err(ConfigFileError::Invalid { path, problems }) => {
            let errors = problems
                .iter()
                .filter(|p| p.severity == ProblemSeverity::Error)
                .map(ToString::to_string);
            (
                single(Check::fail(
                    "config",
                    format!(
                        "{} is not valid: {}; nothing else was checked",
                        path.display(),
                        joined(errors)
                    ),
                    fix_config,
                )),
                Exit::Usage,
            )
        }
    };
    let _ = if args.json {
        writeln!(out, "{}", report.json())
    } else {
        write!(out, "{}", report.table())
    };
    exit
}

fn single(check: Check) -> Report {
    Report {
        checks: vec![check],
    }
}

fn joined(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(" | ")
}
