//! `astha wait-booted`: wait until one configured Asterisk reports `FullyBooted` over AMI (what a service start must wait for before calls can be taken).
//!
//! Asterisk sends `FullyBooted` to every AMI session right after login once it has finished
//! loading, and broadcasts it at the end of a boot; either one ends the wait. Exit 0 once
//! seen, 2 when the deadline passes first (or the login is refused), 3 on a configuration error.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ami_client::{Client, ClientConfig, EventMask, KnownEvent, RecvError};

use crate::config::{self, Config, TargetRole};

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
    // Subscribed before the connection task first runs, so the per-session event is not missed.
    let mut events = client.subscribe();
    let timeout = Duration::from_millis(args.timeout_ms);
    let outcome = tokio::time::timeout(timeout, async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if matches!(event.typed(), KnownEvent::FullyBooted(_)) {
                        return Ok(());
                    }
                }
                Err(RecvError::Lagged { .. }) => {}
                Err(RecvError::Closed) => return Err("AMI client closed".to_string()),
            }
        }
    })
    .await;
    let state = format!("{:?}", *client.state().borrow());
    client.close().await;
    match outcome {
        Ok(Ok(())) => {
            let _ = writeln!(
                out,
                "{} fully booted ({} ms)",
                endpoint.address,
                started.elapsed().as_millis()
            );
            Exit::Ok
        }
        Ok(Err(e)) => {
            let _ = writeln!(out, "astha wait-booted: {}: {e}", endpoint.address);
            Exit::Failed
        }
        Err(_) => {
            let _ = writeln!(
                out,
                "astha wait-booted: {}: no FullyBooted within {} ms (AMI connection: {state})",
                endpoint.address, args.timeout_ms
            );
            Exit::Failed
        }
    }
}
