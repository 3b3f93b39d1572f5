//! Time this host gave its Asterisk no CPU at all (its cgroup's CPU pressure, "full"), so that a starved Asterisk is not judged hung.
//!
//! On a saturated host a healthy Asterisk can be kept off the CPU for over a second: every one
//! of its runnable threads waits in the run queue while other work runs. Its silence then looks
//! like a hang, and the calls would be moved for nothing. Linux measures exactly this per cgroup
//! (pressure stall information, `cpu.pressure`): the `full` line counts the time during which
//! *every* non-idle task of the cgroup was waiting for a CPU. A hung Asterisk adds nothing to it:
//! a stopped process has no runnable task, and a deadlocked thread sleeps on its lock. So the
//! local Asterisk's probe deadlines are moved by the `full` time, as astha's own stalls are
//! ([`super::lag`]), up to a bound per silence ([`Monitor::starved`](super::Monitor::starved)):
//! a deadlock whose other threads still run on a saturated host is judged later by at most that.
//!
//! Only the daemon on the Asterisk's own host can read this; the peer's Asterisk is judged without.
//! The cgroup exists only while Asterisk runs (systemd removes a stopped unit's): until it can be
//! read, and after Asterisk stops, nothing is given back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use super::runner::TargetSignal;

/// How often the pressure is read: the part of a starvation not yet given back when a deadline
/// is judged is at most this long.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Where systemd puts `asterisk.service`: the unified hierarchy (cgroup v2), or its `unified`
/// mount on a hybrid host.
const AUTO_CANDIDATES: [&str; 2] = [
    "/sys/fs/cgroup/system.slice/asterisk.service",
    "/sys/fs/cgroup/unified/system.slice/asterisk.service",
];

/// Why the CPU pressure of a cgroup cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StarvationError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has no `full ... total=` line (a kernel without per-cgroup CPU pressure?)")]
    NoFullLine { path: PathBuf },
}

/// The `cpu.pressure` file of one cgroup, and the `full` total last read from it.
#[derive(Debug)]
pub struct CpuPressure {
    file: PathBuf,
    /// None until read (and again after a failed read: a recreated cgroup starts from zero).
    last_us: Option<u64>,
}

impl CpuPressure {
    /// The pressure of the cgroup directory `cgroup` (read from the first call on).
    pub fn at(cgroup: &Path) -> CpuPressure {
        CpuPressure {
            file: cgroup.join("cpu.pressure"),
            last_us: None,
        }
    }

    /// `asterisk.service` in the first of systemd's usual places whose `system.slice` exists
    /// (the unit's own cgroup appears when it starts).
    pub fn auto() -> Option<CpuPressure> {
        AUTO_CANDIDATES
            .iter()
            .map(Path::new)
            .find(|dir| dir.parent().is_some_and(Path::is_dir))
            .map(CpuPressure::at)
    }

    /// How long every task of the cgroup waited for a CPU since the previous successful read
    /// (zero at the first).
    pub fn since_last(&mut self) -> Result<Duration, StarvationError> {
        let now = read_full_total(&self.file).inspect_err(|_| self.last_us = None)?;
        let delta = self.last_us.map_or(0, |last| now.saturating_sub(last));
        self.last_us = Some(now);
        Ok(Duration::from_micros(delta))
    }

    /// Reads the pressure every [`SAMPLE_EVERY`] and tells the monitor each starvation as
    /// [`TargetSignal::Starved`]. Ends when the monitor is gone. While the file cannot be read
    /// (Asterisk stopped, its cgroup removed) nothing is given back; each change is logged once.
    pub fn spawn_sampler(
        mut self,
        signals: mpsc::UnboundedSender<TargetSignal>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SAMPLE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut readable = None;
            loop {
                every.tick().await;
                let result = self.since_last();
                if readable != Some(result.is_ok()) {
                    match &result {
                        Ok(_) => tracing::info!(
                            file = %self.file.display(),
                            "the local Asterisk's CPU starvation is given back to its probes"
                        ),
                        Err(e) => tracing::info!(
                            "{e}: the local Asterisk's CPU starvation is not given back while \
                             it cannot be read (Asterisk not running?)"
                        ),
                    }
                    readable = Some(result.is_ok());
                }
                if let Ok(starved) = result {
                    if !starved.is_zero() && signals.send(TargetSignal::Starved(starved)).is_err() {
                        return;
                    }
                }
            }
        })
    }
}

fn read_full_total(file: &Path) -> Result<u64, StarvationError> {
    let text = std::fs::read_to_string(file).map_err(|source| StarvationError::Read {
        path: file.to_owned(),
        source,
    })?;
    parse_full_total(&text).ok_or_else(|| StarvationError::NoFullLine {
        path: file.to_owned(),
    })
}

/// The `total=` (µs) of the `full` line of a pressure file.
fn parse_full_total(text: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with("full "))?
        .split_whitespace()
        .find_map(|field| field.strip_prefix("total="))?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "some avg10=30.09 avg60=5.83 avg300=1.23 total=3925626\n\
                          full avg10=29.10 avg60=5.64 avg300=1.19 total=3813105\n";

    #[test]
    fn reads_the_full_total() {
        assert_eq!(parse_full_total(SAMPLE), Some(3_813_105));
        assert_eq!(parse_full_total("some avg10=0.00 total=5\n"), None);
        assert_eq!(parse_full_total("full avg10=0.00 total=x\n"), None);
    }

    #[test]
    fn gives_the_growth_since_the_last_read() {
        let dir = std::env::temp_dir().join(format!("astha-pressure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("cpu.pressure");
        std::fs::write(&file, SAMPLE).unwrap();
        let mut pressure = CpuPressure::at(&dir);
        assert_eq!(pressure.since_last().unwrap(), Duration::ZERO);
        std::fs::write(&file, SAMPLE.replace("3813105", "4113105")).unwrap();
        assert_eq!(pressure.since_last().unwrap(), Duration::from_millis(300));
        // The cgroup removed (Asterisk stopped) and created again, its count from zero.
        std::fs::remove_file(&file).unwrap();
        let err = pressure.since_last().unwrap_err();
        assert!(err.to_string().contains("cpu.pressure"), "{err}");
        std::fs::write(&file, SAMPLE.replace("3813105", "1000")).unwrap();
        assert_eq!(pressure.since_last().unwrap(), Duration::ZERO);
        std::fs::write(&file, SAMPLE.replace("3813105", "51000")).unwrap();
        assert_eq!(pressure.since_last().unwrap(), Duration::from_millis(50));
        std::fs::remove_file(&file).unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }
}
