//! Assembles `astha status` (and the metrics) from the core, the probe monitors, the peer link and the actuators.

use std::time::{Duration, Instant};

use ami_client::ConnectionState;

use crate::actuate::config::{DrbdConfig, FloatingIpConfig, StandbyMode};
use crate::actuate::relay::WatchdogState;
use crate::actuate::SequenceOutcome;
use crate::alerts::EventKind;
use crate::config::Config;
use crate::decide::{CoreStatus, Input};
use crate::metrics::Totals;
use crate::peer::PeerCounters;
use crate::probe::MonitoredTarget;
use crate::status::{
    AlertStatus, ContactsStatus, DrbdStatus, FloatingIpStatus, NodeStatus, PeerStatus,
    ReachabilityTargetStatus, RelayStatus, RelayWatchdogStatus, StatusReport, StepStatus,
    TakeoverRecordStatus, TargetStatus, TrunksStatus, WitnessStatus, STATUS_FORMAT_VERSION,
};

use super::actuator_task::ActuatorResult;
use super::devices::{DeviceReading, RelayReading};
use super::Daemon;

/// What the report is built from at one moment.
#[derive(Debug)]
pub struct ReportInputs<'a> {
    pub config: &'a Config,
    pub core: CoreStatus,
    pub local: &'a MonitoredTarget,
    pub peer: &'a MonitoredTarget,
    pub local_ami: ConnectionState,
    pub peer_ami: ConnectionState,
    pub links_alive: Vec<bool>,
    pub counters: &'a PeerCounters,
    pub floating_ip: Option<FloatingIpConfig>,
    pub drbd: Option<DrbdConfig>,
    pub uptime: Duration,
    pub witness: Option<WitnessStatus>,
    pub reachability: Vec<ReachabilityTargetStatus>,
    /// This node's kicks of the relay's watchdog (the device's state is in the relay reading).
    pub relay_watchdog: Option<RelayWatchdogStatus>,
    /// Every alert active now.
    pub alerts: Vec<AlertStatus>,
    /// Both Asterisks' outbound registrations, this node's first.
    pub trunks: Vec<TrunksStatus>,
    /// The contact mirror, unless it is switched off.
    pub contacts: Option<ContactsStatus>,
}

/// A finished takeover or release: the core's input, and the record for status and the sinks.
#[derive(Debug, Clone)]
pub struct FinishedSequence {
    pub input: Input,
    /// `Takeover` or `Release`.
    pub kind: EventKind,
    pub record: TakeoverRecordStatus,
}

/// The daemon's own memory of things the core does not keep.
#[derive(Debug)]
pub struct ReportState {
    link_names: Vec<String>,
    pub last_decision: Option<String>,
    pub relay: RelayReading,
    ip_held: bool,
    drbd: Option<(crate::actuate::drbd::DrbdObservation, Option<String>)>,
    last_takeover: Option<TakeoverRecordStatus>,
    takeovers: u64,
    takeovers_failed: u64,
    probe_failures: std::collections::BTreeMap<(String, String), u64>,
}

impl ReportState {
    pub fn new(link_names: Vec<String>) -> Self {
        ReportState {
            link_names,
            last_decision: None,
            relay: RelayReading::default(),
            ip_held: false,
            drbd: None,
            last_takeover: None,
            takeovers: 0,
            takeovers_failed: 0,
            probe_failures: Default::default(),
        }
    }

    /// Remembers what a background reading found; returns what the core must learn of it (the
    /// relay position if it was read back, a cold standby's start check).
    pub fn observe(&mut self, reading: DeviceReading) -> Option<Input> {
        match reading {
            DeviceReading::Relay(reading) => {
                let read_back = reading.read_back.then_some(reading.position);
                self.relay = reading;
                read_back.map(Input::RelayPosition)
            }
            DeviceReading::ColdStartCheck(result) => Some(Input::ColdStartCheck(result)),
            DeviceReading::Carrier(result) => Some(Input::Carrier(result)),
            DeviceReading::FloatingIp { held } => {
                self.ip_held = held;
                None
            }
            DeviceReading::Drbd(observed, fence_event) => {
                self.drbd = Some((observed, fence_event));
                None
            }
        }
    }

    pub fn takeover_started(&mut self, term: u64, reason: &str) {
        self.takeovers += 1;
        tracing::warn!(term, reason, "takeover started");
    }

