//! Control requests (`astha status`, `failover`, `maintenance`, `probe --now` over the control
//! socket) and operator commands from the CLI or the dialplan, answered through the core.

use tokio::sync::oneshot;

use crate::control::{IncomingRequest, Reply, RequestBody};
use crate::decide::{Input, OperatorCommand};
use crate::probe::target::TargetMonitor;

use super::Daemon;

impl Daemon {
    pub(super) async fn control(&mut self, incoming: IncomingRequest) {
        let reply = incoming.reply;
        match incoming.request.body {
            RequestBody::Status => {
                let _ = reply.send(Reply::status(self.status_report()));
            }
            RequestBody::Failover { force, reason } => {
                let reason = reason.unwrap_or_else(|| "operator request (astha failover)".into());
                tracing::warn!(force, %reason, "failover requested from the CLI");
                self.operator(OperatorCommand::Failover { force, reason }, Some(reply))
                    .await;
            }
            RequestBody::Maintenance { on } => {
                tracing::warn!(on, "maintenance mode requested from the CLI");
                self.operator(OperatorCommand::Maintenance { on }, Some(reply))
                    .await;
            }
            RequestBody::ProbeNow { target } => match self.monitor(&target) {
                Some(monitor) => self.probe_once(monitor, reply),
                None => {
                    let _ = reply.send(Reply::error(format!(
                        "unknown target `{target}`: expected `local` or `peer`"
                    )));
                }
            },
        }
    }

    /// Hands an operator command to the core; its `OperatorReply` answers `reply`.
    pub(super) async fn operator(
        &mut self,
        command: OperatorCommand,
        reply: Option<oneshot::Sender<Reply>>,
    ) {
        self.pending_operator = reply;
        self.feed(Input::Operator(command)).await;
        // A command the core took without a word must not leave the CLI waiting.
        if let Some(waiting) = self.pending_operator.take() {
            let _ = waiting.send(Reply::ok("accepted"));
        }
    }

    /// Answers the operator request waiting for the core (or logs the answer to a dialplan one).
    pub(super) fn answer_operator(&mut self, reply: Reply) {
        match self.pending_operator.take() {
            Some(waiting) => {
                let _ = waiting.send(reply);
            }
            None => {
                tracing::warn!(ok = reply.ok, message = ?reply.message, error = ?reply.error, "operator request answered")
            }
        }
    }

    fn monitor(&self, target: &str) -> Option<&TargetMonitor> {
        match target {
            "local" => Some(&self.local),
            "peer" => Some(&self.peer),
            _ => None,
        }
    }

    /// Runs every enabled probe of `monitor`'s target once, off the loop, and replies with the table.
    fn probe_once(&self, monitor: &TargetMonitor, reply: oneshot::Sender<Reply>) {
        let probes = monitor.probes_arc();
        let settings = self.config.probes.clone();
        tokio::spawn(async move {
            let kinds = probes.enabled().to_vec();
            let report = crate::probe::oneshot::run_once(probes.as_ref(), &settings, &kinds).await;
            let _ = reply.send(Reply::ok(report.table()));
        });
    }
}
