//! The AMI server: the TCP accept loop and one session per connection (banner, login, actions,
//! event delivery), decoding client actions with ami-client's codec.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ami_client::codec::{encode_message, AmiCodec, Frame};
use ami_client::Message;
use bytes::BytesMut;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;
use tracing::{debug, info, warn};

use super::call::{parse_caller_id, parse_local_channel, OriginateRequest, OriginateTarget};
use super::classes::{ClassSet, EventClass};
use super::cli::{self, CliEffect};
use super::clock;
use super::config::AmiUser;
use super::core::{BusItem, Core, OriginateMode};
use super::event::{ack, error, AmiEvent, Headers};

/// The banner line of the captured Asterisk 22 (AMI version 11.0.0).
pub const BANNER: &str = "Asterisk Call Manager/11.0.0\r\n";

/// Lifecycle requests a session can make (`Command: core stop now`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleRequest {
    /// Stop for good.
    Stop,
    /// Restart (down briefly, then boot).
    Restart,
}

/// Starts the accept loop on an already bound listener; it ends when `stop` changes.
pub fn spawn_listener(
    core: Arc<Core>,
    listener: TcpListener,
    mut stop: watch::Receiver<u64>,
    lifecycle: tokio::sync::mpsc::UnboundedSender<LifecycleRequest>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        stop.mark_unchanged();
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    debug!("AMI listener stops");
                    return;
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let core = Arc::clone(&core);
                        let lifecycle = lifecycle.clone();
                        tokio::spawn(async move {
                            run_session(core, stream, peer, lifecycle).await;
                        });
                    }
                    Err(e) => {
                        // EMFILE and friends: back off a little instead of spinning.
                        warn!("AMI accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
            }
        }
    })
}

/// Actions that need the channel core (never answered during a core deadlock).
fn touches_core(action: &str) -> bool {
    [
        "corestatus",
        "coresettings",
        "coreshowchannels",
        "command",
        "originate",
        "hangup",
        "dahdishowstatus",
    ]
    .contains(&action)
}

/// The write permission an action needs (`None`: any logged-in user), as registered in
/// Asterisk 22; `Err(())` for an action the emulator does not know.
fn required_write(action: &str, has_dahdi: bool) -> Result<Option<ClassSet>, ()> {
    use EventClass::*;
    let classes = |list: &[EventClass]| Ok(Some(list.iter().copied().collect()));
    match action {
        "ping" | "logoff" | "login" | "challenge" | "events" => Ok(None),
        "corestatus" | "coresettings" | "coreshowchannels" => classes(&[System, Reporting]),
        "dahdishowstatus" if has_dahdi => classes(&[System, Reporting]),
        "command" => classes(&[Command]),
        "originate" => classes(&[Originate]),
        "hangup" => classes(&[System, Call]),
        "userevent" => classes(&[User]),
        _ => Err(()),
    }
}

fn is_true(value: Option<&str>) -> bool {
    matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("yes" | "true" | "y" | "t" | "1" | "on")
    )
}

/// `Events:` of Login / `EventMask:` of Events, as Asterisk's `set_eventmask` reads it.
fn parse_event_mask(value: Option<&str>) -> ClassSet {
    match value.map(str::trim) {
        None => ClassSet::all(),
        Some(v) if is_true(Some(v)) => ClassSet::all(),
        Some(v)
            if ["off", "no", "false", "n", "f", "0"]
                .iter()
                .any(|f| f.eq_ignore_ascii_case(v)) =>
        {
            ClassSet::none()
        }
        Some(v) => ClassSet::parse(v),
    }
}

