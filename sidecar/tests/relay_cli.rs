//! `astha relay` and `astha wait-booted` as processes: exit codes and output against the Numato relay simulator on a real pty and the fake Asterisk.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use astha_tests::fake_asterisk::{BootMode, FakeAsterisk, FakeConfig};
use astha_tests::relay_sim::{Behaviour, NumatoProtocol, PtyRelaySim};

/// A scratch directory removed on drop (also when an assertion fails).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("astha-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A node-a configuration whose local AMI is `ami` and relay (if any) is `relay`.
fn write_config(dir: &Path, ami: &str, relay: Option<&Path>) -> PathBuf {
    std::fs::write(dir.join("ami.secret"), "hasecret\n").expect("write secret");
    let mut text = format!(
        r#"[node]
side = "a"
name = "pbx-a"
peer_name = "pbx-b"
[asterisk.a.ami]
address = "{ami}"
username = "hasidecar"
secret_file = "ami.secret"
[asterisk.b.ami]
address = "127.0.0.2:5038"
username = "hasidecar"
secret_file = "ami.secret"
"#
    );
    if let Some(relay) = relay {
        text.push_str(&format!(
            "[actuate.relay]\ndriver = \"numato\"\npath = \"{}\"\ntimeout_ms = 300\n",
            relay.display()
        ));
    }
    let path = dir.join("astha.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn astha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_astha"))
        .args(args)
        .output()
        .expect("run astha")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn relay_select_status_list_and_kick() {
    let scratch = Scratch::new("relay-cli");
    let sim = PtyRelaySim::start(NumatoProtocol::default()).expect("pty");
    let cfg = write_config(&scratch.0, "127.0.0.1:5038", Some(sim.path()));
    let cfg = cfg.to_str().expect("utf-8 path");

    let out = astha(&["relay", "--config", cfg, "select", "peer"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Side b is the energised side by default: the coil of channel 0 is on.
    assert!(sim.state().coils[0], "coil not energised for side b");
    let out = astha(&["relay", "--config", cfg, "status", "--brief"]);
    assert_eq!((out.status.code(), stdout(&out).trim()), (Some(0), "b"));

    let out = astha(&["relay", "--config", cfg, "select", "local"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        !sim.state().coils[0],
        "coil still energised after selecting a"
    );
    let out = astha(&["relay", "--config", cfg, "status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["side"], "a");
    assert_eq!(json["read_back"], true);

    let out = astha(&["relay", "--config", cfg, "list"]);
    assert_eq!(stdout(&out), "a pbx-a local\nb pbx-b peer\n");
    let out = astha(&["relay", "--config", cfg, "kick"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn relay_exit_codes_for_missing_section_and_silent_device() {
    let scratch = Scratch::new("relay-cli-errors");
    let no_relay = write_config(&scratch.0, "127.0.0.1:5038", None);
    let out = astha(&[
        "relay",
        "--config",
        no_relay.to_str().expect("utf-8"),
        "status",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("no [actuate.relay]"),
        "{}",
        stdout(&out)
    );

    let sim = PtyRelaySim::start(NumatoProtocol::default()).expect("pty");
    sim.set_behaviour(Behaviour::Silent);
    let cfg = write_config(&scratch.0, "127.0.0.1:5038", Some(sim.path()));
    let out = astha(&[
        "relay",
        "--config",
        cfg.to_str().expect("utf-8"),
        "select",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));

    let out = astha(&["relay", "select", "c"]);
    assert_eq!(out.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_booted_returns_once_fully_booted_and_fails_when_never() {
    let scratch = Scratch::new("wait-booted");
    let mut config = FakeConfig::named("ha-a", "02:00:00:00:00:0a");
    config.ami_addr = "127.0.0.1:0".parse().expect("addr");
    config.sip_addr = None;
    config.http_addr = None;
    config.boot = BootMode::After(Duration::from_millis(300));
    let booting = FakeAsterisk::start(config.clone()).await.expect("start");
    config.boot = BootMode::Manual;
    let stuck = FakeAsterisk::start(config).await.expect("start");

    let cfg = write_config(&scratch.0, &booting.ami_addr().to_string(), None);
    let out = tokio::task::spawn_blocking(move || {
        astha(&[
            "wait-booted",
            "--config",
            cfg.to_str().expect("utf-8"),
            "--timeout-ms",
            "10000",
        ])
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("fully booted"), "{}", stdout(&out));

    let cfg = write_config(&scratch.0, &stuck.ami_addr().to_string(), None);
    let out = tokio::task::spawn_blocking(move || {
        astha(&[
            "wait-booted",
            "--config",
            cfg.to_str().expect("utf-8"),
            "--timeout-ms",
            "700",
        ])
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("no FullyBooted"), "{}", stdout(&out));
    booting.stop().await;
    stuck.stop().await;
}
