//! `astha run`: the daemon that wires probes, peer link, decision core, actuators and the control socket together.
//!
//! One task owns the decision core and runs the event loop below; everything else (probe
//! monitors, the peer link's receive tasks, the actuator sequence, the control socket, metrics)
//! talks to it through channels. The loop feeds the core inputs with a monotonic `Millis`
//! timestamp and executes the commands it returns, in order.
//!
//! Stopping the daemon (SIGTERM/SIGINT) never releases an active role: restarting or upgrading
//! astha must not move the calls. SIGHUP re-reads the configuration; a broken file is rejected
//! with every problem logged, and the old configuration keeps running.

mod dialplan;
mod executor;
mod readiness;
mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::actuate::{Actuators, AsteriskService, Drbd, FloatingIp, RelayHandle, SequenceRunner};
use crate::config::{Config, ConfigError, TargetRole};
use crate::control::{ControlServer, IncomingRequest, Reply, RequestBody};
use crate::decide::term_store::TermStore;
use crate::decide::{Command, Core, DecideConfig, Input, Millis, OperatorCommand};
use crate::peer::udp::{LinkAddrs, UdpLinks};
use crate::peer::{PeerKey, PeerLink};
use crate::probe::target::TargetMonitor;
use crate::sd_notify::Notifier;

use executor::{ActuatorJob, ActuatorResult};
pub use report::ReportInputs;

/// Why the daemon could not start (or had to stop).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> DaemonError + '_ {
    move |e| DaemonError::Setup(format!("{what}: {e}"))
}

/// Monotonic milliseconds since the daemon started: the decision core's clock.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
}

