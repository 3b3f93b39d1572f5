//! One real Asterisk 22, configured with the shipped files, against `astha probe` and the `astha-asterisk` OCF agent: healthy, hung, with a broken call path, shutting down.
//!
//! Needs root (the instance runs in a network namespace) and an Asterisk (see
//! `astha_tests::asterisk::install`); each test skips with one line without them, or fails
//! when `ASTHA_REQUIRE_ASTERISK=1`. Timings are printed; the bounds are generous.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use astha_tests::asterisk::{AsteriskFault, Install, Instance, InstanceConfig, AMI_USER};
use astha_tests::harness::netns::{LAN_A, LAN_B};
use astha_tests::harness::{require_root, Binaries, Host, Topology};

const SECRET: &str = "real-asterisk-test-secret";

/// A real Asterisk in server A's namespace of a fresh topology, and where its files are.
struct Bed {
    asterisk: Instance,
    topo: Topology,
    dir: PathBuf,
    astha: PathBuf,
}

impl Drop for Bed {
    fn drop(&mut self) {
        // Before its directory (and pid file) goes: the instance finds its process through it.
        let _ = self.asterisk.kill();
        if std::thread::panicking() {
            eprintln!("kept for inspection: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn bed(test: &str, hidden_sounds: &[&str]) -> Option<Bed> {
    if let Err(e) = require_root() {
        eprintln!("SKIP {test}: {e}");
        return None;
    }
    let install = Install::for_test(test)?;
    let astha = Binaries::locate()
        .unwrap_or_else(|e| panic!("{test}: {e}"))
        .astha;
    let topo = Topology::create().unwrap_or_else(|e| panic!("{test}: {e}"));
    let dir = std::env::temp_dir().join(format!("astha-real-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ami.secret"), format!("{SECRET}\n")).unwrap();
    let config = InstanceConfig {
        hidden_sounds: hidden_sounds.iter().map(|s| s.to_string()).collect(),
        ..InstanceConfig::server_a(SECRET, LAN_A)
    };
    let asterisk = Instance::create(
        "asterisk-a",
        &install,
        &config,
        &dir.join("asterisk-a"),
        Some(&topo.name(Host::A)),
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let boot = asterisk.start().unwrap_or_else(|e| panic!("{test}: {e}"));
    eprintln!("{test}: Asterisk fully booted in {} ms", boot.as_millis());
    Some(Bed {
        asterisk,
        topo,
        dir,
        astha,
    })
}

/// What one `astha probe` run reported.
struct ProbeRun {
    exit: i32,
    took: Duration,
    json: serde_json::Value,
}

impl ProbeRun {
    fn probe(&self, kind: &str) -> &serde_json::Value {
        self.json["probes"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["kind"] == kind))
            .unwrap_or_else(|| panic!("no {kind} probe in {}", self.json))
    }

    fn error(&self, kind: &str) -> String {
        self.probe(kind)["error"].as_str().unwrap_or("").to_owned()
    }
}

impl Bed {
    /// `astha probe --ami ... --sip ... --json` inside server A's namespace, as an admin would.
    fn probe(&self, extra: &[&str]) -> ProbeRun {
        let started = Instant::now();
        let out = Command::new("ip")
            .args(["netns", "exec", &self.topo.name(Host::A)])
            .arg(&self.astha)
            .args(["probe", "--json", "--username", AMI_USER])
            .arg("--ami")
            .arg(format!("{LAN_A}:5038"))
            .arg("--secret-file")
            .arg(self.dir.join("ami.secret"))
            .arg("--sip")
            .arg(format!("{LAN_A}:5060"))
            .args(extra)
            .output()
            .expect("run astha probe");
        let took = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "astha probe printed no JSON ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        ProbeRun {
            exit: out.status.code().unwrap_or(-1),
            took,
            json,
        }
    }

    fn assert_healthy(&self, when: &str) -> ProbeRun {
        let run = self.probe(&[]);
        assert_eq!(
            run.exit,
            0,
            "{when}: astha probe should say healthy: {}\n{}",
            run.json,
            self.asterisk.log_tail(15)
        );
        run
    }
}

#[test]
fn astha_probe_finds_a_real_asterisk_with_the_shipped_files_healthy() {
    let Some(bed) = bed("healthy", &[]) else {
        return;
    };
    let run = bed.assert_healthy("freshly booted");
    for kind in ["ping", "core", "call", "sip"] {
        assert_eq!(run.probe(kind)["ok"], true, "{kind}: {}", run.json);
    }
    eprintln!(
        "TIMING astha probe on a healthy Asterisk: {} ms in all, test call {} ms",
        run.took.as_millis(),
        run.probe("call")["latency_ms"]
    );
    // The shipped AMI user, installed with both servers permitted.
    let user = bed.asterisk.cli("manager show user astha").unwrap();
    assert!(user.contains(&format!("allow - {LAN_B}/")), "{user}");
    assert!(user.contains("write perm: reporting,originate"), "{user}");
}

#[test]
fn astha_probe_calls_a_hung_real_asterisk_failed_within_about_the_ping_deadline() {
    let Some(bed) = bed("hung", &[]) else {
        return;
    };
    bed.asterisk.inject(AsteriskFault::Hang).unwrap();
    let run = bed.probe(&[]);
    eprintln!(
        "TIMING astha probe on a hung (SIGSTOPped) Asterisk: exit {} after {} ms",
        run.exit,
        run.took.as_millis()
    );
    assert_eq!(run.exit, 2, "hung means failed: {}", run.json);
    assert_eq!(run.probe("ping")["ok"], false);
    // The ping's 1 s window (banner, login); 5 s was the old behaviour. Generous
    // for a loaded machine.
    assert!(
        run.took < Duration::from_secs(4),
        "took {:?} to call a hung Asterisk failed",
        run.took
    );
    bed.asterisk.heal(AsteriskFault::Hang).unwrap();
    bed.assert_healthy("after SIGCONT");
}

#[test]
fn the_call_probe_fails_unless_the_probe_dialplan_runs_to_its_end() {
    let Some(bed) = bed("call_path", &[]) else {
        return;
    };
    for fault in [
        AsteriskFault::PlaybackUnloaded,
        AsteriskFault::ProbeExtensionRemoved,
    ] {
        bed.asterisk.inject(fault).unwrap();
        let run = bed.probe(&[]);
        assert_eq!(
            run.exit,
            2,
            "{}: the test call must fail: {}",
            fault.name(),
            run.json
        );
        assert_eq!(run.probe("call")["ok"], false, "{}", run.json);
        assert_eq!(run.probe("ping")["ok"], true, "AMI still answers");
        eprintln!("{}: call probe error: {}", fault.name(), run.error("call"));
        bed.asterisk.heal(fault).unwrap();
        bed.assert_healthy(&format!("after healing {}", fault.name()));
    }
}

#[test]
fn the_sip_probe_fails_when_the_sip_stack_hangs_while_ami_answers() {
    let Some(bed) = bed("sip_hung", &[]) else {
        return;
    };
    bed.asterisk.inject(AsteriskFault::SipStackGone).unwrap();
    let run = bed.probe(&["--no-call"]);
    assert_eq!(run.exit, 2, "{}", run.json);
    assert_eq!(
        run.probe("ping")["ok"],
        true,
        "AMI still answers: {}",
        run.json
    );
    assert_eq!(run.probe("sip")["ok"], false, "{}", run.json);
    eprintln!("sip stack hung: sip probe error: {}", run.error("sip"));
    bed.asterisk.heal(AsteriskFault::SipStackGone).unwrap();
    bed.assert_healthy("with the SIP thread running again");
}

#[test]
fn the_call_probe_fails_when_a_sound_file_is_missing() {
    let Some(bed) = bed("missing_sound", &["silence/1"]) else {
        return;
    };
    let run = bed.probe(&[]);
    assert_eq!(run.exit, 2, "{}", run.json);
    assert_eq!(run.probe("call")["ok"], false, "{}", run.json);
    let log = bed.asterisk.log_tail(30);
    assert!(
        log.contains("silence/1"),
        "Asterisk logs the missing file:\n{log}"
    );
    // Without the test call the same Asterisk is healthy: only the call path is broken.
    let run = bed.probe(&["--no-call"]);
    assert_eq!(run.exit, 0, "{}", run.json);
}

#[test]
fn a_real_asterisk_shutting_down_gracefully_is_failed_at_once() {
    let Some(bed) = bed("shutting_down", &[]) else {
        return;
    };
    // A call that keeps a graceful shutdown waiting.
    bed.asterisk
        .cli("channel originate Local/echo@ha-probe application Wait 60")
        .unwrap();
    // `core stop gracefully` blocks its console until the calls are gone: do not wait for it.
    let console = Command::new(bed.asterisk_binary())
        .arg("-C")
        .arg(bed.asterisk.dir().asterisk_conf())
        .args(["-rx", "core stop gracefully"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _console = KillOnDrop(console);
    // Asterisk now refuses every action ("Asterisk is shutting down"): failed at once.
    let run = poll_probe(&bed, &["--no-call"], |r| {
        r.exit == 2 && r.error("ping").contains("shutting down")
    });
    eprintln!("shutting down: ping error: {}", run.error("ping"));
    assert!(run.error("ping").contains("shutting down"), "{}", run.json);
    // ... and answers OPTIONS with 503 (what astha's SIP probe takes as a failure at once).
    let sipsak = Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.topo.name(Host::A),
            "sipsak",
            "-vv",
            "-H",
        ])
        .arg(LAN_A.to_string())
        .arg("-s")
        .arg(format!("sip:{LAN_A}:5060"))
        .output()
        .expect("sipsak (scripts/setup.sh installs it)");
    let answer = String::from_utf8_lossy(&sipsak.stdout);
    assert!(
        answer.contains("SIP/2.0 503"),
        "OPTIONS while shutting down: {answer}"
    );
    bed.asterisk.cli("core abort shutdown").unwrap();
    bed.asterisk.cli("channel request hangup all").unwrap();
    poll_probe(&bed, &[], |r| r.exit == 0);
}

/// Runs `astha probe EXTRA` until `done` holds (at most 20 s).
fn poll_probe(bed: &Bed, extra: &[&str], done: impl Fn(&ProbeRun) -> bool) -> ProbeRun {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = bed.probe(extra);
        if done(&run) || Instant::now() > deadline {
            assert!(done(&run), "never reached: last {}", run.json);
            return run;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Bed {
    fn asterisk_binary(&self) -> PathBuf {
        Install::locate().expect("located before").binary
    }

    /// Runs `contrib/ocf/astha-asterisk ACTION` in server A's namespace; its exit code.
    fn ocf(&self, action: &str, config: &Path) -> (i32, Duration) {
        let agent = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/ocf/astha-asterisk");
        let started = Instant::now();
        let out = Command::new("ip")
            .args(["netns", "exec", &self.topo.name(Host::A)])
            .arg(&agent)
            .arg(action)
            .env("OCF_ROOT", "/usr/lib/ocf")
            .env("OCF_RESOURCE_INSTANCE", "asterisk")
            .env("OCF_RESKEY_astha", &self.astha)
            .env("OCF_RESKEY_config", config)
            .env(
                "OCF_RESKEY_pidfile",
                self.asterisk.dir().run().join("asterisk.pid"),
            )
            .env("HA_RSCTMP", &self.dir)
            .output()
            .expect("run the OCF agent");
        eprintln!(
            "ocf {action}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), started.elapsed())
    }
}

#[test]
fn the_ocf_agent_monitor_passes_a_healthy_and_fails_a_hung_real_asterisk() {
    if !Path::new("/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs").exists() {
        eprintln!("SKIP ocf monitor: resource-agents not installed (scripts/setup.sh installs it)");
        return;
    }
    let Some(bed) = bed("ocf_monitor", &[]) else {
        return;
    };
    // The astha configuration the agent reads: this server is A, its Asterisk the real one.
    let config = bed.dir.join("astha.toml");
    std::fs::write(&config, astha_toml(&bed.dir)).unwrap();
    let (rc, took) = bed.ocf("monitor", &config);
    assert_eq!(rc, 0, "OCF_SUCCESS on a healthy Asterisk");
    eprintln!("TIMING ocf monitor, healthy: {} ms", took.as_millis());
    bed.asterisk.inject(AsteriskFault::Hang).unwrap();
    let (rc, took) = bed.ocf("monitor", &config);
    eprintln!("TIMING ocf monitor, hung: {} ms", took.as_millis());
    assert_eq!(rc, 1, "OCF_ERR_GENERIC on a hung Asterisk");
    bed.asterisk.heal(AsteriskFault::Hang).unwrap();
    let (rc, _) = bed.ocf("monitor", &config);
    assert_eq!(rc, 0, "healthy again after SIGCONT");
    // Pacemaker stops a failed Asterisk before starting it on the other node: a stopped
    // process must not hold the group for the whole stop timeout (60 s here).
    bed.asterisk.inject(AsteriskFault::Hang).unwrap();
    let pid = bed.asterisk.pid().expect("the hung Asterisk's pid");
    let (rc, took) = bed.ocf("stop", &config);
    eprintln!("TIMING ocf stop, hung: {} ms", took.as_millis());
    assert_eq!(rc, 0, "OCF_SUCCESS once a hung Asterisk is stopped");
    // Gone, or a zombie left for this test (its parent) to reap.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = state.rsplit_once(") ").map_or("", |(_, rest)| &rest[..1]);
    assert!(
        state.is_empty() || state == "Z",
        "the hung Asterisk (pid {pid}) is gone after stop (state {state})"
    );
    assert!(
        took < Duration::from_secs(30),
        "stop waited {took:?} on a stopped process (stop timeout 60 s)"
    );
}

fn astha_toml(dir: &Path) -> String {
    format!(
        r#"[node]
side = "a"
name = "real-a"

[peer]
name = "real-b"

[asterisk.a.ami]
address = "{LAN_A}:5038"
username = "{AMI_USER}"
secret_file = "{dir}/ami.secret"

[asterisk.a.sip]
address = "{LAN_A}:5060"

[asterisk.b.ami]
address = "{LAN_B}:5038"
username = "{AMI_USER}"
secret_file = "{dir}/ami.secret"

[peer_link]
key_file = "{dir}/peer.key"
links = [{{ name = "lan", local = "{LAN_A}:7400", remote = "{LAN_B}:7400" }}]

[control]
socket = "{dir}/control.sock"

[state]
dir = "{dir}/state"
"#,
        dir = dir.display()
    )
}
