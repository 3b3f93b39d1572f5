//! SIP OPTIONS and ARI/HTTP of the emulator against the captures in `tests/fixtures/asterisk-22/sip` and
//! `tests/fixtures/asterisk-22/ari`.
//!
//! SIP: the recorded request datagram is sent as is; the reply must have the recorded status
//! line and the recorded headers in the recorded order with the recorded values, except the
//! `rport=` of `Via` (the test's own source port).
//! ARI: status, reason, header names in order, and the body; volatile: `Date`, and the JSON
//! values `timestamp`, `startup_time`, `last_reload_time`.

mod support;

use std::time::Duration;

use astha_tests::fake_asterisk::{FakeAsterisk, FakeConfig, SipCapabilities};
use base64::prelude::{Engine as _, BASE64_STANDARD};
use serde_json::Value;
use support::fixture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

async fn start() -> FakeAsterisk {
    start_with(SipCapabilities::Full).await
}

async fn start_with(capabilities: SipCapabilities) -> FakeAsterisk {
    let mut config = FakeConfig::instance_a().fast(Duration::from_millis(20));
    config.sip_capabilities = capabilities;
    FakeAsterisk::start(config).await.expect("emulator starts")
}

fn sip_lines(text: &str) -> Vec<(String, String)> {
    let mut lines = text.split("\r\n");
    let mut out = vec![("status".to_owned(), lines.next().unwrap_or("").to_owned())];
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').unwrap_or((line, ""));
        let mut v = v.to_owned();
        if n == "Via" {
            // rport= is the client's source port.
            v = v
                .split(';')
                .map(|p| {
                    if p.starts_with("rport=") {
                        "rport=<port>".to_owned()
                    } else {
                        p.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(";");
        }
        out.push((n.to_owned(), v));
    }
    out
}

async fn sip_case(name: &str) {
    sip_case_with(name, &[], None, SipCapabilities::Full).await;
}

/// Like [`sip_case`], with `fault` on, `masked` header values not compared, and the module set
/// the capture was made with.
async fn sip_case_with(
    name: &str,
    masked: &[&str],
    fault: Option<astha_tests::fake_asterisk::Fault>,
    capabilities: SipCapabilities,
) {
    let asterisk = start_with(capabilities).await;
    if let Some(fault) = fault {
        asterisk.set_fault(fault).await;
    }
    let request = fixture(&format!("sip/{name}.request.txt"));
    let expected = String::from_utf8(fixture(&format!("sip/{name}.response.txt"))).expect("text");
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket
        .send_to(&request, asterisk.sip_addr().expect("sip enabled"))
        .await
        .expect("send");
    let mut buf = vec![0u8; 8192];
    let (n, _) = tokio::time::timeout(support::WAIT, socket.recv_from(&mut buf))
        .await
        .expect("SIP reply in time")
        .expect("recv");
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        reply.ends_with("\r\n\r\n"),
        "reply not terminated: {reply:?}"
    );
    let mask = |lines: Vec<(String, String)>| -> Vec<(String, String)> {
        lines
            .into_iter()
            .map(|(n, v)| {
                if masked.contains(&n.as_str()) {
                    (n, "<masked>".to_owned())
                } else {
                    (n, v)
                }
            })
            .collect()
    };
    assert_eq!(
        mask(sip_lines(&reply)),
        mask(sip_lines(&expected)),
        "{name}:\n{reply}"
    );
    // The rport is the port the request really came from.
    let port = socket.local_addr().expect("addr").port();
    assert!(reply.contains(&format!(";rport={port};")), "{reply}");
}

#[tokio::test]
async fn sip_options_to_an_extension_is_200() {
    sip_case("01-options-endpoint-exten-200").await;
}

#[tokio::test]
async fn sip_options_without_user_is_200() {
    sip_case("02-options-no-user-200").await;
}

#[tokio::test]
async fn sip_options_to_an_unknown_extension_is_404() {
    sip_case("03-options-unknown-exten-404").await;
}

#[tokio::test]
async fn sip_options_while_shutting_down_is_503() {
    // Captured in a network namespace from the runner's lean instance: its own address in
    // `received=`, and fewer PJSIP modules loaded, hence shorter Accept/Allow/Supported lists.
    sip_case_with(
        "04-options-shutting-down-503",
        &["Via"],
        Some(astha_tests::fake_asterisk::Fault::ShuttingDown),
        SipCapabilities::Lean,
    )
    .await;
}

/// One raw HTTP exchange; returns (status line, headers, body).
async fn http(
    addr: std::net::SocketAddr,
    request: &str,
) -> (String, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect http");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(support::WAIT, stream.read(&mut buf))
            .await
            .expect("HTTP reply in time")
            .expect("read");
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + len {
                let mut lines = head.split("\r\n");
                let status = lines.next().unwrap_or("").to_owned();
                let headers = lines
                    .filter_map(|l| l.split_once(": "))
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                return (status, headers, text[end + 4..end + 4 + len].to_owned());
            }
        }
        assert!(n > 0, "connection closed before a full response");
    }
}

