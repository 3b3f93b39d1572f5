//! The emulated Asterisk core shared by all front ends: identity, uptime, channels and calls,
//! the manager event bus, boot state, faults and lifecycle signals.
//!
//! Every change of call state and the events it produces happen under one lock, so the event
//! order on the bus is the order of the changes (as Asterisk's stasis topic gives it).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::call::{Call, CallIds, HangupCause, Next, OriginateRequest};
use super::channel::Channel;
use super::classes::EventClass;
use super::clock;
use super::config::{BootMode, FakeConfig};
use super::event::{AmiEvent, Headers};
use super::faults::FaultSet;

/// Capacity of the event bus; a session that falls this far behind is disconnected, like
/// Asterisk drops a client that does not read.
const BUS_CAPACITY: usize = 1 << 16;

/// What travels on the manager event bus.
#[derive(Clone, Debug)]
pub enum BusItem {
    /// A manager event.
    Event(Arc<AmiEvent>),
    /// Orderly shutdown: write what is queued, then close the connection.
    Close,
}

/// How an originate is reported.
#[derive(Debug)]
pub enum OriginateMode {
    /// `Async: true`: an `OriginateResponse` event reports the outcome.
    Async,
    /// Synchronous: the caller waits on this for answered (`true`) or failed (`false`).
    Sync(oneshot::Sender<bool>),
}

struct CallEntry {
    call: Call,
    hangup: mpsc::UnboundedSender<HangupCause>,
}

/// Mutable core state (behind the lock).
struct State {
    started: SystemTime,
    started_at: Instant,
    reloaded: SystemTime,
    next_uniqueid: u64,
    next_local_seq: u32,
    next_call_index: u64,
    processed_calls: u64,
    calls: BTreeMap<u64, CallEntry>,
    span_alarms: BTreeMap<u32, bool>,
    admin_phone_seq: u32,
}

impl State {
    fn fresh(config: &FakeConfig) -> State {
        State {
            started: SystemTime::now(),
            started_at: Instant::now(),
            reloaded: SystemTime::now(),
            next_uniqueid: 0,
            next_local_seq: 0,
            next_call_index: 0,
            processed_calls: config.initial_processed_calls,
            calls: BTreeMap::new(),
            span_alarms: BTreeMap::new(),
            admin_phone_seq: 0,
        }
    }
}

/// A Local device stays `INUSE` while any call on it is up: Asterisk aggregates the state of
/// every channel of a device, so a call ending while others are up reports `INUSE`
/// (fixture 16: 191 `INUSE`, 9 `NOT_INUSE` for 50 overlapping calls).
fn aggregate_device_states(state: &State, events: &mut [AmiEvent]) {
    for event in events.iter_mut() {
        if event.name != "DeviceStateChange" || event.body.get("State") != Some("NOT_INUSE") {
            continue;
        }
        let device = event.body.get("Device").unwrap_or("").to_owned();
        let busy = state
            .calls
            .values()
            .any(|c| !c.call.finished() && c.call.device() == device);
        if busy {
            for (name, value) in event.body.0.iter_mut() {
                if name == "State" {
                    *value = "INUSE".to_owned();
                }
            }
        }
    }
}

/// Uptime figures for `FullyBooted`, `CoreStatus` and `core show uptime`.
#[derive(Clone, Copy, Debug)]
pub struct Uptime {
    /// When the core started.
    pub started: SystemTime,
    /// When it last reloaded.
    pub reloaded: SystemTime,
    /// Seconds since start.
    pub seconds: u64,
}

/// Counters for `CoreStatus` and the CLI.
#[derive(Clone, Copy, Debug)]
pub struct CallCounts {
    /// Channels up.
    pub channels: usize,
    /// Calls up.
    pub calls: usize,
    /// Calls processed since start.
    pub processed: u64,
}

/// The shared core of one emulated instance.
pub struct Core {
    /// The configuration it was started with.
    pub config: FakeConfig,
    state: Mutex<State>,
    bus: broadcast::Sender<BusItem>,
    faults: watch::Sender<FaultSet>,
    booted: watch::Sender<bool>,
    /// Bumped when every connection must drop at once (crash).
    kill: watch::Sender<u64>,
    /// Number of AMI sessions connected.
    pub sessions: AtomicUsize,
    session_serial: AtomicU64,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("system_name", &self.config.system_name)
            .field("faults", &*self.faults.borrow())
            .field("booted", &*self.booted.borrow())
            .finish_non_exhaustive()
    }
}

