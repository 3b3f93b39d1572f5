//! Background reads of the devices' state (relay position, floating IP, DRBD role and mount) for
//! the core (the relay position) and for `astha status`.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::actuate::RelayHandle;
use crate::node::Side;

use super::Devices;

/// How long a relay read may take before status shows it as an error.
const RELAY_READ_DEADLINE: Duration = Duration::from_millis(800);

/// The relay as last read.
#[derive(Debug, Clone, Default)]
pub struct RelayReading {
    pub driver: String,
    pub position: Option<Side>,
    pub read_back: bool,
    pub error: Option<String>,
}

impl RelayReading {
    /// Reads the position back when the device can tell; otherwise reports the driver only.
    pub async fn read(relay: Option<&RelayHandle>) -> RelayReading {
        let Some(relay) = relay else {
            return RelayReading {
                driver: "none".into(),
                ..RelayReading::default()
            };
        };
        let driver = relay.describe().to_string();
        if !relay.capabilities().read_back {
            return RelayReading {
                driver,
                ..RelayReading::default()
            };
        }
        match relay.read_side(RELAY_READ_DEADLINE).await {
            Ok(position) => RelayReading {
                driver,
                position,
                read_back: true,
                error: None,
            },
            Err(e) => RelayReading {
                driver,
                position: None,
                read_back: false,
                error: Some(e.to_string()),
            },
        }
    }
}

/// One background reading of a device, sent back to the event loop.
#[derive(Debug, Clone)]
pub enum DeviceReading {
    Relay(RelayReading),
    FloatingIp { held: bool },
    Drbd { role: String, mounted: bool },
}

impl Devices {
    /// Starts background reads of the relay, the floating IP and DRBD; results come back on `tx`.
    pub(super) fn read_in_background(&self, tx: &mpsc::Sender<DeviceReading>) {
        let Devices {
            relay,
            floating_ip,
            drbd,
        } = self.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let relay = RelayReading::read(relay.as_ref()).await;
            let _ = tx.send(DeviceReading::Relay(relay)).await;
            if let Some(ip) = floating_ip {
                if let Ok(held) = ip.is_present().await {
                    let _ = tx.send(DeviceReading::FloatingIp { held }).await;
                }
            }
            if let Some(drbd) = drbd {
                let role = match drbd.role().await {
                    Ok(role) => format!("{role:?}"),
                    Err(e) => format!("error: {e}"),
                };
                let mounted = drbd.config().mount.as_ref().is_some_and(|m| {
                    crate::actuate::drbd::is_mounted(&m.mountpoint).unwrap_or(false)
                });
                let _ = tx.send(DeviceReading::Drbd { role, mounted }).await;
            }
        });
    }
}
