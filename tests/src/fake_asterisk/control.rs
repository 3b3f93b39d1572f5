//! The control channel: a line protocol (Unix socket or stdin) to switch faults and drive the
//! lifecycle of a running `fake-asterisk` from a test script.
//!
//! One command per line; every command gets exactly one reply line, `ok ...` or `error: ...`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::watch;
use tracing::{info, warn};

use super::{FakeAsterisk, Fault};

/// The command reference (also printed by `help` and `fake-asterisk --help`).
pub const HELP: &str = "\
control commands (one per line; each is answered by one line `ok ...` or `error: ...`):
  fault crash            process dies: connections closed, nothing listens (AMI, HTTP, SIP)
  fault hang             everything stuck: connections accepted, nothing answered
  fault deadlock         core deadlock: Ping/Login/Logoff answered, CoreStatus/Command/Originate/... never
  fault deadlock-strict  same, but a session that sent such an action answers nothing more (real AMI threads)
  fault slow MS          every AMI/SIP/HTTP answer delayed by MS milliseconds
  fault originate-fail   call path broken: every Originate fails (OriginateResponse Failure, fixture 11)
  fault sip-down         SIP OPTIONS silently dropped; AMI and HTTP fine
  fault refuse           new TCP connections refused; established ones keep working
  fault shutting-down    a graceful shutdown pending: every action (Login too) answered
                         'Asterisk is shutting down', SIP OPTIONS 503; clear = core abort shutdown
  clear                  every fault off (after a crash: a fresh start and boot)
  restart MS             core restart now: Shutdown event, down for MS ms, boot again, faults cleared
                         (a hung instance is killed instead: connections drop without Shutdown)
  stop                   core stop now: Shutdown event, everything closed, stays down
  boot                   finish a manual boot (broadcast FullyBooted)
  alarm SPAN on|off      DAHDI red alarm on a configured span (Alarm/SpanAlarm, AlarmClear/SpanAlarmClear)
  userevent NAME [K=V]...  UserEvent as the [ha-admin] dialplan emits it, e.g. userevent HAFailover Reason=manual
  status                 one line: state, booted, faults, sessions, calls, spans in alarm
  help                   this text, then a line `ok`
  quit                   stop the emulator and exit";

/// What a command asks of the caller besides its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send this reply line and go on.
    Reply(String),
    /// Send this reply line, then stop the whole emulator.
    Quit(String),
}

/// A parsed control command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `fault ...`.
    Fault(Fault),
    /// `clear`.
    Clear,
    /// `restart MS`.
    Restart(Duration),
    /// `stop`.
    Stop,
    /// `boot`.
    Boot,
    /// `alarm SPAN on|off`.
    Alarm(u32, bool),
    /// `userevent NAME K=V ...`.
    UserEvent(String, Vec<(String, String)>),
    /// `status`.
    Status,
    /// `help`.
    Help,
    /// `quit`.
    Quit,
}

fn parse_ms(word: Option<&str>, what: &str) -> Result<Duration, String> {
    let word = word.ok_or_else(|| format!("{what} needs a number of milliseconds"))?;
    word.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("{what}: {word:?} is not a number of milliseconds"))
}

/// Parses one line.
pub fn parse(line: &str) -> Result<Command, String> {
    let mut words = line.split_whitespace();
    let Some(verb) = words.next() else {
        return Err("empty command (try `help`)".to_owned());
    };
    let command = match verb.to_ascii_lowercase().as_str() {
        "fault" => {
            let kind = words.next().unwrap_or("");
            Command::Fault(match kind {
                "crash" => Fault::Crash,
                "hang" => Fault::Hang,
                "deadlock" => Fault::CoreDeadlock,
                "deadlock-strict" => Fault::CoreDeadlockStrict,
                "slow" => Fault::Slow(parse_ms(words.next(), "fault slow")?),
                "originate-fail" => Fault::OriginateFail,
                "sip-down" => Fault::SipDown,
                "refuse" => Fault::Refuse,
                "shutting-down" => Fault::ShuttingDown,
                other => {
                    return Err(format!(
                        "unknown fault {other:?}: crash, hang, deadlock, deadlock-strict, slow MS, originate-fail, sip-down, refuse, shutting-down"
                    ))
                }
            })
        }
        "clear" => Command::Clear,
        "restart" => Command::Restart(parse_ms(words.next(), "restart")?),
        "stop" => Command::Stop,
        "boot" => Command::Boot,
        "alarm" => {
            let span = words
                .next()
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or("alarm needs a span number: alarm SPAN on|off")?;
            let on = match words.next() {
                Some("on") => true,
                Some("off") => false,
                _ => return Err("alarm needs on or off: alarm SPAN on|off".to_owned()),
            };
            Command::Alarm(span, on)
        }
        "userevent" => {
            let name = words
                .next()
                .ok_or("userevent needs a name: userevent NAME [Key=Value ...]")?;
            let mut headers = Vec::new();
            for pair in words.by_ref() {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("userevent: {pair:?} is not Key=Value"))?;
                headers.push((k.to_owned(), v.to_owned()));
            }
            Command::UserEvent(name.to_owned(), headers)
        }
        "status" => Command::Status,
        "help" => Command::Help,
        "quit" | "exit" => Command::Quit,
        other => return Err(format!("unknown command {other:?} (try `help`)")),
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected {extra:?} after the command"));
    }
    Ok(command)
}

