//! An Asterisk 22 emulator faithful to the recorded wire (AMI, SIP OPTIONS, ARI), with fault
//! injection, for testing astha without a real Asterisk.
//!
//! What it emulates (every shape taken from `tests/fixtures/asterisk-22`, checked by `tests/conformance.rs`):
//! * AMI: banner; `Login` (plain and MD5 `Challenge`; a wrong secret is answered after
//!   [`FakeConfig::auth_failure_delay`] and the connection closed); per-user `read`/`write`
//!   classes and `eventfilter`; `Ping`, `CoreStatus`, `CoreSettings`, `CoreShowChannels`,
//!   `Command` (`core show version|uptime|channels [concise|count]|calls`, `core stop|restart`),
//!   `Originate` (sync and async, into the [`Dialplan`]), `Hangup`, `UserEvent`, `Events`,
//!   `DAHDIShowStatus` (when spans are configured), `Logoff`, unknown actions; `FullyBooted`
//!   after login and at the end of a boot; `Shutdown` on stop/restart; DAHDI alarm events.
//! * SIP over UDP: `OPTIONS` answered 200/404 like res_pjsip.
//! * HTTP: `/ari/asterisk/ping`, `/ari/asterisk/info`, `/ari/channels` with Basic auth.
//! * Faults switchable at run time ([`Fault`]) and a lifecycle (restart, stop, boot).
//!
//! ```no_run
//! # async fn demo() -> Result<(), astha_tests::fake_asterisk::FakeError> {
//! use std::time::Duration;
//! use astha_tests::fake_asterisk::{FakeAsterisk, FakeConfig, Fault};
//! // Instance `a` of the fixtures on 127.0.0.1 with free ports; calls last 50 ms.
//! let asterisk = FakeAsterisk::start(FakeConfig::instance_a().fast(Duration::from_millis(50))).await?;
//! let ami = asterisk.ami_addr(); // log in as hasidecar / hasecret
//! asterisk.set_fault(Fault::CoreDeadlock).await;
//! asterisk.clear_faults().await;
//! asterisk.inject_user_event("HAFailover", &[("Reason", "manual")]);
//! asterisk.restart(Duration::from_millis(500)).await;
//! asterisk.stop().await;
//! # Ok(()) }
//! ```

pub mod ami;
pub mod ari;
pub mod call;
pub mod channel;
pub mod classes;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod core;
pub mod dialplan;
pub mod event;
pub mod faults;
pub mod sip;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use self::ami::LifecycleRequest;
pub use self::classes::{ClassSet, EventClass};
pub use self::config::{AmiUser, AriUser, BootMode, FakeConfig, SpanConfig};
pub use self::core::Core;
pub use self::dialplan::{Dialplan, DialplanApp, Extension};
pub use self::faults::{Fault, FaultSet};
pub use self::sip::SipCapabilities;

/// Errors of the emulator's library API.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    /// A listening socket could not be bound.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        /// `AMI`, `SIP` or `HTTP`.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A span number that is not configured.
    #[error("span {0} is not configured (configure it with FakeConfig::with_span / --span)")]
    UnknownSpan(u32),
}

/// Where the emulator is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Listening and serving.
    Running,
    /// Refusing new TCP connections ([`Fault::Refuse`]).
    Refusing,
    /// Crashed: nothing listens ([`Fault::Crash`]).
    Crashed,
    /// Down during a restart.
    Restarting,
    /// Stopped for good (`core stop now`, [`FakeAsterisk::stop`]).
    Stopped,
}

/// A snapshot for the control channel's `status` and for tests.
#[derive(Clone, Debug)]
pub struct Status {
    /// Life state.
    pub state: RunState,
    /// Whether `FullyBooted` happened.
    pub booted: bool,
    /// Faults in force.
    pub faults: FaultSet,
    /// AMI sessions connected.
    pub sessions: usize,
    /// Calls up.
    pub calls: usize,
    /// Spans in alarm.
    pub spans_in_alarm: Vec<u32>,
}

