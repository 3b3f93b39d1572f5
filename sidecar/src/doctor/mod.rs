//! `astha doctor`'s checks: everything a takeover will need, checked from one node, each with a deadline, a verdict and the fix.
//!
//! One module per area: [`ami`] (logins and probes on both Asterisks), [`network`] (the
//! floating-IP interface, SIP on the floating IP, the service network's reachability targets),
//! [`relay`], [`drbd`], [`install`] (unit, state directory, control socket) and [`daemon`]
//! (the running daemon and what it hears of its peer). Each reuses the code the daemon runs
//! (probes, relay drivers, netlink, witness checks, control client) so the doctor checks what
//! a takeover will really do, and none of them changes anything (the relay is only read).
//!
//! Every area runs under its own deadline and all areas run at once, so a hung Asterisk or a
//! silent relay costs one failed line, not the whole run: a full run takes about as long as
//! the slowest area (the test calls, about 2 s on a real Asterisk), well under 10 s.

pub mod ami;
pub mod daemon;
pub mod drbd;
pub mod install;
pub mod network;
pub mod relay;

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::status::StatusReport;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Checked and fine.
    Ok,
    /// Not applicable here (said why): counts as fine.
    Skip,
    /// Works, but a takeover may suffer (or the check could not be made).
    Warn,
    /// A takeover would fail or misbehave.
    Fail,
}

impl Status {
    /// The word printed in the table.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the report: what was checked, how it came out, what is wrong and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it; `None` when there is nothing to do.
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(check, Status::Ok, detail, None::<String>)
    }

    pub fn skip(check: impl Into<String>, why: impl Into<String>) -> Check {
        Check::new(check, Status::Skip, why, None::<String>)
    }

    pub fn warn(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::new(check, Status::Warn, detail, Some(fix))
    }

    pub fn fail(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::new(check, Status::Fail, detail, Some(fix))
    }

    fn new(
        check: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        fix: Option<impl Into<String>>,
    ) -> Check {
        Check {
            check: check.into(),
            status,
            detail: detail.into(),
            fix: fix.map(Into::into),
        }
    }
}

/// Every check of one run, in a fixed order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// The worst status of any check (`Ok` for an empty report).
    pub fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// One line per check: `STATUS  CHECK: DETAIL; fix: FIX`.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&format!(
                "{:<4}  {}: {}",
                c.status.label(),
                c.check,
                c.detail
            ));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("; fix: {fix}"));
            }
            out.push('\n');
        }
        let count = |s: Status| self.checks.iter().filter(|c| c.status == s).count();
        out.push_str(&format!(
            "{} ok, {} skipped, {} warning(s), {} failure(s)\n",
            count(Status::Ok),
            count(Status::Skip),
            count(Status::Warn),
            count(Status::Fail)
        ));
        out
    }

    /// A JSON array of `{check, status, detail, fix}`.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(&self.checks).unwrap_or_else(|e| {
            format!(
                "[{{\"check\":\"report\",\"status\":\"fail\",\"detail\":\"cannot encode: {e}\",\"fix\":null}}]"
            )
        })
    }
}

/// The deadline of the running daemon's status request.
const STATUS_DEADLINE: Duration = Duration::from_secs(1);
/// The deadline of each area other than the Asterisks (relay, network, DRBD, install).
const AREA_DEADLINE: Duration = Duration::from_secs(5);

/// Runs every check on a configuration that loaded and validated from `config_path`
/// (`config_line` is the configuration's own check, first in the report).
pub async fn run(config: &Config, config_path: &Path, config_line: Check) -> Report {
    let status = daemon::fetch_status(config, STATUS_DEADLINE).await;
    let status_ref = status.as_ref().ok();
    let (asterisks, network, relay, drbd, install) = tokio::join!(
        ami::check(config, status_ref),
        within("network", AREA_DEADLINE, network::check(config)),
        within("relay", AREA_DEADLINE, relay::check(config, status_ref)),
        within("DRBD", AREA_DEADLINE, drbd::check(config)),
        within(
            "installation",
            AREA_DEADLINE,
            install::check(config, config_path)
        ),
    );
    let mut checks = vec![config_line];
    checks.extend(daemon::check(config, &status));
    checks.extend(asterisks);
    checks.extend(network);
    checks.extend(relay);
    checks.extend(drbd);
    checks.extend(install);
    Report { checks }
}

/// Runs one area's checks under `deadline`: an area that does not finish in time is one failed
/// line naming it, not a hung doctor.
pub async fn within<F>(area: &str, deadline: Duration, checks: F) -> Vec<Check>
where
    F: Future<Output = Vec<Check>>,
{
    match tokio::time::timeout(deadline, checks).await {
        Ok(checks) => checks,
        Err(_) => vec![Check::fail(
            area,
            format!("no result within {} s", deadline.as_secs()),
            "something this check talks to hangs: see the other lines and the logs",
        )],
    }
}

/// The status of the running daemon, when there is one (its absence is reported by
/// [`daemon::check`]).
pub type DaemonStatus = Result<StatusReport, crate::control::ControlClientError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_check_decides_and_skips_count_as_fine() {
        let mut report = Report {
            checks: vec![Check::ok("a", "fine"), Check::skip("b", "not here")],
        };
        assert_eq!(report.worst(), Status::Skip);
        report.checks.push(Check::warn("c", "meh", "do x"));
        assert_eq!(report.worst(), Status::Warn);
        report.checks.push(Check::fail("d", "broken", "do y"));
        assert_eq!(report.worst(), Status::Fail);
    }

    #[test]
    fn the_table_has_one_line_per_check_with_its_fix_and_json_has_the_four_fields() {
        let report = Report {
            checks: vec![
                Check::ok("config", "valid"),
                Check::fail("peer AMI login", "refused", "add permit"),
            ],
        };
        let table = report.table();
        assert!(table.contains("ok    config: valid\n"), "{table}");
        assert!(
            table.contains("FAIL  peer AMI login: refused; fix: add permit\n"),
            "{table}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(json[0]["status"], "ok");
        assert_eq!(json[0]["fix"], serde_json::Value::Null);
        assert_eq!(json[1]["status"], "fail");
        assert_eq!(json[1]["fix"], "add permit");
        assert_eq!(json[1]["check"], "peer AMI login");
        assert_eq!(json[1]["detail"], "refused");
    }

    #[tokio::test]
    async fn an_area_that_hangs_is_one_failed_line_at_its_deadline() {
        let checks = within("relay", Duration::from_millis(20), async {
            std::future::pending::<()>().await;
            Vec::new()
        })
        .await;
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, Status::Fail);
        assert_eq!(checks[0].check, "relay");
    }
}
