//! Control API messages: requests from the CLI and the daemon's replies (versioned JSON lines).

use crate::actuate::fence::FenceVerdict;
use crate::status::StatusReport;
use serde::{Deserialize, Serialize};

/// Version of the control protocol; a request with another version gets a clear error.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest request line the daemon reads; anything longer is refused, not buffered.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    pub v: u32,
    #[serde(flatten)]
    pub body: RequestBody,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RequestBody {
    Status,
    Failover {
        #[serde(default)]
        force: bool,
        #[serde(default)]
        reason: Option<String>,
    },
    Maintenance {
        on: bool,
    },
    /// Run every probe of a target now instead of waiting for its cadence.
    ProbeNow {
        /// `local` or `peer`.
        target: String,
    },
    /// DRBD's `fence-peer` handler (`astha fence-peer`) asks whether the peer is out of the way.
    FencePeer {
        resource: String,
        #[serde(default)]
        peer_node_id: Option<u32>,
        /// The peer's host name as the resource file names it.
        #[serde(default)]
        peer_name: Option<String>,
    },
    /// DRBD's `unfence-peer` handler: the peer is UpToDate again.
    UnfencePeer {
        resource: String,
        #[serde(default)]
        peer_node_id: Option<u32>,
    },
}

impl Request {
    pub fn new(body: RequestBody) -> Request {
        Request {
            v: PROTOCOL_VERSION,
            body,
        }
    }

    /// Parses one request line, with an error message fit to send back to the client.
    pub fn parse(line: &[u8]) -> Result<Request, String> {
        #[derive(Deserialize)]
        struct VersionOnly {
            v: Option<u32>,
        }
        let version: VersionOnly = serde_json::from_slice(line)
            .map_err(|e| format!("malformed request (expected one JSON object per line): {e}"))?;
        match version.v {
            Some(PROTOCOL_VERSION) => {}
            Some(other) => {
                return Err(format!(
                    "unsupported protocol version {other}; this daemon speaks {PROTOCOL_VERSION}"
                ))
            }
            None => return Err("request has no protocol version field `v`".into()),
        }
        serde_json::from_slice(line).map_err(|e| format!("invalid request: {e}"))
    }
}

/// The daemon's answer: `ok` with an optional message and status, or an error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ControlReply {
    pub v: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<StatusReport>>,
    /// The answer to a `fence-peer` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence: Option<FenceVerdict>,
}

impl ControlReply {
    pub fn ok(message: impl Into<String>) -> ControlReply {
        ControlReply {
            v: PROTOCOL_VERSION,
            ok: true,
            message: Some(message.into()),
            error: None,
            status: None,
            fence: None,
        }
    }

    pub fn error(error: impl Into<String>) -> ControlReply {
        ControlReply {
            v: PROTOCOL_VERSION,
            ok: false,
            message: None,
            error: Some(error.into()),
            status: None,
            fence: None,
        }
    }

    pub fn status(report: StatusReport) -> ControlReply {
        ControlReply {
            v: PROTOCOL_VERSION,
            ok: true,
            message: None,
            error: None,
            status: Some(Box::new(report)),
            fence: None,
        }
    }

    pub fn fence(verdict: FenceVerdict) -> ControlReply {
        ControlReply {
            v: PROTOCOL_VERSION,
            ok: true,
            message: Some(verdict.to_string()),
            error: None,
            status: None,
            fence: Some(verdict),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_json() {
        for body in [
            RequestBody::Status,
            RequestBody::Failover {
                force: true,
                reason: Some("maintenance window".into()),
            },
            RequestBody::Maintenance { on: false },
            RequestBody::ProbeNow {
                target: "peer".into(),
            },
            RequestBody::FencePeer {
                resource: "asterisk".into(),
                peer_node_id: Some(1),
                peer_name: Some("pbx-b".into()),
            },
            RequestBody::UnfencePeer {
                resource: "asterisk".into(),
                peer_node_id: None,
            },
        ] {
            let line = serde_json::to_vec(&Request::new(body.clone())).unwrap();
            assert_eq!(Request::parse(&line).unwrap().body, body);
        }
    }

    #[test]
    fn failover_fields_default_when_absent() {
        let r = Request::parse(br#"{"v":1,"cmd":"failover"}"#).unwrap();
        assert_eq!(
            r.body,
            RequestBody::Failover {
                force: false,
                reason: None
            }
        );
    }

    #[test]
    fn bad_requests_get_clear_errors() {
        let cases: [(&[u8], &str); 5] = [
            (b"not json", "malformed request"),
            (br#"{"cmd":"status"}"#, "no protocol version"),
            (
                br#"{"v":9,"cmd":"status"}"#,
                "unsupported protocol version 9",
            ),
            (br#"{"v":1,"cmd":"reboot"}"#, "invalid request"),
            (br#"{"v":1,"cmd":"maintenance"}"#, "invalid request"),
        ];
        for (line, want) in cases {
            let err = Request::parse(line).unwrap_err();
            assert!(
                err.contains(want),
                "{:?}: got {err:?}, want {want:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
