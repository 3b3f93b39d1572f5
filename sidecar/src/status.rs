//! The status report: what `astha status` shows, as a stable JSON document and a compact table.
//!
//! The JSON field names are part of astha's interface (monitoring scripts parse them): add
//! fields freely, never rename or remove one without bumping [`STATUS_FORMAT_VERSION`].

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Version of the JSON status document. Bumped only on incompatible changes.
pub const STATUS_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusReport {
    pub format: u32,
    pub node: NodeStatus,
    pub peer: PeerStatus,
    /// The local and the peer Asterisk, as judged from this node.
    pub targets: Vec<TargetStatus>,
    pub relay: RelayStatus,
    pub floating_ip: FloatingIpStatus,
    pub drbd: Option<DrbdStatus>,
    pub last_takeover: Option<TakeoverRecordStatus>,
    /// The witness (`[decide] witness`), when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<WitnessStatus>,
    /// Every alert active now, oldest first (empty when all is well).
    #[serde(default)]
    pub alerts: Vec<AlertStatus>,
    /// Calls in progress on the active's Asterisk (what a switch drops), counted when the
    /// status was asked for; absent when no node is active or in the metrics' reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<CallsStatus>,
}

/// Calls in progress on one node's Asterisk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallsStatus {
    /// The node whose Asterisk carries them (the active).
    pub node: String,
    /// Calls (astha's own probe calls left out); `None` when they could not be counted.
    pub count: Option<u32>,
    /// Why they could not be counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CallsStatus {
    /// What a switch now would drop, in words (`astha status`, `astha failover`).
    pub fn describe(&self) -> String {
        match (self.count, &self.error) {
            (Some(0), _) => format!("no call in progress on {}", self.node),
            (Some(n), _) => format!(
                "{n} call{} in progress on {}: a switch drops {} (PSTN calls on the relay, SIP \
                 calls on the floating IP)",
                if n == 1 { "" } else { "s" },
                self.node,
                if n == 1 { "it" } else { "them" }
            ),
            (None, Some(e)) => format!("calls in progress on {}: unknown ({e})", self.node),
            (None, None) => format!("calls in progress on {}: unknown", self.node),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeStatus {
    /// `a` or `b`.
    pub side: String,
    pub name: String,
    /// standby, taking-over, active, releasing, maintenance, faulted.
    pub role: String,
    pub term: u64,
    pub maintenance: bool,
    pub uptime_s: u64,
    pub version: String,
    /// Why the core is in its role (last decision), for the admin reading at 3 a.m.
    pub last_decision: Option<String>,
    /// `warm` or `cold` standby.
    #[serde(default)]
    pub standby: String,
    /// Why this node could not take the calls now (`None`: it could).
    #[serde(default)]
    pub cannot_take_over: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PeerStatus {
    pub side: String,
    pub name: String,
    /// Names of the links on which the peer was heard recently.
    pub links_up: Vec<String>,
    pub links_down: Vec<String>,
    pub role: Option<String>,
    pub term: Option<u64>,
    pub last_message_age_ms: Option<u64>,
    /// Datagrams dropped, by reason (bad_mac, replay, truncated, garbage, version, unknown_node).
    pub rejected: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetStatus {
    /// `local` or `peer`.
    pub target: String,
    pub verdict: String,
    pub verdict_since_s: Option<u64>,
    pub ami_state: String,
    /// Set when this Asterisk is stopped on purpose (a cold standby's): its failing probes are
    /// expected, not a failure.
    #[serde(default)]
    pub expected_down: Option<String>,
    pub probes: Vec<ProbeStatus>,
    /// How late this target's monitor woke since the daemon started (astha itself not running):
    /// time given back to the probes, never charged to Asterisk.
    #[serde(default)]
    pub scheduling_lag: LagStatus,
}

/// astha's own scheduling lag, as one monitor measured it.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct LagStatus {
    /// Wake-ups late enough (over 10 ms) to be given back to the probes.
    pub stalls: u64,
    pub total_ms: u64,
    pub max_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProbeStatus {
    pub kind: String,
    pub ok: Option<bool>,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
    pub age_ms: Option<u64>,
    pub consecutive_failures: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RelayStatus {
    pub driver: String,
    /// The side the PSTN circuits are switched to, if known.
    pub position: Option<String>,
    /// True when `position` was read back from the device, false when it is only what we commanded.
    pub read_back: bool,
    pub error: Option<String>,
    /// The device's own watchdog, when it has one configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<RelayWatchdogStatus>,
}

/// A relay's own watchdog: what the device says and how this node's kicks go.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RelayWatchdogStatus {
    /// `off`, `running` or `expired`, as the device reports it (`None`: not read).
    pub state: Option<String>,
    /// Seconds before it expires unless kicked, when the device says.
    pub remaining_s: Option<u32>,
    /// Where the device moves the calls by itself when the kicks stop.
    pub falls_back_to: String,
    pub kick_every_ms: u64,
    /// Whether this node kicks it now (it holds the calls on the side the watchdog guards).
    pub kicking: bool,
    pub last_kick_age_ms: Option<u64>,
    pub last_kick_error: Option<String>,
    pub kicks: u64,
    pub kick_failures: u64,
}

/// The witness as this node last checked it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WitnessStatus {
    /// Address and how it is checked, e.g. `192.0.2.1 (ICMP echo)`.
    pub target: String,
    /// Whether the last check was answered (`None`: not checked yet).
    pub reachable: Option<bool>,
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
    pub age_ms: Option<u64>,
    pub checks: u64,
    pub failures: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FloatingIpStatus {
    pub addresses: Vec<String>,
    pub held_here: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DrbdStatus {
    pub resource: String,
    pub role: String,
    pub mounted: bool,
    /// Role, disk and each peer's connection, role and disk, as DRBD reports them
    /// (`Secondary UpToDate, pbx-b Connected Primary UpToDate`), or why they could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The last `fence-peer`/`unfence-peer` exchange with DRBD and astha's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fence: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TakeoverRecordStatus {
    pub reason: String,
    pub term: u64,
    pub started_unix_ms: u64,
    pub outcome: String,
    pub total_ms: f64,
    pub steps: Vec<StepStatus>,
}

/// One alert, active now (in the status document) or just raised or cleared (in an alert event).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AlertStatus {
    /// What it is about: `broken_link`, `faulted`, ... (README, "Alerts").
    pub kind: String,
    /// `warning` or `critical`.
    pub severity: String,
    pub message: String,
    /// When it was raised: Unix milliseconds, and RFC 3339 in UTC.
    pub raised_unix_ms: u64,
    pub raised: String,
    /// How long it has been active (for a cleared alert: how long it was).
    pub active_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepStatus {
    pub step: String,
    pub ms: f64,
    pub outcome: String,
}

/// ANSI colours, used only when writing to a terminal.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Green for good words, red for bad ones, yellow for in-between.
    fn judge(self, word: &str) -> String {
        let code = match word {
            "healthy" | "active" | "standby" | "ok" | "done" | "logged-in" => "32",
            "failed" | "faulted" | "error" | "down" | "disconnected" => "31;1",
            _ => "33",
        };
        self.paint(code, word)
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map(|ms| format!("{ms:.1} ms"))
        .unwrap_or_else(|| "-".into())
}

impl StatusReport {
    /// The compact human view of `astha status`: one block per part, in the order an admin
    /// checks them (this node, its peer, both Asterisks, then the devices and the last takeover).
    pub fn render(&self, style: Style) -> String {
        let mut out = String::new();
        self.node.render_into(&mut out, style);
        render_alerts(&self.alerts, &mut out, style);
        self.peer.render_into(&mut out, style);
        for target in &self.targets {
            target.render_into(&mut out, style);
        }
        self.relay.render_into(&mut out, style);
        if let Some(witness) = &self.witness {
            witness.render_into(&mut out, style);
        }
        self.floating_ip.render_into(&mut out);
        if let Some(drbd) = &self.drbd {
            drbd.render_into(&mut out);
        }
        if let Some(calls) = &self.calls {
            let _ = writeln!(out, "calls {}", calls.describe());
        }
        if let Some(takeover) = &self.last_takeover {
            takeover.render_into(&mut out, style);
        }
        out
    }
}

impl NodeStatus {
    fn render_into(&self, out: &mut String, style: Style) {
        let _ = writeln!(
            out,
            "node {} ({})  role {}  term {}{}",
            self.name,
            self.side,
            style.judge(&self.role),
            self.term,
            if self.maintenance {
                "  [MAINTENANCE: no automatic decisions]"
            } else {
                ""
            }
        );
        if let Some(why) = &self.last_decision {
            let _ = writeln!(out, "  last decision: {why}");
        }
        if let Some(why) = &self.cannot_take_over {
            let _ = writeln!(out, "  cannot take over: {why}");
        }
    }
}

/// Right under the node line: an admin must not miss them.
fn render_alerts(alerts: &[AlertStatus], out: &mut String, style: Style) {
    if alerts.is_empty() {
        let _ = writeln!(out, "  alerts: none");
        return;
    }
    for alert in alerts {
        let word = if alert.severity == "critical" {
            style.paint("31;1", "ALERT")
        } else {
            style.paint("33", "ALERT")
        };
        let _ = writeln!(
            out,
            "  {word} {} {} since {} ({} ago): {}",
            alert.severity,
            alert.kind,
            alert.raised,
            duration_words(alert.active_s),
            alert.message
        );
    }
}

/// `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`.
fn duration_words(s: u64) -> String {
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

impl PeerStatus {
    fn render_into(&self, out: &mut String, style: Style) {
        let age = self
            .last_message_age_ms
            .map(|a| format!("{a} ms ago"))
            .unwrap_or_else(|| "never".into());
        let _ = writeln!(
            out,
            "peer {} ({})  role {}  term {}  heard {}  links up [{}] down [{}]",
            self.name,
            self.side,
            style.judge(self.role.as_deref().unwrap_or("unknown")),
            self.term
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            age,
            self.links_up.join(","),
            self.links_down.join(",")
        );
        let rejected: u64 = self.rejected.iter().map(|(_, n)| n).sum();
        if rejected > 0 {
            let detail: Vec<String> = self
                .rejected
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            let _ = writeln!(
                out,
                "  rejected datagrams: {rejected} ({})",
                detail.join(" ")
            );
        }
    }
}

impl TargetStatus {
    fn render_into(&self, out: &mut String, style: Style) {
        if let Some(why) = &self.expected_down {
            let _ = writeln!(out, "asterisk {:<5} {why}", self.target);
            return;
        }
        let _ = writeln!(
            out,
            "asterisk {:<5} {}  (ami {})",
            self.target,
            style.judge(&self.verdict),
            self.ami_state
        );
        let lag = &self.scheduling_lag;
        if lag.stalls > 0 {
            let _ = writeln!(
                out,
                "  astha woke late {} times (longest {} ms, {} ms in all): given back to the probes",
                lag.stalls, lag.max_ms, lag.total_ms
            );
        }
        for probe in &self.probes {
            let ok = match probe.ok {
                Some(true) => style.judge("ok"),
                Some(false) => style.judge("failed"),
                None => "-".into(),
            };
            let _ = writeln!(
                out,
                "  {:<10} {:<6} {:>10}  {}",
                probe.kind,
                ok,
                opt_ms(probe.latency_ms),
                probe.error.as_deref().unwrap_or("")
            );
        }
    }
}

impl RelayStatus {
    fn render_into(&self, out: &mut String, style: Style) {
        let _ = writeln!(
            out,
            "relay ({})  position {}{}{}",
            self.driver,
            self.position.as_deref().unwrap_or("unknown"),
            if self.read_back {
                " (read back)"
            } else {
                " (as commanded)"
            },
            self.error
                .as_deref()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
        if let Some(w) = &self.watchdog {
            w.render_into(out, style);
        }
    }
}

impl RelayWatchdogStatus {
    fn render_into(&self, out: &mut String, style: Style) {
        let state = match (self.state.as_deref(), self.remaining_s) {
            (Some("running"), Some(left)) => format!("{} ({left} s left)", style.judge("running")),
            (Some(state), _) => style.judge(state),
            (None, _) => "state unknown".into(),
        };
        let kicks = if self.kicking {
            let age = self
                .last_kick_age_ms
                .map_or("never".into(), |a| format!("{a} ms ago"));
            format!(
                "kicked from here every {} ms, last {age}",
                self.kick_every_ms
            )
        } else {
            "not kicked from here".into()
        };
        let _ = writeln!(
            out,
            "  watchdog {state}, falls back to {}  {kicks}{}",
            self.falls_back_to,
            self.last_kick_error
                .as_deref()
                .map(|e| format!("  kick error: {e}"))
                .unwrap_or_default()
        );
    }
}

impl WitnessStatus {
    fn render_into(&self, out: &mut String, style: Style) {
        let state = match self.reachable {
            Some(true) => format!("{} ({})", style.judge("ok"), opt_ms(self.rtt_ms)),
            Some(false) => format!(
                "{} ({})",
                style.judge("down"),
                self.error.as_deref().unwrap_or("no answer")
            ),
            None => "not checked yet".into(),
        };
        let age = self
            .age_ms
            .map(|a| format!("  checked {a} ms ago"))
            .unwrap_or_default();
        let _ = writeln!(out, "witness {}  {state}{age}", self.target);
    }
}

impl FloatingIpStatus {
    fn render_into(&self, out: &mut String) {
        if self.addresses.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "floating ip {}  {}",
            self.addresses.join(","),
            if self.held_here {
                "held here"
            } else {
                "not here"
            }
        );
    }
}

impl DrbdStatus {
    fn render_into(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "drbd {}  {}{}",
            self.resource,
            self.state.as_deref().unwrap_or(&self.role),
            if self.mounted { ", mounted" } else { "" }
        );
        if let Some(fence) = &self.last_fence {
            let _ = writeln!(out, "  last {fence}");
        }
    }
}

impl TakeoverRecordStatus {
    fn render_into(&self, out: &mut String, style: Style) {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| format!("{} {:.1}ms {}", s.step, s.ms, s.outcome))
            .collect();
        let _ = writeln!(
            out,
            "last takeover: term {} {} in {:.1} ms, reason: {}\n  {}",
            self.term,
            style.judge(&self.outcome),
            self.total_ms,
            self.reason,
            steps.join(" → ")
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A report as a standby node would give it, with one failing probe.
    pub(crate) fn sample_report() -> StatusReport {
        let probe = |kind: &str, ok: bool, ms: f64, error: Option<&str>| ProbeStatus {
            kind: kind.into(),
            ok: Some(ok),
            latency_ms: Some(ms),
            error: error.map(str::to_string),
            age_ms: Some(120),
            consecutive_failures: u32::from(!ok),
        };
        StatusReport {
            format: STATUS_FORMAT_VERSION,
            node: NodeStatus {
                side: "b".into(),
                name: "pbx-b".into(),
                role: "standby".into(),
                term: 7,
                maintenance: false,
                uptime_s: 3600,
                version: "0.1.0".into(),
                last_decision: Some("peer active and healthy".into()),
                standby: "warm".into(),
                cannot_take_over: None,
            },
            peer: PeerStatus {
                side: "a".into(),
                name: "pbx-a".into(),
                links_up: vec!["lan".into()],
                links_down: vec!["crossover".into()],
                role: Some("active".into()),
                term: Some(7),
                last_message_age_ms: Some(180),
                rejected: vec![("bad_mac".into(), 3), ("replay".into(), 0)],
            },
            targets: vec![
                TargetStatus {
                    target: "local".into(),
                    verdict: "healthy".into(),
                    verdict_since_s: Some(3500),
                    ami_state: "logged-in".into(),
                    expected_down: None,
                    probes: vec![
                        probe("ping", true, 0.4, None),
                        probe("call", true, 1012.0, None),
                    ],
                    scheduling_lag: LagStatus {
                        stalls: 2,
                        total_ms: 260,
                        max_ms: 180,
                    },
                },
                TargetStatus {
                    target: "peer".into(),
                    verdict: "degraded".into(),
                    verdict_since_s: Some(12),
                    ami_state: "logged-in".into(),
                    expected_down: None,
                    probes: vec![
                        probe("ping", true, 0.9, None),
                        probe("sip", false, 0.0, Some("timeout after 1000 ms")),
                    ],
                    scheduling_lag: LagStatus::default(),
                },
            ],
            relay: RelayStatus {
                driver: "numato".into(),
                position: Some("a".into()),
                read_back: true,
                error: None,
                watchdog: Some(RelayWatchdogStatus {
                    state: Some("running".into()),
                    remaining_s: Some(7),
                    falls_back_to: "b".into(),
                    kick_every_ms: 3333,
                    kicking: false,
                    last_kick_age_ms: None,
                    last_kick_error: None,
                    kicks: 0,
                    kick_failures: 0,
                }),
            },
            floating_ip: FloatingIpStatus {
                addresses: vec!["192.0.2.100/24".into()],
                held_here: false,
            },
            drbd: Some(DrbdStatus {
                resource: "r0".into(),
                role: "Secondary".into(),
                mounted: false,
                state: None,
                last_fence: None,
            }),
            last_takeover: Some(TakeoverRecordStatus {
                reason: "peer asterisk hung".into(),
                term: 7,
                started_unix_ms: 1_795_666_364_000,
                outcome: "done".into(),
                total_ms: 84.2,
                steps: vec![StepStatus {
                    step: "relay".into(),
                    ms: 12.5,
                    outcome: "ok".into(),
                }],
            }),
            witness: Some(WitnessStatus {
                target: "192.0.2.1 (ICMP echo)".into(),
                reachable: Some(true),
                rtt_ms: Some(0.3),
                error: None,
                age_ms: Some(400),
                checks: 12,
                failures: 0,
            }),
            alerts: vec![AlertStatus {
                kind: "local_unhealthy_no_takeover".into(),
                severity: "critical".into(),
                message: "a looks dead but this node's Asterisk is failed: no takeover".into(),
                raised_unix_ms: 1_795_666_364_000,
                raised: "2026-11-26T04:12:44.000Z".into(),
                active_s: 300,
            }],
            calls: Some(CallsStatus {
                node: "pbx-a".into(),
                count: Some(2),
                error: None,
            }),
        }
    }

    #[test]
    fn json_round_trips() {
        let report = sample_report();
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<StatusReport>(&json).unwrap(), report);
    }

    #[test]
    fn table_shows_what_an_admin_needs() {
        let text = sample_report().render(Style { colour: false });
        for needle in [
            "role standby",
            "term 7",
            "links up [lan] down [crossover]",
            "rejected datagrams: 3 (bad_mac=3)",
            "timeout after 1000 ms",
            "position a (read back)",
            "floating ip 192.0.2.100/24  not here",
            "relay 12.5ms ok",
            "watchdog running (7 s left), falls back to b  not kicked from here",
            "witness 192.0.2.1 (ICMP echo)  ok (0.3 ms)  checked 400 ms ago",
            "ALERT critical local_unhealthy_no_takeover since 2026-11-26T04:12:44.000Z (5 min ago): a looks dead",
            "calls 2 calls in progress on pbx-a: a switch drops them",
            "astha woke late 2 times (longest 180 ms, 260 ms in all)",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        assert!(
            !text.contains('\x1b'),
            "no colour codes when not on a terminal"
        );
        assert!(sample_report()
            .render(Style { colour: true })
            .contains("\x1b[32mstandby"));
        // The alerts come with the node, before the peer.
        let line_of = |needle: &str| text.lines().position(|l| l.contains(needle));
        assert!(line_of("ALERT critical") < line_of("peer pbx-a"), "{text}");
        let mut calm = sample_report();
        calm.alerts.clear();
        assert!(calm
            .render(Style { colour: false })
            .contains("\n  alerts: none\n"));
    }

    #[test]
    fn a_document_without_alerts_still_reads() {
        // From a daemon older than the `alerts` field: the field is only added (format 1).
        let mut json = serde_json::to_value(sample_report()).unwrap();
        json.as_object_mut().unwrap().remove("alerts");
        let report: StatusReport = serde_json::from_value(json).unwrap();
        assert!(report.alerts.is_empty());
        assert_eq!(report.format, 1);
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(45), "45 s");
        assert_eq!(duration_words(300), "5 min");
        assert_eq!(duration_words(3 * 3600 + 20 * 60), "3 h 20 min");
        assert_eq!(duration_words(2 * 86_400 + 4 * 3600), "2 d 4 h");
    }
}
