//! The caller's view: SIP OPTIONS every 20 ms and ICMP pings every 10 ms from the client namespace to the floating IP.
//!
//! Both record the wall-clock time of every answer, so the outage a caller sees is the
//! longest gap between two answers around a fault, measured from outside the servers.

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::netns::{CLIENT, FLOATING_IP};
use super::process::{Proc, Stdio2};
use super::HarnessError;
use crate::sip::options_request;

/// Time between two SIP OPTIONS requests.
pub const SIP_INTERVAL: Duration = Duration::from_millis(20);

/// Seconds since the Unix epoch, as a float (the resolution `ping -D` prints).
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs `f` on a new thread whose network namespace is `netns_path`.
pub fn spawn_in_netns<F>(
    netns_path: &Path,
    f: F,
) -> Result<std::thread::JoinHandle<()>, HarnessError>
where
    F: FnOnce() + Send + 'static,
{
    let ns = File::open(netns_path).map_err(|source| HarnessError::Io {
        what: format!("open {}", netns_path.display()),
        source,
    })?;
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        // setns changes only this thread's namespace: sockets it opens live in `ns`.
        let entered = nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET);
        let ok = entered.is_ok();
        let _ = tx.send(entered.map_err(std::io::Error::from));
        if ok {
            f();
        }
    });
    match rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(source)) => Err(HarnessError::Io {
            what: format!("setns into {}", netns_path.display()),
            source,
        }),
        Err(_) => Err(HarnessError::Protocol {
            what: "netns thread".into(),
            detail: "exited before entering the namespace".into(),
        }),
    }
}

/// Answer times (Unix seconds) of one probe kind.
pub type Answers = Arc<Mutex<Vec<f64>>>;

/// The client's two probes; stopped on drop.
#[derive(Debug)]
pub struct ClientProbe {
    stop: Arc<AtomicBool>,
    sip_answers: Answers,
    /// Answers that came from another address than the floating IP's SIP port, and when.
    foreign_answers: Arc<Mutex<Vec<(f64, SocketAddr)>>>,
    sip_sent: Arc<Mutex<u64>>,
    ping_answers: Answers,
    ping: Option<Proc>,
    sip_thread: Option<std::thread::JoinHandle<()>>,
}

impl ClientProbe {
    /// Starts probing the floating IP from the client namespace.
    pub fn start(
        client_ns: &str,
        client_path: &Path,
        log_dir: &Path,
    ) -> Result<ClientProbe, HarnessError> {
        let stop = Arc::new(AtomicBool::new(false));
        let sip_answers: Answers = Arc::default();
        let sip_sent = Arc::new(Mutex::new(0u64));
        let foreign_answers: Arc<Mutex<Vec<(f64, SocketAddr)>>> = Arc::default();
        let sip_thread = {
            let stop = Arc::clone(&stop);
            let answers = Arc::clone(&sip_answers);
            let foreign = Arc::clone(&foreign_answers);
            let sent = Arc::clone(&sip_sent);
            spawn_in_netns(client_path, move || {
                sip_loop(&stop, &answers, &foreign, &sent)
            })?
        };
        let mut ping = Proc::spawn(
            "client-ping",
            Some(client_ns),
            // Line-buffered, so answers are seen while the test runs (the stamps come from ping).
            Path::new("stdbuf"),
            &[
                "-oL",
                "ping",
                "-D",
                "-n",
                "-i",
                "0.01",
                &FLOATING_IP.to_string(),
            ]
            .map(String::from),
            log_dir,
            Stdio2::Pipe,
        )?;
        let ping_answers: Answers = Arc::default();
        if let Some(lines) = ping.take_lines() {
            let answers = Arc::clone(&ping_answers);
            std::thread::spawn(move || {
                for line in lines {
                    if let Some(t) = parse_ping_reply(&line) {
                        lock(&answers).push(t);
                    }
                }
            });
        }
        Ok(ClientProbe {
            stop,
            sip_answers,
            foreign_answers,
            sip_sent,
            ping_answers,
            ping: Some(ping),
            sip_thread: Some(sip_thread),
        })
    }

    /// SIP answer times so far.
    pub fn sip_answers(&self) -> Vec<f64> {
        lock(&self.sip_answers).clone()
    }

    /// Ping answer times so far.
    pub fn ping_answers(&self) -> Vec<f64> {
        lock(&self.ping_answers).clone()
    }

