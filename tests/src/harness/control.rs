//! Talking to the processes under test: astha's control socket (JSON lines) and fake-asterisk's control channel.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::HarnessError;

/// How long one control exchange may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(3);

/// One request line to a Unix socket, one reply line back.
pub fn unix_request(socket: &Path, line: &str) -> Result<String, HarnessError> {
    let io = |what: &str, source| HarnessError::Io {
        what: format!("{what} {}", socket.display()),
        source,
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| io("connect to", e))?;
    stream
        .set_read_timeout(Some(CONTROL_TIMEOUT))
        .map_err(|e| io("set timeout on", e))?;
    stream
        .write_all(format!("{line}\n").as_bytes())
        .map_err(|e| io("write to", e))?;
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .map_err(|e| io("read from", e))?;
    if reply.is_empty() {
        return Err(HarnessError::Protocol {
            what: socket.display().to_string(),
            detail: format!("no reply to {line:?}"),
        });
    }
    Ok(reply.trim_end().to_owned())
}

/// What `astha status --json` reports, reduced to what the harness judges.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// `standby`, `taking-over`, `active`, `releasing`, `maintenance`, `faulted`.
    pub role: String,
    pub term: u64,
    /// When the last takeover started (Unix ms) and how long it took (ms), if any.
    pub last_takeover: Option<TakeoverView>,
    /// The whole report, for anything else.
    pub raw: serde_json::Value,
}

impl NodeView {
    /// The verdict on `target` (`local` or `peer`): `healthy`, `degraded`, `failed`, `unknown`.
    pub fn verdict(&self, target: &str) -> Option<&str> {
        self.raw
            .get("targets")?
            .as_array()?
            .iter()
            .find(|t| t.get("target").and_then(|v| v.as_str()) == Some(target))?
            .get("verdict")?
            .as_str()
    }

    /// The state (`registered`, `unregistered`, `rejected`) of this node's own outbound
    /// registration `name`, as its daemon keeps it.
    pub fn local_trunk(&self, name: &str) -> Option<String> {
        self.raw
            .get("trunks")?
            .as_array()?
            .iter()
            .find(|node| node.get("kept").is_some())?
            .get("registrations")?
            .as_array()?
            .iter()
            .find(|t| t.get("name").and_then(|v| v.as_str()) == Some(name))?
            .get("state")?
            .as_str()
            .map(str::to_owned)
    }

    /// The calls in progress on the active's Asterisk, as the daemon counted them (None when it
    /// could not, or no node is active).
    pub fn calls(&self) -> Option<u64> {
        self.raw.pointer("/calls/count")?.as_u64()
    }

    /// The kinds of the alerts active now (`broken_link`, ...).
    pub fn alerts(&self) -> Vec<String> {
        self.raw
            .get("alerts")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|alert| alert.get("kind")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Names of the peer links currently down.
    pub fn links_down(&self) -> Vec<String> {
        self.raw
            .pointer("/peer/links_down")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The daemon's own record of its last takeover.
#[derive(Debug, Clone, PartialEq)]
pub struct TakeoverView {
    pub reason: String,
    pub started_unix_ms: u64,
    pub total_ms: f64,
    pub outcome: String,
    /// The step that started Asterisk (`asterisk engage`), when it ran: a cold standby's boot.
    pub asterisk_start_ms: Option<f64>,
}

/// Asks a daemon for its status over its control socket.
pub fn astha_status(socket: &Path) -> Result<NodeView, HarnessError> {
    let reply = astha_request(socket, r#"{"v":1,"cmd":"status"}"#)?;
    let status = reply.get("status").cloned().unwrap_or_default();
    let protocol = |detail: &str| HarnessError::Protocol {
        what: socket.display().to_string(),
        detail: detail.to_owned(),
    };
    let node = status
        .get("node")
        .ok_or_else(|| protocol("status without node"))?;
    let role = node
        .get("role")
        .and_then(|r| r.as_str())
        .ok_or_else(|| protocol("status without node.role"))?
        .to_owned();
    let term = node.get("term").and_then(|t| t.as_u64()).unwrap_or(0);
    let last_takeover = status
        .get("last_takeover")
        .filter(|t| !t.is_null())
        .map(|t| TakeoverView {
            reason: t
                .get("reason")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned(),
            started_unix_ms: t
                .get("started_unix_ms")
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
            total_ms: t.get("total_ms").and_then(|v| v.as_f64()).unwrap_or(0.0),
            outcome: t
                .get("outcome")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned(),
            asterisk_start_ms: t
                .get("steps")
                .and_then(|steps| steps.as_array())
                .and_then(|steps| {
                    steps
                        .iter()
                        .find(|s| s.get("step").and_then(|n| n.as_str()) == Some("asterisk engage"))
                })
                .and_then(|s| s.get("ms"))
                .and_then(|ms| ms.as_f64()),
        });
    Ok(NodeView {
        role,
        term,
        last_takeover,
        raw: status,
    })
}

/// Sends one JSON request; an `ok: false` reply becomes an error with the daemon's message.
pub fn astha_request(socket: &Path, line: &str) -> Result<serde_json::Value, HarnessError> {
    let reply = unix_request(socket, line)?;
    let value: serde_json::Value =
        serde_json::from_str(&reply).map_err(|e| HarnessError::Protocol {
            what: socket.display().to_string(),
            detail: format!("reply is not JSON ({e}): {reply}"),
        })?;
    if value.get("ok").and_then(|v| v.as_bool()) != Some(true) {
        return Err(HarnessError::Refused {
            what: line.to_owned(),
            reply,
        });
    }
    Ok(value)
}

/// Sends one command to fake-asterisk's control socket; `error: ...` replies are errors.
pub fn asterisk_command(socket: &Path, command: &str) -> Result<String, HarnessError> {
    let reply = unix_request(socket, command)?;
    if reply.starts_with("ok") {
        Ok(reply)
    } else {
        Err(HarnessError::Refused {
            what: command.to_owned(),
            reply,
        })
    }
}
