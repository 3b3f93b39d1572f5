//! When a SIGSTOPped Asterisk has really stopped: every one of its threads in state `T`, which on a saturated host comes long after the signal.
//!
//! SIGSTOP stops a process thread by thread: each thread stops when it next runs in the kernel.
//! An Asterisk carrying 200 calls has about 400 threads, and on a host whose CPUs are all busy
//! the last of them waited in the run queue for up to 459 ms (100 hangs); until then it still
//! answers some of what it is asked. A detection time measured from the signal then charges
//! the watcher for time the Asterisk was still working, so the benches also measure from the
//! moment the hang was complete.

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::harness::client::now_unix;
use crate::harness::thread_look::{become_looker, thread_state};
use crate::harness::HarnessError;

/// How often the threads are looked at.
const LOOK_EVERY: Duration = Duration::from_millis(2);

/// When a hang was asked for and when it took hold, as Unix times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupStop {
    /// Just before SIGSTOP was sent.
    pub signalled: f64,
    /// The last look that still found a thread not stopped (`signalled` if none did): the hang
    /// was complete at most one look ([`LOOK_EVERY`] plus the reading of the threads) after
    /// this, never before it, so a detection measured from it is, if anything, too long.
    pub complete: f64,
}

/// Sends SIGSTOP to `pid` and waits (up to `within`) until every one of its threads has stopped.
pub fn stop_all_threads(pid: Pid, within: Duration) -> Result<GroupStop, HarnessError> {
    // A thread of its own, so that its real-time priority ends with it; the signal is sent from
    // it too, so that the stamp before it is not late either.
    std::thread::spawn(move || {
        // Looks that come late only widen the gap between `complete` and the last thread's
        // stop; `complete` stays a time at which a thread was still running.
        become_looker();
        let signalled = now_unix();
        kill(pid, Signal::SIGSTOP).map_err(|e| HarnessError::Io {
            what: format!("SIGSTOP to {pid}"),
            source: std::io::Error::from(e),
        })?;
        let deadline = Instant::now() + within;
        let mut complete = signalled;
        loop {
            let looked_at = now_unix();
            match running_threads(pid)? {
                0 => {
                    return Ok(GroupStop {
                        signalled,
                        complete,
                    })
                }
                running if Instant::now() > deadline => {
                    return Err(HarnessError::Protocol {
                        what: format!("process {pid}"),
                        detail: format!(
                            "{running} of its threads still not stopped {within:?} after SIGSTOP"
                        ),
                    })
                }
                _ => complete = looked_at,
            }
            std::thread::sleep(LOOK_EVERY);
        }
    })
    .join()
    .unwrap_or_else(|_| {
        Err(HarnessError::Protocol {
            what: format!("process {pid}"),
            detail: "the thread stopping it panicked".into(),
        })
    })
}

/// How many threads of `pid` are not stopped (a thread that exits meanwhile is not counted).
fn running_threads(pid: Pid) -> Result<usize, HarnessError> {
    let dir = format!("/proc/{pid}/task");
    let tasks = std::fs::read_dir(&dir).map_err(|source| HarnessError::Io {
        what: format!("read {dir}"),
        source,
    })?;
    Ok(tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .filter(|stat| thread_state(stat).is_some_and(|state| state != 'T'))
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_child_is_seen_stopped_and_a_running_one_is_not() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
        assert_eq!(running_threads(pid).unwrap(), 1);
        let before = now_unix();
        let stop = stop_all_threads(pid, Duration::from_secs(10)).unwrap();
        assert!(before <= stop.signalled, "{stop:?} vs {before}");
        assert!(
            stop.signalled <= stop.complete && stop.complete <= now_unix(),
            "{stop:?}"
        );
        assert_eq!(running_threads(pid).unwrap(), 0);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
