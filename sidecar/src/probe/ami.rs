//! AMI probes over one persistent ami-client connection: Ping, core responsiveness, call path, span alarms; and the lifecycle signal pump.

use std::collections::BTreeSet;
use std::time::Duration;

use ami_client::{Action, Client, ClientConfig, ConnectionState, EventMask, KnownEvent, RecvError};
use tokio::sync::{mpsc, watch};

use crate::config::{AmiEndpoint, CoreMethod, ProbesConfig};

use super::runner::TargetSignal;
use super::{ProbeError, ProbeKind};

/// How long a probe waits for a connection attempt in progress (a LAN connect and login take
/// milliseconds; this only has to cover start-up).
const CONNECT_GRACE: Duration = Duration::from_millis(300);

/// The channel variable carrying the test call's token, and the marker the dialplan's last
/// step emits with it (`UserEvent(HAProbe,Probe: ${HA_PROBE_ID})`, dialplan/extensions_astha.conf).
pub const PROBE_ID_VARIABLE: &str = "HA_PROBE_ID";
pub const PROBE_MARKER_EVENT: &str = "HAProbe";
pub const PROBE_MARKER_HEADER: &str = "Probe";
/// Set to `yes` for the quick variant the takeover's final check places.
pub const PROBE_QUICK_VARIABLE: &str = "HA_PROBE_QUICK";

/// How long after the test call's channel hung up its marker may still arrive (events of the
/// two halves of a Local channel are not strictly ordered).
const MARKER_GRACE: Duration = Duration::from_millis(250);

const NO_MARKER: &str = "the call ended without the HAProbe marker: the probe dialplan did not \
     run to its end (an application not loaded, a sound file missing? see the Asterisk log)";

/// One answer of Asterisk to an action of the probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// When the action was sent.
    pub sent: std::time::Instant,
    /// When its answer was heard.
    pub heard: std::time::Instant,
}

/// The AMI side of one target's probes.
#[derive(Debug, Clone)]
pub struct AmiProbes {
    client: Client,
    /// A second connection for bulky actions that are not probes (the call count's
    /// `CoreShowChannels`), opened on first use. Asterisk runs one session's actions one after
    /// the other: on the probe connection, listing 400 channels of a loaded server kept the
    /// liveness ping waiting for over a second (a false failover, measured under load).
    bulk: std::sync::Arc<std::sync::OnceLock<Client>>,
    bulk_config: ClientConfig,
    /// Counts the answers Asterisk gave to any action of these probes (a response, even a
    /// refusal): every one is a sign of life, before the probe that sent it has its outcome (a
    /// test call ends seconds after its Originate is answered). See `spawn_signal_pump`.
    answers: std::sync::Arc<watch::Sender<Option<Answer>>>,
    core_method: CoreMethod,
    channel: String,
    ping_timeout: Duration,
    core_timeout: Duration,
    call_timeout: Duration,
    spans_timeout: Duration,
}