const VOLATILE_JSON: &[&str] = &["timestamp", "startup_time", "last_reload_time"];

fn mask_json(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    if VOLATILE_JSON.contains(&k.as_str()) {
                        (k.clone(), Value::String("<volatile>".to_owned()))
                    } else {
                        (k.clone(), mask_json(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask_json).collect()),
        other => other.clone(),
    }
}

/// Keys of every object, in order (serde_json's map keeps insertion order only with a feature,
/// so the order is checked on the raw text instead).
fn key_order(raw: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let bytes = raw.as_bytes();
    let mut i = 0;
    while let Some(start) = raw[i..].find('"').map(|s| s + i) {
        let Some(end) = raw[start + 1..].find('"').map(|e| e + start + 1) else {
            break;
        };
        if bytes.get(end + 1) == Some(&b':') {
            keys.push(raw[start + 1..end].to_owned());
        }
        i = end + 1;
    }
    keys
}

async fn ari_case(file: &str) {
    let asterisk = start().await;
    let recorded: Value =
        serde_json::from_slice(&fixture(&format!("ari/{file}.json"))).expect("fixture JSON");
    let req = &recorded["request"];
    let method = req["method"].as_str().expect("method");
    let path = req["path"].as_str().expect("path");
    let auth = match req["auth"].as_str() {
        Some(a) => {
            let creds = a.strip_prefix("Basic ").expect("basic auth");
            format!("Authorization: Basic {}\r\n", BASE64_STANDARD.encode(creds))
        }
        None => String::new(),
    };
    let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
    let (status, headers, body) = http(asterisk.http_addr().expect("http enabled"), &request).await;
    let resp = &recorded["response"];
    assert_eq!(
        status,
        format!(
            "HTTP/1.1 {} {}",
            resp["status"],
            resp["reason"].as_str().unwrap_or("")
        ),
        "{file}"
    );
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let recorded_headers: Vec<(String, String)> = resp["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap_or("").to_owned(),
                h[1].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let recorded_names: Vec<&str> = recorded_headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, recorded_names, "{file}: header names");
    for ((n, v), (_, rv)) in headers.iter().zip(recorded_headers.iter()) {
        if n != "Date" && n != "Content-Length" {
            assert_eq!(v, rv, "{file}: header {n}");
        }
    }
    let raw = resp["body_raw"].as_str().expect("body_raw");
    let got: Value = serde_json::from_str(&body).expect("emulated body is JSON");
    let want: Value = serde_json::from_str(raw).expect("recorded body is JSON");
    assert_eq!(mask_json(&got), mask_json(&want), "{file}: body");
    assert_eq!(key_order(&body), key_order(raw), "{file}: JSON key order");
}

#[tokio::test]
async fn ari_info() {
    ari_case("01-get-asterisk-info").await;
}

#[tokio::test]
async fn ari_ping() {
    ari_case("02-get-asterisk-ping").await;
}

#[tokio::test]
async fn ari_channels_empty() {
    ari_case("03-get-channels-empty").await;
}

#[tokio::test]
async fn ari_401_bad_password() {
    ari_case("12-error-401-bad-password").await;
}

#[tokio::test]
async fn ari_401_no_auth() {
    ari_case("13-error-401-no-auth").await;
}

