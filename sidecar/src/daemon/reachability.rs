//! Checks the reachability targets (`[service_network] targets`) and tells the core whether this node's service network reaches any of them.
//!
//! A floating-IP interface with carrier is not yet a network that serves: a dead switch uplink,
//! a lost VLAN or a router gone leaves the carrier up while no phone or trunk gets through
//! (keepalived's `track_script`, Pacemaker's `ocf:pacemaker:ping`). Every target is checked
//! every `interval_ms` from each node, with the witness's checks (ICMP echo, or a TCP connect
//! to address:port, see [`crate::witness`]): the active and the standby ask the same question,
//! so the core can hand the calls to the node that still reaches them.
//!
//! What "down" means: a target is down once `down_after` checks in a row went unanswered (one
//! lost ping moves no calls); the service network is down while *every* target is down. The
//! targets are alternative ways of proving the network works (the gateway, the trunk's
//! proxy), not services that must all be up: one of them failing for both nodes alike (a
//! trunk provider's outage) must not take the pair down, and where all fail for both nodes
//! nobody moves anyway (the standby would report its network down too). Before its first
//! answer a target counts as up: no evidence is no reason to move calls.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::daemon::ServiceNetworkSection;
use crate::status::ReachabilityTargetStatus;
use crate::witness::WitnessTarget;

use super::witness::CheckHistory;

/// One finished check of target number `index`.
#[derive(Debug)]
pub(super) struct ReachabilityAnswer {
    index: usize,
    result: Result<Duration, String>,
}

#[derive(Debug)]
struct TrackedTarget {
    target: WitnessTarget,
    in_flight: bool,
    history: CheckHistory,
}

/// The targets, their checks, and the judgement last given to the core.
#[derive(Debug)]
pub(super) struct ReachabilityWatch {
    targets: Vec<TrackedTarget>,
    interval: Duration,
    timeout: Duration,
    down_after: u32,
    answers: mpsc::Sender<ReachabilityAnswer>,
    /// What the core was last told (`Ok` until told otherwise, as the core assumes).
    judged: Result<(), String>,
}

impl ReachabilityWatch {
    /// The watch when targets are configured; answers come back on the returned receiver.
    pub(super) fn new(
        section: &ServiceNetworkSection,
    ) -> Option<(ReachabilityWatch, mpsc::Receiver<ReachabilityAnswer>)> {
        if section.targets.is_empty() {
            return None;
        }
        let (answers, rx) = mpsc::channel(section.targets.len() * 2);
        let targets = section
            .targets
            .iter()
            .map(|&target| TrackedTarget {
                target,
                in_flight: false,
                history: CheckHistory::default(),
            })
            .collect::<Vec<_>>();
        let names: Vec<String> = targets.iter().map(|t| t.target.to_string()).collect();
        tracing::info!(targets = ?names, "reachability targets configured: the service network is down while none answers");
        let watch = ReachabilityWatch {
            targets,
            interval: Duration::from_millis(section.interval_ms),
            timeout: Duration::from_millis(section.timeout_ms),
            down_after: section.down_after,
            answers,
            judged: Ok(()),
        };
        Some((watch, rx))
    }

    /// How often every target is checked.
    pub(super) fn interval(&self) -> Duration {
        self.interval
    }

    /// Starts a check of every target whose previous check has finished.
    pub(super) fn check_all(&mut self) {
        for (index, tracked) in self.targets.iter_mut().enumerate() {
            if tracked.in_flight {
                continue;
            }
            tracked.in_flight = true;
            let (target, timeout, answers) = (tracked.target, self.timeout, self.answers.clone());
            tokio::spawn(async move {
                let result = target.check(timeout).await;
                let _ = answers.send(ReachabilityAnswer { index, result }).await;
            });
        }
    }

