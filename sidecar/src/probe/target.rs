//! The probes of one Asterisk target, assembled from its configuration: which kinds run, and the backend that runs them.

use std::sync::Arc;

use crate::config::{AsteriskTarget, ProbesConfig};

use super::ari::AriPingProbe;
use super::runner::{ProbeBackend, ProbeFuture};
use super::sip::SipOptionsProbe;
use super::{ProbeError, ProbeKind};

/// Runs every probe kind against one Asterisk.
#[derive(Debug, Clone)]
pub struct TargetProbes {
    sip: Option<Arc<SipOptionsProbe>>,
    ari: Option<Arc<AriPingProbe>>,
    enabled: Vec<ProbeKind>,
}

impl TargetProbes {
    /// The network probes (SIP, ARI) of `target` that are configured and enabled.
    pub fn new(target: &AsteriskTarget, probes: &ProbesConfig) -> Self {
        let on = |k: ProbeKind| probes.timing(k).enabled;
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
        let mut enabled = Vec::new();
        if sip.is_some() {
            enabled.push(ProbeKind::Sip);
        }
        if ari.is_some() {
            enabled.push(ProbeKind::Ari);
        }
        TargetProbes { sip, ari, enabled }
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
            _ => not_configured(kind),
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
