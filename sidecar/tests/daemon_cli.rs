//! The daemon and its CLI end to end: two `astha run` processes on loopback, each with an emulated Asterisk.
//!
//! Covers what an admin does: `astha status` (table and JSON), `astha failover` accepted and
//! refused, maintenance blocking automatic takeover, the daemon-not-running message, malformed
//! control requests, a bad config rejected on SIGHUP, and failover dialled from a phone
//! (`UserEvent: HAFailover`), including the rate limit and events from the peer's Asterisk.

mod common;

use common::{drbd_khelper_unavailable, drbd_stand_in, Scratch};

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use astha::status::StatusReport;
use astha_tests::fake_asterisk::{FakeAsterisk, FakeConfig, Fault};
use serde_json::Value;

const ASTHA: &str = env!("CARGO_BIN_EXE_astha");
/// Generous: the machine running CI is small and shared.
const SETTLE: Duration = Duration::from_secs(30);

/// A free UDP port (bound and released; the daemon binds it right after) on a loopback address
/// of this test process's own: tests run in parallel processes, and a port released here could
/// otherwise be taken by another test's daemon before ours binds it.
fn free_udp() -> SocketAddr {
    let pid = std::process::id();
    let octet = |v: u32| (v % 254 + 1) as u8;
    let ip = std::net::Ipv4Addr::new(127, octet(pid >> 16), octet(pid >> 8), octet(pid));
    UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap()
}

/// One node: its emulated Asterisk, its daemon process, and where its files are.
struct Node {
    side: &'static str,
    asterisk: FakeAsterisk,
    config: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    child: Option<std::process::Child>,
}

