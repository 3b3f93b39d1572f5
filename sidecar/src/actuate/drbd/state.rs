//! A DRBD 9 resource's state as data: the document `drbdsetup status <res> --json` prints (drbd-utils 9.x).
//!
//! The shape follows drbd-utils' `drbdsetup status --json`: a JSON array with one object per
//! resource (`name`, `node-id`, `role`, `suspended…`, `devices[]` with `disk-state`,
//! `connections[]` with `connection-state`, `peer-role` and `peer_devices[]` with
//! `peer-disk-state` and `replication-state`). The state names are DRBD's own
//! (`drbd_strings.c`); a name this module does not know is an error, never a guess.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// Why a status document could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateParseError {
    #[error("not DRBD's status JSON: {0}")]
    Json(String),
    #[error("the status lists no resource named `{0}`")]
    NoSuchResource(String),
    #[error("unknown DRBD {what} `{value}`")]
    UnknownName { what: &'static str, value: String },
}

macro_rules! drbd_names {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = StateParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(StateParseError::UnknownName { what: $what, value: other.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

drbd_names!(
    /// A node's role in a resource.
    Role, "role", {
        Unknown = "Unknown",
        Primary = "Primary",
        Secondary = "Secondary",
    }
);

drbd_names!(
    /// A disk's state, in DRBD's order (worst first): only `UpToDate` data may be served.
    DiskState, "disk state", {
        Diskless = "Diskless",
        Attaching = "Attaching",
        Detaching = "Detaching",
        Failed = "Failed",
        Negotiating = "Negotiating",
        Inconsistent = "Inconsistent",
        Outdated = "Outdated",
        DUnknown = "DUnknown",
        Consistent = "Consistent",
        UpToDate = "UpToDate",
    }
);

drbd_names!(
    /// The state of the connection to one peer; only `Connected` means the peer is reachable.
    ConnectionState, "connection state", {
        StandAlone = "StandAlone",
        Disconnecting = "Disconnecting",
        Unconnected = "Unconnected",
        Timeout = "Timeout",
        BrokenPipe = "BrokenPipe",
        NetworkFailure = "NetworkFailure",
        ProtocolError = "ProtocolError",
        TearDown = "TearDown",
        Connecting = "Connecting",
        Connected = "Connected",
    }
);

/// One volume of the local node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub volume: u32,
    pub minor: u32,
    pub disk: DiskState,
}

/// One volume as the peer has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerDevice {
    pub volume: u32,
    pub replication: String,
    pub peer_disk: DiskState,
}

/// The connection to one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub peer_node_id: u32,
    /// The peer's host name (`on <name>` in the resource file).
    pub name: String,
    pub state: ConnectionState,
    pub peer_role: Role,
    pub peer_devices: Vec<PeerDevice>,
}

impl Connection {
    pub fn is_connected(&self) -> bool {
        self.state == ConnectionState::Connected
    }

    /// `pbx-b (node 1)`, for messages.
    pub fn describe(&self) -> String {
        format!("{} (node {})", self.name, self.peer_node_id)
    }
}

/// The state of one resource on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceState {
    pub name: String,
    pub node_id: i64,
    pub role: Role,
    /// I/O frozen (by the fence-peer handler, quorum loss, the user or missing data).
    pub suspended: bool,
    pub devices: Vec<Device>,
    pub connections: Vec<Connection>,
}

impl ResourceState {
    /// Parses `drbdsetup status <res> --json` and picks `resource` out of it.
    pub fn from_status_json(json: &str, resource: &str) -> Result<ResourceState, StateParseError> {
        let all: Vec<RawResource> =
            serde_json::from_str(json).map_err(|e| StateParseError::Json(e.to_string()))?;
        let raw = all
            .into_iter()
            .find(|r| r.name == resource)
            .ok_or_else(|| StateParseError::NoSuchResource(resource.to_owned()))?;
        raw.into_state()
    }

    /// The worst disk state over the volumes (`DUnknown` when there is no volume at all).
    pub fn worst_disk(&self) -> DiskState {
        self.devices
            .iter()
            .map(|d| d.disk)
            .min()
            .unwrap_or(DiskState::DUnknown)
    }

    /// One line for logs and `astha status`: `Secondary UpToDate, pbx-b Connected Primary UpToDate`.
    pub fn summary(&self) -> String {
        let mut text = format!("{} {}", self.role, self.worst_disk());
        if self.suspended {
            text.push_str(" (I/O suspended)");
        }
        for c in &self.connections {
            let peer_disk = c
                .peer_devices
                .iter()
                .map(|p| p.peer_disk)
                .min()
                .unwrap_or(DiskState::DUnknown);
            text.push_str(&format!(
                ", {} {} {} {}",
                c.name, c.state, c.peer_role, peer_disk
            ));
        }
        text
    }
}

// The JSON as drbdsetup prints it; fields astha does not use are ignored.
#[derive(Deserialize)]
struct RawResource {
    name: String,
    #[serde(rename = "node-id")]
    node_id: i64,
    role: String,
    #[serde(default)]
    suspended: bool,
    #[serde(default)]
    devices: Vec<RawDevice>,
    #[serde(default)]
    connections: Vec<RawConnection>,
}

#[derive(Deserialize)]
struct RawDevice {
    volume: u32,
    minor: u32,
    #[serde(rename = "disk-state")]
    disk_state: String,
}

