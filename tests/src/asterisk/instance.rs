//! A running real Asterisk instance: started, stopped and queried through small scripts (the same ones astha's cold standby runs), its console (`asterisk -rx`), and its process.
//!
//! The instance runs daemonized inside a network namespace, exactly as `start.sh` in its
//! directory starts it; `stop.sh` and `status.sh` stop and query it. astha's
//! `[actuate.asterisk]` commands can point at the same scripts, so the harness and a cold
//! standby start Asterisk the same way. The process is found through its pid file and checked
//! against its command line, so nothing else is ever signalled; dropping the instance kills it.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::config::{InstanceConfig, InstanceDir};
use super::freeze::FrozenThread;
use super::install::Install;
use crate::harness::{poll, HarnessError};

/// How long a boot may take on a loaded machine (about 1 s on an idle one).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one console command may take (a stopped Asterisk never answers).
pub const CLI_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

/// One Asterisk instance with its own configuration directory.
#[derive(Debug)]
pub struct Instance {
    name: String,
    install: Install,
    dir: InstanceDir,
    netns: Option<String>,
    /// When `core restart now` was last asked for (a restart keeps the pid).
    restart_requested: Mutex<Option<Instant>>,
    /// The last pid seen, so dropping the instance kills it even once the pid file is gone.
    last_pid: Mutex<Option<i32>>,
    /// Threads held stopped (a hung subsystem); they run on when released or dropped.
    frozen: Mutex<Vec<FrozenThread>>,
    /// The instance's own cgroup (v2), as systemd gives `asterisk.service` one: `start.sh`
    /// joins it, and astha reads its CPU pressure. None where no cgroup v2 can be created.
    cgroup: Option<OwnCgroup>,
}

