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
    init_logging(cli.log_level());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("astha: cannot start the async runtime: {e}");
            std::process::exit(astha::cli::Exit::Usage.code());
        }
    };
    let mut stdout = std::io::stdout();
    let exit = runtime.block_on(astha::cli::run(cli, &mut stdout));
    let _ = stdout.flush();
    std::process::exit(exit.code());
}

fn init_logging(level: &str) {
    let level = level
        .parse::<tracing::Level>()
        .unwrap_or(tracing::Level::WARN);
    astha::logging::init(level, astha::logging::LogTarget::detect());
}
