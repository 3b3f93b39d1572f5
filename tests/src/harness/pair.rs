//! A running pair: topology, relay, two emulated Asterisks, two astha daemons, the client and the sampler, with fault injection and timing.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::binaries::Binaries;
use super::calls::{CallClient, CallLoad};
use super::client::{now_unix, ClientOutage, ClientProbe};
use super::config::{self, AsteriskSetup, NodeSettings, Standby, AMI_SECRET, AMI_USER, RELAY_PORT};
use super::control::{astha_request, astha_status, NodeView};
use super::fault::{AsteriskKind, Fault};
use super::netns::{Cable, Host, Topology, RELAY};
use super::pbx::{ServerAsterisk, PIN};
use super::process::{Proc, Stdio2};
use super::registrar::Registrar;
use super::sampler::{Sample, Sampler};
use super::unit_scheduling::UnitScheduling;
use super::{poll, require_root, HarnessError, Side};
use crate::asterisk::group_stop::GroupStop;
use crate::asterisk::{Install, AMI_USER as SHIPPED_AMI_USER};

/// How long start-up steps may take on a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);
/// astha's default `[decide] hold_down_ms`.
pub const DEFAULT_HOLD_DOWN_MS: u64 = 10_000;

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

/// What to build.
#[derive(Debug, Clone)]
pub struct PairOptions {
    pub settings: [NodeSettings; 2],
    /// Start the client probe (SIP OPTIONS + ping to the floating IP).
    pub client: bool,
    /// Start the astha daemons (off: topology, relay and Asterisks only).
    pub daemons: bool,
    /// The emulator, or a real Asterisk from this install.
    pub asterisk: PairAsterisk,
    /// Warm standby (both Asterisks run) or cold (only A's runs at start; astha starts the
    /// other one's on takeover through the scripts of [`ServerAsterisk::commands`]).
    pub standby: Standby,
    /// Place SIP calls through the floating IP with sipp (real Asterisk only).
    pub calls: bool,
    /// How many calls, when `calls` is on.
    pub call_load: CallLoad,
    /// A carrier's registrar (sipp in the client namespace) and, on both real Asterisks, the
    /// shipped example trunk registering with it.
    pub trunk: bool,
}

/// Which Asterisk the pair runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PairAsterisk {
    #[default]
    Emulated,
    Real(Install),
}

impl PairAsterisk {
    pub fn kind(&self) -> AsteriskKind {
        match self {
            PairAsterisk::Emulated => AsteriskKind::Emulated,
            PairAsterisk::Real(_) => AsteriskKind::Real,
        }
    }
}

impl Default for PairOptions {
    fn default() -> Self {
        PairOptions {
            settings: Default::default(),
            client: true,
            daemons: true,
            asterisk: PairAsterisk::Emulated,
            standby: Standby::Warm,
            calls: false,
            call_load: CallLoad::default(),
            trunk: false,
        }
    }
}

/// The berofos simulator's state (see `relay-sim`'s `state` command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayState {
    pub side: Option<Side>,
    /// `wdogstate`: "0" off, "1" running, "2" expired.
    pub watchdog: String,
    /// HTTP requests that set the relay position (`cmd=4`).
    pub mode_commands: u64,
    /// Watchdog kicks the device accepted.
    pub kicks: u64,
    /// Times the watchdog expired and moved the relays by itself.
    pub expiries: u64,
}

/// Timings of one takeover, in seconds after the fault was injected.
#[derive(Debug, Clone, PartialEq)]
pub struct Takeover {
    pub new_active: Side,
    /// The new active started taking over (its own record).
    pub detection_s: f64,
    /// The new active finished taking over (its own record).
    pub takeover_s: f64,
    /// What the client saw: longest gap without SIP answers and without ping replies.
    pub outage: ClientOutage,
    pub reason: String,
    /// How long the new active's step starting Asterisk took (cold standby: its boot).
    pub asterisk_start_s: Option<f64>,
}