impl Instance {
    /// Writes `config` under `root` and the start/stop/status scripts; starts nothing.
    /// `netns`: the namespace the instance runs in (`None`: the current one).
    pub fn create(
        name: &str,
        install: &Install,
        config: &InstanceConfig,
        root: &Path,
        netns: Option<&str>,
    ) -> Result<Instance, HarnessError> {
        let dir = config.write(install, root)?;
        let cgroup = own_cgroup(root);
        let instance = Instance {
            name: name.to_owned(),
            install: install.clone(),
            dir,
            netns: netns.map(str::to_owned),
            restart_requested: Mutex::new(None),
            last_pid: Mutex::new(None),
            frozen: Mutex::new(Vec::new()),
            cgroup,
        };
        instance.write_scripts()?;
        Ok(instance)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cgroup the instance runs in (see `cgroup`), if the host has cgroup v2.
    pub fn cgroup(&self) -> Option<&Path> {
        self.cgroup.as_ref().map(|c| c.visible.as_path())
    }

    pub fn dir(&self) -> &InstanceDir {
        &self.dir
    }

    /// `start.sh`: starts the instance (daemonized) in its namespace.
    pub fn start_script(&self) -> PathBuf {
        self.dir.root.join("start.sh")
    }

    /// `stop.sh`: `core stop now`, and SIGKILL if it is still there after 5 s.
    pub fn stop_script(&self) -> PathBuf {
        self.dir.root.join("stop.sh")
    }

    /// `status.sh`: exit 0 while the process runs, 3 when it does not (LSB).
    pub fn status_script(&self) -> PathBuf {
        self.dir.root.join("status.sh")
    }

    fn write_scripts(&self) -> Result<(), HarnessError> {
        let bin = self.install.binary.display();
        let conf = self.dir.asterisk_conf();
        let conf = conf.display();
        let pidfile = self.dir.run().join("asterisk.pid");
        let pidfile = pidfile.display();
        let enter = match &self.netns {
            Some(ns) => format!("ip netns exec {ns} "),
            None => String::new(),
        };
        // The pid is only trusted when that process runs this instance's configuration.
        let find_pid = |absent: u8| {
            format!(
                "pid=$(cat {pidfile} 2>/dev/null) || exit {absent}\n\
                 grep -qF -- '{conf}' /proc/\"$pid\"/cmdline 2>/dev/null || exit {absent}\n"
            )
        };
        let name = &self.name;
        let join_cgroup = match &self.cgroup {
            Some(cg) => format!("echo $$ > {}/cgroup.procs\n", cg.dir.display()),
            None => String::new(),
        };
        let scripts = [
            (
                self.start_script(),
                format!(
                    "#!/bin/sh\n# Starts Asterisk instance {name} (daemonized).\n\
                     {join_cgroup}exec {enter}{bin} -n -C {conf}\n"
                ),
            ),
            (
                self.stop_script(),
                format!(
                    "#!/bin/sh\n# Stops Asterisk instance {name}: core stop now, SIGKILL after 5 s (at once if it is\n# stopped: it cannot act on the request; the console client is killed if it hangs on it).\n\
                     {find}\
                     case $(sed 's/.*) //' /proc/\"$pid\"/stat | cut -d' ' -f1) in T|t) kill -KILL \"$pid\"; exit 0 ;; esac\n\
                     timeout -k 1 5 {bin} -C {conf} -rx 'core stop now' >/dev/null 2>&1\n\
                     for _ in $(seq 50); do kill -0 \"$pid\" 2>/dev/null || exit 0; sleep 0.1; done\n\
                     kill -KILL \"$pid\"\n",
                    find = find_pid(0),
                ),
            ),
            (
                self.status_script(),
                format!(
                    "#!/bin/sh\n# Exit 0 while Asterisk instance {name} runs, 3 otherwise.\n\
                     {find}\
                     kill -0 \"$pid\" 2>/dev/null || exit 3\n",
                    find = find_pid(3),
                ),
            ),
        ];
        for (path, text) in scripts {
            std::fs::write(&path, text)
                .and_then(|()| {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                })
                .map_err(|source| HarnessError::Io {
                    what: format!("write {}", path.display()),
                    source,
                })?;
        }
        Ok(())
    }

    /// Starts the instance and waits until it is fully booted; returns the boot time.
    pub fn start(&self) -> Result<Duration, HarnessError> {
        let started = Instant::now();
        self.spawn()?;
        self.wait_fully_booted(BOOT_TIMEOUT)?;
        // Remembered for the drop (see `last_pid`).
        let _ = self.pid();
        Ok(started.elapsed())
    }

    /// Starts the instance without waiting for it.
    pub fn spawn(&self) -> Result<(), HarnessError> {
        // A console socket left by a killed instance would let `wait_fully_booted` talk to
        // nothing; Asterisk replaces it, but only once it gets there.
        let _ = std::fs::remove_file(self.dir.ctl());
        run_script(&self.start_script(), Duration::from_secs(10))
    }

    /// Waits until the console answers `core waitfullybooted`.
    pub fn wait_fully_booted(&self, timeout: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        poll(
            &format!("{} to create {}", self.name, self.dir.ctl().display()),
            timeout,
            POLL,
            || self.dir.ctl().exists().then_some(()),
        )
        .map_err(|e| self.with_log(e))?;
        // The socket file exists a moment before Asterisk listens on it (a busy machine widens
        // that gap): a refused console connection is retried until the deadline.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.cli_within("core waitfullybooted", left.max(Duration::from_secs(1))) {
                Ok(_) => return Ok(()),
                Err(HarnessError::Command { stderr, .. })
                    if stderr.contains("Unable to connect to remote asterisk")
                        && Instant::now() < deadline
                        && self.is_running() =>
                {
                    std::thread::sleep(POLL);
                }
                Err(e) => return Err(self.with_log(e)),
            }
        }
    }

    /// Runs one console command (`asterisk -rx`) and returns its output.
    pub fn cli(&self, command: &str) -> Result<String, HarnessError> {
        self.cli_within(command, CLI_TIMEOUT)
    }

    /// [`Instance::cli`] with its own deadline (a stopped process never answers).
    pub fn cli_within(&self, command: &str, timeout: Duration) -> Result<String, HarnessError> {
        // The console socket is a file: no need to enter the namespace.
        let mut cmd = Command::new(&self.install.binary);
        cmd.arg("-C")
            .arg(self.dir.asterisk_conf())
            .arg("-rx")
            .arg(command);
        let what = format!("asterisk -rx '{command}' ({})", self.name);
        let (ok, stdout, stderr) = run_with_timeout(cmd, timeout, &what)?;
        // `-rx` exits 0 even for an unknown command; Asterisk says so in the output.
        let failed = !ok
            || stdout.contains("Unable to connect to remote asterisk")
            || stdout.contains("No such command")
            || stdout
                .lines()
                .any(|l| l.starts_with("Command '") && l.ends_with("' failed."));
        if failed {
            return Err(HarnessError::Command {
                command: what,
                status: if ok { "exit 0".into() } else { "failed".into() },
                stderr: format!("{}{}", stdout.trim(), stderr.trim()),
            });
        }
        Ok(stdout)
    }

    /// The pid of the running instance (from its pid file, checked against its command line).
    /// An Asterisk started inside a pid namespace (a Pacemaker node of the failover benchmark)
    /// writes its pid as that namespace sees it: then the process whose innermost pid it is.
    pub fn pid(&self) -> Option<Pid> {
        let text = std::fs::read_to_string(self.dir.run().join("asterisk.pid")).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        let cached = *self.last_pid.lock().unwrap_or_else(|p| p.into_inner());
        let pid = if self.runs_our_config(pid) {
            pid
        } else if let Some(host) =
            cached.filter(|&host| innermost_pid(host) == Some(pid) && self.runs_our_config(host))
        {
            // The remembered process, checked with two reads of its own: scanning every process
            // reads their command lines, which waits for each one's memory map lock and took
            // over a second on a host under memory pressure (stress-ng), delaying a fault
            // injection measured from before it.
            host
        } else {
            self.host_pid_of(pid)?
        };
        *self.last_pid.lock().unwrap_or_else(|p| p.into_inner()) = Some(pid);
        Some(Pid::from_raw(pid))
    }

    /// The process running this instance's configuration whose innermost pid (the last
    /// `NSpid` of its status) is `inner`.
    fn host_pid_of(&self, inner: i32) -> Option<i32> {
        std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .find(|&pid| innermost_pid(pid) == Some(inner) && self.runs_our_config(pid))
    }

    /// Whether process `pid` runs this instance's configuration (a pid may be reused).
    fn runs_our_config(&self, pid: i32) -> bool {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        let conf = self.dir.asterisk_conf();
        let conf = conf.to_string_lossy();
        cmdline.split(|b| *b == 0).any(|arg| arg == conf.as_bytes())
    }

    /// Whether the process exists (a stopped, i.e. hung, process counts as running).
    pub fn is_running(&self) -> bool {
        self.pid().is_some_and(|pid| {
            // A zombie has exited; it only waits for its parent to reap it.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(") ")
                        .and_then(|(_, rest)| rest.chars().next())
                })
                .is_some_and(|state| state != 'Z')
        })
    }

    /// Sends `signal` to the instance's process.
    pub fn signal(&self, signal: Signal) -> Result<(), HarnessError> {
        let pid = self.pid().ok_or_else(|| HarnessError::Protocol {
            what: self.name.clone(),
            detail: format!("not running, cannot send {signal}"),
        })?;
        kill(pid, signal).map_err(|e| HarnessError::Io {
            what: format!("{signal} to {} ({pid})", self.name),
            source: std::io::Error::from(e),
        })
    }

    /// Stops the instance (`stop.sh`) and waits until the process is gone.
    pub fn stop(&self) -> Result<(), HarnessError> {
        run_script(&self.stop_script(), Duration::from_secs(15))?;
        poll(
            &format!("{} to exit", self.name),
            Duration::from_secs(10),
            POLL,
            || (!self.is_running()).then_some(()),
        )
    }

    /// SIGKILL, and waits until the process is gone.
    pub fn kill(&self) -> Result<(), HarnessError> {
        if self.pid().is_some() {
            self.signal(Signal::SIGKILL)?;
        }
        poll(
            &format!("{} to die", self.name),
            Duration::from_secs(10),
            POLL,
            || (!self.is_running()).then_some(()),
        )
    }

    /// Stops the instance's thread named `name` (the rest runs on) until [`Instance::thaw_threads`].
    pub fn freeze_thread(&self, name: &str) -> Result<(), HarnessError> {
        let pid = self.pid().ok_or_else(|| HarnessError::Protocol {
            what: self.name.clone(),
            detail: format!("not running, cannot stop its thread {name}"),
        })?;
        let frozen = FrozenThread::freeze(pid, name)?;
        self.frozen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(frozen);
        Ok(())
    }

    /// Lets every thread stopped by [`Instance::freeze_thread`] run on.
    pub fn thaw_threads(&self) {
        self.frozen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Records that a restart was just asked for (see [`Instance::last_restart`]).
    pub(super) fn note_restart(&self) {
        *self
            .restart_requested
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// When `core restart now` was last asked for.
    pub(super) fn last_restart(&self) -> Option<Instant> {
        *self
            .restart_requested
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The last `lines` lines of Asterisk's own log.
    pub fn log_tail(&self, lines: usize) -> String {
        crate::harness::file_tail(&self.dir.messages(), lines)
    }

    /// The SIP messages Asterisk refused to parse, as its log names them (pjproject's
    /// "Dropping ... packet from ...: PJSIP syntax error"): a scenario of the harness that sends
    /// malformed requests shows up here, not as a failed call (sipp takes a retransmitted answer
    /// to the INVITE for the answer to its BYE).
    pub fn refused_sip(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.messages()).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("Dropping") && l.contains("syntax error"))
            .map(str::to_owned)
            .collect()
    }

    fn with_log(&self, e: HarnessError) -> HarnessError {
        HarnessError::Exited {
            name: format!("{} ({e})", self.name),
            log: self.dir.messages(),
            tail: self.log_tail(20),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let last = *self.last_pid.lock().unwrap_or_else(|p| p.into_inner());
        let pid = self.pid().or_else(|| {
            last.filter(|pid| self.runs_our_config(*pid))
                .map(Pid::from_raw)
        });
        if let Some(pid) = pid {
            let _ = kill(pid, Signal::SIGKILL);
        }
        if let Some(cg) = &self.cgroup {
            cg.remove();
        }
    }
}

/// A cgroup of the instance's own, and where processes in a network namespace see it.
#[derive(Debug)]
struct OwnCgroup {
    /// The cgroup's directory in the cgroup v2 hierarchy.
    dir: PathBuf,
    /// The same directory bind-mounted in the temp directory: `ip netns exec` mounts a fresh
    /// /sys for the namespace, which hides the cgroup hierarchy from a daemon run in it.
    visible: PathBuf,
}

impl OwnCgroup {
    fn remove(&self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.visible)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir(&self.visible);
        // Empty once the killed process is reaped (its parent, init or the harness, does so at
        // once): a few tries, then it is left for the machine's next boot.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A fresh cgroup (v2) for the instance whose files live under `root`, or None when the host has
/// no writable cgroup v2 (the unified hierarchy at /sys/fs/cgroup, or its `unified` mount on a
/// hybrid host).
fn own_cgroup(root: &Path) -> Option<OwnCgroup> {
    let base = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(Path::new)
        .find(|b| b.join("cgroup.procs").exists() && b.join("cpu.pressure").exists())?;
    let label = root.to_string_lossy().replace('/', "-");
    let dir = base.join(format!("astha{label}"));
    std::fs::create_dir_all(&dir).ok()?;
    // Outside the instance's files, so that removing them never meets a mount point (a
    // directory tree removed before the instance is dropped stopped at the mount and stayed).
    let visible = std::env::temp_dir().join(format!("astha-cgroup{label}"));
    let cgroup = OwnCgroup { dir, visible };
    let mounted = std::fs::create_dir_all(&cgroup.visible).is_ok()
        && Command::new("mount")
            .arg("--bind")
            .arg(&cgroup.dir)
            .arg(&cgroup.visible)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if mounted && cgroup.visible.join("cpu.pressure").exists() {
        Some(cgroup)
    } else {
        cgroup.remove();
        None
    }
}

fn run_script(script: &Path, timeout: Duration) -> Result<(), HarnessError> {
    let what = script.display().to_string();
    let (ok, stdout, stderr) = run_with_timeout(Command::new(script), timeout, &what)?;
    if ok {
        Ok(())
    } else {
        Err(HarnessError::Command {
            command: what,
            status: "failed".into(),
            stderr: format!("{}{}", stdout.trim(), stderr.trim()),
        })
    }
}

/// Runs `cmd` to completion within `timeout` (killing it otherwise): (success, stdout, stderr).
fn run_with_timeout(
    mut cmd: Command,
    timeout: Duration,
    what: &str,
) -> Result<(bool, String, String), HarnessError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HarnessError::Spawn {
            program: what.to_owned(),
            source,
        })?;
    // Read both pipes on threads so a chatty command cannot block on a full pipe.
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HarnessError::Timeout {
                    what: what.to_owned(),
                    waited: timeout,
                });
            }
            Err(source) => {
                return Err(HarnessError::Io {
                    what: format!("wait for {what}"),
                    source,
                })
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok((status.success(), stdout, stderr))
}

/// Process `pid`'s pid in its innermost pid namespace (the last `NSpid` of its status).
fn innermost_pid(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}
