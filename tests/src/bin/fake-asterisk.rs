//! `fake-asterisk`: one emulated Asterisk 22 instance (AMI, SIP OPTIONS, ARI) with a control
//! channel for fault injection. See `fake-asterisk --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use astha_tests::fake_asterisk::control::{self, HELP};
use astha_tests::fake_asterisk::dialplan::parse_exten_spec;
use astha_tests::fake_asterisk::{
    AmiUser, AriUser, BootMode, Dialplan, FakeAsterisk, FakeConfig, SpanConfig,
};
use clap::Parser;
use tokio::sync::watch;
use tracing::{error, info};

const AFTER_HELP: &str = "\
DEFAULTS (instance `a` of tests/fixtures/asterisk-22):
  system name ha-a, entity id 02:00:00:00:00:0a
  AMI users:  hasidecar / hasecret (read=all, write=all), readonly / ro (read=all, no write)
  ARI user:   hasidecar / hasecret
  dialplan:   the shipped dialplan/extensions_astha.conf:
              probe@ha-probe  unless HA_PROBE_QUICK=yes: Answer, Playback(silence/1) [--playback-ms];
                              then UserEvent(HAProbe,Probe: ${HA_PROBE_ID}), Hangup
              echo@ha-probe   Answer, Echo (up until hung up)
              *999@ha-admin   Answer, Wait(0.5), UserEvent(HAFailover,Reason: manual,Node: ${SYSTEMNAME}),
                              Playback(beep), Playback(silence/1), Hangup (no PIN: no DTMF here)
  --captured-dialplan: the dialplan fixtures 01-23 were captured with (NoOp first, no marker)
  Originate Local/<exten>@<context> runs the extension with the captured event sequence;
  an unknown extension or technology fails as recorded (fixtures 11, 12).

USERS (--user, repeatable; replaces the default users):
  NAME:SECRET[:READ[:WRITE]]   READ/WRITE as in manager.conf, comma lists with ';' instead of ','
                               e.g. astha:s3cret:system;call;user;reporting:originate;reporting

DIALPLAN (--exten, repeatable; added to the default dialplan unless --no-default-dialplan):
  CONTEXT,EXTEN,answer-hangup:MS            answer, play MS of silence, hang up
  CONTEXT,EXTEN,echo                        answer, stay up until hung up
  CONTEXT,EXTEN,userevent:NAME:MS[:K=V;K=V] answer, UserEvent NAME with K: V headers, MS silence, hang up

