//! `[probes.*]`: cadence, deadline and hysteresis of each probe kind, plus kind-specific settings.

use std::time::Duration;

use crate::probe::ProbeKind;

use super::problem::Problems;
use super::reader::Section;
use super::ProblemSeverity;

/// Settings shared by every probe kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTiming {
    pub enabled: bool,
    /// Time between the starts of two runs.
    pub interval: Duration,
    /// A run without an answer by then counts as failed.
    pub timeout: Duration,
    /// Whether a failure of this probe can make the target `failed` (otherwise only `degraded`).
    pub critical: bool,
    /// Consecutive failures before the probe counts as down.
    pub fail_after: u32,
    /// Consecutive successes before a down probe counts as up again.
    pub recover_after: u32,
}

/// How the core-responsiveness probe touches the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreMethod {
    /// `Action: CoreStatus`.
    CoreStatus,
    /// `Action: Command` / `core show channels count`.
    ChannelsCount,
}

/// All probe settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbesConfig {
    /// One entry per kind, in [`ProbeKind::ALL`] order (so every kind always has settings).
    timing: [ProbeTiming; 6],
    pub core_method: CoreMethod,
    /// Call-path probe destination: `Local/<exten>@<context>`.
    pub call_context: String,
    pub call_exten: String,
    /// SIP response codes that count as alive (default 200 only: accepting e.g. 408 hides dead servers).
    pub sip_accepted: Vec<u16>,
}

impl ProbesConfig {
    pub fn timing(&self, kind: ProbeKind) -> &ProbeTiming {
        &self.timing[kind.index()]
    }

    pub fn timing_mut(&mut self, kind: ProbeKind) -> &mut ProbeTiming {
        &mut self.timing[kind.index()]
    }

    /// Every kind with its settings.
    pub fn timings(&self) -> impl Iterator<Item = (ProbeKind, &ProbeTiming)> {
        ProbeKind::ALL.into_iter().zip(self.timing.iter())
    }

    /// AMI actions per second these settings send to one Asterisk (see [`AMI_BUDGET_PER_SECOND`]).
    pub fn ami_actions_per_second(&self) -> f64 {
        self.timings()
            .filter(|(k, t)| k.uses_ami() && t.enabled)
            .map(|(_, t)| 1.0 / t.interval.as_secs_f64().max(0.001))
            .sum()
    }
}

/// The documented defaults (see contrib/astha.example.toml).
pub fn default_timing(kind: ProbeKind) -> ProbeTiming {
    let t = |interval_ms, timeout_ms, critical, fail_after, recover_after| ProbeTiming {
        enabled: true,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        critical,
        fail_after,
        recover_after,
    };
    match kind {
        // Liveness: a ping every 250 ms, and the target failed after 1 s with no answer to
        // anything (see `ProbeSchedule::answered`): a hang is seen in 1.0-1.25 s, and an
        // answer up to 1 s late is still an answer.
        ProbeKind::Ping => t(250, 1_000, true, 1, 3),
        // A loaded Asterisk took 625 ms for CoreStatus: a miss is confirmed at once by a second
        // run before the core counts as deadlocked (2-4 s).
        ProbeKind::Core => t(2_000, 1_000, true, 2, 2),
        ProbeKind::Call => t(10_000, 5_000, true, 2, 1),
        ProbeKind::Sip => t(5_000, 2_000, true, 2, 2),
        ProbeKind::Ari => t(5_000, 2_000, false, 2, 2),
        ProbeKind::Spans => t(30_000, 2_000, false, 1, 1),
    }
}

impl Default for ProbesConfig {
    fn default() -> Self {
        ProbesConfig {
            timing: ProbeKind::ALL.map(default_timing),
            core_method: CoreMethod::CoreStatus,
            call_context: "ha-probe".into(),
            call_exten: "probe".into(),
            sip_accepted: vec![200],
        }
    }
}

const MAX_MS: u64 = 24 * 3600 * 1000;

pub(crate) fn read(section: &mut Section<'_, '_>, problems: &mut Problems) -> ProbesConfig {
    let mut config = ProbesConfig::default();
    for kind in ProbeKind::ALL {
        let mut s = section.section(problems, kind.as_str());
        let timing = read_timing(&mut s, problems, kind);
        match kind {
            ProbeKind::Core => {
                if let Some(m) = s.string(problems, "method") {
                    match m.get_ref().as_str() {
                        "core-status" => config.core_method = CoreMethod::CoreStatus,
                        "channels-count" => config.core_method = CoreMethod::ChannelsCount,
                        other => s.problem_at(
                            problems,
                            ProblemSeverity::Error,
                            "method",
                            format!(
                                "unknown method `{other}`: expected core-status or channels-count"
                            ),
                        ),
                    }
                }
            }
            ProbeKind::Call => {
                for (key, slot) in [
                    ("context", &mut config.call_context),
                    ("exten", &mut config.call_exten),
                ] {
                    if let Some(v) = s.string(problems, key) {
                        if v.get_ref().is_empty()
                            || v.get_ref()
                                .contains(|c: char| c.is_whitespace() || "@/,".contains(c))
                        {
                            s.problem_at(
                                problems,
                                ProblemSeverity::Error,
                                key,
                                "must be non-empty without spaces, @, / or ,",
                            );
                        } else {
                            *slot = v.into_inner();
                        }
                    }
                }
            }
            ProbeKind::Sip => {
                if let Some(codes) = s.uint_array(problems, "accepted", 699) {
                    let codes: Vec<u16> =
                        codes.into_inner().into_iter().map(|c| c as u16).collect();
                    if codes.is_empty() || codes.iter().any(|c| *c < 100) {
                        s.problem_at(
                            problems,
                            ProblemSeverity::Error,
                            "accepted",
                            "must list SIP status codes (100-699)",
                        );
                    } else {
                        if codes.iter().any(|c| *c == 408 || *c >= 500) {
                            s.problem_at(
                                problems,
                                ProblemSeverity::Warning,
                                "accepted",
                                "accepting 408 or 5xx answers hides dead or overloaded servers",
                            );
                        }
                        config.sip_accepted = codes;
                    }
                }
            }
            _ => {}
        }
        *config.timing_mut(kind) = timing;
        s.finish(problems);
    }
    check_budget(section, problems, &config);
    check_liveness(section, problems, &config);
    config
}

