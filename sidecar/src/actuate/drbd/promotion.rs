//! Whether a DRBD resource may be promoted now, from its state and the fencing evidence: the rules that keep the data from forking.
//!
//! - Only a disk that holds the newest data is promoted: `UpToDate`, or `Consistent` when the
//!   peer is unreachable (DRBD 9 downgrades a Secondary that lost its Primary to `Consistent`,
//!   and lets it become Primary only once its `fence-peer` handler vouches for the peer).
//!   `Outdated`, `Inconsistent`, `Diskless`, `Failed`… are refused, with the reason.
//! - A connected peer that is still Primary is waited for (it is demoting in a handover).
//! - An unreachable peer (any connection state but `Connected`) may still be writing: the
//!   promotion needs evidence that it is fenced ([`FenceEvidence`]).

use std::fmt;

use super::state::{Connection, ConnectionState, DiskState, ResourceState, Role};
use crate::actuate::fence::FenceEvidence;

/// What to do with the resource now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    AlreadyPrimary,
    /// Run `drbdadm primary`; `basis` is why that is safe (for the journal).
    Promote {
        basis: String,
    },
    /// A connected peer is still Primary: read the state again shortly.
    WaitForPeerDemotion {
        peer: String,
    },
    Refuse(Refusal),
}

/// Why the resource is not promoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The local data is not the newest (or not there).
    LocalDisk { volume: u32, disk: DiskState },
    /// `Consistent` with every peer connected: DRBD itself does not know yet whether it is newest.
    ConsistentWhileConnected { volume: u32 },
    /// A peer cannot be reached and nothing proves it cannot write.
    PeerNotFenced {
        peer: String,
        connection: ConnectionState,
    },
    /// The resource has no volume (not attached).
    NoVolumes,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::LocalDisk { volume, disk } => {
                let why = match disk {
                    DiskState::Outdated => {
                        "the peer has newer data (this disk was outdated when replication was lost); \
                         promoting it would serve stale data and fork the replica"
                    }
                    DiskState::Inconsistent => {
                        "a resync into this disk has not finished; its data is unusable"
                    }
                    DiskState::Diskless | DiskState::Detaching | DiskState::Failed => {
                        "there is no usable local disk"
                    }
                    _ => "the disk is not known to hold the newest data",
                };
                write!(
                    f,
                    "refused: local disk of volume {volume} is {disk}: {why}. If the peer's data is \
                     lost for good, an operator can accept this data with `drbdadm primary --force` \
                     and retry the takeover"
                )
            }
            Refusal::ConsistentWhileConnected { volume } => write!(
                f,
                "refused: local disk of volume {volume} is Consistent while connected: DRBD has \
                 not settled which side is newest yet"
            ),
            Refusal::PeerNotFenced { peer, connection } => write!(
                f,
                "refused: peer {peer} is unreachable (connection {connection}) and not fenced: \
                 the relay was not read back on this side, no watchdog expired, no operator \
                 --force; it may still be writing"
            ),
            Refusal::NoVolumes => f.write_str("refused: the resource has no volume attached"),
        }
    }
}

