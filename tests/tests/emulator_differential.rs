//! Differential check of the emulator: every AMI action astha sends, and a SIP `OPTIONS`, go to
//! a real Asterisk 22 and to `fake-asterisk` in the same run, and the answers must agree.
//!
//! The conformance test compares the emulator with captures made once; this one captures now,
//! from the Asterisk the tests run with, so the emulator cannot drift from the real one without
//! a test failing. The AMI session (login, `Ping`, `CoreStatus`, `DAHDIShowStatus`, the call
//! probe's `Originate` with its marker variable, `Logoff`) is recorded against the real
//! Asterisk, replayed byte for byte against the emulator, and compared by the conformance rules
//! (`support::compare`: responses in order, events as a multiset and per channel in order,
//! volatile values masked). The SIP answers are compared line by line with addresses, ports and
//! tags masked.
//!
//! Needs root (the real instance runs in a network namespace) and an Asterisk (see
//! `astha_tests::asterisk::install`); skips with one line without them, or fails when
//! `ASTHA_REQUIRE_ASTERISK=1`.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use astha_tests::asterisk::recorded_session::owned;
use astha_tests::asterisk::{Install, Instance, InstanceConfig, RecordedSession};
use astha_tests::fake_asterisk::{FakeAsterisk, FakeConfig, SipCapabilities};
use astha_tests::harness::client::spawn_in_netns;
use astha_tests::harness::netns::LAN_A;
use astha_tests::harness::{require_root, Host, Topology};
use astha_tests::sip::exchange_options;
use support::{parse_flow, parse_transcript, FlowChunk, RawAmi, WAIT};

const SECRET: &str = "differential-secret";

/// A real Asterisk in server A's namespace, configured with the shipped files.
struct RealAsterisk {
    instance: Instance,
    topo: Topology,
    dir: std::path::PathBuf,
}

impl Drop for RealAsterisk {
    fn drop(&mut self) {
        let _ = self.instance.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn real_asterisk(test: &str) -> Option<RealAsterisk> {
    if let Err(e) = require_root() {
        eprintln!("SKIP {test}: {e}");
        return None;
    }
    let install = Install::for_test(test)?;
    let topo = Topology::create().unwrap_or_else(|e| panic!("{test}: {e}"));
    let dir = std::env::temp_dir().join(format!("astha-diff-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = InstanceConfig::server_a(SECRET, LAN_A);
    let instance = Instance::create("diff", &install, &config, &dir, Some(&topo.name(Host::A)))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    instance.start().unwrap_or_else(|e| panic!("{test}: {e}"));
    Some(RealAsterisk {
        instance,
        topo,
        dir,
    })
}

/// astha's AMI conversation with one Asterisk, recorded: what the probes send, in the order a
/// starting daemon sends them. Returns the recorded flow (`*.flow.txt` format) and server bytes.
fn astha_session(ns: &Path) -> (Vec<u8>, Vec<u8>) {
    let ami = SocketAddr::from((LAN_A, 5038));
    let mut s = RecordedSession::connect(ns, ami).expect("connect to the real AMI");
    s.login(SECRET, None).expect("login");
    for (action, id) in [
        ("Ping", "ping-1"),
        ("CoreStatus", "core-1"),
        ("DAHDIShowStatus", "spans-1"),
    ] {
        s.send(&[("Action", action), ("ActionID", id)].map(owned))
            .expect("send");
        let tag = format!("ActionID: {id}\r\n");
        s.read_until(|t| t.contains(&tag))
            .unwrap_or_else(|e| panic!("{action}: {e}"));
    }
    s.send(&[
        ("Action", "Originate".to_owned()),
        ("ActionID", "probe-1".to_owned()),
        ("Channel", "Local/probe@ha-probe".to_owned()),
        ("Application", "Wait".to_owned()),
        ("Data", "6".to_owned()),
        ("Async", "true".to_owned()),
        ("Timeout", "5000".to_owned()),
        ("CallerID", "astha probe <probe>".to_owned()),
        ("Variable", "HA_PROBE_ID=differential-1".to_owned()),
    ])
    .expect("send Originate");
    // Both halves of the Local channel hung up: the call is over.
    s.read_until(|t| t.matches("Event: Hangup\r\n").count() >= 2)
        .expect("the probe call ends");
    s.logoff().expect("logoff");
    let (server, _, flow) = s.recorded();
    (flow.to_vec(), server.to_vec())
}

/// Replays the client side of `flow` against the emulator, each chunk once the emulator has
/// sent what the recording client had waited for before it ([`Awaited`]), and returns the
/// emulator's bytes.
async fn replay(asterisk: &FakeAsterisk, flow: &[FlowChunk]) -> RawAmi {
    let mut ami = RawAmi::connect(asterisk.ami_addr()).await.expect("connect");
    let mut server_so_far = Vec::new();
    for chunk in flow {
        match chunk {
            FlowChunk::Server(bytes) => server_so_far.extend_from_slice(bytes),
            FlowChunk::ServerEof => {}
            FlowChunk::Client(bytes) => {
                let wanted = Awaited::in_(&server_so_far);
                ami.read_until(|received| Awaited::in_(received).covers(&wanted), WAIT)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "before a client chunk, waiting for {wanted:?}: {e}; the emulator sent {:?}",
                            Awaited::in_(&ami.received)
                        )
                    });
                ami.send_raw(bytes).await.expect("send to the emulator");
            }
        }
    }
    assert!(
        ami.read_to_eof(WAIT).await,
        "the emulator kept the connection after Logoff"
    );
    ami
}

/// What the recording client waited for before sending its next chunk: the banner, a response
/// to each action it had sent, and the probe call's `Hangup` events (its Logoff waits for both
/// halves). Pacing on every message instead tied the replay to how many other events the real
/// Asterisk happened to send first: on a busy machine one more arrived before the Logoff, and
/// the replay waited for an event the emulator rightly sends later.
#[derive(Debug)]
struct Awaited {
    banner: bool,
    responses: usize,
    hangups: usize,
}

impl Awaited {
    /// Counted in raw server bytes (a message still arriving does not count).
    fn in_(server: &[u8]) -> Awaited {
        let transcript = parse_transcript(server);
        let first_header = |m: &support::Msg| m.first().map(|(name, _)| name.clone());
        Awaited {
            banner: server.windows(2).any(|w| w == b"\r\n"),
            responses: transcript
                .messages
                .iter()
                .filter(|m| first_header(m).as_deref() == Some("Response"))
                .count(),
            hangups: transcript
                .messages
                .iter()
                .filter(|m| support::get(m, "Event") == Some("Hangup"))
                .count(),
        }
    }

