//! The sans-IO AMI protocol core: login, ActionID correlation, timeouts, lists and keepalive.
//!
//! No sockets, no clock, no tasks: the driver feeds it received bytes and the current time,
//! and takes out bytes to write, events, replies (each carrying the caller's `T`, e.g. a
//! oneshot sender), state changes and "close the connection" requests. This makes every
//! protocol rule testable without a network and with made-up time.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use md5::{Digest, Md5};
use tokio_util::codec::Decoder;

use crate::action::Action;
use crate::backoff::Backoff;
use crate::codec::{self, AmiCodec, Frame};
use crate::config::{AuthMethod, ClientConfig, EventMask};
use crate::error::Error;
use crate::event::Event;
use crate::message::Message;
use crate::response::{ListResult, Response};
use crate::state::ConnectionState;

/// What Asterisk answers to every action, `Login` included, once a shutdown has begun.
pub const SHUTTING_DOWN: &str = "Asterisk is shutting down";

/// What a finished action produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The response of an action sent with `want_list = false`.
    Response(Response),
    /// The collected list of an action sent with `want_list = true`.
    List(ListResult),
}

/// Something the driver must act upon.
#[derive(Debug)]
pub enum Output<T> {
    /// An action finished (response, list, timeout, disconnect...): hand `result` to `reply`.
    Reply {
        /// The caller's handle given to [`Protocol::submit`].
        reply: T,
        /// The outcome.
        result: Result<Reply, Error>,
    },
    /// The connection state changed.
    State(ConnectionState),
    /// The connection must be closed (login failed, ping timeout, Goodbye, bad stream...).
    Close {
        /// Why.
        reason: String,
    },
}

/// Where the current connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionPhase {
    /// No connection.
    Offline,
    /// Connected, waiting for the banner.
    AwaitBanner { deadline: Instant },
    /// `Challenge` sent (MD5 login).
    Challenge { id: u64, deadline: Instant },
    /// `Login` sent.
    Login { id: u64, deadline: Instant },
    /// Logged in.
    LoggedIn,
    /// `Logoff` sent by [`Protocol::close`].
    LoggingOff { id: u64, deadline: Instant },
    /// Closed for good.
    Closed,
}

/// A user action waiting for its response (and, for lists, its items).
#[derive(Debug)]
struct Pending<T> {
    reply: T,
    action: String,
    timeout: Duration,
    deadline: Instant,
    want_list: bool,
    list: Option<ListProgress>,
}

#[derive(Debug)]
struct ListProgress {
    response: Response,
    items: Vec<Event>,
}

/// A user action waiting for a free in-flight slot.
#[derive(Debug)]
struct Queued<T> {
    message: Message,
    reply: T,
    action: String,
    timeout: Duration,
    deadline: Instant,
    want_list: bool,
}

#[derive(Debug, Default)]
struct Keepalive {
    next_ping_at: Option<Instant>,
    outstanding: Option<(u64, Instant)>,
}

/// The AMI protocol state machine of one client (across reconnects).
#[derive(Debug)]
pub struct Protocol<T> {
    username: String,
    secret: String,
    auth: AuthMethod,
    events_mask: EventMask,
    filters: Vec<String>,
    action_timeout: Duration,
    ping_interval: Duration,
    ping_timeout: Duration,
    max_in_flight: usize,
    max_frame_len: usize,
    auth_failure_backoff: Duration,
    id_prefix: String,
    server: Arc<str>,

    codec: AmiCodec,
    phase: SessionPhase,
    state: ConnectionState,
    last_failure_was_auth: bool,
    next_id: u64,
    in_flight: HashMap<u64, Pending<T>>,
    lists_in_flight: usize,
    queued: VecDeque<Queued<T>>,
    keepalive: Keepalive,
    backoff: Backoff,
    outbox: BytesMut,
    outputs: VecDeque<Output<T>>,
    events: Vec<Event>,
    invalid_frames: u64,
    /// `FullyBooted` arrived on the current session (and no `Shutdown` since).
    fully_booted: bool,
}