impl Status {
    /// One line: `state=running booted=yes faults=none sessions=1 calls=0 alarms=-`.
    pub fn line(&self) -> String {
        let alarms = if self.spans_in_alarm.is_empty() {
            "-".to_owned()
        } else {
            self.spans_in_alarm
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "state={} booted={} faults={} sessions={} calls={} alarms={}",
            match self.state {
                RunState::Running => "running",
                RunState::Refusing => "refusing",
                RunState::Crashed => "crashed",
                RunState::Restarting => "restarting",
                RunState::Stopped => "stopped",
            },
            if self.booted { "yes" } else { "no" },
            self.faults.describe(),
            self.sessions,
            self.calls,
            alarms
        )
    }
}

/// Which front ends to (re)start listening.
#[derive(Clone, Copy, Debug)]
struct Services {
    tcp: bool,
    sip: bool,
}

struct Inner {
    core: Arc<Core>,
    ami_addr: SocketAddr,
    sip_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    listen_stop: watch::Sender<u64>,
    listeners: Mutex<Vec<JoinHandle<()>>>,
    state: Mutex<RunState>,
    lifecycle_tx: mpsc::UnboundedSender<LifecycleRequest>,
    /// Serializes lifecycle changes (crash, restart, clear) so they never interleave.
    transitions: tokio::sync::Mutex<()>,
}

/// One running emulated Asterisk instance. Dropping it kills everything it runs.
pub struct FakeAsterisk {
    inner: Arc<Inner>,
    lifecycle_task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeAsterisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAsterisk")
            .field("system_name", &self.inner.core.config.system_name)
            .field("ami_addr", &self.inner.ami_addr)
            .field("sip_addr", &self.inner.sip_addr)
            .field("http_addr", &self.inner.http_addr)
            .finish_non_exhaustive()
    }
}

