//! The log format of the `astha` process: colours on a terminal only (a real pty), none in a file, and syslog priorities when stderr is the journal stream `JOURNAL_STREAM` names.
//!
//! `astha run` with a configuration that does not exist logs one error line and exits: enough
//! to see the format.

mod common;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Scratch;
use serialport::{SerialPort, TTYPort};

const MISSING: &str = "/nonexistent/astha-log-format.toml";

/// Runs `astha run` on a missing configuration with stderr going to `stderr`, plus `env`.
fn run_with_stderr(stderr: Stdio, env: &[(&str, String)]) -> std::process::ExitStatus {
    let mut command = Command::new(env!("CARGO_BIN_EXE_astha"));
    command
        .args(["run", "--config", MISSING])
        .env_remove("JOURNAL_STREAM")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(stderr);
    for (k, v) in env {
        command.env(k, v);
    }
    command.status().expect("run astha")
}

/// stderr into a file; returns what was written.
fn into_file(
    scratch: &Scratch,
    name: &str,
    journal_stream: Option<&dyn Fn(&std::fs::File) -> String>,
) -> String {
    let path = scratch.0.join(name);
    let file = std::fs::File::create(&path).expect("create log file");
    let env: Vec<(&str, String)> = journal_stream
        .map(|f| vec![("JOURNAL_STREAM", f(&file))])
        .unwrap_or_default();
    let status = run_with_stderr(Stdio::from(file), &env);
    assert_eq!(
        status.code(),
        Some(3),
        "a missing configuration is a usage error"
    );
    std::fs::read_to_string(&path).expect("read log file")
}

/// `DEV:INODE` of an open file, as systemd writes JOURNAL_STREAM.
fn identity(file: &std::fs::File) -> String {
    let meta = file.metadata().expect("fstat");
    format!("{}:{}", meta.dev(), meta.ino())
}

#[test]
fn a_file_gets_plain_lines() {
    let scratch = Scratch::new("log-plain");
    let text = into_file(&scratch, "plain.log", None);
    assert!(text.contains("ERROR"), "{text:?}");
    assert!(text.contains("cannot read configuration"), "{text:?}");
    assert!(
        !text.contains('\x1b'),
        "no colour codes in a file: {text:?}"
    );
    assert!(
        !text.starts_with('<'),
        "no priority prefix outside the journal: {text:?}"
    );
}

#[test]
fn the_journal_stream_gets_priorities_without_colours_or_time() {
    let scratch = Scratch::new("log-journal");
    let text = into_file(&scratch, "journal.log", Some(&identity));
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with("<3>"), "an error is priority 3: {text:?}");
    assert!(first.contains("cannot read configuration"), "{text:?}");
    assert!(!text.contains('\x1b'), "{text:?}");
    // journald stamps the time itself: the line starts with the level right after the prefix.
    assert!(
        first
            .trim_start_matches("<3>")
            .trim_start()
            .starts_with("ERROR"),
        "{first:?}"
    );

    // JOURNAL_STREAM inherited from a parent whose stderr went elsewhere: not the journal.
    let other = |_: &std::fs::File| "1:1".to_string();
    let text = into_file(&scratch, "inherited.log", Some(&other));
    assert!(!text.starts_with('<'), "{text:?}");
}

/// What the terminal shows, until `needle` appears (or a generous deadline).
fn read_until(master: &mut TTYPort, needle: &str) -> String {
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !String::from_utf8_lossy(&text).contains(needle) {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[test]
fn a_terminal_gets_colours_unless_no_color() {
    // The slave end stays open for the whole test, so what the child wrote stays readable.
    let (mut master, slave) = TTYPort::pair().expect("a pseudo-terminal pair");
    master
        .set_timeout(Duration::from_millis(200))
        .expect("timeout");
    let slave_path = slave.name().expect("the pty's path");
    let terminal = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave_path)
            .expect("open the pty")
    };
    let status = run_with_stderr(Stdio::from(terminal()), &[]);
    assert_eq!(status.code(), Some(3));
    let text = read_until(&mut master, "configuration");
    assert!(text.contains("cannot read configuration"), "{text:?}");
    assert!(text.contains("\x1b["), "colours on a terminal: {text:?}");

    let status = run_with_stderr(Stdio::from(terminal()), &[("NO_COLOR", "1".into())]);
    assert_eq!(status.code(), Some(3));
    let plain = read_until(&mut master, "configuration");
    assert!(plain.contains("cannot read configuration"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "NO_COLOR: {plain:?}");
    drop(slave);
}