SIP: OPTIONS sip:<user>@host answers 200 when <user> is an extension of --sip-context (or no user
part), 404 otherwise; other methods 501.
ARI: GET /ari/asterisk/ping, /ari/asterisk/info[?only=...], /ari/channels with Basic auth or
api_key=user:password; 401 {\"message\":\"Authentication required\"} otherwise.

The bound addresses are printed on stdout as one line `ami=ADDR sip=ADDR http=ADDR` (useful with
port 0). Logs go to stderr (--log-level).

CONTROL CHANNEL (--control PATH: a Unix stream socket; --stdin: the same protocol on stdin/stdout)
";

/// An emulated Asterisk 22 (AMI, SIP OPTIONS, ARI) with fault injection for astha's tests.
#[derive(Debug, Parser)]
#[command(name = "fake-asterisk", version, after_help = format!("{AFTER_HELP}{HELP}"))]
struct Args {
    /// AMI TCP address (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:5038")]
    ami: SocketAddr,
    /// SIP UDP address.
    #[arg(long, default_value = "127.0.0.1:5060")]
    sip: SocketAddr,
    /// HTTP/ARI TCP address.
    #[arg(long, default_value = "127.0.0.1:8088")]
    http: SocketAddr,
    /// Disable SIP.
    #[arg(long)]
    no_sip: bool,
    /// Disable HTTP/ARI.
    #[arg(long)]
    no_http: bool,
    /// SYSTEMNAME (SystemName headers, Uniqueid prefix).
    #[arg(long, default_value = "ha-a")]
    system_name: String,
    /// Entity id reported by ARI.
    #[arg(long, default_value = "02:00:00:00:00:0a")]
    entity_id: String,
    /// AMI user `NAME:SECRET[:READ[:WRITE]]` (repeatable; replaces the defaults).
    #[arg(long = "user", value_name = "SPEC")]
    users: Vec<String>,
    /// ARI user NAME:PASSWORD (repeatable; replaces the default).
    #[arg(long = "ari-user", value_name = "NAME:PASSWORD")]
    ari_users: Vec<String>,
    /// Extra dialplan extension CONTEXT,EXTEN,BEHAVIOUR (repeatable).
    #[arg(long = "exten", value_name = "SPEC")]
    extens: Vec<String>,
    /// Start from an empty dialplan instead of the shipped one.
    #[arg(long, conflicts_with = "captured_dialplan")]
    no_default_dialplan: bool,
    /// Start from the dialplan fixtures 01-23 were captured with instead of the shipped one.
    #[arg(long)]
    captured_dialplan: bool,
    /// Length of Playback(silence/1) in the default dialplan, in ms.
    #[arg(long, default_value_t = 1000)]
    playback_ms: u64,
    /// How long Answer() settles, in ms.
    #[arg(long, default_value_t = 500)]
    answer_delay_ms: u64,
    /// Delay before a failed login is answered, in ms.
    #[arg(long, default_value_t = 1000)]
    auth_fail_delay_ms: u64,
    /// AMI write timeout: clients that do not read are dropped after this, in ms.
    #[arg(long, default_value_t = 100)]
    write_timeout_ms: u64,
    /// FullyBooted this long after listening (0 = at once).
    #[arg(long, default_value_t = 0)]
    boot_delay_ms: u64,
    /// Stay booting until the control command `boot`.
    #[arg(long)]
    manual_boot: bool,
    /// How long `Command: core restart now` over AMI stays down, in ms.
    #[arg(long, default_value_t = 1000)]
    restart_downtime_ms: u64,
    /// Emulated DAHDI span SPAN:FIRST-LAST (channel numbers), repeatable.
    #[arg(long = "span", value_name = "SPAN:FIRST-LAST")]
    spans: Vec<String>,
    /// Fixed MD5 challenge value (default: random).
    #[arg(long)]
    challenge: Option<String>,
    /// Context SIP OPTIONS users are looked up in.
    #[arg(long, default_value = "ha-probe")]
    sip_context: String,
    /// Control channel on a Unix socket at this path.
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// Control channel on stdin (replies on stdout); EOF on stdin does not stop the emulator.
    #[arg(long)]
    stdin: bool,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
}

fn parse_user(spec: &str) -> Result<AmiUser, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [name, secret] => Ok(AmiUser::full(name, secret)),
        [name, secret, read] => Ok(AmiUser::with_permissions(
            name,
            secret,
            &read.replace(';', ","),
            "",
        )),
        [name, secret, read, write] => Ok(AmiUser::with_permissions(
            name,
            secret,
            &read.replace(';', ","),
            &write.replace(';', ","),
        )),
        _ => Err(format!(
            "--user {spec:?}: expected NAME:SECRET[:READ[:WRITE]]"
        )),
    }
}

fn parse_span(spec: &str) -> Result<SpanConfig, String> {
    let err = || format!("--span {spec:?}: expected SPAN:FIRST-LAST, e.g. 1:1-30");
    let (span, range) = spec.split_once(':').ok_or_else(err)?;
    let (first, last) = range.split_once('-').ok_or_else(err)?;
    let span = span.parse().map_err(|_| err())?;
    let first: u32 = first.parse().map_err(|_| err())?;
    let last: u32 = last.parse().map_err(|_| err())?;
    if first > last {
        return Err(err());
    }
    Ok(SpanConfig::new(span, first..=last))
}

