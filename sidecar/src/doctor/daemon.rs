//! The running daemon and its peer, as the daemon's own status tells them: is it running (and the installed version), does it hear its peer over authenticated datagrams (the key is shared and the wire versions are compatible).
//!
//! No new protocol: the peer link already authenticates every datagram with the shared key and
//! drops, counted by reason, what it cannot read. A peer heard recently proves the key and the
//! versions match; `bad_mac` drops prove the keys differ, `unsupported_version` drops that the
//! releases are too far apart, `from_self` that both nodes were given the same side.

use std::time::Duration;

use crate::config::Config;
use crate::control::{ControlClient, ControlClientError, RequestBody};
use crate::peer::DropReason;
use crate::status::StatusReport;

use super::{Check, DaemonStatus};

/// A peer not heard for longer than this is not heard (the default dead-after is 1 s).
const HEARD_WITHIN_MS: u64 = 5_000;

/// Asks the running daemon for its status.
pub async fn fetch_status(config: &Config, deadline: Duration) -> DaemonStatus {
    let reply = ControlClient::new(&config.daemon.control.socket)
        .with_timeout(deadline)
        .call(RequestBody::Status)
        .await?;
    reply.status.map(|s| *s).ok_or_else(|| {
        ControlClientError::BadReply(format!(
            "no status in the reply: {}",
            reply.error.unwrap_or_default()
        ))
    })
}

/// The daemon line and, when it runs, the peer-link line.
pub fn check(config: &Config, status: &DaemonStatus) -> Vec<Check> {
    let socket = config.daemon.control.socket.display();
    let report = match status {
        Ok(report) => report,
        Err(e @ ControlClientError::NotRunning { .. }) => {
            return vec![Check::warn(
                "daemon",
                format!("{e}: the peer link, the peer's key and version are not checked"),
                "start it (`systemctl start astha`) and run `astha doctor` again",
            )]
        }
        Err(e @ ControlClientError::PermissionDenied { .. }) => {
            return vec![Check::warn(
                "daemon",
                format!("{e}: the peer link is not checked"),
                "run `astha doctor` as root",
            )]
        }
        Err(e) => {
            return vec![Check::fail(
                "daemon",
                format!("the daemon on {socket} does not answer its status: {e}"),
                "see `journalctl -u astha`; restart it (`systemctl restart astha`)",
            )]
        }
    };
    let mine = env!("CARGO_PKG_VERSION");
    let node = &report.node;
    let daemon = if node.version == mine {
        Check::ok(
            "daemon",
            format!(
                "running, version {}, {} in term {}",
                node.version, node.role, node.term
            ),
        )
    } else {
        Check::warn(
            "daemon",
            format!(
                "the running daemon is version {}, the installed astha {mine}",
                node.version
            ),
            "restart it (`systemctl restart astha`) so it runs what is installed",
        )
    };
    vec![daemon, peer_link(config, report)]
}

/// What the daemon hears of its peer.
fn peer_link(config: &Config, report: &StatusReport) -> Check {
    const NAME: &str = "peer link";
    let Some(link) = &config.daemon.peer_link else {
        return Check::skip(NAME, "no [peer_link] configured");
    };
    let peer = &report.peer;
    let rejected = |reason: DropReason| {
        peer.rejected
            .iter()
            .find(|(r, _)| r == reason.as_str())
            .map_or(0, |(_, n)| *n)
    };
    let key = link.key_file.display();
    let heard = peer
        .last_message_age_ms
        .filter(|age| *age <= HEARD_WITHIN_MS);
    if let (Some(age), false) = (heard, peer.links_up.is_empty()) {
        let down = if peer.links_down.is_empty() {
            Check::ok(
                NAME,
                format!(
                    "hears {} ({}) on {} (last {age} ms ago): authenticated with the shared key, compatible versions",
                    peer.name,
                    peer.role.as_deref().unwrap_or("role unknown"),
                    peer.links_up.join(", ")
                ),
            )
        } else {
            Check::warn(
                NAME,
                format!(
                    "hears {} on {} but not on {}: one link left between the nodes",
                    peer.name,
                    peer.links_up.join(", "),
                    peer.links_down.join(", ")
                ),
                "check the cable, addresses and firewall (UDP) of the silent link",
            )
        };
        return down;
    }
    let (bad_mac, version, from_self) = (
        rejected(DropReason::BadMac),
        rejected(DropReason::UnsupportedVersion),
        rejected(DropReason::FromSelf),
    );
    if bad_mac > 0 {
        Check::fail(
            NAME,
            format!(
                "{bad_mac} datagram(s) from {} failed authentication: the nodes do not share the peer key",
                peer.name
            ),
            format!("copy {key} to the other node byte for byte, then restart astha on both"),
        )
    } else if version > 0 {
        Check::fail(
            NAME,
            format!(
                "{version} datagram(s) from {} in a wire version this release cannot read",
                peer.name
            ),
            "install the same astha release on both nodes",
        )
    } else if from_self > 0 {
        Check::fail(
            NAME,
            format!(
                "{from_self} datagram(s) claimed this node's own side {}: both nodes have the same [node] side",
                report.node.side
            ),
            "give one node `side = \"a\"` and the other `side = \"b\"`",
        )
    } else {
        Check::fail(
            NAME,
            format!(
                "nothing heard from {} on any link ({})",
                peer.name,
                link.links
                    .iter()
                    .map(|l| format!("{} {} -> {}", l.name, l.local, l.remote))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "start astha on the peer; check the link addresses and that UDP passes the firewalls both ways",
        )
    }
}
