//! AMI probes over one persistent ami-client connection: Ping, core responsiveness, call path, span alarms; and the lifecycle signal pump.

use std::collections::BTreeSet;
use std::time::Duration;

use ami_client::{Action, Client, ClientConfig, ConnectionState, EventMask, KnownEvent, RecvError};
use tokio::sync::mpsc;

use crate::config::{AmiEndpoint, CoreMethod, ProbesConfig};

use super::runner::TargetSignal;
use super::{ProbeError, ProbeKind};

/// The AMI side of one target's probes.
#[derive(Debug, Clone)]
pub struct AmiProbes {
    client: Client,
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
        // Only the classes the probes read: lifecycle and alarms (system) and the test call's
        // OriginateResponse/Hangup (call). A busy Asterisk's dialplan/CDR floods stay out.
        config.events = EventMask::Classes(vec!["system".into(), "call".into(), "user".into()]);
        // The ping probe is the keepalive; a second ping loop would only add load.
        config.ping_interval = Duration::ZERO;
        config.connect_timeout = Duration::from_secs(2);
        // Come back quickly after a restart, so recovery is seen within seconds.
        config.reconnect_backoff_max = Duration::from_secs(2);
        config.auth_failure_backoff = Duration::from_secs(10);
        config.action_id_prefix = "astha-".into();
        let timeout = |k: ProbeKind| probes.timing(k).timeout;
        AmiProbes {
            client: Client::connect(config),
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

    /// Waits for the first login (for one-shot checks), with the AMI error as a probe error.
    pub async fn wait_logged_in(&self, timeout: Duration) -> Result<(), ProbeError> {
        self.client
            .wait_logged_in(timeout)
            .await
            .map_err(|e| ProbeError::NotConnected(e.to_string()))
    }

    /// Runs one AMI probe.
    pub async fn run(&self, kind: ProbeKind) -> Result<(), ProbeError> {
        match kind {
            ProbeKind::Ping => self.ping().await,
            ProbeKind::Core => self.core().await,
            ProbeKind::Call => self.call().await,
            ProbeKind::Spans => self.spans().await,
            other => Err(ProbeError::NotConnected(format!(
                "{other} is not an AMI probe"
            ))),
        }
    }

    async fn ping(&self) -> Result<(), ProbeError> {
        let response = self
            .client
            .send(Action::ping().timeout(self.ping_timeout))
            .await
            .map_err(ami_error)?;
        if response.is_success() {
            Ok(())
        } else {
            Err(ProbeError::Refused(
                response.message().unwrap_or("Ping refused").to_string(),
            ))
        }
    }

    /// A deadlocked core leaves Ping answered but never answers these.
    async fn core(&self) -> Result<(), ProbeError> {
        let action = match self.core_method {
            CoreMethod::CoreStatus => Action::new("CoreStatus"),
            CoreMethod::ChannelsCount => Action::command("core show channels count"),
        };
        let response = self
            .client
            .send(action.timeout(self.core_timeout))
            .await
            .map_err(ami_error)?;
        if response.is_success() {
            Ok(())
        } else {
            // e.g. "Permission denied" for a user without the `reporting`/`command` class.
            Err(ProbeError::Refused(
                response
                    .message()
                    .unwrap_or("core action refused")
                    .to_string(),
            ))
        }
    }

    /// Async Originate of the probe extension; success is its `OriginateResponse: Success`
    /// followed by the hangup of the originated channel (the dialplan ran to its end).
    async fn call(&self) -> Result<(), ProbeError> {
        // Subscribe first: the OriginateResponse may come before the queued response is read.
        let mut events = self.client.subscribe();
        let action = Action::new("Originate")
            .header("Channel", &self.channel)
            // Wait bounds the channel's life even if the probe extension never hangs up.
            .header("Application", "Wait")
            .header("Data", (self.call_timeout.as_secs() + 1).to_string())
            .header("Async", "true")
            .header("Timeout", self.call_timeout.as_millis().to_string())
            .header("CallerID", "astha probe <probe>")
            .timeout(self.call_timeout);
        let response = self.client.send(action).await.map_err(ami_error)?;
        if !response.is_success() {
            return Err(ProbeError::CallFailed(
                response
                    .message()
                    .unwrap_or("Originate refused")
                    .to_string(),
            ));
        }
        let action_id = response.action_id().map(str::to_string);
        let mut uniqueid: Option<String> = None;
        // Hangups seen before the OriginateResponse (event order varies), by Uniqueid.
        let mut early_hangups: BTreeSet<String> = BTreeSet::new();
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged { .. }) => continue,
                Err(RecvError::Closed) => {
                    return Err(ProbeError::NotConnected("AMI client closed".into()))
                }
            };
            match event.typed() {
                KnownEvent::OriginateResponse(o)
                    if o.action_id.is_some() && o.action_id == action_id.as_deref() =>
                {
                    if !o.success {
                        let reason = o
                            .reason
                            .map(|r| format!(" (reason {r})"))
                            .unwrap_or_default();
                        return Err(ProbeError::CallFailed(format!(
                            "OriginateResponse {}{reason}",
                            o.response.unwrap_or("Failure")
                        )));
                    }
                    let id = o.uniqueid.unwrap_or_default().to_string();
                    if early_hangups.contains(&id) {
                        return Ok(());
                    }
                    uniqueid = Some(id);
                }
                KnownEvent::Hangup(h) => {
                    let Some(id) = h.uniqueid else { continue };
                    match &uniqueid {
                        Some(ours) if ours == id => return Ok(()),
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
        let list = self
            .client
            .send_list(Action::new("DAHDIShowStatus").timeout(self.spans_timeout))
            .await
            .map_err(ami_error)?;
        if !list.response.is_success() {
            let message = list.response.message().unwrap_or_default();
            if message.contains("Invalid/unknown command") {
                return Ok(());
            }
            return Err(ProbeError::Refused(message.to_string()));
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

    /// Forwards the connection state and lifecycle/alarm events to a monitor as signals.
    /// Ends when the client closes or the receiver is dropped.
    pub fn spawn_signal_pump(
        &self,
        signals: mpsc::UnboundedSender<TargetSignal>,
    ) -> tokio::task::JoinHandle<()> {
        let mut state = self.client.state();
        let mut events = self.client.subscribe();
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
