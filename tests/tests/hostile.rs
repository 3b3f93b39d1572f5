//! The emulator survives hostile AMI clients: garbage bytes, a 100 MB header line, 2000
//! connections, half-closed sockets and clients that never read. Each case checks for a clear
//! log line, that the emulator still serves, and that other clients are unaffected.

mod support;

use std::time::Duration;

use astha_tests::fake_asterisk::{FakeAsterisk, FakeConfig};
use support::{eventually, get, LogCapture, RawAmi, WAIT};
use tokio::io::AsyncWriteExt;

async fn start() -> FakeAsterisk {
    FakeAsterisk::start(FakeConfig::instance_a().fast(Duration::from_millis(20)))
        .await
        .expect("emulator starts")
}

async fn ping(ami: &mut RawAmi, id: &str) {
    ami.send(&[("Action", "Ping"), ("ActionID", id)])
        .await
        .expect("send Ping");
    let pong = ami.response(id).await;
    assert_eq!(get(&pong, "Ping"), Some("Pong"));
}

/// Peak resident memory of this process (test and emulator), from /proc.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_are_skipped_with_a_log_line() {
    let logs = LogCapture::install();
    let asterisk = start().await;
    let mut bystander =
        RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    let mut hostile =
        RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    // Deterministic pseudo-random bytes, NULs and invalid UTF-8 included, plus colon-less lines.
    let mut x: u32 = 0x1234_5678;
    let mut garbage: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    garbage.extend_from_slice(b"\r\nthis line has no colon\r\n\xff\xfe\r\n\r\n");
    hostile.send_raw(&garbage).await.expect("send garbage");
    ping(&mut hostile, "after-garbage").await;
    ping(&mut bystander, "bystander").await;
    eventually(WAIT, "a log line about the invalid frame", || {
        let logs = logs.clone();
        async move {
            logs.text()
                .contains("ignoring an invalid frame from an AMI client")
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_header_line_is_skipped_without_buffering_it() {
    let logs = LogCapture::install();
    let asterisk = start().await;
    let mut bystander =
        RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    let mut hostile =
        RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    let rss_before = peak_rss_kib();
    hostile
        .send_raw(b"Action: Ping\r\nActionID: huge\r\nX-Huge: ")
        .await
        .expect("send header start");
    let chunk = vec![b'A'; 1024 * 1024];
    for i in 0..100 {
        hostile.stream.write_all(&chunk).await.expect("send 1 MB");
        if i == 50 {
            // Others are served while the monster line streams in.
            ping(&mut bystander, "during").await;
        }
    }
    hostile.send_raw(b"\r\n\r\n").await.expect("end frame");
    ping(&mut hostile, "after-huge").await;
    let t = hostile.transcript();
    assert!(
        t.messages
            .iter()
            .all(|m| get(m, "ActionID") != Some("huge")),
        "the oversized frame was answered"
    );
    if let (Some(before), Some(after)) = (rss_before, peak_rss_kib()) {
        let grown_mib = after.saturating_sub(before) / 1024;
        println!("peak RSS grew by {grown_mib} MiB while a 100 MiB line was sent");
        assert!(
            grown_mib < 64,
            "the emulator buffered the huge line ({grown_mib} MiB)"
        );
    }
    eventually(WAIT, "a log line about the oversized frame", || {
        let logs = logs.clone();
        async move { logs.text().contains("exceeds the limit") }
    })
    .await;
}

/// Raises the soft fd limit to `want` (up to the hard limit); returns the new soft limit.
fn raise_fd_limit(want: u64) -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    let target = want.min(hard);
    if target > soft && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_err() {
        return soft;
    }
    target.max(soft)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_connections_and_the_emulator_still_serves() {
    const N: usize = 2000;
    let limit = raise_fd_limit(8192);
    if limit < (2 * N as u64 + 200) {
        println!("SKIP: file descriptor limit {limit} is too low for {N} connections");
        return;
    }
    let asterisk = start().await;
    let addr = asterisk.ami_addr();
    let mut conns = Vec::with_capacity(N);
    for _ in 0..N {
        conns.push(RawAmi::connect(addr).await.expect("connect"));
    }
    for conn in &mut conns {
        conn.read_until_count(1, WAIT).await.expect("banner");
    }
    let mut fresh = RawAmi::login(addr, "hasidecar", "hasecret", Some("off")).await;
    ping(&mut fresh, "among-many").await;
    assert_eq!(asterisk.status().sessions, N + 1);
    drop(conns);
    let core = asterisk.core().clone();
    eventually(WAIT, "closed sessions counted down", || {
        let core = core.clone();
        async move { core.sessions.load(std::sync::atomic::Ordering::Relaxed) == 1 }
    })
    .await;
    ping(&mut fresh, "after-many").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_closed_sockets_get_their_answers_then_eof() {
    let asterisk = start().await;
    let mut ami = RawAmi::connect(asterisk.ami_addr()).await.expect("connect");
    ami.send(&[
        ("Action", "Login"),
        ("ActionID", "l"),
        ("Username", "hasidecar"),
        ("Secret", "hasecret"),
        ("Events", "off"),
    ])
    .await
    .expect("send Login");
    ami.send(&[("Action", "Ping"), ("ActionID", "p")])
        .await
        .expect("send Ping");
    ami.stream.shutdown().await.expect("half-close");
    assert!(ami.read_to_eof(WAIT).await, "no EOF after the half-close");
    let t = ami.transcript();
    assert!(t.messages.iter().any(|m| get(m, "ActionID") == Some("p")));

    // A client that half-closes before saying anything.
    let mut mute = RawAmi::connect(asterisk.ami_addr()).await.expect("connect");
    mute.stream.shutdown().await.expect("half-close");
    assert!(mute.read_to_eof(WAIT).await);
    // A client that goes away in the middle of a frame.
    let mut cut = RawAmi::connect(asterisk.ami_addr()).await.expect("connect");
    cut.send_raw(b"Action: Ping\r\nActionID: cut")
        .await
        .expect("send");
    drop(cut);
    let core = asterisk.core().clone();
    eventually(WAIT, "all sessions gone", || {
        let core = core.clone();
        async move { core.sessions.load(std::sync::atomic::Ordering::Relaxed) == 0 }
    })
    .await;
    let mut fine = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    ping(&mut fine, "fine").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_like_asterisk_does() {
    let logs = LogCapture::install();
    let asterisk = start().await;
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let stream = socket.connect(asterisk.ami_addr()).await.expect("connect");
    let mut lazy = RawAmi::from_stream(stream);
    lazy.send(&[
        ("Action", "Login"),
        ("ActionID", "l"),
        ("Username", "hasidecar"),
        ("Secret", "hasecret"),
    ])
    .await
    .expect("send Login");
    let mut reader = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    // About 20 MB of events that the lazy client never reads.
    let filler = "x".repeat(600);
    for i in 0..30_000 {
        asterisk.inject_user_event("Flood", &[("Seq", &i.to_string()), ("Filler", &filler)]);
    }
    eventually(WAIT, "the lazy client dropped with a log line", || {
        let logs = logs.clone();
        async move { logs.text().contains("does not read") }
    })
    .await;
    ping(&mut reader, "unaffected").await;
    assert!(
        lazy.read_to_eof(WAIT).await,
        "the lazy client was not disconnected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lenient_action_syntax_is_accepted_like_asterisk() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    // Bare LF line ends, no space after the colon, lower-case names.
    ami.send_raw(b"action: ping\nactionid: lf\n\n")
        .await
        .expect("send");
    assert_eq!(get(&ami.response("lf").await, "Ping"), Some("Pong"));
    ami.send_raw(b"Action:Ping\r\nActionID:nospace\r\n\r\n")
        .await
        .expect("send");
    assert_eq!(get(&ami.response("nospace").await, "Ping"), Some("Pong"));
    // A frame without Action gets the real error.
    ami.send_raw(b"ActionID: none\r\n\r\n").await.expect("send");
    let err = ami.response("none").await;
    assert_eq!(get(&err, "Message"), Some("Missing action in request"));
    // Actions before login are refused.
    let mut anonymous = RawAmi::connect(asterisk.ami_addr()).await.expect("connect");
    anonymous
        .send(&[("Action", "CoreStatus"), ("ActionID", "anon")])
        .await
        .expect("send");
    let denied = anonymous.response("anon").await;
    assert_eq!(get(&denied, "Message"), Some("Permission denied"));
}
