//! Captures AMI and SIP exchanges with a real Asterisk 22 (configured with the shipped files by the runner) into `tests/fixtures/asterisk-22/`.
//!
//! `sudo cargo run -p astha-tests --bin asterisk-capture -- tests/fixtures/asterisk-22` writes
//! the fixtures 24 and up (see that directory's README): the call probe with its marker, its
//! quick variant and a broken call path, and what a shutting-down Asterisk answers. Needs root
//! (the instance runs in a network namespace) and an Asterisk (`scripts/asterisk.sh`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use astha_tests::asterisk::recorded_session::owned;
use astha_tests::asterisk::{Install, Instance, InstanceConfig, RecordedSession, AMI_USER};
use astha_tests::harness::client::spawn_in_netns;
use astha_tests::harness::netns::LAN_A;
use astha_tests::harness::{poll, HarnessError, Host, Topology};
use astha_tests::sip::exchange_options;

const SECRET: &str = "capture-secret";

fn main() -> ExitCode {
    let Some(out) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: asterisk-capture OUT_DIR   (e.g. tests/fixtures/asterisk-22)");
        return ExitCode::from(2);
    };
    match capture(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asterisk-capture: {e}");
            ExitCode::FAILURE
        }
    }
}

fn capture(out: &Path) -> Result<(), HarnessError> {
    astha_tests::harness::require_root()?;
    let install = Install::locate().map_err(|e| HarnessError::Protocol {
        what: "asterisk".into(),
        detail: e.to_string(),
    })?;
    let topo = Topology::create()?;
    let dir = std::env::temp_dir().join(format!("asterisk-capture-{}", std::process::id()));
    let config = InstanceConfig::server_a(SECRET, Ipv4Addr::UNSPECIFIED);
    let asterisk = Instance::create(
        "capture",
        &install,
        &config,
        &dir,
        Some(&topo.name(Host::A)),
    )?;
    asterisk.start()?;
    let ns = topo.path(Host::A);
    let ami = SocketAddr::from((LAN_A, 5038));
    let ami_dir = out.join("ami");
    let sip_dir = out.join("sip");

    let probe = |name: &str, variables: &[&str]| -> Result<(), HarnessError> {
        let mut s = RecordedSession::connect(&ns, ami)?;
        s.login(SECRET, None)?;
        let mut originate = vec![
            ("Action", "Originate".to_owned()),
            ("ActionID", "probe-1".to_owned()),
            ("Channel", "Local/probe@ha-probe".to_owned()),
            ("Application", "Wait".to_owned()),
            ("Data", "6".to_owned()),
            ("Async", "true".to_owned()),
            ("Timeout", "5000".to_owned()),
            ("CallerID", "astha probe <probe>".to_owned()),
        ];
        for v in variables {
            originate.push(("Variable", (*v).to_owned()));
        }
        s.send(&originate)?;
        // Both halves of the Local channel hung up: the call is over.
        s.read_until(|text| text.matches("Event: Hangup\r\n").count() >= 2)?;
        s.logoff()?;
        s.save(&ami_dir, name)
    };
    probe("24-originate-probe-marker", &["HA_PROBE_ID=fixture-24"])?;
    probe(
        "25-originate-probe-quick",
        &["HA_PROBE_ID=fixture-25", "HA_PROBE_QUICK=yes"],
    )?;
    asterisk.cli("module unload app_playback.so")?;
    probe(
        "26-originate-probe-playback-unloaded",
        &["HA_PROBE_ID=fixture-26"],
    )?;
    asterisk.cli("module load app_playback.so")?;

    // A shutdown that waits for a call: Asterisk refuses every action meanwhile.
    asterisk.cli("channel originate Local/echo@ha-probe application Wait 60")?;
    let mut refused = RecordedSession::connect(&ns, ami)?;
    refused.login(SECRET, Some("off"))?;
    refused.send(&[("Action", "Ping"), ("ActionID", "ping-1")].map(owned))?;
    refused.read_until(|t| t.contains("Ping: Pong"))?;
    let mut console = std::process::Command::new(&install.binary)
        .arg("-C")
        .arg(asterisk.dir().asterisk_conf())
        .args(["-rx", "core stop gracefully"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|source| HarnessError::Spawn {
            program: "asterisk -rx".into(),
            source,
        })?;
    // Wait for the refusals with a connection that is not recorded.
    poll(
        "Asterisk to refuse logins",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            let mut probe = RecordedSession::connect(&ns, ami).ok()?;
            probe
                .send(
                    &[
                        ("Action", "Login"),
                        ("ActionID", "x"),
                        ("Username", AMI_USER),
                        ("Secret", SECRET),
                    ]
                    .map(owned),
                )
                .ok()?;
            probe.read_until(|t| t.contains("Message: ")).ok()?;
            probe
                .text()
                .contains("Asterisk is shutting down")
                .then_some(())
        },
    )?;
    refused.send(&[("Action", "Ping"), ("ActionID", "ping-2")].map(owned))?;
    refused.read_until(|t| t.contains("ActionID: ping-2"))?;
    let mut login = RecordedSession::connect(&ns, ami)?;
    login.send(
        &[
            ("Action", "Login"),
            ("ActionID", "login-1"),
            ("Username", AMI_USER),
            ("Secret", SECRET),
            ("Events", "off"),
        ]
        .map(owned),
    )?;
    login.read_until(|t| t.contains("ActionID: login-1"))?;
    let answer = options_answer(&ns)?;
    asterisk.cli("core abort shutdown")?;
    let _ = console.wait();
    refused.send(&[("Action", "Ping"), ("ActionID", "ping-3")].map(owned))?;
    refused.read_until(|t| t.contains("ActionID: ping-3"))?;
    refused.logoff()?;
    refused.save(&ami_dir, "27-action-refused-shutting-down")?;
    login.login(SECRET, Some("off"))?;
    login.logoff()?;
    login.save(&ami_dir, "28-login-refused-shutting-down")?;
    write(
        &sip_dir.join("04-options-shutting-down-503.request.txt"),
        answer.0.as_bytes(),
    )?;
    write(
        &sip_dir.join("04-options-shutting-down-503.response.txt"),
        &answer.1,
    )?;
    asterisk.cli("channel request hangup all")?;
    asterisk.stop()?;
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("asterisk-capture: fixtures written to {}", out.display());
    Ok(())
}

/// One OPTIONS from server A's own address to its Asterisk: (request, answer bytes).
fn options_answer(ns: &Path) -> Result<(String, Vec<u8>), HarnessError> {
    let (tx, rx) = std::sync::mpsc::channel();
    spawn_in_netns(ns, move || {
        let to = SocketAddr::from((LAN_A, 5060));
        let _ = tx.send(exchange_options(
            "capture",
            LAN_A.into(),
            to,
            Duration::from_secs(3),
        ));
    })?;
    let exchange = rx
        .recv()
        .map_err(|_| HarnessError::Protocol {
            what: "OPTIONS".into(),
            detail: "the netns thread ended".into(),
        })?
        .map_err(|source| HarnessError::Io {
            what: "OPTIONS to the shutting-down Asterisk".into(),
            source,
        })?;
    Ok((exchange.request, exchange.answer))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), HarnessError> {
    std::fs::write(path, bytes).map_err(|source| HarnessError::Io {
        what: format!("write {}", path.display()),
        source,
    })
}
