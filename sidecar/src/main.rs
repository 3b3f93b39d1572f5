//! The `astha` command: daemon, status, failover, probes and configuration checks.

use std::io::Write;

fn main() {
    let cli = match astha::cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err((message, exit)) => {
            // clap's rendered help/usage; usage errors exit 3 (2 means "failed" for `astha probe`).
            let _ = if exit == astha::cli::Exit::Ok {
                write!(std::io::stdout(), "{message}")
            } else {
                write!(std::io::stderr(), "{message}")
            };
            std::process::exit(exit.code());
        }
    };
    let logs = init_logging(cli.log_level());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            logs.flush(LOG_FLUSH);
            eprintln!("astha: cannot start the async runtime: {e}");
            std::process::exit(astha::cli::Exit::Usage.code());
        }
    };
    let mut stdout = std::io::stdout();
    let exit = runtime.block_on(astha::cli::run(cli, &mut stdout));
    let _ = stdout.flush();
    logs.flush(LOG_FLUSH);
    std::process::exit(exit.code());
}

/// The most time the last log lines may take to reach stderr at exit.
const LOG_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

fn init_logging(level: &str) -> astha::logging::LineQueue {
    let level = level
        .parse::<tracing::Level>()
        .unwrap_or(tracing::Level::WARN);
    astha::logging::init(level, astha::logging::LogTarget::detect())
}
