//! ARI ping probe against a tiny HTTP server that replays the captured Asterisk answers.

use std::time::Duration;

use astha::config::{HttpUrl, Secret};
use astha::probe::ari::AriPingProbe;
use astha::probe::ProbeError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/asterisk-22/ari"
);

/// The exact response bytes of a captured REST exchange.
fn captured_response(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let r = &v["response"];
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        r["status"],
        r["reason"].as_str().unwrap_or_default()
    );
    for h in r["headers"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{}: {}\r\n",
            h[0].as_str().unwrap_or_default(),
            h[1].as_str().unwrap_or_default()
        ));
    }
    out.push_str("\r\n");
    out.push_str(r["body_raw"].as_str().unwrap_or_default());
    out.into_bytes()
}

#[derive(Clone, Copy)]
enum ControlReply {
    /// 200 with the captured pong when the credentials match, else the captured 401.
    Checked,
    Fixed(&'static str),
    /// Dribble the answer one byte at a time.
    Slowly,
    Silent,
}

async fn server(reply: ControlReply) -> (HttpUrl, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&buf).to_string();
                let _ = tx.send(request.clone());
                let response = match reply {
                    ControlReply::Silent => {
                        let _ = stream.read(&mut chunk).await; // hold the connection open
                        return;
                    }
                    ControlReply::Fixed(name) => captured_response(name),
                    ControlReply::Checked | ControlReply::Slowly => {
                        // hasidecar:hasecret, as in the capture.
                        if request.contains("\r\nAuthorization: Basic aGFzaWRlY2FyOmhhc2VjcmV0\r\n")
                        {
                            captured_response("02-get-asterisk-ping.json")
                        } else {
                            captured_response("12-error-401-bad-password.json")
                        }
                    }
                };
                if matches!(reply, ControlReply::Slowly) {
                    for b in response {
                        let _ = stream.write_all(&[b]).await;
                        let _ = stream.flush().await;
                    }
                } else {
                    let _ = stream.write_all(&response).await;
                }
            });
        }
    });
    let url = HttpUrl::parse(&format!("http://{addr}")).unwrap_or_else(|e| panic!("{e}"));
    (url, rx)
}

async fn ping(url: HttpUrl, secret: &str) -> Result<(), ProbeError> {
    let probe = AriPingProbe::new(url, "hasidecar".into(), Secret::new(secret));
    tokio::time::timeout(Duration::from_secs(5), probe.run())
        .await
        .unwrap_or(Err(ProbeError::Timeout(Duration::from_secs(5))))
}

#[tokio::test]
async fn pong_is_alive_and_request_is_well_formed() {
    let (url, mut seen) = server(ControlReply::Checked).await;
    assert_eq!(ping(url.clone(), "hasecret").await, Ok(()));
    let request = seen.recv().await.unwrap_or_default();
    assert!(
        request.starts_with("GET /ari/asterisk/ping HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nHost: {}\r\n", url.address)),
        "{request}"
    );
}

#[tokio::test]
async fn wrong_password_is_a_401_failure_with_the_message() {
    let (url, _seen) = server(ControlReply::Checked).await;
    match ping(url, "wrong").await {
        Err(ProbeError::Status { code: 401, reason }) => {
            assert!(reason.contains("Authentication required"), "{reason}")
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn other_answers_are_failures() {
    let (url, _seen) = server(ControlReply::Fixed("16-error-404-unknown-resource.json")).await;
    assert!(matches!(
        ping(url, "hasecret").await,
        Err(ProbeError::Status { code: 404, .. })
    ));
    // A 200 that is not a pong (e.g. a proxy's page) is not alive either.
    let (url, _seen) = server(ControlReply::Fixed("03-get-channels-empty.json")).await;
    assert!(matches!(
        ping(url, "hasecret").await,
        Err(ProbeError::Malformed(_))
    ));
}

#[tokio::test]
async fn byte_by_byte_answer_is_reassembled() {
    let (url, _seen) = server(ControlReply::Slowly).await;
    assert_eq!(ping(url, "hasecret").await, Ok(()));
}

#[tokio::test]
async fn silent_server_is_left_to_the_deadline_and_closed_port_is_refused() {
    let (url, _seen) = server(ControlReply::Silent).await;
    let probe = AriPingProbe::new(url, "hasidecar".into(), Secret::new("hasecret"));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), probe.run())
            .await
            .is_err()
    );

    let port = {
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        l.local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let url = HttpUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        ping(url, "hasecret").await,
        Err(ProbeError::Connect(_))
    ));
}
