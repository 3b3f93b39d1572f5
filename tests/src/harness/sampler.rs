//! Samples both daemons' roles and who holds the floating IP every 50 ms, to judge split brain over a whole scenario.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::client::now_unix;
use super::control::astha_status;
use super::netns::FLOATING_IP;
use super::HarnessError;

/// Time between two samples.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Both nodes at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub at: f64,
    /// Role of A and B (`None`: the daemon did not answer).
    pub role: [Option<String>; 2],
    pub term: [Option<u64>; 2],
    /// Whether A and B have the floating IP configured.
    pub holds_ip: [bool; 2],
    /// Whether the harness had cut that server off the LAN at that instant.
    pub isolated: [bool; 2],
}

impl Sample {
    /// Two nodes that can both reach the network and both act as the active one.
    pub fn is_split_brain(&self) -> bool {
        if self.isolated[0] || self.isolated[1] {
            // A node cut off the LAN cannot take calls nor reach the relay: it is fenced.
            return false;
        }
        let both_active = self.role.iter().all(|r| r.as_deref() == Some("active"));
        let both_ip = self.holds_ip[0] && self.holds_ip[1];
        both_active || both_ip
    }
}

/// The background sampler; stops on drop.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling. `netns` are the two servers' namespace paths, `sockets` their control
    /// sockets, `isolated` the harness's flags for cut-off servers.
    pub fn start(
        netns: [PathBuf; 2],
        sockets: [PathBuf; 2],
        isolated: Arc<[AtomicBool; 2]>,
    ) -> Result<Sampler, HarnessError> {
        let open = |p: &PathBuf| {
            File::open(p).map_err(|source| HarnessError::Io {
                what: format!("open {}", p.display()),
                source,
            })
        };
        let ns = [open(&netns[0])?, open(&netns[1])?];
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = Arc::clone(&stop);
            let samples = Arc::clone(&samples);
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let at = now_unix();
                    let views = [
                        astha_status(&sockets[0]).ok(),
                        astha_status(&sockets[1]).ok(),
                    ];
                    let ips = [holds_ip(&ns[0]), holds_ip(&ns[1])];
                    let mut sample = Sample {
                        at,
                        role: views.clone().map(|v| v.map(|v| v.role)),
                        term: views.map(|v| v.map(|v| v.term)),
                        holds_ip: ips,
                        isolated: [
                            isolated[0].load(Ordering::SeqCst),
                            isolated[1].load(Ordering::SeqCst),
                        ],
                    };
                    // A is read before B: during a handover A may have been active when read and
                    // have released by the time B is read active. A is read again after B; only
                    // if it still acts as active did the two overlap.
                    if sample.is_split_brain() {
                        let again = astha_status(&sockets[0]).ok();
                        sample.role[0] = again.as_ref().map(|v| v.role.clone());
                        sample.term[0] = again.map(|v| v.term);
                        sample.holds_ip[0] = holds_ip(&ns[0]);
                    }
                    samples
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(sample);
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
        };
        Ok(Sampler {
            stop,
            samples,
            thread: Some(thread),
        })
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Samples showing split brain so far.
    pub fn split_brain(&self) -> Vec<Sample> {
        self.samples()
            .into_iter()
            .filter(Sample::is_split_brain)
            .collect()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether the namespace `ns` has the floating IP; this thread enters `ns` to look.
fn holds_ip(ns: &File) -> bool {
    if nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
        return false;
    }
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    addrs
        .filter_map(|a| a.address)
        .filter_map(|a| a.as_sockaddr_in().map(|s| s.ip()))
        .any(|ip| ip == FLOATING_IP)
}
