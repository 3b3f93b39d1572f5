//! Prometheus metrics: rendering astha's state in the text exposition format, and a tiny HTTP listener.
//!
//! Off by default. When enabled it should listen on loopback only: the metrics reveal the
//! cluster's state, and the listener speaks just enough HTTP/1.1 to answer `GET /metrics`.

use crate::alerts::SinkCounts;
use crate::decide::AlertKey;
use crate::status::StatusReport;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Monotonic counts the status report does not carry (it shows current state only).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Probe failures by (target, probe kind).
    pub probe_failures: BTreeMap<(String, String), u64>,
    pub takeovers: u64,
    pub takeovers_failed: u64,
    /// Alerts raised, by kind (`AlertKey::as_str`).
    pub alerts_raised: BTreeMap<String, u64>,
    /// What each alert sink delivered, gave up, dropped.
    pub alert_sinks: Vec<SinkCounts>,
}

const ROLES: [&str; 6] = [
    "standby",
    "taking-over",
    "active",
    "releasing",
    "maintenance",
    "faulted",
];
const VERDICTS: [&str; 4] = ["unknown", "healthy", "degraded", "failed"];

/// Escapes a label value as the exposition format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes one metric family: its HELP/TYPE header, then one line per `(labels, value)` sample.
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, String)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

fn target_kind(target: &str, kind: &str) -> String {
    format!("target=\"{}\",kind=\"{}\"", label(target), label(kind))
}

fn flag(b: bool) -> String {
    u8::from(b).to_string()
}

/// Renders the metrics in the Prometheus text format (version 0.0.4).
pub fn render(report: &StatusReport, totals: &Totals) -> String {
    let mut out = String::new();
    node_families(&mut out, report);
    probe_families(&mut out, report, totals);
    takeover_families(&mut out, report, totals);
    peer_families(&mut out, report);
    witness_families(&mut out, report);
    relay_families(&mut out, report);
    relay_watchdog_families(&mut out, report);
    alert_families(&mut out, report, totals);
    out
}

/// This node: its role, term and maintenance mode.
fn node_families(o: &mut String, report: &StatusReport) {
    let node = &report.node;
    family(
        o,
        "astha_role",
        "gauge",
        "1 for the role this node is in, 0 for the others.",
        ROLES
            .iter()
            .map(|r| (format!("role=\"{r}\""), flag(node.role == *r))),
    );
    family(
        o,
        "astha_term",
        "gauge",
        "The persisted takeover term of this node.",
        [(String::new(), node.term.to_string())],
    );
    family(
        o,
        "astha_maintenance",
        "gauge",
        "1 when maintenance mode stops automatic decisions.",
        [(String::new(), flag(node.maintenance))],
    );
}

/// Both Asterisk targets: verdicts, and each probe's last result and failure count.
fn probe_families(o: &mut String, report: &StatusReport, totals: &Totals) {
    family(
        o,
        "astha_verdict",
        "gauge",
        "1 for the current health verdict of each Asterisk target.",
        report.targets.iter().flat_map(|t| {
            VERDICTS.iter().map(move |v| {
                (
                    format!("target=\"{}\",verdict=\"{v}\"", label(&t.target)),
                    flag(t.verdict == *v),
                )
            })
        }),
    );
    let probes = || {
        report
            .targets
            .iter()
            .flat_map(|t| t.probes.iter().map(move |p| (t, p)))
    };
    family(
        o,
        "astha_probe_latency_seconds",
        "gauge",
        "Latency of the last successful probe run.",
        probes()
            .filter(|(_, p)| p.ok == Some(true))
            .filter_map(|(t, p)| {
                p.latency_ms.map(|ms| {
                    (
                        target_kind(&t.target, &p.kind),
                        format!("{:.6}", ms / 1000.0),
                    )
                })
            }),
    );
    family(
        o,
        "astha_probe_up",
        "gauge",
        "1 when the last run of the probe succeeded.",
        probes().filter_map(|(t, p)| p.ok.map(|ok| (target_kind(&t.target, &p.kind), flag(ok)))),
    );
    family(
        o,
        "astha_scheduling_stalls_total",
        "counter",
        "Times the target's monitor woke more than 10 ms late (astha not running).",
        report.targets.iter().map(|t| {
            (
                format!("target=\"{}\"", label(&t.target)),
                t.scheduling_lag.stalls.to_string(),
            )
        }),
    );
    family(
        o,
        "astha_scheduling_lag_seconds_total",
        "counter",
        "Time the target's monitor woke late, given back to the probes in flight.",
        report.targets.iter().map(|t| {
            (
                format!("target=\"{}\"", label(&t.target)),
                format!("{:.3}", t.scheduling_lag.total_ms as f64 / 1000.0),
            )
        }),
    );
    family(
        o,
        "astha_scheduling_lag_max_seconds",
        "gauge",
        "The longest late wake-up of the target's monitor since the daemon started.",
        report.targets.iter().map(|t| {
            (
                format!("target=\"{}\"", label(&t.target)),
                format!("{:.3}", t.scheduling_lag.max_ms as f64 / 1000.0),
            )
        }),
    );
    family(
        o,
        "astha_probe_failures_total",
        "counter",
        "Failed probe runs since the daemon started.",
        totals
            .probe_failures
            .iter()
            .map(|((t, k), n)| (target_kind(t, k), n.to_string())),
    );
}

