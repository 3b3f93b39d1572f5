//! What a process's main thread was doing, looked at every 10 ms from outside: time it ran, time it waited for a CPU, and where in the kernel it was blocked — to say why a daemon stalled.
//!
//! A daemon can measure that it woke up late, not why. Linux keeps per-thread counters of both
//! halves (`/proc/PID/task/TID/schedstat`: nanoseconds on a CPU, nanoseconds runnable but
//! waiting for one), and says where a blocked thread sleeps (`stat`'s state `D`, `wchan`, and
//! the kernel `stack`). Sampled at real-time priority, the trace also shows when its own looks
//! came late: then the whole host stalled, not the daemon alone.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::client::now_unix;
use super::thread_look::{become_looker, thread_state};

/// Time between two looks.
const LOOK_EVERY: Duration = Duration::from_millis(10);
/// Looks kept: the last 12 minutes (a soak scenario is 10).
const KEEP: usize = 72_000;
/// A look this much later than planned was itself delayed.
const LATE_LOOK_S: f64 = 0.05;

/// One look at the thread.
#[derive(Debug, Clone)]
struct Look {
    at: f64,
    /// `stat`'s state letter.
    state: char,
    /// Cumulative ns on a CPU, and runnable but waiting for one.
    ran_ns: u64,
    waited_ns: u64,
    /// Where it was blocked, for a thread in `D`: `wchan` and the innermost kernel frames.
    blocked_in: Option<String>,
}

/// A background trace of one thread (see the module documentation); stops when dropped.
#[derive(Debug)]
pub struct SchedTrace {
    name: String,
    looks: Arc<Mutex<VecDeque<Look>>>,
    stop: Arc<AtomicBool>,
}

impl SchedTrace {
    /// Starts tracing the main thread of `pid` (the thread that runs a one-thread daemon's event
    /// loop), called `name` in what it says.
    pub fn start(name: &str, pid: u32) -> SchedTrace {
        let looks = Arc::new(Mutex::new(VecDeque::with_capacity(KEEP)));
        let stop = Arc::new(AtomicBool::new(false));
        let (into, stopped) = (Arc::clone(&looks), Arc::clone(&stop));
        std::thread::spawn(move || {
            // Looks that come late anyway are said to be late (see `breakdown`).
            become_looker();
            let dir = format!("/proc/{pid}/task/{pid}");
            while !stopped.load(Ordering::Relaxed) {
                let Some(look) = look_at(&dir) else { return };
                let mut looks = into.lock().unwrap_or_else(|p| p.into_inner());
                if looks.len() == KEEP {
                    looks.pop_front();
                }
                looks.push_back(look);
                drop(looks);
                std::thread::sleep(LOOK_EVERY);
            }
        });
        SchedTrace {
            name: name.to_owned(),
            looks,
            stop,
        }
    }

    /// What the thread did between the Unix times `from` and `to`: how long it ran, waited for
    /// a CPU and was blocked in the kernel, how late the looks themselves came, and each
    /// episode of at least `min_episode` in which it was not idle (running, waiting for a CPU
    /// or blocked in `D`) with the same breakdown and where it was blocked.
    pub fn explain(&self, from: f64, to: f64, min_episode: Duration) -> String {
        let looks = self.looks.lock().unwrap_or_else(|p| p.into_inner());
        let window: Vec<&Look> = looks
            .iter()
            .filter(|l| l.at >= from && l.at <= to)
            .collect();
        if window.len() < 2 {
            return format!("{}: no looks between those times", self.name);
        }
        let mut s = format!("{}, main thread, {}", self.name, breakdown(&window));
        let mut episode_start: Option<usize> = None;
        for i in 1..=window.len() {
            let busy = i < window.len() && !idle(window[i - 1], window[i]);
            match (busy, episode_start) {
                (true, None) => episode_start = Some(i - 1),
                (false, Some(start)) => {
                    let episode = &window[start..i];
                    if episode[episode.len() - 1].at - episode[0].at >= min_episode.as_secs_f64() {
                        s.push_str(&format!("\n  not idle: {}", breakdown(episode)));
                    }
                    episode_start = None;
                }
                _ => {}
            }
        }
        s
    }
}

