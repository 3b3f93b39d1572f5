//! SIP OPTIONS probe against a tiny UDP responder that answers with the captured Asterisk replies.

use std::time::Duration;

use astha::config::{HostPort, SipEndpoint};
use astha::probe::sip::{parse_response, SipOptionsProbe};
use astha::probe::ProbeError;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/asterisk-22/sip"
);

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Answer(&'static str),
    Silent,
    /// A stray answer for another transaction, a provisional 100 and garbage, then the real one.
    NoiseThen(&'static str),
}

fn header<'a>(request: &'a str, name: &str) -> Option<&'a str> {
    request
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Rewrites a captured answer so that it answers `request` (its branch, Call-ID, tag and port).
fn answer_for(template: &str, request: &str, peer_port: u16) -> String {
    let captured = parse_response(template).unwrap_or_else(|| panic!("fixture does not parse"));
    let via = header(request, "Via").unwrap_or_default();
    let branch = via
        .split(';')
        .find_map(|p| p.strip_prefix("branch="))
        .unwrap_or_default();
    let call_id = header(request, "Call-ID").unwrap_or_default();
    let tag = header(request, "From")
        .and_then(|f| f.split(";tag=").nth(1))
        .unwrap_or_default();
    let old_port = template
        .split("rport=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap_or_default()
        .to_string();
    template
        .replace(captured.branch.as_deref().unwrap_or("?"), branch)
        .replace(captured.call_id.as_deref().unwrap_or("?"), call_id)
        .replace(
            &format!(
                "tag=hatag{}",
                &captured.branch.as_deref().unwrap_or("0000")[16..]
            ),
            &format!("tag={tag}"),
        )
        .replace(&old_port, &peer_port.to_string())
}

/// Serves one mode; forwards every request received to `seen`.
async fn responder(mode: Mode) -> (HostPort, mpsc::UnboundedReceiver<String>) {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let port = socket
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let _ = tx.send(request.clone());
            let send = |text: String| {
                let socket = &socket;
                async move {
                    let _ = socket.send_to(text.as_bytes(), from).await;
                }
            };
            match mode {
                Mode::Silent => {}
                Mode::Answer(file) => send(answer_for(&fixture(file), &request, from.port())).await,
                Mode::NoiseThen(file) => {
                    let real = answer_for(&fixture(file), &request, from.port());
                    send(fixture("03-options-unknown-exten-404.response.txt")).await; // another transaction
                    send(real.replacen("SIP/2.0 200 OK", "SIP/2.0 100 Trying", 1)).await;
                    send("\u{0}\u{1}garbage".to_string()).await;
                    send(real).await;
                }
            }
        }
    });
    (
        HostPort {
            host: "127.0.0.1".into(),
            port,
        },
        rx,
    )
}

async fn probe(
    address: HostPort,
    user: Option<&str>,
    accepted: Vec<u16>,
) -> Result<u16, ProbeError> {
    let probe = SipOptionsProbe::new(
        SipEndpoint {
            address,
            user: user.map(str::to_string),
        },
        accepted,
    );
    match tokio::time::timeout(Duration::from_secs(5), probe.run()).await {
        Ok(r) => r.map(|a| a.code),
        Err(_) => Err(ProbeError::Timeout(Duration::from_secs(5))),
    }
}

#[tokio::test]
async fn answered_200_is_alive_and_request_is_well_formed() {
    let (addr, mut seen) = responder(Mode::Answer("02-options-no-user-200.response.txt")).await;
    assert_eq!(probe(addr.clone(), None, vec![200]).await, Ok(200));
    let request = seen.recv().await.unwrap_or_default();
    assert!(
        request.starts_with(&format!("OPTIONS sip:{addr} SIP/2.0\r\n")),
        "{request}"
    );
    // Same headers as the request Asterisk answered in the capture.
    let captured = fixture("02-options-no-user-200.request.txt");
    for line in captured.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default();
        assert!(
            header(&request, name).is_some(),
            "missing header {name} in:\n{request}"
        );
    }
    assert!(
        header(&request, "Via").is_some_and(|v| v.contains(";branch=z9hG4bK")),
        "{request}"
    );
    assert_eq!(header(&request, "CSeq"), Some("1 OPTIONS"));
    assert_eq!(header(&request, "Max-Forwards"), Some("70"));
    assert!(request.ends_with("Content-Length: 0\r\n\r\n"));
}

#[tokio::test]
async fn each_probe_uses_fresh_identifiers() {
    let (addr, mut seen) = responder(Mode::Answer("02-options-no-user-200.response.txt")).await;
    for _ in 0..2 {
        assert_eq!(probe(addr.clone(), None, vec![200]).await, Ok(200));
    }
    let (a, b) = (
        seen.recv().await.unwrap_or_default(),
        seen.recv().await.unwrap_or_default(),
    );
    assert_ne!(header(&a, "Call-ID"), header(&b, "Call-ID"));
    assert_ne!(header(&a, "Via"), header(&b, "Via"));
}

#[tokio::test]
async fn user_part_goes_into_the_request_uri() {
    let (addr, mut seen) =
        responder(Mode::Answer("01-options-endpoint-exten-200.response.txt")).await;
    assert_eq!(probe(addr.clone(), Some("probe"), vec![200]).await, Ok(200));
    let request = seen.recv().await.unwrap_or_default();
    assert!(
        request.starts_with(&format!("OPTIONS sip:probe@{addr} SIP/2.0")),
        "{request}"
    );
}

#[tokio::test]
async fn unaccepted_code_is_a_failure_unless_configured() {
    let (addr, _seen) = responder(Mode::Answer("03-options-unknown-exten-404.response.txt")).await;
    match probe(addr.clone(), Some("nosuchexten"), vec![200]).await {
        Err(ProbeError::Status { code: 404, reason }) => assert_eq!(reason, "Not Found"),
        other => panic!("expected 404 failure, got {other:?}"),
    }
    assert_eq!(
        probe(addr, Some("nosuchexten"), vec![200, 404]).await,
        Ok(404)
    );
}

#[tokio::test]
async fn foreign_provisional_and_garbage_datagrams_are_skipped() {
    let (addr, _seen) = responder(Mode::NoiseThen("02-options-no-user-200.response.txt")).await;
    assert_eq!(probe(addr, None, vec![200]).await, Ok(200));
}

#[tokio::test]
async fn silent_server_is_left_to_the_deadline() {
    let (addr, _seen) = responder(Mode::Silent).await;
    let probe = SipOptionsProbe::new(
        SipEndpoint {
            address: addr,
            user: None,
        },
        vec![200],
    );
    let r = tokio::time::timeout(Duration::from_millis(300), probe.run()).await;
    assert!(
        r.is_err(),
        "a silent server must not produce an answer: {r:?}"
    );
}

#[tokio::test]
async fn closed_port_fails_fast_with_icmp_refused() {
    // Bind then drop to get a port nobody listens on.
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        s.local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    match probe(
        HostPort {
            host: "127.0.0.1".into(),
            port,
        },
        None,
        vec![200],
    )
    .await
    {
        Err(ProbeError::Connect(msg)) => assert!(msg.to_lowercase().contains("refused"), "{msg}"),
        other => panic!("expected connection refused, got {other:?}"),
    }
}
