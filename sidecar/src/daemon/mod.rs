//! `astha run`: the daemon that wires probes, peer link, decision core, actuators and the control socket together.
//!
//! One task owns the decision core and runs the event loop; everything else (probe monitors, the
//! peer link's receive tasks, the actuator sequence, the control socket, metrics) talks to it
//! through channels. The loop feeds the core inputs with a monotonic `Millis` timestamp and
//! executes the commands it returns, in order.
//!
//! Stopping the daemon (SIGTERM/SIGINT) never releases an active role: restarting or upgrading
//! astha must not move the calls. SIGHUP re-reads the configuration; a broken file is rejected
//! with every problem logged, and the old configuration keeps running.
//!
//! One file per reason to change:
//!
//! | file | what it does |
//! |---|---|
//! | `start.rs` | opens everything once at start (state, peer link, probes, actuators, sockets) |
//! | `event_loop.rs` | waits for the next event and routes it to the core |
//! | `commands.rs` | executes the core's commands, in order |
//! | `control.rs` | answers control-socket requests and operator commands (CLI, dialplan) |
//! | `reload.rs` | SIGHUP: re-reads the configuration |
//! | `report.rs` | assembles `astha status` and the metrics |
//! | `alerts.rs` | keeps the active alerts, logs them, sends events to the alert sinks |
//! | `devices.rs` | reads the relay, floating IP and DRBD back (and runs a cold standby's start check) in the background |
//! | `relay_watchdog.rs` | kicks the relay's own watchdog while this node holds the guarded side |
//! | `witness.rs` | checks the witness and feeds the answers to the core |
//! | `reachability.rs` | checks the service network's reachability targets and tells the core whether any answers |
//! | `actuator_task.rs` | runs takeover and release sequences off the loop |
//! | `readiness.rs` | answers the sequence's questions about the local Asterisk |
//! | `dialplan.rs` | watches the local Asterisk for `*999` failover requests |
//! | `trunks.rs` | keeps the local Asterisk's outbound SIP registrations running on the active only |
//! | `contacts.rs` | mirrors the active's PJSIP contacts into the standby's Asterisk |
//! | `clock.rs` | the core's monotonic clock (wall time: `crate::wall_clock`) |

mod actuator_task;
mod alerts;
mod astdb;
mod calls;
mod clock;
mod commands;
mod contacts;
mod control;
mod devices;
mod dialplan;
mod event_loop;
mod reachability;
mod readiness;
mod relay_watchdog;
mod reload;
mod report;
mod start;
mod trunks;
mod witness;

use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot, watch};

use crate::actuate::fence::FenceLedger;
use crate::actuate::{AsteriskService, Drbd, FloatingIp, RelayHandle, TakeoverCanceller};
use crate::config::daemon::DialplanConfig;
use crate::config::{Config, ConfigFileError};
use crate::control::ControlReply;
use crate::decide::term_store::TermStore;
use crate::decide::Core;
use crate::peer::udp::UdpLinks;
use crate::peer::PeerLink;
use crate::probe::TargetMonitor;
use crate::sd_notify::Notifier;

use actuator_task::ActuatorJob;
use clock::Clock;
pub use report::ReportInputs;

/// Why the daemon could not start (or had to stop).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    #[error("{0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> DaemonError + '_ {
    move |e| DaemonError::Setup(format!("{what}: {e}"))
}

/// Options of `astha run` that are not in the configuration file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides `[control] socket`.
    pub control_socket: Option<PathBuf>,
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(config_path: &Path, options: RunOptions) -> Result<(), DaemonError> {
    let (mut daemon, events) = start::start(config_path, options).await?;
    daemon.event_loop(events).await
}

/// The daemon's state, owned by the event loop's task.
struct Daemon {
    clock: Clock,
    config: Config,
    config_path: PathBuf,
    core: Core,
    terms: TermStore,
    local: TargetMonitor,
    peer: TargetMonitor,
    peer_link: PeerLinkIo,
    devices: Devices,
    /// Takeover and release jobs for the actuator task.
    jobs: mpsc::Sender<ActuatorJob>,
    /// Stops the actuator task's takeover when the core gives way to a newer term.
    takeover_canceller: TakeoverCanceller,
    /// Where answers to the core's urgent probes of the peer's Asterisk go.
    urgent: mpsc::Sender<bool>,
    /// The operator request waiting for the core's `OperatorReply` (None for dialplan requests).
    pending_operator: Option<oneshot::Sender<ControlReply>>,
    report: report::ReportState,
    /// Active alerts and the alert sinks.
    alerts: alerts::Alerting,
    metrics: watch::Sender<String>,
    /// What the dialplan watcher reads for every `HAFailover` event (updated on SIGHUP).
    dialplan_config: watch::Sender<DialplanConfig>,
    notifier: Notifier,
    /// The witness, when `[decide] witness` is set.
    witness: Option<witness::WitnessWatch>,
    /// The reachability targets, when `[service_network] targets` lists any.
    reachability: Option<reachability::ReachabilityWatch>,
    /// The relay's own watchdog, when it has one.
    relay_watchdog: Option<relay_watchdog::WatchdogKicker>,
    /// Keeps the outbound SIP registrations running on the active only.
    trunks: trunks::TrunkKeeper,
    /// The contact mirror, unless `[contacts] mirror` is off.
    contacts: Option<contacts::ContactMirror>,
    /// The calls in progress `astha status` shows, counted once for the requests of a moment.
    call_count: calls::SharedCount,
}

impl Daemon {
    /// Lets the contact mirror run exactly while this node is the standby of an active peer:
    /// the active's contacts are the ones to copy, and a node that carries the calls must not
    /// have its own overwritten.
    fn steer_contact_mirror(&self) {
        if let Some(mirror) = &self.contacts {
            let status = self.core.status();
            let peer_active = status
                .peer
                .last
                .as_ref()
                .is_some_and(|p| p.role == crate::decide::Role::Active);
            mirror.set_mirroring(status.role == crate::decide::Role::Standby && peer_active);
        }
    }
}

/// The peer link's sockets and its codec (sealing, opening, replay protection, counters).
#[derive(Debug)]
struct PeerLinkIo {
    links: UdpLinks,
    codec: PeerLink,
}

/// The actuators whose state `astha status` reads back.
#[derive(Debug, Clone)]
struct Devices {
    relay: Option<RelayHandle>,
    floating_ip: Option<FloatingIp>,
    drbd: Option<Drbd>,
    /// The local Asterisk service: a cold standby runs its cold-start check in the background.
    asterisk: AsteriskService,
    /// Fencing evidence of the takeover under way (shared with the sequence); answers DRBD's
    /// fence-peer handler.
    fence: FenceLedger,
}
