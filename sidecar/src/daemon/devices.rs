//! Background reads of the devices' state (relay position, floating IP, DRBD state and mount) for
//! the core (the relay position) and for `astha status`; a standby left behind by DRBD outdates
//! its disk there. The floating IP's interface carrier is read here (the service network), and
//! a cold standby's start check runs here too (whether it could start its
//! Asterisk: the core's readiness of a node whose Asterisk is stopped on purpose).

use std::time::Duration;

use tokio::sync::mpsc;

use crate::actuate::config::StandbyMode;
use crate::actuate::drbd::DrbdObservation;
use crate::actuate::relay::WatchdogState;
use crate::actuate::RelayHandle;
use crate::decide::CoreStatus;
use crate::side::Side;

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
    /// The device watchdog's state, when the device has one configured and tells it.
    pub watchdog: Option<WatchdogState>,
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
        let mut reading = match relay.read_side(RELAY_READ_DEADLINE).await {
            Ok(position) => RelayReading {
                driver,
                position,
                read_back: true,
                ..RelayReading::default()
            },
            Err(e) => RelayReading {
                driver,
                error: Some(e.to_string()),
                ..RelayReading::default()
            },
        };
        if reading.read_back && relay.capabilities().watchdog.is_some() {
            match relay.read_watchdog(RELAY_READ_DEADLINE).await {
                Ok(state) => reading.watchdog = state,
                Err(e) => reading.error = Some(format!("watchdog state: {e}")),
            }
        }
        reading
    }
}

/// One background reading of a device, sent back to the event loop.
#[derive(Debug, Clone)]
pub enum DeviceReading {
    Relay(RelayReading),
    FloatingIp {
        held: bool,
    },
    /// DRBD's state and the last fence-peer/unfence-peer exchange.
    Drbd(DrbdObservation, Option<String>),
    /// Cold standby: the `cold_start_check` result.
    ColdStartCheck(Result<(), String>),
    /// The service network: carrier of the floating IP's interface (`Err`: why it cannot
    /// serve).
    Carrier(Result<(), String>),
}

/// Whether this node is a standby that hears an active peer: if DRBD cannot reach that peer,
/// it goes on writing without this node, whose disk is then outdated (see `Drbd::observe`).
pub(super) fn peer_active_and_heard(status: &CoreStatus) -> bool {
    !status.role.claims_calls()
        && status.peer.alive
        && status.peer.last.is_some_and(|p| p.role.claims_calls())
}

impl Devices {
    /// Starts background reads of the relay, the floating IP and DRBD; results come back on `tx`.
    pub(super) fn read_in_background(&self, tx: &mpsc::Sender<DeviceReading>, core: &CoreStatus) {
        let peer_active_and_heard = peer_active_and_heard(core);
        let cold_standby = self.asterisk.mode() == StandbyMode::Cold && !core.role.claims_calls();
        let Devices {
            relay,
            floating_ip,
            drbd,
            asterisk,
            fence,
        } = self.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            if cold_standby {
                let check = asterisk.cold_start_check().await;
                let _ = tx.send(DeviceReading::ColdStartCheck(check)).await;
            }
            let relay = RelayReading::read(relay.as_ref()).await;
            let _ = tx.send(DeviceReading::Relay(relay)).await;
            if let Some(ip) = floating_ip {
                // A link state that cannot be read says nothing: the last reading stands.
                if let Ok(carrier) = ip.carrier().await {
                    let interface = &ip.config().interface;
                    let network = match carrier {
                        true => Ok(()),
                        false => Err(format!("{interface}: no carrier")),
                    };
                    let _ = tx.send(DeviceReading::Carrier(network)).await;
                }
                if let Ok(held) = ip.is_present().await {
                    let _ = tx.send(DeviceReading::FloatingIp { held }).await;
                }
            }
            if let Some(drbd) = drbd {
                let observed = drbd.observe(peer_active_and_heard).await;
                let _ = tx
                    .send(DeviceReading::Drbd(observed, fence.last_event()))
                    .await;
            }
        });
    }
}
