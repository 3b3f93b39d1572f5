//! `astha check-config`: validate the configuration and list every problem with its key and line.

use std::io::Write;
use std::path::PathBuf;

use crate::config::{self, ProblemSeverity};

use super::Exit;

#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    /// Configuration file.
    #[arg(long, short, default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
}

pub fn run(args: CheckConfigArgs, out: &mut dyn Write) -> Exit {
    let path = &args.config;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(out, "{}: cannot read: {e}", path.display());
            return Exit::Usage;
        }
    };
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    let (problems, config) = match config::parse(&text, base) {
        Ok((config, warnings)) => (warnings, Some(config)),
        Err(problems) => (problems, None),
    };
    for p in &problems {
        let _ = writeln!(out, "{}:{p}", path.display());
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == ProblemSeverity::Error)
        .count();
    match config {
        Some(c) if errors == 0 => {
            let _ = writeln!(
                out,
                "{}: OK: node {} ({}), peer {}; {} warning(s); probes load {:.2} AMI actions/s per Asterisk",
                path.display(),
                c.node.side,
                c.node.name,
                c.node.peer_name,
                problems.len(),
                c.probes.ami_actions_per_second()
            );
            Exit::Ok
        }
        _ => {
            let _ = writeln!(
                out,
                "{}: {errors} error(s), {} warning(s)",
                path.display(),
                problems.len() - errors
            );
            Exit::Usage
        }
    }
}