impl FakeAsterisk {
    /// Binds AMI (TCP), SIP (UDP) and HTTP (TCP) on the configured addresses (port 0: any free
    /// port; see the accessors) and starts serving. Must be called inside a tokio runtime.
    pub async fn start(config: FakeConfig) -> Result<FakeAsterisk, FakeError> {
        let ami = bind_tcp("AMI", config.ami_addr).await?;
        let ami_addr = local_addr(&ami, config.ami_addr);
        let sip = match config.sip_addr {
            Some(addr) => Some(bind_udp(addr).await?),
            None => None,
        };
        let sip_addr = sip.as_ref().map(|s| {
            s.local_addr()
                .unwrap_or_else(|_| config.sip_addr.unwrap_or(ami_addr))
        });
        let http = match config.http_addr {
            Some(addr) => Some(bind_tcp("HTTP", addr).await?),
            None => None,
        };
        let http_addr = http
            .as_ref()
            .map(|l| local_addr(l, config.http_addr.unwrap_or(ami_addr)));
        let core = Core::new(config);
        let (lifecycle_tx, lifecycle_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            core,
            ami_addr,
            sip_addr,
            http_addr,
            listen_stop: watch::channel(0).0,
            listeners: Mutex::new(Vec::new()),
            state: Mutex::new(RunState::Running),
            lifecycle_tx,
            transitions: tokio::sync::Mutex::new(()),
        });
        inner.spawn_listeners(Some(ami), sip, http);
        inner.schedule_boot();
        info!(
            system = %inner.core.config.system_name,
            ami = %ami_addr,
            sip = ?sip_addr,
            http = ?http_addr,
            "fake Asterisk listening"
        );
        let lifecycle_task = tokio::spawn(lifecycle_loop(Arc::clone(&inner), lifecycle_rx));
        Ok(FakeAsterisk {
            inner,
            lifecycle_task,
        })
    }

    /// The AMI address actually bound.
    pub fn ami_addr(&self) -> SocketAddr {
        self.inner.ami_addr
    }

    /// The SIP address actually bound (`None` when SIP is disabled).
    pub fn sip_addr(&self) -> Option<SocketAddr> {
        self.inner.sip_addr
    }

    /// The HTTP/ARI address actually bound (`None` when HTTP is disabled).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.inner.http_addr
    }

    /// The emulated core (channels, counters, event bus) for advanced use.
    pub fn core(&self) -> &Arc<Core> {
        &self.inner.core
    }

    /// Switches a fault on. When this returns, the fault is in force (for `Crash` and `Refuse`
    /// the listeners are closed).
    pub async fn set_fault(&self, fault: Fault) {
        let inner = &self.inner;
        let _guard = inner.transitions.lock().await;
        info!(?fault, "fault on");
        inner.core.update_faults(|f| f.set(fault));
        match fault {
            Fault::Crash => {
                inner.core.kill_all();
                inner.core.drop_calls_silently();
                inner.stop_listeners().await;
                inner.set_state(RunState::Crashed);
            }
            Fault::Refuse => {
                inner.stop_listeners().await;
                // SIP is not TCP: it keeps answering.
                inner
                    .relisten(Services {
                        tcp: false,
                        sip: true,
                    })
                    .await;
                inner.set_state(RunState::Refusing);
            }
            _ => {}
        }
    }

    /// Switches every fault off. After a crash this is a fresh start (uptime, counters and
    /// channel numbering reset; boot as configured).
    pub async fn clear_faults(&self) {
        let inner = &self.inner;
        let _guard = inner.transitions.lock().await;
        let previous = inner.core.fault_set();
        inner.core.update_faults(|f| *f = FaultSet::default());
        info!(previous = %previous.describe(), "faults cleared");
        if previous.crashed {
            inner.core.reset();
            inner
                .relisten(Services {
                    tcp: true,
                    sip: true,
                })
                .await;
            inner.schedule_boot();
            inner.set_state(RunState::Running);
        } else if previous.refuse {
            inner.stop_listeners().await;
            inner
                .relisten(Services {
                    tcp: true,
                    sip: true,
                })
                .await;
            inner.set_state(RunState::Running);
        }
    }

    /// `core restart now`: `Shutdown` (`Restart: True`) to every session (after the hangups of
    /// calls up, as fixture 23), connections closed, nothing listens for `down_for`, then a fresh
    /// start that boots as configured, with every fault cleared (a new process). A hung instance
    /// is killed instead (connections drop without `Shutdown`). Returns when it listens again.
    pub async fn restart(&self, down_for: Duration) {
        self.inner.restart(down_for).await;
    }

    /// `core stop now`: `Shutdown` (`Restart: False`), connections closed, nothing listens any
    /// more. The instance stays down (drop it or call [`FakeAsterisk::restart`]).
    pub async fn stop(&self) {
        self.inner.stop().await;
    }

    /// Ends a [`BootMode::Manual`] boot: broadcasts `FullyBooted` (fixture 22 shape).
    pub fn finish_boot(&self) {
        self.inner.core.finish_boot();
    }

    /// Waits until the instance is fully booted.
    pub async fn wait_booted(&self) {
        let mut rx = self.inner.core.booted_signal();
        let _ = rx.wait_for(|b| *b).await;
    }

    /// A `UserEvent` as the `[ha-admin]` dialplan emits it (channel headers of a phone channel,
    /// then `UserEvent: <name>` and the given headers), e.g.
    /// `inject_user_event("HAFailover", &[("Reason", "manual")])`.
    pub fn inject_user_event(&self, name: &str, headers: &[(&str, &str)]) {
        let owned: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.inner.core.inject_user_event(name, &owned);
    }

    /// Raises (`on`) or clears a red alarm on a configured DAHDI span: `Alarm`/`AlarmClear` per
    /// channel, then `SpanAlarm`/`SpanAlarmClear`; `DAHDIShowStatus` reports `RED` meanwhile.
    pub fn span_alarm(&self, span: u32, on: bool) -> Result<(), FakeError> {
        if self.inner.core.set_span_alarm(span, on) {
            Ok(())
        } else {
            Err(FakeError::UnknownSpan(span))
        }
    }

    /// Current state, faults and counters.
    pub fn status(&self) -> Status {
        let core = &self.inner.core;
        Status {
            state: *self.inner.state.lock().unwrap_or_else(|p| p.into_inner()),
            booted: core.is_booted(),
            faults: core.fault_set(),
            sessions: core.sessions.load(Ordering::Relaxed),
            calls: core.counts().calls,
            spans_in_alarm: core
                .config
                .spans
                .iter()
                .map(|s| s.span)
                .filter(|s| core.span_in_alarm(*s))
                .collect(),
        }
    }
}

impl Drop for FakeAsterisk {
    fn drop(&mut self) {
        self.lifecycle_task.abort();
        self.inner.core.kill_all();
        self.inner.core.drop_calls_silently();
        self.inner.listen_stop.send_modify(|g| *g += 1);
        for handle in self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            handle.abort();
        }
    }
}

