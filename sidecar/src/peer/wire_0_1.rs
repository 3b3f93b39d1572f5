//! astha 0.1's peer datagram codec (version 1), as that release shipped it (`git show
//! 4df9c36:sidecar/src/peer/wire.rs`), kept to test that this release and the previous one
//! understand each other (README: "An upgraded node and one of the previous release understand
//! each other").
//!
//! Changed from the original only where today's types force it: the decoded state fills in the
//! two fields astha 0.1's `PeerState` did not have (marked below). Test-only: nothing sends
//! with it.

// Kept whole as shipped, including what the tests do not call (the drop reasons' names).
#![allow(dead_code)]

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::decide::{Handover, PeerState, Readiness, Role};
use crate::side::Side;
use crate::verdict::Verdict;

use super::key::PeerKey;

pub const MAGIC: [u8; 4] = *b"ASHA";
pub const VERSION: u8 = 1;
const BODY_LEN: usize = 54;
const MAC_LEN: usize = 32;
/// Length of a version-1 datagram.
pub const DATAGRAM_LEN: usize = BODY_LEN + MAC_LEN;

type HmacSha256 = Hmac<Sha256>;

/// Why a received datagram was dropped (each is counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Shorter than a datagram.
    Truncated,
    /// Longer than a datagram of its version.
    Oversized,
    BadMagic,
    UnsupportedVersion,
    /// Wrong key, or forged or corrupted.
    BadMac,
    /// Authentic but a field holds an unknown value (a newer or broken peer).
    Malformed,
    /// Claims to come from this node (a reflected datagram).
    FromSelf,
    /// Sequence number already seen or too old for the window.
    Replayed,
    /// From an older boot epoch of the peer while the current one is still talking.
    StaleEpoch,
}

impl DropReason {
    pub const ALL: [DropReason; 9] = [
        DropReason::Truncated,
        DropReason::Oversized,
        DropReason::BadMagic,
        DropReason::UnsupportedVersion,
        DropReason::BadMac,
        DropReason::Malformed,
        DropReason::FromSelf,
        DropReason::Replayed,
        DropReason::StaleEpoch,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::Oversized => "oversized",
            DropReason::BadMagic => "bad_magic",
            DropReason::UnsupportedVersion => "unsupported_version",
            DropReason::BadMac => "bad_mac",
            DropReason::Malformed => "malformed",
            DropReason::FromSelf => "from_self",
            DropReason::Replayed => "replayed",
            DropReason::StaleEpoch => "stale_epoch",
        }
    }
}

/// One decoded datagram: the envelope plus the decision core's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    pub link: u8,
    pub epoch: u64,
    pub seq: u64,
    pub sent_at_unix_ms: u64,
    pub state: PeerState,
}

fn side_code(s: Side) -> u8 {
    match s {
        Side::A => 0,
        Side::B => 1,
    }
}

fn role_code(r: Role) -> u8 {
    match r {
        Role::Standby => 0,
        Role::TakingOver => 1,
        Role::Active => 2,
        Role::Releasing => 3,
        Role::Maintenance => 4,
        Role::Faulted => 5,
    }
}

fn role_from(c: u8) -> Option<Role> {
    Some(match c {
        0 => Role::Standby,
        1 => Role::TakingOver,
        2 => Role::Active,
        3 => Role::Releasing,
        4 => Role::Maintenance,
        5 => Role::Faulted,
        _ => return None,
    })
}

fn verdict_code(v: Verdict) -> u8 {
    match v {
        Verdict::Unknown => 0,
        Verdict::Healthy => 1,
        Verdict::Degraded => 2,
        Verdict::Failed => 3,
    }
}

fn verdict_from(c: u8) -> Option<Verdict> {
    Some(match c {
        0 => Verdict::Unknown,
        1 => Verdict::Healthy,
        2 => Verdict::Degraded,
        3 => Verdict::Failed,
        _ => return None,
    })
}

fn relay_code(r: Option<Side>) -> u8 {
    match r {
        None => 0,
        Some(Side::A) => 1,
        Some(Side::B) => 2,
    }
}

fn relay_from(c: u8) -> Option<Option<Side>> {
    Some(match c {
        0 => None,
        1 => Some(Side::A),
        2 => Some(Side::B),
        _ => return None,
    })
}

fn handover_code(h: Handover) -> u8 {
    match h {
        Handover::None => 0,
        Handover::PleaseRelease { forced: false } => 1,
        Handover::PleaseRelease { forced: true } => 2,
        Handover::ReleasingToYou { forced: false } => 3,
        Handover::ReleasingToYou { forced: true } => 4,
        Handover::Ack => 5,
    }
}

