//! One monitored Asterisk: its probes assembled from the configuration ([`TargetProbes`], the real [`ProbeBackend`]) and the running monitor with its AMI signal pump ([`TargetMonitor`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::{AsteriskTarget, ProbesConfig};

use super::ami::AmiProbes;
use super::ari::AriPingProbe;
use super::runner::{spawn_monitor, MonitorHandle, ProbeBackend, ProbeFuture, TargetSignal};
use super::sip::SipOptionsProbe;
use super::starvation::CpuPressure;
use super::{ProbeError, ProbeKind};

/// Runs every probe kind against one Asterisk.
#[derive(Debug, Clone)]
pub struct TargetProbes {
    ami: Arc<AmiProbes>,
    sip: Option<Arc<SipOptionsProbe>>,
    ari: Option<Arc<AriPingProbe>>,
    enabled: Vec<ProbeKind>,
}

impl TargetProbes {
    /// Connects to `target`'s AMI (persistent, reconnecting) and prepares its enabled probes.
    /// `name` labels the connection in logs. Must run inside tokio.
    pub fn new(name: &str, target: &AsteriskTarget, probes: &ProbesConfig) -> Self {
        let on = |k: ProbeKind| probes.timing(k).enabled;
        let ami = Arc::new(AmiProbes::connect(&target.ami, name, probes));
        let sip = target
            .sip
            .as_ref()
            .filter(|_| on(ProbeKind::Sip))
            .map(|s| Arc::new(SipOptionsProbe::new(s.clone(), probes.sip_accepted.clone())));
        let ari = target.ari.as_ref().filter(|_| on(ProbeKind::Ari)).map(|a| {
            Arc::new(AriPingProbe::new(
                a.url.clone(),
                a.username.clone(),
                a.secret.clone(),
            ))
        });
        let mut enabled: Vec<ProbeKind> = [
            ProbeKind::Ping,
            ProbeKind::Core,
            ProbeKind::Call,
            ProbeKind::Spans,
        ]
        .into_iter()
        .filter(|k| on(*k))
        .collect();
        if sip.is_some() {
            enabled.push(ProbeKind::Sip);
        }
        if ari.is_some() {
            enabled.push(ProbeKind::Ari);
        }
        TargetProbes {
            ami,
            sip,
            ari,
            enabled,
        }
    }

    pub fn ami(&self) -> &AmiProbes {
        &self.ami
    }

    /// Waits for the first AMI login (one-shot checks start probing only then).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), ProbeError> {
        self.ami.wait_logged_in(timeout).await
    }

    /// The kinds this backend runs.
    pub fn enabled(&self) -> &[ProbeKind] {
        &self.enabled
    }
}

impl ProbeBackend for TargetProbes {
    fn run(&self, kind: ProbeKind) -> ProbeFuture {
        match kind {
            ProbeKind::Sip => match self.sip.clone() {
                Some(sip) => Box::pin(async move { sip.run().await.map(|_| ()) }),
                None => not_configured(kind),
            },
            ProbeKind::Ari => match self.ari.clone() {
                Some(ari) => Box::pin(async move { ari.run().await }),
                None => not_configured(kind),
            },
            ProbeKind::Ping | ProbeKind::Core | ProbeKind::Call | ProbeKind::Spans => {
                let ami = self.ami.clone();
                Box::pin(async move { ami.run(kind).await })
            }
        }
    }
}

/// A running monitor of one Asterisk: its probes, the AMI signal pump and the verdict.
/// Dropping it stops everything (and closes the AMI connection once the last clone goes).
#[derive(Debug)]
pub struct TargetMonitor {
    probes: Arc<TargetProbes>,
    handle: MonitorHandle,
    pump: tokio::task::JoinHandle<()>,
    signals: mpsc::UnboundedSender<TargetSignal>,
    starvation: Option<tokio::task::JoinHandle<()>>,
}

impl TargetMonitor {
    /// Starts probing `target` with `probes` settings. `name` labels logs and status.
    pub fn start(name: &str, target: &AsteriskTarget, probes: &ProbesConfig) -> Self {
        let backend = Arc::new(TargetProbes::new(name, target, probes));
        let (signals_tx, signals_rx) = mpsc::unbounded_channel();
        let pump = backend.ami.spawn_signal_pump(signals_tx.clone());
        let handle = spawn_monitor(name, probes, backend.enabled(), backend.clone(), signals_rx);
        TargetMonitor {
            probes: backend,
            handle,
            pump,
            signals: signals_tx,
            starvation: None,
        }
    }

    /// Gives the time this Asterisk's cgroup was starved of CPU back to its probes (the
    /// Asterisk on this daemon's own host only: see [`super::starvation`]).
    pub fn give_back_starvation(&mut self, pressure: CpuPressure) {
        if let Some(old) = self
            .starvation
            .replace(pressure.spawn_sampler(self.signals.clone()))
        {
            old.abort();
        }
    }

    /// Status (verdict, per-probe latency and last error) and the stream of outcomes/changes.
    pub fn handle(&self) -> &MonitorHandle {
        &self.handle
    }

    pub fn probes(&self) -> &TargetProbes {
        &self.probes
    }

    /// A shared handle on the probes, for tasks that outlive a borrow (urgent probes, readiness).
    pub fn probes_arc(&self) -> Arc<TargetProbes> {
        self.probes.clone()
    }

    /// The current status in the control API's model; `target` is `local` or `peer`.
    pub fn report(&self, target: &str) -> crate::status::TargetStatus {
        let ami_state = self.probes.ami().client().state().borrow().to_string();
        let now = tokio::time::Instant::now().into_std();
        self.handle
            .status()
            .borrow()
            .to_report(target, &ami_state, now)
    }
}

impl Drop for TargetMonitor {
    fn drop(&mut self) {
        self.pump.abort();
        if let Some(sampler) = &self.starvation {
            sampler.abort();
        }
    }
}

fn not_configured(kind: ProbeKind) -> ProbeFuture {
    Box::pin(async move {
        Err(ProbeError::NotConnected(format!(
            "the {kind} probe is not configured for this target"
        )))
    })
}
