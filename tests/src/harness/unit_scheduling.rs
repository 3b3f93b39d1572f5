//! The daemons run as the shipped unit (`contrib/systemd/astha.service`) schedules astha: its real-time policy and priority, Nice and OOMScoreAdjust read from the file and applied to the running process.

use std::path::{Path, PathBuf};

use super::netns::run;
use super::HarnessError;

/// The shipped unit.
pub fn shipped_unit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/systemd/astha.service")
}

/// What the unit asks of the scheduler for astha.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitScheduling {
    /// `CPUSchedulingPolicy=` (`rr`, `fifo`, `other`, ...).
    pub policy: Option<String>,
    pub priority: Option<u32>,
    pub reset_on_fork: bool,
    pub nice: Option<i32>,
    pub oom_score_adjust: Option<i32>,
}

impl UnitScheduling {
    /// Reads the `[Service]` settings from a unit file's text.
    pub fn parse(unit: &str) -> UnitScheduling {
        let mut s = UnitScheduling::default();
        for line in unit.lines().map(str::trim) {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "CPUSchedulingPolicy" => s.policy = Some(value.to_owned()),
                "CPUSchedulingPriority" => s.priority = value.parse().ok(),
                "CPUSchedulingResetOnFork" => s.reset_on_fork = value == "yes",
                "Nice" => s.nice = value.parse().ok(),
                "OOMScoreAdjust" => s.oom_score_adjust = value.parse().ok(),
                _ => {}
            }
        }
        s
    }

    /// The shipped unit's settings.
    pub fn shipped() -> Result<UnitScheduling, HarnessError> {
        let path = shipped_unit();
        let text = std::fs::read_to_string(&path).map_err(|source| HarnessError::Io {
            what: format!("read {}", path.display()),
            source,
        })?;
        Ok(UnitScheduling::parse(&text))
    }

    /// Applies them to a running process (as systemd does before it executes astha), with
    /// util-linux's `chrt`, `renice` and `choom`.
    pub fn apply(&self, pid: u32) -> Result<(), HarnessError> {
        let pid = pid.to_string();
        if let Some(nice) = self.nice {
            run("renice", &["-n", &nice.to_string(), "-p", &pid])?;
        }
        if let Some(policy) = &self.policy {
            let flag = match policy.as_str() {
                "rr" => "--rr",
                "fifo" => "--fifo",
                "batch" => "--batch",
                "idle" => "--idle",
                _ => "--other",
            };
            let priority = self.priority.unwrap_or(0).to_string();
            let mut args = vec![flag];
            if self.reset_on_fork {
                args.push("--reset-on-fork");
            }
            args.extend(["-p", &priority, &pid]);
            run("chrt", &args)?;
        }
        if let Some(oom) = self.oom_score_adjust {
            // Lowering it needs CAP_SYS_RESOURCE, which a container may lack; systemd ignores
            // the refusal there too ("assuming containerized execution").
            if let Err(e) = run("choom", &["-n", &oom.to_string(), "-p", &pid]) {
                eprintln!("harness: OOMScoreAdjust={oom} not applied to astha ({e}), as systemd would ignore it here");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_unit_asks_for_real_time_round_robin() {
        let s = UnitScheduling::shipped().expect("shipped unit");
        assert_eq!(s.policy.as_deref(), Some("rr"));
        assert!(s.priority.is_some_and(|p| p > 0), "{s:?}");
        assert!(s.reset_on_fork, "{s:?}");
        assert!(s.oom_score_adjust.is_some_and(|o| o < 0), "{s:?}");
    }
}