/// The per-pair directory of configs, sockets, state and logs.
#[derive(Debug)]
struct RunDir(PathBuf, bool);

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.1 || std::thread::panicking() || std::env::var_os("ASTHA_HARNESS_KEEP").is_some() {
            eprintln!("harness: logs and configs kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The running pair. Dropping it kills every process and deletes every namespace.
#[derive(Debug)]
pub struct Pair {
    // Field order is drop order: measuring threads, then processes, then the network.
    sampler: Option<Sampler>,
    client: Option<ClientProbe>,
    calls: Option<CallClient>,
    registrar: Option<Registrar>,
    daemons: [Option<Proc>; 2],
    asterisks: [Option<ServerAsterisk>; 2],
    relay: Option<Proc>,
    asterisk_kind: PairAsterisk,
    standby: Standby,
    isolated: Arc<[AtomicBool; 2]>,
    hold_down: [Duration; 2],
    /// How the daemons are scheduled (the shipped unit's settings).
    scheduling: UnitScheduling,
    topo: Topology,
    dir: RunDir,
    bins: Binaries,
    /// Held while this pair runs real Asterisks (see [`RealPairSlot`]); released last.
    _real_pair_slot: Option<RealPairSlot>,
}

/// How long after its cables are plugged back a cut-off server may still claim the calls.
pub const HEAL_GRACE: Duration = Duration::from_millis(1_000);

impl Pair {
    /// Builds and starts everything `options` asks for; waits until each part answers.
    pub fn start(options: PairOptions) -> Result<Pair, HarnessError> {
        require_root()?;
        let bins = Binaries::locate()?;
        let real_pair_slot = match options.asterisk {
            PairAsterisk::Real(_) => Some(RealPairSlot::wait()?),
            PairAsterisk::Emulated => None,
        };
        let dir = std::env::temp_dir().join(format!(
            "astha-harness-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|source| HarnessError::Io {
            what: format!("create {}", dir.display()),
            source,
        })?;
        let dir = RunDir(dir, false);
        let secret = match options.asterisk {
            PairAsterisk::Emulated => AMI_SECRET.to_owned(),
            // A real Asterisk gets a secret of its own, as an admin would choose one.
            PairAsterisk::Real(_) => random_secret()?,
        };
        write_private(&dir.0.join("ami.secret"), format!("{secret}\n").as_bytes())?;
        write_private(&dir.0.join("peer.key"), &random_key()?)?;
        let topo = Topology::create()?;
        let mut pair = Pair {
            sampler: None,
            client: None,
            calls: None,
            registrar: None,
            daemons: [None, None],
            asterisks: [None, None],
            relay: None,
            asterisk_kind: options.asterisk.clone(),
            standby: options.standby,
            isolated: Arc::new([AtomicBool::new(false), AtomicBool::new(false)]),
            hold_down: options
                .settings
                .clone()
                .map(|s| Duration::from_millis(s.hold_down_ms.unwrap_or(DEFAULT_HOLD_DOWN_MS))),
            scheduling: UnitScheduling::shipped()?,
            topo,
            dir,
            bins,
            _real_pair_slot: real_pair_slot,
        };
        if let Err(e) = pair.bring_up(&options) {
            // Keep the logs of a pair that did not come up.
            pair.dir.1 = true;
            return Err(e);
        }
        Ok(pair)
    }

    fn bring_up(&mut self, options: &PairOptions) -> Result<(), HarnessError> {
        let pair = self;
        pair.start_relay()?;
        if options.trunk {
            if pair.asterisk_kind.kind() != AsteriskKind::Real {
                return Err(HarnessError::Protocol {
                    what: "PairOptions".into(),
                    detail: "a registering trunk needs a real Asterisk".into(),
                });
            }
            pair.registrar = Some(Registrar::start(
                &pair.topo.name(Host::Client),
                &pair.dir.0,
            )?);
        }
        pair.start_asterisks()?;
        for side in [Side::A, Side::B] {
            let setup = AsteriskSetup {
                ami_user: match pair.asterisk_kind {
                    PairAsterisk::Emulated => AMI_USER.to_owned(),
                    PairAsterisk::Real(_) => SHIPPED_AMI_USER.to_owned(),
                },
                standby: pair.standby,
                commands: pair.server_asterisk(side)?.commands(),
                registrar: pair.asterisk_kind.kind() == AsteriskKind::Real,
                cgroup: pair.server_asterisk(side)?.cgroup().map(Path::to_owned),
            };
            let text = config::render(side, &pair.dir.0, &options.settings[side.index()], &setup);
            let path = pair.config_path(side);
            std::fs::write(&path, text).map_err(|source| HarnessError::Io {
                what: format!("write {}", path.display()),
                source,
            })?;
        }
        if options.daemons {
            for side in [Side::A, Side::B] {
                pair.spawn_daemon(side)?;
            }
            for side in [Side::A, Side::B] {
                pair.wait_daemon_up(side)?;
            }
            pair.sampler = Some(Sampler::start(
                [pair.topo.path(Host::A), pair.topo.path(Host::B)],
                [pair.control_socket(Side::A), pair.control_socket(Side::B)],
                Arc::clone(&pair.isolated),
            )?);
        }
        if options.client {
            pair.client = Some(ClientProbe::start(
                &pair.topo.name(Host::Client),
                &pair.topo.path(Host::Client),
                &pair.dir.0,
            )?);
        }
        if options.calls {
            if pair.asterisk_kind.kind() != AsteriskKind::Real {
                return Err(HarnessError::Protocol {
                    what: "PairOptions".into(),
                    detail: "SIP calls need a real Asterisk (the emulator answers no INVITE)"
                        .into(),
                });
            }
            pair.calls = Some(CallClient::start(
                &pair.topo.name(Host::Client),
                &pair.dir.0,
                options.call_load,
            )?);
        }
        Ok(())
    }

    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    pub fn binaries(&self) -> &Binaries {
        &self.bins
    }

    /// Where configs, sockets, state and logs of this pair live.
    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    pub fn config_path(&self, side: Side) -> PathBuf {
        self.dir.0.join(format!("astha-{}.toml", side.letter()))
    }

    pub fn control_socket(&self, side: Side) -> PathBuf {
        self.dir.0.join(format!("control-{}.sock", side.letter()))
    }

    pub fn client(&self) -> Option<&ClientProbe> {
        self.client.as_ref()
    }

    fn start_relay(&mut self) -> Result<(), HarnessError> {
        let args = [
            "berofos".to_owned(),
            "--http".to_owned(),
            format!("{RELAY}:{RELAY_PORT}"),
            "--stdin-control".to_owned(),
        ];
        let mut relay = Proc::spawn(
            "relay-sim",
            Some(&self.topo.name(Host::Switch)),
            &self.bins.relay_sim,
            &args,
            &self.dir.0,
            Stdio2::Pipe,
        )?;
        let first = relay.read_line(START_TIMEOUT)?;
        if !first.starts_with("http://") {
            return Err(HarnessError::Protocol {
                what: "relay-sim".into(),
                detail: format!("unexpected first line {first:?}"),
            });
        }
        self.relay = Some(relay);
        Ok(())
    }

    /// Sends a control line to the relay simulator (`behaviour normal|silent|garbage`, `state`).
    pub fn relay_command(&mut self, line: &str) -> Result<String, HarnessError> {
        let relay = self.relay.as_mut().ok_or_else(|| HarnessError::Protocol {
            what: "relay-sim".into(),
            detail: "not running".into(),
        })?;
        let reply = relay.request(line, Duration::from_secs(3))?;
        if reply.starts_with("ok") {
            Ok(reply)
        } else {
            Err(HarnessError::Refused {
                what: line.to_owned(),
                reply,
            })
        }
    }

    /// The side the relay's circuits are switched to, as the simulator holds it.
    pub fn relay_side(&mut self) -> Result<Option<Side>, HarnessError> {
        Ok(self.relay_state()?.side)
    }

    /// What the berofos simulator holds: position, watchdog and request counts.
    pub fn relay_state(&mut self) -> Result<RelayState, HarnessError> {
        let reply = self.relay_command("state")?;
        let field = |name: &str| {
            reply
                .split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or("")
                .to_owned()
        };
        let count = |name: &str| field(name).parse().unwrap_or(0);
        Ok(RelayState {
            // berofos: mode 1 = A--B = side A (astha's default side_a_mode).
            side: match field("mode").as_str() {
                "1" => Some(Side::A),
                "0" => Some(Side::B),
                _ => None,
            },
            watchdog: field("wdog"),
            mode_commands: count("cmd4"),
            kicks: count("kicks"),
            expiries: count("expiries"),
        })
    }

    /// Starts both servers' Asterisks: both in warm standby, A's alone in cold standby.
    fn start_asterisks(&mut self) -> Result<(), HarnessError> {
        for side in [Side::A, Side::B] {
            let server = match &self.asterisk_kind {
                PairAsterisk::Emulated => {
                    ServerAsterisk::emulated(side, &self.bins, &self.topo, &self.dir.0)?
                }
                PairAsterisk::Real(install) => {
                    let secret = std::fs::read_to_string(self.dir.0.join("ami.secret")).map_err(
                        |source| HarnessError::Io {
                            what: "read ami.secret".into(),
                            source,
                        },
                    )?;
                    let registrar = self.registrar.as_ref().map(|_| Registrar::address());
                    ServerAsterisk::real(
                        side,
                        install,
                        &self.topo,
                        &self.dir.0,
                        secret.trim(),
                        registrar,
                    )?
                }
            };
            self.asterisks[side.index()] = Some(server);
        }
        for side in [Side::A, Side::B] {
            let server = self.server_asterisk(side)?;
            let runs = side == Side::A || self.standby == Standby::Warm;
            match (server.kind(), runs) {
                (AsteriskKind::Real, true) => server.start()?,
                (AsteriskKind::Emulated, false) => server.stop()?,
                _ => {}
            }
        }
        Ok(())
    }

    /// A server's Asterisk.
    pub fn server_asterisk(&self, side: Side) -> Result<&ServerAsterisk, HarnessError> {
        self.asterisks[side.index()]
            .as_ref()
            .ok_or_else(|| HarnessError::Protocol {
                what: format!("asterisk {}", side.letter()),
                detail: "not set up".into(),
            })
    }

    /// Which Asterisk the servers run.
    pub fn asterisk_kind(&self) -> AsteriskKind {
        self.asterisk_kind.kind()
    }

    pub fn standby(&self) -> Standby {
        self.standby
    }

    /// Sends a control command to a server's emulated Asterisk.
    pub fn asterisk(&self, side: Side, command: &str) -> Result<String, HarnessError> {
        self.server_asterisk(side)?.emulator(command)
    }

    /// A phone on `side` dials `*999`, enters the failover PIN and confirms with `1` once told
    /// how many calls the switch drops (see [`Pair::dial_failover_answering`]).
    pub fn dial_failover(&self, side: Side) -> Result<(), HarnessError> {
        self.dial_failover_answering(side, '1')
    }

    /// A phone on `side` dials `*999`, enters the failover PIN and answers the confirmation
    /// with `digit` (`1` confirms): with a real Asterisk a Local channel into the shipped
    /// `[ha-admin]`, whose other half sends the digits as DTMF; the emulator, which carries no
    /// DTMF, emits the resulting UserEvent directly.
    pub fn dial_failover_answering(&self, side: Side, digit: char) -> Result<(), HarnessError> {
        let server = self.server_asterisk(side)?;
        match server.kind() {
            // `w` waits 0.5 s: the PIN goes out once Authenticate listens; the answer 5 s after
            // it, once the dialplan has said the count (it waits 20 times 0.1 s for astha's
            // answer) and listens (`Read`: twice its prompt and 5 s). Digits sent while it
            // speaks before that are lost, and on a busy machine its waits and prompts take
            // longer: the answer is sent again 3 s and 6 s later. Once one is read, the rest
            // reach a channel that no longer listens.
            AsteriskKind::Real => server
                .cli(&format!(
                    "channel originate Local/*999@ha-admin application SendDTMF wwww{PIN}#wwwwwwwwww{digit}wwwwww{digit}wwwwww{digit}"
                ))
                .map(|_| ()),
            AsteriskKind::Emulated if digit == '1' => server
                .emulator("userevent HAFailover Reason=manual")
                .map(|_| ()),
            AsteriskKind::Emulated => server
                .emulator("userevent HAFailoverCancelled Calls=unknown")
                .map(|_| ()),
        }
    }

    /// The carrier's registrar, if the pair has the trunk.
    pub fn registrar(&self) -> Option<&Registrar> {
        self.registrar.as_ref()
    }

    /// The SIP calls placed through the floating IP, if started.
    /// Starts `count` phones in the client namespace (real Asterisk only), not registered yet.
    pub fn start_phones(&self, count: u32) -> Result<super::Phones, HarnessError> {
        if self.asterisk_kind.kind() != AsteriskKind::Real {
            return Err(HarnessError::Protocol {
                what: "phones".into(),
                detail: "phones need a real Asterisk (the emulator has no registrar)".into(),
            });
        }
        super::Phones::start(&self.topo.name(Host::Client), &self.dir.0, count)
    }

    /// Logs in to `side`'s AMI to call the phones from its Asterisk (real Asterisk only).
    pub fn phone_caller(&self, side: Side) -> Result<super::PhoneCaller, HarnessError> {
        let secret = std::fs::read_to_string(self.dir.0.join("ami.secret")).map_err(|source| {
            HarnessError::Io {
                what: "read the AMI secret".into(),
                source,
            }
        })?;
        let lan = match side {
            Side::A => super::netns::LAN_A,
            Side::B => super::netns::LAN_B,
        };
        super::PhoneCaller::connect(
            &self.topo.path(side.host()),
            std::net::SocketAddr::from((lan, 5038)),
            secret.trim(),
        )
    }

    pub fn calls(&self) -> Option<&CallClient> {
        self.calls.as_ref()
    }

    fn spawn_daemon(&mut self, side: Side) -> Result<(), HarnessError> {
        let _ = std::fs::remove_file(self.control_socket(side));
        // Debug shows every failed probe run, not just verdict changes: a failure report then
        // says why a verdict stayed where it was.
        let args = [
            "--log-level".to_owned(),
            "debug".to_owned(),
            "run".to_owned(),
            "--config".to_owned(),
            self.config_path(side).display().to_string(),
        ];
        let proc = Proc::spawn(
            &format!("astha-{}", side.letter()),
            Some(&self.topo.name(side.host())),
            &self.bins.astha,
            &args,
            &self.dir.0,
            Stdio2::Log,
        )?;
        // Scheduled as the shipped unit schedules it (`ip netns exec` executes astha in place,
        // so the pid is astha's).
        self.scheduling.apply(proc.pid())?;
        self.daemons[side.index()] = Some(proc);
        Ok(())
    }

    fn wait_daemon_up(&mut self, side: Side) -> Result<(), HarnessError> {
        let socket = self.control_socket(side);
        let mut exited = false;
        let result = poll(
            &format!("astha {} to answer on {}", side.letter(), socket.display()),
            START_TIMEOUT,
            POLL,
            || {
                if let Some(p) = self.daemons[side.index()].as_mut() {
                    if p.has_exited() {
                        exited = true;
                        return Some(());
                    }
                }
                astha_status(&socket).ok().map(|_| ())
            },
        );
        if exited {
            let name = format!("astha-{}", side.letter());
            return Err(HarnessError::Exited {
                log: self.dir.0.join(format!("{name}.log")),
                tail: self.log_tail(&name, 20),
                name,
            });
        }
        result
    }

    /// Starts (or restarts) a server's daemon and waits until it answers.
    pub fn start_daemon(&mut self, side: Side) -> Result<(), HarnessError> {
        if let Some(mut old) = self.daemons[side.index()].take() {
            old.kill();
        }
        self.spawn_daemon(side)?;
        self.wait_daemon_up(side)
    }

    /// Restarts a server's daemon as a service manager does (`systemctl restart`, a package
    /// upgrade): SIGTERM, wait for its exit, start it again and wait until it answers.
    pub fn restart_daemon(&mut self, side: Side) -> Result<(), HarnessError> {
        if let Some(mut old) = self.daemons[side.index()].take() {
            old.stop(START_TIMEOUT);
        }
        self.spawn_daemon(side)?;
        self.wait_daemon_up(side)
    }

    /// Daemons started from now on run `binary` (an upgrade replaces the installed one).
    pub fn set_astha_binary(&mut self, binary: PathBuf) {
        self.bins.astha = binary;
    }

    /// Starts both daemons at the same instant (both restart at once).
    pub fn start_both_daemons(&mut self) -> Result<(), HarnessError> {
        for side in [Side::A, Side::B] {
            if let Some(mut old) = self.daemons[side.index()].take() {
                old.kill();
            }
        }
        for side in [Side::A, Side::B] {
            self.spawn_daemon(side)?;
        }
        for side in [Side::A, Side::B] {
            self.wait_daemon_up(side)?;
        }
        Ok(())
    }

    /// Kills a server's daemon (SIGKILL: no clean release).
    pub fn kill_daemon(&mut self, side: Side) {
        if let Some(mut p) = self.daemons[side.index()].take() {
            p.kill();
        }
    }

    /// The daemon's status over its control socket.
    pub fn status(&self, side: Side) -> Result<NodeView, HarnessError> {
        astha_status(&self.control_socket(side))
    }

    /// One raw control request (e.g. `{"v":1,"cmd":"failover"}`).
    pub fn control(&self, side: Side, request: &str) -> Result<serde_json::Value, HarnessError> {
        astha_request(&self.control_socket(side), request)
    }

    /// Runs the CLI (`astha ARGS --config F`) inside a server's namespace, as an admin would.
    pub fn cli(&self, side: Side, args: &[&str]) -> Result<String, HarnessError> {
        let config = self.config_path(side).display().to_string();
        let mut all = vec!["netns", "exec"];
        let ns = self.topo.name(side.host());
        let astha = self.bins.astha.display().to_string();
        all.push(&ns);
        all.push(&astha);
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", &config]);
        super::netns::output("ip", &all)
    }

    /// Waits until exactly one daemon is active and the other standby; returns the active side.
    pub fn wait_single_active(&self, timeout: Duration) -> Result<Side, HarnessError> {
        poll("exactly one active node", timeout, POLL, || {
            let a = self.status(Side::A).ok()?;
            let b = self.status(Side::B).ok()?;
            match (a.role.as_str(), b.role.as_str()) {
                ("active", "standby") => Some(Side::A),
                ("standby", "active") => Some(Side::B),
                _ => None,
            }
        })
    }

    /// Waits until exactly one node is active, its hold-down since becoming active has run
    /// out (a fresh switch holds further automatic switches back) and the client is
    /// answered: the steady state a fault is injected into.
    pub fn wait_steady(&self, timeout: Duration) -> Result<Side, HarnessError> {
        let active = self.wait_single_active(timeout)?;
        let hold = self.hold_down[0].max(self.hold_down[1]).as_secs_f64();
        poll(
            "the hold-down after the last switch",
            timeout + self.hold_down[0],
            POLL,
            || {
                let view = self.status(active).ok()?;
                let since = view
                    .last_takeover
                    .map_or(0.0, |t| (t.started_unix_ms as f64 + t.total_ms) / 1000.0);
                (now_unix() > since + hold + 0.2).then_some(())
            },
        )?;
        if self.client.is_some() {
            self.wait_client_answered(now_unix(), timeout)?;
        }
        Ok(active)
    }

    /// Waits until the client gets SIP answers from the floating IP again.
    pub fn wait_client_answered(&self, after: f64, timeout: Duration) -> Result<f64, HarnessError> {
        let client = self.client.as_ref().ok_or_else(|| HarnessError::Protocol {
            what: "client".into(),
            detail: "not started".into(),
        })?;
        poll("a SIP answer at the client", timeout, POLL, || {
            client.last_sip_answer().filter(|t| *t > after)
        })
    }

    /// Injects `fault` into `side`; returns the Unix time it took effect.
    pub fn inject(&self, side: Side, fault: Fault) -> Result<f64, HarnessError> {
        let at = now_unix();
        match fault {
            Fault::NetworkLoss => self.isolate(side)?,
            _ => self.server_asterisk(side)?.inject(fault)?,
        }
        Ok(at)
    }

    /// Hangs `side`'s Asterisk ([`Fault::AsteriskHang`]), timed: when the signal was sent and
    /// when every thread had stopped (on a saturated host these differ).
    pub fn hang(&self, side: Side) -> Result<GroupStop, HarnessError> {
        self.server_asterisk(side)?.hang()
    }

    /// Undoes `fault` (the Asterisk whole again, or the cables plugged back).
    pub fn heal(&self, side: Side, fault: Fault) -> Result<(), HarnessError> {
        match fault {
            Fault::NetworkLoss => self.rejoin(side),
            _ => self.server_asterisk(side)?.heal(fault),
        }
    }

    /// Pins a server's Asterisk and daemon, every thread and the threads they start later, to
    /// `cpus` (`taskset -a -p -c`): two servers sharing one machine then each get a host's CPUs,
    /// and a load pinned to one server's CPUs loads that server only. An Asterisk started
    /// again afterwards (a crash healed) runs unpinned until pinned again.
    pub fn pin(&self, side: Side, cpus: &str) -> Result<(), HarnessError> {
        let daemon = self.daemon_pid(side);
        let asterisk = self.server_asterisk(side)?.pid();
        for pid in daemon.into_iter().chain(asterisk) {
            super::netns::run("taskset", &["-a", "-p", "-c", cpus, &pid.to_string()])?;
        }
        Ok(())
    }

    /// The process id of `side`'s daemon, while it runs.
    pub fn daemon_pid(&self, side: Side) -> Option<u32> {
        self.daemons[side.index()].as_ref().map(Proc::pid)
    }

    /// Pulls both of a server's cables.
    pub fn isolate(&self, side: Side) -> Result<(), HarnessError> {
        self.isolated[side.index()].store(true, Ordering::SeqCst);
        self.topo.set_cable(side.host(), Cable::Lan, false)?;
        self.topo.set_cable(side.host(), Cable::Crossover, false)
    }

    /// Plugs both of a server's cables back.
    ///
    /// The server still counts as cut off for [`HEAL_GRACE`] after that: a two-node pair cannot
    /// tell a total cut from a dead peer, so the node that was cut off may still claim the calls
    /// until the first peer datagram after the heal reaches it (the decision core's simulator
    /// allows the same grace). Overlaps after the grace are split brain.
    pub fn rejoin(&self, side: Side) -> Result<(), HarnessError> {
        self.topo.set_cable(side.host(), Cable::Lan, true)?;
        self.topo.set_cable(side.host(), Cable::Crossover, true)?;
        let isolated = Arc::clone(&self.isolated);
        std::thread::spawn(move || {
            std::thread::sleep(HEAL_GRACE);
            isolated[side.index()].store(false, Ordering::SeqCst);
        });
        Ok(())
    }

    /// Cuts or restores the peer link alone (both links), leaving calls and probes alone.
    pub fn set_peer_link(&self, up: bool) -> Result<(), HarnessError> {
        self.topo.set_peer_link(up)
    }

    /// Pulls or plugs one cable.
    pub fn set_cable(&self, side: Side, cable: Cable, up: bool) -> Result<(), HarnessError> {
        self.topo.set_cable(side.host(), cable, up)
    }

    /// Waits for `new_active` to complete a takeover started after `fault_at`, then for the
    /// client to be answered again, and returns the timings.
    pub fn measure_takeover(
        &self,
        new_active: Side,
        fault_at: f64,
        timeout: Duration,
    ) -> Result<Takeover, HarnessError> {
        let since_ms = (fault_at * 1000.0) as u64;
        let record = poll(
            &format!("server {} to take over", new_active.letter()),
            timeout,
            POLL,
            || {
                let view = self.status(new_active).ok()?;
                let record = view.last_takeover?;
                (view.role == "active" && record.started_unix_ms + 50 >= since_ms).then_some(record)
            },
        )?;
        let active_at = (record.started_unix_ms as f64 + record.total_ms) / 1000.0;
        let outage = match &self.client {
            Some(client) => {
                let answered = self.wait_client_answered(active_at.max(fault_at), timeout)?;
                // A little more traffic, so the gap is closed on both probes.
                let _ = poll("ping answers", Duration::from_secs(2), POLL, || {
                    client
                        .ping_answers()
                        .last()
                        .filter(|t| **t > answered)
                        .copied()
                });
                client.outage_since(fault_at)
            }
            None => ClientOutage {
                sip_s: f64::NAN,
                ping_s: f64::NAN,
            },
        };
        Ok(Takeover {
            new_active,
            detection_s: record.started_unix_ms as f64 / 1000.0 - fault_at,
            takeover_s: active_at - fault_at,
            outage,
            reason: record.reason,
            asterisk_start_s: record.asterisk_start_ms.map(|ms| ms / 1000.0),
        })
    }

    /// Moves the floating IP by hand (no daemon): removes it from the other side, adds it
    /// here and announces it with one gratuitous ARP (sent in the background: iputils
    /// arping lingers about a second after sending).
    pub fn move_floating_ip_by_hand(&self, to: Side) -> Result<(), HarnessError> {
        use super::netns::{run, FLOATING_IP};
        let cidr = format!("{FLOATING_IP}/24");
        let from_ns = self.topo.name(to.other().host());
        let to_ns = self.topo.name(to.host());
        if self.topo.holds_floating_ip(to.other().host())? {
            run("ip", &["-n", &from_ns, "addr", "del", &cidr, "dev", "eth0"])?;
        }
        run("ip", &["-n", &to_ns, "addr", "add", &cidr, "dev", "eth0"])?;
        let _ = std::process::Command::new("ip")
            .args([
                "netns", "exec", &to_ns, "arping", "-q", "-U", "-c", "1", "-I", "eth0",
            ])
            .arg(FLOATING_IP.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                program: "arping".into(),
                source,
            })?;
        Ok(())
    }

    /// Every sample so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.sampler
            .as_ref()
            .map(Sampler::samples)
            .unwrap_or_default()
    }

    /// Samples where both servers acted as active (see [`Sample::is_split_brain`]).
    pub fn split_brain(&self) -> Vec<Sample> {
        self.sampler
            .as_ref()
            .map(Sampler::split_brain)
            .unwrap_or_default()
    }

    /// The SIP messages either real Asterisk refused as malformed, each with its server's
    /// letter: a test's sipp scenario must speak SIP both Asterisks accept.
    pub fn refused_sip(&self) -> Vec<String> {
        [Side::A, Side::B]
            .into_iter()
            .filter_map(|side| Some((side, self.server_asterisk(side).ok()?)))
            .flat_map(|(side, asterisk)| {
                asterisk
                    .refused_sip()
                    .into_iter()
                    .map(move |line| format!("{}: {line}", side.letter()))
            })
            .collect()
    }

    /// The whole log of a process (`astha-a`, `astha-b`, ...), empty if there is none.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.0.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The last `lines` lines of a process log (for failure messages).
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        self.log_tail_where(name, lines, |_| true)
    }

    /// The last `lines` lines of a process log that `keep` selects.
    fn log_tail_where(&self, name: &str, lines: usize, keep: impl Fn(&str) -> bool) -> String {
        let text = self.log(name);
        let kept: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
        kept[kept.len().saturating_sub(lines)..].join("\n")
    }

    /// What a failed test prints: each daemon's log tail and its view of both Asterisks (every
    /// probe's last result, which the log only shows when a verdict changes), each real
    /// Asterisk's log tail, and the stress load's log when one runs.
    pub fn failure_report(&self) -> String {
        let mut report = String::new();
        for side in [Side::A, Side::B] {
            let letter = side.letter();
            let targets = match self.status(side) {
                Ok(view) => view
                    .raw
                    .get("targets")
                    .map(|t| serde_json::to_string_pretty(t).unwrap_or_default())
                    .unwrap_or_default(),
                Err(e) => format!("(no status: {e})"),
            };
            // The story (info and up), then the last failed probe runs (debug) apart: they
            // come several a second and would push the story out of any tail.
            let log = format!("astha-{letter}");
            report += &format!(
                "--- {log} ---\n{}\n--- {log}: last failed probe runs ---\n{}\n--- {log} probes now ---\n{targets}\n",
                self.log_tail_where(&log, 40, |l| !l.contains(" DEBUG ")),
                self.log_tail_where(&log, 15, |l| l.contains("probe failed")),
            );
            if let Ok(asterisk) = self.server_asterisk(side) {
                report += &format!("--- asterisk-{letter} ---\n{}\n", asterisk.log_tail(15));
            }
        }
        if let Some(registrar) = &self.registrar {
            report += &format!("--- carrier registrar ---\n{}\n", registrar.report());
        }
        let stress = self.log_tail("stress-ng", 10);
        if !stress.is_empty() {
            report += &format!("--- stress-ng ---\n{stress}\n");
        }
        report
    }
}