fn read_timing(s: &mut Section<'_, '_>, p: &mut Problems, kind: ProbeKind) -> ProbeTiming {
    let mut t = default_timing(kind);
    if let Some(e) = s.get::<bool>(p, "enabled") {
        t.enabled = e;
    }
    if let Some(c) = s.get::<bool>(p, "critical") {
        t.critical = c;
    }
    let interval = s.uint(p, "interval_ms", MAX_MS);
    let timeout = s.uint(p, "timeout_ms", MAX_MS);
    if let Some(v) = &interval {
        if *v.get_ref() < 100 {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "interval_ms",
                "must be at least 100 ms",
            );
        } else {
            t.interval = Duration::from_millis(*v.get_ref());
        }
    }
    if let Some(v) = &timeout {
        if *v.get_ref() == 0 {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                "timeout_ms",
                "must be more than 0",
            );
        } else {
            t.timeout = Duration::from_millis(*v.get_ref());
        }
    }
    // The liveness ping is the exception: one run at a time, judged on the silence since the
    // last answer, so a window longer than its cadence just means back-to-back pings when slow.
    if t.timeout >= t.interval && kind != ProbeKind::Ping {
        // Overlapping runs would pile up on a slow target and multiply the load on it.
        let key = if timeout.is_some() {
            "timeout_ms"
        } else {
            "interval_ms"
        };
        s.problem_at(
            p,
            ProblemSeverity::Error,
            key,
            format!(
                "timeout ({} ms) must be shorter than interval ({} ms)",
                t.timeout.as_millis(),
                t.interval.as_millis()
            ),
        );
    }
    for (key, slot) in [
        ("fail_after", &mut t.fail_after),
        ("recover_after", &mut t.recover_after),
    ] {
        if let Some(v) = s.uint(p, key, 1000) {
            if *v.get_ref() == 0 {
                s.problem_at(p, ProblemSeverity::Error, key, "must be at least 1");
            } else {
                *slot = *v.get_ref() as u32;
            }
        }
    }
    if kind == ProbeKind::Ping && !t.enabled {
        s.problem_at(
            p,
            ProblemSeverity::Error,
            "enabled",
            "the AMI ping probe cannot be disabled: every other AMI probe relies on it",
        );
        t.enabled = true;
    }
    t
}

/// The slowest answer of a healthy but saturated Asterisk 22 seen so far (CoreStatus and Ping
/// under stress-ng with calls up; see BENCHMARKS.md, soak).
const LOADED_ANSWER: Duration = Duration::from_millis(625);

/// The liveness window must leave room for a loaded Asterisk, and the cadence must not make the
/// detection of a hang much later than the window.
fn check_liveness(section: &Section<'_, '_>, p: &mut Problems, config: &ProbesConfig) {
    let ping = config.timing(ProbeKind::Ping);
    if ping.timeout < LOADED_ANSWER + LOADED_ANSWER / 5 {
        p.warning(
            &section.key_path("ping.timeout_ms"),
            section.span(),
            format!(
                "a silence window of {} ms leaves little room for a loaded Asterisk (answers took {} ms under load): a busy server may be failed over",
                ping.timeout.as_millis(),
                LOADED_ANSWER.as_millis()
            ),
        );
    }
    if ping.interval > ping.timeout / 2 {
        p.warning(
            &section.key_path("ping.interval_ms"),
            section.span(),
            format!(
                "with a ping every {} ms a hang is seen only up to {} ms after it (keep interval_ms at most half of timeout_ms)",
                ping.interval.as_millis(),
                (ping.interval + ping.timeout).as_millis()
            ),
        );
    }
}

/// AMI actions per second the probes may send to one Asterisk before `check-config` warns. The
/// defaults send about 4.6 (4 pings, which the manager thread answers without touching the core,
/// one CoreStatus every 2 s, a test call every 10 s).
pub const AMI_BUDGET_PER_SECOND: f64 = 5.0;

/// The probes must not become a load on the Asterisk they judge.
fn check_budget(section: &Section<'_, '_>, p: &mut Problems, config: &ProbesConfig) {
    let rate = config.ami_actions_per_second();
    if rate > AMI_BUDGET_PER_SECOND + 1e-9 {
        p.warning(
            &section.key_path("ping"),
            section.span(),
            format!(
                "the probes send {rate:.2} AMI actions per second to each Asterisk (budget: {AMI_BUDGET_PER_SECOND})"
            ),
        );
    }
    let call = config.timing(ProbeKind::Call);
    if call.enabled && call.interval < Duration::from_secs(10) {
        p.warning(
            &section.key_path("call.interval_ms"),
            section.span(),
            format!(
                "a test call every {} ms is more than one per 10 s",
                call.interval.as_millis()
            ),
        );
    }
}
