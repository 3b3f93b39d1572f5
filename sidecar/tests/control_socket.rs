//! The control socket end to end: permissions, request/reply, malformed input, no daemon.

use astha::control::{
    ControlClient, ControlClientError, ControlReply, ControlServer, IncomingRequest, RequestBody,
};
use std::os::unix::fs::PermissionsExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

fn socket_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("astha-ctl-{}-{name}.sock", std::process::id()))
}

/// A stand-in daemon loop: answers maintenance requests, refuses failovers.
fn spawn_daemon(server: ControlServer) {
    let (tx, mut rx) = mpsc::channel::<IncomingRequest>(8);
    tokio::spawn(server.serve(tx));
    tokio::spawn(async move {
        while let Some(incoming) = rx.recv().await {
            let reply = match incoming.request.body {
                RequestBody::Maintenance { on } => {
                    ControlReply::ok(format!("maintenance {}", if on { "on" } else { "off" }))
                }
                RequestBody::Failover { .. } => {
                    ControlReply::error("refused: the standby's Asterisk is failed")
                }
                _ => ControlReply::error("unsupported here"),
            };
            let _ = incoming.reply.send(reply);
        }
    });
}

#[tokio::test]
async fn socket_is_not_world_accessible_and_answers_requests() {
    let path = socket_path("perm");
    let server = ControlServer::bind(&path, None).expect("bind");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o660,
        "control socket mode must be 0660, got {mode:o}"
    );
    spawn_daemon(server);

    let client = ControlClient::new(&path);
    let reply = client
        .call(RequestBody::Maintenance { on: true })
        .await
        .expect("call");
    assert!(reply.ok);
    assert_eq!(reply.message.as_deref(), Some("maintenance on"));

    let reply = client
        .call(RequestBody::Failover {
            force: false,
            reason: None,
        })
        .await
        .expect("call");
    assert!(!reply.ok);
    assert!(reply.error.unwrap().contains("standby"));
}

#[tokio::test]
async fn malformed_request_gets_a_clear_error_line() {
    let path = socket_path("bad");
    spawn_daemon(ControlServer::bind(&path, None).expect("bind"));
    let mut raw = tokio::net::UnixStream::connect(&path).await.unwrap();
    raw.write_all(b"{\"v\":1,\"cmd\":\"self-destruct\"}\n")
        .await
        .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    let reply: ControlReply = serde_json::from_str(answer.trim()).expect("reply is JSON");
    assert!(!reply.ok);
    assert!(reply.error.unwrap().contains("invalid request"), "{answer}");
}

#[tokio::test]
async fn second_daemon_on_the_same_socket_is_refused() {
    let path = socket_path("twice");
    let first = ControlServer::bind(&path, None).expect("bind");
    spawn_daemon(first);
    let err = ControlServer::bind(&path, None).unwrap_err();
    assert!(err.to_string().contains("already listening"), "{err}");
}

#[tokio::test]
async fn missing_daemon_is_reported_plainly() {
    let path = socket_path("none");
    let err = ControlClient::new(&path)
        .call(RequestBody::Status)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ControlClientError::NotRunning { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not running"));
}
