//! Fencing for DRBD: what proves the peer cannot write any more, and the answer astha gives as DRBD's `fence-peer` handler.
//!
//! DRBD (with `fencing resource-and-stonith`) asks its `fence-peer` handler two questions, both
//! through `astha fence-peer` and the daemon's control socket:
//!
//! - on the **Primary that lost its replication link** (I/O frozen until the handler answers):
//!   may I go on writing without the peer?
//! - on a **Secondary being promoted** whose peer is unreachable: is the peer out of the way, so
//!   that my data is the newest?
//!
//! The daemon answers from what it knows about who holds the calls ([`answer`]), with DRBD's
//! handler exit codes: 4 "peer outdated", 7 "peer fenced", 6 "the peer is the active one:
//! outdate yourself", and 1 (no answer) when it cannot vouch for anything, which leaves DRBD's
//! I/O frozen and the promotion refused — never a guess.
//!
//! Evidence that the peer is fenced ([`FenceEvidence`]) is collected per takeover in a
//! [`FenceLedger`] shared by the sequence (the relay step records its read-back), the daemon
//! (an operator's `--force`). The relay's own watchdog (the berofos's), which only the node
//! holding the guarded side kicks, adds its word when it expired: the relay step records it
//! during a takeover, and the daemon adds it live from the device's state
//! ([`FenceFacts::with_live_evidence`]).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::drbd::{Drbd, DrbdRole};
use crate::decide::{CoreStatus, Role};
use crate::side::Side;

/// DRBD's `fence-peer` handler exit codes (drbd `conn_try_outdate_peer`).
pub mod exit {
    /// The peer's disk is Inconsistent or worse (astha never answers this).
    pub const PEER_INCONSISTENT: u8 = 3;
    /// The peer is Outdated: it cannot be promoted.
    pub const PEER_OUTDATED: u8 = 4;
    /// The peer is unreachable and assumed dead (astha never answers this: it is a guess).
    pub const PEER_UNREACHABLE: u8 = 5;
    /// The peer is the active one: DRBD outdates this node's disk instead.
    pub const PEER_IS_ACTIVE: u8 = 6;
    /// The peer was fenced (STONITH's code; astha's fences are the relay, the berofos
    /// watchdog and an operator's `--force`).
    pub const PEER_FENCED: u8 = 7;
    /// No answer: DRBD keeps I/O frozen (resource-and-stonith) and refuses the promotion.
    pub const NO_ANSWER: u8 = 1;
}

/// How long `astha fence-peer` keeps asking a daemon that does not answer (it may be
/// restarting) before it gives up with [`exit::NO_ANSWER`]; `drbdadm primary`, during which DRBD
/// may run the handler, is given at least this long plus a margin.
pub const HANDLER_WAIT: Duration = Duration::from_secs(15);

/// Proof that the peer can no longer serve calls or write the replicated data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FenceEvidence {
    /// The PSTN relay was read back on this node's side.
    RelayReadBack { side: String },
    /// The berofos watchdog, which only the active node kicks, expired and the device fell back
    /// by itself: the peer stopped kicking it.
    WatchdogExpired { detail: String },
    /// An operator forced the takeover (`astha failover --force`) and vouches for the peer.
    OperatorForce { reason: String },
}

impl fmt::Display for FenceEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FenceEvidence::RelayReadBack { side } => {
                write!(f, "the PSTN relay reads back on side {side} (this node)")
            }
            FenceEvidence::WatchdogExpired { detail } => {
                write!(f, "the berofos watchdog expired: {detail}")
            }
            FenceEvidence::OperatorForce { reason } => {
                write!(f, "operator forced the takeover (--force): {reason}")
            }
        }
    }
}

/// Fencing evidence gathered for the takeover under way, shared by the actuators and the daemon.
#[derive(Debug, Clone, Default)]
pub struct FenceLedger {
    inner: Arc<Mutex<LedgerState>>,
}

#[derive(Debug, Default)]
struct LedgerState {
    /// The term of the takeover the evidence belongs to.
    term: Option<u64>,
    evidence: Vec<(u64, FenceEvidence)>,
    last_event: Option<String>,
}

impl FenceLedger {
    fn state(&self) -> std::sync::MutexGuard<'_, LedgerState> {
        // Plain data: a panic elsewhere leaves it consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A takeover under `term` starts: evidence recorded for another term no longer counts.
    pub fn begin_takeover(&self, term: u64) {
        let mut s = self.state();
        s.term = Some(term);
        s.evidence.retain(|(t, _)| *t == term);
    }