    fn covers(&self, wanted: &Awaited) -> bool {
        (self.banner || !wanted.banner)
            && self.responses >= wanted.responses
            && self.hangups >= wanted.hangups
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_answers_astha_s_ami_actions_like_a_real_asterisk() {
    let test = "the_emulator_answers_astha_s_ami_actions_like_a_real_asterisk";
    let Some(real) = real_asterisk(test) else {
        return;
    };
    let ns = real.topo.path(Host::A);
    let (flow, server) = tokio::task::spawn_blocking(move || astha_session(&ns))
        .await
        .expect("session thread");
    let fake = FakeAsterisk::start(
        FakeConfig::instance_a()
            .fast(Duration::from_millis(40))
            .with_user(support::shipped_user(SECRET)),
    )
    .await
    .expect("emulator starts");
    let emulated = replay(&fake, &parse_flow(&flow)).await;
    let recorded = parse_transcript(&server);
    assert!(
        recorded.messages.len() > 10,
        "too little recorded to compare: {}",
        String::from_utf8_lossy(&server)
    );
    if let Err(diff) = support::compare(&recorded, &emulated.transcript()) {
        panic!(
            "the emulator differs from the real Asterisk: {diff}\n=== real ===\n{}\n=== emulated ===\n{}",
            String::from_utf8_lossy(&server),
            String::from_utf8_lossy(&emulated.received)
        );
    }
}

/// One `OPTIONS` from `from` to `to` (the same request shape for both servers); the answer and
/// the port it was sent from.
fn options(from: Ipv4Addr, to: SocketAddr) -> (String, u16) {
    let exchange = exchange_options("differential", from.into(), to, Duration::from_secs(5))
        .expect("an answer to OPTIONS");
    (exchange.answer_text(), exchange.local_port)
}

/// The answer's lines with what differs by address masked: the hosts and ports of both ends,
/// the `tag` Asterisk picks, the `rport` it fills in.
fn masked(answer: &str, hosts: &[String]) -> Vec<String> {
    answer
        .split("\r\n")
        .take_while(|line| !line.is_empty())
        .map(|line| {
            let mut line = line.to_owned();
            for host in hosts {
                line = line.replace(host.as_str(), "<host>");
            }
            line.split(';')
                .map(|part| match part.split_once('=') {
                    Some(("tag" | "rport" | "received", _)) => {
                        format!("{}=<masked>", part.split('=').next().unwrap_or(""))
                    }
                    _ => part.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(";")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_answers_sip_options_like_a_real_asterisk() {
    let test = "the_emulator_answers_sip_options_like_a_real_asterisk";
    let Some(real) = real_asterisk(test) else {
        return;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    spawn_in_netns(&real.topo.path(Host::A), move || {
        let _ = tx.send(options(LAN_A, SocketAddr::from((LAN_A, 5060))));
    })
    .expect("enter server A's namespace");
    let (real_answer, real_port) = rx.recv().expect("the real Asterisk's answer");
    // The module set the tests' Asterisk loads (see `SipCapabilities`).
    let mut config = FakeConfig::instance_a().fast(Duration::from_millis(40));
    config.sip_capabilities = SipCapabilities::LeanWithRegistrar;
    let fake = FakeAsterisk::start(config).await.expect("emulator starts");
    let fake_addr = fake.sip_addr().expect("emulator SIP");
    let (fake_answer, fake_port) =
        tokio::task::spawn_blocking(move || options(Ipv4Addr::LOCALHOST, fake_addr))
            .await
            .expect("OPTIONS thread");
    // Longest first: "ip:port" of the server and of the client, then the bare address.
    let hosts = |ip: Ipv4Addr, server: u16, client: u16| {
        vec![
            format!("{ip}:{server}"),
            format!("{ip}:{client}"),
            ip.to_string(),
        ]
    };
    let real_lines = masked(&real_answer, &hosts(LAN_A, 5060, real_port));
    let fake_lines = masked(
        &fake_answer,
        &hosts(Ipv4Addr::LOCALHOST, fake_addr.port(), fake_port),
    );
    assert!(real_lines[0].starts_with("SIP/2.0 200"), "{real_answer}");
    assert_eq!(
        fake_lines, real_lines,
        "the emulator's OPTIONS answer differs from the real Asterisk's\n=== real ===\n{real_answer}\n=== emulated ===\n{fake_answer}"
    );
}