/// Takeovers: how many, how many failed, how long the last one took.
fn takeover_families(o: &mut String, report: &StatusReport, totals: &Totals) {
    family(
        o,
        "astha_takeovers_total",
        "counter",
        "Takeovers started by this node.",
        [(String::new(), totals.takeovers.to_string())],
    );
    family(
        o,
        "astha_takeovers_failed_total",
        "counter",
        "Takeovers that failed or were rolled back.",
        [(String::new(), totals.takeovers_failed.to_string())],
    );
    family(
        o,
        "astha_last_takeover_duration_seconds",
        "gauge",
        "Duration of the last takeover.",
        report
            .last_takeover
            .iter()
            .map(|t| (String::new(), format!("{:.6}", t.total_ms / 1000.0))),
    );
}

/// The peer link: which links carry the peer, when it was last heard, what was dropped.
fn peer_families(o: &mut String, report: &StatusReport) {
    let peer = &report.peer;
    let links = peer
        .links_up
        .iter()
        .map(|l| (l, "1"))
        .chain(peer.links_down.iter().map(|l| (l, "0")));
    family(
        o,
        "astha_peer_link_up",
        "gauge",
        "1 for each peer link on which the peer is heard.",
        links.map(|(l, v)| (format!("link=\"{}\"", label(l)), v.to_string())),
    );
    family(
        o,
        "astha_peer_last_message_age_seconds",
        "gauge",
        "Age of the last authenticated peer message.",
        peer.last_message_age_ms
            .iter()
            .map(|a| (String::new(), format!("{:.3}", *a as f64 / 1000.0))),
    );
    family(
        o,
        "astha_peer_rejected_datagrams_total",
        "counter",
        "Peer datagrams dropped, by reason.",
        peer.rejected
            .iter()
            .map(|(r, n)| (format!("reason=\"{}\"", label(r)), n.to_string())),
    );
}

/// The witness, when one is configured: whether it answered the last check, how fast, how often not.
fn witness_families(o: &mut String, report: &StatusReport) {
    let Some(w) = &report.witness else {
        return;
    };
    let target = || format!("witness=\"{}\"", label(&w.target));
    family(
        o,
        "astha_witness_up",
        "gauge",
        "1 when the witness answered the last check (absent before the first).",
        w.reachable.map(|ok| (target(), flag(ok))),
    );
    family(
        o,
        "astha_witness_rtt_seconds",
        "gauge",
        "Round trip of the last answered witness check.",
        w.rtt_ms.map(|ms| (target(), format!("{:.6}", ms / 1000.0))),
    );
    family(
        o,
        "astha_witness_check_failures_total",
        "counter",
        "Witness checks without an answer since the daemon started.",
        [(target(), w.failures.to_string())],
    );
}

/// The relay's own watchdog, when it has one: its state on the device and this node's kicks.
fn relay_watchdog_families(o: &mut String, report: &StatusReport) {
    let Some(w) = &report.relay.watchdog else {
        return;
    };
    family(
        o,
        "astha_relay_watchdog_state",
        "gauge",
        "1 for the state the device reports its watchdog in (none while it cannot be read).",
        w.state.iter().flat_map(|now| {
            ["off", "running", "expired"]
                .into_iter()
                .map(move |s| (format!("state=\"{s}\""), flag(now == s)))
        }),
    );
    family(
        o,
        "astha_relay_watchdog_kicking",
        "gauge",
        "1 while this node kicks the relay watchdog (it holds the calls on the guarded side).",
        [(String::new(), flag(w.kicking))],
    );
    family(
        o,
        "astha_relay_watchdog_kicks_total",
        "counter",
        "Relay watchdog kicks the device acknowledged.",
        [(String::new(), w.kicks.to_string())],
    );
    family(
        o,
        "astha_relay_watchdog_kick_failures_total",
        "counter",
        "Relay watchdog kicks that failed.",
        [(String::new(), w.kick_failures.to_string())],
    );
}

