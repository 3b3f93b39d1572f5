//! `astha probe`: a one-shot check of one Asterisk without the daemon, for admins and monitoring systems.

use std::io::Write;
use std::path::PathBuf;

use crate::config::{
    self, AmiEndpoint, AriEndpoint, AsteriskCgroup, AsteriskTarget, Config, HostPort, HttpUrl,
    ProbesConfig, SecretSource, SipEndpoint, TargetRole,
};
use crate::probe::oneshot::{run_once, run_once_without_ami};
use crate::probe::TargetProbes;
use crate::side::Side;
use crate::verdict::Verdict;

use super::Exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetArg {
    /// The Asterisk on this node.
    Local,
    /// The Asterisk on the peer node.
    Peer,
}

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// Configuration file (used unless --ami is given).
    #[arg(long, short, conflicts_with = "ami")]
    pub config: Option<PathBuf>,
    /// Which Asterisk of the configuration to probe.
    #[arg(long, value_enum, default_value = "local", conflicts_with = "ami")]
    pub target: TargetArg,
    /// Probe this AMI directly (HOST:PORT) instead of a configured target.
    #[arg(long, requires_all = ["username", "secret_file"])]
    pub ami: Option<String>,
    /// AMI user name (with --ami).
    #[arg(long, requires = "ami")]
    pub username: Option<String>,
    /// File holding the AMI secret (with --ami).
    #[arg(long, requires = "ami")]
    pub secret_file: Option<PathBuf>,
    /// Also send SIP OPTIONS to HOST:PORT (with --ami).
    #[arg(long, requires = "ami")]
    pub sip: Option<String>,
    /// Also ping ARI at this base URL, e.g. http://127.0.0.1:8088 (with --ami; same credentials as AMI
    /// unless --ari-username/--ari-secret-file are given).
    #[arg(long, requires = "ami")]
    pub ari: Option<String>,
    /// ARI user name (default: the AMI user name).
    #[arg(long, requires = "ari")]
    pub ari_username: Option<String>,
    /// File holding the ARI password (default: the AMI secret file).
    #[arg(long, requires = "ari")]
    pub ari_secret_file: Option<PathBuf>,
    /// Skip the test call.
    #[arg(long)]
    pub no_call: bool,
    /// Print JSON: {"verdict": ..., "probes": [{"kind", "ok", "latency_ms", "error"}]}.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: ProbeArgs, out: &mut dyn Write) -> Exit {
    let (target, mut probes) = match resolve_target(&args) {
        Ok(t) => t,
        Err(message) => {
            let _ = writeln!(out, "astha probe: {message}");
            return Exit::Usage;
        }
    };
    if args.no_call {
        probes.timing_mut(crate::probe::ProbeKind::Call).enabled = false;
    }
    let backend = TargetProbes::new("probe", &target, &probes);
    // The AMI login (banner after the connect, then the login itself; the daemon's ping runs on
    // a connection already made) gets the ping's silence window, the time the daemon allows a
    // target to say nothing: an Asterisk that cannot log us in by then (hung, dead, wrong
    // secret) is judged at once, every AMI probe failing with the reason, instead of after each
    // probe's own deadline (a monitoring system or the OCF agent is waiting). With the defaults
    // a hung Asterisk is failed in 1 s, as the daemon fails it.
    let started = std::time::Instant::now();
    let login = probes.timing(crate::probe::ProbeKind::Ping).timeout;
    let report = match backend.wait_ready(login).await {
        Ok(()) => run_once(&backend, &probes, backend.enabled()).await,
        Err(e) => {
            let state = backend.ami().client().state().borrow().clone();
            let error = match state {
                // A login refused because Asterisk is going away is a reconnect, not a wrong
                // secret: the client keeps trying, and the reason is in its state.
                ami_client::ConnectionState::Disconnected { reason }
                    if reason.contains(ami_client::proto::SHUTTING_DOWN) =>
                {
                    crate::probe::ProbeError::ShutDown { restart: false }
                }
                ami_client::ConnectionState::AuthFailed { .. } => e,
                state => crate::probe::ProbeError::NotConnected(format!(
                    "no AMI login within twice the ping deadline ({} ms): hung or unreachable ({state})",
                    login.as_millis()
                )),
            };
            run_once_without_ami(
                &backend,
                &probes,
                backend.enabled(),
                error,
                started.elapsed(),
            )
            .await
        }
    };
    backend.ami().client().close().await;
    let _ = if args.json {
        writeln!(out, "{}", report.json())
    } else {
        write!(out, "{}", report.table())
    };
    match report.verdict_value {
        Verdict::Healthy => Exit::Ok,
        Verdict::Degraded => Exit::Degraded,
        Verdict::Failed => Exit::Failed,
        Verdict::Unknown => Exit::Usage,
    }
}

/// The target and probe settings, from the configuration file or from the command line.
fn resolve_target(args: &ProbeArgs) -> Result<(AsteriskTarget, ProbesConfig), String> {
    let Some(ami) = &args.ami else {
        let path = args
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
        let (config, _warnings): (Config, _) = Config::load(&path).map_err(|e| e.to_string())?;
        let role = match args.target {
            TargetArg::Local => TargetRole::Local,
            TargetArg::Peer => TargetRole::Peer,
        };
        return Ok((config.target(role).clone(), config.probes));
    };
    let address = HostPort::parse(ami, Some(5038)).map_err(|e| format!("--ami: {e}"))?;
    let username = args
        .username
        .clone()
        .ok_or("--username is required with --ami")?;
    let secret_path = args
        .secret_file
        .clone()
        .ok_or("--secret-file is required with --ami")?;
    let secret =
        config::secret_from_file(&secret_path).map_err(|e| format!("--secret-file: {e}"))?;
    let sip = match &args.sip {
        Some(s) => Some(SipEndpoint {
            address: HostPort::parse(s, Some(5060)).map_err(|e| format!("--sip: {e}"))?,
            user: None,
        }),
        None => None,
    };
    let ari = match &args.ari {
        Some(url) => {
            let url = HttpUrl::parse(url).map_err(|e| format!("--ari: {e}"))?;
            let (secret, secret_source) = match &args.ari_secret_file {
                Some(p) => (
                    config::secret_from_file(p).map_err(|e| format!("--ari-secret-file: {e}"))?,
                    SecretSource::File(p.clone()),
                ),
                None => (secret.clone(), SecretSource::File(secret_path.clone())),
            };
            let username = args
                .ari_username
                .clone()
                .unwrap_or_else(|| username.clone());
            Some(AriEndpoint {
                url,
                username,
                secret,
                secret_source,
            })
        }
        None => None,
    };
    let target = AsteriskTarget {
        side: Side::A,
        ami: AmiEndpoint {
            address,
            username,
            secret,
            secret_source: SecretSource::File(secret_path),
        },
        sip,
        ari,
        // A one-shot check from the command line judges on its own deadlines.
        cgroup: AsteriskCgroup::Off,
    };
    Ok((target, ProbesConfig::default()))
}