    /// This node released: nothing it collected speaks for a later takeover.
    pub fn clear(&self) {
        let mut s = self.state();
        s.term = None;
        s.evidence.clear();
    }

    /// Records evidence for the takeover under `term` (recorded before the takeover begins, as
    /// an operator's `--force` is, it still counts).
    pub fn record(&self, term: u64, evidence: FenceEvidence) {
        tracing::info!(term, %evidence, "fence evidence recorded");
        let mut s = self.state();
        if !s.evidence.iter().any(|(t, e)| *t == term && *e == evidence) {
            s.evidence.push((term, evidence));
        }
    }

    /// Records evidence for the takeover under way (the relay step's read-back).
    pub fn record_current(&self, evidence: FenceEvidence) {
        let term = self.state().term;
        match term {
            Some(term) => self.record(term, evidence),
            None => tracing::warn!(%evidence, "fence evidence outside a takeover ignored"),
        }
    }

    /// The evidence for the takeover under way, strongest first (a device's word before a person's).
    pub fn evidence(&self) -> Vec<FenceEvidence> {
        let s = self.state();
        let Some(term) = s.term else {
            return Vec::new();
        };
        let mut found: Vec<FenceEvidence> = s
            .evidence
            .iter()
            .filter(|(t, _)| *t == term)
            .map(|(_, e)| e.clone())
            .collect();
        found.sort_by_key(|e| match e {
            FenceEvidence::RelayReadBack { .. } => 0,
            FenceEvidence::WatchdogExpired { .. } => 1,
            FenceEvidence::OperatorForce { .. } => 2,
        });
        found
    }

    /// Remembers the last `fence-peer`/`unfence-peer` exchange, for `astha status`.
    pub fn note_event(&self, event: String) {
        self.state().last_event = Some(event);
    }

    pub fn last_event(&self) -> Option<String> {
        self.state().last_event.clone()
    }
}

/// The daemon's answer to DRBD's `fence-peer` question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum FenceVerdict {
    /// This node is the active one and the peer cannot be promoted (exit 4).
    PeerOutdated { detail: String },
    /// This node is the active one and the peer is fenced (exit 7).
    PeerFenced { evidence: FenceEvidence },
    /// The peer is the active one: this node must not write (exit 6).
    PeerIsActive { detail: String },
    /// astha cannot vouch for anything (exit 1: DRBD keeps I/O frozen, refuses the promotion).
    Refused { reason: String },
}

impl FenceVerdict {
    pub fn exit_code(&self) -> u8 {
        match self {
            FenceVerdict::PeerOutdated { .. } => exit::PEER_OUTDATED,
            FenceVerdict::PeerFenced { .. } => exit::PEER_FENCED,
            FenceVerdict::PeerIsActive { .. } => exit::PEER_IS_ACTIVE,
            FenceVerdict::Refused { .. } => exit::NO_ANSWER,
        }
    }
}

impl fmt::Display for FenceVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FenceVerdict::PeerOutdated { detail } => write!(f, "peer outdated: {detail}"),
            FenceVerdict::PeerFenced { evidence } => write!(f, "peer fenced: {evidence}"),
            FenceVerdict::PeerIsActive { detail } => {
                write!(f, "the peer is the active node, do not write: {detail}")
            }
            FenceVerdict::Refused { reason } => write!(f, "no answer: {reason}"),
        }
    }
}

/// What the peer told us last, when it is heard on at least one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeardPeer {
    pub side: Side,
    pub role: Role,
    pub term: u64,
    /// The highest term the peer knows covers ours: it hears this node.
    pub hears_us: bool,
}

/// Everything the `fence-peer` answer depends on, taken from the daemon at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceFacts {
    pub me: Side,
    pub role: Role,
    pub term: u64,
    /// `None`: silent on every link.
    pub peer: Option<HeardPeer>,
    /// Whether this node's DRBD resource is Primary now (`None`: its state could not be read).
    pub drbd_primary: Option<bool>,
    /// Proof that the peer is fenced, strongest first.
    pub evidence: Vec<FenceEvidence>,
}

impl FenceFacts {
    /// The decision core's view; `drbd_primary` and `evidence` are added by the caller.
    pub fn from_core(status: &CoreStatus) -> FenceFacts {
        let peer = status
            .peer
            .alive
            .then_some(status.peer.last.as_ref())
            .flatten()
            .map(|p| HeardPeer {
                side: p.from,
                role: p.role,
                term: p.term,
                hears_us: p.seen_term >= status.term,
            });
        FenceFacts {
            me: status.me,
            role: status.role,
            term: status.term,
            peer,
            drbd_primary: None,
            evidence: Vec::new(),
        }
    }