impl Clock {
    fn now(&self) -> Millis {
        Millis(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn instant_at(&self, at: Millis) -> Instant {
        self.start + Duration::from_millis(at.0)
    }
}

pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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
    d.urgent_probe_deadline_ms = u64::try_from(
        config
            .probes
            .timing(crate::probe::ProbeKind::Ping)
            .timeout
            .as_millis(),
    )
    .unwrap_or(500);
    d.hold_down_ms = section.hold_down_ms;
    d.preferred = section.preferred;
    d.failback_to = section.failback.then_some(section.preferred);
    d.witness = section.witness.is_some();
    d
}

/// Opens every configured actuator. A missing device is an error at start, not at takeover time.
async fn open_actuators(
    config: &Config,
    local: &TargetMonitor,
) -> Result<
    (
        SequenceRunner,
        Option<RelayHandle>,
        Option<FloatingIp>,
        Option<Drbd>,
    ),
    DaemonError,
> {
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
    let actuators = Actuators {
        relay: relay.clone(),
        drbd: drbd.clone(),
        floating_ip: floating_ip.clone(),
        asterisk: Some(AsteriskService::new(act.asterisk.clone())),
        readiness: Some(Arc::new(readiness::LocalAsterisk::new(
            local.probes_arc(),
            act.asterisk.mode,
        ))),
    };
    let mut sequence = act.sequence.clone();
    if sequence.journal.is_none() {
        sequence.journal = Some(config.daemon.state.dir.join("takeovers.jsonl"));
    }
    let runner = SequenceRunner::new(config.node.side, actuators, sequence);
    Ok((runner, relay, floating_ip, drbd))
}

/// Options of `astha run` that are not in the configuration file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides `[control] socket`.
    pub control_socket: Option<PathBuf>,
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(config_path: &Path, options: RunOptions) -> Result<(), DaemonError> {
    let (config, warnings) = Config::load(config_path)?;
    for w in &warnings {
        tracing::warn!("{}: {w}", config_path.display());
    }
    let clock = Clock {
        start: Instant::now(),
    };
    let me = config.node.side;
    let notifier = Notifier::from_env();

    let state_dir = config.daemon.state.dir.clone();
    std::fs::create_dir_all(&state_dir)
        .map_err(setup(&format!("state directory {}", state_dir.display())))?;
    let terms = TermStore::new(state_dir.join("term"));
    let persisted = terms.load().map_err(setup("term file"))?;
    if persisted.missing {
        tracing::warn!(path = %terms.path().display(), "no term file: starting from term 0 (fresh install or lost state)");
    }

    // Peer link: refuse to start without a usable key (an unauthenticated link would let anyone
    // on the LAN move the PBX).
    let peer_cfg = config.daemon.peer_link.clone().ok_or_else(|| {
        DaemonError::Setup(
            "[peer_link] is missing: astha run needs the peer link (key_file and links)".into(),
        )
    })?;
    let key = PeerKey::load(&peer_cfg.key_file).map_err(setup("peer key"))?;
    let epoch = crate::peer::epoch::next_boot_epoch(&state_dir.join("epoch"), wall_ms())
        .map_err(setup("boot epoch file"))?;
    let mut codec = PeerLink::new(me, key, epoch);
    let addrs: Vec<LinkAddrs> = peer_cfg
        .links
        .iter()
        .map(|l| LinkAddrs {
            local: l.local,
            remote: l.remote,
        })
        .collect();
    let mut links = UdpLinks::bind(&addrs)
        .await
        .map_err(setup("peer link sockets"))?;
    let link_names: Vec<String> = peer_cfg.links.iter().map(|l| l.name.clone()).collect();

    // Probes of both Asterisk instances, over persistent AMI connections.
    let local = TargetMonitor::start("local", config.target(TargetRole::Local), &config.probes);
    let peer = TargetMonitor::start("peer", config.target(TargetRole::Peer), &config.probes);

    let (runner, relay, floating_ip, drbd) = open_actuators(&config, &local).await?;
    // Every node starts as standby (the decision core never resumes an active role by itself),
    // so whatever a previous run held is released first: a floating IP left configured here
    // while the peer takes over would be a duplicate address.
    let startup = runner
        .release("start-up: a starting node is standby", persisted.term)
        .await;
    if !startup.is_success() {
        tracing::error!(outcome = ?startup, "start-up release failed; continuing as standby");
    }
    let (jobs_tx, results_rx) = executor::spawn_actuator_task(runner);

    // Control socket and optional metrics.
    let socket_path = options
        .control_socket
        .clone()
        .unwrap_or_else(|| config.daemon.control.socket.clone());
    let control = ControlServer::bind(&socket_path, config.daemon.control.group.as_deref())
        .map_err(setup("control socket"))?;
    let (control_tx, control_rx) = mpsc::channel::<IncomingRequest>(16);
    tokio::spawn(control.serve(control_tx));
    let (metrics_tx, metrics_rx) = watch::channel(String::new());
    if let Some(addr) = config.daemon.metrics.listen {
        let listener = crate::metrics::bind(addr, config.daemon.metrics.allow_non_loopback)
            .await
            .map_err(setup("metrics listener"))?;
        let source = metrics_rx.clone();
        tokio::spawn(crate::metrics::serve(
            listener,
            Arc::new(move || source.borrow().clone()),
        ));
        tracing::info!(%addr, "metrics listener up");
    }

    let (dialplan_config, dialplan_config_rx) = watch::channel(config.daemon.dialplan.clone());
    let dialplan_rx = dialplan::spawn_watcher(local.probes_arc(), dialplan_config_rx);

    let core = Core::new(decide_config(&config), persisted, clock.now());
    tracing::info!(
        side = %me,
        name = %config.node.name,
        term = persisted.term,
        links = ?link_names,
        control = %socket_path.display(),
        "astha daemon starting as standby"
    );

    // Readiness: the local AMI login (bounded wait: a dead local Asterisk must not keep the
    // daemon from running, it is exactly what the daemon is there to handle) and the bound links.
    let _ = local.probes().wait_ready(Duration::from_secs(5)).await;
    notifier.ready(&format!("standby, term {}", persisted.term));

    let mut daemon = Daemon {
        clock,
        config,
        config_path: config_path.to_path_buf(),
        core,
        terms,
        local,
        peer,
        relay,
        floating_ip,
        drbd,
        jobs: jobs_tx,
        pending_operator: None,
        report: report::ReportState::new(link_names),
        metrics: metrics_tx,
        dialplan_config,
        notifier,
    };
    daemon
        .event_loop(&mut links, &mut codec, control_rx, results_rx, dialplan_rx)
        .await
}

struct Daemon {
    clock: Clock,
    config: Config,
    config_path: PathBuf,
    core: Core,
    terms: TermStore,
    local: TargetMonitor,
    peer: TargetMonitor,
    relay: Option<RelayHandle>,
    floating_ip: Option<FloatingIp>,
    drbd: Option<Drbd>,
    jobs: mpsc::Sender<ActuatorJob>,
    /// The operator request waiting for the core's `OperatorReply` (None for dialplan requests).
    pending_operator: Option<tokio::sync::oneshot::Sender<Reply>>,
    report: report::ReportState,
    metrics: watch::Sender<String>,
    /// What the dialplan watcher reads for every `HAFailover` event (updated on SIGHUP).
    dialplan_config: watch::Sender<crate::config::daemon::DialplanConfig>,
    notifier: Notifier,
}

/// How often the relay position is read back (when the device can) and the status refreshed.
const RELAY_READ_INTERVAL: Duration = Duration::from_secs(1);

impl Daemon {
    async fn event_loop(
        &mut self,
        links: &mut UdpLinks,
        codec: &mut PeerLink,
        mut control: mpsc::Receiver<IncomingRequest>,
        mut results: mpsc::Receiver<ActuatorResult>,
        mut dialplan: mpsc::Receiver<String>,
    ) -> Result<(), DaemonError> {
        let mut sigterm = signal(SignalKind::terminate()).map_err(setup("SIGTERM handler"))?;
        let mut sigint = signal(SignalKind::interrupt()).map_err(setup("SIGINT handler"))?;
        let mut sighup = signal(SignalKind::hangup()).map_err(setup("SIGHUP handler"))?;
        let mut local_status = self.local.handle().status();
        let mut peer_status = self.peer.handle().status();
        let (urgent_tx, mut urgent_rx) = mpsc::channel::<bool>(4);
        let mut relay_timer = tokio::time::interval(RELAY_READ_INTERVAL);
        relay_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (observe_tx, mut observe_rx) = mpsc::channel::<report::Observation>(4);
        let watchdog = Notifier::watchdog_interval();
        let mut watchdog_timer =
            tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));

