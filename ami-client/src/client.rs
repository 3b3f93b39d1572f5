//! The tokio driver: one background task per client owns the socket and the protocol core,
//! reconnects with backoff, and hands replies, events and state to the user's handles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::action::Action;
use crate::bus::{EventBus, EventReceiver};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::proto::{Output, Protocol, Reply};
use crate::response::{ListResult, Response};
use crate::state::ConnectionState;

/// Read size: big reads mean big event batches (few wake-ups per event).
const READ_CHUNK: usize = 256 * 1024;

/// When the core has no deadline, sleep this long (re-armed on every loop anyway).
const IDLE_SLEEP: Duration = Duration::from_secs(3600);

/// Where the driver hands a finished action's result.
#[derive(Debug)]
enum ReplySender {
    Single(oneshot::Sender<Result<Response, Error>>),
    List(oneshot::Sender<Result<ListResult, Error>>),
}

impl ReplySender {
    fn deliver(self, result: Result<Reply, Error>) {
        // A caller that stopped waiting (dropped its future) is not an error.
        match self {
            ReplySender::Single(tx) => {
                let _ = tx.send(result.map(|reply| match reply {
                    Reply::Response(response) => response,
                    Reply::List(list) => list.response,
                }));
            }
            ReplySender::List(tx) => {
                let _ = tx.send(result.map(|reply| match reply {
                    Reply::List(list) => list,
                    Reply::Response(response) => ListResult {
                        response,
                        items: Vec::new(),
                        complete: None,
                    },
                }));
            }
        }
    }

    fn wants_list(&self) -> bool {
        matches!(self, ReplySender::List(_))
    }
}

/// What a [`Client`] handle asks of the driver task.
#[derive(Debug)]
enum DriverCommand {
    Send { action: Action, reply: ReplySender },
    Close { done: oneshot::Sender<()> },
}