impl<T> Protocol<T> {
    /// A protocol core for this configuration; `seed` drives the reconnect jitter.
    pub fn new(config: &ClientConfig, seed: u64) -> Self {
        Protocol {
            username: config.username.clone(),
            secret: config.secret.clone(),
            auth: config.auth,
            events_mask: config.events.clone(),
            filters: config.filters.clone(),
            action_timeout: config.action_timeout,
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            max_in_flight: config.max_in_flight.max(1),
            max_frame_len: config.max_frame_len,
            auth_failure_backoff: config.auth_failure_backoff,
            id_prefix: config.action_id_prefix.clone(),
            server: Arc::from(config.server_name.as_str()),
            codec: AmiCodec::client().with_max_frame_len(config.max_frame_len),
            phase: SessionPhase::Offline,
            state: ConnectionState::Disconnected {
                reason: "not connected yet".to_owned(),
            },
            last_failure_was_auth: false,
            next_id: 1,
            in_flight: HashMap::new(),
            lists_in_flight: 0,
            queued: VecDeque::new(),
            keepalive: Keepalive::default(),
            backoff: Backoff::new(
                config.reconnect_backoff_min,
                config.reconnect_backoff_max,
                seed,
            ),
            outbox: BytesMut::new(),
            outputs: VecDeque::new(),
            events: Vec::new(),
            invalid_frames: 0,
            fully_booted: false,
        }
    }

    /// The current connection state.
    pub fn state(&self) -> &ConnectionState {
        &self.state
    }

    /// Whether [`Protocol::close`] finished (no reconnect wanted).
    pub fn is_closed(&self) -> bool {
        self.phase == SessionPhase::Closed
    }

    /// Whether a connection is up (from the TCP connect until it is lost).
    pub fn is_online(&self) -> bool {
        !matches!(self.phase, SessionPhase::Offline | SessionPhase::Closed)
    }

    /// Whether the server said it finished booting on the current session: a `FullyBooted`
    /// event arrived since this connection logged in, and no `Shutdown` since.
    ///
    /// Asterisk sends `FullyBooted` to a session right after its login when it is already
    /// booted, and broadcasts it at the end of a boot to sessions that logged in earlier (it
    /// accepts logins before it has loaded everything). Both need the `system` event class; an
    /// earlier session's `FullyBooted` never counts, since the server may have restarted.
    pub fn is_fully_booted(&self) -> bool {
        self.fully_booted
    }

    /// How many undecodable frames were skipped so far.
    pub fn invalid_frames(&self) -> u64 {
        self.invalid_frames
    }

    /// The server label carried by events.
    pub fn server(&self) -> &Arc<str> {
        &self.server
    }

    /// The driver starts a TCP connect.
    pub fn connecting(&mut self) {
        if self.phase != SessionPhase::Closed {
            self.set_state(ConnectionState::Connecting);
        }
    }

    /// The TCP connection is up: expect the banner, then log in (all within the action timeout).
    pub fn connected(&mut self, now: Instant) {
        if self.phase == SessionPhase::Closed {
            return;
        }
        self.codec = AmiCodec::client().with_max_frame_len(self.max_frame_len);
        self.outbox.clear();
        self.keepalive = Keepalive::default();
        self.last_failure_was_auth = false;
        self.fully_booted = false;
        self.phase = SessionPhase::AwaitBanner {
            deadline: now + self.action_timeout,
        };
        self.set_state(ConnectionState::LoggingIn);
    }

    /// A TCP connect failed or the connection ended; fails everything pending.
    pub fn connection_lost(&mut self, reason: impl Into<String>) {
        self.go_offline(reason.into(), false);
    }

    /// Decodes and handles every complete frame in `buf` (consumed bytes are removed).
    pub fn receive(&mut self, buf: &mut BytesMut, now: Instant) {
        while self.is_online() {
            match self.codec.decode(buf) {
                Ok(Some(frame)) => self.handle_frame(frame, now),
                Ok(None) => return,
                Err(e) => {
                    self.go_offline(e.to_string(), true);
                }
            }
        }
        buf.clear();
    }

    /// The server closed the connection: handles what is left in `buf`, then goes offline.
    pub fn receive_eof(&mut self, buf: &mut BytesMut, now: Instant) {
        self.receive(buf, now);
        if self.is_online() {
            if let Ok(Some(frame)) = self.codec.decode_eof(buf) {
                self.handle_frame(frame, now);
            }
        }
        buf.clear();
        match self.phase {
            SessionPhase::LoggingOff { .. } => self.finish_close(),
            _ => self.go_offline("connection closed by the server".to_owned(), false),
        }
    }

