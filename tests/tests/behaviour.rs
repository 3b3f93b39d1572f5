//! Emulator behaviour beyond the recorded scenarios: sync Originate, the Hangup and Events
//! actions, calls ended by the originating side, MD5 login with a random challenge, the failed
//! login delay, CLI variants.

mod support;

use std::time::{Duration, Instant};

use astha_tests::fake_asterisk::{FakeAsterisk, FakeConfig};
use support::{eventually, get, RawAmi, WAIT};

async fn start() -> FakeAsterisk {
    FakeAsterisk::start(FakeConfig::instance_a().fast(Duration::from_millis(30)))
        .await
        .expect("emulator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_originate_answers_after_the_call_is_up() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("call")).await;
    ami.send(&[
        ("Action", "Originate"),
        ("ActionID", "sync"),
        ("Channel", "Local/echo@ha-probe"),
        ("Application", "Echo"),
        ("CallerID", "\"Sync\" <77>"),
    ])
    .await
    .expect("send");
    let response = ami.response("sync").await;
    assert_eq!(
        get(&response, "Message"),
        Some("Originate successfully queued")
    );
    // Sync originates report no OriginateResponse; the call is up in Echo.
    let channels = asterisk.core().channels();
    assert_eq!(channels.len(), 2);
    assert!(channels.iter().all(|c| c.state.desc() == "Up"));
    let two = channels
        .iter()
        .find(|c| c.name.ends_with(";2"))
        .expect(";2 exists");
    // The AMI Hangup action ends it.
    let name = two.name.clone();
    ami.send(&[("Action", "Hangup"), ("ActionID", "h"), ("Channel", &name)])
        .await
        .expect("send");
    assert_eq!(
        get(&ami.response("h").await, "Message"),
        Some("Channel Hungup")
    );
    let hangup = ami
        .wait_for(WAIT, "Hangup of ;2", |m| {
            get(m, "Event") == Some("Hangup") && get(m, "Channel") == Some(name.as_str())
        })
        .await;
    assert_eq!(get(&hangup, "Cause-txt"), Some("Normal Clearing"));
    assert_eq!(get(&hangup, "CallerIDNum"), Some("77"));
    let core = asterisk.core().clone();
    eventually(WAIT, "no channel left", || {
        let core = core.clone();
        async move { core.channels().is_empty() }
    })
    .await;
    assert!(ami
        .transcript()
        .messages
        .iter()
        .all(|m| get(m, "Event") != Some("OriginateResponse")));
    ami.send(&[("Action", "Hangup"), ("ActionID", "h2"), ("Channel", &name)])
        .await
        .expect("send");
    assert_eq!(
        get(&ami.response("h2").await, "Message"),
        Some("No such channel")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_application_ends_the_call_from_the_originating_side() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("on")).await;
    ami.send(&[
        ("Action", "Originate"),
        ("ActionID", "w"),
        ("Channel", "Local/echo@ha-probe"),
        ("Application", "Wait"),
        ("Data", "0.05"),
        ("Async", "yes"),
    ])
    .await
    .expect("send");
    ami.response("w").await;
    let first = ami
        .wait_for(WAIT, "Hangup", |m| get(m, "Event") == Some("Hangup"))
        .await;
    assert!(get(&first, "Channel").is_some_and(|c| c.ends_with(";1")));
    let second = ami
        .wait_for(WAIT, "Hangup", |m| get(m, "Event") == Some("Hangup"))
        .await;
    assert!(get(&second, "Channel").is_some_and(|c| c.ends_with(";2")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_action_switches_event_delivery() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    ami.send(&[
        ("Action", "Events"),
        ("ActionID", "on"),
        ("EventMask", "user"),
    ])
    .await
    .expect("send");
    assert_eq!(get(&ami.response("on").await, "Events"), Some("On"));
    asterisk.inject_user_event("Probe", &[("N", "1")]);
    let ev = ami
        .wait_for(WAIT, "UserEvent", |m| get(m, "Event") == Some("UserEvent"))
        .await;
    assert_eq!(get(&ev, "N"), Some("1"));
    ami.send(&[
        ("Action", "Events"),
        ("ActionID", "off"),
        ("EventMask", "off"),
    ])
    .await
    .expect("send");
    assert_eq!(get(&ami.response("off").await, "Events"), Some("Off"));
    asterisk.inject_user_event("Probe", &[("N", "2")]);
    ami.send(&[("Action", "Ping"), ("ActionID", "p")])
        .await
        .expect("send");
    ami.response("p").await;
    assert!(ami
        .transcript()
        .messages
        .iter()
        .all(|m| get(m, "N") != Some("2")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md5_login_with_a_random_challenge() {
    let asterisk = start().await;
    let mut ami = RawAmi::connect(asterisk.ami_addr()).await.expect("connect");
    ami.send(&[
        ("Action", "Challenge"),
        ("ActionID", "c"),
        ("AuthType", "MD5"),
    ])
    .await
    .expect("send");
    let challenge = ami.response("c").await;
    let value = get(&challenge, "Challenge")
        .expect("Challenge header")
        .to_owned();
    assert!(value.chars().all(|c| c.is_ascii_digit()));
    // The key is computed here without the emulator's code: md5(challenge + secret).
    let key = format!("{:x}", md5_digest(format!("{value}hasecret").as_bytes()));
    ami.send(&[
        ("Action", "Login"),
        ("ActionID", "l"),
        ("AuthType", "MD5"),
        ("Username", "hasidecar"),
        ("Key", &key),
        ("Events", "off"),
    ])
    .await
    .expect("send");
    assert_eq!(
        get(&ami.response("l").await, "Message"),
        Some("Authentication accepted")
    );
    ami.send(&[
        ("Action", "Login"),
        ("ActionID", "again"),
        ("Username", "x"),
        ("Secret", "y"),
    ])
    .await
    .expect("send");
    assert_eq!(
        get(&ami.response("again").await, "Message"),
        Some("Already authenticated")
    );
}

/// MD5 via the md-5 crate (a different code path than the emulator's hex formatting).
fn md5_digest(data: &[u8]) -> impl std::fmt::LowerHex {
    use md5::Digest;
    struct Hex(Vec<u8>);
    impl std::fmt::LowerHex for Hex {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            for b in &self.0 {
                write!(f, "{b:02x}")?;
            }
            Ok(())
        }
    }
    Hex(md5::Md5::digest(data).to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_login_is_answered_after_the_delay_then_closed() {
    let mut config = FakeConfig::instance_a();
    config.auth_failure_delay = Duration::from_millis(200);
    let asterisk = FakeAsterisk::start(config).await.expect("starts");
    let mut ami = RawAmi::connect(asterisk.ami_addr()).await.expect("connect");
    let started = Instant::now();
    ami.send(&[
        ("Action", "Login"),
        ("ActionID", "bad"),
        ("Username", "hasidecar"),
        ("Secret", "nope"),
    ])
    .await
    .expect("send");
    let response = ami.response("bad").await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(get(&response, "Message"), Some("Authentication failed"));
    assert!(ami.read_to_eof(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_channel_counts_and_unknown_commands() {
    let asterisk = start().await;
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("off")).await;
    ami.send(&[
        ("Action", "Originate"),
        ("ActionID", "o"),
        ("Channel", "Local/echo@ha-probe"),
        ("Application", "Echo"),
        ("Async", "true"),
    ])
    .await
    .expect("send");
    ami.response("o").await;
    let core = asterisk.core().clone();
    eventually(WAIT, "call up", || {
        let core = core.clone();
        async move { core.counts().calls == 1 }
    })
    .await;
    ami.send(&[
        ("Action", "Command"),
        ("ActionID", "count"),
        ("Command", "core show channels count"),
    ])
    .await
    .expect("send");
    let out = ami.response("count").await;
    let lines: Vec<&str> = out
        .iter()
        .filter(|(n, _)| n == "Output")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        lines,
        ["2 active channels", "1 active call", "1 call processed"]
    );
    ami.send(&[("Action", "CoreStatus"), ("ActionID", "cs")])
        .await
        .expect("send");
    assert_eq!(
        get(&ami.response("cs").await, "CoreCurrentCalls"),
        Some("1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_extensions_run_their_behaviour() {
    use astha_tests::fake_asterisk::Extension;
    let config = FakeConfig::instance_a()
        .fast(Duration::from_millis(20))
        .with_extension(Extension::user_event(
            "ha-admin",
            "*998",
            "HAMaintenance",
            &[("Mode", "on"), ("Node", "${SYSTEMNAME}")],
            Duration::from_millis(10),
        ));
    let asterisk = FakeAsterisk::start(config).await.expect("starts");
    let mut ami = RawAmi::login(asterisk.ami_addr(), "hasidecar", "hasecret", Some("on")).await;
    ami.send(&[
        ("Action", "Originate"),
        ("ActionID", "m"),
        ("Channel", "Local/*998@ha-admin"),
        ("Application", "Wait"),
        ("Data", "5"),
        ("Async", "true"),
    ])
    .await
    .expect("send");
    let ev = ami
        .wait_for(WAIT, "UserEvent", |m| get(m, "Event") == Some("UserEvent"))
        .await;
    assert_eq!(get(&ev, "UserEvent"), Some("HAMaintenance"));
    assert_eq!(get(&ev, "Node"), Some("ha-a"));
    assert!(get(&ev, "Channel")
        .is_some_and(|c| c.starts_with("Local/*998@ha-admin-") && c.ends_with(";2")));
}