#[tokio::test]
async fn ari_404_unknown_resource() {
    ari_case("16-error-404-unknown-resource").await;
}

#[tokio::test]
async fn ari_info_only_build_system() {
    ari_case("21-get-asterisk-info-only-build-system").await;
}

#[tokio::test]
async fn ari_websocket_with_bad_key_is_401() {
    let asterisk = start().await;
    let recorded: Value =
        serde_json::from_slice(&fixture("ari/ws-error-401-bad-password.json")).expect("JSON");
    let request = "GET /ari/events?app=hasidecar&api_key=hasidecar%3Awrong HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let (status, headers, body) = http(asterisk.http_addr().expect("http"), request).await;
    assert_eq!(
        status,
        format!("HTTP/1.1 {} Unauthorized", recorded["status"])
    );
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = recorded["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter_map(|h| h[0].as_str())
        .collect();
    assert_eq!(names, want);
    assert_eq!(body, recorded["body_raw"].as_str().expect("body"));
}

#[tokio::test]
async fn ari_keeps_the_connection_alive_between_requests() {
    let asterisk = start().await;
    let mut stream = TcpStream::connect(asterisk.http_addr().expect("http"))
        .await
        .expect("connect");
    let req = format!(
        "GET /ari/asterisk/ping HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\n\r\n",
        BASE64_STANDARD.encode("hasidecar:hasecret")
    );
    for _ in 0..2 {
        stream.write_all(req.as_bytes()).await.expect("send");
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&data).contains("\"asterisk_id\"") {
            let n = tokio::time::timeout(support::WAIT, stream.read(&mut buf))
                .await
                .expect("in time")
                .expect("read");
            assert!(n > 0, "closed");
            data.extend_from_slice(&buf[..n]);
        }
        assert!(String::from_utf8_lossy(&data).starts_with("HTTP/1.1 200 OK\r\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ari_channels_with_calls_up_have_the_captured_shape() {
    // The ARI fixtures were captured with the earlier dialplan (NoOp first: Echo at priority 3).
    let mut config = FakeConfig::instance_a().fast(Duration::from_millis(20));
    config.dialplan = astha_tests::fake_asterisk::Dialplan::captured(Duration::from_millis(20));
    let asterisk = FakeAsterisk::start(config).await.expect("emulator starts");
    let mut ami =
        support::RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    ami.send(&[
        ("Action", "Originate"),
        ("ActionID", "o"),
        ("Channel", "Local/echo@ha-probe"),
        ("Application", "Echo"),
        ("CallerID", "\"HA ARI dialplan\" <9102>"),
        ("Async", "true"),
    ])
    .await
    .expect("send");
    ami.response("o").await;
    let core = asterisk.core().clone();
    support::eventually(support::WAIT, "call in Echo", || {
        let core = core.clone();
        async move {
            let chans = core.channels();
            chans.len() == 2 && chans.iter().any(|c| c.application == "Echo")
        }
    })
    .await;
    let request = format!(
        "GET /ari/channels HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
        BASE64_STANDARD.encode("hasidecar:hasecret")
    );
    let (status, _, body) = http(asterisk.http_addr().expect("http"), &request).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let recorded: Value =
        serde_json::from_slice(&fixture("ari/08-get-channels-calls-up.json")).expect("JSON");
    let raw = recorded["response"]["body_raw"].as_str().expect("body");
    let want: Value = serde_json::from_str(raw).expect("JSON");
    let got: Value = serde_json::from_str(&body).expect("emulated JSON");
    let two = got
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["name"].as_str().is_some_and(|n| n.ends_with(";2")))
        .expect(";2 listed")
        .clone();
    let recorded_two = want
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["name"].as_str().is_some_and(|n| n.ends_with(";2")))
        .expect(";2 recorded")
        .clone();
    // Same keys in the same order; same values except identity and time.
    let first_object = |raw: &str| key_order(&raw[..raw.find('}').map_or(raw.len(), |e| e + 1)]);
    assert_eq!(first_object(&body), first_object(raw));
    for key in [
        "state",
        "protocol_id",
        "caller",
        "connected",
        "accountcode",
        "dialplan",
        "language",
    ] {
        assert_eq!(two[key], recorded_two[key], "key {key}");
    }
}
