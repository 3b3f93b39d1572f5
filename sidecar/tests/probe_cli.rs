//! `astha probe` as a process against the emulator: configuration targets, table and JSON output, exit codes.

mod common;

use common::Scratch;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use astha_tests::fake_asterisk::{FakeAsterisk, Fault};

/// Runs the binary without blocking the runtime that serves the emulator.
async fn astha(args: Vec<String>) -> (i32, String, String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_astha"))
            .args(args)
            .output()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|e| panic!("spawn: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A config whose side B is the emulator and side A an address where nothing listens.
fn config_for(dir: &Scratch, asterisk: &FakeAsterisk) -> PathBuf {
    dir.write("ami.secret", "hasecret\n");
    let ami = asterisk.ami_addr();
    let sip = asterisk
        .sip_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let http = asterisk
        .http_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    dir.write(
        "astha.toml",
        &format!(
            r#"[node]
side = "a"
[asterisk.a.ami]
address = "127.0.0.1:1"
username = "hasidecar"
secret_file = "ami.secret"
[asterisk.b.ami]
address = "{ami}"
username = "hasidecar"
secret_file = "ami.secret"
[asterisk.b.sip]
address = "{sip}"
[asterisk.b.ari]
url = "http://{http}"
username = "hasidecar"
secret_file = "ami.secret"
"#
        ),
    )
}

fn s(v: &str) -> String {
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_target_from_config_is_healthy_with_every_probe() {
    let asterisk = common::emulator(common::fast_config()).await;
    let dir = Scratch::new("healthy");
    let config = config_for(&dir, &asterisk);
    let config = config.to_string_lossy().to_string();
    let (code, stdout, stderr) = astha(vec![
        s("probe"),
        s("--config"),
        config.clone(),
        s("--target"),
        s("peer"),
        s("--json"),
    ])
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(json["verdict"], "healthy");
    let kinds: Vec<&str> = json["probes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["ping", "core", "call", "sip", "ari", "spans"]);

    // The table form for people, same verdict.
    let (code, stdout, _) = astha(vec![
        s("probe"),
        s("--config"),
        config,
        s("--target"),
        s("peer"),
    ])
    .await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("call") && stdout.contains("verdict: healthy"),
        "{stdout}"
    );
    asterisk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_local_target_exits_2() {
    let asterisk = common::emulator(common::fast_config()).await;
    let dir = Scratch::new("unreachable");
    let config = config_for(&dir, &asterisk).to_string_lossy().to_string();
    let (code, stdout, stderr) = astha(vec![s("probe"), s("--config"), config, s("--json")]).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(json["verdict"], "failed");
    assert_eq!(json["probes"][0]["ok"], false);
    assert!(
        json["probes"][0]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{json}"
    );
    asterisk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_flags_and_exit_codes_follow_the_verdict() {
    let asterisk = common::emulator(common::fast_config()).await;
    let dir = Scratch::new("direct");
    let secret = dir
        .write("secret", "hasecret")
        .to_string_lossy()
        .to_string();
    let ami = asterisk.ami_addr().to_string();
    let http = format!(
        "http://{}",
        asterisk
            .http_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    let base = vec![
        s("probe"),
        s("--ami"),
        ami,
        s("--username"),
        s("hasidecar"),
        s("--secret-file"),
        secret,
        s("--ari"),
        http,
    ];

    let (code, stdout, stderr) = astha(base.clone()).await;
    assert_eq!(code, 0, "{stdout}{stderr}");

    // ARI is not critical: a failing ARI (here a wrong password) only degrades.
    let mut wrong_ari = base.clone();
    let wrong = dir.write("wrong", "nope").to_string_lossy().to_string();
    wrong_ari.extend([s("--ari-secret-file"), wrong, s("--json")]);
    let (code, stdout, stderr) = astha(wrong_ari).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("\"verdict\":\"degraded\"") && stdout.contains("401"),
        "{stdout}"
    );

    // A deadlocked core fails the core probe and the call: exit 2.
    asterisk.set_fault(Fault::CoreDeadlock).await;
    let (code, stdout, stderr) = astha([base, vec![s("--json")]].concat()).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let ok_of = |kind: &str| {
        json["probes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["kind"] == kind)
            .map(|p| p["ok"].clone())
    };
    assert_eq!(ok_of("ping"), Some(serde_json::Value::Bool(true)));
    assert_eq!(ok_of("core"), Some(serde_json::Value::Bool(false)));
    asterisk.clear_faults().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), asterisk.stop()).await;
}