impl Core {
    /// A core in its just-started state (booting unless the boot mode is `Immediate`).
    pub fn new(config: FakeConfig) -> Arc<Core> {
        let state = State::fresh(&config);
        let booted = config.boot == BootMode::Immediate;
        Arc::new(Core {
            config,
            state: Mutex::new(state),
            bus: broadcast::channel(BUS_CAPACITY).0,
            faults: watch::channel(FaultSet::default()).0,
            booted: watch::channel(booted).0,
            kill: watch::channel(0).0,
            sessions: AtomicUsize::new(0),
            session_serial: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock must not take the whole emulator down with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The system name (`ha-a`).
    pub fn system_name(&self) -> &str {
        &self.config.system_name
    }

    /// A new receiver of the event bus.
    pub fn subscribe(&self) -> broadcast::Receiver<BusItem> {
        self.bus.subscribe()
    }

    fn publish_locked(&self, state: &State, mut events: Vec<AmiEvent>) {
        aggregate_device_states(state, &mut events);
        for event in events {
            // No receiver is fine: nobody listens to events yet.
            let _ = self.bus.send(BusItem::Event(Arc::new(event)));
        }
    }

    /// Publishes events on the bus (in order, atomically with respect to call changes).
    pub fn publish(&self, events: Vec<AmiEvent>) {
        let state = self.lock();
        self.publish_locked(&state, events);
    }

    /// Tells every session to flush and close (orderly shutdown).
    pub fn close_sessions(&self) {
        let _ = self.bus.send(BusItem::Close);
    }

    /// A watch on the fault set.
    pub fn faults(&self) -> watch::Receiver<FaultSet> {
        self.faults.subscribe()
    }

    /// The faults in force now.
    pub fn fault_set(&self) -> FaultSet {
        *self.faults.borrow()
    }

    /// Changes the fault set.
    pub fn update_faults(&self, change: impl FnOnce(&mut FaultSet)) {
        self.faults.send_modify(change);
    }

    /// A watch on the crash signal (its value changes when every connection must drop).
    pub fn kill_signal(&self) -> watch::Receiver<u64> {
        self.kill.subscribe()
    }

    /// Drops every connection at once (crash).
    pub fn kill_all(&self) {
        self.kill.send_modify(|g| *g += 1);
    }

    /// A watch on the boot state.
    pub fn booted_signal(&self) -> watch::Receiver<bool> {
        self.booted.subscribe()
    }

    /// Whether `FullyBooted` has happened.
    pub fn is_booted(&self) -> bool {
        *self.booted.borrow()
    }

    /// Waits until neither hang nor core deadlock is on.
    pub async fn wait_core_running(&self) {
        let mut rx = self.faults();
        // The sender lives as long as the core, so this only fails when the core is gone.
        let _ = rx.wait_for(|f| !f.core_frozen()).await;
    }

    /// Waits until the hang fault is off.
    pub async fn wait_not_hung(&self) {
        let mut rx = self.faults();
        let _ = rx.wait_for(|f| !f.hung).await;
    }

    /// A fresh serial for a session (used for the fake `SessionID`).
    pub fn next_session_serial(&self) -> u64 {
        self.session_serial.fetch_add(1, Ordering::Relaxed)
    }

    /// Uptime figures.
    pub fn uptime(&self) -> Uptime {
        let s = self.lock();
        Uptime {
            started: s.started,
            reloaded: s.reloaded,
            seconds: s.started_at.elapsed().as_secs(),
        }
    }

    /// Channel and call counters.
    pub fn counts(&self) -> CallCounts {
        let s = self.lock();
        let calls = s.calls.values().filter(|c| !c.call.finished()).count();
        CallCounts {
            channels: calls * 2,
            calls,
            processed: s.processed_calls,
        }
    }

    /// Snapshots of every channel up, in listing order.
    pub fn channels(&self) -> Vec<Channel> {
        let s = self.lock();
        s.calls
            .values()
            .filter(|c| !c.call.finished())
            .flat_map(|c| c.call.channels().map(Channel::clone))
            .collect()
    }

    /// Resets the core to a just-started state (after a crash or restart): uptime, counters,
    /// Uniqueid and Local channel numbering start again; calls are gone.
    pub fn reset(&self) {
        let mut s = self.lock();
        *s = State::fresh(&self.config);
        self.booted
            .send_replace(self.config.boot == BootMode::Immediate);
    }

    /// Forgets every call without a word (the process died).
    pub fn drop_calls_silently(&self) {
        let mut s = self.lock();
        s.calls.clear();
    }

    /// Marks the core fully booted and broadcasts `FullyBooted` in the boot-time shape of
    /// fixture 22 (`Status` first, `SystemName` present). Does nothing if already booted.
    pub fn finish_boot(&self) {
        let state = self.lock();
        if *self.booted.borrow() {
            return;
        }
        let secs = state.started_at.elapsed().as_secs().to_string();
        let event = AmiEvent::new(
            "FullyBooted",
            EventClass::System,
            Headers::new()
                .with("Status", "Fully Booted")
                .with("Uptime", secs.as_str())
                .with("LastReload", secs),
        );
        self.publish_locked(&state, vec![event]);
        self.booted.send_replace(true);
    }

    /// `Shutdown` with calls up (fixture 23): soft hangups of every channel, the hangups, the
    /// device states, then `Event: Shutdown`, then every session is closed.
    pub fn shutdown(&self, restart: bool) {
        let mut state = self.lock();
        let mut events = Vec::new();
        let mut calls: Vec<&mut CallEntry> = state
            .calls
            .values_mut()
            .filter(|c| !c.call.finished())
            .collect();
        for (i, entry) in calls.iter().enumerate() {
            events.extend(entry.call.shutdown_requests(i % 2 == 0));
        }
        for (i, entry) in calls.iter_mut().enumerate() {
            events.extend(entry.call.shutdown_hangups(i % 2 == 0));
        }
        for entry in &calls {
            events.extend(entry.call.shutdown_device_states());
        }
        events.push(AmiEvent::new(
            "Shutdown",
            EventClass::System,
            Headers::new()
                .with("Shutdown", "Cleanly")
                .with("Restart", if restart { "True" } else { "False" }),
        ));
        state.calls.clear();
        self.publish_locked(&state, events);
        let _ = self.bus.send(BusItem::Close);
    }

    /// Starts a call (the caller has already answered the action). Returns once the call's first
    /// events are on the bus; the rest runs in a task.
    pub fn originate(self: &Arc<Core>, request: OriginateRequest, mode: OriginateMode) {
        let originate_fail = self.fault_set().originate_fail;
        let extension = if originate_fail {
            None
        } else {
            self.config
                .dialplan
                .lookup(&request.context, &request.exten)
                .cloned()
        };
        let (hangup_tx, hangup_rx) = mpsc::unbounded_channel();
        let report_failure = matches!(mode, OriginateMode::Async);
        let index = {
            let mut state = self.lock();
            let index = state.next_call_index;
            state.next_call_index += 1;
            let epoch = clock::since_epoch(SystemTime::now()).as_secs();
            let sys = &self.config.system_name;
            let ids = CallIds {
                index,
                local_seq: state.next_local_seq,
                uniqueid_one: format!("{sys}-{epoch}.{}", state.next_uniqueid),
                uniqueid_two: format!("{sys}-{epoch}.{}", state.next_uniqueid + 1),
            };
            state.next_local_seq = state.next_local_seq.wrapping_add(1);
            state.next_uniqueid += 2;
            state.processed_calls += 1;
            let mut call = Call::new(request, extension, ids, sys, Instant::now());
            let events = call.start(report_failure);
            self.publish_locked(&state, events);
            if !call.routable() {
                if let OriginateMode::Sync(tx) = mode {
                    let _ = tx.send(false);
                }
                return;
            }
            state.calls.insert(
                index,
                CallEntry {
                    call,
                    hangup: hangup_tx,
                },
            );
            index
        };
        let core = Arc::clone(self);
        let waiter = match mode {
            OriginateMode::Sync(tx) => Some(tx),
            OriginateMode::Async => None,
        };
        tokio::spawn(async move { core.drive_call(index, hangup_rx, waiter).await });
    }

    /// Runs one call's dialplan in time.
    async fn drive_call(
        self: Arc<Core>,
        index: u64,
        mut hangup_rx: mpsc::UnboundedReceiver<HangupCause>,
        mut waiter: Option<oneshot::Sender<bool>>,
    ) {
        let mut originator_deadline: Option<tokio::time::Instant> = None;
        let answer_delay = self.config.answer_delay;
        loop {
            self.wait_core_running().await;
            let next = {
                let mut state = self.lock();
                let Some(entry) = state.calls.get_mut(&index) else {
                    return;
                };
                let (events, next) = entry.call.step(answer_delay);
                if entry.call.answered() {
                    if originator_deadline.is_none() {
                        originator_deadline = entry
                            .call
                            .originator_lifetime()
                            .map(|d| tokio::time::Instant::now() + d);
                    }
                    if let Some(tx) = waiter.take() {
                        let _ = tx.send(true);
                    }
                }
                self.publish_locked(&state, events);
                if next == Next::Finished {
                    state.calls.remove(&index);
                }
                next
            };
            let sleep_for = match next {
                Next::Continue => continue,
                Next::Finished => return,
                Next::Sleep(d) => Some(d),
                Next::UntilHangup => None,
            };
            let far = tokio::time::Instant::now() + Duration::from_secs(365 * 86_400);
            let step_deadline = sleep_for.map_or(far, |d| tokio::time::Instant::now() + d);
            let originator_at = originator_deadline.unwrap_or(far);
            let cause = tokio::select! {
                _ = tokio::time::sleep_until(step_deadline), if sleep_for.is_some() => None,
                _ = tokio::time::sleep_until(originator_at), if originator_deadline.is_some() => {
                    Some(HangupCause::OriginatorDone)
                }
                cause = hangup_rx.recv() => match cause {
                    Some(cause) => Some(cause),
                    // The entry (and its sender) is gone: shutdown or crash already ended it.
                    None => return,
                },
            };
            self.wait_core_running().await;
            let mut state = self.lock();
            let Some(entry) = state.calls.get_mut(&index) else {
                return;
            };
            let events = match cause {
                None => entry.call.finish_sleep(),
                Some(cause) => entry.call.hang_up(cause),
            };
            let finished = entry.call.finished();
            self.publish_locked(&state, events);
            if finished {
                state.calls.remove(&index);
                return;
            }
        }
    }

    /// Hangs a channel up by name (AMI `Hangup`); `false` when no such channel is up.
    pub fn hangup_channel(&self, name: &str) -> bool {
        let state = self.lock();
        for entry in state.calls.values() {
            if entry.call.finished() {
                continue;
            }
            let first = entry.call.one.name == name;
            if first || entry.call.two.name == name {
                return entry
                    .hangup
                    .send(HangupCause::HangupAction { first })
                    .is_ok();
            }
        }
        false
    }

    /// A `UserEvent` as the `[ha-admin]` dialplan emits it, on a synthetic phone channel
    /// (`PJSIP/admin-phone-<seq>`, up, in `ha-admin` at `*999` priority 3).
    pub fn inject_user_event(&self, name: &str, headers: &[(String, String)]) {
        let mut state = self.lock();
        let seq = state.admin_phone_seq;
        state.admin_phone_seq += 1;
        let epoch = clock::since_epoch(SystemTime::now()).as_secs();
        let uniqueid = format!(
            "{}-{epoch}.{}",
            self.config.system_name, state.next_uniqueid
        );
        state.next_uniqueid += 1;
        let mut chan = Channel::new(
            format!("PJSIP/admin-phone-{seq:08x}"),
            super::channel::ChannelState::Up,
            "ha-admin",
            "*999",
            uniqueid.clone(),
            uniqueid,
            Instant::now(),
        );
        chan.priority = 3;
        let mut body = chan.headers("");
        body.push("UserEvent", name);
        for (k, v) in headers {
            body.push(k.as_str(), v.as_str());
        }
        self.publish_locked(
            &state,
            vec![AmiEvent::new("UserEvent", EventClass::User, body)],
        );
    }

    /// The alarm state of a span (`true` = in red alarm).
    pub fn span_in_alarm(&self, span: u32) -> bool {
        self.lock().span_alarms.get(&span).copied().unwrap_or(false)
    }

    /// Raises or clears a red alarm on a configured span: `Alarm`/`AlarmClear` for each of its
    /// channels, then `SpanAlarm`/`SpanAlarmClear` (chan_dahdi with `reportalarms = all`).
    /// Returns `false` for an unknown span.
    pub fn set_span_alarm(&self, span: u32, on: bool) -> bool {
        let Some(config) = self.config.spans.iter().find(|s| s.span == span) else {
            return false;
        };
        let mut state = self.lock();
        let was = state.span_alarms.insert(span, on).unwrap_or(false);
        if was == on {
            return true;
        }
        let mut events = Vec::new();
        for chan in &config.channels {
            let mut body = Headers::new().with("DAHDIChannel", chan.to_string());
            if on {
                body.push("Alarm", "Red Alarm");
                events.push(AmiEvent::new("Alarm", EventClass::System, body));
            } else {
                events.push(AmiEvent::new("AlarmClear", EventClass::System, body));
            }
        }
        let mut body = Headers::new().with("Span", span.to_string());
        if on {
            body.push("Alarm", "Red Alarm");
            events.push(AmiEvent::new("SpanAlarm", EventClass::System, body));
        } else {
            events.push(AmiEvent::new("SpanAlarmClear", EventClass::System, body));
        }
        self.publish_locked(&state, events);
        true
    }
}
