//! The verdict on one Asterisk target, from the hysteresis of each probe kind and the lifecycle events.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::config::ProbesConfig;
use crate::probe::{ProbeError, ProbeKind, ProbeOutcome};
use crate::verdict::Verdict;

use super::track::{ProbeState, ProbeTrack};

/// Something learned about a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetObservation {
    Probe(ProbeOutcome),
    /// AMI `Shutdown` event: the target is failed at once.
    Shutdown {
        restart: bool,
        at: Instant,
    },
    /// AMI `FullyBooted` event: the target may recover (its probes still have to succeed).
    FullyBooted {
        at: Instant,
    },
}

/// Whether Asterisk announced it is going away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Running,
    ShuttingDown { restart: bool },
}

/// What made a verdict change: the probe, its error and latency, or a lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub probe: Option<ProbeKind>,
    pub error: Option<ProbeError>,
    pub latency: Option<Duration>,
    pub note: String,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.note)?;
        if let Some(p) = self.probe {
            write!(f, "; probe={p}")?;
        }
        if let Some(l) = self.latency {
            write!(f, " latency={}ms", l.as_millis())?;
        }
        if let Some(e) = &self.error {
            write!(f, " error=\"{e}\"")?;
        }
        Ok(())
    }
}

/// A change of verdict, logged once by the driver and consumed by the decision core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictChange {
    pub from: Verdict,
    pub to: Verdict,
    pub at: Instant,
    pub evidence: Evidence,
}

/// Sans-IO health state of one target.
#[derive(Debug, Clone)]
pub struct TargetHealth {
    tracks: BTreeMap<ProbeKind, ProbeTrack>,
    lifecycle: Lifecycle,
    verdict: Verdict,
}