    /// Records a finished sequence, logs its summary line (`journalctl -p warning` shows every
    /// takeover and release), and turns it into the core's input.
    pub fn record_outcome(&mut self, result: &ActuatorResult) -> FinishedSequence {
        let steps = result
            .outcome
            .timings()
            .iter()
            .map(|t| StepStatus {
                step: format!("{} {}", t.step.as_str(), t.phase.as_str()),
                ms: t.duration.as_secs_f64() * 1000.0,
                outcome: match (&t.error, &t.note) {
                    (Some(e), _) => format!("failed: {e}"),
                    (None, Some(note)) => format!("ok ({note})"),
                    (None, None) => "ok".into(),
                },
            })
            .collect::<Vec<_>>();
        let total_ms = steps.iter().map(|s| s.ms).sum();
        let record_of = |outcome: &str| TakeoverRecordStatus {
            reason: result.reason.clone(),
            term: result.term,
            started_unix_ms: crate::wall_clock::now_unix_ms().saturating_sub(total_ms as u64),
            outcome: outcome.to_string(),
            total_ms,
            steps: steps.clone(),
        };
        let summary = |record: &TakeoverRecordStatus| {
            let steps: Vec<String> = record
                .steps
                .iter()
                .map(|s| format!("{} {:.1} ms {}", s.step, s.ms, s.outcome))
                .collect();
            format!(
                "term {} in {:.1} ms, reason: {}; steps: {}",
                record.term,
                record.total_ms,
                record.reason,
                if steps.is_empty() {
                    "none".to_string()
                } else {
                    steps.join(", ")
                }
            )
        };
        let (input, kind, record) = match &result.outcome {
            SequenceOutcome::TakeoverDone { .. } => {
                let record = record_of("done");
                tracing::warn!(term = result.term, "takeover done: {}", summary(&record));
                self.last_takeover = Some(record.clone());
                self.ip_held = true;
                (Input::TakeoverDone, EventKind::Takeover, record)
            }
            SequenceOutcome::TakeoverFailed {
                step,
                error,
                rolled_back,
                ..
            } => {
                self.takeovers_failed += 1;
                let record = record_of(&format!("failed at {}: {error}", step.as_str()));
                tracing::error!(
                    term = result.term,
                    rolled_back,
                    "takeover failed at {}: {error}; {}",
                    step.as_str(),
                    summary(&record)
                );
                self.last_takeover = Some(record.clone());
                let input = Input::TakeoverFailed {
                    error: format!("{}: {error}", step.as_str()),
                };
                (input, EventKind::Takeover, record)
            }
            SequenceOutcome::TakeoverCancelled { step, .. } => {
                // Not a failure of this node: it gave way to a newer term; the release follows.
                let record = record_of(&format!("cancelled at {}", step.as_str()));
                tracing::warn!(
                    term = result.term,
                    "takeover cancelled at {} (this node gave way to a newer term): {}",
                    step.as_str(),
                    summary(&record)
                );
                self.last_takeover = Some(record.clone());
                let input = Input::TakeoverFailed {
                    error: format!("cancelled at {}", step.as_str()),
                };
                (input, EventKind::Takeover, record)
            }
            SequenceOutcome::ReleaseDone { .. } => {
                let record = record_of("done");
                tracing::warn!(
                    term = result.term,
                    "release done, this node is standby: {}",
                    summary(&record)
                );
                self.ip_held = false;
                (Input::ReleaseDone, EventKind::Release, record)
            }
            SequenceOutcome::ReleaseFailed { step, error, .. } => {
                let record = record_of(&format!("failed at {}: {error}", step.as_str()));
                tracing::error!(
                    term = result.term,
                    "release failed at {}: {error}; {}",
                    step.as_str(),
                    summary(&record)
                );
                let input = Input::ReleaseFailed {
                    error: format!("{}: {error}", step.as_str()),
                };
                (input, EventKind::Release, record)
            }
        };
        FinishedSequence {
            input,
            kind,
            record,
        }
    }

    /// Monotonic counts for the metrics.
    pub fn totals(&self) -> Totals {
        Totals {
            probe_failures: self.probe_failures.clone(),
            takeovers: self.takeovers,
            takeovers_failed: self.takeovers_failed,
            ..Totals::default()
        }
    }