/// Whether the thread neither ran, waited for a CPU nor was blocked for most of the time
/// between two looks.
fn idle(a: &Look, b: &Look) -> bool {
    let elapsed_ns = (b.at - a.at) * 1e9;
    let used = b.ran_ns.saturating_sub(a.ran_ns) + b.waited_ns.saturating_sub(a.waited_ns);
    (used as f64) < elapsed_ns / 2.0 && a.state != 'D' && b.state != 'D'
}

/// "FROM-TO (N looks): ran .., waited .., in D at .. looks (where), looks up to .. ms late".
fn breakdown(looks: &[&Look]) -> String {
    let (first, last) = (looks[0], looks[looks.len() - 1]);
    let late_ms = looks
        .windows(2)
        .map(|p| (p[1].at - p[0].at - LOOK_EVERY.as_secs_f64()) * 1000.0)
        .fold(0.0, f64::max);
    let mut places: Vec<&str> = Vec::new();
    for place in looks.iter().filter_map(|l| l.blocked_in.as_deref()) {
        if !places.contains(&place) {
            places.push(place);
        }
    }
    format!(
        "{:.3}-{:.3} ({} looks): ran {} ms, waited for a CPU {} ms, in D at {} looks{}; the looks came up to {:.0} ms late{}",
        first.at,
        last.at,
        looks.len(),
        last.ran_ns.saturating_sub(first.ran_ns) / 1_000_000,
        last.waited_ns.saturating_sub(first.waited_ns) / 1_000_000,
        looks.iter().filter(|l| l.state == 'D').count(),
        if places.is_empty() {
            String::new()
        } else {
            format!(" (in {})", places.join("; "))
        },
        late_ms,
        if late_ms > LATE_LOOK_S * 1000.0 {
            " (the looker, at real-time priority, was held up too: the whole host stalled)"
        } else {
            ""
        }
    )
}

impl Drop for SchedTrace {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One look at the thread whose `/proc` directory is `dir`; None once it is gone.
fn look_at(dir: &str) -> Option<Look> {
    let at = now_unix();
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let schedstat = std::fs::read_to_string(format!("{dir}/schedstat")).ok()?;
    let state = thread_state(&stat)?;
    let mut counters = schedstat.split_whitespace().map(|n| n.parse::<u64>().ok());
    let (ran_ns, waited_ns) = (counters.next()??, counters.next()??);
    let blocked_in = (state == 'D').then(|| {
        let wchan = std::fs::read_to_string(format!("{dir}/wchan")).unwrap_or_default();
        let stack = std::fs::read_to_string(format!("{dir}/stack")).unwrap_or_default();
        let frames: Vec<&str> = stack
            .lines()
            .take(6)
            .filter_map(|l| l.split_whitespace().nth(1))
            .collect();
        format!("{wchan} [{}]", frames.join(" < "))
    });
    Some(Look {
        at,
        state,
        ran_ns,
        waited_ns,
        blocked_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Traces `program` for 20 looks and returns the milliseconds it ran, and what was said.
    fn ran_ms(program: &str, args: &[&str]) -> (u64, String) {
        let mut child = std::process::Command::new(program)
            .args(args)
            .spawn()
            .unwrap();
        let trace = SchedTrace::start("traced", child.id());
        let from = now_unix();
        crate::harness::poll("20 looks", Duration::from_secs(10), LOOK_EVERY, || {
            let looks = trace.looks.lock().unwrap();
            (looks.iter().filter(|l| l.at >= from).count() >= 20).then_some(())
        })
        .unwrap();
        let said = trace.explain(from, now_unix(), Duration::from_millis(100));
        child.kill().unwrap();
        child.wait().unwrap();
        let ran = said
            .split("ran ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{said}"));
        (ran, said)
    }

    #[test]
    fn a_busy_thread_is_seen_running_and_a_sleeping_one_not() {
        let (busy, said) = ran_ms("sh", &["-c", "while :; do :; done"]);
        assert!(busy > 0, "{said}");
        assert!(said.starts_with("traced, main thread"), "{said}");
        let (sleeping, said) = ran_ms("sleep", &["30"]);
        assert_eq!(sleeping, 0, "{said}");
    }
}