    /// Records an answer; returns the new judgement when it changed (for the core).
    pub(super) fn record(&mut self, answer: ReachabilityAnswer) -> Option<Result<(), String>> {
        let down_after = self.down_after;
        let tracked = self.targets.get_mut(answer.index)?;
        tracked.in_flight = false;
        let was_up = tracked.history.unanswered_in_a_row() < down_after;
        tracked.history.record(answer.result);
        let is_up = tracked.history.unanswered_in_a_row() < down_after;
        match (was_up, is_up, tracked.history.last()) {
            (true, false, Some(Err(e))) => {
                tracing::warn!(target = %tracked.target, error = %e, checks = down_after, "reachability target down")
            }
            (false, true, _) => {
                tracing::info!(target = %tracked.target, "reachability target answers again")
            }
            _ => {}
        }
        let judged = self.judge();
        if judged.is_ok() == self.judged.is_ok() {
            return None;
        }
        self.judged = judged.clone();
        Some(judged)
    }

    fn is_up(&self, tracked: &TrackedTarget) -> bool {
        tracked.history.unanswered_in_a_row() < self.down_after
    }

    /// `Ok` while a target is up; else every target with its last error.
    fn judge(&self) -> Result<(), String> {
        if self.targets.iter().any(|t| self.is_up(t)) {
            return Ok(());
        }
        let each: Vec<String> = self
            .targets
            .iter()
            .map(|t| {
                let error = t.history.last().and_then(|r| r.as_ref().err());
                format!(
                    "{}: {}",
                    t.target,
                    error.map_or("no answer", String::as_str)
                )
            })
            .collect();
        Err(format!(
            "no reachability target answers ({} checks in a row): {}",
            self.down_after,
            each.join("; ")
        ))
    }

    /// What `astha status` shows, one entry per target.
    pub(super) fn status(&self) -> Vec<ReachabilityTargetStatus> {
        self.targets
            .iter()
            .map(|t| ReachabilityTargetStatus {
                check: t.history.status(t.target),
                up: self.is_up(t),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(targets: &[&str]) -> ReachabilityWatch {
        let section = ServiceNetworkSection {
            targets: targets.iter().map(|t| t.parse().unwrap()).collect(),
            ..ServiceNetworkSection::default()
        };
        ReachabilityWatch::new(&section).unwrap().0
    }

    fn answer(index: usize, ok: bool) -> ReachabilityAnswer {
        ReachabilityAnswer {
            index,
            result: if ok {
                Ok(Duration::from_millis(1))
            } else {
                Err("no ICMP echo reply within 500 ms".into())
            },
        }
    }

    #[test]
    fn no_targets_no_watch() {
        assert!(ReachabilityWatch::new(&ServiceNetworkSection::default()).is_none());
    }

    #[test]
    fn down_only_when_every_target_missed_down_after_checks_in_a_row() {
        let mut w = watch(&["192.0.2.1", "192.0.2.5:5060"]);
        // The gateway stops answering; the trunk's proxy still does: still up, nothing said.
        for _ in 0..5 {
            assert_eq!(w.record(answer(0, false)), None);
        }
        assert!(!w.status()[0].up && w.status()[1].up);
        // The proxy misses two checks: still up (down_after is 3).
        assert_eq!(w.record(answer(1, false)), None);
        assert_eq!(w.record(answer(1, false)), None);
        // The third miss in a row: the service network is down, naming each target.
        let down = w.record(answer(1, false)).expect("a change");
        let why = down.unwrap_err();
        assert!(
            why.contains("192.0.2.1 (ICMP echo): no ICMP echo reply")
                && why.contains("192.0.2.5:5060 (TCP connect)"),
            "{why}"
        );
        // Said once, not on every further miss.
        assert_eq!(w.record(answer(0, false)), None);
        // One answer from either brings it back.
        assert_eq!(w.record(answer(0, true)), Some(Ok(())));
        assert!(w.status()[0].up);
    }

    #[test]
    fn an_answer_restarts_the_count() {
        let mut w = watch(&["192.0.2.1"]);
        for _ in 0..10 {
            assert_eq!(w.record(answer(0, false)), None);
            assert_eq!(w.record(answer(0, false)), None);
            assert_eq!(w.record(answer(0, true)), None, "two misses are no outage");
        }
        let status = &w.status()[0];
        assert_eq!((status.check.checks, status.check.failures), (30, 20));
        assert!(status.up);
    }
}
