//! Start-up wiring: opens everything the daemon holds once (state directory, term file, peer
//! link, probe monitors, actuators, control socket, metrics listener) and hands the event loop
//! its state and its event sources. A node starts as standby, releasing whatever a previous run
//! held, unless it is the active node whose daemon restarted: then it resumes the active role
//! without touching the relay, the floating IP or Asterisk (see `decide/resume.rs`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::actuate::fence::FenceLedger;
use crate::actuate::{Actuators, AsteriskService, Drbd, FloatingIp, RelayHandle, SequenceRunner};
use crate::alerts::{build_sinks, Dispatcher, EventSource};
use crate::config::{AsteriskCgroup, Config, TargetRole};
use crate::control::{ControlServer, IncomingRequest};
use crate::decide::resume::{self, HeldAtStart, RelayAtStart, StartRole};
use crate::decide::term_store::TermStore;
use crate::decide::{Core, DecideConfig, PersistedState};
use crate::peer::udp::{LinkAddrs, UdpLinks};
use crate::peer::{PeerKey, PeerLink};
use crate::probe::starvation::CpuPressure;
use crate::probe::TargetMonitor;
use crate::sd_notify::Notifier;

use super::actuator_task::ActuatorJob;
use super::devices::RelayReading;
use super::event_loop::EventSources;
use super::relay_watchdog::WatchdogKicker;
use super::{
    actuator_task, alerts, astdb, calls, contacts, dialplan, reachability, readiness, report,
    setup, trunks, witness, Clock, Daemon, DaemonError, Devices, PeerLinkIo, RunOptions,
};

