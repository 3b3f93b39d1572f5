//! The peer datagram format, versions 1 and 2, and its HMAC-SHA256 authentication.
//!
//! Layout (big-endian, 86 bytes; version 2 gives meaning to bytes that version 1 requires to be
//! zero):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `ASHA` |
//! | 4 | 1 | version (1 or 2) |
//! | 5 | 1 | sender side (0 = a, 1 = b) |
//! | 6 | 1 | link index the sender used |
//! | 7 | 1 | role |
//! | 8 | 8 | boot epoch of the sender |
//! | 16 | 8 | sequence number (per boot epoch, every datagram) |
//! | 24 | 8 | sender's wall clock, ms since the Unix epoch (informational only) |
//! | 32 | 8 | term |
//! | 40 | 8 | highest term the sender knows |
//! | 48 | 1 | sender's verdict on its own Asterisk |
//! | 49 | 1 | sender's verdict on the receiver's Asterisk |
//! | 50 | 1 | relay position the sender sees (0 unknown, 1 a, 2 b) |
//! | 51 | 1 | handover (0 none, 1 please release, 2 please release forced, 3 releasing to you, 4 releasing to you forced, 5 ack) |
//! | 52 | 1 | flags (bit 0: maintenance; v2 bit 1: cold standby; other bits must be 0) |
//! | 53 | 1 | v1: reserved, 0; v2: readiness (0 unknown, 1 ready, 2 Asterisk cannot carry calls, 3 cold-start check failed, 4 service network down) |
//! | 54 | 32 | HMAC-SHA256 over bytes 0..54 with the shared key |
//!
//! Decoding checks the length, magic and version, then the MAC (constant time), and only then
//! reads the fields: nothing unauthenticated is ever interpreted.
//!
//! Compatibility across one release: a version-1 node drops version-2 datagrams
//! (`unsupported_version`), so a node sends version 2 only to a peer it has heard speaking it
//! (see [`super::PeerLink::seal`]). A version-1 datagram decodes with safe defaults for the
//! fields it lacks: readiness from the sender's verdict, warm standby.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::decide::{Handover, PeerState, Readiness, Role};
use crate::side::Side;
use crate::verdict::Verdict;

use super::key::PeerKey;

pub const MAGIC: [u8; 4] = *b"ASHA";
/// The oldest version this node still speaks (to a peer not heard speaking a newer one).
pub const VERSION_1: u8 = 1;
/// The current version.
pub const VERSION: u8 = 2;
const BODY_LEN: usize = 54;
const MAC_LEN: usize = 32;
/// Length of a datagram (either version).
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
    /// The version-1 copy of a state the peer also sends in version 2 (see
    /// [`super::PeerLink::seal_for_peer`]).
    OlderVersion,
}

impl DropReason {
    pub const ALL: [DropReason; 10] = [
        DropReason::Truncated,
        DropReason::Oversized,
        DropReason::BadMagic,
        DropReason::UnsupportedVersion,
        DropReason::BadMac,
        DropReason::Malformed,
        DropReason::FromSelf,
        DropReason::Replayed,
        DropReason::StaleEpoch,
        DropReason::OlderVersion,
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
            DropReason::OlderVersion => "older_version",
        }
    }
}

/// One decoded datagram: the envelope plus the decision core's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// [`VERSION_1`] or [`VERSION`]; a version-1 datagram carries no readiness nor cold-standby
    /// flag (encoding drops them, decoding derives them).
    pub version: u8,
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

fn readiness_code(r: Readiness) -> u8 {
    match r {
        Readiness::Unknown => 0,
        Readiness::Ready => 1,
        Readiness::AsteriskCannotCarryCalls => 2,
        Readiness::ColdStartCheckFailed => 3,
        Readiness::ServiceNetworkDown => 4,
    }
}

