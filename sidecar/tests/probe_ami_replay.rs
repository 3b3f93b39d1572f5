//! AMI probes against a small AMI server that answers with the captured Asterisk 22 transcripts (real event order).

use std::sync::Arc;
use std::time::Duration;

use astha::config::{
    AmiEndpoint, AsteriskCgroup, AsteriskTarget, HostPort, ProbesConfig, Secret, SecretSource,
};
use astha::probe::oneshot::run_once;
use astha::probe::{ProbeError, ProbeKind, TargetProbes};
use astha::side::Side;
use astha::verdict::Verdict;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/asterisk-22/ami"
);

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The captured server bytes from the message that starts with `from` up to (not including)
/// the message that starts with `until`, with the captured ActionID replaced by `action_id`.
fn excerpt(file: &str, from: &str, until: &str, captured_id: &str, action_id: &str) -> String {
    let text = fixture(file);
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("{file}: no {from:?}"));
    let end = text[start..]
        .find(until)
        .map(|i| start + i)
        .unwrap_or(text.len());
    text[start..end].replace(captured_id, action_id)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    Healthy,
    /// CoreStatus and Originate never answered (core deadlock), Ping still is.
    CoreDeadlock,
    /// Originate is queued then fails (fixture 11).
    OriginateFails,
    /// The call is answered and hung up without the dialplan's marker (fixture 26:
    /// app_playback not loaded).
    NoMarker,
}

fn header<'a>(frame: &'a str, name: &str) -> Option<&'a str> {
    frame
        .split("\r\n")
        .filter_map(|l| l.split_once(": "))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The `HA_PROBE_ID` the Originate sets.
fn probe_id(frame: &str) -> Option<&str> {
    frame
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Variable: HA_PROBE_ID="))
}

async fn serve(mut stream: TcpStream, behaviour: Behaviour) {
    let _ = stream.write_all(b"Asterisk Call Manager/11.0.0\r\n").await;
    let mut buf = String::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.find("\r\n\r\n") {
            let frame: String = buf.drain(..end + 4).collect();
            let id = header(&frame, "ActionID").unwrap_or("").to_string();
            let action = header(&frame, "Action").unwrap_or("").to_ascii_lowercase();
            let reply = match action.as_str() {
                "login" => {
                    let mut r = format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n");
                    if header(&frame, "Events").is_none_or(|e| !e.eq_ignore_ascii_case("off")) {
                        r.push_str("Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 100\r\nLastReload: 100\r\nStatus: Fully Booted\r\n\r\n");
                    }
                    r
                }
                "ping" => format!("Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 1795666364.000000\r\n\r\n"),
                "corestatus" if behaviour == Behaviour::CoreDeadlock => String::new(),
                "corestatus" => excerpt("05-corestatus.server.txt", "Response: Success\r\nActionID: ha-corestatus-1", "Response: Goodbye", "ha-corestatus-1", &id),
                "originate" if behaviour == Behaviour::CoreDeadlock => String::new(),
                "originate" if behaviour == Behaviour::OriginateFails => excerpt(
                    "11-originate-nonexistent-async.server.txt",
                    "Response: Success\r\nActionID: ha-orig-bad-async",
                    "Response: Goodbye",
                    "ha-orig-bad-async",
                    &id,
                ),
                "originate" if behaviour == Behaviour::NoMarker => excerpt(
                    "26-originate-probe-playback-unloaded.server.txt",
                    "Response: Success\r\nActionID: probe-1",
                    "Response: Goodbye",
                    "probe-1",
                    &id,
                ),
                // The probe's own token goes into the captured marker (fixture 24).
                "originate" => excerpt(
                    "24-originate-probe-marker.server.txt",
                    "Response: Success\r\nActionID: probe-1",
                    "Response: Goodbye",
                    "probe-1",
                    &id,
                )
                .replace("fixture-24", probe_id(&frame).unwrap_or("none")),
                "logoff" => {
                    let _ = stream.write_all(format!("Response: Goodbye\r\nActionID: {id}\r\n\r\n").as_bytes()).await;
                    return;
                }
                other => format!(
                    "Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command: {other}. Use Action: ListCommands to show available commands.\r\n\r\n"
                ),
            };
            if stream.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
        }
    }
}

async fn replay_server(behaviour: Behaviour) -> HostPort {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, behaviour));
        }
    });
    HostPort {
        host: "127.0.0.1".into(),
        port,
    }
}

fn target(address: HostPort) -> AsteriskTarget {
    AsteriskTarget {
        side: Side::A,
        ami: AmiEndpoint {
            address,
            username: "hasidecar".into(),
            secret: Secret::new("hasecret"),
            secret_source: SecretSource::Env("TEST".into()),
        },
        sip: None,
        ari: None,
        cgroup: AsteriskCgroup::Off,
    }
}

