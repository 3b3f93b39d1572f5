//! The kernel signal behind `probe::starvation`, on a real cgroup: a process kept off its CPU by a real-time hog shows as starved; the same process stopped (a hang) does not.
//!
//! Needs root and cgroup v2 with pressure information (skipped otherwise, saying why).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use astha::probe::starvation::CpuPressure;

/// The CPU both the watched process and the hog are pinned to.
const CPU: &str = "0";
/// How long the real-time hog holds the CPU (the kernel still leaves other tasks 5 % of it).
const HOG: Duration = Duration::from_millis(600);

struct Cgroup(PathBuf);

impl Cgroup {
    fn create() -> Result<Cgroup, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("needs root".into());
        }
        let base = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .into_iter()
            .map(Path::new)
            .find(|b| b.join("cgroup.procs").exists() && b.join("cpu.pressure").exists())
            .ok_or("no cgroup v2 hierarchy with pressure information")?;
        let dir = base.join(format!("astha-starvation-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        Ok(Cgroup(dir))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A busy loop on [`CPU`]: always runnable, as a busy Asterisk thread is.
fn busy_loop() -> Child {
    Command::new("taskset")
        .args(["-c", CPU, "sh", "-c", "while :; do :; done"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the busy loop")
}

/// A SCHED_FIFO busy loop on [`CPU`] for [`HOG`]: nothing else of normal priority runs there.
fn hog() {
    let seconds = format!("{:.1}", HOG.as_secs_f64());
    // `timeout` at a higher real-time priority than the loop, or it never runs again to end it.
    let status = Command::new("taskset")
        .args(["-c", CPU, "chrt", "-f", "60", "timeout", &seconds])
        .args(["chrt", "-f", "50", "sh", "-c", "while :; do :; done"])
        .status()
        .expect("run the real-time hog");
    // `timeout` ends it with 124.
    assert!(status.code() == Some(124), "hog: {status}");
}

#[test]
fn a_process_kept_off_its_cpu_is_starved_and_a_stopped_one_is_not() {
    let cgroup = match Cgroup::create() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("SKIP: {why}");
            return;
        }
    };
    let mut target = busy_loop();
    let pid = target.id();
    std::fs::write(cgroup.0.join("cgroup.procs"), pid.to_string()).expect("join the cgroup");
    let mut pressure = CpuPressure::at(&cgroup.0);

    pressure.since_last().expect("read");
    hog();
    let starved = pressure.since_last().expect("read");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .expect("SIGSTOP");
    pressure.since_last().expect("read");
    hog();
    let stopped = pressure.since_last().expect("read");

    let _ = target.kill();
    let _ = target.wait();
    println!("hog of {HOG:?}: running process starved {starved:?}, stopped process {stopped:?}");
    assert!(
        starved >= HOG / 2,
        "a runnable process kept off its CPU for {HOG:?} showed only {starved:?} of starvation"
    );
    assert!(
        stopped <= HOG / 10,
        "a stopped process showed {stopped:?} of starvation: a hang would be given time"
    );
}