        // Verdicts known before the loop starts.
        let initial = [
            Input::LocalVerdict(local_status.borrow_and_update().verdict),
            Input::PeerAsteriskVerdict(peer_status.borrow_and_update().verdict),
        ];
        for input in initial {
            self.feed(input, links, codec, &urgent_tx).await;
        }

        loop {
            let next_tick = self.clock.instant_at(self.core.next_tick_at());
            tokio::select! {
                _ = tokio::time::sleep_until(next_tick.into()) => {
                    let commands = self.core.tick(self.clock.now());
                    self.execute(commands, links, codec, &urgent_tx).await;
                }
                received = links.recv(codec, self.clock.start) => {
                    let Some(r) = received else {
                        return Err(DaemonError::Setup("every peer link receive task ended".into()));
                    };
                    self.feed(Input::PeerMessage { link: r.link, state: r.state, newest: r.newest }, links, codec, &urgent_tx).await;
                }
                Ok(()) = local_status.changed() => {
                    let verdict = local_status.borrow_and_update().verdict;
                    self.feed(Input::LocalVerdict(verdict), links, codec, &urgent_tx).await;
                }
                Ok(()) = peer_status.changed() => {
                    let verdict = peer_status.borrow_and_update().verdict;
                    self.feed(Input::PeerAsteriskVerdict(verdict), links, codec, &urgent_tx).await;
                }
                Some(ok) = urgent_rx.recv() => {
                    self.feed(Input::UrgentProbeResult { ok }, links, codec, &urgent_tx).await;
                }
                Some(result) = results.recv() => {
                    let input = self.report.record_outcome(&result);
                    self.feed(input, links, codec, &urgent_tx).await;
                }
                Some(request) = control.recv() => {
                    self.control(request, links, codec, &urgent_tx).await;
                }
                Some(caller) = dialplan.recv() => {
                    tracing::warn!(%caller, "failover requested from the dialplan (HAFailover UserEvent)");
                    let command = OperatorCommand::Failover { force: false, reason: format!("dialplan *999 by caller {caller}") };
                    self.operator(command, None, links, codec, &urgent_tx).await;
                }
                _ = relay_timer.tick() => {
                    self.refresh_observations(&observe_tx);
                }
                Some(observation) = observe_rx.recv() => {
                    if let Some(position) = self.report.observe(observation) {
                        self.feed(Input::RelayPosition(position), links, codec, &urgent_tx).await;
                    }
                }
                _ = watchdog_timer.tick(), if watchdog.is_some() => self.notifier.watchdog(),
                _ = sighup.recv() => self.reload(),
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
            }
            self.publish_metrics(links, codec);
        }
        self.notifier.stopping();
        tracing::info!(role = %self.core.status().role, "astha daemon stopping; the role is kept (no release on exit)");
        Ok(())
    }

    /// Feeds one input to the core and executes what it decides.
    async fn feed(
        &mut self,
        input: Input,
        links: &UdpLinks,
        codec: &mut PeerLink,
        urgent: &mpsc::Sender<bool>,
    ) {
        let commands = self.core.handle(self.clock.now(), input);
        self.execute(commands, links, codec, urgent).await;
    }

    /// Executes a batch of commands in order; a term that cannot be persisted stops the batch.
    async fn execute(
        &mut self,
        commands: Vec<Command>,
        links: &UdpLinks,
        codec: &mut PeerLink,
        urgent: &mpsc::Sender<bool>,
    ) {
        let mut queue = std::collections::VecDeque::from(commands);
        while let Some(command) = queue.pop_front() {
            match command {
                Command::PersistTerm(term) => {
                    if let Err(e) = self.terms.store(term) {
                        tracing::error!(term, error = %e, "cannot persist the term: refusing to act on it");
                        let more = self.core.handle(
                            self.clock.now(),
                            Input::TakeoverFailed {
                                error: format!("term not persisted: {e}"),
                            },
                        );
                        queue = more.into();
                    }
                }
                Command::StartTakeover { term, reason } => {
                    self.report.takeover_started(term, &reason.to_string());
                    let _ = self
                        .jobs
                        .send(ActuatorJob::Takeover {
                            term,
                            reason: reason.to_string(),
                        })
                        .await;
                }
                Command::StartRelease { reason } => {
                    let term = self.core.status().term;
                    let _ = self
                        .jobs
                        .send(ActuatorJob::Release {
                            term,
                            reason: reason.to_string(),
                        })
                        .await;
                }
                Command::SendPeer(state) => {
                    for (i, result) in links
                        .send_all(codec, &state, wall_ms())
                        .await
                        .into_iter()
                        .enumerate()
                    {
                        if let Err(e) = result {
                            tracing::debug!(link = i, error = %e, "peer datagram not sent");
                        }
                    }
                }
                Command::ProbePeerNow { deadline_ms } => {
                    let backend = self.peer.probes_arc();
                    let urgent = urgent.clone();
                    tokio::spawn(async move {
                        let run = backend.ami().run(crate::probe::ProbeKind::Ping);
                        let ok = matches!(
                            tokio::time::timeout(Duration::from_millis(deadline_ms), run).await,
                            Ok(Ok(()))
                        );
                        let _ = urgent.send(ok).await;
                    });
                }
                Command::Alert { severity, message } => {
                    tracing::error!(?severity, "ALERT: {message}");
                    self.report.alert(message);
                }
                Command::Decision(record) => {
                    tracing::warn!(
                        kind = ?record.kind,
                        term = record.term,
                        reason = %record.reason,
                        inputs = ?record.inputs,
                        "decision"
                    );
                    self.report.last_decision = Some(format!(
                        "{:?} (term {}): {}",
                        record.kind, record.term, record.reason
                    ));
                }
                Command::OperatorReply(result) => {
                    let reply = match result {
                        Ok(message) => Reply::ok(message),
                        Err(reason) => Reply::error(reason),
                    };
                    match self.pending_operator.take() {
                        Some(waiting) => {
                            let _ = waiting.send(reply);
                        }
                        None => {
                            tracing::warn!(ok = reply.ok, message = ?reply.message, error = ?reply.error, "operator request answered")
                        }
                    }
                }
            }
        }
    }

    async fn control(
        &mut self,
        incoming: IncomingRequest,
        links: &UdpLinks,
        codec: &mut PeerLink,
        urgent: &mpsc::Sender<bool>,
    ) {
        match incoming.request.body {
            RequestBody::Status => {
                let report = self.status_report(links, codec);
                let _ = incoming.reply.send(Reply::status(report));
            }
            RequestBody::Failover { force, reason } => {
                let reason = reason.unwrap_or_else(|| "operator request (astha failover)".into());
                tracing::warn!(force, %reason, "failover requested from the CLI");
                self.operator(
                    OperatorCommand::Failover { force, reason },
                    Some(incoming.reply),
                    links,
                    codec,
                    urgent,
                )
                .await;
            }
            RequestBody::Maintenance { on } => {
                tracing::warn!(on, "maintenance mode requested from the CLI");
                self.operator(
                    OperatorCommand::Maintenance { on },
                    Some(incoming.reply),
                    links,
                    codec,
                    urgent,
                )
                .await;
            }
            RequestBody::ProbeNow { target } => {
                let monitor = match target.as_str() {
                    "local" => &self.local,
                    "peer" => &self.peer,
                    other => {
                        let _ = incoming.reply.send(Reply::error(format!(
                            "unknown target `{other}`: expected `local` or `peer`"
                        )));
                        return;
                    }
                };
                let probes = monitor.probes_arc();
                let settings = self.config.probes.clone();
                tokio::spawn(async move {
                    let kinds = probes.enabled().to_vec();
                    let report =
                        crate::probe::oneshot::run_once(probes.as_ref(), &settings, &kinds).await;
                    let _ = incoming.reply.send(Reply::ok(report.table()));
                });
            }
        }
    }

    /// Hands an operator command to the core; its `OperatorReply` answers `reply`.
    async fn operator(
        &mut self,
        command: OperatorCommand,
        reply: Option<tokio::sync::oneshot::Sender<Reply>>,
        links: &UdpLinks,
        codec: &mut PeerLink,
        urgent: &mpsc::Sender<bool>,
    ) {
        self.pending_operator = reply;
        self.feed(Input::Operator(command), links, codec, urgent)
            .await;
        // A command the core took without a word must not leave the CLI waiting.
        if let Some(waiting) = self.pending_operator.take() {
            let _ = waiting.send(Reply::ok("accepted"));
        }
    }

    /// Starts background reads of the relay, the floating IP and DRBD; results come back on `tx`.
    fn refresh_observations(&self, tx: &mpsc::Sender<report::Observation>) {
        let relay = self.relay.clone();
        let ip = self.floating_ip.clone();
        let drbd = self.drbd.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = tx
                .send(report::Observation::Relay(
                    report::RelayReading::read(relay.as_ref()).await,
                ))
                .await;
            if let Some(ip) = ip {
                if let Ok(held) = ip.is_present().await {
                    let _ = tx.send(report::Observation::FloatingIp { held }).await;
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
                let _ = tx.send(report::Observation::Drbd { role, mounted }).await;
            }
        });
    }

    fn status_report(&mut self, links: &UdpLinks, codec: &PeerLink) -> crate::status::StatusReport {
        self.report.build(ReportInputs {
            config: &self.config,
            core: self.core.status(),
            local: &self.local.handle().status().borrow(),
            peer: &self.peer.handle().status().borrow(),
            local_ami: self.local.probes().ami().client().state().borrow().clone(),
            peer_ami: self.peer.probes().ami().client().state().borrow().clone(),
            links_alive: links.alive(
                Instant::now(),
                Duration::from_millis(self.core_dead_after()),
            ),
            counters: codec.counters(),
            floating_ip: self.floating_ip.as_ref().map(|ip| ip.config().clone()),
            drbd: self.drbd.as_ref().map(|d| d.config().clone()),
            uptime: self.clock.start.elapsed(),
        })
    }

    fn core_dead_after(&self) -> u64 {
        self.config
            .daemon
            .peer_link
            .as_ref()
            .map(|p| p.dead_after_ms)
            .unwrap_or(600)
    }

    fn publish_metrics(&mut self, links: &UdpLinks, codec: &PeerLink) {
        if self.config.daemon.metrics.listen.is_none() {
            return;
        }
        let report = self.status_report(links, codec);
        let _ = self
            .metrics
            .send(crate::metrics::render(&report, &self.report.totals()));
    }

    /// SIGHUP: re-read the file; apply what can change at run time, keep the old config on error.
    fn reload(&mut self) {
        self.notifier.reloading();
        match Config::load(&self.config_path) {
            Err(e) => {
                tracing::error!(
                    "configuration reload rejected, keeping the running configuration:\n{e}"
                );
            }
            Ok((new, warnings)) => {
                for w in &warnings {
                    tracing::warn!("{}: {w}", self.config_path.display());
                }
                if new.node.side != self.config.node.side {
                    tracing::error!("configuration reload rejected: node.side cannot change while running (restart astha)");
                } else {
                    tracing::info!(
                        "configuration reloaded; [dialplan] and the node names apply now, probe, peer-link, actuator, control and metrics changes at the next restart"
                    );
                    self.config.daemon.dialplan = new.daemon.dialplan.clone();
                    let _ = self.dialplan_config.send(new.daemon.dialplan.clone());
                    self.config.node.name = new.node.name.clone();
                    self.config.peer.name = new.peer.name.clone();
                }
            }
        }
        self.notifier.ready("running");
    }
}