fn handover_from(c: u8) -> Option<Handover> {
    Some(match c {
        0 => Handover::None,
        1 => Handover::PleaseRelease { forced: false },
        2 => Handover::PleaseRelease { forced: true },
        3 => Handover::ReleasingToYou { forced: false },
        4 => Handover::ReleasingToYou { forced: true },
        5 => Handover::Ack,
        _ => return None,
    })
}

fn mac(key: &PeerKey) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    match HmacSha256::new_from_slice(key.bytes()) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    }
}

#[cold]
fn unreachable_hmac() -> HmacSha256 {
    // `Hmac::new_from_slice` only fails for fixed-size-key MACs; keep a defined fallback
    // rather than a panic path.
    <HmacSha256 as Mac>::new(&Default::default())
}

/// Encode and authenticate a datagram.
pub fn encode(d: &Datagram, key: &PeerKey) -> [u8; DATAGRAM_LEN] {
    let mut b = [0u8; DATAGRAM_LEN];
    b[0..4].copy_from_slice(&MAGIC);
    b[4] = VERSION;
    b[5] = side_code(d.state.from);
    b[6] = d.link;
    b[7] = role_code(d.state.role);
    b[8..16].copy_from_slice(&d.epoch.to_be_bytes());
    b[16..24].copy_from_slice(&d.seq.to_be_bytes());
    b[24..32].copy_from_slice(&d.sent_at_unix_ms.to_be_bytes());
    b[32..40].copy_from_slice(&d.state.term.to_be_bytes());
    b[40..48].copy_from_slice(&d.state.seen_term.to_be_bytes());
    b[48] = verdict_code(d.state.own_verdict);
    b[49] = verdict_code(d.state.peer_verdict);
    b[50] = relay_code(d.state.relay_seen);
    b[51] = handover_code(d.state.handover);
    b[52] = u8::from(d.state.maintenance);
    b[53] = 0;
    let mut m = mac(key);
    m.update(&b[..BODY_LEN]);
    b[BODY_LEN..].copy_from_slice(&m.finalize().into_bytes());
    b
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}