impl AmiProbes {
    /// Starts the persistent connection (it reconnects by itself). Must run inside tokio.
    pub fn connect(endpoint: &AmiEndpoint, name: &str, probes: &ProbesConfig) -> Self {
        let mut config = ClientConfig::new(
            endpoint.address.to_string(),
            endpoint.username.clone(),
            endpoint.secret.expose(),
        );
        config.server_name = name.to_string();
        // Only the classes the sidecar reads: lifecycle and alarms (system), the test call's
        // OriginateResponse/Hangup (call), and the dialplan's HAFailover UserEvent (user, for the
        // daemon through `client().subscribe()`). A busy Asterisk's dialplan/CDR floods stay out.
        config.events = EventMask::Classes(vec!["system".into(), "call".into(), "user".into()]);
        // The ping probe is the keepalive; a second ping loop would only add load.
        config.ping_interval = Duration::ZERO;
        config.connect_timeout = Duration::from_secs(2);
        // Come back quickly after a restart, so recovery is seen within seconds.
        config.reconnect_backoff_max = Duration::from_secs(2);
        config.auth_failure_backoff = Duration::from_secs(10);
        config.action_id_prefix = "astha-".into();
        // The monitor judges each run's deadline (moved for astha's own lag, the local
        // Asterisk's starvation and, for the ping, every answer heard); the AMI client's timeout
        // is only the backstop that frees an action nobody waits for any more, after the latest
        // deadline the monitor may set.
        let timeout = |k: ProbeKind| super::runner::run_backstop(probes.timing(k).timeout);
        let mut bulk_config = config.clone();
        bulk_config.server_name = format!("{name} (bulk)");
        bulk_config.events = EventMask::Off;
        AmiProbes {
            client: Client::connect(config),
            bulk: std::sync::Arc::default(),
            bulk_config,
            answers: std::sync::Arc::new(watch::channel(None).0),
            core_method: probes.core_method,
            channel: format!("Local/{}@{}", probes.call_exten, probes.call_context),
            ping_timeout: timeout(ProbeKind::Ping),
            core_timeout: timeout(ProbeKind::Core),
            call_timeout: timeout(ProbeKind::Call),
            spans_timeout: timeout(ProbeKind::Spans),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The connection for bulky actions that are not probes (see `bulk`), without events.
    /// Must be called inside tokio (the first call connects).
    pub fn bulk_client(&self) -> &Client {
        self.bulk
            .get_or_init(|| Client::connect(self.bulk_config.clone()))
    }

    /// Waits for the first login (for one-shot checks), with the AMI error as a probe error.
    pub async fn wait_logged_in(&self, timeout: Duration) -> Result<(), ProbeError> {
        self.client
            .wait_logged_in(timeout)
            .await
            .map_err(|e| ProbeError::NotConnected(e.to_string()))
    }

    /// Runs one AMI probe.
    pub async fn run(&self, kind: ProbeKind) -> Result<(), ProbeError> {
        self.settled().await?;
        match kind {
            ProbeKind::Ping => self.ping().await,
            ProbeKind::Core => self.core().await,
            ProbeKind::Call => self.call(false).await,
            ProbeKind::Spans => self.spans().await,
            other => Err(ProbeError::NotConnected(format!(
                "{other} is not an AMI probe"
            ))),
        }
    }

    /// Waits briefly while a connection attempt is under way, so that a probe started during
    /// the first connect (at daemon start) is not judged on a connection that had no chance;
    /// fails at once when there is no connection. The wait is bounded by `CONNECT_GRACE`
    /// because the client may stay in `Connecting` across failed reconnect attempts.
    async fn settled(&self) -> Result<(), ProbeError> {
        let mut state = self.client.state();
        let wait = async {
            loop {
                let current = state.borrow_and_update().clone();
                match current {
                    ConnectionState::LoggedIn => return Ok(()),
                    ConnectionState::Connecting | ConnectionState::LoggingIn => {}
                    other => return Err(ProbeError::NotConnected(other.to_string())),
                }
                if state.changed().await.is_err() {
                    return Err(ProbeError::NotConnected("AMI client closed".into()));
                }
            }
        };
        match tokio::time::timeout(CONNECT_GRACE, wait).await {
            Ok(result) => result,
            Err(_) => Err(ProbeError::NotConnected(
                self.client.state().borrow().to_string(),
            )),
        }
    }

    async fn ping(&self) -> Result<(), ProbeError> {
        let sent = sent_now();
        let response = self
            .client
            .send(Action::ping().timeout(self.ping_timeout))
            .await
            .map_err(ami_error)?;
        self.answered(sent);
        if response.is_success() {
            Ok(())
        } else {
            Err(refusal(&response, "Ping refused", ProbeError::Refused))
        }
    }

    /// A deadlocked core leaves Ping answered but never answers these.
    async fn core(&self) -> Result<(), ProbeError> {
        let action = match self.core_method {
            CoreMethod::CoreStatus => Action::new("CoreStatus"),
            CoreMethod::ChannelsCount => Action::command("core show channels count"),
        };
        let sent = sent_now();
        let response = self
            .client
            .send(action.timeout(self.core_timeout))
            .await
            .map_err(ami_error)?;
        self.answered(sent);
        if response.is_success() {
            Ok(())
        } else {
            // e.g. "Permission denied" for a user without the `reporting`/`command` class.
            Err(refusal(
                &response,
                "core action refused",
                ProbeError::Refused,
            ))
        }
    }

    /// Runs the test call's quick variant (the takeover's final check): the same extension
    /// and marker with `HA_PROBE_QUICK=yes`, which the shipped dialplan answers without its
    /// media steps (milliseconds instead of about 1.5 s on a real Asterisk).
    pub async fn quick_call(&self) -> Result<(), ProbeError> {
        self.settled().await?;
        self.call(true).await
    }

    /// Async Originate of the probe extension with `HA_PROBE_ID` set to a fresh token; success
    /// is the dialplan's last step, the `UserEvent` `HAProbe` carrying that token. A call that
    /// is answered and hangs up without it failed: its dialplan did not run to its end (an
    /// application not loaded, a sound file missing, a priority removed).
    async fn call(&self, quick: bool) -> Result<(), ProbeError> {
        // Subscribe first: the events may come before the queued response is read.
        let mut events = self.client.subscribe();
        let token = super::unique::unique_token();
        let mut action = Action::new("Originate")
            .header("Channel", &self.channel)
            // Wait bounds the channel's life even if the probe extension never hangs up.
            .header("Application", "Wait")
            .header("Data", (self.call_timeout.as_secs() + 1).to_string())
            .header("Async", "true")
            .header("Timeout", self.call_timeout.as_millis().to_string())
            .header("CallerID", "astha probe <probe>")
            .header("Variable", format!("{PROBE_ID_VARIABLE}={token}"));
        if quick {
            action = action.header("Variable", format!("{PROBE_QUICK_VARIABLE}=yes"));
        }
        let sent = sent_now();
        let response = self
            .client
            .send(action.timeout(self.call_timeout))
            .await
            .map_err(ami_error)?;
        self.answered(sent);
        if !response.is_success() {
            return Err(refusal(
                &response,
                "Originate refused",
                ProbeError::CallFailed,
            ));
        }
        let action_id = response.action_id().map(str::to_string);
        let mut uniqueid: Option<String> = None;
        // Hangups seen before the OriginateResponse (event order varies), by Uniqueid.
        let mut early_hangups: BTreeSet<String> = BTreeSet::new();
        // Once our channel hung up, a marker still in flight gets a short grace.
        let mut ended: Option<tokio::time::Instant> = None;
        // A failed OriginateResponse is no verdict by itself: a call the dialplan ends without
        // answering it (the quick variant) reports one too, just before its marker (fixture 25).
        let mut originate_failure: Option<String> = None;
        loop {
            let next = match ended {
                Some(at) => match tokio::time::timeout_at(at + MARKER_GRACE, events.recv()).await {
                    Ok(event) => event,
                    Err(_) => {
                        return Err(ProbeError::CallFailed(
                            originate_failure.unwrap_or_else(|| NO_MARKER.into()),
                        ))
                    }
                },
                None => events.recv().await,
            };
            let event = match next {
                Ok(e) => e,
                Err(RecvError::Lagged { .. }) => continue,
                Err(RecvError::Closed) => {
                    return Err(ProbeError::NotConnected("AMI client closed".into()))
                }
            };
            match event.typed() {
                KnownEvent::UserEvent(u)
                    if u.user_event == Some(PROBE_MARKER_EVENT)
                        && u.message.get(PROBE_MARKER_HEADER) == Some(token.as_str()) =>
                {
                    return Ok(());
                }
                KnownEvent::OriginateResponse(o)
                    if o.action_id.is_some() && o.action_id == action_id.as_deref() =>
                {
                    if !o.success {
                        let reason = o
                            .reason
                            .map(|r| format!(" (reason {r})"))
                            .unwrap_or_default();
                        originate_failure = Some(format!(
                            "OriginateResponse {}{reason} and no HAProbe marker",
                            o.response.unwrap_or("Failure")
                        ));
                        ended.get_or_insert_with(tokio::time::Instant::now);
                        continue;
                    }
                    let id = o.uniqueid.unwrap_or_default().to_string();
                    if early_hangups.contains(&id) {
                        ended.get_or_insert_with(tokio::time::Instant::now);
                    }
                    uniqueid = Some(id);
                }
                KnownEvent::Hangup(h) => {
                    let Some(id) = h.uniqueid else { continue };
                    match &uniqueid {
                        Some(ours) if ours == id => {
                            ended.get_or_insert_with(tokio::time::Instant::now);
                        }
                        Some(_) => {}
                        None => {
                            if h.channel.is_some_and(|c| c.starts_with(&self.channel)) {
                                early_hangups.insert(id.to_string());
                            }
                        }
                    }
                }
                KnownEvent::Shutdown(s) => {
                    return Err(ProbeError::ShutDown {
                        restart: s.restart.unwrap_or(false),
                    })
                }
                _ => {}
            }
        }
    }

    /// `DAHDIShowStatus`: any span whose `Alarms` is not `OK` is an alarm. Without chan_dahdi
    /// the action is unknown: no spans, nothing in alarm.
    async fn spans(&self) -> Result<(), ProbeError> {
        let sent = sent_now();
        let list = self
            .client
            .send_list(Action::new("DAHDIShowStatus").timeout(self.spans_timeout))
            .await
            .map_err(ami_error)?;
        self.answered(sent);
        if !list.response.is_success() {
            let message = list.response.message().unwrap_or_default();
            if message.contains("Invalid/unknown command") {
                return Ok(());
            }
            return Err(refusal(&list.response, "", ProbeError::Refused));
        }
        let alarms: Vec<String> = list
            .items
            .iter()
            .filter_map(|span| {
                let alarm = span.get("Alarms").unwrap_or("OK").trim();
                (!alarm.eq_ignore_ascii_case("OK") && !alarm.eq_ignore_ascii_case("UNCONFIGURED"))
                    .then(|| format!("span {} {alarm}", span.get("Span").unwrap_or("?")))
            })
            .collect();
        if alarms.is_empty() {
            Ok(())
        } else {
            Err(ProbeError::Alarm(alarms.join(", ")))
        }
    }

    /// The urgent check of a silent peer's Asterisk: a ping, judged on the silence of the whole
    /// connection. The regular pings (every 250 ms) were already probing before the peer went
    /// quiet, so the silence is counted from the sending of the last action Asterisk answered,
    /// not from this ping: it is alive if anything is answered after the check starts, failed
    /// once nothing has been for `window` since that last answered action (and never sooner
    /// than `floor` after this ping, so that it has had a fair chance). Time astha itself was not
    /// running is given back ([`super::lag::sleep_running`]).
    pub async fn urgent_ping(&self, window: Duration, floor: Duration) -> bool {
        let started = tokio::time::Instant::now();
        let mut answers = self.answers.subscribe();
        let last_answered = answers
            .borrow_and_update()
            .map(|a| tokio::time::Instant::from_std(a.sent));
        let deadline = (started + floor).max(last_answered.unwrap_or(started) + window);
        tokio::select! {
            // A refusal is an answer too: the node is up (a shutdown is the monitor's to judge).
            result = self.run(ProbeKind::Ping) => result.err().is_none_or(|e| e.is_answer()),
            changed = answers.changed() => changed.is_ok(),
            () = super::lag::sleep_running(deadline) => false,
        }
    }

    /// When the last action Asterisk answered was sent (None before any answer).
    pub fn last_answered(&self) -> Option<std::time::Instant> {
        self.answers.borrow().map(|a| a.sent)
    }

    /// Every answer Asterisk gives to an action of these probes, as it is heard.
    pub fn answers(&self) -> watch::Receiver<Option<Answer>> {
        self.answers.subscribe()
    }

    /// Waits up to `timeout` for Asterisk to answer any action of these probes: whether it did.
    pub async fn answers_again(&self, timeout: Duration) -> bool {
        let mut answers = self.answers.subscribe();
        answers.borrow_and_update();
        tokio::time::timeout(timeout, answers.changed())
            .await
            .is_ok_and(|changed| changed.is_ok())
    }

    /// Asterisk answered an action sent at `sent`: a sign of life for the monitor (see
    /// `TargetSignal::Answered`).
    fn answered(&self, sent: std::time::Instant) {
        let heard = sent_now();
        self.answers.send_replace(Some(Answer { sent, heard }));
    }

    /// Forwards the connection state, every answer to an action and the lifecycle/alarm events
    /// to a monitor as signals.
    /// Ends when the client closes or the receiver is dropped.
    pub fn spawn_signal_pump(
        &self,
        signals: mpsc::UnboundedSender<TargetSignal>,
    ) -> tokio::task::JoinHandle<()> {
        let mut state = self.client.state();
        let mut events = self.client.subscribe();
        let mut answers = self.answers.subscribe();
        tokio::spawn(async move {
            let mut alarmed: BTreeSet<String> = BTreeSet::new();
            let mut was_logged_in = false;
            loop {
                let signal = tokio::select! {
                    changed = state.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let now = state.borrow_and_update().clone();
                        match now {
                            ConnectionState::LoggedIn => {
                                was_logged_in = true;
                                Some(TargetSignal::AmiConnected)
                            }
                            ConnectionState::Disconnected { reason } if was_logged_in => {
                                was_logged_in = false;
                                Some(TargetSignal::AmiDisconnected(reason))
                            }
                            ConnectionState::AuthFailed { message } => {
                                was_logged_in = false;
                                Some(TargetSignal::AmiDisconnected(format!("authentication failed: {message}")))
                            }
                            ConnectionState::Closed => return,
                            _ => None,
                        }
                    }
                    answered = answers.changed() => {
                        if answered.is_err() {
                            return;
                        }
                        let answer = *answers.borrow_and_update();
                        answer.map(|a| TargetSignal::Answered { sent: a.sent })
                    }
                    event = events.recv() => match event {
                        Ok(event) => lifecycle_signal(&event.typed(), &mut alarmed),
                        Err(RecvError::Lagged { .. }) => None,
                        Err(RecvError::Closed) => return,
                    },
                };
                if let Some(signal) = signal {
                    if signals.send(signal).is_err() {
                        return;
                    }
                }
            }
        })
    }
}

/// Now on the clock the monitor uses (tokio's, so paused test time agrees).
fn sent_now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// The signal an event means, tracking which spans/channels are in alarm.
fn lifecycle_signal(
    event: &KnownEvent<'_>,
    alarmed: &mut BTreeSet<String>,
) -> Option<TargetSignal> {
    let alarm = |key: String, text: Option<&str>, alarmed: &mut BTreeSet<String>| {
        let error = ProbeError::Alarm(format!("{key} {}", text.unwrap_or("alarm")));
        alarmed.insert(key);
        Some(TargetSignal::Finding {
            kind: ProbeKind::Spans,
            result: Err(error),
        })
    };
    // A clear only counts as good news once nothing else is in alarm.
    let clear = |key: String, alarmed: &mut BTreeSet<String>| {
        alarmed.remove(&key);
        alarmed.is_empty().then_some(TargetSignal::Finding {
            kind: ProbeKind::Spans,
            result: Ok(()),
        })
    };
    match event {
        KnownEvent::FullyBooted(_) => Some(TargetSignal::FullyBooted),
        KnownEvent::Shutdown(s) => Some(TargetSignal::Shutdown {
            restart: s.restart.unwrap_or(false),
        }),
        KnownEvent::SpanAlarm(a) => {
            alarm(format!("span {}", a.span.unwrap_or(0)), a.alarm, alarmed)
        }
        KnownEvent::SpanAlarmClear(c) => clear(format!("span {}", c.span.unwrap_or(0)), alarmed),
        KnownEvent::Alarm(a) => alarm(
            format!("channel {}", a.channel.unwrap_or("?")),
            a.alarm,
            alarmed,
        ),
        KnownEvent::AlarmClear(c) => {
            clear(format!("channel {}", c.channel.unwrap_or("?")), alarmed)
        }
        _ => None,
    }
}

/// The error a refused action means: a shutdown in progress (a failure at once, see
/// `health::TargetHealth`), or `kind` with Asterisk's message.
fn refusal(
    response: &ami_client::Response,
    default: &str,
    kind: fn(String) -> ProbeError,
) -> ProbeError {
    match response.message() {
        // Asterisk refuses every action once a shutdown has begun (main/manager.c), about a
        // second before its `Shutdown` event.
        Some(m) if m.trim() == ami_client::proto::SHUTTING_DOWN => {
            ProbeError::ShutDown { restart: false }
        }
        Some(m) => kind(m.to_string()),
        None => kind(default.to_string()),
    }
}

fn ami_error(e: ami_client::Error) -> ProbeError {
    match e {
        ami_client::Error::Timeout { after, .. } => ProbeError::Timeout(after),
        ami_client::Error::NotConnected { .. }
        | ami_client::Error::Disconnected { .. }
        | ami_client::Error::Closed => ProbeError::NotConnected(e.to_string()),
        ami_client::Error::Authentication { message } => {
            ProbeError::Refused(format!("authentication failed: {message}"))
        }
        other => ProbeError::Refused(other.to_string()),
    }
}
