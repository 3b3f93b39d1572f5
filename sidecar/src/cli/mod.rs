//! The `astha` command line (clap derive): one module per subcommand, dispatched from [`run()`].
//!
//! Adding a subcommand: a module with an `Args` struct and an `async fn run(args, out) -> Exit`,
//! a variant in [`CliCommand`], and one arm in [`run()`].

pub mod alert;
pub mod check_config;
mod control_args;
pub mod demo;
pub mod doctor;
pub mod failover;
pub mod fence_peer;
pub mod generate;
pub mod probe;
pub mod relay;
pub mod run;
pub mod status;
pub mod wait_booted;

use std::io::Write;

use clap::{Parser, Subcommand};

/// Process exit codes, shared by every subcommand (Nagios-compatible for `probe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Healthy / valid.
    Ok,
    Degraded,
    Failed,
    /// Usage or configuration error (or verdict unknown).
    Usage,
    /// A DRBD handler's status (`astha fence-peer`): DRBD gives 3–7 meanings of its own.
    Handler(u8),
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Degraded => 1,
            Exit::Failed => 2,
            Exit::Usage => 3,
            Exit::Handler(code) => i32::from(code),
        }
    }
}

/// astha: Asterisk high-availability sidecar.
#[derive(Debug, Parser)]
#[command(name = "astha", version, about, propagate_version = true)]
pub struct Cli {
    /// Log level for messages on stderr (error, warn, info, debug, trace); default `info` for
    /// `astha run`, `warn` otherwise.
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: CliCommand,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Probe one Asterisk once (every configured probe, including a test call) and print the verdict.
    Probe(probe::ProbeArgs),
    /// Validate the configuration file and report every problem with its key and line.
    CheckConfig(check_config::CheckConfigArgs),
    /// Pre-flight check of the pair from this node: one line per check with the fix (exit 0 ok, 1 warnings, 2 a failure, 3 config unreadable).
    Doctor(doctor::DoctorArgs),
    /// Run the daemon in the foreground (what the systemd unit starts).
    Run(run::RunArgs),
    /// Show role, term, peer, both Asterisk targets, relay, IP, DRBD and the last takeover.
    Status(status::StatusArgs),
    /// Hand the service over to the other server (graceful; refused when the standby is unhealthy).
    Failover(failover::FailoverArgs),
    /// Stop (`on`) or resume (`off`) automatic decisions on this node.
    Maintenance(failover::MaintenanceArgs),
    /// Build a sandbox pair in network namespaces, inject a failure, show the takeover (root).
    Demo(demo::DemoArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(generate::CompletionsArgs),
    /// Print the man page (roff).
    Man(generate::ManArgs),
    /// Read, switch or kick the configured PSTN relay once (exit 0 done, 2 device failed, 3 usage).
    Relay(relay::RelayArgs),
    /// Wait until one configured Asterisk reports FullyBooted over AMI (exit 0 booted, 2 not in time).
    WaitBooted(wait_booted::WaitBootedArgs),
    /// DRBD's fence-peer handler: asks the daemon whether the peer is out of the way (exit 4 outdated, 6 peer active, 7 fenced, 1 no answer).
    FencePeer(fence_peer::FencePeerArgs),
    /// DRBD's unfence-peer handler: tells the daemon the peer is UpToDate again.
    UnfencePeer(fence_peer::FencePeerArgs),
    /// Alert sinks (`[alerts]`): `astha alert test` sends a test event through each and reports it.
    Alert(alert::AlertArgs),
}

impl Cli {
    /// The log level to use: the one asked for, or the command's default.
    pub fn log_level(&self) -> &str {
        match (&self.log_level, &self.command) {
            (Some(level), _) => level,
            (None, CliCommand::Run(_)) => "info",
            (None, _) => "warn",
        }
    }
}

/// Parses arguments; `Err` carries clap's message and the exit code to use (0 for --help/--version).
pub fn parse<I, T>(args: I) -> Result<Cli, (String, Exit)>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let handler = fence_peer::is_handler_invocation(&args);
    Cli::try_parse_from(args).map_err(|e| {
        let exit = match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                Exit::Ok
            }
            // DRBD reads 3 as "peer Inconsistent": a handler's usage error is "no answer".
            _ if handler => Exit::Handler(crate::actuate::fence::exit::NO_ANSWER),
            _ => Exit::Usage,
        };
        (e.render().to_string(), exit)
    })
}

/// Runs a parsed command, writing its report to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> Exit {
    match cli.command {
        CliCommand::Probe(args) => probe::run(args, out).await,
        CliCommand::CheckConfig(args) => check_config::run(args, out),
        CliCommand::Doctor(args) => doctor::run(args, out).await,
        CliCommand::Run(args) => run::run(args, out).await,
        CliCommand::Status(args) => status::run(args, out).await,
        CliCommand::Failover(args) => failover::failover(args, out).await,
        CliCommand::Maintenance(args) => failover::maintenance(args, out).await,
        CliCommand::Demo(args) => demo::run(args, out),
        CliCommand::Completions(args) => generate::completions(args, out),
        CliCommand::Man(args) => generate::man(args, out),
        CliCommand::Relay(args) => relay::run(args, out).await,
        CliCommand::WaitBooted(args) => wait_booted::run(args, out).await,
        CliCommand::FencePeer(args) => fence_peer::fence_peer(args, out).await,
        CliCommand::UnfencePeer(args) => fence_peer::unfence_peer(args, out).await,
        CliCommand::Alert(args) => alert::run(args, out).await,
    }
}
