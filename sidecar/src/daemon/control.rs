//! Control requests (`astha status`, `failover`, `maintenance`, `probe --now`, DRBD's
//! `fence-peer`/`unfence-peer` handlers over the control socket) and operator commands from the
//! CLI or the dialplan, answered through the core.

use tokio::sync::oneshot;

use crate::actuate::fence::{FenceEvidence, FenceFacts};
use crate::actuate::relay::WatchdogState;
use crate::control::{ControlReply, IncomingRequest, RequestBody};
use crate::decide::{Input, OperatorCommand};
use crate::probe::TargetMonitor;

use super::Daemon;

impl Daemon {
    pub(super) async fn control(&mut self, incoming: IncomingRequest) {
        let reply = incoming.reply;
        match incoming.request.body {
            RequestBody::Status => self.status_with_calls(reply),
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
                    let _ = reply.send(ControlReply::error(format!(
                        "unknown target `{target}`: expected `local` or `peer`"
                    )));
                }
            },
            RequestBody::FencePeer {
                resource,
                peer_node_id,
                peer_name,
            } => self.fence_peer(resource, peer_node_id, peer_name, reply),
            RequestBody::UnfencePeer {
                resource,
                peer_node_id,
            } => {
                tracing::warn!(%resource, ?peer_node_id, "DRBD unfence-peer: the peer is UpToDate again");
                self.devices
                    .fence
                    .note_event(format!("unfence-peer {resource}: peer UpToDate again"));
                let _ = reply.send(ControlReply::ok("recorded: the peer is UpToDate again"));
            }
        }
    }

    /// The relay's own watchdog guards the peer's side and the device says it expired: the
    /// peer stopped kicking it (dead, hung or cut off), and the device moved the calls here.
    fn watchdog_expiry_evidence(&self) -> Option<FenceEvidence> {
        let relay = self.devices.relay.as_ref()?;
        let watchdog = relay.capabilities().watchdog?;
        let me = self.config.node.side;
        let reading = &self.report.relay;
        let expired = watchdog.falls_back_to == me
            && reading.watchdog == Some(WatchdogState::Expired)
            && reading.read_back
            && reading.position == Some(me);
        expired.then(|| FenceEvidence::WatchdogExpired {
            detail: format!(
                "{} fell back to side {me} by itself: side {} stopped kicking it",
                relay.describe(),
                watchdog.guards()
            ),
        })
    }

    /// `astha status`: the report, plus the calls in progress on whichever node is active
    /// (one count shared by the requests of a few hundred ms, see `calls::SharedCount`),
    /// counted off the loop (a hung Asterisk costs the status its count's deadline, no more) and
    /// off the probe connection (listing every channel of a busy server must not delay a ping).
    fn status_with_calls(&mut self, reply: oneshot::Sender<ControlReply>) {
        let mut report = self.status_report();
        let active = if report.node.role == "active" {
            Some((
                self.local.probes().ami().bulk_client().clone(),
                report.node.name.clone(),
            ))
        } else if report.peer.role.as_deref() == Some("active") {
            Some((
                self.peer.probes().ami().bulk_client().clone(),
                report.peer.name.clone(),
            ))
        } else {
            None
        };
        let shared = self.call_count.clone();
        tokio::spawn(async move {
            if let Some((client, name)) = active {
                let count = super::calls::calls_in_progress(&client, &name);
                report.calls = Some(shared.get_or_count(&name, count).await);
            }
            let _ = reply.send(ControlReply::status(report));
        });
    }

    /// DRBD asks whether the peer is out of the way: answered from who holds the calls (see
    /// `actuate::fence`), off the loop because it reads DRBD's state.
    fn fence_peer(
        &self,
        resource: String,
        peer_node_id: Option<u32>,
        peer_name: Option<String>,
        reply: oneshot::Sender<ControlReply>,
    ) {
        let relay = &self.report.relay;
        let relay_now = relay.read_back.then_some(relay.position).flatten();
        let watchdog_expired = self.watchdog_expiry_evidence();
        let facts = FenceFacts::from_core(&self.core.status())
            .with_evidence(&self.devices.fence, relay_now)
            .with_live_evidence(watchdog_expired);
        let (drbd, ledger) = (self.devices.drbd.clone(), self.devices.fence.clone());
        tokio::spawn(async move {
            let verdict =
                crate::actuate::fence::answer_request(&resource, drbd.as_ref(), facts).await;
            let code = verdict.exit_code();
            tracing::warn!(%resource, ?peer_node_id, ?peer_name, code, "DRBD fence-peer: {verdict}");
            ledger.note_event(format!("fence-peer {resource}: {verdict} (exit {code})"));
            let _ = reply.send(ControlReply::fence(verdict));
        });
    }

    /// Hands an operator command to the core; its `OperatorReply` answers `reply`.
    pub(super) async fn operator(
        &mut self,
        command: OperatorCommand,
        reply: Option<oneshot::Sender<ControlReply>>,
    ) {
        self.pending_operator = reply;
        self.feed(Input::Operator(command)).await;
        // A command the core took without a word must not leave the CLI waiting.
        if let Some(waiting) = self.pending_operator.take() {
            let _ = waiting.send(ControlReply::ok("accepted"));
        }
    }

    /// Answers the operator request waiting for the core (or logs the answer to a dialplan one).
    pub(super) fn answer_operator(&mut self, reply: ControlReply) {
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
    fn probe_once(&self, monitor: &TargetMonitor, reply: oneshot::Sender<ControlReply>) {
        let probes = monitor.probes_arc();
        let settings = self.config.probes.clone();
        tokio::spawn(async move {
            let kinds = probes.enabled().to_vec();
            let report = crate::probe::oneshot::run_once(probes.as_ref(), &settings, &kinds).await;
            let _ = reply.send(ControlReply::ok(report.table()));
        });
    }
}