fn config_from(args: &Args) -> Result<FakeConfig, String> {
    let mut config = FakeConfig::named(&args.system_name, &args.entity_id);
    config.ami_addr = args.ami;
    config.sip_addr = (!args.no_sip).then_some(args.sip);
    config.http_addr = (!args.no_http).then_some(args.http);
    if !args.users.is_empty() {
        config.users = args
            .users
            .iter()
            .map(|s| parse_user(s))
            .collect::<Result<_, _>>()?;
    }
    if !args.ari_users.is_empty() {
        config.ari_users = args
            .ari_users
            .iter()
            .map(|s| {
                s.split_once(':')
                    .map(|(name, password)| AriUser {
                        name: name.to_owned(),
                        password: password.to_owned(),
                    })
                    .ok_or_else(|| format!("--ari-user {s:?}: expected NAME:PASSWORD"))
            })
            .collect::<Result<_, _>>()?;
    }
    let playback = Duration::from_millis(args.playback_ms);
    config.dialplan = if args.no_default_dialplan {
        Dialplan::empty()
    } else if args.captured_dialplan {
        Dialplan::captured(playback)
    } else {
        Dialplan::shipped(playback)
    };
    for spec in &args.extens {
        config.dialplan.add(parse_exten_spec(spec)?);
    }
    for spec in &args.spans {
        config = config.with_span(parse_span(spec)?);
    }
    config.sip_context = args.sip_context.clone();
    config.answer_delay = Duration::from_millis(args.answer_delay_ms);
    config.auth_failure_delay = Duration::from_millis(args.auth_fail_delay_ms);
    config.write_timeout = Duration::from_millis(args.write_timeout_ms);
    config.restart_downtime = Duration::from_millis(args.restart_downtime_ms);
    config.fixed_challenge = args.challenge.clone();
    config.boot = if args.manual_boot {
        BootMode::Manual
    } else if args.boot_delay_ms > 0 {
        BootMode::After(Duration::from_millis(args.boot_delay_ms))
    } else {
        BootMode::Immediate
    };
    Ok(config)
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(args.log_level)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match config_from(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fake-asterisk: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fake-asterisk: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args, config))
}

async fn run(args: Args, config: FakeConfig) -> ExitCode {
    let asterisk = match FakeAsterisk::start(config).await {
        Ok(a) => Arc::new(a),
        Err(e) => {
            error!("{e}");
            eprintln!("fake-asterisk: {e}");
            return ExitCode::FAILURE;
        }
    };
    let fmt_opt = |a: Option<SocketAddr>| a.map_or_else(|| "off".to_owned(), |a| a.to_string());
    println!(
        "ami={} sip={} http={}",
        asterisk.ami_addr(),
        fmt_opt(asterisk.sip_addr()),
        fmt_opt(asterisk.http_addr())
    );
    let (quit_tx, mut quit_rx) = watch::channel(false);
    if let Some(path) = args.control.clone() {
        let asterisk = Arc::clone(&asterisk);
        let quit = quit_tx.clone();
        tokio::spawn(async move {
            if let Err(e) = control::serve_unix(asterisk, &path, quit).await {
                error!(path = %path.display(), "control socket failed: {e}");
            }
        });
    }
    if args.stdin {
        let asterisk = Arc::clone(&asterisk);
        let quit = quit_tx.clone();
        tokio::spawn(async move {
            if control::serve_lines(&asterisk, tokio::io::stdin(), tokio::io::stdout()).await {
                quit.send_replace(true);
            }
        });
    }
    tokio::select! {
        _ = quit_rx.wait_for(|q| *q) => info!("quit requested on the control channel"),
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                error!("cannot wait for Ctrl-C: {e}");
            }
            info!("interrupted");
        }
    }
    asterisk.stop().await;
    if let Some(path) = &args.control {
        let _ = std::fs::remove_file(path);
    }
    ExitCode::SUCCESS
}