#[derive(Deserialize)]
struct RawConnection {
    #[serde(rename = "peer-node-id")]
    peer_node_id: u32,
    name: String,
    #[serde(rename = "connection-state")]
    connection_state: String,
    #[serde(rename = "peer-role")]
    peer_role: String,
    #[serde(default)]
    peer_devices: Vec<RawPeerDevice>,
}

#[derive(Deserialize)]
struct RawPeerDevice {
    volume: u32,
    #[serde(rename = "replication-state")]
    replication_state: String,
    #[serde(rename = "peer-disk-state")]
    peer_disk_state: String,
}

impl RawResource {
    fn into_state(self) -> Result<ResourceState, StateParseError> {
        let devices = self
            .devices
            .into_iter()
            .map(|d| {
                Ok(Device {
                    volume: d.volume,
                    minor: d.minor,
                    disk: d.disk_state.parse()?,
                })
            })
            .collect::<Result<_, StateParseError>>()?;
        let connections = self
            .connections
            .into_iter()
            .map(|c| {
                let peer_devices = c
                    .peer_devices
                    .into_iter()
                    .map(|p| {
                        Ok(PeerDevice {
                            volume: p.volume,
                            replication: p.replication_state,
                            peer_disk: p.peer_disk_state.parse()?,
                        })
                    })
                    .collect::<Result<_, StateParseError>>()?;
                Ok(Connection {
                    peer_node_id: c.peer_node_id,
                    name: c.name,
                    state: c.connection_state.parse()?,
                    peer_role: c.peer_role.parse()?,
                    peer_devices,
                })
            })
            .collect::<Result<_, StateParseError>>()?;
        Ok(ResourceState {
            name: self.name,
            node_id: self.node_id,
            role: self.role.parse()?,
            suspended: self.suspended,
            devices,
            connections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verbatim layout of drbd-utils 9.22 `drbdsetup status r0 --json` (a connected Secondary
    /// whose peer is Primary), including drbdsetup's own spacing quirks.
    const CONNECTED: &str = r#"[
{
  "name": "r0",
  "node-id": 0,
  "role": "Secondary",
  "suspended": false,
  "suspended-user": false,
  "suspended-no-data": false,
  "suspended-fencing": false,
  "suspended-quorum": false,
  "force-io-failures": false,
  "write-ordering": "flush",
  "devices": [
    {
      "volume": 0,
      "minor": 0,
      "disk-state": "UpToDate",
      "client": false,
      "quorum": true,
      "size": 65536,
      "read": 0,
      "written": 0,
      "al-writes": 0,
      "bm-writes": 0,
      "upper-pending": 0,
      "lower-pending": 0
    } ],
  "connections": [
    {
      "peer-node-id": 1,
      "name": "pbx-b",
      "connection-state": "Connected", 
      "congested": false,
      "peer-role": "Primary",
      "ap-in-flight": 0,
      "rs-in-flight": 0,
      "peer_devices": [
        {
          "volume": 0,
          "replication-state": "Established",
          "peer-disk-state": "UpToDate",
          "peer-client": false,
          "resync-suspended": "no",
          "received": 0,
          "sent": 0,
          "out-of-sync": 0,
          "pending": 0,
          "unacked": 0,
          "has-sync-details": false,
          "has-online-verify-details": false,
          "percent-in-sync": 100.00
        } ]
    } ]
}
]
"#;

    #[test]
    fn parses_drbdsetup_status_json() {
        let s = ResourceState::from_status_json(CONNECTED, "r0").unwrap();
        assert_eq!(s.role, Role::Secondary);
        assert_eq!(s.node_id, 0);
        assert_eq!(s.worst_disk(), DiskState::UpToDate);
        assert_eq!(s.connections.len(), 1);
        let c = &s.connections[0];
        assert!(c.is_connected());
        assert_eq!(c.peer_role, Role::Primary);
        assert_eq!(c.peer_devices[0].peer_disk, DiskState::UpToDate);
        assert_eq!(
            s.summary(),
            "Secondary UpToDate, pbx-b Connected Primary UpToDate"
        );
    }

    #[test]
    fn another_resource_or_unknown_names_are_errors() {
        assert_eq!(
            ResourceState::from_status_json(CONNECTED, "r1").unwrap_err(),
            StateParseError::NoSuchResource("r1".into())
        );
        let odd = CONNECTED.replace(
            "\"UpToDate\",\n      \"client\"",
            "\"Sideways\",\n      \"client\"",
        );
        let err = ResourceState::from_status_json(&odd, "r0").unwrap_err();
        assert_eq!(
            err,
            StateParseError::UnknownName {
                what: "disk state",
                value: "Sideways".into()
            }
        );
        assert!(matches!(
            ResourceState::from_status_json("# No currently configured DRBD found.", "r0"),
            Err(StateParseError::Json(_))
        ));
    }

    #[test]
    fn disk_states_order_worst_first() {
        assert!(DiskState::Outdated < DiskState::UpToDate);
        assert!(DiskState::Inconsistent < DiskState::Outdated);
        assert!(DiskState::Consistent < DiskState::UpToDate);
        for s in ["StandAlone", "Connecting", "Connected", "NetworkFailure"] {
            assert_eq!(s.parse::<ConnectionState>().unwrap().as_str(), s);
        }
    }
}