    /// Sends a user action (or queues it while `max_in_flight` actions are pending).
    ///
    /// The outcome comes out later as [`Output::Reply`] with `reply`; with `want_list` the
    /// reply is a [`Reply::List`] with every item up to `EventList: Complete`.
    pub fn submit(&mut self, action: Action, want_list: bool, reply: T, now: Instant) {
        if self.phase != SessionPhase::LoggedIn {
            let error = if self.phase == SessionPhase::Closed {
                Error::Closed
            } else {
                Error::NotConnected {
                    state: self.state.to_string(),
                }
            };
            self.outputs.push_back(Output::Reply {
                reply,
                result: Err(error),
            });
            return;
        }
        let timeout = action.timeout_override().unwrap_or(self.action_timeout);
        let name = action.name().to_owned();
        let message = action.into_message();
        if let Err(e) = codec::check_message(&message) {
            self.outputs.push_back(Output::Reply {
                reply,
                result: Err(Error::InvalidAction(e)),
            });
            return;
        }
        let queued = Queued {
            message,
            reply,
            action: name,
            timeout,
            deadline: now + timeout,
            want_list,
        };
        if self.in_flight.len() >= self.max_in_flight {
            self.queued.push_back(queued);
        } else {
            self.send_user_action(queued);
        }
    }

    /// Logs off (if logged in) and closes for good; pending actions fail with `Closed`.
    pub fn close(&mut self, now: Instant) {
        self.fail_all(|| Error::Closed);
        match self.phase {
            SessionPhase::LoggedIn => {
                let id = self.send_internal(Message::new().with("Action", "Logoff"));
                self.phase = SessionPhase::LoggingOff {
                    id,
                    deadline: now + self.action_timeout.min(Duration::from_secs(2)),
                };
            }
            SessionPhase::Closed | SessionPhase::LoggingOff { .. } => {}
            _ => self.finish_close(),
        }
    }

