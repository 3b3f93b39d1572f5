//! `astha fence-peer` and `astha unfence-peer`: DRBD's handlers, answered by the local daemon over its control socket.
//!
//! DRBD runs them (through `drbdadm`, with `DRBD_RESOURCE`, `DRBD_PEER_NODE_ID`,
//! `DRBD_NODE_ID_<n>`… in the environment) from the resource file's `handlers` section; see
//! `contrib/drbd/asterisk.res`. The exit status is DRBD's handler contract, not astha's usual
//! 0–3: 4 peer outdated, 6 the peer is the active node, 7 peer fenced, and 1 when there is no
//! answer — never 3 or 5, which would make DRBD resume I/O on a guess. Even a mistyped command
//! line exits 1 (see [`is_handler_invocation`]).

use std::io::Write;
use std::time::Duration;

use tokio::time::Instant;

use crate::actuate::fence::{exit, HANDLER_WAIT};
use crate::control::{ControlClient, ControlClientError, RequestBody};

use super::control_args::ControlArgs;
use super::Exit;

/// The subcommand names DRBD calls.
const HANDLERS: [&str; 2] = ["fence-peer", "unfence-peer"];

#[derive(Debug, clap::Args)]
pub struct FencePeerArgs {
    #[command(flatten)]
    pub control: ControlArgs,
    /// The DRBD resource (default: `$DRBD_RESOURCE`, which drbdadm sets for handlers).
    #[arg(long)]
    pub resource: Option<String>,
    /// How long to keep asking a daemon that does not answer (it may be restarting) before
    /// giving up with exit 1. DRBD keeps the resource's I/O frozen meanwhile.
    #[arg(long, default_value_t = HANDLER_WAIT.as_millis() as u64)]
    pub wait_ms: u64,
}

/// Whether `args` (the whole command line) runs one of the DRBD handlers: their usage errors
/// must exit 1, because clap's usual 3 means "peer is Inconsistent" to DRBD.
pub fn is_handler_invocation<T: AsRef<std::ffi::OsStr>>(args: &[T]) -> bool {
    args.iter()
        .skip(1)
        .map(|a| a.as_ref().to_string_lossy())
        .find(|a| !a.starts_with('-'))
        .is_some_and(|a| HANDLERS.contains(&a.as_ref()))
}

/// What DRBD tells the handler about the peer.
struct DrbdEnv {
    resource: Option<String>,
    peer_node_id: Option<u32>,
    peer_name: Option<String>,
}

impl DrbdEnv {
    fn read(resource: Option<String>) -> DrbdEnv {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let peer_node_id = var("DRBD_PEER_NODE_ID").and_then(|v| v.parse().ok());
        let peer_name = peer_node_id.and_then(|id| var(&format!("DRBD_NODE_ID_{id}")));
        DrbdEnv {
            resource: resource.or_else(|| var("DRBD_RESOURCE")),
            peer_node_id,
            peer_name,
        }
    }

    fn peer(&self) -> String {
        match (&self.peer_name, self.peer_node_id) {
            (Some(name), Some(id)) => format!("{name} (node {id})"),
            (None, Some(id)) => format!("node {id}"),
            _ => "the peer".into(),
        }
    }
}

/// Asks until the daemon answers or `wait` has passed.
async fn ask(
    control: &ControlArgs,
    body: RequestBody,
    wait: Duration,
) -> Result<crate::control::ControlReply, String> {
    let path = control.socket_path()?;
    let give_up = Instant::now() + wait;
    loop {
        let left = give_up.saturating_duration_since(Instant::now());
        let client = ControlClient::new(&path).with_timeout(left.max(Duration::from_millis(100)));
        let error = match client.call(body.clone()).await {
            Ok(reply) => return Ok(reply),
            Err(e @ ControlClientError::PermissionDenied { .. }) => return Err(e.to_string()),
            Err(e) => e.to_string(),
        };
        if Instant::now() + Duration::from_millis(500) >= give_up {
            return Err(format!("{error} (asked for {} ms)", wait.as_millis()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn fence_peer(args: FencePeerArgs, out: &mut dyn Write) -> Exit {
    let env = DrbdEnv::read(args.resource.clone());
    let Some(resource) = env.resource.clone() else {
        let _ = writeln!(
            out,
            "astha fence-peer: no resource (DRBD_RESOURCE is not set; pass --resource): exit {}",
            exit::NO_ANSWER
        );
        return Exit::Handler(exit::NO_ANSWER);
    };
    let body = RequestBody::FencePeer {
        resource: resource.clone(),
        peer_node_id: env.peer_node_id,
        peer_name: env.peer_name.clone(),
    };
    let (code, text) = match ask(&args.control, body, Duration::from_millis(args.wait_ms)).await {
        Ok(reply) => match (reply.fence, reply.error) {
            (Some(verdict), _) => (verdict.exit_code(), verdict.to_string()),
            (None, error) => (
                exit::NO_ANSWER,
                format!(
                    "the daemon refused: {}",
                    error.unwrap_or_else(|| "no reason given".into())
                ),
            ),
        },
        Err(e) => (exit::NO_ANSWER, format!("no answer from the daemon: {e}")),
    };
    let _ = writeln!(
        out,
        "astha fence-peer {resource}, {}: {text}: exit {code}",
        env.peer()
    );
    Exit::Handler(code)
}

pub async fn unfence_peer(args: FencePeerArgs, out: &mut dyn Write) -> Exit {
    let env = DrbdEnv::read(args.resource.clone());
    let Some(resource) = env.resource.clone() else {
        let _ = writeln!(
            out,
            "astha unfence-peer: no resource (DRBD_RESOURCE is not set; pass --resource)"
        );
        return Exit::Handler(1);
    };
    let body = RequestBody::UnfencePeer {
        resource: resource.clone(),
        peer_node_id: env.peer_node_id,
    };
    // DRBD ignores this handler's exit status; 1 still tells a person the daemon did not hear it.
    match ask(&args.control, body, Duration::from_millis(args.wait_ms)).await {
        Ok(reply) if reply.ok => {
            let _ = writeln!(
                out,
                "astha unfence-peer {resource}, {}: {}",
                env.peer(),
                reply.message.unwrap_or_else(|| "recorded".into())
            );
            Exit::Handler(0)
        }
        Ok(reply) => {
            let _ = writeln!(
                out,
                "astha unfence-peer {resource}: the daemon refused: {}",
                reply.error.unwrap_or_default()
            );
            Exit::Handler(1)
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "astha unfence-peer {resource}: no answer from the daemon: {e}"
            );
            Exit::Handler(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_invocations_are_recognised() {
        assert!(is_handler_invocation(&["astha", "fence-peer"]));
        assert!(is_handler_invocation(&[
            "/usr/bin/astha",
            "--log-level=debug",
            "fence-peer",
            "--bogus"
        ]));
        assert!(is_handler_invocation(&["astha", "unfence-peer", "--x"]));
        assert!(!is_handler_invocation(&["astha", "status"]));
        assert!(!is_handler_invocation(&["astha"]));
    }
}
