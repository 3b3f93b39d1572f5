//! The PSTN relay: reachable from this node and able to say which side the circuits are on (the driver's read, never a switch).

use std::time::Duration;

use crate::actuate::config::RelayConfig;
use crate::actuate::relay::{build_relay, RelayHandle};
use crate::config::Config;
use crate::status::StatusReport;

use super::Check;

/// One read of the device (a serial relay answers in tens of ms, a berofos in a few hundred).
const READ_DEADLINE: Duration = Duration::from_secs(3);

const NAME: &str = "relay";

/// Reads the relay's position once. A serial port is opened exclusively: when the running
/// daemon holds it, the daemon's own last read stands for this node's.
pub async fn check(config: &Config, status: Option<&StatusReport>) -> Vec<Check> {
    let Some(cfg) = &config.daemon.actuate.relay else {
        return vec![Check::skip(NAME, "no [actuate.relay] configured")];
    };
    let relay = match build_relay(cfg) {
        Ok(relay) => RelayHandle::new(relay),
        Err(e) => {
            return vec![Check::fail(
                NAME,
                e.to_string(),
                "fix [actuate.relay] (`astha check-config`)",
            )]
        }
    };
    let device = relay.describe().to_owned();
    let read = relay.read_side(READ_DEADLINE).await;
    let check = match read {
        Ok(Some(side)) => Check::ok(
            NAME,
            format!(
                "{device} reads back: the circuits are on side {side} ({})",
                holder(config, side)
            ),
        ),
        Ok(None) => Check::warn(
            NAME,
            format!("{device} answers but cannot read back its position"),
            "use a relay with read-back (README, \"A relay the survivor can switch\") so a takeover can verify the switch",
        ),
        Err(e) => match status.map(|s| &s.relay) {
            // The daemon holds the serial port (opened exclusively) and read it itself. A
            // network relay (berofos) takes any number of clients: its error stands.
            Some(daemon)
                if !matches!(cfg, RelayConfig::Berofos(_))
                    && daemon.error.is_none()
                    && daemon.position.is_some() =>
            {
                Check::ok(
                NAME,
                format!(
                    "{device}: the running daemon holds the device and reads side {} ({e} when opened here)",
                    daemon.position.as_deref().unwrap_or_default()
                ),
                )
            }
            _ => Check::fail(
                NAME,
                format!("{device} does not answer from this node: {e}"),
                "check the relay's power, cable (serial: the device path and the `dialout` group) or network (berofos: address, port, credentials); `astha relay status` repeats the read",
            ),
        },
    };
    vec![check]
}

/// `this node pbx-a` or `the peer pbx-b`.
fn holder(config: &Config, side: crate::side::Side) -> String {
    if side == config.node.side {
        format!("this node, {}", config.node.name)
    } else {
        format!("the peer, {}", config.node.peer_name)
    }
}