    pub fn build(&mut self, inputs: ReportInputs<'_>) -> StatusReport {
        let config = inputs.config;
        let core = &inputs.core;
        for (target, status) in [("local", inputs.local), ("peer", inputs.peer)] {
            for p in &status.probes {
                self.probe_failures.insert(
                    (target.to_string(), p.kind.as_str().to_string()),
                    p.failures,
                );
            }
        }
        let (links_up, links_down): (Vec<_>, Vec<_>) = self
            .link_names
            .iter()
            .zip(inputs.links_alive.iter().chain(std::iter::repeat(&false)))
            .partition(|(_, up)| **up);
        let peer_last = core.peer.last.as_ref();
        StatusReport {
            format: STATUS_FORMAT_VERSION,
            node: NodeStatus {
                side: core.me.to_string(),
                name: config.node.name.clone(),
                role: core.role.to_string(),
                term: core.term,
                maintenance: core.maintenance,
                uptime_s: inputs.uptime.as_secs(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                last_decision: self.last_decision.clone(),
                standby: match config.daemon.actuate.asterisk.mode {
                    StandbyMode::Cold => "cold".into(),
                    StandbyMode::Warm => "warm".into(),
                },
                cannot_take_over: core.readiness_problem.clone(),
            },
            peer: PeerStatus {
                side: core.me.other().to_string(),
                name: config.node.peer_name.clone(),
                links_up: links_up.into_iter().map(|(n, _)| n.clone()).collect(),
                links_down: links_down.into_iter().map(|(n, _)| n.clone()).collect(),
                role: peer_last.map(|p| p.role.to_string()),
                term: peer_last.map(|p| p.term),
                last_message_age_ms: core.peer.silent_ms,
                rejected: inputs
                    .counters
                    .dropped
                    .iter()
                    .map(|(reason, n)| (format!("{reason:?}").to_lowercase(), *n))
                    .collect(),
            },
            targets: vec![
                TargetStatus {
                    expected_down: (core.cold_standby && !inputs.local.verdict.can_carry_calls())
                        .then(|| "stopped, cold standby".to_string()),
                    ..inputs
                        .local
                        .to_report("local", &ami_state(&inputs.local_ami), Instant::now())
                },
                TargetStatus {
                    expected_down: peer_last
                        .filter(|p| p.cold_standby && !inputs.peer.verdict.can_carry_calls())
                        .map(|_| "stopped, cold standby (as the peer reports)".to_string()),
                    ..inputs
                        .peer
                        .to_report("peer", &ami_state(&inputs.peer_ami), Instant::now())
                },
            ],
            relay: RelayStatus {
                driver: self.relay.driver.clone(),
                position: self.relay.position.or(core.relay).map(|s| s.to_string()),
                read_back: self.relay.read_back,
                error: self.relay.error.clone(),
                watchdog: inputs.relay_watchdog.map(|kicks| RelayWatchdogStatus {
                    state: self.relay.watchdog.map(|w| w.as_str().to_string()),
                    remaining_s: match self.relay.watchdog {
                        Some(WatchdogState::Running { remaining_s }) => remaining_s,
                        _ => None,
                    },
                    ..kicks
                }),
            },
            floating_ip: FloatingIpStatus {
                addresses: inputs
                    .floating_ip
                    .map(|ip| ip.addresses.iter().map(|a| a.to_string()).collect())
                    .unwrap_or_default(),
                held_here: self.ip_held,
            },
            drbd: inputs.drbd.map(|d| DrbdStatus {
                resource: d.resource.clone(),
                role: self
                    .drbd
                    .as_ref()
                    .map(|(o, _)| o.role.clone())
                    .unwrap_or_else(|| "unknown".into()),
                mounted: self.drbd.as_ref().is_some_and(|(o, _)| o.mounted),
                state: self.drbd.as_ref().map(|(o, _)| o.summary.clone()),
                last_fence: self.drbd.as_ref().and_then(|(_, f)| f.clone()),
            }),
            last_takeover: self.last_takeover.clone(),
            witness: inputs.witness,
            reachability: inputs.reachability,
            alerts: inputs.alerts,
            calls: None,
            trunks: inputs.trunks,
            contacts: inputs.contacts,
        }
    }
}

fn ami_state(state: &ConnectionState) -> String {
    match state {
        ConnectionState::LoggedIn => "logged-in".into(),
        ConnectionState::Connecting | ConnectionState::LoggingIn => "connecting".into(),
        ConnectionState::Disconnected { reason } => format!("disconnected: {reason}"),
        ConnectionState::AuthFailed { message } => format!("authentication failed: {message}"),
        ConnectionState::Closed => "closed".into(),
    }
}

impl Daemon {
    pub(super) fn status_report(&mut self) -> crate::status::StatusReport {
        let dead_after = self
            .config
            .daemon
            .peer_link
            .as_ref()
            .map_or(600, |p| p.dead_after_ms);
        let link = &self.peer_link;
        self.report.build(ReportInputs {
            config: &self.config,
            core: self.core.status(),
            local: &self.local.handle().status().borrow(),
            peer: &self.peer.handle().status().borrow(),
            local_ami: self.local.probes().ami().client().state().borrow().clone(),
            peer_ami: self.peer.probes().ami().client().state().borrow().clone(),
            links_alive: link
                .links
                .alive(Instant::now(), Duration::from_millis(dead_after)),
            counters: link.codec.counters(),
            floating_ip: self
                .devices
                .floating_ip
                .as_ref()
                .map(|ip| ip.config().clone()),
            drbd: self.devices.drbd.as_ref().map(|d| d.config().clone()),
            uptime: self.clock.start.elapsed(),
            witness: self.witness.as_ref().map(|w| w.status()),
            reachability: self
                .reachability
                .as_ref()
                .map(|r| r.status())
                .unwrap_or_default(),
            relay_watchdog: self.relay_watchdog.as_ref().map(|k| k.status()),
            alerts: self.alerts.active(),
            trunks: self.trunks.status(),
            contacts: self.contacts.as_ref().map(|m| m.status()),
        })
    }

    /// Renders the metrics for the listener, when one is configured.
    pub(super) fn publish_metrics(&mut self) {
        if self.config.daemon.metrics.listen.is_none() {
            return;
        }
        let report = self.status_report();
        let totals = Totals {
            alerts_raised: self.alerts.raised_totals(),
            alert_sinks: self.alerts.sink_counts(),
            ..self.report.totals()
        };
        let _ = self.metrics.send(crate::metrics::render(&report, &totals));
    }
}