fn readiness_from(c: u8) -> Option<Readiness> {
    Some(match c {
        0 => Readiness::Unknown,
        1 => Readiness::Ready,
        2 => Readiness::AsteriskCannotCarryCalls,
        3 => Readiness::ColdStartCheckFailed,
        4 => Readiness::ServiceNetworkDown,
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

/// Encode and authenticate a datagram in its `version` (an unknown version is sent as the
/// current one).
pub fn encode(d: &Datagram, key: &PeerKey) -> [u8; DATAGRAM_LEN] {
    let v2 = d.version != VERSION_1;
    let mut b = [0u8; DATAGRAM_LEN];
    b[0..4].copy_from_slice(&MAGIC);
    b[4] = if v2 { VERSION } else { VERSION_1 };
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
    if v2 {
        b[52] |= u8::from(d.state.cold_standby) << 1;
        b[53] = readiness_code(d.state.readiness);
    }
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
    let version = bytes[4];
    if version != VERSION_1 && version != VERSION {
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
    let flags = if version == VERSION_1 { 1 } else { 0b11 };
    if bytes[52] & !flags != 0 {
        return Err(DropReason::Malformed);
    }
    let readiness = if version == VERSION_1 {
        if bytes[53] != 0 {
            return Err(DropReason::Malformed);
        }
        Readiness::from_verdict(own_verdict)
    } else {
        readiness_from(bytes[53]).ok_or(DropReason::Malformed)?
    };
    Ok(Datagram {
        version,
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
            readiness,
            cold_standby: bytes[52] & 0b10 != 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(b: u8) -> PeerKey {
        PeerKey::from_bytes(vec![b; 32]).expect("key")
    }

    fn arb_state() -> impl Strategy<Value = PeerState> {
        (
            any::<bool>(),
            0u8..6,
            any::<u64>(),
            any::<u64>(),
            any::<bool>(),
            0u8..4,
            0u8..4,
            0u8..3,
            0u8..6,
            (0u8..5, any::<bool>()),
        )
            .prop_map(
                |(b, role, term, seen, maint, ov, pv, relay, ho, (ready, cold))| PeerState {
                    from: if b { Side::B } else { Side::A },
                    role: role_from(role).unwrap_or_default(),
                    term,
                    seen_term: seen,
                    maintenance: maint,
                    own_verdict: verdict_from(ov).unwrap_or_default(),
                    peer_verdict: verdict_from(pv).unwrap_or_default(),
                    relay_seen: relay_from(relay).unwrap_or_default(),
                    handover: handover_from(ho).unwrap_or_default(),
                    readiness: readiness_from(ready).unwrap_or_default(),
                    cold_standby: cold,
                },
            )
    }

    /// What a version-1 datagram of `state` decodes to: the fields version 1 lacks get their
    /// safe defaults.
    fn as_v1(state: PeerState) -> PeerState {
        PeerState {
            readiness: Readiness::from_verdict(state.own_verdict),
            cold_standby: false,
            ..state
        }
    }

    fn arb_datagram() -> impl Strategy<Value = Datagram> {
        (
            prop_oneof![Just(VERSION_1), Just(VERSION)],
            any::<u8>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            arb_state(),
        )
            .prop_map(|(version, link, epoch, seq, at, state)| Datagram {
                version,
                link,
                epoch,
                seq,
                sent_at_unix_ms: at,
                state: if version == VERSION_1 {
                    as_v1(state)
                } else {
                    state
                },
            })
    }

    proptest! {
        #[test]
        fn round_trips(d in arb_datagram()) {
            let k = key(1);
            prop_assert_eq!(decode(&encode(&d, &k), &k), Ok(d));
        }

        #[test]
        fn any_single_bit_flip_is_rejected(d in arb_datagram(), bit in 0usize..DATAGRAM_LEN * 8) {
            let k = key(1);
            let mut b = encode(&d, &k);
            b[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(decode(&b, &k).is_err());
        }

        #[test]
        fn wrong_key_is_rejected(d in arb_datagram()) {
            prop_assert_eq!(decode(&encode(&d, &key(1)), &key(2)), Err(DropReason::BadMac));
        }

        #[test]
        fn every_truncation_is_rejected(d in arb_datagram(), len in 0usize..DATAGRAM_LEN) {
            let k = key(1);
            let b = encode(&d, &k);
            prop_assert!(decode(&b[..len], &k).is_err());
        }

        #[test]
        fn garbage_never_decodes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            // A random 32-byte MAC matching is out of reach: garbage is always dropped.
            prop_assert!(decode(&bytes, &key(1)).is_err());
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let k = key(1);
        let d = Datagram {
            version: VERSION,
            link: 0,
            epoch: 1,
            seq: 1,
            sent_at_unix_ms: 0,
            state: PeerState {
                from: Side::A,
                role: Role::Active,
                term: 3,
                seen_term: 3,
                maintenance: false,
                own_verdict: Verdict::Healthy,
                peer_verdict: Verdict::Healthy,
                relay_seen: Some(Side::A),
                handover: Handover::None,
                readiness: Readiness::Ready,
                cold_standby: false,
            },
        };
        let mut b = encode(&d, &k).to_vec();
        b.push(0);
        assert_eq!(decode(&b, &k), Err(DropReason::Oversized));
        b[4] = 9;
        assert_eq!(decode(&b, &k), Err(DropReason::UnsupportedVersion));
        b[0] = b'X';
        assert_eq!(decode(&b, &k), Err(DropReason::BadMagic));
    }

    /// A version-1 node (astha 0.1) accepts exactly the datagrams its strict decoder knew: this
    /// node's version-1 encoding, never a version-2 one; and a version-1 datagram decodes here
    /// with the safe defaults.
    #[test]
    fn version_1_stays_understood_both_ways() {
        let k = key(1);
        let cold = PeerState {
            from: Side::B,
            role: Role::Standby,
            term: 3,
            seen_term: 3,
            maintenance: false,
            own_verdict: Verdict::Failed,
            peer_verdict: Verdict::Healthy,
            relay_seen: None,
            handover: Handover::None,
            readiness: Readiness::Ready,
            cold_standby: true,
        };
        let d = |version| Datagram {
            version,
            link: 0,
            epoch: 1,
            seq: 1,
            sent_at_unix_ms: 0,
            state: cold,
        };
        let v1 = encode(&d(VERSION_1), &k);
        // Astha 0.1's decoder: version byte 1, flags bit 0 only, reserved byte 0.
        assert_eq!((v1[4], v1[52] & !1, v1[53]), (1, 0, 0));
        let back = decode(&v1, &k).expect("v1 decodes");
        assert_eq!(back.version, VERSION_1);
        // A cold standby seen through version 1 looks like a node whose Asterisk failed: never
        // elected by mistake.
        assert_eq!(back.state, as_v1(cold));
        assert_eq!(back.state.readiness, Readiness::AsteriskCannotCarryCalls);
        let v2 = encode(&d(VERSION), &k);
        assert_eq!(v2[4], 2);
        assert_eq!(decode(&v2, &k).expect("v2 decodes").state, cold);
        // A version-1 datagram with the version-2 bits set is malformed, not misread.
        let mut forged = v2;
        forged[4] = VERSION_1;
        let mut m = mac(&k);
        m.update(&forged[..BODY_LEN]);
        forged[BODY_LEN..].copy_from_slice(&m.finalize().into_bytes());
        assert_eq!(decode(&forged, &k), Err(DropReason::Malformed));
    }
}