/// The right to run a pair of real Asterisks on this machine: one pair at a time, across the
/// test processes (`cargo nextest` runs each test in its own). Two pairs booting four real
/// Asterisks beside two CPU hogs on two cores took 24-48 s per boot and left healthy Asterisks
/// silent for 3 s: every scenario then fails on the machine, not on what it tests. With one
/// pair the load is the one the soak benchmark measures (`BENCHMARKS.md`). Emulated pairs are
/// light and run in parallel as before.
#[derive(Debug)]
struct RealPairSlot {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl RealPairSlot {
    /// Blocks until no other process holds the slot (an exclusive `flock`, released by the
    /// kernel even if the holder dies).
    fn wait() -> Result<RealPairSlot, HarnessError> {
        let path = std::env::temp_dir().join("astha-harness-real-pair.lock");
        let io = |source| HarnessError::Io {
            what: format!("lock {}", path.display()),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| io(errno.into()))?;
        Ok(RealPairSlot { _lock: lock })
    }
}

/// Writes a file only its owner can read (secrets, keys).
pub(super) fn write_private(path: &Path, contents: &[u8]) -> Result<(), HarnessError> {
    let io = |source| HarnessError::Io {
        what: format!("write {}", path.display()),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(contents).map_err(io)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An AMI secret, as an admin would choose one.
pub(super) fn random_secret() -> Result<String, HarnessError> {
    Ok(hex(&random_key()?[..16]))
}

/// A fresh peer key.
pub(super) fn random_key() -> Result<Vec<u8>, HarnessError> {
    use std::io::Read;
    let mut key = vec![0u8; 48];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(|source| HarnessError::Io {
            what: "read /dev/urandom".into(),
            source,
        })?;
    Ok(key)
}