/// Check and decode a datagram. Never panics, whatever the input.
pub fn decode(bytes: &[u8], key: &PeerKey) -> Result<Datagram, DropReason> {
    if bytes.len() < 5 {
        return Err(DropReason::Truncated);
    }
    if bytes[0..4] != MAGIC {
        return Err(DropReason::BadMagic);
    }
    if bytes[4] != VERSION {
        return Err(DropReason::UnsupportedVersion);
    }
    if bytes.len() < DATAGRAM_LEN {
        return Err(DropReason::Truncated);
    }
    if bytes.len() > DATAGRAM_LEN {
        return Err(DropReason::Oversized);
    }
    let mut m = mac(key);
    m.update(&bytes[..BODY_LEN]);
    m.verify_slice(&bytes[BODY_LEN..])
        .map_err(|_| DropReason::BadMac)?;
    let from = match bytes[5] {
        0 => Side::A,
        1 => Side::B,
        _ => return Err(DropReason::Malformed),
    };
    let role = role_from(bytes[7]).ok_or(DropReason::Malformed)?;
    let own_verdict = verdict_from(bytes[48]).ok_or(DropReason::Malformed)?;
    let peer_verdict = verdict_from(bytes[49]).ok_or(DropReason::Malformed)?;
    let relay_seen = relay_from(bytes[50]).ok_or(DropReason::Malformed)?;
    let handover = handover_from(bytes[51]).ok_or(DropReason::Malformed)?;
    if bytes[52] & !1 != 0 || bytes[53] != 0 {
        return Err(DropReason::Malformed);
    }
    Ok(Datagram {
        link: bytes[6],
        epoch: u64_at(bytes, 8),
        seq: u64_at(bytes, 16),
        sent_at_unix_ms: u64_at(bytes, 24),
        state: PeerState {
            from,
            role,
            term: u64_at(bytes, 32),
            seen_term: u64_at(bytes, 40),
            maintenance: bytes[52] & 1 == 1,
            own_verdict,
            peer_verdict,
            relay_seen,
            handover,
            // Not in astha 0.1's PeerState (the tests compare only the fields it had).
            readiness: Readiness::Unknown,
            cold_standby: false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::{wire as current, PeerLink};

    fn key() -> PeerKey {
        PeerKey::from_bytes(vec![7; 32]).expect("key")
    }

    /// The fields astha 0.1 sends and reads.
    fn v1_fields(s: &PeerState) -> impl PartialEq + std::fmt::Debug {
        (
            s.from,
            s.role,
            s.term,
            s.seen_term,
            s.maintenance,
            s.own_verdict,
            s.peer_verdict,
            s.relay_seen,
            s.handover,
        )
    }

    /// States covering every role, verdict, relay position and handover, both senders, with
    /// today's readiness and cold-standby flag varied too.
    fn states(from: Side) -> Vec<PeerState> {
        let roles = [
            Role::Standby,
            Role::TakingOver,
            Role::Active,
            Role::Releasing,
            Role::Maintenance,
            Role::Faulted,
        ];
        let verdicts = [
            Verdict::Unknown,
            Verdict::Healthy,
            Verdict::Degraded,
            Verdict::Failed,
        ];
        let handovers = [
            Handover::None,
            Handover::PleaseRelease { forced: false },
            Handover::PleaseRelease { forced: true },
            Handover::ReleasingToYou { forced: false },
            Handover::ReleasingToYou { forced: true },
            Handover::Ack,
        ];
        let mut out = Vec::new();
        for (i, role) in roles.into_iter().enumerate() {
            for (j, own) in verdicts.into_iter().enumerate() {
                out.push(PeerState {
                    from,
                    role,
                    term: 40 + i as u64,
                    seen_term: 41 + j as u64,
                    maintenance: role == Role::Maintenance,
                    own_verdict: own,
                    peer_verdict: verdicts[(i + j) % 4],
                    relay_seen: [None, Some(Side::A), Some(Side::B)][(i + j) % 3],
                    handover: handovers[(i * 4 + j) % 6],
                    readiness: Readiness::ALL[(i + j) % Readiness::ALL.len()],
                    cold_standby: j % 2 == 0,
                });
            }
        }
        out
    }

    /// An upgraded node reads everything an astha 0.1 node sends.
    #[test]
    fn this_release_reads_what_astha_0_1_sends() {
        let k = key();
        for (seq, state) in states(Side::B).into_iter().enumerate() {
            let old = Datagram {
                link: 1,
                epoch: 9,
                seq: seq as u64 + 1,
                sent_at_unix_ms: 1_795_000_000_000,
                state,
            };
            let bytes = encode(&old, &k);
            let new = current::decode(&bytes, &k).expect("accepted");
            assert_eq!(new.version, current::VERSION_1);
            assert_eq!(v1_fields(&new.state), v1_fields(&state));
            assert_eq!(
                (new.link, new.epoch, new.seq, new.sent_at_unix_ms),
                (old.link, old.epoch, old.seq, old.sent_at_unix_ms)
            );
            // What 0.1 could not say gets the safe default: a node whose Asterisk fails is
            // never elected by mistake; a healthy one stays electable.
            assert_eq!(
                new.state.readiness,
                Readiness::from_verdict(state.own_verdict)
            );
            assert!(!new.state.cold_standby);
        }
    }

    /// An astha 0.1 node reads what an upgraded node sends it: the version-1 copy, byte for
    /// byte what it would have sent itself; the version-2 datagram it drops as an unsupported
    /// version (counted, never misread). The copies go on as long as the peer speaks only 0.1.
    #[test]
    fn astha_0_1_reads_what_this_release_sends() {
        let k = key();
        let mut upgraded = PeerLink::new(Side::A, k.clone(), 10);
        let mut seq_0_1 = 0;
        for state in states(Side::A) {
            let sent = upgraded.seal_for_peer(&state, 0, 5);
            assert_eq!(sent.len(), 2, "a copy for the old peer, then version 2");
            let copy = decode(&sent[0], &k).expect("0.1 reads the copy");
            assert_eq!(v1_fields(&copy.state), v1_fields(&state));
            assert_eq!(copy.epoch, upgraded.epoch());
            assert_eq!(encode(&copy, &k), sent[0], "the same bytes 0.1 would send");
            assert_eq!(decode(&sent[1], &k), Err(DropReason::UnsupportedVersion));
            // The old node answers in version 1: the upgraded node keeps sending copies.
            seq_0_1 += 1;
            let answer = Datagram {
                link: 0,
                epoch: 20,
                seq: seq_0_1,
                sent_at_unix_ms: 5,
                state: PeerState {
                    from: Side::B,
                    ..state
                },
            };
            upgraded
                .open(&encode(&answer, &k), 0, seq_0_1)
                .expect("the upgraded node reads 0.1");
        }
    }
}