impl TargetHealth {
    /// One track per enabled probe kind, with the configured hysteresis.
    pub fn new(probes: &ProbesConfig, enabled: &[ProbeKind]) -> Self {
        let tracks = enabled
            .iter()
            .map(|k| {
                let t = probes.timing(*k);
                (
                    *k,
                    ProbeTrack::new(t.critical, t.fail_after, t.recover_after),
                )
            })
            .collect();
        TargetHealth {
            tracks,
            lifecycle: Lifecycle::Running,
            verdict: Verdict::Unknown,
        }
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    pub fn tracks(&self) -> impl Iterator<Item = (ProbeKind, &ProbeTrack)> {
        self.tracks.iter().map(|(k, t)| (*k, t))
    }

    pub fn track(&self, kind: ProbeKind) -> Option<&ProbeTrack> {
        self.tracks.get(&kind)
    }

    /// Feeds one observation; returns the verdict change it caused, if any.
    pub fn observe(&mut self, observation: TargetObservation) -> Option<VerdictChange> {
        let (at, evidence) = match observation {
            TargetObservation::Probe(outcome) => {
                if let Err(ProbeError::ShutDown { restart }) = &outcome.result {
                    // An action refused with "Asterisk is shutting down" comes about a second
                    // before the Shutdown event: the same verdict, at once.
                    self.tracks.get(&outcome.kind)?;
                    let note = format!("{} refused: Asterisk is shutting down", outcome.kind);
                    self.shut_down(*restart, outcome.at, note)
                } else {
                    let track = self.tracks.get_mut(&outcome.kind)?;
                    track.record(&outcome);
                    if outcome.kind == ProbeKind::Sip
                        && matches!(outcome.result, Err(ProbeError::Status { code: 503, .. }))
                    {
                        // res_pjsip answers OPTIONS over UDP with 503 only while shutting down (an
                        // overloaded PJSIP drops UDP requests instead): no hysteresis for that.
                        track.force_down(&outcome);
                    }
                    if outcome.kind == ProbeKind::Ping && track.state == ProbeState::Up {
                        // A missed FullyBooted (e.g. events lost across a reconnect) must not pin the
                        // target as failed forever: a recovered AMI ping ends the shutdown too.
                        self.lifecycle = Lifecycle::Running;
                    }
                    let note = if outcome.ok() {
                        "probe succeeded"
                    } else {
                        "probe failed"
                    };
                    let evidence = Evidence {
                        probe: Some(outcome.kind),
                        error: outcome.error().cloned(),
                        latency: Some(outcome.latency),
                        note: note.into(),
                    };
                    (outcome.at, evidence)
                }
            }
            TargetObservation::Shutdown { restart, at } => {
                self.shut_down(restart, at, "AMI Shutdown event".into())
            }
            TargetObservation::FullyBooted { at } => {
                self.lifecycle = Lifecycle::Running;
                let evidence = Evidence {
                    probe: None,
                    error: None,
                    latency: None,
                    note: "AMI FullyBooted event: recovering".into(),
                };
                (at, evidence)
            }
        };
        let next = self.compute();
        if next == self.verdict {
            return None;
        }
        let change = VerdictChange {
            from: self.verdict,
            to: next,
            at,
            evidence,
        };
        self.verdict = next;
        Some(change)
    }

    /// Asterisk is going away: every AMI probe is down at once.
    fn shut_down(&mut self, restart: bool, at: Instant, note: String) -> (Instant, Evidence) {
        self.lifecycle = Lifecycle::ShuttingDown { restart };
        let error = ProbeError::ShutDown { restart };
        for (kind, track) in self.tracks.iter_mut().filter(|(k, _)| k.uses_ami()) {
            let outcome = ProbeOutcome {
                kind: *kind,
                at,
                latency: Duration::ZERO,
                result: Err(error.clone()),
            };
            track.force_down(&outcome);
        }
        let evidence = Evidence {
            probe: None,
            error: Some(error),
            latency: None,
            note,
        };
        (at, evidence)
    }

    fn compute(&self) -> Verdict {
        if matches!(self.lifecycle, Lifecycle::ShuttingDown { .. }) {
            return Verdict::Failed;
        }
        let critical = || self.tracks.values().filter(|t| t.critical);
        if critical().any(|t| t.state == ProbeState::Down) {
            return Verdict::Failed;
        }
        if critical().any(|t| t.state == ProbeState::Unknown) {
            return Verdict::Unknown;
        }
        if self.tracks.values().any(|t| t.wobbling()) {
            return Verdict::Degraded;
        }
        Verdict::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [ProbeKind; 4] = [
        ProbeKind::Ping,
        ProbeKind::Core,
        ProbeKind::Call,
        ProbeKind::Sip,
    ];

    fn observe(h: &mut TargetHealth, kind: ProbeKind, result: Result<(), ProbeError>) {
        h.observe(TargetObservation::Probe(ProbeOutcome {
            kind,
            at: Instant::now(),
            latency: Duration::from_millis(1),
            result,
        }));
    }

    fn healthy() -> TargetHealth {
        let mut h = TargetHealth::new(&ProbesConfig::default(), &KINDS);
        for kind in KINDS {
            observe(&mut h, kind, Ok(()));
        }
        assert_eq!(h.verdict(), Verdict::Healthy);
        h
    }

    #[test]
    fn an_action_refused_for_a_shutdown_fails_the_target_at_once() {
        let mut h = healthy();
        // The test call needs two failures in a row, but not for this reason.
        observe(
            &mut h,
            ProbeKind::Call,
            Err(ProbeError::ShutDown { restart: false }),
        );
        assert_eq!(h.verdict(), Verdict::Failed);
        assert!(matches!(h.lifecycle(), Lifecycle::ShuttingDown { .. }));
        // An aborted shutdown: the AMI ping recovers (recover_after 3), the rest follows.
        for _ in 0..3 {
            observe(&mut h, ProbeKind::Ping, Ok(()));
        }
        assert_eq!(h.lifecycle(), Lifecycle::Running);
    }

    #[test]
    fn a_sip_503_fails_at_once_where_other_answers_need_two() {
        let mut h = healthy();
        let status = |code| ProbeError::Status {
            code,
            reason: "x".into(),
        };
        observe(&mut h, ProbeKind::Sip, Err(status(404)));
        assert_eq!(h.verdict(), Verdict::Degraded, "one 404 is not enough");
        observe(&mut h, ProbeKind::Sip, Ok(()));
        let mut h = healthy();
        observe(&mut h, ProbeKind::Sip, Err(status(503)));
        assert_eq!(h.verdict(), Verdict::Failed, "res_pjsip's shutdown answer");
    }
}