/// Opens everything, releases what a previous run may have held, and reports ready.
pub(super) async fn start(
    config_path: &Path,
    options: RunOptions,
) -> Result<(Daemon, EventSources), DaemonError> {
    let (config, warnings) = Config::load(config_path)?;
    for w in &warnings {
        tracing::warn!("{}: {w}", config_path.display());
    }
    let clock = Clock::start();
    let notifier = Notifier::from_env();
    let (terms, persisted) = open_term_store(&config)?;
    let (peer_link, link_names) = open_peer_link(&config).await?;

    // Probes of both Asterisk instances, over persistent AMI connections.
    let mut local = TargetMonitor::start("local", config.target(TargetRole::Local), &config.probes);
    let peer = TargetMonitor::start("peer", config.target(TargetRole::Peer), &config.probes);
    if let Some(pressure) = local_cpu_pressure(&config.target(TargetRole::Local).cgroup) {
        local.give_back_starvation(pressure);
    }

    let (runner, devices) = open_actuators(&config, &local).await?;
    let held = what_this_node_holds(&devices).await;
    let start_role = resume::start_role(config.node.side, &persisted, &held);
    tracing::warn!(?held, "astha daemon starting: {start_role}");
    let takeover_canceller = runner.canceller();
    let (jobs, results) = actuator_task::spawn(runner);
    if let StartRole::Standby { .. } = start_role {
        release_what_a_previous_run_held(&jobs, persisted.term).await;
    }

    let socket_path = options
        .control_socket
        .clone()
        .unwrap_or_else(|| config.daemon.control.socket.clone());
    let control = open_control_socket(&config, &socket_path)?;
    let metrics = start_metrics_listener(&config).await?;
    let (dialplan_config, dialplan_config_rx) = watch::channel(config.daemon.dialplan.clone());
    let dialplan = dialplan::spawn_watcher(
        local.probes_arc(),
        astdb::client_config(&config, TargetRole::Local, ami_client::EventMask::Off),
        dialplan_config_rx,
    );
    let (urgent, urgent_results) = mpsc::channel::<bool>(4);
    let (device_readings_tx, device_readings) = mpsc::channel(4);

    let alerts = alerts::Alerting::new(EventSource::of(&config), start_alert_sinks(&config)?);
    let core = match start_role {
        StartRole::ResumeActive {
            peer_must_confirm, ..
        } => Core::resume(
            decide_config(&config),
            persisted,
            clock.now(),
            peer_must_confirm,
        ),
        StartRole::Standby { .. } => Core::new(decide_config(&config), persisted, clock.now()),
    };
    let role = core.status().role;
    let peer_interval = Duration::from_millis(core.config().peer_interval_ms);
    let (witness, witness_answers) =
        match witness::WitnessWatch::new(&config.daemon.decide, peer_interval) {
            Some((w, rx)) => (Some(w), Some(rx)),
            None => (None, None),
        };
    let (reachability, reachability_answers) =
        match reachability::ReachabilityWatch::new(&config.daemon.service_network) {
            Some((w, rx)) => (Some(w), Some(rx)),
            None => (None, None),
        };
    let (relay_watchdog, kick_results) =
        match WatchdogKicker::new(devices.relay.as_ref(), config.node.side) {
            Some((k, rx)) => (Some(k), Some(rx)),
            None => (None, None),
        };
    tracing::info!(
        side = %config.node.side,
        name = %config.node.name,
        term = persisted.term,
        %role,
        links = ?link_names,
        control = %socket_path.display(),
        "astha daemon started"
    );

    // Readiness: the local AMI login (bounded wait: a dead local Asterisk must not keep the
    // daemon from running, it is exactly what the daemon is there to handle) and the bound links.
    // A cold standby's Asterisk is being stopped: nothing to wait for, and the peer must hear
    // this node at once.
    let cold_standby = role == crate::decide::Role::Standby
        && config.daemon.actuate.asterisk.mode == crate::actuate::config::StandbyMode::Cold;
    if !cold_standby {
        let _ = local.probes().wait_ready(Duration::from_secs(5)).await;
    }
    notifier.ready(&format!("{role}, term {}", persisted.term));
    // After the local login wait, so the first check finds the session up.
    let trunks = trunks::TrunkKeeper::spawn(
        local.probes_arc(),
        peer.probes_arc(),
        [config.node.name.clone(), config.node.peer_name.clone()],
        trunks::Keep::for_role(role),
    );

    // The standby's Asterisk follows the active's PJSIP contacts (phones called after a takeover).
    let contacts = contacts::ContactMirror::start(&config);
    let daemon = Daemon {
        clock,
        config,
        config_path: config_path.to_path_buf(),
        core,
        terms,
        local,
        peer,
        peer_link,
        devices,
        jobs,
        takeover_canceller,
        urgent,
        pending_operator: None,
        report: report::ReportState::new(link_names),
        alerts,
        metrics,
        dialplan_config,
        notifier,
        witness,
        reachability,
        relay_watchdog,
        trunks,
        contacts,
        call_count: calls::SharedCount::default(),
    };
    let events = EventSources {
        control,
        results,
        dialplan,
        urgent_results,
        device_readings_tx,
        device_readings,
        witness_answers,
        reachability_answers,
        kick_results,
    };
    Ok((daemon, events))
}

/// The state directory and the term file in it.
fn open_term_store(config: &Config) -> Result<(TermStore, PersistedState), DaemonError> {
    let state_dir = &config.daemon.state.dir;
    std::fs::create_dir_all(state_dir)
        .map_err(setup(&format!("state directory {}", state_dir.display())))?;
    let terms = TermStore::new(state_dir.join("term"));
    let persisted = terms.load().map_err(setup("term file"))?;
    if persisted.missing {
        tracing::warn!(path = %terms.path().display(), "no term file: starting from term 0 (fresh install or lost state)");
    }
    Ok((terms, persisted))
}

/// Binds the peer link's sockets. Refuses to start without a usable key: an unauthenticated
/// link would let anyone on the LAN move the PBX. Returns the link names too.
async fn open_peer_link(config: &Config) -> Result<(PeerLinkIo, Vec<String>), DaemonError> {
    let peer_cfg = config.daemon.peer_link.as_ref().ok_or_else(|| {
        DaemonError::Setup(
            "[peer_link] is missing: astha run needs the peer link (key_file and links)".into(),
        )
    })?;
    let key = PeerKey::load(&peer_cfg.key_file).map_err(setup("peer key"))?;
    let epoch_file = config.daemon.state.dir.join("epoch");
    let epoch = crate::peer::epoch::next_boot_epoch(&epoch_file, crate::wall_clock::now_unix_ms())
        .map_err(setup("boot epoch file"))?;
    let codec = PeerLink::new(config.node.side, key, epoch);
    let addrs: Vec<LinkAddrs> = peer_cfg
        .links
        .iter()
        .map(|l| LinkAddrs {
            local: l.local,
            remote: l.remote,
        })
        .collect();
    let links = UdpLinks::bind(&addrs)
        .await
        .map_err(setup("peer link sockets"))?;
    let names = peer_cfg.links.iter().map(|l| l.name.clone()).collect();
    Ok((PeerLinkIo { links, codec }, names))
}

