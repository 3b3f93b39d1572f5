//! Checks that span sections: can the survivor switch the relay when this server is dead, and does a witness check finish before the peer counts as dead.
//!
//! Each problem here is a warning: the file works, but not in the failure it exists for.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::actuate::config::RelayConfig;

use super::daemon::DaemonConfig;
use super::node::NodeConfig;
use super::problem::Problems;

/// Runs every cross-section check on a configuration that was read without errors.
pub(super) fn check(
    doc: &Spanned<DeTable<'_>>,
    node: &NodeConfig,
    daemon: &DaemonConfig,
    problems: &mut Problems,
) {
    relay_reachable_by_the_survivor(doc, node, daemon, problems);
    witness_answers_before_the_peer_counts_as_dead(doc, daemon, problems);
}

/// A relay on a serial port hangs off this server alone: when this server dies, the peer
/// cannot switch it, unless it is wired to fall to the peer by itself (its coil powered and
/// energised by this server for this server's side) or has a watchdog that falls back to the
/// peer. A network switch (berofos) is reachable from both servers.
fn relay_reachable_by_the_survivor(
    doc: &Spanned<DeTable<'_>>,
    node: &NodeConfig,
    daemon: &DaemonConfig,
    problems: &mut Problems,
) {
    if daemon.peer_link.is_none() {
        return;
    }
    let (me, peer) = (node.side, node.side.other());
    let (path, fail_safe) = match &daemon.actuate.relay {
        None | Some(RelayConfig::Berofos(_)) => return,
        Some(RelayConfig::Numato(c)) => (&c.path, c.energized_side == me),
        Some(RelayConfig::Lcus(c)) => (&c.path, c.energized_side == me),
        Some(RelayConfig::LineProfile(c)) => (
            &c.path,
            c.kick_watchdog
                .as_ref()
                .is_some_and(|w| w.falls_back_to == peer),
        ),
    };
    if fail_safe {
        return;
    }
    let span = span_of(doc, &["actuate", "relay", "path"]).unwrap_or(0..0);
    problems.warning(
        "actuate.relay.path",
        span,
        format!(
            "the relay at {} hangs off this server (side {me}): if this server dies, side {peer} \
             cannot switch it and the PSTN stays on a dead server. Use a relay both servers \
             reach (berofos), or make this one fall to side {peer} by itself: \
             `energized_side = \"{me}\"` with the coil powered by this server, or a device \
             watchdog (`kick_watchdog` with `falls_back_to = \"{peer}\"`). See README, \"A \
             relay the survivor can switch\"",
            path.display()
        ),
    );
}

/// The core trusts a witness answer only when it came after the peer fell silent; the daemon
/// asks as soon as the peer is suspected (`interval_ms` and a quarter without a datagram). A
/// check that cannot finish before the peer counts as dead delays every takeover from a dead
/// peer by up to its timeout.
fn witness_answers_before_the_peer_counts_as_dead(
    doc: &Spanned<DeTable<'_>>,
    daemon: &DaemonConfig,
    problems: &mut Problems,
) {
    let (Some(_), Some(link)) = (&daemon.decide.witness, &daemon.peer_link) else {
        return;
    };
    let suspect_after = link.interval_ms + link.interval_ms / 4;
    let window = link.dead_after_ms.saturating_sub(suspect_after);
    let timeout = daemon.decide.witness_timeout_ms;
    if timeout < window {
        return;
    }
    let span = span_of(doc, &["decide", "witness_timeout_ms"])
        .or_else(|| span_of(doc, &["decide", "witness"]))
        .unwrap_or(0..0);
    problems.warning(
        "decide.witness_timeout_ms",
        span,
        format!(
            "a witness check of {timeout} ms cannot finish between the peer falling silent \
             ({suspect_after} ms) and counting as dead ({} ms): every takeover from a dead peer \
             waits for it; keep it under {window} ms",
            link.dead_after_ms
        ),
    );
}

/// Where the value at `path` (table keys from the top) is in the file.
fn span_of(doc: &Spanned<DeTable<'_>>, path: &[&str]) -> Option<Range<usize>> {
    let (last, tables) = path.split_last()?;
    let mut table = doc.get_ref();
    for key in tables {
        match table.get(*key)?.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    table.get(*last).map(Spanned::span)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{parse_with, Problem, SecretResolver};

    struct Fixed;
    impl SecretResolver for Fixed {
        fn env(&self, _: &str) -> Option<String> {
            Some("secret".into())
        }
    }

    fn warnings(extra: &str) -> Vec<Problem> {
        let text = format!(
            r#"[node]
side = "a"
[asterisk.a.ami]
address = "192.0.2.10:5038"
username = "u"
secret_env = "X"
[asterisk.b.ami]
address = "192.0.2.11:5038"
username = "u"
secret_env = "X"
[peer_link]
key_file = "/etc/astha/peer.key"
links = [{{ name = "lan", local = "192.0.2.10:7390", remote = "192.0.2.11:7390" }}]
{extra}"#
        );
        match parse_with(&text, Path::new("/etc/astha"), &Fixed) {
            Ok((_, problems)) => problems,
            Err(problems) => panic!("rejected: {problems:#?}"),
        }
    }

    fn relay_warning(extra: &str) -> Option<Problem> {
        warnings(extra)
            .into_iter()
            .find(|p| p.key == "actuate.relay.path")
    }

    #[test]
    fn a_serial_relay_the_survivor_cannot_reach_is_a_warning() {
        let usb = "[actuate.relay]\ndriver = \"numato\"\npath = \"/dev/serial/by-id/usb-relay\"\n";
        // The default energized_side is "b": on server A, A's side is the unpowered one, so a
        // dead A leaves the circuits on A.
        let w = relay_warning(usb).expect("warned");
        assert!(w.message.contains("side b cannot switch it"), "{w}");
        assert_eq!(w.line, 16, "{w}");
        // Energised for this server's side, the coil drops to the peer when this server dies.
        assert!(relay_warning(&format!("{usb}energized_side = \"a\"\n")).is_none());
        // A network switch is reachable from both servers.
        assert!(
            relay_warning("[actuate.relay]\ndriver = \"berofos\"\nhost = \"192.0.2.50\"\n")
                .is_none()
        );
    }

    #[test]
    fn a_line_profile_relay_is_fail_safe_only_with_a_watchdog_that_falls_to_the_peer() {
        let line = "[actuate.relay]\ndriver = \"line_profile\"\npath = \"/dev/ttyS0\"\n\
                    select_a = { send = \"A\" }\nselect_b = { send = \"B\" }\n";
        assert!(relay_warning(line).is_some());
        let watchdog = |to: &str| {
            format!("{line}kick_watchdog = {{ send = \"W\", kick_every_ms = 500, falls_back_to = \"{to}\" }}\n")
        };
        assert!(relay_warning(&watchdog("b")).is_none());
        assert!(
            relay_warning(&watchdog("a")).is_some(),
            "falls back to this dead server"
        );
    }

    #[test]
    fn a_witness_slower_than_the_dead_peer_window_is_a_warning() {
        let slow = "[decide]\nwitness = \"192.0.2.1\"\nwitness_timeout_ms = 400\n";
        let w = warnings(slow)
            .into_iter()
            .find(|p| p.key == "decide.witness_timeout_ms")
            .expect("warned");
        assert!(w.message.contains("keep it under 350 ms"), "{w}");
        assert!(warnings("[decide]\nwitness = \"192.0.2.1\"\n")
            .iter()
            .all(|p| p.key != "decide.witness_timeout_ms"));
    }
}
