//! `astha wait-booted`: wait until one configured Asterisk reports `FullyBooted` over AMI (what a service start must wait for before calls can be taken).
//!
//! The wait is the daemon's ([`crate::probe::boot::wait_fully_booted`]): `FullyBooted` on the
//! current AMI session, whether sent right after the login (booted already) or broadcast at the
//! end of the boot. Exit 0 once seen, 2 when the deadline passes first (or the login is
//! refused), 3 on a configuration error.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ami_client::{Client, ClientConfig, EventMask};

use crate::config::{self, Config, TargetRole};
use crate::probe::boot::wait_fully_booted;

use super::probe::TargetArg;
use super::Exit;

#[derive(Debug, clap::Args)]
pub struct WaitBootedArgs {
    /// Configuration file.
    #[arg(long, short, default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Which Asterisk of the configuration to wait for.
    #[arg(long, value_enum, default_value = "local")]
    pub target: TargetArg,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub timeout_ms: u64,
}

pub async fn run(args: WaitBootedArgs, out: &mut dyn Write) -> Exit {
    let config = match Config::load(&args.config) {
        Ok((config, _warnings)) => config,
        Err(e) => {
            let _ = writeln!(out, "astha wait-booted: {e}");
            return Exit::Usage;
        }
    };
    let role = match args.target {
        TargetArg::Local => TargetRole::Local,
        TargetArg::Peer => TargetRole::Peer,
    };
    let endpoint = &config.target(role).ami;
    let mut ami = ClientConfig::new(
        endpoint.address.to_string(),
        endpoint.username.clone(),
        endpoint.secret.expose(),
    );
    ami.events = EventMask::Classes(vec!["system".into()]);
    ami.ping_interval = Duration::ZERO;
    ami.connect_timeout = Duration::from_secs(1);
    // Asterisk is starting: its AMI port opens late, so retry connections quickly.
    ami.reconnect_backoff_max = Duration::from_millis(500);
    ami.action_id_prefix = "astha-boot-".into();
    let started = Instant::now();
    let client = Client::connect(ami);
    let outcome = wait_fully_booted(&client, Duration::from_millis(args.timeout_ms)).await;
    client.close().await;
    match outcome {
        Ok(()) => {
            let _ = writeln!(
                out,
                "{} fully booted ({} ms)",
                endpoint.address,
                started.elapsed().as_millis()
            );
            Exit::Ok
        }
        Err(e) => {
            let _ = writeln!(out, "astha wait-booted: {}: {e}", endpoint.address);
            Exit::Failed
        }
    }
}