async fn one_shot(behaviour: Behaviour) -> astha::probe::oneshot::OneShotReport {
    let address = replay_server(behaviour).await;
    let probes = ProbesConfig::default();
    let backend = Arc::new(TargetProbes::new("replay", &target(address), &probes));
    backend
        .wait_ready(Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("login: {e}"));
    let report = run_once(backend.as_ref(), &probes, backend.enabled()).await;
    backend.ami().client().close().await;
    report
}

fn line(
    report: &astha::probe::oneshot::OneShotReport,
    kind: ProbeKind,
) -> &astha::probe::oneshot::ProbeLine {
    report
        .probes
        .iter()
        .find(|p| p.kind == kind.as_str())
        .unwrap_or_else(|| panic!("no {kind} in {report:?}"))
}

#[tokio::test]
async fn healthy_replay_passes_every_ami_probe_including_the_call() {
    let report = one_shot(Behaviour::Healthy).await;
    print!("{}", report.table());
    assert_eq!(report.verdict_value, Verdict::Healthy, "{}", report.table());
    for kind in [
        ProbeKind::Ping,
        ProbeKind::Core,
        ProbeKind::Call,
        ProbeKind::Spans,
    ] {
        assert!(line(&report, kind).ok, "{kind}: {}", report.table());
    }
}

#[tokio::test]
async fn failed_originate_is_a_failed_call_probe() {
    let report = one_shot(Behaviour::OriginateFails).await;
    assert_eq!(report.verdict_value, Verdict::Failed, "{}", report.table());
    let call = line(&report, ProbeKind::Call);
    assert!(!call.ok);
    assert!(
        call.error
            .as_deref()
            .is_some_and(|e| e.contains("Failure") && e.contains("reason 0")),
        "{call:?}"
    );
    assert!(line(&report, ProbeKind::Ping).ok && line(&report, ProbeKind::Core).ok);
}

#[tokio::test]
async fn a_call_that_ends_without_the_marker_is_a_failed_call_probe() {
    let report = one_shot(Behaviour::NoMarker).await;
    assert_eq!(report.verdict_value, Verdict::Failed, "{}", report.table());
    let call = line(&report, ProbeKind::Call);
    assert!(
        !call.ok
            && call
                .error
                .as_deref()
                .is_some_and(|e| e.contains("HAProbe marker")),
        "{call:?}"
    );
    assert!(line(&report, ProbeKind::Ping).ok && line(&report, ProbeKind::Core).ok);
}

#[tokio::test]
async fn core_deadlock_fails_core_and_call_while_ping_answers() {
    let report = one_shot(Behaviour::CoreDeadlock).await;
    assert_eq!(report.verdict_value, Verdict::Failed, "{}", report.table());
    assert!(line(&report, ProbeKind::Ping).ok);
    let core = line(&report, ProbeKind::Core);
    assert!(
        !core.ok && core.error.as_deref().is_some_and(|e| e.contains("within")),
        "{core:?}"
    );
    // The verdict is decided: the one-shot check does not wait for the test call too.
    let call = line(&report, ProbeKind::Call);
    assert!(
        !call.ok && call.error.as_deref() == Some(astha::probe::oneshot::NOT_RUN),
        "{call:?}"
    );
}

#[tokio::test]
async fn refused_connection_is_failed_with_the_reason() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        l.local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let probes = ProbesConfig::default();
    let backend = TargetProbes::new(
        "refused",
        &target(HostPort {
            host: "127.0.0.1".into(),
            port,
        }),
        &probes,
    );
    let ready = backend.wait_ready(Duration::from_millis(500)).await;
    assert!(
        matches!(ready, Err(ProbeError::NotConnected(_))),
        "{ready:?}"
    );
    let report = run_once(&backend, &probes, &[ProbeKind::Ping]).await;
    assert_eq!(report.verdict_value, Verdict::Failed);
    assert!(line(&report, ProbeKind::Ping).error.is_some());
}

#[test]
fn cli_probe_json_against_the_replay_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build();
    let runtime = runtime.unwrap_or_else(|e| panic!("{e}"));
    let address = runtime.block_on(replay_server(Behaviour::Healthy));
    let dir = std::env::temp_dir().join(format!("astha-probe-cli-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let secret = dir.join("secret");
    std::fs::write(&secret, "hasecret\n").unwrap_or_else(|e| panic!("{e}"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_astha"))
        .args([
            "probe",
            "--ami",
            &address.to_string(),
            "--username",
            "hasidecar",
            "--secret-file",
        ])
        .arg(&secret)
        .arg("--json")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(json["verdict"], "healthy");
    let kinds: Vec<&str> = json["probes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["ping", "core", "call", "spans"]);
    for p in json["probes"].as_array().into_iter().flatten() {
        assert_eq!(p["ok"], true, "{p}");
        assert!(p["latency_ms"].is_f64() && p["error"].is_null(), "{p}");
    }
}
