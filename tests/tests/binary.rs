//! The `fake-asterisk` binary: `--help` documents everything, the bound addresses are printed,
//! and the control channel (Unix socket) drives faults and the lifecycle.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::{eventually, get, RawAmi, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as TokioBufReader};
use tokio::net::UnixStream;

const BIN: &str = env!("CARGO_BIN_EXE_fake-asterisk");

/// Kills the child if the test fails before it exits by itself.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn help_documents_addresses_credentials_dialplan_and_control_commands() {
    let out = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--ami",
        "--sip",
        "--http",
        "--user",
        "--exten",
        "--control",
        "--stdin",
        "hasidecar / hasecret",
        "readonly / ro",
        "probe@ha-probe",
        "*999@ha-admin",
        "fault crash",
        "fault hang",
        "fault deadlock",
        "fault deadlock-strict",
        "fault slow MS",
        "fault originate-fail",
        "fault sip-down",
        "fault refuse",
        "clear",
        "restart MS",
        "alarm SPAN on|off",
        "userevent NAME",
        "status",
        "quit",
    ] {
        assert!(
            help.contains(needle),
            "--help does not mention {needle:?}:\n{help}"
        );
    }
}

#[test]
fn bad_arguments_fail_with_a_clear_message() {
    let out = Command::new(BIN)
        .args(["--exten", "ctx,100,dance"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("behaviour must be"), "{err}");
}

async fn control(path: &PathBuf, line: &str) -> String {
    let stream = UnixStream::connect(path)
        .await
        .expect("connect control socket");
    let (reader, mut writer) = stream.into_split();
    writer
        .write_all(format!("{line}\n").as_bytes())
        .await
        .expect("send command");
    let mut reply = String::new();
    TokioBufReader::new(reader)
        .read_line(&mut reply)
        .await
        .expect("read reply");
    reply.trim_end().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_socket_drives_faults_and_quit() {
    let socket_path =
        std::env::temp_dir().join(format!("fake-asterisk-{}.sock", std::process::id()));
    let mut child = ChildGuard(
        Command::new(BIN)
            .args([
                "--ami",
                "127.0.0.1:0",
                "--sip",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--system-name",
                "ha-b",
                "--playback-ms",
                "20",
                "--control",
            ])
            .arg(&socket_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn fake-asterisk"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("join")
    .expect("address line");
    let ami: SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ami="))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no ami= in {line:?}"));
    let path = socket_path.clone();
    eventually(WAIT, "control socket", || {
        let path = path.clone();
        async move { UnixStream::connect(&path).await.is_ok() }
    })
    .await;

    assert!(control(&socket_path, "status")
        .await
        .starts_with("ok state=running booted=yes"));
    let mut session = RawAmi::login(ami, "hasidecar", "hasecret", Some("on")).await;
    session
        .wait_for(WAIT, "SuccessfulAuth", |m| {
            get(m, "Event") == Some("SuccessfulAuth")
        })
        .await;

    assert_eq!(
        control(&socket_path, "userevent HAFailover Reason=manual").await,
        "ok userevent HAFailover"
    );
    let ev = session
        .wait_for(WAIT, "UserEvent", |m| get(m, "Event") == Some("UserEvent"))
        .await;
    assert_eq!(get(&ev, "SystemName"), Some("ha-b"));
    assert_eq!(get(&ev, "Reason"), Some("manual"));

    assert_eq!(
        control(&socket_path, "fault refuse").await,
        "ok faults=refuse"
    );
    let err = tokio::net::TcpStream::connect(ami)
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(control(&socket_path, "fault slow 50")
        .await
        .contains("slow=50ms"));
    assert!(control(&socket_path, "status")
        .await
        .contains("faults=slow=50ms,refuse"));
    assert_eq!(control(&socket_path, "clear").await, "ok faults=none");
    RawAmi::login(ami, "hasidecar", "hasecret", Some("off")).await;
    assert!(control(&socket_path, "fault melt")
        .await
        .starts_with("error: unknown fault"));
    assert!(control(&socket_path, "alarm 1 on")
        .await
        .starts_with("error: span 1 is not configured"));

    assert_eq!(control(&socket_path, "quit").await, "ok bye");
    let shutdown = session
        .wait_for(WAIT, "Shutdown", |m| get(m, "Event") == Some("Shutdown"))
        .await;
    assert_eq!(get(&shutdown, "Restart"), Some("False"));
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fake-asterisk did not exit after quit"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(status.success());
    assert!(!socket_path.exists(), "control socket left behind");
}