    /// Adds the evidence that holds now: the relay's last read-back (`relay_now`, when it could
    /// be read) and, during a takeover, what the takeover collected. Once active, only the live
    /// reading counts: an operator's word or a read-back from the takeover grows stale.
    pub fn with_evidence(mut self, ledger: &FenceLedger, relay_now: Option<Side>) -> FenceFacts {
        if relay_now == Some(self.me) {
            self.evidence.push(FenceEvidence::RelayReadBack {
                side: self.me.to_string(),
            });
        }
        if self.role == Role::TakingOver {
            for e in ledger.evidence() {
                if !self.evidence.contains(&e) {
                    self.evidence.push(e);
                }
            }
        }
        self
    }
}

impl FenceFacts {
    /// Adds evidence the devices show now (an expired relay watchdog that fell back to this
    /// node), like the relay's read-back: it counts while taking over and while active.
    pub fn with_live_evidence(mut self, evidence: Option<FenceEvidence>) -> FenceFacts {
        if let Some(e) = evidence {
            if !self.evidence.contains(&e) {
                self.evidence.push(e);
            }
        }
        self
    }
}

/// Answers DRBD's `fence-peer` question about `resource`: checks that it is the resource astha
/// manages, reads whether this node's side of it is Primary, and decides with [`answer`].
pub async fn answer_request(
    resource: &str,
    drbd: Option<&Drbd>,
    facts: FenceFacts,
) -> FenceVerdict {
    let Some(drbd) = drbd else {
        return FenceVerdict::Refused {
            reason: "astha manages no DRBD resource ([actuate.drbd] is not configured)".into(),
        };
    };
    if drbd.config().resource != resource {
        return FenceVerdict::Refused {
            reason: format!(
                "astha manages DRBD resource `{}`, not `{resource}`",
                drbd.config().resource
            ),
        };
    }
    let drbd_primary = drbd.role().await.ok().map(|r| r == DrbdRole::Primary);
    answer(&FenceFacts {
        drbd_primary,
        ..facts
    })
}