fn md5_hex(input: &str) -> String {
    let digest = Md5::digest(input.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn ip_port(addr: SocketAddr) -> String {
    let family = if addr.is_ipv4() { "IPV4" } else { "IPV6" };
    format!("{family}/TCP/{}/{}", addr.ip(), addr.port())
}

/// What to do after an action.
enum Flow {
    Continue,
    Close,
}

struct Session {
    core: Arc<Core>,
    writer: OwnedWriteHalf,
    peer: SocketAddr,
    local: SocketAddr,
    serial: u64,
    user: Option<AmiUser>,
    events: ClassSet,
    challenge: Option<String>,
    /// Core-touching actions received during a core deadlock, answered when it clears.
    parked: VecDeque<Message>,
    lifecycle: tokio::sync::mpsc::UnboundedSender<LifecycleRequest>,
    out: BytesMut,
}

/// Keeps the session count right however a session ends.
struct SessionCount(Arc<Core>);

impl Drop for SessionCount {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn run_session(
    core: Arc<Core>,
    stream: TcpStream,
    peer: SocketAddr,
    lifecycle: tokio::sync::mpsc::UnboundedSender<LifecycleRequest>,
) {
    core.sessions.fetch_add(1, Ordering::Relaxed);
    let _count = SessionCount(Arc::clone(&core));
    let local = stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    let codec = AmiCodec::server().with_max_frame_len(core.config.max_frame_len);
    let mut frames = FramedRead::new(reader, codec);
    let mut bus = core.subscribe();
    let mut kill = core.kill_signal();
    kill.mark_unchanged();
    let mut faults = core.faults();
    let serial = core.next_session_serial();
    debug!(%peer, "AMI connection accepted");
    let mut session = Session {
        core: Arc::clone(&core),
        writer,
        peer,
        local,
        serial,
        user: None,
        events: ClassSet::none(),
        challenge: None,
        parked: VecDeque::new(),
        lifecycle,
        out: BytesMut::new(),
    };

    // A hung Asterisk accepts (the kernel does) but never even sends the banner.
    tokio::select! {
        _ = kill.changed() => return,
        _ = core.wait_not_hung() => {}
    }
    session.slow_down().await;
    session.out.extend_from_slice(BANNER.as_bytes());
    if !session.flush().await {
        return;
    }

    loop {
        let current = *faults.borrow_and_update();
        if !current.core_deadlock && !session.parked.is_empty() {
            let parked: Vec<Message> = session.parked.drain(..).collect();
            for action in parked {
                if let Flow::Close = session.handle(action, true).await {
                    return;
                }
            }
        }
        // A strict deadlock leaves a session that sent a core action stuck behind it.
        let stuck = current.deadlock_blocks_session && !session.parked.is_empty();
        let hung = current.hung || stuck;
        tokio::select! {
            biased;
            _ = kill.changed() => {
                debug!(%peer, "AMI connection dropped (crash)");
                return;
            }
            changed = faults.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            item = bus.recv(), if !hung => match item {
                Ok(BusItem::Event(event)) => {
                    if session.wants(&event) {
                        session.queue(&event.render(core.system_name()));
                        if !session.flush().await {
                            return;
                        }
                    }
                }
                Ok(BusItem::Close) => {
                    debug!(%peer, "AMI connection closed by shutdown");
                    let _ = session.writer.shutdown().await;
                    return;
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    if session.user.is_some() && !session.events.is_empty() {
                        warn!(%peer, missed, "AMI client fell too far behind the event stream; disconnecting it as Asterisk would");
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            frame = frames.next(), if !hung => match frame {
                None => {
                    debug!(%peer, "AMI client closed the connection");
                    return;
                }
                Some(Ok(Frame::Message(action))) => {
                    if let Flow::Close = session.handle(action, false).await {
                        return;
                    }
                }
                Some(Ok(Frame::Invalid(e))) => {
                    warn!(%peer, "ignoring an invalid frame from an AMI client: {e}");
                }
                Some(Ok(Frame::Banner(_))) => {}
                Some(Err(e)) => {
                    warn!(%peer, "AMI connection failed: {e}");
                    return;
                }
            },
        }
    }
}

impl Session {
    fn wants(&self, event: &AmiEvent) -> bool {
        let Some(user) = &self.user else {
            return false;
        };
        self.events.contains(event.class)
            && user.read.contains(event.class)
            && (user.event_filter.is_empty()
                || user
                    .event_filter
                    .iter()
                    .any(|f| event.name.starts_with(f.as_str())))
    }

    fn queue(&mut self, headers: &Headers) {
        let message: Message = headers.iter().collect();
        if let Err(e) = encode_message(&message, &mut self.out) {
            warn!(peer = %self.peer, "not sending an unencodable AMI message: {e}");
        }
    }

    async fn slow_down(&self) {
        if let Some(delay) = self.core.fault_set().slow {
            tokio::time::sleep(delay).await;
        }
    }

    /// Writes what is queued; `false` when the connection is gone or the client is too slow.
    async fn flush(&mut self) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let data = self.out.split();
        match tokio::time::timeout(self.core.config.write_timeout, self.writer.write_all(&data))
            .await
        {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                debug!(peer = %self.peer, "AMI write failed: {e}");
                false
            }
            Err(_) => {
                warn!(peer = %self.peer, timeout_ms = self.core.config.write_timeout.as_millis() as u64,
                    "AMI client does not read (write timeout); disconnecting it as Asterisk would");
                false
            }
        }
    }

    /// Queues a response after the slow-fault delay and writes it.
    async fn respond(&mut self, messages: &[Headers]) -> bool {
        self.slow_down().await;
        for m in messages {
            self.queue(m);
        }
        self.flush().await
    }

    /// Answers one action; `unparked` is set for an action that waited out a core deadlock.
    async fn handle(&mut self, action: Message, unparked: bool) -> Flow {
        let Some(name) = action.get("Action").map(str::to_owned) else {
            let id = action.action_id().map(str::to_owned);
            return self
                .finish(&[error(id.as_deref(), "Missing action in request")])
                .await;
        };
        let lower = name.to_ascii_lowercase();
        let id = action.action_id().map(str::to_owned);
        let id = id.as_deref();
        // main/manager.c checks this before anything else, the login included (fixtures 27, 28).
        if self.core.fault_set().shutting_down {
            return self.finish(&[error(id, "Asterisk is shutting down")]).await;
        }
        if self.user.is_none() && !["login", "logoff", "challenge"].contains(&lower.as_str()) {
            return self.finish(&[error(id, "Permission denied")]).await;
        }
        let has_dahdi = !self.core.config.spans.is_empty();
        let required = match required_write(&lower, has_dahdi) {
            Ok(r) => r,
            Err(()) => {
                let text = format!(
                    "Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."
                );
                return self.finish(&[error(id, &text)]).await;
            }
        };
        if let (Some(required), Some(user)) = (required, &self.user) {
            if !user.write.intersects(required) {
                return self.finish(&[error(id, "Permission denied")]).await;
            }
        }
        let deadlocked = self.core.fault_set().core_deadlock;
        if touches_core(&lower) && (deadlocked || (!unparked && !self.parked.is_empty())) {
            debug!(peer = %self.peer, action = %name, "core deadlocked: action parked, never answered while it lasts");
            self.parked.push_back(action);
            return Flow::Continue;
        }
        match lower.as_str() {
            "login" => self.login(&action, id).await,
            "challenge" => {
                if !action
                    .get("AuthType")
                    .is_some_and(|t| t.eq_ignore_ascii_case("md5"))
                {
                    return self.finish(&[error(id, "Must specify AuthType")]).await;
                }
                let challenge = self
                    .challenge
                    .get_or_insert_with(|| {
                        self.core.config.fixed_challenge.clone().unwrap_or_else(|| {
                            let nanos = clock::since_epoch(SystemTime::now()).subsec_nanos();
                            (u64::from(nanos) * 7919 % 1_000_000_000).to_string()
                        })
                    })
                    .clone();
                let response = Headers::new()
                    .with("Response", "Success")
                    .with_action_id(id)
                    .with("Challenge", challenge);
                self.finish(&[response]).await
            }
            "logoff" => {
                let bye = Headers::new()
                    .with("Response", "Goodbye")
                    .with_action_id(id)
                    .with("Message", "Thanks for all the fish.");
                self.respond(&[bye]).await;
                let _ = self.writer.shutdown().await;
                Flow::Close
            }
            "ping" => {
                let pong = Headers::new()
                    .with("Response", "Success")
                    .with_action_id(id)
                    .with("Ping", "Pong")
                    .with("Timestamp", clock::epoch_micros(SystemTime::now()));
                self.finish(&[pong]).await
            }
            "events" => {
                let mask = parse_event_mask(action.get("EventMask"));
                let read = self.user.as_ref().map_or(ClassSet::none(), |u| u.read);
                self.events = mask.intersection(read);
                let state = if self.events.is_empty() { "Off" } else { "On" };
                let response = Headers::new()
                    .with("Response", "Success")
                    .with_action_id(id)
                    .with("Events", state);
                self.finish(&[response]).await
            }
            "corestatus" => {
                let up = self.core.uptime();
                let counts = self.core.counts();
                let response = Headers::new()
                    .with("Response", "Success")
                    .with_action_id(id)
                    .with("CoreStartupDate", clock::date(up.started))
                    .with("CoreStartupTime", clock::time_of_day(up.started))
                    .with("CoreReloadDate", clock::date(up.reloaded))
                    .with("CoreReloadTime", clock::time_of_day(up.reloaded))
                    .with("CoreCurrentCalls", counts.calls.to_string())
                    .with("CoreProcessedCalls", counts.processed.to_string());
                self.finish(&[response]).await
            }
            "coresettings" => {
                let response = Headers::new()
                    .with("Response", "Success")
                    .with_action_id(id)
                    .with("AMIversion", "11.0.0")
                    .with("AsteriskVersion", "22.10.1")
                    .with("SystemName", self.core.system_name())
                    .with("CoreMaxCalls", "0")
                    .with("CoreMaxLoadAvg", "0.000000")
                    .with("CoreRunUser", "")
                    .with("CoreRunGroup", "")
                    .with("CoreMaxFilehandles", "0")
                    .with("CoreRealTimeEnabled", "No")
                    .with("CoreCDRenabled", "No")
                    .with("CoreHTTPenabled", "No")
                    .with("SoundsSearchCustomDir", "No");
                self.finish(&[response]).await
            }
            "coreshowchannels" => {
                let now = std::time::Instant::now();
                let channels = self.core.channels();
                let mut out = vec![Headers::new()
                    .with("Response", "Success")
                    .with_action_id(id)
                    .with("EventList", "start")
                    .with("Message", "Channels will follow")];
                for c in &channels {
                    out.push(c.core_show_channel(id, now));
                }
                out.push(
                    Headers::new()
                        .with("Event", "CoreShowChannelsComplete")
                        .with_action_id(id)
                        .with("EventList", "Complete")
                        .with("ListItems", channels.len().to_string()),
                );
                self.finish(&out).await
            }
            "dahdishowstatus" => self.dahdi_show_status(id).await,
            "command" => {
                let Some(command) = action.get("Command").map(str::to_owned) else {
                    return self.finish(&[error(id, "No command provided")]).await;
                };
                let output = cli::run(&self.core, &command);
                let mut response = Headers::new()
                    .with("Response", if output.success { "Success" } else { "Error" })
                    .with_action_id(id)
                    .with("Message", "Command output follows");
                for line in &output.lines {
                    response.push("Output", line.as_str());
                }
                let flow = self.finish(&[response]).await;
                if let Some(effect) = output.then {
                    info!(peer = %self.peer, command = %command, "CLI lifecycle command over AMI");
                    let _ = self.lifecycle.send(match effect {
                        CliEffect::Stop => LifecycleRequest::Stop,
                        CliEffect::Restart => LifecycleRequest::Restart,
                    });
                }
                flow
            }
            "originate" => self.originate(&action, id).await,
            "hangup" => {
                let Some(channel) = action.get("Channel").map(str::to_owned) else {
                    return self.finish(&[error(id, "No channel specified")]).await;
                };
                if self.core.hangup_channel(&channel) {
                    self.finish(&[ack(id, "Channel Hungup")]).await
                } else {
                    self.finish(&[error(id, "No such channel")]).await
                }
            }
            "userevent" => {
                let Some(event_name) = action.get("UserEvent").map(str::to_owned) else {
                    return self.finish(&[error(id, "Missing UserEvent")]).await;
                };
                let mut body = Headers::new().with("UserEvent", event_name);
                for (k, v) in action.iter() {
                    if !k.eq_ignore_ascii_case("Action") && !k.eq_ignore_ascii_case("UserEvent") {
                        body.push(k, v);
                    }
                }
                let flow = self.finish(&[ack(id, "Event Sent")]).await;
                self.core
                    .publish(vec![AmiEvent::new("UserEvent", EventClass::User, body)]);
                flow
            }
            _ => {
                let text = format!(
                    "Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."
                );
                self.finish(&[error(id, &text)]).await
            }
        }
    }

    async fn finish(&mut self, messages: &[Headers]) -> Flow {
        if self.respond(messages).await {
            Flow::Continue
        } else {
            Flow::Close
        }
    }

    async fn login(&mut self, action: &Message, id: Option<&str>) -> Flow {
        if self.user.is_some() {
            return self.finish(&[ack(id, "Already authenticated")]).await;
        }
        let username = action.get("Username").unwrap_or("");
        let user = self.core.config.user(username).cloned();
        let authenticated = user.as_ref().is_some_and(|u| {
            if action
                .get("AuthType")
                .is_some_and(|t| t.eq_ignore_ascii_case("md5"))
            {
                match (&self.challenge, action.get("Key")) {
                    (Some(challenge), Some(key)) => {
                        md5_hex(&format!("{challenge}{}", u.secret)).eq_ignore_ascii_case(key)
                    }
                    _ => false,
                }
            } else {
                action.get("Secret") == Some(u.secret.as_str())
            }
        });
        let Some(user) = user.filter(|_| authenticated) else {
            info!(peer = %self.peer, username, "AMI login failed; answering after the failure delay, then closing");
            tokio::time::sleep(self.core.config.auth_failure_delay).await;
            self.respond(&[error(id, "Authentication failed")]).await;
            let _ = self.writer.shutdown().await;
            return Flow::Close;
        };
        info!(peer = %self.peer, username, "AMI login accepted");
        self.events = parse_event_mask(action.get("Events")).intersection(user.read);
        let mut out = vec![ack(id, "Authentication accepted")];
        let wants_system = self.events.contains(EventClass::System)
            && (user.event_filter.is_empty()
                || user.event_filter.iter().any(|f| f == "FullyBooted"));
        if self.core.is_booted() && wants_system {
            // The per-session FullyBooted: no SystemName, Uptime first (fixture 18).
            let up = self.core.uptime();
            let reload = up.reloaded.elapsed().map(|d| d.as_secs()).unwrap_or(0);
            out.push(
                Headers::new()
                    .with("Event", "FullyBooted")
                    .with("Privilege", "system,all")
                    .with("Uptime", up.seconds.to_string())
                    .with("LastReload", reload.to_string())
                    .with("Status", "Fully Booted"),
            );
        }
        self.user = Some(user.clone());
        let flow = self.finish(&out).await;
        let now = SystemTime::now();
        let body = Headers::new()
            .with("EventTV", clock::iso_millis(now))
            .with("Severity", "Informational")
            .with("Service", "AMI")
            .with("EventVersion", "1")
            .with("AccountID", user.name.as_str())
            .with(
                "SessionID",
                format!("0x7f{:010x}", 0xb5_5802_5910_u64 ^ (self.serial << 4)),
            )
            .with("LocalAddress", ip_port(self.local))
            .with("RemoteAddress", ip_port(self.peer))
            .with("UsingPassword", "0")
            .with("SessionTV", clock::iso_millis(now));
        self.core.publish(vec![AmiEvent::new(
            "SuccessfulAuth",
            EventClass::Security,
            body,
        )]);
        flow
    }

    async fn originate(&mut self, action: &Message, id: Option<&str>) -> Flow {
        let Some(channel) = action.get("Channel").map(str::to_owned) else {
            return self.finish(&[error(id, "Channel not specified")]).await;
        };
        let target = match action.get("Application") {
            Some(app) if !app.is_empty() => OriginateTarget::Application {
                app: app.to_owned(),
                data: action.get("Data").unwrap_or("").to_owned(),
            },
            _ => OriginateTarget::Dialplan {
                context: action.get("Context").unwrap_or("default").to_owned(),
                exten: action.get("Exten").unwrap_or("s").to_owned(),
                priority: action.get("Priority").unwrap_or("1").to_owned(),
            },
        };
        let caller = action.get("CallerID").map(parse_caller_id);
        let variables = action
            .get_all("Variable")
            .filter_map(|v| v.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
            .collect();
        let asynchronous = is_true(action.get("Async"));
        let Some((exten, context)) = parse_local_channel(&channel) else {
            // Unknown or unemulated technology: the channel cannot even be allocated.
            if !asynchronous {
                return self.finish(&[error(id, "Originate failed")]).await;
            }
            let flow = self
                .finish(&[ack(id, "Originate successfully queued")])
                .await;
            let mut body = Headers::new().with_action_id(id);
            body.push("Response", "Failure");
            body.push("Channel", channel.as_str());
            match &target {
                OriginateTarget::Application { app, data } => {
                    body.push("Application", app.as_str());
                    body.push("Data", data.as_str());
                }
                OriginateTarget::Dialplan { context, exten, .. } => {
                    body.push("Context", context.as_str());
                    body.push("Exten", exten.as_str());
                }
            }
            body.push("Reason", "0");
            body.push("Uniqueid", "<unknown>");
            let (num, name) = caller.unwrap_or(("<unknown>".to_owned(), "<unknown>".to_owned()));
            body.push("CallerIDNum", num);
            body.push("CallerIDName", name);
            self.core.publish(vec![AmiEvent::new(
                "OriginateResponse",
                EventClass::Call,
                body,
            )]);
            return flow;
        };
        let request = OriginateRequest {
            action_id: id.map(str::to_owned),
            channel: channel.split('/').take(2).collect::<Vec<_>>().join("/"),
            exten,
            context,
            target,
            caller,
            variables,
        };
        if asynchronous {
            // The response goes out before the first channel event, as in fixture 10.
            let flow = self
                .finish(&[ack(id, "Originate successfully queued")])
                .await;
            self.core.originate(request, OriginateMode::Async);
            flow
        } else {
            let (tx, rx) = oneshot::channel();
            self.core.originate(request, OriginateMode::Sync(tx));
            match rx.await {
                Ok(true) => {
                    self.finish(&[ack(id, "Originate successfully queued")])
                        .await
                }
                _ => self.finish(&[error(id, "Originate failed")]).await,
            }
        }
    }

    async fn dahdi_show_status(&mut self, id: Option<&str>) -> Flow {
        let spans = self.core.config.spans.clone();
        let mut out = vec![Headers::new()
            .with("Response", "Success")
            .with_action_id(id)
            .with("EventList", "start")
            .with("Message", "All active spans will follow")];
        for span in &spans {
            let alarms = if self.core.span_in_alarm(span.span) {
                "RED"
            } else {
                "OK"
            };
            out.push(
                Headers::new()
                    .with("Event", "DAHDIShowStatus")
                    .with_action_id(id)
                    .with("Span", span.span.to_string())
                    .with("Description", span.description.as_str())
                    .with("Alarms", alarms)
                    .with("IRQ", "0")
                    .with("bpviol", "0")
                    .with("CRC", "0")
                    .with("Framing", "CCS")
                    .with("Coding", "HDB3")
                    .with("Options", "")
                    .with("LBO", "0 db (CSU)/0-133 feet (DSX-1)"),
            );
        }
        out.push(
            Headers::new()
                .with("Event", "DAHDIShowStatusComplete")
                .with_action_id(id)
                .with("EventList", "Complete")
                .with("ListItems", spans.len().to_string())
                .with("Items", spans.len().to_string()),
        );
        self.finish(&out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_key_of_fixture_03() {
        // Fixture 03: Challenge 572601176, secret hasecret.
        assert_eq!(
            md5_hex("572601176hasecret"),
            "4df5dbab5efd1362f2860b07b3754ddd"
        );
    }

    #[test]
    fn event_masks_like_set_eventmask() {
        assert_eq!(parse_event_mask(None), ClassSet::all());
        assert_eq!(parse_event_mask(Some("on")), ClassSet::all());
        assert!(parse_event_mask(Some("off")).is_empty());
        assert!(parse_event_mask(Some("system,call")).contains(EventClass::Call));
    }
}