/// The PSTN relay: which side it is on, and whether that was read back from the device.
fn relay_families(o: &mut String, report: &StatusReport) {
    let relay = &report.relay;
    family(
        o,
        "astha_relay_position",
        "gauge",
        "1 for the side the PSTN relay is on (read back, or as last commanded), 0 for the other; none when unknown.",
        relay.position.iter().flat_map(|position| {
            ["a", "b"].map(|side| (format!("side=\"{side}\""), flag(position == side)))
        }),
    );
    family(
        o,
        "astha_relay_read_back",
        "gauge",
        "1 when the relay position was read back from the device.",
        [(String::new(), flag(relay.read_back))],
    );
}

/// Alerts: which are active now, how many were raised, and what the alert sinks delivered.
fn alert_families(o: &mut String, report: &StatusReport, totals: &Totals) {
    family(
        o,
        "astha_alert_active",
        "gauge",
        "1 while an alert of this kind is active on this node.",
        AlertKey::ALL.iter().map(|key| {
            let active = report.alerts.iter().any(|a| a.kind == key.as_str());
            (format!("kind=\"{key}\""), flag(active))
        }),
    );
    family(
        o,
        "astha_alerts_raised_total",
        "counter",
        "Alerts raised since the daemon started, by kind.",
        AlertKey::ALL.iter().map(|key| {
            let n = totals.alerts_raised.get(key.as_str()).copied().unwrap_or(0);
            (format!("kind=\"{key}\""), n.to_string())
        }),
    );
    family(
        o,
        "astha_alert_events_total",
        "counter",
        "Alert events per sink: delivered, failed (given up after every attempt) or dropped (queue full).",
        totals.alert_sinks.iter().flat_map(|sink| {
            [
                ("delivered", sink.delivered),
                ("failed", sink.failed),
                ("dropped", sink.dropped),
            ]
            .map(|(result, n)| {
                (
                    format!("sink=\"{}\",result=\"{result}\"", label(&sink.name)),
                    n.to_string(),
                )
            })
        }),
    );
    family(
        o,
        "astha_alert_event_retries_total",
        "counter",
        "Delivery attempts that failed and were retried, per sink.",
        totals.alert_sinks.iter().map(|sink| {
            (
                format!("sink=\"{}\"", label(&sink.name)),
                sink.retried.to_string(),
            )
        }),
    );
}

