//! The `astha` command: daemon, status, failover, probes and configuration checks.

fn main() {
    if std::env::args().any(|a| a == "--version" || a == "-V") {
        println!("astha {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    eprintln!(
        "astha {}: the daemon and CLI are not built yet; try `astha --version`",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(3);
}