    /// SIP answers (time, source) that did not come from the floating IP's port 5060: phones
    /// and carriers reject those.
    pub fn foreign_answers(&self) -> Vec<(f64, SocketAddr)> {
        self.foreign_answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests sent so far.
    pub fn sip_sent(&self) -> u64 {
        *self.sip_sent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last SIP answer time, if any.
    pub fn last_sip_answer(&self) -> Option<f64> {
        lock(&self.sip_answers).last().copied()
    }

    /// Outages seen by the client since `since` (Unix seconds), up to now.
    pub fn outage_since(&self, since: f64) -> ClientOutage {
        let now = now_unix();
        ClientOutage {
            sip_s: longest_gap(&self.sip_answers(), since, now),
            ping_s: longest_gap(&self.ping_answers(), since, now),
        }
    }
}

impl Drop for ClientProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(mut p) = self.ping.take() {
            p.kill();
        }
        if let Some(t) = self.sip_thread.take() {
            let _ = t.join();
        }
    }
}

/// The longest time without an answer, in seconds, for SIP and ping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientOutage {
    pub sip_s: f64,
    pub ping_s: f64,
}

fn lock(a: &Answers) -> std::sync::MutexGuard<'_, Vec<f64>> {
    a.lock().unwrap_or_else(|p| p.into_inner())
}

/// Longest gap between consecutive answers within `[since, until]`, counting the gap that
/// spans `since` (from the last answer before it) and an open gap up to `until`.
pub fn longest_gap(answers: &[f64], since: f64, until: f64) -> f64 {
    let mut prev = answers
        .iter()
        .copied()
        .filter(|t| *t <= since)
        .fold(None, |_, t| Some(t))
        .unwrap_or(since);
    let mut longest = 0.0f64;
    for &t in answers.iter().filter(|t| **t > since && **t <= until) {
        longest = longest.max(t - prev);
        prev = t;
    }
    longest.max(until - prev)
}

/// `[1764138000.123456] 64 bytes from 10.77.0.100: icmp_seq=1 ttl=64 time=0.05 ms`
fn parse_ping_reply(line: &str) -> Option<f64> {
    if !line.contains(" bytes from ") || line.contains("DUP!") {
        return None;
    }
    let stamp = line.strip_prefix('[')?.split(']').next()?;
    stamp.parse().ok()
}

fn sip_loop(
    stop: &AtomicBool,
    answers: &Answers,
    foreign: &Mutex<Vec<(f64, SocketAddr)>>,
    sent: &Mutex<u64>,
) {
    let Ok(socket) = UdpSocket::bind(SocketAddr::from((CLIENT, 0))) else {
        return;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(2)));
    let target = SocketAddr::from((FLOATING_IP, 5060));
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut seq: u64 = 0;
    let mut next_send = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        if std::time::Instant::now() >= next_send {
            seq += 1;
            let request = options_request("astha-harness", seq, local, target);
            let _ = socket.send_to(request.as_bytes(), target);
            *sent.lock().unwrap_or_else(|p| p.into_inner()) = seq;
            next_send += SIP_INTERVAL;
        }
        // The read timeout paces this loop (2 ms), so a reply is stamped within ~2 ms.
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let reply = String::from_utf8_lossy(&buf[..n]);
            if reply.starts_with("SIP/2.0 200") && reply.contains("Call-ID: astha-harness-") {
                let at = now_unix();
                lock(answers).push(at);
                if from != target {
                    foreign
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((at, from));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_include_the_span_across_the_fault_and_an_open_end() {
        let answers = [1.0, 1.02, 1.04, 2.5, 2.52];
        assert!((longest_gap(&answers, 1.03, 3.0) - 1.46).abs() < 1e-9);
        // No answer since the fault: the gap is open until `until`.
        assert!((longest_gap(&answers, 2.6, 4.0) - 1.48).abs() < 1e-9);
    }

    #[test]
    fn ping_lines_are_parsed_and_duplicates_ignored() {
        let ok = "[1764138000.123456] 64 bytes from 10.77.0.100: icmp_seq=1 ttl=64 time=0.05 ms";
        assert_eq!(parse_ping_reply(ok), Some(1_764_138_000.123_456));
        assert_eq!(parse_ping_reply(&format!("{ok} (DUP!)")), None);
        assert_eq!(
            parse_ping_reply("From 10.77.0.10 icmp_seq=3 Destination Host Unreachable"),
            None
        );
    }
}