/// Serves `GET /metrics` on `addr` until the task is dropped. `source` renders the current text.
pub async fn serve(listener: TcpListener, source: Arc<dyn Fn() -> String + Send + Sync>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let source = source.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
            else {
                return;
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let response = if request.starts_with("GET ") && (path == "/metrics" || path == "/") {
                let body = source();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// Binds the metrics listener, refusing non-loopback addresses unless explicitly allowed.
pub async fn bind(addr: SocketAddr, allow_non_loopback: bool) -> std::io::Result<TcpListener> {
    if !addr.ip().is_loopback() && !allow_non_loopback {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("metrics listener {addr} is not a loopback address (set metrics.allow_non_loopback = true to expose it)"),
        ));
    }
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::tests::sample_report;

    #[test]
    fn exposition_has_headers_before_samples_and_reflects_state() {
        let mut totals = Totals {
            takeovers: 2,
            ..Totals::default()
        };
        totals
            .probe_failures
            .insert(("peer".into(), "sip".into()), 5);
        totals
            .alerts_raised
            .insert("local_unhealthy_no_takeover".into(), 4);
        totals.alert_sinks.push(SinkCounts {
            name: "ops".into(),
            delivered: 10,
            failed: 1,
            retried: 7,
            dropped: 2,
        });
        let text = render(&sample_report(), &totals);
        for line in [
            "astha_role{role=\"standby\"} 1",
            "astha_role{role=\"active\"} 0",
            "astha_term 7",
            "astha_verdict{target=\"peer\",verdict=\"degraded\"} 1",
            "astha_probe_up{target=\"peer\",kind=\"sip\"} 0",
            "astha_probe_latency_seconds{target=\"local\",kind=\"ping\"} 0.000400",
            "astha_probe_failures_total{target=\"peer\",kind=\"sip\"} 5",
            "astha_scheduling_stalls_total{target=\"local\"} 2",
            "astha_scheduling_lag_max_seconds{target=\"local\"} 0.180",
            "astha_scheduling_lag_seconds_total{target=\"peer\"} 0.000",
            "astha_takeovers_total 2",
            "astha_peer_link_up{link=\"crossover\"} 0",
            "astha_peer_rejected_datagrams_total{reason=\"bad_mac\"} 3",
            "astha_witness_up{witness=\"192.0.2.1 (ICMP echo)\"} 1",
            "astha_relay_watchdog_state{state=\"running\"} 1",
            "astha_relay_watchdog_state{state=\"expired\"} 0",
            "astha_relay_watchdog_kicking 0",
            "astha_relay_position{side=\"a\"} 1",
            "astha_relay_position{side=\"b\"} 0",
            "astha_relay_read_back 1",
            "astha_alert_active{kind=\"local_unhealthy_no_takeover\"} 1",
            "astha_alert_active{kind=\"broken_link\"} 0",
            "astha_alerts_raised_total{kind=\"local_unhealthy_no_takeover\"} 4",
            "astha_alert_events_total{sink=\"ops\",result=\"dropped\"} 2",
            "astha_alert_event_retries_total{sink=\"ops\"} 7",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        // Every sample's family was declared by a TYPE line earlier in the text.
        let mut declared = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_string());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                assert!(declared.contains(name), "sample before its TYPE: {l}");
            }
        }
    }

    /// The rules and the dashboard astha ships, as an administrator installs them.
    const RULES: &str = include_str!("../../contrib/prometheus/astha-rules.yml");
    const DASHBOARD: &str = include_str!("../../contrib/grafana/astha-dashboard.json");

    /// Every `astha_...` name in `text`.
    fn astha_names(text: &str) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(i) = rest.find("astha_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            // Not part of a longer word (e.g. a label such as `kind="astha_x"` would still be a name).
            let before = rest[..i].chars().last();
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                names.insert(tail[..end].to_string());
            }
            rest = &tail[end..];
        }
        names
    }

    /// The metric families astha exports (every family prints its TYPE line, samples or not).
    fn exported() -> std::collections::BTreeSet<String> {
        render(&sample_report(), &Totals::default())
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_shipped_rules_and_dashboard_use_only_exported_metrics() {
        let exported = exported();
        // The dashboard's queries, read from its JSON.
        let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
        let mut queries = Vec::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                queries.push(target["expr"].as_str().unwrap().to_string());
            }
        }
        assert!(
            queries.len() >= 10,
            "the dashboard has its panels: {queries:?}"
        );
        for (file, text) in [
            ("astha-rules.yml", RULES.to_string()),
            ("astha-dashboard.json", queries.join("\n")),
        ] {
            let used = astha_names(&text);
            assert!(used.len() >= 5, "{file}: {used:?}");
            let unknown: Vec<&String> = used.difference(&exported).collect();
            assert!(
                unknown.is_empty(),
                "{file} uses metrics astha does not export: {unknown:?}"
            );
        }
        // What the brief asks the dashboard to show is there.
        for needle in [
            "astha_role",
            "astha_verdict",
            "astha_probe_latency_seconds",
            "astha_takeovers_total",
            "astha_peer_link_up",
            "astha_relay_position",
            "astha_alert_active",
        ] {
            assert!(
                queries.iter().any(|q| q.contains(needle)),
                "no dashboard panel shows {needle}"
            );
        }
        // And the test itself can fail: a made-up name is caught.
        assert!(!exported.contains("astha_no_such_metric"));
        assert_eq!(
            astha_names("x astha_no_such_metric{a=\"b\"} + myastha_x"),
            ["astha_no_such_metric".to_string()].into()
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[tokio::test]
    async fn listener_serves_metrics_and_refuses_public_addresses() {
        let err = bind("0.0.0.0:0".parse().unwrap(), false).await.unwrap_err();
        assert!(err.to_string().contains("not a loopback"));
        let listener = bind("127.0.0.1:0".parse().unwrap(), false).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, Arc::new(|| "astha_term 3\n".to_string())));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nastha_term 3\n"), "{answer}");
    }
}
