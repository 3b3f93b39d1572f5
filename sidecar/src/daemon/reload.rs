//! SIGHUP: re-reads the configuration file; applies what can change at run time and keeps the
//! running configuration when the new one is broken.

use crate::alerts::EventSource;
use crate::config::Config;

use super::{start, Daemon};

impl Daemon {
    pub(super) fn reload(&mut self) {
        self.notifier.reloading();
        match Config::load(&self.config_path) {
            Err(e) => {
                tracing::error!(
                    "configuration reload rejected, keeping the running configuration:\n{e}"
                );
            }
            Ok((new, warnings)) => {
                for w in &warnings {
                    tracing::warn!("{}: {w}", self.config_path.display());
                }
                if new.node.side != self.config.node.side {
                    tracing::error!("configuration reload rejected: node.side cannot change while running (restart astha)");
                } else {
                    tracing::info!(
                        "configuration reloaded; [dialplan], [alerts] and the node names apply now, probe, peer-link, [contacts], [decide] (witness included), [service_network], actuator, control and metrics changes at the next restart"
                    );
                    self.config.daemon.dialplan = new.daemon.dialplan.clone();
                    let _ = self.dialplan_config.send(new.daemon.dialplan.clone());
                    self.config.node.name = new.node.name.clone();
                    self.config.node.peer_name = new.node.peer_name.clone();
                    match start::start_alert_sinks(&new) {
                        Ok(dispatcher) => {
                            self.alerts.reconfigure(EventSource::of(&new), dispatcher);
                            self.config.alerts = new.alerts;
                        }
                        Err(e) => {
                            tracing::error!("[alerts] not reloaded, the running sinks stay: {e}")
                        }
                    }
                }
            }
        }
        self.notifier.ready("running");
    }
}