/// Opens every configured actuator. A missing device is an error at start, not at takeover time.
async fn open_actuators(
    config: &Config,
    local: &TargetMonitor,
) -> Result<(SequenceRunner, Devices), DaemonError> {
    let act = &config.daemon.actuate;
    let relay = match &act.relay {
        Some(cfg) => Some(RelayHandle::new(
            crate::actuate::relay::build_relay(cfg).map_err(setup("relay"))?,
        )),
        None => None,
    };
    let floating_ip = match &act.floating_ip {
        Some(cfg) => Some(
            FloatingIp::open(cfg.clone())
                .await
                .map_err(setup("floating IP"))?,
        ),
        None => None,
    };
    let drbd = act.drbd.clone().map(Drbd::new);
    let fence = FenceLedger::default();
    let asterisk = AsteriskService::new(act.asterisk.clone());
    let actuators = Actuators {
        relay: relay.clone(),
        drbd: drbd.clone(),
        floating_ip: floating_ip.clone(),
        asterisk: Some(asterisk.clone()),
        readiness: Some(Arc::new(readiness::LocalAsterisk::new(
            local.probes_arc(),
            act.asterisk.mode,
        ))),
        fence: fence.clone(),
    };
    let mut sequence = act.sequence.clone();
    if sequence.journal.is_none() {
        sequence.journal = Some(config.daemon.state.dir.join("takeovers.jsonl"));
    }
    let runner = SequenceRunner::new(config.node.side, actuators, sequence);
    let devices = Devices {
        relay,
        floating_ip,
        drbd,
        asterisk,
        fence,
    };
    Ok((runner, devices))
}

/// What a starting node finds of the devices an active node holds: whether it may resume.
async fn what_this_node_holds(devices: &Devices) -> HeldAtStart {
    let reading = RelayReading::read(devices.relay.as_ref()).await;
    let relay = match (&devices.relay, reading.read_back, reading.error) {
        (Some(_), true, _) => RelayAtStart::ReadBack(reading.position),
        (Some(_), false, Some(_)) => RelayAtStart::ReadFailed,
        _ => RelayAtStart::NotReadable,
    };
    let floating_ip = match &devices.floating_ip {
        // An address that cannot be read is not held: the node then starts as standby.
        Some(ip) => Some(ip.is_present().await.unwrap_or(false)),
        None => None,
    };
    HeldAtStart { relay, floating_ip }
}

/// A node that does not resume the active role starts as standby, so whatever a previous run
/// held is released first: a floating IP left configured here while the peer takes over would
/// be a duplicate address. The release is the actuator task's first job, so any takeover runs
/// after it, while the event loop already speaks to the peer (stopping a real Asterisk takes
/// seconds; a silent start would look like a dead node). Its outcome is logged when it comes
/// back; the standby core ignores it.
async fn release_what_a_previous_run_held(jobs: &mpsc::Sender<ActuatorJob>, term: u64) {
    let job = ActuatorJob::Release {
        term,
        reason: "start-up: a starting node is standby".into(),
    };
    if jobs.send(job).await.is_err() {
        tracing::error!("start-up release not started: the actuator task is gone");
    }
}

/// Binds the control socket and serves it; requests arrive on the returned channel.
fn open_control_socket(
    config: &Config,
    socket_path: &Path,
) -> Result<mpsc::Receiver<IncomingRequest>, DaemonError> {
    let control = ControlServer::bind(socket_path, config.daemon.control.group.as_deref())
        .map_err(setup("control socket"))?;
    let (control_tx, control_rx) = mpsc::channel::<IncomingRequest>(16);
    tokio::spawn(control.serve(control_tx));
    Ok(control_rx)
}