/// DRBD's question, answered from who holds the calls (see the module documentation).
pub fn answer(f: &FenceFacts) -> FenceVerdict {
    let peer_name = format!("side {}", f.me.other());
    if let Some(p) = f.peer {
        // The core's own rule for two claimants: the higher term wins, side A on a tie.
        let peer_wins =
            !f.role.claims_calls() || p.term > f.term || (p.term == f.term && p.side == Side::A);
        if p.role.claims_calls() && peer_wins {
            return FenceVerdict::PeerIsActive {
                detail: format!(
                    "{peer_name} is {} under term {} and this node is {} under term {}",
                    p.role, p.term, f.role, f.term
                ),
            };
        }
    }
    if !f.role.claims_calls() {
        return FenceVerdict::Refused {
            reason: format!(
                "this node is {} (not active): astha promotes DRBD only during a takeover, and \
                 cannot tell whether {peer_name} has newer data",
                f.role
            ),
        };
    }
    match f.peer {
        Some(p) if p.hears_us => match f.drbd_primary {
            Some(true) => FenceVerdict::PeerOutdated {
                detail: format!(
                    "{peer_name} is {} and hears this node (term {}): astha never promotes it \
                     while this node is active, and it outdates its own disk when it sees the \
                     replication lost",
                    p.role, f.term
                ),
            },
            Some(false) => FenceVerdict::Refused {
                reason: format!(
                    "{peer_name} is alive on the peer link ({}) but DRBD cannot reach it: it may \
                     hold newer data; restore the replication link first",
                    p.role
                ),
            },
            None => FenceVerdict::Refused {
                reason: "this node's DRBD state could not be read".into(),
            },
        },
        _ => match f.evidence.first() {
            Some(evidence) => FenceVerdict::PeerFenced {
                evidence: evidence.clone(),
            },
            None => FenceVerdict::Refused {
                reason: match f.peer {
                    Some(p) => format!(
                        "{peer_name} ({}) does not hear this node and is not fenced",
                        p.role
                    ),
                    None => format!(
                        "{peer_name} is silent on every link and not fenced (relay not read back \
                         on this side, no watchdog expiry, no operator --force)"
                    ),
                },
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(role: Role, peer: Option<(Role, u64, bool)>) -> FenceFacts {
        FenceFacts {
            me: Side::B,
            role,
            term: 5,
            peer: peer.map(|(role, term, hears_us)| HeardPeer {
                side: Side::A,
                role,
                term,
                hears_us,
            }),
            drbd_primary: Some(true),
            evidence: Vec::new(),
        }
    }

    fn relay() -> FenceEvidence {
        FenceEvidence::RelayReadBack { side: "b".into() }
    }

    #[test]
    fn an_active_primary_whose_standby_hears_it_outdates_the_peer() {
        let f = facts(Role::Active, Some((Role::Standby, 5, true)));
        let v = answer(&f);
        assert_eq!(v.exit_code(), exit::PEER_OUTDATED, "{v}");
    }

    #[test]
    fn a_peer_that_claims_the_calls_and_wins_is_the_active() {
        // Peer active with a higher term.
        let v = answer(&facts(Role::Active, Some((Role::Active, 6, true))));
        assert_eq!(v.exit_code(), exit::PEER_IS_ACTIVE, "{v}");
        // Same term: side A (the peer here) wins, as in the core.
        let v = answer(&facts(Role::TakingOver, Some((Role::Active, 5, true))));
        assert_eq!(v.exit_code(), exit::PEER_IS_ACTIVE, "{v}");
        // A standby asked about an active peer.
        let v = answer(&facts(Role::Standby, Some((Role::Active, 3, true))));
        assert_eq!(v.exit_code(), exit::PEER_IS_ACTIVE, "{v}");
        // A peer with an older term loses to this active node.
        let v = answer(&facts(Role::Active, Some((Role::Active, 4, true))));
        assert_eq!(v.exit_code(), exit::PEER_OUTDATED, "{v}");
    }

    #[test]
    fn a_silent_peer_needs_evidence() {
        let mut f = facts(Role::TakingOver, None);
        f.drbd_primary = Some(false);
        let v = answer(&f);
        assert_eq!(v.exit_code(), exit::NO_ANSWER, "{v}");
        assert!(v.to_string().contains("silent on every link"), "{v}");
        f.evidence = vec![relay()];
        assert_eq!(answer(&f), FenceVerdict::PeerFenced { evidence: relay() });
    }

    #[test]
    fn an_expired_relay_watchdog_fences_a_silent_peer() {
        let expired = FenceEvidence::WatchdogExpired {
            detail: "berofos fell back to side b".into(),
        };
        let mut f = facts(Role::TakingOver, None).with_live_evidence(Some(expired.clone()));
        f.drbd_primary = Some(false);
        assert_eq!(
            answer(&f),
            FenceVerdict::PeerFenced { evidence: expired },
            "the device moved the calls here by itself"
        );
        let f = facts(Role::TakingOver, None).with_live_evidence(None);
        assert_eq!(answer(&f).exit_code(), exit::NO_ANSWER);
    }

    #[test]
    fn a_promotion_while_the_peer_is_heard_but_unreplicated_is_refused() {
        let mut f = facts(Role::TakingOver, Some((Role::Standby, 5, true)));
        f.drbd_primary = Some(false);
        f.evidence = vec![relay()];
        let v = answer(&f);
        assert_eq!(v.exit_code(), exit::NO_ANSWER, "{v}");
        assert!(v.to_string().contains("newer data"), "{v}");
    }

    #[test]
    fn a_node_that_is_not_active_never_vouches() {
        for role in [
            Role::Standby,
            Role::Releasing,
            Role::Maintenance,
            Role::Faulted,
        ] {
            let mut f = facts(role, None);
            f.evidence = vec![relay()];
            assert_eq!(answer(&f).exit_code(), exit::NO_ANSWER, "{role}");
        }
    }

    #[test]
    fn ledger_keeps_evidence_of_the_current_takeover_only() {
        let ledger = FenceLedger::default();
        ledger.record(
            7,
            FenceEvidence::OperatorForce {
                reason: "ops".into(),
            },
        );
        ledger.record(6, relay());
        ledger.begin_takeover(7);
        ledger.record_current(relay());
        let found = ledger.evidence();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], relay(), "the device's word comes first");
        ledger.clear();
        assert!(ledger.evidence().is_empty());
        ledger.record_current(relay());
        assert!(ledger.evidence().is_empty(), "no takeover under way");
    }

    #[test]
    fn verdicts_travel_as_json() {
        let v = FenceVerdict::PeerFenced { evidence: relay() };
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(
            json,
            r#"{"answer":"peer_fenced","evidence":{"kind":"relay_read_back","side":"b"}}"#
        );
        assert_eq!(serde_json::from_str::<FenceVerdict>(&json).unwrap(), v);
    }
}
