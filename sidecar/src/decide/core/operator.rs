//! Operator commands (from the CLI or the dialplan): maintenance on/off and manual failover,
//! each answered with what happens or why it is refused.

use crate::decide::{Command, DecisionKind, OperatorCommand, Reason, Role};

use super::Core;

impl Core {
    pub(super) fn on_operator(&mut self, cmd: OperatorCommand, out: &mut Vec<Command>) {
        let reply = match cmd {
            OperatorCommand::Maintenance { on } => self.operator_maintenance(on),
            OperatorCommand::Failover { force, reason } => {
                self.operator_failover(force, reason, out)
            }
        };
        out.push(Command::OperatorReply(reply));
    }

    fn operator_maintenance(&mut self, on: bool) -> Result<String, String> {
        self.maintenance = on;
        if on {
            if self.role == Role::Standby {
                self.role = Role::Maintenance;
            }
            Ok(format!(
                "maintenance on: no automatic decisions on {} (role {})",
                self.cfg.me, self.role
            ))
        } else {
            if matches!(self.role, Role::Maintenance | Role::Faulted) {
                self.role = Role::Standby;
            }
            self.takeover_failures = 0;
            self.fault_after_release = false;
            Ok(format!(
                "maintenance off: automatic decisions resume on {} (role {})",
                self.cfg.me, self.role
            ))
        }
    }

    fn operator_failover(
        &mut self,
        force: bool,
        reason: String,
        out: &mut Vec<Command>,
    ) -> Result<String, String> {
        let peer = self.cfg.me.other();
        match self.role {
            Role::TakingOver | Role::Releasing => {
                Err(format!("refused: a switch is already in progress ({} is {})", self.cfg.me, self.role))
            }
            Role::Faulted => Err(format!(
                "refused: {} is faulted after a failed actuator step; fix it, then run `astha maintenance off`",
                self.cfg.me
            )),
            Role::Active => {
                let problem = self.standby_problem();
                match problem {
                    None => {
                        self.begin_handover(Reason::Operator { reason, forced: false }, false, out);
                        Ok(format!("releasing to {peer}; {peer} takes over"))
                    }
                    Some(p) if force => {
                        self.begin_handover(Reason::Operator { reason, forced: true }, true, out);
                        Ok(format!("forced: releasing to {peer} although {p}"))
                    }
                    Some(p) => Err(format!("refused: {p}; use --force to hand over anyway")),
                }
            }
            Role::Standby | Role::Maintenance => {
                if let (Some(problem), false) = (self.readiness_problem(), force) {
                    return Err(format!(
                        "refused: this node cannot take the calls ({problem}); use --force to take over anyway"
                    ));
                }
                match self.alive_peer() {
                    Some(p) if p.role == Role::Active => {
                        let until = self.now.plus(self.cfg.handover_timeout_ms);
                        self.release_request = Some((force, until));
                        self.record(DecisionKind::RequestRelease, Reason::Operator { reason, forced: force }, out);
                        Ok(format!("asked {peer} to release; {} takes over when it has", self.cfg.me))
                    }
                    Some(p) if p.role.claims_calls() || p.role == Role::Releasing => {
                        Err(format!("refused: {peer} is switching ({})", p.role))
                    }
                    Some(_) => {
                        self.start_takeover(Reason::Operator { reason, forced: force }, out);
                        Ok(format!("nobody is active: {} takes over", self.cfg.me))
                    }
                    None if force => {
                        self.start_takeover(Reason::Operator { reason, forced: true }, out);
                        Ok(format!("forced takeover while {peer} is silent on every link"))
                    }
                    None => Err(format!(
                        "refused: {peer} is silent on every link; if it is really down the takeover is automatic once \
                         its Asterisk fails probes from here; use --force to take over anyway"
                    )),
                }
            }
        }
    }
}
