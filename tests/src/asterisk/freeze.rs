//! Stops one named thread of a running process, the rest running on: a hung subsystem (PJSIP's `SIP` thread) in a live Asterisk.
//!
//! SIGSTOP stops every thread of a process; ptrace can stop a single one (`PTRACE_SEIZE`, then
//! `PTRACE_INTERRUPT`). The ptrace requests must come from the thread that attached, so each
//! frozen thread has a tracer thread of its own, which detaches (the thread runs on) when the
//! [`FrozenThread`] is dropped or the test process ends.

use std::sync::mpsc;

use nix::sys::ptrace;
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

use crate::harness::HarnessError;

/// A thread held stopped; dropping this lets it run again.
#[derive(Debug)]
pub struct FrozenThread {
    release: Option<mpsc::Sender<()>>,
    tracer: Option<std::thread::JoinHandle<()>>,
}

impl FrozenThread {
    /// Stops the thread of `pid` whose name (`/proc/PID/task/TID/comm`) is `name`.
    pub fn freeze(pid: Pid, name: &str) -> Result<FrozenThread, HarnessError> {
        let tid = find_thread(pid, name)?;
        let (release, released) = mpsc::channel::<()>();
        let (stopped_tx, stopped) = mpsc::channel();
        let tracer = std::thread::spawn(move || {
            let result = ptrace::seize(tid, ptrace::Options::empty())
                .and_then(|()| ptrace::interrupt(tid))
                .and_then(|()| waitpid(tid, Some(WaitPidFlag::__WALL)).map(|_| ()));
            let ok = result.is_ok();
            let _ = stopped_tx.send(result);
            if ok {
                // Until released (or the FrozenThread is dropped: the sender goes away).
                let _ = released.recv();
                let _ = ptrace::detach(tid, None);
            }
        });
        match stopped.recv() {
            Ok(Ok(())) => Ok(FrozenThread {
                release: Some(release),
                tracer: Some(tracer),
            }),
            Ok(Err(e)) => Err(HarnessError::Io {
                what: format!("stop thread {name} ({tid}) of {pid} with ptrace"),
                source: std::io::Error::from(e),
            }),
            Err(_) => Err(HarnessError::Protocol {
                what: format!("stop thread {name} of {pid}"),
                detail: "the tracer thread ended".into(),
            }),
        }
    }
}

impl Drop for FrozenThread {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
        if let Some(tracer) = self.tracer.take() {
            let _ = tracer.join();
        }
    }
}

/// The id of `pid`'s thread named `name`.
fn find_thread(pid: Pid, name: &str) -> Result<Pid, HarnessError> {
    let dir = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&dir).map_err(|source| HarnessError::Io {
        what: format!("list {dir}"),
        source,
    })?;
    entries
        .filter_map(Result::ok)
        .find(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .and_then(|e| e.file_name().to_str()?.parse().ok())
        .map(Pid::from_raw)
        .ok_or_else(|| HarnessError::Protocol {
            what: format!("process {pid}"),
            detail: format!("has no thread named {name:?}"),
        })
}