    /// Handles every deadline that passed at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            SessionPhase::AwaitBanner { deadline }
            | SessionPhase::Challenge { deadline, .. }
            | SessionPhase::Login { deadline, .. }
                if now >= deadline =>
            {
                let reason = format!("login timed out after {:?}", self.action_timeout);
                self.go_offline(reason, true);
                return;
            }
            SessionPhase::LoggingOff { deadline, .. } if now >= deadline => {
                self.finish_close();
                return;
            }
            _ => {}
        }
        if self.phase != SessionPhase::LoggedIn {
            return;
        }
        if let Some((_, deadline)) = self.keepalive.outstanding {
            if now >= deadline {
                let reason = format!("no Pong within {:?}", self.ping_timeout);
                self.go_offline(reason, true);
                return;
            }
        }
        if let Some(at) = self.keepalive.next_ping_at {
            if now >= at && self.keepalive.outstanding.is_none() {
                let id = self.send_internal(Message::new().with("Action", "Ping"));
                self.keepalive.outstanding = Some((id, now + self.ping_timeout));
                self.keepalive.next_ping_at = None;
            }
        }
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, p)| now >= p.deadline)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(p) = self.remove_in_flight(id) {
                self.outputs.push_back(Output::Reply {
                    reply: p.reply,
                    result: Err(Error::Timeout {
                        action: p.action,
                        after: p.timeout,
                    }),
                });
            }
        }
        if self.queued.iter().any(|q| now >= q.deadline) {
            let (expired, waiting): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.queued)
                .into_iter()
                .partition(|q| now >= q.deadline);
            self.queued = waiting;
            for q in expired {
                self.outputs.push_back(Output::Reply {
                    reply: q.reply,
                    result: Err(Error::Timeout {
                        action: q.action,
                        after: q.timeout,
                    }),
                });
            }
        }
        self.promote_queued();
    }

    /// The earliest deadline the driver must call [`Protocol::handle_timeout`] at.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase = match self.phase {
            SessionPhase::AwaitBanner { deadline }
            | SessionPhase::Challenge { deadline, .. }
            | SessionPhase::Login { deadline, .. }
            | SessionPhase::LoggingOff { deadline, .. } => Some(deadline),
            SessionPhase::Offline | SessionPhase::Closed => return None,
            SessionPhase::LoggedIn => None,
        };
        let keepalive = match self.keepalive.outstanding {
            Some((_, deadline)) => Some(deadline),
            None => self.keepalive.next_ping_at,
        };
        let actions = self
            .in_flight
            .values()
            .map(|p| p.deadline)
            .chain(self.queued.iter().map(|q| q.deadline))
            .min();
        [phase, keepalive, actions].into_iter().flatten().min()
    }

    /// The next delay before reconnecting (long after a rejected login).
    pub fn reconnect_delay(&mut self) -> Duration {
        if self.last_failure_was_auth {
            self.auth_failure_backoff
        } else {
            self.backoff.next_delay()
        }
    }

    /// Bytes to write to the socket, if any.
    pub fn poll_transmit(&mut self) -> Option<BytesMut> {
        if self.outbox.is_empty() {
            None
        } else {
            Some(self.outbox.split())
        }
    }

    /// The next output for the driver.
    pub fn poll_output(&mut self) -> Option<Output<T>> {
        self.outputs.pop_front()
    }

    /// Moves the events received so far into `out` (appending, in order).
    pub fn take_events(&mut self, out: &mut Vec<Event>) {
        if out.is_empty() {
            std::mem::swap(out, &mut self.events);
        } else {
            out.append(&mut self.events);
        }
    }

    /// Whether events are waiting in [`Protocol::take_events`].
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.state != state {
            self.state = state.clone();
            self.outputs.push_back(Output::State(state));
        }
    }

    fn allocate_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn format_id(&self, id: u64) -> String {
        format!("{}{id}", self.id_prefix)
    }

    /// The number of one of our ActionIDs.
    fn parse_id(&self, action_id: Option<&str>) -> Option<u64> {
        action_id?
            .strip_prefix(self.id_prefix.as_str())?
            .parse()
            .ok()
    }

    /// Writes an action of the client itself (login, ping, filters, logoff).
    fn send_internal(&mut self, message: Message) -> u64 {
        let id = self.allocate_id();
        let action_id = self.format_id(id);
        if let Err(e) = codec::encode_with_action_id(&message, &action_id, &mut self.outbox) {
            // Only a user-configured value (user name, filter) can be unencodable.
            tracing::warn!(error = %e, "AMI: cannot send internal action");
        }
        id
    }

    fn send_user_action(&mut self, q: Queued<T>) {
        let id = self.allocate_id();
        let action_id = self.format_id(id);
        if let Err(e) = codec::encode_with_action_id(&q.message, &action_id, &mut self.outbox) {
            self.outputs.push_back(Output::Reply {
                reply: q.reply,
                result: Err(Error::InvalidAction(e)),
            });
            return;
        }
        if q.want_list {
            self.lists_in_flight += 1;
        }
        self.in_flight.insert(
            id,
            Pending {
                reply: q.reply,
                action: q.action,
                timeout: q.timeout,
                deadline: q.deadline,
                want_list: q.want_list,
                list: None,
            },
        );
    }

    fn remove_in_flight(&mut self, id: u64) -> Option<Pending<T>> {
        let pending = self.in_flight.remove(&id)?;
        if pending.want_list {
            self.lists_in_flight -= 1;
        }
        Some(pending)
    }

    fn promote_queued(&mut self) {
        while self.phase == SessionPhase::LoggedIn && self.in_flight.len() < self.max_in_flight {
            match self.queued.pop_front() {
                Some(q) => self.send_user_action(q),
                None => break,
            }
        }
    }

    fn fail_all(&mut self, error: impl Fn() -> Error) {
        let ids: Vec<u64> = self.in_flight.keys().copied().collect();
        for id in ids {
            if let Some(p) = self.remove_in_flight(id) {
                self.outputs.push_back(Output::Reply {
                    reply: p.reply,
                    result: Err(error()),
                });
            }
        }
        for q in std::mem::take(&mut self.queued) {
            self.outputs.push_back(Output::Reply {
                reply: q.reply,
                result: Err(error()),
            });
        }
    }

    fn go_offline(&mut self, reason: String, ask_driver_to_close: bool) {
        match self.phase {
            SessionPhase::Closed => return,
            // A connect attempt that failed: nothing to tear down, but the visible state must
            // say why instead of staying at `Connecting`.
            SessionPhase::Offline => {
                if !self.last_failure_was_auth {
                    self.set_state(ConnectionState::Disconnected { reason });
                }
                return;
            }
            SessionPhase::LoggingOff { .. } => {
                self.finish_close();
                return;
            }
            _ => {}
        }
        self.phase = SessionPhase::Offline;
        self.keepalive = Keepalive::default();
        self.fully_booted = false;
        let error_reason = reason.clone();
        self.fail_all(|| Error::Disconnected {
            reason: error_reason.clone(),
        });
        if !self.last_failure_was_auth {
            self.set_state(ConnectionState::Disconnected {
                reason: reason.clone(),
            });
        }
        if ask_driver_to_close {
            self.outputs.push_back(Output::Close { reason });
        }
    }

    fn finish_close(&mut self) {
        let was_online = self.is_online();
        self.fail_all(|| Error::Closed);
        self.phase = SessionPhase::Closed;
        self.fully_booted = false;
        self.set_state(ConnectionState::Closed);
        if was_online {
            self.outputs.push_back(Output::Close {
                reason: "client closed".to_owned(),
            });
        }
    }

    fn auth_failed(&mut self, message: String) {
        self.last_failure_was_auth = true;
        self.set_state(ConnectionState::AuthFailed {
            message: message.clone(),
        });
        self.go_offline(format!("authentication failed: {message}"), true);
    }

    fn handle_frame(&mut self, frame: Frame, now: Instant) {
        match frame {
            Frame::Banner(banner) => self.handle_banner(&banner),
            Frame::Message(message) => self.handle_message(message, now),
            Frame::Invalid(e) => {
                self.invalid_frames += 1;
                tracing::warn!(server = %self.server, error = %e, "AMI: skipped an invalid frame");
            }
        }
    }

    fn handle_banner(&mut self, banner: &str) {
        let SessionPhase::AwaitBanner { deadline } = self.phase else {
            return;
        };
        tracing::debug!(server = %self.server, banner, "AMI: connected");
        match self.auth {
            AuthMethod::Md5 => {
                let id = self.send_internal(
                    Message::new()
                        .with("Action", "Challenge")
                        .with("AuthType", "MD5"),
                );
                self.phase = SessionPhase::Challenge { id, deadline };
            }
            AuthMethod::Plain => {
                let login = Message::new()
                    .with("Action", "Login")
                    .with("Username", &self.username)
                    .with("Secret", &self.secret);
                self.send_login(login, deadline);
            }
        }
    }

    fn send_login(&mut self, login: Message, deadline: Instant) {
        let login = login.with("Events", self.events_mask.header_value());
        let id = self.send_internal(login);
        self.phase = SessionPhase::Login { id, deadline };
    }

    fn handle_message(&mut self, message: Message, now: Instant) {
        let Some((first, _)) = message.first() else {
            return;
        };
        if first.eq_ignore_ascii_case("Event") {
            self.handle_event(message);
        } else if first.eq_ignore_ascii_case("Response") {
            self.handle_response(Response::from_message(message), now);
        } else {
            tracing::debug!(server = %self.server, first, "AMI: ignored a message that is neither response nor event");
        }
    }

    fn handle_event(&mut self, message: Message) {
        if self.lists_in_flight > 0 {
            if let Some(id) = self.parse_id(message.action_id()) {
                if let Some(pending) = self.in_flight.get_mut(&id) {
                    if let Some(list) = pending.list.as_mut() {
                        let event = Event::new(self.server.clone(), message);
                        let complete = event
                            .get("EventList")
                            .is_some_and(|v| v.eq_ignore_ascii_case("Complete"));
                        if !complete {
                            list.items.push(event);
                            return;
                        }
                        if let Some(p) = self.remove_in_flight(id) {
                            let list = p.list.unwrap_or_else(|| ListProgress {
                                response: Response::from_message(Message::new()),
                                items: Vec::new(),
                            });
                            self.outputs.push_back(Output::Reply {
                                reply: p.reply,
                                result: Ok(Reply::List(ListResult {
                                    response: list.response,
                                    items: list.items,
                                    complete: Some(event),
                                })),
                            });
                            self.promote_queued();
                        }
                        return;
                    }
                }
            }
        }
        let event = Event::new(self.server.clone(), message);
        // By name, not `typed()`: this runs for every event of a busy server.
        let name = event.name();
        if name.eq_ignore_ascii_case("FullyBooted") && self.phase == SessionPhase::LoggedIn {
            self.fully_booted = true;
        } else if name.eq_ignore_ascii_case("Shutdown") {
            self.fully_booted = false;
        }
        self.events.push(event);
    }

    fn handle_response(&mut self, response: Response, now: Instant) {
        let id = self.parse_id(response.action_id());
        match self.phase {
            SessionPhase::Challenge {
                id: expected,
                deadline,
            } if id == Some(expected) => {
                let challenge = response.get("Challenge").map(str::to_owned);
                match (response.is_success(), challenge) {
                    (true, Some(challenge)) => {
                        let key = md5_key(&challenge, &self.secret);
                        let login = Message::new()
                            .with("Action", "Login")
                            .with("AuthType", "MD5")
                            .with("Username", &self.username)
                            .with("Key", key);
                        self.send_login(login, deadline);
                    }
                    _ => self.auth_failed(
                        response
                            .message()
                            .unwrap_or("MD5 challenge refused")
                            .to_owned(),
                    ),
                }
                return;
            }
            SessionPhase::Login { id: expected, .. } if id == Some(expected) => {
                match response.message() {
                    _ if response.is_success() => self.logged_in(now),
                    // Not a credentials problem: the server refuses every action while it shuts
                    // down (main/manager.c). Reconnect at the normal pace, not after the long
                    // back-off of a rejected login, or a restart is noticed that much later.
                    Some(SHUTTING_DOWN) => {
                        self.last_failure_was_auth = false;
                        self.go_offline(format!("login refused: {SHUTTING_DOWN}"), true);
                    }
                    message => self.auth_failed(message.unwrap_or("login refused").to_owned()),
                }
                return;
            }
            SessionPhase::LoggingOff { id: expected, .. } if id == Some(expected) => {
                self.finish_close();
                return;
            }
            _ => {}
        }
        let Some(id) = id else {
            tracing::debug!(server = %self.server, "AMI: response without one of our ActionIDs");
            return;
        };
        if self
            .keepalive
            .outstanding
            .is_some_and(|(ping_id, _)| ping_id == id)
        {
            self.keepalive.outstanding = None;
            if !self.ping_interval.is_zero() {
                self.keepalive.next_ping_at = Some(now + self.ping_interval);
            }
            return;
        }
        let Some(pending) = self.in_flight.get_mut(&id) else {
            return;
        };
        let list_starts = pending.want_list
            && pending.list.is_none()
            && response
                .get("EventList")
                .is_some_and(|v| v.eq_ignore_ascii_case("start"));
        if list_starts {
            pending.list = Some(ListProgress {
                response,
                items: Vec::new(),
            });
            return;
        }
        if let Some(p) = self.remove_in_flight(id) {
            let result = if p.want_list {
                Reply::List(ListResult {
                    response,
                    items: Vec::new(),
                    complete: None,
                })
            } else {
                Reply::Response(response)
            };
            self.outputs.push_back(Output::Reply {
                reply: p.reply,
                result: Ok(result),
            });
        }
        self.promote_queued();
    }

    fn logged_in(&mut self, now: Instant) {
        self.phase = SessionPhase::LoggedIn;
        self.backoff.reset();
        for filter in self.filters.clone() {
            self.send_internal(
                Message::new()
                    .with("Action", "Filter")
                    .with("Operation", "Add")
                    .with("Filter", filter),
            );
        }
        if !self.ping_interval.is_zero() {
            self.keepalive.next_ping_at = Some(now + self.ping_interval);
        }
        self.set_state(ConnectionState::LoggedIn);
    }
}

/// `md5hex(challenge + secret)`, the `Key` of an MD5 login.
pub fn md5_key(challenge: &str, secret: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(challenge.as_bytes());
    hasher.update(secret.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