/// Serves the metrics, when `[metrics] listen` is set, from what the loop publishes.
async fn start_metrics_listener(config: &Config) -> Result<watch::Sender<String>, DaemonError> {
    let (metrics_tx, metrics_rx) = watch::channel(String::new());
    if let Some(addr) = config.daemon.metrics.listen {
        let listener = crate::metrics::bind(addr, config.daemon.metrics.allow_non_loopback)
            .await
            .map_err(setup("metrics listener"))?;
        tokio::spawn(crate::metrics::serve(
            listener,
            Arc::new(move || metrics_rx.borrow().clone()),
        ));
        tracing::info!(%addr, "metrics listener up");
    }
    Ok(metrics_tx)
}

/// Starts the alert sinks' delivery tasks (`[alerts]`); none configured is fine.
pub(super) fn start_alert_sinks(config: &Config) -> Result<Dispatcher, DaemonError> {
    let sinks = build_sinks(&config.alerts).map_err(DaemonError::Setup)?;
    for sink in &sinks {
        tracing::info!(sink = %sink.describe(), "alert sink configured");
    }
    Ok(Dispatcher::start(sinks, config.alerts.delivery.clone()))
}

/// Builds the decision core's tunables from the configuration.
fn decide_config(config: &Config) -> DecideConfig {
    let mut d = DecideConfig::new(config.node.side);
    let section = &config.daemon.decide;
    if let Some(link) = &config.daemon.peer_link {
        d.links = link.links.len().max(1);
        d.peer_interval_ms = link.interval_ms;
        d.peer_dead_after_ms = link.dead_after_ms;
        // Suspect the peer shortly after one missed datagram, never before.
        d.suspect_after_ms = link.interval_ms + link.interval_ms / 4;
    }
    // The urgent probe only counts together with the peer's silence on every link (two
    // independent signs of a dead node), so it gets 70 % of the lone ping's silence window
    // (700 ms by default), counted from the peer's Asterisk's last AMI answer: a dead node is
    // taken over about 700 ms after it died (the datagrams' 600 ms run alongside).
    let ping_window = u64::try_from(
        config
            .probes
            .timing(crate::probe::ProbeKind::Ping)
            .timeout
            .as_millis(),
    )
    .unwrap_or(1_000);
    // A failed verdict at `t` means silence since `t - window` at least.
    d.probe_deadline_ms = ping_window;
    d.urgent_probe_deadline_ms = ping_window * 7 / 10;
    d.hold_down_ms = section.hold_down_ms;
    d.preferred = section.preferred;
    d.failback_to = section.failback.then_some(section.preferred);
    d.witness = section.witness.is_some();
    d.standby = config.daemon.actuate.asterisk.mode;
    // Long enough for the probes to recover after a takeover booted Asterisk: the slowest
    // critical probe's interval times its successes needed, plus its deadline.
    d.takeover_vouches_ms = crate::probe::ProbeKind::ALL
        .iter()
        .map(|kind| config.probes.timing(*kind))
        .filter(|t| t.enabled && t.critical)
        .map(|t| t.interval * t.recover_after + t.timeout)
        .max()
        .map_or(d.takeover_vouches_ms, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
        });
    d
}

/// The local Asterisk's CPU pressure, as `cgroup` asks (`auto`: `asterisk.service` where
/// systemd would put it; without a systemd slice, none, said at info).
fn local_cpu_pressure(cgroup: &AsteriskCgroup) -> Option<CpuPressure> {
    match cgroup {
        AsteriskCgroup::Off => None,
        AsteriskCgroup::Path(dir) => Some(CpuPressure::at(dir)),
        AsteriskCgroup::Auto => {
            let found = CpuPressure::auto();
            if found.is_none() {
                tracing::info!(
                    "no systemd slice for asterisk.service: a local Asterisk starved of CPU is \
                     judged like a hung one (set [asterisk.<side>] cgroup to give its starvation \
                     back)"
                );
            }
            found
        }
    }
}
