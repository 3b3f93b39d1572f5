//! The shipped unit, `contrib/systemd/astha.service`, judged by systemd itself: `systemd-analyze verify`, and astha run by a real systemd (PID 1 of its own namespaces, `tests/tools/systemd-sandbox`) — Type=notify readiness, the watchdog, reload, restart, no private mount namespace, and a takeover whose DRBD mount (a real ext4 on a loop device) the whole host sees.

mod common;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use astha::status::StatusReport;
use common::{drbd_stand_in, LoopDevice, Scratch};

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../contrib/systemd/astha.service"
);
const SANDBOX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/tools/systemd-sandbox"
);
const ASTHA: &str = env!("CARGO_BIN_EXE_astha");
/// Generous: the machine running CI is small and shared.
const SETTLE: Duration = Duration::from_secs(60);

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why these tests cannot run here, if they cannot.
fn unavailable(programs: &[&str]) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (overlay mounts and namespaces)".into());
    }
    programs
        .iter()
        .find(|p| !have(p))
        .map(|p| format!("`{p}` is not installed"))
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `systemd-analyze verify UNIT` where /usr/bin/astha is the binary under test and its man
/// page is installed (both as the Debian package installs them), in a private mount namespace.
fn verify(unit: &Path, scratch: &Scratch) -> (bool, String) {
    let dir = &scratch.0;
    for d in ["bin", "bin-work", "man", "man-work"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let _ = std::fs::remove_file(dir.join("bin/astha"));
    std::os::unix::fs::symlink(ASTHA, dir.join("bin/astha")).unwrap();
    let man = Command::new(ASTHA).arg("man").output().unwrap();
    assert!(man.status.success());
    std::fs::write(dir.join("man/astha.1"), man.stdout).unwrap();
    let script = r#"
        mount --make-rprivate /
        mount -t overlay overlay -o "lowerdir=/usr/bin,upperdir=$1/bin,workdir=$1/bin-work" /usr/bin
        mount -t overlay overlay -o "lowerdir=/usr/share/man/man1,upperdir=$1/man,workdir=$1/man-work" /usr/share/man/man1
        systemd-analyze verify "$2"
    "#;
    run(Command::new("unshare")
        .args(["--mount", "--", "bash", "-euc", script, "verify"])
        .arg(dir)
        .arg(unit))
}

#[test]
fn systemd_analyze_verify_accepts_the_shipped_unit() {
    if let Some(why) = unavailable(&["systemd-analyze", "unshare"]) {
        println!("SKIP systemd_analyze_verify_accepts_the_shipped_unit: {why}");
        return;
    }
    let scratch = Scratch::new("verify");
    let (ok, output) = verify(Path::new(UNIT), &scratch);
    assert!(ok, "systemd-analyze verify failed:\n{output}");
    assert!(output.trim().is_empty(), "verify complained:\n{output}");
    // The check can fail: the same file with a mistyped directive does.
    let text = std::fs::read_to_string(UNIT).unwrap();
    let broken = scratch.write("astha.service", &text.replace("Type=notify", "Type=notfy"));
    let (_, output) = verify(&broken, &scratch);
    assert!(output.contains("notfy"), "{output}");
}

/// systemd as PID 1 of a sandbox; everything in it dies with it.
struct Sandbox {
    run: PathBuf,
    launcher: Child,
    systemd: i32,
}

impl Sandbox {
    fn boot(run: &Path, target: &str) -> Sandbox {
        let log = std::fs::File::create(run.join("systemd.log")).unwrap();
        let launcher = Command::new(SANDBOX)
            .arg(run)
            .arg(target)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start systemd-sandbox");
        // The launcher script becomes `unshare`, whose only child ends up exec'ing systemd.
        let launcher_pid = launcher.id();
        let comm =
            |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let children = format!("/proc/{launcher_pid}/task/{launcher_pid}/children");
        let started = Instant::now();
        let systemd = loop {
            if comm(&launcher_pid.to_string()).trim() == "unshare" {
                let found = std::fs::read_to_string(&children).unwrap_or_default();
                if let Some(pid) = found.split_whitespace().next() {
                    if comm(pid).trim() == "systemd" {
                        break pid.parse().unwrap();
                    }
                }
            }
            assert!(
                started.elapsed() < SETTLE,
                "systemd did not start: {}",
                std::fs::read_to_string(run.join("systemd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Sandbox {
            run: run.to_path_buf(),
            launcher,
            systemd,
        }
    }

    /// `PROGRAM ARGS` inside the mount and PID namespaces of `pid` (a process of the sandbox).
    fn inside(pid: &str, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", pid, "-m", "-p", "--", program]);
        cmd
    }

    /// `systemctl ARGS` inside the sandbox.
    fn systemctl(&self, args: &[&str]) -> (bool, String) {
        run(Self::inside(&self.systemd.to_string(), "systemctl").args(args))
    }

    fn show(&self, property: &str) -> String {
        let (_, out) = self.systemctl(&["show", "astha.service", "-p", property, "--value"]);
        out.trim().to_owned()
    }

    /// The service's main PID, as the sandbox's PID namespace numbers it.
    fn main_pid(&self) -> i32 {
        self.show("MainPID").parse().unwrap_or(0)
    }

    /// A `/proc/<pid>/…` path of a process of the sandbox (its own procfs, seen through PID 1's root).
    fn proc_path(&self, pid: i32, rest: &str) -> String {
        format!("/proc/{}/root/proc/{pid}/{rest}", self.systemd)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.run.join("astha.log")).unwrap_or_default()
    }

    /// Polls `what` until it holds; panics with the daemon's log otherwise.
    fn wait(&self, what: &str, mut check: impl FnMut(&Sandbox) -> bool) {
        let started = Instant::now();
        while !check(self) {
            assert!(
                started.elapsed() < SETTLE,
                "{what}: not within {SETTLE:?}\nsystemctl status: {}\n--- astha log ---\n{}",
                self.systemctl(&["status", "astha.service", "--no-pager"]).1,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `astha status --json` over the daemon's default control socket, inside the sandbox.
    fn status(&self) -> Option<StatusReport> {
        let socket = format!("/proc/{}/root/run/astha/control.sock", self.systemd);
        let out = Command::new(ASTHA)
            .args(["status", "--json", "--socket", &socket])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// Whether `mountpoint` is in the mount table of the sandbox's PID 1: what every process of
    /// that host, Asterisk included, sees.
    fn host_sees_mount(&self, mountpoint: &Path) -> bool {
        let table = std::fs::read_to_string(format!("/proc/{}/mountinfo", self.systemd))
            .unwrap_or_default();
        let wanted = mountpoint.display().to_string();
        table
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(wanted.as_str()))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.systemd),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.launcher.wait();
        // The sandbox's cgroup empties once every process in it is gone.
        if let Ok(cgroup) = std::fs::read_to_string(self.run.join("cgroup")) {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                let _ = Command::new("find")
                    .args([
                        cgroup.trim(),
                        "-depth",
                        "-type",
                        "d",
                        "-exec",
                        "rmdir",
                        "{}",
                        ";",
                    ])
                    .stderr(Stdio::null())
                    .status();
                if !Path::new(cgroup.trim()).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A loopback TCP address nobody listens on: the peer's Asterisk, which is dead.
fn closed_tcp() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Where the replicated file system is mounted, as the sandbox sees it (created in its /var).
const MOUNTPOINT: &str = "/var/spool/asterisk";

fn write_config(run: &Path, ami: SocketAddr, sip: SocketAddr, drbd: &Path, loop_dev: &str) {
    let etc = run.join("etc/astha");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("ami.secret"), "hasecret\n").unwrap();
    let key = etc.join("peer.key");
    std::fs::write(&key, [0x42u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = format!(
        r#"
[node]
side = "a"
name = "pbx-a"
peer_name = "pbx-b"

[asterisk.a.ami]
address = "{ami}"
username = "hasidecar"
secret_file = "ami.secret"

[asterisk.a.sip]
address = "{sip}"

[asterisk.b.ami]
address = "{dead}"
username = "hasidecar"
secret_file = "ami.secret"

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

[actuate.drbd]
resource = "asterisk"
drbdadm = "{drbd}/drbdadm"
drbdsetup = "{drbd}/drbdsetup"

[actuate.drbd.mount]
device = "{loop_dev}"
mountpoint = "{mnt}"
fstype = "ext4"

[actuate.asterisk]
mode = "warm"
start_command = ["true"]
stop_command = ["true"]
status_command = ["true"]
"#,
        dead = closed_tcp(),
        local = free_udp(),
        remote = free_udp(),
        drbd = drbd.display(),
        mnt = MOUNTPOINT,
    );
    std::fs::write(etc.join("astha.toml"), config).unwrap();
}

fn write_units(run: &Path) {
    let units = run.join("units");
    std::fs::create_dir_all(units.join("astha.service.d")).unwrap();
    // The shipped file itself, not a copy.
    std::os::unix::fs::symlink(UNIT, units.join("astha.service")).unwrap();
    std::fs::write(
        units.join("astha.service.d/sandbox.conf"),
        format!(
            "# Test settings, as an administrator's drop-in would set them: a short watchdog (the\n\
             # mechanism is under test, not the 10 s), the log in a file (no journald here).\n\
             [Service]\nWatchdogSec=2s\nTimeoutAbortSec=2s\n\
             StandardOutput=append:{log}\nStandardError=append:{log}\n",
            log = run.join("astha.log").display()
        ),
    )
    .unwrap();
    // The targets every service depends on by default (a restart needs them): empty here.
    for target in ["sysinit", "basic", "shutdown", "network-online"] {
        std::fs::write(
            units.join(format!("{target}.target")),
            "[Unit]\nDefaultDependencies=no\n",
        )
        .unwrap();
    }
    // Runs before the takeover, in a mount namespace of its own, as some Asterisk units do.
    std::fs::write(
        units.join("asterisk-standin.service"),
        "[Unit]\nDescription=stands in for an Asterisk unit with PrivateTmp=\nDefaultDependencies=no\n\
         [Service]\nExecStart=/bin/sleep infinity\nPrivateTmp=yes\n",
    )
    .unwrap();
    // Started after the takeover, also with a namespace of its own: what does it see there?
    std::fs::write(
        units.join("mount-check.service"),
        format!(
            "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nPrivateTmp=yes\nExecStart=findmnt -n -o SOURCE {MOUNTPOINT}\n\
             StandardOutput=truncate:{out}\n",
            out = run.join("mount-check.out").display()
        ),
    )
    .unwrap();
    std::fs::write(
        units.join("astha-sandbox.target"),
        "[Unit]\nDescription=astha under a real systemd\nWants=astha.service asterisk-standin.service\n",
    )
    .unwrap();
    std::fs::create_dir_all(run.join("usr-bin")).unwrap();
    std::os::unix::fs::symlink(ASTHA, run.join("usr-bin/astha")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_unit_runs_astha_under_a_real_systemd() {
    if let Some(why) = unavailable(&["unshare", "nsenter", "losetup", "mkfs.ext4", "findmnt"])
        .or_else(|| {
            (!Path::new("/lib/systemd/systemd").exists())
                .then(|| "systemd is not installed".to_owned())
        })
    {
        println!("SKIP the_shipped_unit_runs_astha_under_a_real_systemd: {why}");
        return;
    }
    let scratch = Scratch::new("systemd");
    let dir = scratch.0.clone();
    let asterisk = common::emulator(common::fast_config()).await;
    let disk = LoopDevice::new(dir.join("drbd0.img"));
    // Created in the overlay's upper directory of /var.
    let under_var = MOUNTPOINT.strip_prefix("/var/").expect("under /var");
    std::fs::create_dir_all(dir.join("var").join(under_var)).unwrap();
    let drbd = dir.join("drbd");
    drbd_stand_in(&drbd, "ok", "");
    std::fs::write(
        drbd.join("state/asterisk.state"),
        "node_id=0\npeer_node_id=1\npeer_name=pbx-b\n",
    )
    .unwrap();
    write_config(
        &dir,
        asterisk.ami_addr(),
        asterisk.sip_addr().expect("emulator SIP"),
        &drbd,
        &disk.device,
    );
    write_units(&dir);
    let sandbox = Sandbox::boot(&dir, "astha-sandbox.target");

    // Type=notify: active only once astha said READY=1 (its STATUS= text shows it was astha).
    sandbox.wait("astha.service active", |s| {
        s.systemctl(&["is-active", "astha.service"]).1.trim() == "active"
    });
    let status_text = sandbox.show("StatusText");
    assert!(status_text.starts_with("standby, term"), "{status_text}");
    let pid = sandbox.main_pid();
    assert!(pid > 0);

    // No mount namespace of its own: astha's mounts are the host's.
    let astha_ns = std::fs::read_link(sandbox.proc_path(pid, "ns/mnt")).unwrap();
    let host_ns = std::fs::read_link(format!("/proc/{}/ns/mnt", sandbox.systemd)).unwrap();
    assert_eq!(astha_ns, host_ns, "astha runs in a private mount namespace");

    // Responsive on a saturated host: real-time round robin (reset for its children), the
    // OOM killer's last choice.
    let stat = std::fs::read_to_string(sandbox.proc_path(pid, "stat")).unwrap();
    // Fields after the command name (which ends with the last ')'): state is field 3, so
    // rt_priority (40) and policy (41) are at 37 and 38 of the remainder.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    assert_eq!(fields[38], "2", "policy (SCHED_RR = 2) in {stat}");
    assert_eq!(fields[37], "10", "rt_priority in {stat}");
    // systemd applies OOMScoreAdjust= where it may (a container without CAP_SYS_RESOURCE
    // refuses it and systemd goes on); the unit carries it either way.
    assert_eq!(sandbox.show("OOMScoreAdjust"), "-900");
    let oom = std::fs::read_to_string(sandbox.proc_path(pid, "oom_score_adj")).unwrap();
    assert!(["-900", "0"].contains(&oom.trim()), "oom_score_adj {oom}");

    // The peer is dead: astha takes over, promotes DRBD and mounts the file system.
    let mnt = Path::new(MOUNTPOINT);
    sandbox.wait("takeover with DRBD mounted", |s| {
        s.status().is_some_and(|st| {
            st.node.role == "active" && st.drbd.as_ref().is_some_and(|d| d.mounted)
        })
    });
    assert!(
        sandbox.host_sees_mount(mnt),
        "the host does not see the mount"
    );
    // A service that was already running in a namespace of its own sees it (systemd's shared
    // root propagates it there).
    let standin = sandbox
        .systemctl(&[
            "show",
            "asterisk-standin.service",
            "-p",
            "MainPID",
            "--value",
        ])
        .1;
    let (ok, out) = run(Sandbox::inside(&sandbox.systemd.to_string(), "nsenter")
        .args([
            "-t",
            standin.trim(),
            "-m",
            "--",
            "findmnt",
            "-n",
            "-o",
            "SOURCE",
        ])
        .arg(mnt));
    assert!(
        ok && out.trim() == disk.device,
        "the running service's view: {out}"
    );
    // A service started afterwards with a namespace of its own (PrivateTmp=, as some Asterisk
    // units have) sees it too.
    let (ok, out) = sandbox.systemctl(&["start", "mount-check.service"]);
    assert!(ok, "{out}");
    let seen = std::fs::read_to_string(dir.join("mount-check.out")).unwrap_or_default();
    assert_eq!(seen.trim(), disk.device, "a new service's view");

    // Reload: SIGHUP through ExecReload, same process, still active.
    let (ok, out) = sandbox.systemctl(&["reload", "astha.service"]);
    assert!(ok, "{out}");
    sandbox.wait("reload logged", |s| {
        s.log().contains("configuration reloaded")
    });
    assert_eq!(sandbox.main_pid(), pid);

    // The watchdog: astha keeps it fed for several periods ...
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(7) {
        assert_eq!(
            sandbox.main_pid(),
            pid,
            "restarted while healthy:\n{}",
            sandbox.log()
        );
        assert_eq!(sandbox.show("NRestarts"), "0");
        std::thread::sleep(Duration::from_millis(250));
    }
    // ... and a daemon that stops answering is killed and restarted by it.
    let (ok, out) = sandbox.systemctl(&[
        "kill",
        "--kill-whom=main",
        "--signal=SIGSTOP",
        "astha.service",
    ]);
    assert!(ok, "{out}");
    sandbox.wait("watchdog restart", |s| {
        s.show("NRestarts") == "1"
            && s.main_pid() != pid
            && s.systemctl(&["is-active", "astha.service"]).1.trim() == "active"
    });

    // Restart by hand: a new process, ready again.
    let before = sandbox.main_pid();
    let (ok, out) = sandbox.systemctl(&["restart", "astha.service"]);
    assert!(ok, "{out}");
    sandbox.wait("active after restart", |s| {
        s.main_pid() != before && s.systemctl(&["is-active", "astha.service"]).1.trim() == "active"
    });
    drop(sandbox);
    drop(asterisk);
}