/// Runs one command line against the emulator.
pub async fn execute(asterisk: &FakeAsterisk, line: &str) -> Outcome {
    let command = match parse(line) {
        Ok(c) => c,
        Err(e) => return Outcome::Reply(format!("error: {e}")),
    };
    info!(command = line.trim(), "control command");
    let reply = match command {
        Command::Fault(fault) => {
            asterisk.set_fault(fault).await;
            format!("ok faults={}", asterisk.status().faults.describe())
        }
        Command::Clear => {
            asterisk.clear_faults().await;
            "ok faults=none".to_owned()
        }
        Command::Restart(down) => {
            asterisk.restart(down).await;
            "ok restarted".to_owned()
        }
        Command::Stop => {
            asterisk.stop().await;
            "ok stopped".to_owned()
        }
        Command::Boot => {
            asterisk.finish_boot();
            "ok booted".to_owned()
        }
        Command::Alarm(span, on) => match asterisk.span_alarm(span, on) {
            Ok(()) => format!("ok span {span} alarm {}", if on { "on" } else { "off" }),
            Err(e) => format!("error: {e}"),
        },
        Command::UserEvent(name, headers) => {
            let refs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            asterisk.inject_user_event(&name, &refs);
            format!("ok userevent {name}")
        }
        Command::Status => format!("ok {}", asterisk.status().line()),
        Command::Help => format!("{HELP}\nok"),
        Command::Quit => return Outcome::Quit("ok bye".to_owned()),
    };
    Outcome::Reply(reply)
}

/// Serves the line protocol on one byte stream until EOF or `quit`; returns `true` on `quit`.
pub async fn serve_lines<R, W>(asterisk: &FakeAsterisk, reader: R, mut writer: W) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut lines = BufReader::new(reader).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => return false,
            Err(e) => {
                warn!("control channel read failed: {e}");
                return false;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let (reply, quit) = match execute(asterisk, &line).await {
            Outcome::Reply(r) => (r, false),
            Outcome::Quit(r) => (r, true),
        };
        if writer
            .write_all(format!("{reply}\n").as_bytes())
            .await
            .is_err()
            || writer.flush().await.is_err()
        {
            return quit;
        }
        if quit {
            return true;
        }
    }
}

/// Serves the control protocol on a Unix socket at `path` (replacing a stale socket file);
/// sets `quit` when a client sends `quit`.
pub async fn serve_unix(
    asterisk: Arc<FakeAsterisk>,
    path: &Path,
    quit: watch::Sender<bool>,
) -> std::io::Result<()> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    info!(path = %path.display(), "control socket listening");
    loop {
        let (stream, _) = listener.accept().await?;
        let asterisk = Arc::clone(&asterisk);
        let quit = quit.clone();
        tokio::spawn(async move {
            let (reader, writer) = stream.into_split();
            if serve_lines(&asterisk, reader, writer).await {
                quit.send_replace(true);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_command() {
        assert_eq!(parse("fault crash"), Ok(Command::Fault(Fault::Crash)));
        assert_eq!(
            parse("fault slow 300"),
            Ok(Command::Fault(Fault::Slow(Duration::from_millis(300))))
        );
        assert_eq!(
            parse("fault deadlock"),
            Ok(Command::Fault(Fault::CoreDeadlock))
        );
        assert_eq!(
            parse("fault originate-fail"),
            Ok(Command::Fault(Fault::OriginateFail))
        );
        assert_eq!(parse("fault sip-down"), Ok(Command::Fault(Fault::SipDown)));
        assert_eq!(parse("fault refuse"), Ok(Command::Fault(Fault::Refuse)));
        assert_eq!(parse("fault hang"), Ok(Command::Fault(Fault::Hang)));
        assert_eq!(parse("clear"), Ok(Command::Clear));
        assert_eq!(
            parse("restart 2000"),
            Ok(Command::Restart(Duration::from_millis(2000)))
        );
        assert_eq!(parse("alarm 1 on"), Ok(Command::Alarm(1, true)));
        assert_eq!(parse("alarm 2 off"), Ok(Command::Alarm(2, false)));
        assert_eq!(
            parse("userevent HAFailover Reason=manual"),
            Ok(Command::UserEvent(
                "HAFailover".to_owned(),
                vec![("Reason".to_owned(), "manual".to_owned())]
            ))
        );
        assert_eq!(parse("status"), Ok(Command::Status));
        assert_eq!(parse("quit"), Ok(Command::Quit));
        assert!(parse("fault slow").is_err());
        assert!(parse("fault melt").is_err());
        assert!(parse("alarm x on").is_err());
        assert!(parse("restart soon").is_err());
        assert!(parse("status now").is_err());
        assert!(parse("").is_err());
    }
}
