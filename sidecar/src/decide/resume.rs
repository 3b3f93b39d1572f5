//! Whether a restarted daemon resumes the active role: restarting or upgrading astha on the
//! active server must not move the calls.
//!
//! A daemon that stops (SIGTERM: `systemctl restart`, a package upgrade) releases nothing: the
//! relay, the floating IP and Asterisk stay as they are and the calls go on. When it starts
//! again it decides here, before touching any device, whether it is still the active node:
//!
//! * its term file says it was active in its current term (a file written by astha 0.1, which
//!   did not record that, counts only with the floating IP still held here, and then only once
//!   the peer confirms it);
//! * the relay reads back on this node's side (a relay that cannot be read back, or no relay,
//!   does not object; a read-back that fails makes the resumption wait for the peer's word);
//! * the floating IP is still on its interface (when one is configured).
//!
//! If all hold, the core starts [`Role::Active`](super::Role::Active) in that term
//! ([`super::Core::resume`]) without running any actuator, and the peer, if it is heard within
//! [`super::DecideConfig::resume_grace_ms`], must agree that no newer term exists (else the node
//! steps down and releases, as any active meeting a newer term). Otherwise the daemon releases
//! what a previous run may have held and starts as standby, as always.
//!
//! The peer never takes over during the restart: it sees silence, but the active's Asterisk
//! still answers its probes (the broken-link rule).

use std::fmt;

use crate::side::Side;

use super::types::PersistedState;

/// What the relay read back at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayAtStart {
    /// No relay configured, or one that cannot read its position back.
    NotReadable,
    /// Read back: the circuits are on this side, on the other, or nowhere clear.
    ReadBack(Option<Side>),
    /// The device can read back but did not answer.
    ReadFailed,
}

/// What a starting daemon found of the devices an active node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldAtStart {
    pub relay: RelayAtStart,
    /// Whether the floating IP is on its interface (`None`: no floating IP configured).
    pub floating_ip: Option<bool>,
}

/// How a daemon starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRole {
    /// Release whatever a previous run held, start as standby.
    Standby { why: String },
    /// Resume the active role in `term` without touching any device; when `peer_must_confirm`,
    /// the peer must be heard within the grace saying no newer term exists.
    ResumeActive { term: u64, peer_must_confirm: bool },
}

impl fmt::Display for StartRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartRole::Standby { why } => write!(f, "standby ({why})"),
            StartRole::ResumeActive {
                term,
                peer_must_confirm,
            } => write!(
                f,
                "resuming the active role in term {term}{}",
                if *peer_must_confirm {
                    " once the peer confirms it"
                } else {
                    ""
                }
            ),
        }
    }
}

/// Decides how node `me` starts from its term file and what it holds.
pub fn start_role(me: Side, persisted: &PersistedState, held: &HeldAtStart) -> StartRole {
    let standby = |why: &str| StartRole::Standby {
        why: why.to_string(),
    };
    let recorded = persisted.active_in == Some(persisted.term) && !persisted.missing;
    let legacy_with_ip = persisted.legacy_format && held.floating_ip == Some(true);
    if !recorded && !legacy_with_ip {
        return standby(match persisted.active_in {
            Some(_) => "it was active in an older term",
            None if persisted.missing => "no term file",
            None => "it was not active when it stopped",
        });
    }
    if held.floating_ip == Some(false) {
        return standby("the floating IP is no longer on its interface");
    }
    let mut peer_must_confirm = !recorded;
    match held.relay {
        RelayAtStart::ReadBack(Some(side)) if side == me => {}
        RelayAtStart::ReadBack(_) => {
            return standby("the relay no longer reads back on this side");
        }
        RelayAtStart::ReadFailed => peer_must_confirm = true,
        RelayAtStart::NotReadable => {}
    }
    StartRole::ResumeActive {
        term: persisted.term,
        peer_must_confirm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active_in(term: u64) -> PersistedState {
        PersistedState {
            term,
            active_in: Some(term),
            ..PersistedState::default()
        }
    }

    fn held(relay: RelayAtStart, ip: Option<bool>) -> HeldAtStart {
        HeldAtStart {
            relay,
            floating_ip: ip,
        }
    }

    const OURS: RelayAtStart = RelayAtStart::ReadBack(Some(Side::A));

    #[test]
    fn an_active_that_still_holds_relay_and_ip_resumes_in_its_term() {
        assert_eq!(
            start_role(Side::A, &active_in(7), &held(OURS, Some(true))),
            StartRole::ResumeActive {
                term: 7,
                peer_must_confirm: false
            }
        );
        // No relay (or one without read-back) and no floating IP object to nothing.
        assert_eq!(
            start_role(
                Side::A,
                &active_in(7),
                &held(RelayAtStart::NotReadable, None)
            ),
            StartRole::ResumeActive {
                term: 7,
                peer_must_confirm: false
            }
        );
    }

    #[test]
    fn a_node_that_was_not_active_in_its_current_term_starts_standby() {
        let older = PersistedState {
            term: 8,
            active_in: Some(7),
            ..PersistedState::default()
        };
        for persisted in [PersistedState::default(), older] {
            assert!(matches!(
                start_role(Side::A, &persisted, &held(OURS, Some(true))),
                StartRole::Standby { .. }
            ));
        }
    }

    #[test]
    fn a_moved_relay_or_a_lost_ip_means_standby() {
        for relay in [
            RelayAtStart::ReadBack(Some(Side::B)),
            RelayAtStart::ReadBack(None),
        ] {
            assert!(matches!(
                start_role(Side::A, &active_in(3), &held(relay, Some(true))),
                StartRole::Standby { why } if why.contains("relay")
            ));
        }
        assert!(matches!(
            start_role(Side::A, &active_in(3), &held(OURS, Some(false))),
            StartRole::Standby { why } if why.contains("floating IP")
        ));
    }

    #[test]
    fn uncertain_evidence_needs_the_peers_word() {
        // The relay did not answer.
        assert_eq!(
            start_role(
                Side::A,
                &active_in(3),
                &held(RelayAtStart::ReadFailed, Some(true))
            ),
            StartRole::ResumeActive {
                term: 3,
                peer_must_confirm: true
            }
        );
        // A term file from astha 0.1 (no record of the role), the IP still held here.
        let legacy = PersistedState {
            term: 3,
            legacy_format: true,
            ..PersistedState::default()
        };
        assert_eq!(
            start_role(Side::A, &legacy, &held(OURS, Some(true))),
            StartRole::ResumeActive {
                term: 3,
                peer_must_confirm: true
            }
        );
        assert!(matches!(
            start_role(Side::A, &legacy, &held(OURS, None)),
            StartRole::Standby { .. }
        ));
    }
}