async fn bind_tcp(what: &'static str, addr: SocketAddr) -> Result<TcpListener, FakeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| FakeError::Bind { what, addr, source })
}

async fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, FakeError> {
    UdpSocket::bind(addr)
        .await
        .map_err(|source| FakeError::Bind {
            what: "SIP",
            addr,
            source,
        })
}

fn local_addr(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}

impl Inner {
    fn set_state(&self, state: RunState) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }

    fn spawn_listeners(
        &self,
        ami: Option<TcpListener>,
        sip: Option<UdpSocket>,
        http: Option<TcpListener>,
    ) {
        let stop = self.listen_stop.subscribe();
        let mut handles = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(listener) = ami {
            handles.push(ami::spawn_listener(
                Arc::clone(&self.core),
                listener,
                stop.clone(),
                self.lifecycle_tx.clone(),
            ));
        }
        if let Some(socket) = sip {
            handles.push(sip::spawn_responder(
                Arc::clone(&self.core),
                socket,
                stop.clone(),
            ));
        }
        if let Some(listener) = http {
            handles.push(ari::spawn_listener(Arc::clone(&self.core), listener, stop));
        }
    }

    /// Closes every listening socket; returns once they are closed.
    async fn stop_listeners(&self) {
        self.listen_stop.send_modify(|g| *g += 1);
        let handles: Vec<JoinHandle<()>> = self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for handle in handles {
            handle.abort();
            // Err(cancelled) is the expected outcome: the socket is dropped either way.
            let _ = handle.await;
        }
    }

    /// Binds the front ends again on the same addresses.
    async fn relisten(&self, which: Services) {
        let ami = if which.tcp {
            match bind_tcp("AMI", self.ami_addr).await {
                Ok(l) => Some(l),
                Err(e) => {
                    warn!("{e}");
                    None
                }
            }
        } else {
            None
        };
        let http = match (which.tcp, self.http_addr) {
            (true, Some(addr)) => match bind_tcp("HTTP", addr).await {
                Ok(l) => Some(l),
                Err(e) => {
                    warn!("{e}");
                    None
                }
            },
            _ => None,
        };
        let sip = match (which.sip, self.sip_addr) {
            (true, Some(addr)) => match bind_udp(addr).await {
                Ok(s) => Some(s),
                Err(e) => {
                    warn!("{e}");
                    None
                }
            },
            _ => None,
        };
        self.spawn_listeners(ami, sip, http);
    }

    fn schedule_boot(&self) {
        if let BootMode::After(delay) = self.core.config.boot {
            let core = Arc::clone(&self.core);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                core.finish_boot();
            });
        }
    }

    /// The orderly part of a stop or restart. A hung process cannot say goodbye: it is killed,
    /// so its connections just drop.
    fn shut_down(&self, restart: bool) {
        if self.core.fault_set().hung {
            info!("the process is hung: killed without a Shutdown event");
            self.core.kill_all();
            self.core.drop_calls_silently();
        } else {
            self.core.shutdown(restart);
        }
    }

    async fn stop(&self) {
        let _guard = self.transitions.lock().await;
        info!("core stop now: Shutdown event, closing every connection, listeners down");
        self.shut_down(false);
        self.stop_listeners().await;
        self.set_state(RunState::Stopped);
    }

    async fn restart(&self, down_for: Duration) {
        let _guard = self.transitions.lock().await;
        info!(
            down_ms = down_for.as_millis() as u64,
            "core restart now: Shutdown event, down, then boot again"
        );
        self.shut_down(true);
        self.stop_listeners().await;
        self.set_state(RunState::Restarting);
        tokio::time::sleep(down_for).await;
        // A new process: whatever was wrong with the old one is gone.
        self.core.update_faults(|f| *f = FaultSet::default());
        self.core.reset();
        self.relisten(Services {
            tcp: true,
            sip: true,
        })
        .await;
        self.schedule_boot();
        self.set_state(RunState::Running);
    }
}

/// Serves lifecycle requests made over AMI (`Command: core stop now` / `core restart now`).
async fn lifecycle_loop(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<LifecycleRequest>) {
    while let Some(request) = rx.recv().await {
        match request {
            LifecycleRequest::Stop => inner.stop().await,
            LifecycleRequest::Restart => inner.restart(inner.core.config.restart_downtime).await,
        }
    }
}