#[derive(Debug)]
struct ClientInner {
    commands: mpsc::UnboundedSender<DriverCommand>,
    state: watch::Receiver<ConnectionState>,
    fully_booted: watch::Receiver<bool>,
    bus: Arc<EventBus>,
    server_name: String,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// An AMI client that stays connected (reconnecting and logging in again as needed).
///
/// Cheap to clone; every clone drives the same connection. The connection ends when
/// [`Client::close`] is called or the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl Client {
    /// Starts connecting in a background task and returns at once.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns the connection task).
    pub fn connect(config: ClientConfig) -> Client {
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(ConnectionState::Connecting);
        let (fully_booted_tx, fully_booted_rx) = watch::channel(false);
        let bus = Arc::new(EventBus::new(config.event_buffer));
        let server_name = config.server_name.clone();
        let driver = Driver {
            proto: Protocol::new(&config, jitter_seed()),
            config,
            commands: commands_rx,
            commands_open: true,
            state: state_tx,
            fully_booted: fully_booted_tx,
            bus: bus.clone(),
            close_waiters: Vec::new(),
        };
        let task = tokio::spawn(driver.run());
        Client {
            inner: Arc::new(ClientInner {
                commands: commands_tx,
                state: state_rx,
                fully_booted: fully_booted_rx,
                bus,
                server_name,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// Waits until the client is logged in.
    ///
    /// Fails with [`Error::Authentication`] as soon as the server rejects the login, with
    /// [`Error::Closed`] if the client is closed, and with [`Error::Timeout`] after `timeout`.
    pub async fn wait_logged_in(&self, timeout: Duration) -> Result<(), Error> {
        let mut state = self.state();
        let wait = async {
            loop {
                match &*state.borrow_and_update() {
                    ConnectionState::LoggedIn => return Ok(()),
                    ConnectionState::AuthFailed { message } => {
                        return Err(Error::Authentication {
                            message: message.clone(),
                        })
                    }
                    ConnectionState::Closed => return Err(Error::Closed),
                    _ => {}
                }
                if state.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(Error::Timeout {
                action: "login".to_owned(),
                after: timeout,
            }))
    }

    /// Sends an action and waits for its response (an AMI `Response: Error` is an `Ok`
    /// response whose [`Response::is_success`] is false).
    pub async fn send(&self, action: Action) -> Result<Response, Error> {
        let (tx, rx) = oneshot::channel();
        self.command(DriverCommand::Send {
            action,
            reply: ReplySender::Single(tx),
        })?;
        rx.await.unwrap_or(Err(Error::Closed))
    }

    /// Sends a list action (e.g. `CoreShowChannels`) and collects every item up to
    /// `EventList: Complete`.
    pub async fn send_list(&self, action: Action) -> Result<ListResult, Error> {
        let (tx, rx) = oneshot::channel();
        self.command(DriverCommand::Send {
            action,
            reply: ReplySender::List(tx),
        })?;
        rx.await.unwrap_or(Err(Error::Closed))
    }

    /// A new subscription to every event from now on (across reconnects).
    pub fn subscribe(&self) -> EventReceiver {
        self.inner.bus.subscribe()
    }

    /// The connection state, observable.
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.inner.state.clone()
    }

    /// Whether the server finished booting, as its current session says (see
    /// [`crate::proto::Protocol::is_fully_booted`]): true once `FullyBooted` arrived on the
    /// current session, false again on `Shutdown` and whenever the connection is lost.
    pub fn fully_booted(&self) -> watch::Receiver<bool> {
        self.inner.fully_booted.clone()
    }

    /// The label carried by this client's events.
    pub fn server_name(&self) -> &str {
        &self.inner.server_name
    }

    /// Logs off, closes the connection and stops reconnecting; pending actions fail with
    /// [`Error::Closed`], subscribers get their buffered events and then `Closed`.
    pub async fn close(&self) {
        let (done_tx, done_rx) = oneshot::channel();
        if self.command(DriverCommand::Close { done: done_tx }).is_ok() {
            let _ = done_rx.await;
        }
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    fn command(&self, command: DriverCommand) -> Result<(), Error> {
        self.inner.commands.send(command).map_err(|_| Error::Closed)
    }
}

fn jitter_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER.fetch_add(0x9e37_79b9, Ordering::Relaxed)
}

fn now() -> Instant {
    // tokio's clock, so tests with paused time control the protocol's deadlines too.
    tokio::time::Instant::now().into_std()
}

/// How a wait for something ended.
enum Wake<T> {
    Ready(T),
    Closed,
}

/// The background task.
struct Driver {
    config: ClientConfig,
    proto: Protocol<ReplySender>,
    commands: mpsc::UnboundedReceiver<DriverCommand>,
    commands_open: bool,
    state: watch::Sender<ConnectionState>,
    fully_booted: watch::Sender<bool>,
    bus: Arc<EventBus>,
    close_waiters: Vec<oneshot::Sender<()>>,
}

impl Driver {
    async fn run(mut self) {
        while !self.proto.is_closed() {
            self.proto.connecting();
            self.flush_outputs();
            match self.connect().await {
                Wake::Closed => break,
                Wake::Ready(Ok(stream)) => self.session(stream).await,
                Wake::Ready(Err(reason)) => self.proto.connection_lost(reason),
            }
            self.flush_outputs();
            if self.proto.is_closed() {
                break;
            }
            let delay = self.proto.reconnect_delay();
            tracing::debug!(server = %self.config.server_name, ?delay, state = %self.proto.state(), "AMI: reconnecting later");
            if let Wake::Closed = self.idle(delay).await {
                break;
            }
        }
        self.proto.close(now());
        self.flush_outputs();
        self.fully_booted.send_replace(false);
        self.state.send_replace(ConnectionState::Closed);
        self.bus.close();
        for waiter in self.close_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }

    /// Connects, serving commands meanwhile (they fail at once: not logged in).
    async fn connect(&mut self) -> Wake<Result<TcpStream, String>> {
        let addr = self.config.addr.clone();
        let timeout = self.config.connect_timeout;
        let connect = tokio::time::timeout(timeout, TcpStream::connect(addr.clone()));
        tokio::pin!(connect);
        loop {
            tokio::select! {
                result = &mut connect => {
                    return Wake::Ready(match result {
                        Ok(Ok(stream)) => Ok(stream),
                        Ok(Err(e)) => Err(format!("connect to {addr} failed: {e}")),
                        Err(_) => Err(format!("connect to {addr} timed out after {timeout:?}")),
                    });
                }
                command = self.commands.recv(), if self.commands_open => {
                    self.handle_command(command);
                    self.flush_outputs();
                    if self.proto.is_closed() {
                        return Wake::Closed;
                    }
                }
            }
        }
    }

    /// Waits `delay` before the next connect, serving commands meanwhile.
    async fn idle(&mut self, delay: Duration) -> Wake<()> {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return Wake::Ready(()),
                command = self.commands.recv(), if self.commands_open => {
                    self.handle_command(command);
                    self.flush_outputs();
                    if self.proto.is_closed() {
                        return Wake::Closed;
                    }
                }
            }
        }
    }

    fn handle_command(&mut self, command: Option<DriverCommand>) {
        match command {
            Some(DriverCommand::Send { action, reply }) => {
                let want_list = reply.wants_list();
                self.proto.submit(action, want_list, reply, now());
            }
            Some(DriverCommand::Close { done }) => {
                self.close_waiters.push(done);
                self.proto.close(now());
            }
            None => {
                // Every Client handle is gone: nobody can use the connection any more.
                self.commands_open = false;
                self.proto.close(now());
            }
        }
    }

    /// Hands out replies and state changes; returns a close request if the core made one.
    fn flush_outputs(&mut self) -> Option<String> {
        let booted = self.proto.is_fully_booted();
        self.fully_booted
            .send_if_modified(|b| std::mem::replace(b, booted) != booted);
        let mut close = None;
        while let Some(output) = self.proto.poll_output() {
            match output {
                Output::Reply { reply, result } => reply.deliver(result),
                Output::State(state) => {
                    tracing::debug!(server = %self.config.server_name, %state, "AMI: state");
                    self.state.send_replace(state);
                }
                Output::Close { reason } => close = Some(reason),
            }
        }
        close
    }

    /// Before a publish: if the batch does not fit in some subscriber's buffer, waits (at most
    /// `max_overflow_pause`) for that subscriber to take its events, so a burst does not
    /// overflow a subscriber that is merely descheduled for a moment.
    async fn make_room(&self, incoming: usize) {
        let pause = self.config.max_overflow_pause;
        let capacity = self.bus.capacity();
        let blocked = |fullest: usize| fullest > 0 && fullest + incoming > capacity;
        if pause.is_zero() || !blocked(self.bus.fullest()) {
            return;
        }
        let deadline = tokio::time::Instant::now() + pause;
        while blocked(self.bus.fullest()) {
            if tokio::time::timeout_at(deadline, self.bus.space_freed())
                .await
                .is_err()
            {
                tracing::debug!(server = %self.config.server_name, "AMI: a subscriber stays behind; reading on");
                return;
            }
        }
    }

    /// Runs one connection until it ends.
    async fn session(&mut self, stream: TcpStream) {
        // Actions are small and latency matters (pings, probes).
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        self.proto.connected(now());
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut events = Vec::new();
        let sleep = tokio::time::sleep(IDLE_SLEEP);
        tokio::pin!(sleep);
        let mut armed_deadline: Option<Instant> = None;
        loop {
            if let Some(reason) = self.flush_outputs() {
                tracing::debug!(server = %self.config.server_name, %reason, "AMI: closing the connection");
                // Best effort: a Logoff written just before may still reach the server.
                while let Some(bytes) = self.proto.poll_transmit() {
                    let _ = writer.write_all(&bytes).await;
                }
                return;
            }
            while let Some(bytes) = self.proto.poll_transmit() {
                if let Err(e) = writer.write_all(&bytes).await {
                    self.proto.connection_lost(format!("write failed: {e}"));
                }
            }
            if !self.proto.is_online() {
                self.flush_outputs();
                return;
            }
            let deadline = self.proto.poll_timeout();
            if deadline != armed_deadline {
                armed_deadline = deadline;
                let at = deadline.map_or_else(
                    || tokio::time::Instant::now() + IDLE_SLEEP,
                    tokio::time::Instant::from_std,
                );
                sleep.as_mut().reset(at);
            }
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                buf.reserve(READ_CHUNK);
            }
            tokio::select! {
                read = reader.read_buf(&mut buf) => {
                    match read {
                        Ok(0) => self.proto.receive_eof(&mut buf, now()),
                        Ok(_) => self.proto.receive(&mut buf, now()),
                        Err(e) => self.proto.connection_lost(format!("read failed: {e}")),
                    }
                    if self.proto.has_events() {
                        self.proto.take_events(&mut events);
                        self.make_room(events.len()).await;
                        if self.bus.publish(&mut events) > 0 {
                            // Subscribers on this thread (current_thread runtime) drain before
                            // the next read.
                            tokio::task::yield_now().await;
                        }
                    }
                }
                command = self.commands.recv(), if self.commands_open => {
                    self.handle_command(command);
                }
                _ = &mut sleep => {
                    // An elapsed sleep is ready at every poll: re-arm it idle now, or a session
                    // left without a deadline (its last action timed out) would spin on it
                    // until the next action (seen: 3 million turns a second, a whole CPU at the
                    // daemon's real-time priority).
                    sleep.as_mut().reset(tokio::time::Instant::now() + IDLE_SLEEP);
                    armed_deadline = None;
                    self.proto.handle_timeout(now());
                }
            }
        }
    }
}