impl Node {
    fn start_daemon(&mut self) {
        let log = std::fs::File::create(&self.log).unwrap();
        let child = std::process::Command::new(ASTHA)
            .args(["run", "--config"])
            .arg(&self.config)
            .env("ASTHA_TEST_NODE", self.side)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn astha run");
        self.child = Some(child);
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// Fails the test at once (with the log) if the daemon exited.
    fn assert_alive(&self) {
        let pid = nix::unistd::Pid::from_raw(self.pid());
        if let Ok(nix::sys::wait::WaitStatus::Exited(_, code)) =
            nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
        {
            panic!(
                "daemon {} exited with {code}:\n{}",
                self.side,
                self.log_text()
            );
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `astha <args> --socket <this node's socket>`; returns (exit code, stdout).
    async fn cli(&self, args: &[&str]) -> (i32, String) {
        let out = tokio::process::Command::new(ASTHA)
            .args(args)
            .arg("--socket")
            .arg(&self.socket)
            .output()
            .await
            .expect("run astha");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    async fn status(&self) -> Option<StatusReport> {
        let (code, out) = self.cli(&["status", "--json"]).await;
        (code == 0).then(|| serde_json::from_str(&out).expect("status --json is valid JSON"))
    }

    async fn role(&self) -> Option<String> {
        self.status().await.map(|s| s.node.role)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Pair {
    a: Node,
    b: Node,
    dir: Scratch,
}

fn config_text(
    side: &str,
    dir: &Path,
    a: &FakeAsterisk,
    b: &FakeAsterisk,
    link: (SocketAddr, SocketAddr),
) -> String {
    let (local, remote) = link;
    let sip = |f: &FakeAsterisk| f.sip_addr().expect("emulator SIP");
    format!(
        r#"
[node]
side = "{side}"
name = "pbx-{side}"

[asterisk.a.ami]
address = "{a_ami}"
username = "hasidecar"
secret_file = "ami.secret"

[asterisk.a.sip]
address = "{a_sip}"

[asterisk.b.ami]
address = "{b_ami}"
username = "hasidecar"
secret_file = "ami.secret"

[asterisk.b.sip]
address = "{b_sip}"

[probes.call]
interval_ms = 2000
timeout_ms = 1500

[probes.sip]
interval_ms = 1000
timeout_ms = 500

[peer_link]
key_file = "peer.key"

[[peer_link.links]]
name = "lan"
local = "{local}"
remote = "{remote}"

[decide]
hold_down_ms = 1000

[actuate.asterisk]
mode = "warm"
start_command = ["true"]
stop_command = ["true"]
status_command = ["true"]

[control]
socket = "{dir}/{side}.sock"

[state]
dir = "{dir}/state-{side}"

[dialplan]
min_interval_ms = 60000
"#,
        a_ami = a.ami_addr(),
        a_sip = sip(a),
        b_ami = b.ami_addr(),
        b_sip = sip(b),
        dir = dir.display(),
    )
}

async fn start_pair(name: &str) -> Pair {
    start_pair_with(name, &|_, _| String::new()).await
}

/// A pair whose configurations get `extra(side, dir)` appended (new tables only).
async fn start_pair_with(name: &str, extra: &dyn Fn(&str, &Path) -> String) -> Pair {
    let dir = Scratch::new(name);
    let fast = |c: FakeConfig| c.fast(Duration::from_millis(300));
    let ast_a = FakeAsterisk::start(fast(FakeConfig::instance_a()))
        .await
        .expect("emulator a");
    let ast_b = FakeAsterisk::start(fast(FakeConfig::instance_b()))
        .await
        .expect("emulator b");
    std::fs::write(dir.0.join("ami.secret"), "hasecret\n").unwrap();
    let key = dir.0.join("peer.key");
    std::fs::write(&key, [0x42u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (pa, pb) = (free_udp(), free_udp());
    let mut nodes = Vec::new();
    for (side, link) in [("a", (pa, pb)), ("b", (pb, pa))] {
        let config = dir.0.join(format!("{side}.toml"));
        let text = config_text(side, &dir.0, &ast_a, &ast_b, link) + &extra(side, &dir.0);
        std::fs::write(&config, text).unwrap();
        nodes.push((side, config));
    }
    let make = |(side, config): (&'static str, PathBuf), asterisk| Node {
        side,
        asterisk,
        socket: dir.0.join(format!("{side}.sock")),
        log: dir.0.join(format!("{side}.log")),
        config,
        child: None,
    };
    let mut it = nodes.into_iter();
    let mut a = make(it.next().unwrap(), ast_a);
    let mut b = make(it.next().unwrap(), ast_b);
    a.start_daemon();
    b.start_daemon();
    let pair = Pair { a, b, dir };
    pair.wait_roles("active", "standby", SETTLE).await;
    pair
}

impl Pair {
    /// Polls both daemons until A has `role_a` and B `role_b`; panics with both logs otherwise.
    async fn wait_roles(&self, role_a: &str, role_b: &str, within: Duration) {
        let started = Instant::now();
        loop {
            let (ra, rb) = (self.a.role().await, self.b.role().await);
            if ra.as_deref() == Some(role_a) && rb.as_deref() == Some(role_b) {
                println!(
                    "roles a={role_a} b={role_b} after {} ms",
                    started.elapsed().as_millis()
                );
                return;
            }
            assert!(
                !(ra.as_deref() == Some("active") && rb.as_deref() == Some("active")),
                "split brain: both active"
            );
            self.a.assert_alive();
            self.b.assert_alive();
            if started.elapsed() > within {
                panic!(
                    "roles not reached: want a={role_a} b={role_b}, have a={ra:?} b={rb:?}\n--- a log ---\n{}\n--- b log ---\n{}",
                    self.a.log_text(),
                    self.b.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Checks over `window` (polling) that the roles stay as they are: for negative assertions.
    async fn roles_hold(&self, role_a: &str, role_b: &str, window: Duration) {
        let started = Instant::now();
        while started.elapsed() < window {
            let (ra, rb) = (self.a.role().await, self.b.role().await);
            assert_eq!(
                (ra.as_deref(), rb.as_deref()),
                (Some(role_a), Some(role_b)),
                "roles changed\n--- a log ---\n{}\n--- b log ---\n{}",
                self.a.log_text(),
                self.b.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Waits until `node`'s status satisfies `check`.
async fn wait_status(
    node: &Node,
    what: &str,
    check: impl Fn(&StatusReport) -> bool,
) -> StatusReport {
    let started = Instant::now();
    loop {
        if let Some(s) = node.status().await {
            if check(&s) {
                return s;
            }
            if started.elapsed() > SETTLE {
                panic!(
                    "{what}: not reached; last status {s:#?}\n--- log ---\n{}",
                    node.log_text()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn verdict_of<'a>(s: &'a StatusReport, target: &str) -> &'a str {
    s.targets
        .iter()
        .find(|t| t.target == target)
        .map(|t| t.verdict.as_str())
        .unwrap_or("missing")
}

async fn wait_log(node: &Node, needle: &str) {
    let started = Instant::now();
    while !node.log_text().contains(needle) {
        assert!(
            started.elapsed() < SETTLE,
            "log line {needle:?} never came:\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_pair_in_json_and_as_a_table() {
    let pair = start_pair("status").await;
    let s = wait_status(&pair.a, "both targets healthy", |s| {
        verdict_of(s, "local") == "healthy"
            && verdict_of(s, "peer") == "healthy"
            && !s.peer.links_up.is_empty()
    })
    .await;
    assert_eq!(s.node.side, "a");
    assert_eq!(s.node.name, "pbx-a");
    assert_eq!(s.peer.role.as_deref(), Some("standby"));
    assert_eq!(s.peer.links_up, vec!["lan".to_string()]);
    assert!(s.node.term >= 1, "an election takes a term");
    let probes: Vec<&str> = s.targets[0]
        .probes
        .iter()
        .map(|p| p.kind.as_str())
        .collect();
    for kind in ["ping", "core", "call", "sip"] {
        assert!(
            probes.contains(&kind),
            "probe {kind} missing from {probes:?}"
        );
    }
    // The JSON is the documented, stable document (field names checked on the raw value).
    let (code, raw) = pair.a.cli(&["status", "--json"]).await;
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["format"], 1);
    assert!(
        v["node"]["role"].is_string()
            && v["peer"]["rejected"].is_array()
            && v["relay"]["read_back"].is_boolean()
    );
    // The table, not on a terminal: no colour codes.
    let (code, table) = pair.a.cli(&["status"]).await;
    assert_eq!(code, 0);
    assert!(
        table.contains("role active") && table.contains("asterisk peer") && !table.contains('\x1b'),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_failover_is_refused_while_the_standby_is_unhealthy_then_moves_the_service() {
    let pair = start_pair("failover").await;
    pair.b.asterisk.set_fault(Fault::Crash).await;
    wait_status(&pair.a, "peer asterisk failed", |s| {
        verdict_of(s, "peer") == "failed"
    })
    .await;
    let (code, out) = pair.a.cli(&["failover", "--reason", "test"]).await;
    assert_eq!(code, 2, "refused means exit 2: {out}");
    assert!(out.contains("refused"), "{out}");
    pair.roles_hold("active", "standby", Duration::from_millis(600))
        .await;

    pair.b.asterisk.clear_faults().await;
    wait_status(&pair.a, "peer asterisk healthy", |s| {
        verdict_of(s, "peer") == "healthy"
    })
    .await;
    wait_status(&pair.b, "b local healthy", |s| {
        verdict_of(s, "local") == "healthy"
    })
    .await;
    let (code, out) = pair
        .a
        .cli(&["failover", "--reason", "planned maintenance"])
        .await;
    assert_eq!(code, 0, "{out}");
    pair.wait_roles("standby", "active", SETTLE).await;
    let b = pair.b.status().await.unwrap();
    let record = b.last_takeover.expect("B records its takeover");
    assert_eq!(record.outcome, "done");
    assert!(!record.steps.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_on_the_standby_blocks_automatic_takeover() {
    let pair = start_pair("maint").await;
    let (code, out) = pair.b.cli(&["maintenance", "on"]).await;
    assert_eq!(code, 0, "{out}");
    wait_status(&pair.b, "b in maintenance", |s| s.node.maintenance).await;
    pair.a.asterisk.set_fault(Fault::OriginateFail).await;
    wait_status(&pair.b, "a's asterisk judged failed from b", |s| {
        verdict_of(s, "peer") == "failed"
    })
    .await;
    // Without maintenance this is a handover within a second or two; with it, nothing moves.
    pair.roles_hold("active", "maintenance", Duration::from_secs(3))
        .await;
    let (code, out) = pair.b.cli(&["maintenance", "off"]).await;
    assert_eq!(code, 0, "{out}");
    pair.wait_roles("standby", "active", SETTLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialplan_failover_is_acted_on_once_and_only_by_the_local_sidecar() {
    let pair = start_pair("dialplan").await;
    wait_status(&pair.b, "b healthy", |s| {
        verdict_of(s, "local") == "healthy"
    })
    .await;
    let event = [
        ("Channel", "PJSIP/200-00000001"),
        ("CallerIDNum", "200"),
        ("CallerIDName", "Reception"),
        ("Reason", "manual"),
        ("Node", "ha-a"),
    ];
    // An AMI user sending the same event as an action (no PIN was ever asked) is ignored, even
    // with a forged Channel header.
    let ami = ami_client::Client::connect(ami_client::ClientConfig::new(
        pair.a.asterisk.ami_addr(),
        "hasidecar",
        "hasecret",
    ));
    ami.wait_logged_in(Duration::from_secs(5))
        .await
        .expect("AMI login to A's Asterisk");
    let mut forged = ami_client::Action::new("UserEvent").header("UserEvent", "HAFailover");
    for (name, value) in event {
        forged = forged.header(name, value);
    }
    ami.send(forged).await.expect("UserEvent action accepted");
    ami.close().await;
    wait_log(&pair.a, "not raised by a call in the dialplan").await;
    pair.roles_hold("active", "standby", Duration::from_secs(2))
        .await;
    pair.a.asterisk.inject_user_event("HAFailover", &event);
    pair.wait_roles("standby", "active", SETTLE).await;
    wait_log(&pair.a, "failover requested from the dialplan").await;
    // B heard the same event on its AMI connection to A's Asterisk and must have ignored it.
    assert!(
        !pair
            .b
            .log_text()
            .contains("failover requested from the dialplan"),
        "{}",
        pair.b.log_text()
    );
    // A second request within the rate-limit interval is dropped (it would move the calls back).
    pair.a.asterisk.inject_user_event("HAFailover", &event);
    wait_log(&pair.a, "ignored: rate limit").await;
    pair.roles_hold("standby", "active", Duration::from_secs(2))
        .await;
}

/// `astha status` counts the calls on the active; `astha failover --when-idle` waits for them
/// to end (giving up with exit 1 after `--max-wait`), then hands over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_when_idle_waits_until_the_active_carries_no_call() {
    let pair = start_pair("when-idle").await;
    wait_status(&pair.b, "b healthy", |s| {
        verdict_of(s, "local") == "healthy"
    })
    .await;
    // A caller on A, the active, for 8 s (both halves of a Local channel: one call).
    let ami = ami_client::Client::connect(ami_client::ClientConfig::new(
        pair.a.asterisk.ami_addr(),
        "hasidecar",
        "hasecret",
    ));
    ami.wait_logged_in(Duration::from_secs(5))
        .await
        .expect("AMI login to A's Asterisk");
    let call = ami_client::Action::new("Originate")
        .header("Channel", "Local/echo@ha-probe")
        .header("Application", "Wait")
        .header("Data", "8")
        .header("Async", "true");
    assert!(ami.send(call).await.expect("Originate").is_success());
    let counted = |s: &StatusReport| s.calls.as_ref().is_some_and(|c| c.count == Some(1));
    wait_status(&pair.b, "the call counted from b", counted).await;
    // Busy for longer than the wait: nothing moves, exit 1.
    let (code, out) = pair
        .a
        .cli(&["failover", "--when-idle", "--max-wait", "300ms"])
        .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("still busy") && out.contains("1 call in progress on pbx-a"),
        "{out}"
    );
    pair.roles_hold("active", "standby", Duration::from_millis(500))
        .await;
    // Long enough: the handover waits for the call to end.
    let (code, out) = pair
        .a
        .cli(&["failover", "--when-idle", "--max-wait", "60s"])
        .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("waiting: 1 call in progress on pbx-a"),
        "{out}"
    );
    assert!(
        out.contains("no call in progress on pbx-a: handing over now"),
        "{out}"
    );
    pair.wait_roles("standby", "active", SETTLE).await;
    ami.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_on_sighup_is_rejected_and_the_daemon_keeps_running() {
    let pair = start_pair("sighup").await;
    let good = std::fs::read_to_string(&pair.a.config).unwrap();
    std::fs::write(
        &pair.a.config,
        good.replace("[peer_link]", "[peer_link]\nbogus_key = 1"),
    )
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pair.a.pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    wait_log(&pair.a, "reload rejected").await;
    assert!(
        pair.a.log_text().contains("bogus_key"),
        "the rejection names the bad key"
    );
    assert_eq!(
        pair.a.role().await.as_deref(),
        Some("active"),
        "still running with the old configuration"
    );
    std::fs::write(&pair.a.config, good).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pair.a.pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    wait_log(&pair.a, "configuration reloaded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_the_role_and_a_restarted_node_rejoins_as_standby() {
    let mut pair = start_pair("sigterm").await;
    // Stop B (standby) and A must stay active; then stop A: B takes over.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pair.b.pid()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = pair.b.child.as_mut().unwrap().wait().unwrap();
    assert!(status.success(), "orderly exit on SIGTERM");
    assert!(pair.b.log_text().contains("the role is kept"));
    pair.b.start_daemon();
    pair.wait_roles("active", "standby", SETTLE).await;
}

#[tokio::test]
async fn cli_says_plainly_when_the_daemon_is_not_running() {
    let out = tokio::process::Command::new(ASTHA)
        .args(["status", "--socket", "/nonexistent/astha.sock"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not running"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_control_requests_get_clear_errors_from_the_daemon() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pair = start_pair("malformed").await;
    for (request, want) in [
        ("garbage\n", "malformed request"),
        ("{\"v\":1,\"cmd\":\"explode\"}\n", "invalid request"),
    ] {
        let mut s = tokio::net::UnixStream::connect(&pair.a.socket)
            .await
            .unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        let v: Value = serde_json::from_str(answer.trim()).unwrap();
        assert_eq!(v["ok"], false);
        assert!(v["error"].as_str().unwrap().contains(want), "{answer}");
    }
    assert_eq!(
        pair.a.role().await.as_deref(),
        Some("active"),
        "the daemon is unaffected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_can_turn_dialplan_failover_off_at_once() {
    let pair = start_pair("reload-dialplan").await;
    let good = std::fs::read_to_string(&pair.a.config).unwrap();
    std::fs::write(
        &pair.a.config,
        good.replace("[dialplan]\n", "[dialplan]\nfailover_event = false\n"),
    )
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pair.a.pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    wait_log(&pair.a, "configuration reloaded").await;
    pair.a
        .asterisk
        .inject_user_event("HAFailover", &[("Reason", "manual"), ("Node", "ha-a")]);
    wait_log(&pair.a, "failover_event = false").await;
    pair.roles_hold("active", "standby", Duration::from_secs(1))
        .await;
}

/// `[actuate.drbd]` for `side`, run by the DRBD stand-in (`tests/tools/fake-drbd`) through the
/// configured `drbdadm`/`drbdsetup` paths: resource `asterisk` of `contrib/drbd/asterisk.res`
/// (pbx-a is node 0, pbx-b node 1), connected, both disks UpToDate.
fn drbd_config_for(side: &str, dir: &Path) -> String {
    let tools = dir.join(format!("drbd-{side}"));
    drbd_stand_in(&tools, "ok", "");
    let (node_id, peer_id, peer) = if side == "a" {
        (0, 1, "pbx-b")
    } else {
        (1, 0, "pbx-a")
    };
    std::fs::write(
        tools.join("state/asterisk.state"),
        format!("node_id={node_id}\npeer_node_id={peer_id}\npeer_name={peer}\n"),
    )
    .unwrap();
    format!(
        r#"
[actuate.drbd]
resource = "asterisk"
drbdadm = "{tools}/drbdadm"
drbdsetup = "{tools}/drbdsetup"
"#,
        tools = tools.display()
    )
}

/// Runs `astha fence-peer` as drbdadm does (resource and peer in the environment) against
/// `socket`; returns its exit status and output.
async fn fence_peer(socket: &Path, peer_node_id: u32, peer: &str, extra: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(ASTHA)
        .arg("fence-peer")
        .arg("--socket")
        .arg(socket)
        .args(extra)
        .env("DRBD_RESOURCE", "asterisk")
        .env("DRBD_PEER_NODE_ID", peer_node_id.to_string())
        .env(format!("DRBD_NODE_ID_{peer_node_id}"), peer)
        .output()
        .await
        .expect("run astha fence-peer");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drbds_fence_peer_handler_is_answered_from_who_holds_the_calls() {
    let mut pair = start_pair_with("fence", &drbd_config_for).await;
    // A's takeover promoted its side of the resource (read as data from the stand-in).
    let s = wait_status(&pair.a, "DRBD Primary on the active", |s| {
        s.drbd
            .as_ref()
            .and_then(|d| d.state.as_deref())
            .is_some_and(|st| st.starts_with("Primary UpToDate"))
    })
    .await;
    println!("a: {:?}", s.drbd);

    // The active Primary lost its replication link: the standby hears it, so it is outdated.
    let (code, out) = fence_peer(&pair.a.socket, 1, "pbx-b", &[]).await;
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("peer outdated") && out.contains("pbx-b (node 1)"),
        "{out}"
    );
    // The standby asked (a promotion attempt by hand): the peer is the active one.
    let (code, out) = fence_peer(&pair.b.socket, 0, "pbx-a", &[]).await;
    assert_eq!(code, 6, "{out}");
    // `astha status` shows the last exchange.
    let s = wait_status(&pair.b, "last fence-peer in status", |s| {
        s.drbd.as_ref().is_some_and(|d| d.last_fence.is_some())
    })
    .await;
    assert!(
        s.drbd.unwrap().last_fence.unwrap().contains("exit 6"),
        "status shows the answer"
    );
    // A resource astha does not manage gets no answer.
    let (code, out) = fence_peer(&pair.a.socket, 1, "pbx-b", &["--resource", "other"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not `other`"), "{out}");

    // The same question through the real drbdadm, which reads the shipped resource file and
    // runs its handler line (`/usr/bin/astha fence-peer`) on host pbx-a.
    match drbd_khelper_unavailable() {
        Some(why) => println!("SKIP the real drbdadm part: {why}"),
        None => {
            let sandbox = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/tools/drbd-khelper-sandbox"
            );
            let resfile = concat!(env!("CARGO_MANIFEST_DIR"), "/../contrib/drbd/asterisk.res");
            let status = tokio::process::Command::new(sandbox)
                .args(["pbx-a", resfile, ASTHA])
                .arg(&pair.a.socket)
                .args(["fence-peer", "asterisk"])
                .env("DRBD_PEER_NODE_ID", "1")
                .status()
                .await
                .unwrap();
            assert_eq!(
                status.code(),
                Some(4),
                "real drbdadm passes the handler's answer on"
            );
        }
    }

    // No daemon, no answer: exit 1 (DRBD keeps I/O frozen), never a guess.
    if let Some(mut child) = pair.b.child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (code, out) = fence_peer(&pair.b.socket, 0, "pbx-a", &["--wait-ms", "600"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no answer from the daemon"), "{out}");
    // A mistyped handler line exits 1 too, never clap's 3 ("peer Inconsistent" to DRBD).
    let (code, out) = fence_peer(&pair.b.socket, 0, "pbx-a", &["--bogus"]).await;
    assert_eq!(code, 1, "{out}");
}

/// Sets the DRBD stand-in's state of `side` (KEY=VALUE lines, as tests/tools/fake-drbd reads them).
fn set_drbd_state(dir: &Path, side: &str, state: &str) {
    let (node_id, peer_id, peer) = if side == "a" {
        (0, 1, "pbx-b")
    } else {
        (1, 0, "pbx-a")
    };
    let role = std::fs::read_to_string(dir.join(format!("drbd-{side}/state/asterisk.state")))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("role="))
        .unwrap_or("role=Secondary")
        .to_owned();
    // Whole-file replacement: the stand-in never sees half a state.
    let file = dir.join(format!("drbd-{side}/state/asterisk.state"));
    let tmp = file.with_extension("new");
    std::fs::write(
        &tmp,
        format!("node_id={node_id}\npeer_node_id={peer_id}\npeer_name={peer}\n{role}\n{state}"),
    )
    .unwrap();
    std::fs::rename(&tmp, &file).unwrap();
}

/// The takeover records in `side`'s journal.
fn journal(dir: &Path, side: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(format!("state-{side}/takeovers.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["kind"] == "takeover")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_standby_refuses_the_takeover_and_says_why() {
    let pair = start_pair_with("outdated", &drbd_config_for).await;
    // B's disk was outdated (it fell behind A): a handover must not promote it.
    set_drbd_state(&pair.dir.0, "b", "disk=Outdated\n");
    let (code, out) = pair.a.cli(&["failover", "--reason", "maintenance"]).await;
    assert_eq!(code, 0, "{out}");
    let s = wait_status(&pair.b, "B's takeover refused at DRBD", |s| {
        s.last_takeover
            .as_ref()
            .is_some_and(|t| t.outcome.starts_with("failed at drbd"))
    })
    .await;
    let outcome = s.last_takeover.unwrap().outcome;
    assert!(
        outcome.contains("local disk of volume 0 is Outdated"),
        "{outcome}"
    );
    let records = journal(&pair.dir.0, "b");
    let failed = records.last().expect("a takeover record");
    assert_eq!(failed["failed_step"], "drbd", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is Outdated: the peer has newer data"),
        "{failed}"
    );
    assert!(
        !std::fs::read_to_string(pair.dir.0.join("drbd-b/state/calls"))
            .unwrap_or_default()
            .contains("drbdadm primary"),
        "no promotion was even tried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_takeover_promotes_past_an_unreachable_peer_and_the_journal_says_so() {
    let mut pair = start_pair_with("forced", &drbd_config_for).await;
    // A is gone for the peer link and for DRBD, but its Asterisk still answers B's probes: no
    // automatic takeover (a broken link, not a dead server); the operator decides.
    if let Some(mut child) = pair.a.child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let dir = pair.dir.0.clone();
    set_drbd_state(
        &dir,
        "b",
        "conn=Connecting\npeer_role=Unknown\npeer_disk=DUnknown\n",
    );
    // The stand-in kernel asks the fence-peer handler before promoting past the unreachable
    // peer: through the real drbdadm and the shipped resource file where possible.
    let real_handler = drbd_khelper_unavailable().is_none();
    if real_handler {
        drbd_stand_in(
            &dir.join("drbd-b"),
            "ok",
            &common::drbd_khelper_sandbox("pbx-b", ASTHA, &pair.b.socket),
        );
    } else {
        println!(
            "the stand-in skips the fence-peer handler: {:?}",
            drbd_khelper_unavailable()
        );
        set_drbd_state(
            &dir,
            "b",
            "conn=Connecting\npeer_role=Unknown\npeer_disk=DUnknown\nfencing=dont-care\n",
        );
    }
    wait_status(&pair.b, "A silent", |s| s.peer.links_up.is_empty()).await;
    let (code, out) = pair
        .b
        .cli(&["failover", "--force", "--reason", "pbx-a is gone"])
        .await;
    assert_eq!(code, 0, "{out}");
    wait_status(&pair.b, "B active with DRBD Primary", |s| {
        s.node.role == "active"
            && s.drbd
                .as_ref()
                .and_then(|d| d.state.as_deref())
                .is_some_and(|st| st.starts_with("Primary"))
    })
    .await;
    let record = journal(&dir, "b").pop().expect("a takeover record");
    let drbd_step = record["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["step"] == "drbd"))
        .cloned()
        .unwrap_or_default();
    let note = drbd_step["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("fenced: operator forced the takeover (--force): pbx-a is gone"),
        "{record}"
    );
    if real_handler {
        let calls = std::fs::read_to_string(dir.join("drbd-b/state/calls")).unwrap_or_default();
        assert!(calls.contains("fence-peer asterisk -> 7"), "{calls}");
    }
}