/// Decides from one reading of the state; `evidence` is the fencing proof of this takeover,
/// strongest first.
pub fn plan(state: &ResourceState, evidence: &[FenceEvidence]) -> Plan {
    if state.role == Role::Primary {
        return Plan::AlreadyPrimary;
    }
    if state.devices.is_empty() {
        return Plan::Refuse(Refusal::NoVolumes);
    }
    let unreachable: Vec<&Connection> = state
        .connections
        .iter()
        .filter(|c| !c.is_connected())
        .collect();
    for device in &state.devices {
        match device.disk {
            DiskState::UpToDate => {}
            DiskState::Consistent if !unreachable.is_empty() => {}
            DiskState::Consistent => {
                return Plan::Refuse(Refusal::ConsistentWhileConnected {
                    volume: device.volume,
                })
            }
            disk => {
                return Plan::Refuse(Refusal::LocalDisk {
                    volume: device.volume,
                    disk,
                })
            }
        }
    }
    if let Some(c) = state
        .connections
        .iter()
        .find(|c| c.is_connected() && c.peer_role == Role::Primary)
    {
        return Plan::WaitForPeerDemotion { peer: c.describe() };
    }
    match (unreachable.first(), evidence.first()) {
        (None, _) => Plan::Promote {
            basis: if state.connections.is_empty() {
                format!("disk {}, no peer configured", state.worst_disk())
            } else {
                format!(
                    "disk {}, every peer connected and Secondary",
                    state.worst_disk()
                )
            },
        },
        (Some(c), None) => Plan::Refuse(Refusal::PeerNotFenced {
            peer: c.describe(),
            connection: c.state,
        }),
        (Some(_), Some(proof)) => Plan::Promote {
            basis: format!(
                "disk {}, peer {} unreachable ({}), fenced: {proof}",
                state.worst_disk(),
                unreachable
                    .iter()
                    .map(|c| c.describe())
                    .collect::<Vec<_>>()
                    .join(", "),
                unreachable
                    .iter()
                    .map(|c| c.state.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::{Device, PeerDevice};
    use super::*;

    fn state(disk: DiskState, conn: ConnectionState, peer_role: Role) -> ResourceState {
        ResourceState {
            name: "r0".into(),
            node_id: 1,
            role: Role::Secondary,
            suspended: false,
            devices: vec![Device {
                volume: 0,
                minor: 0,
                disk,
            }],
            connections: vec![Connection {
                peer_node_id: 0,
                name: "pbx-a".into(),
                state: conn,
                peer_role,
                peer_devices: vec![PeerDevice {
                    volume: 0,
                    replication: "Established".into(),
                    peer_disk: DiskState::UpToDate,
                }],
            }],
        }
    }

    fn relay() -> Vec<FenceEvidence> {
        vec![FenceEvidence::RelayReadBack { side: "b".into() }]
    }

    #[test]
    fn up_to_date_and_connected_to_a_secondary_promotes() {
        let s = state(
            DiskState::UpToDate,
            ConnectionState::Connected,
            Role::Secondary,
        );
        assert!(matches!(plan(&s, &[]), Plan::Promote { .. }));
    }

    #[test]
    fn outdated_and_inconsistent_are_refused_even_with_evidence() {
        for disk in [
            DiskState::Outdated,
            DiskState::Inconsistent,
            DiskState::Diskless,
        ] {
            let s = state(disk, ConnectionState::StandAlone, Role::Unknown);
            match plan(&s, &relay()) {
                Plan::Refuse(r @ Refusal::LocalDisk { .. }) => {
                    assert!(r.to_string().contains(disk.as_str()), "{r}")
                }
                other => panic!("{disk}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_connected_primary_peer_is_waited_for() {
        let s = state(
            DiskState::UpToDate,
            ConnectionState::Connected,
            Role::Primary,
        );
        assert_eq!(
            plan(&s, &relay()),
            Plan::WaitForPeerDemotion {
                peer: "pbx-a (node 0)".into()
            }
        );
    }

    #[test]
    fn an_unreachable_peer_needs_fencing() {
        for conn in [
            ConnectionState::StandAlone,
            ConnectionState::Connecting,
            ConnectionState::NetworkFailure,
        ] {
            for disk in [DiskState::UpToDate, DiskState::Consistent] {
                let s = state(disk, conn, Role::Unknown);
                assert!(
                    matches!(
                        plan(&s, &[]),
                        Plan::Refuse(Refusal::PeerNotFenced { connection, .. }) if connection == conn
                    ),
                    "{disk} {conn}"
                );
                match plan(&s, &relay()) {
                    Plan::Promote { basis } => {
                        assert!(basis.contains("relay reads back"), "{basis}")
                    }
                    other => panic!("{disk} {conn}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn consistent_while_connected_waits_for_drbd() {
        let s = state(
            DiskState::Consistent,
            ConnectionState::Connected,
            Role::Secondary,
        );
        assert!(matches!(
            plan(&s, &relay()),
            Plan::Refuse(Refusal::ConsistentWhileConnected { .. })
        ));
    }

    #[test]
    fn already_primary_is_left_alone() {
        let mut s = state(
            DiskState::UpToDate,
            ConnectionState::StandAlone,
            Role::Unknown,
        );
        s.role = Role::Primary;
        assert_eq!(plan(&s, &[]), Plan::AlreadyPrimary);
    }
}
