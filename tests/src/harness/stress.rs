//! Hostile conditions for the loaded-host scenarios: a saturated host (stress-ng: every core, memory, disk I/O) and a lossy peer link (nftables dropping a share of the datagrams at random).
//!
//! The namespaces of a pair share the machine's CPUs, memory and disk: a load started "on A"
//! (in A's namespace) loads B too. [`HostLoad::pinned`] narrows it to some CPUs with `taskset`.

use std::path::Path;
use std::time::Duration;

use super::firewall::DropTable;
use super::netns::{Topology, CROSS_A, CROSS_B, PEER_LAN_A, PEER_LAN_B};
use super::process::{Proc, Stdio2};
use super::{HarnessError, Host};

/// What stress-ng loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSpec {
    /// CPU hogs: 0 means one per CPU (every core busy).
    pub cpu_workers: u32,
    /// Workers that keep touching `vm_bytes` of memory each (memory pressure); 0 for none.
    pub vm_workers: u32,
    pub vm_bytes: String,
    /// Workers writing and reading files (disk I/O bursts); 0 for none.
    pub io_workers: u32,
    /// CPUs to run on (`taskset -c`), or all.
    pub cpus: Option<String>,
}

impl LoadSpec {
    /// Every core busy, 10 % of the memory kept hot, a writer and a mixed-I/O worker.
    pub fn saturated() -> LoadSpec {
        LoadSpec {
            cpu_workers: 0,
            vm_workers: 1,
            vm_bytes: "10%".into(),
            io_workers: 1,
            cpus: None,
        }
    }

    /// The stress-ng arguments for `duration`, its temporary files under `dir`.
    pub fn args(&self, duration: Duration, dir: &Path) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--cpu".into(),
            self.cpu_workers.to_string(),
            "--timeout".into(),
            format!("{}s", duration.as_secs().max(1)),
            "--temp-path".into(),
            dir.display().to_string(),
            "--metrics-brief".into(),
        ];
        if self.vm_workers > 0 {
            args.extend([
                "--vm".into(),
                self.vm_workers.to_string(),
                "--vm-bytes".into(),
                self.vm_bytes.clone(),
                "--vm-keep".into(),
            ]);
        }
        if self.io_workers > 0 {
            args.extend([
                "--hdd".into(),
                self.io_workers.to_string(),
                "--hdd-bytes".into(),
                "128M".into(),
                "--iomix".into(),
                self.io_workers.to_string(),
                "--iomix-bytes".into(),
                "64M".into(),
            ]);
        }
        args
    }
}

/// A running stress-ng; stopped (its whole process group) on drop.
#[derive(Debug)]
pub struct HostLoad {
    proc: Proc,
}

impl HostLoad {
    /// Starts `spec` for `duration` in `netns` (or the test's own), logging to `dir/stress-ng.log`.
    pub fn start(
        spec: &LoadSpec,
        netns: Option<&str>,
        duration: Duration,
        dir: &Path,
    ) -> Result<HostLoad, HarnessError> {
        let work = dir.join("stress-ng.tmp");
        std::fs::create_dir_all(&work).map_err(|source| HarnessError::Io {
            what: format!("create {}", work.display()),
            source,
        })?;
        let mut args = spec.args(duration, &work);
        let program = match &spec.cpus {
            Some(cpus) => {
                args.splice(0..0, ["-c".into(), cpus.clone(), "stress-ng".into()]);
                "taskset"
            }
            None => "stress-ng",
        };
        let proc = Proc::spawn(
            "stress-ng",
            netns,
            Path::new(program),
            &args,
            dir,
            Stdio2::Log,
        )?;
        Ok(HostLoad { proc })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Whether stress-ng is still loading (it exits at its timeout).
    pub fn running(&mut self) -> bool {
        !self.proc.has_exited()
    }
}

/// Drops a share of the datagrams between the two servers' peer-link addresses, at random, in
/// both directions (nftables `numgen random` in each server's namespace). Removed on drop.
#[derive(Debug)]
pub struct LinkLoss {
    tables: Vec<DropTable>,
}

impl LinkLoss {
    /// Drops `percent` % of the UDP datagrams each server sends to the other's peer-link addresses.
    pub fn start(topo: &Topology, percent: u32) -> Result<LinkLoss, HarnessError> {
        let mut tables = Vec::new();
        for (host, targets) in [
            (Host::A, [PEER_LAN_B, CROSS_B]),
            (Host::B, [PEER_LAN_A, CROSS_A]),
        ] {
            let rule = format!(
                "ip daddr {{ {}, {} }} meta l4proto udp numgen random mod 100 < {percent} counter drop",
                targets[0], targets[1]
            );
            tables.push(DropTable::add(
                &topo.name(host),
                "astha_harness_loss",
                "output",
                &[rule],
            )?);
        }
        Ok(LinkLoss { tables })
    }

    /// Datagrams dropped so far (the rules' counters), for the report.
    pub fn dropped(&self) -> u64 {
        self.tables.iter().map(DropTable::dropped).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_saturating_load_busies_every_core_memory_and_disk() {
        let args = LoadSpec::saturated().args(Duration::from_secs(60), Path::new("/tmp/x"));
        let joined = args.join(" ");
        for expected in ["--cpu 0", "--timeout 60s", "--vm 1", "--hdd 1", "--iomix 1"] {
            assert!(joined.contains(expected), "{expected} in {joined}");
        }
    }
}
