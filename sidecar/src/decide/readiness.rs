//! Whether a node could take the calls now: the one answer every takeover, designation and
//! handover rule asks of both nodes, for warm and cold standby alike.
//!
//! A warm standby's Asterisk runs: it can take over while its probes say it can carry calls. A
//! cold standby's Asterisk is stopped on purpose, so its probes fail by design; it can take
//! over while the configured cold-start check passes (Asterisk installed and startable, its
//! configuration present — whatever the administrator's check tests). Either way a node whose
//! service network is down (no carrier on the floating IP's interface, or no reachability
//! target answering) cannot serve clients and takes nothing over. Once a node claims the calls
//! its Asterisk runs in both modes, and its probes decide.

use std::fmt;

use crate::verdict::Verdict;

/// Whether a node could take the calls now, and if not, the first reason why (carried in every
/// peer datagram since version 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Readiness {
    /// Not judged yet (the node just started).
    #[default]
    Unknown,
    Ready,
    /// Its Asterisk runs (warm standby, or claiming the calls) and fails its probes.
    AsteriskCannotCarryCalls,
    /// Cold standby: the cold-start check says its Asterisk could not be started.
    ColdStartCheckFailed,
    /// The floating IP's interface has no carrier, or no reachability target answers.
    ServiceNetworkDown,
}

impl Readiness {
    pub const ALL: [Readiness; 5] = [
        Readiness::Unknown,
        Readiness::Ready,
        Readiness::AsteriskCannotCarryCalls,
        Readiness::ColdStartCheckFailed,
        Readiness::ServiceNetworkDown,
    ];

    pub fn is_ready(self) -> bool {
        self == Readiness::Ready
    }

    /// What a version-1 peer's datagram implies: it knew only its Asterisk's verdict (and a
    /// version-1 node's standby is warm), so the verdict alone is its readiness.
    pub fn from_verdict(verdict: Verdict) -> Readiness {
        match verdict {
            Verdict::Unknown => Readiness::Unknown,
            v if v.can_carry_calls() => Readiness::Ready,
            _ => Readiness::AsteriskCannotCarryCalls,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Unknown => "unknown",
            Readiness::Ready => "ready",
            Readiness::AsteriskCannotCarryCalls => "asterisk-cannot-carry-calls",
            Readiness::ColdStartCheckFailed => "cold-start-check-failed",
            Readiness::ServiceNetworkDown => "service-network-down",
        }
    }

    /// The reason in words, for alerts and refusals ("its Asterisk cannot carry calls").
    pub fn describe(self) -> &'static str {
        match self {
            Readiness::Unknown => "it has not judged itself yet",
            Readiness::Ready => "it is ready",
            Readiness::AsteriskCannotCarryCalls => "its Asterisk cannot carry calls",
            Readiness::ColdStartCheckFailed => {
                "its cold-start check fails (Asterisk could not be started there)"
            }
            Readiness::ServiceNetworkDown => "its service network is down",
        }
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
