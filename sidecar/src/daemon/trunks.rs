//! Trunks register from the active only: keeps the local Asterisk's outbound SIP registrations
//! (PJSIP `type=registration`) running on the active node and stopped everywhere else.
//!
//! A warm standby's Asterisk registers the same trunks as the active's by itself, and a carrier
//! sends inbound calls to whichever registered last. So this node's daemon, over its AMI session
//! to the local Asterisk:
//!
//! * as standby (any role but active) sends `PJSIPUnregister` for every registration when the
//!   role changes and when Asterisk is (again) fully booted (a restarted or reloaded Asterisk starts
//!   registering again by itself: `PJSIPUnregister` also cancels the pending first attempt),
//!   and for any registration it later sees `Registered` or `Rejected` (a `Registry` event, or
//!   the `PJSIPShowRegistrationsOutbound` list every [`CHECK_INTERVAL`]);
//! * as active sends `PJSIPRegister` at once for every registration that is not registered when
//!   the role changes or a new session starts, and for one it finds stopped (`Unregistered`) at
//!   two checks in a row, or, just after a takeover, still `Unregistered` 3 s after it was asked
//!   for ([`REASK_AFTER`]: Asterisk can drop the REGISTER it was asked for); a registered one is
//!   left alone (`PJSIPRegister` would unregister first).
//!
//! It runs in a task of its own: a takeover never waits for it. Its outcome and timing (from the
//! role change until every registration answered) go to the log and to `astha status`, which
//! also lists the peer's registrations, read over the peer AMI session (the peer's daemon keeps
//! those). An Asterisk without `res_pjsip_outbound_registration` has no trunks to keep.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ami_client::{Action, Client, Message, RecvError};
use tokio::sync::watch;

use crate::probe::TargetProbes;
use crate::status::{TrunkStatus, TrunksStatus};

/// How often the registrations are listed besides the `Registry` events: a standby Asterisk
/// that starts registering is stopped within this, even if its event was missed.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Deadline of each AMI action: a hung Asterisk must not hold the keeper for long.
const ACTION_DEADLINE: Duration = Duration::from_secs(2);

/// After a role change to active, how long the keeper follows the registrations until each one
/// answered (registered or rejected), for the log line with the timing.
const CONFIRM_DEADLINE: Duration = Duration::from_secs(10);
const CONFIRM_POLL: Duration = Duration::from_millis(50);

/// While it follows them, a registration still `Unregistered` this long after it was asked for
/// is asked for again. `PJSIPRegister` sends an un-REGISTER at once and the REGISTER 1 s later
/// (plus `max_random_initial_delay`); pjproject allows one transaction per registration, so a
/// REGISTER sent while the carrier has not yet answered the un-REGISTER (a lost datagram is
/// resent after 0.5 s, then 1 s more) is dropped without a word, and Asterisk never tries
/// again: the registration stays `Unregistered` (seen on a loaded test host, where it waited for
/// the periodic checks, 10 to 20 s). 3 s leaves an answered REGISTER time to arrive; asking
/// again while one is in flight costs nothing (the un-REGISTER is the one dropped then).
const REASK_AFTER: Duration = Duration::from_secs(3);

/// What this node keeps its Asterisk's registrations at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The active node: registered.
    Registered,
    /// Every other role: stopped.
    Stopped,
}

impl Keep {
    pub fn for_role(role: crate::decide::Role) -> Keep {
        if role == crate::decide::Role::Active {
            Keep::Registered
        } else {
            Keep::Stopped
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Keep::Registered => "registered",
            Keep::Stopped => "stopped",
        }
    }

    fn role_word(self) -> &'static str {
        match self {
            Keep::Registered => "active",
            Keep::Stopped => "standby",
        }
    }
}

/// Asterisk's `Status` of one outbound registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegState {
    Registered,
    Unregistered,
    Rejected,
}

impl RegState {
    fn parse(status: &str) -> RegState {
        match status.trim() {
            s if s.eq_ignore_ascii_case("Registered") => RegState::Registered,
            s if s.eq_ignore_ascii_case("Rejected") => RegState::Rejected,
            // Asterisk reports stopping/stopped as `Unregistered` too; a missing status means
            // no registration state at all.
            _ => RegState::Unregistered,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            RegState::Registered => "registered",
            RegState::Unregistered => "unregistered",
            RegState::Rejected => "rejected",
        }
    }
}

/// One outbound registration as `PJSIPShowRegistrationsOutbound` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub name: String,
    pub state: RegState,
}

/// The registrations in the items of one `PJSIPShowRegistrationsOutbound` list (its
/// `AuthDetail` items are left out).
pub fn registrations(items: &[Message]) -> Vec<Registration> {
    items
        .iter()
        .filter(|m| {
            m.get("Event")
                .is_some_and(|e| e.eq_ignore_ascii_case("OutboundRegistrationDetail"))
        })
        .filter_map(|m| {
            Some(Registration {
                name: m.get("ObjectName")?.to_owned(),
                state: RegState::parse(m.get("Status").unwrap_or("")),
            })
        })
        .collect()
}

/// The AMI action to send for one registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrunkAction {
    Register,
    Unregister,
}

impl TrunkAction {
    fn ami_name(self) -> &'static str {
        match self {
            TrunkAction::Register => "PJSIPRegister",
            TrunkAction::Unregister => "PJSIPUnregister",
        }
    }
}

/// What to send now. `everything`: the role changed or a new AMI session started, so every
/// registration not yet as wanted is acted on (a standby's all, to cancel pending attempts);
/// `stopped_before`: the names found `Unregistered` at the previous check.
pub fn actions(
    keep: Keep,
    regs: &[Registration],
    everything: bool,
    stopped_before: &BTreeSet<String>,
) -> Vec<(TrunkAction, String)> {
    regs.iter()
        .filter_map(|r| {
            let act = match keep {
                Keep::Registered => {
                    r.state != RegState::Registered
                        && (everything
                            || (r.state == RegState::Unregistered
                                && stopped_before.contains(&r.name)))
                }
                Keep::Stopped => everything || r.state != RegState::Unregistered,
            };
            act.then(|| {
                let action = match keep {
                    Keep::Registered => TrunkAction::Register,
                    Keep::Stopped => TrunkAction::Unregister,
                };
                (action, r.name.clone())
            })
        })
        .collect()
}

/// The registrations among `asked` that `regs` still lists as `Unregistered`: while a new active
/// follows its registrations, those are asked for again (see [`REASK_AFTER`]).
pub fn still_stopped<'a>(asked: &[&str], regs: &'a [Registration]) -> Vec<&'a str> {
    regs.iter()
        .filter(|r| r.state == RegState::Unregistered && asked.contains(&r.name.as_str()))
        .map(|r| r.name.as_str())
        .collect()
}

/// The daemon's handle on the keeper task.
#[derive(Debug)]
pub struct TrunkKeeper {
    keep: watch::Sender<Keep>,
    view: watch::Receiver<Vec<TrunksStatus>>,
}

impl TrunkKeeper {
    /// Starts the keeper for the local Asterisk (`local`, named `local_name`); the peer's
    /// registrations are only read.
    pub fn spawn(
        local: Arc<TargetProbes>,
        peer: Arc<TargetProbes>,
        names: [String; 2],
        keep: Keep,
    ) -> TrunkKeeper {
        let (keep_tx, keep_rx) = watch::channel(keep);
        let (view_tx, view_rx) = watch::channel(Vec::new());
        let keeper = Keeper {
            local: local.ami().client().clone(),
            peer: peer.ami().client().clone(),
            names,
            keep: keep_rx,
            view: view_tx,
            stopped_before: BTreeSet::new(),
            last_error: None,
            last_change: None,
            peer_view: Ok(None),
        };
        tokio::spawn(keeper.run());
        TrunkKeeper {
            keep: keep_tx,
            view: view_rx,
        }
    }

    /// Tells the keeper the node's role (cheap; called after every event).
    pub fn set_role(&self, role: crate::decide::Role) {
        let keep = Keep::for_role(role);
        self.keep.send_if_modified(|k| {
            let changed = *k != keep;
            *k = keep;
            changed
        });
    }

    /// The registrations of both Asterisks as last read (this node's first).
    pub fn status(&self) -> Vec<TrunksStatus> {
        self.view.borrow().clone()
    }
}

/// A list of registrations, or `None` when the Asterisk has no outbound registration module.
type Listed = Result<Option<Vec<Registration>>, String>;

async fn list(client: &Client) -> Listed {
    let list = client
        .send_list(Action::new("PJSIPShowRegistrationsOutbound").timeout(ACTION_DEADLINE))
        .await
        .map_err(|e| e.to_string())?;
    if !list.response.is_success() {
        let message = list.response.message().unwrap_or("refused");
        if message.to_ascii_lowercase().contains("unknown command") {
            return Ok(None);
        }
        return Err(format!("PJSIPShowRegistrationsOutbound: {message}"));
    }
    let items: Vec<Message> = list.items.iter().map(|e| e.raw().clone()).collect();
    Ok(Some(registrations(&items)))
}

async fn send(client: &Client, action: TrunkAction, name: &str) -> Result<(), String> {
    let response = client
        .send(
            Action::new(action.ami_name())
                .header("Registration", name)
                .timeout(ACTION_DEADLINE),
        )
        .await
        .map_err(|e| format!("{} {name}: {e}", action.ami_name()))?;
    // Asterisk acknowledges a queueing failure with `Success` too; its message says so.
    let message = response.message().unwrap_or("");
    if !response.is_success() || message.to_ascii_lowercase().contains("failed") {
        return Err(format!("{} {name}: {message}", action.ami_name()));
    }
    Ok(())
}

/// The keeper task's state.
struct Keeper {
    local: Client,
    peer: Client,
    /// This node's and the peer's names.
    names: [String; 2],
    keep: watch::Receiver<Keep>,
    view: watch::Sender<Vec<TrunksStatus>>,
    stopped_before: BTreeSet<String>,
    last_error: Option<String>,
    last_change: Option<String>,
    /// The peer's registrations as last listed.
    peer_view: Listed,
}

impl Keeper {
    async fn run(mut self) {
        let mut events = self.local.subscribe();
        // A new session with a booted Asterisk (a restart, or astha's own reconnect): what ran
        // before is unknown. Booted, because the PJSIP actions exist only once the module loaded.
        let mut booted = self.local.fully_booted();
        let mut check = tokio::time::interval(CHECK_INTERVAL);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first check acts on everything: nothing is known of what ran before.
        let mut everything = true;
        let mut role_changed: Option<Instant> = None;
        loop {
            let mut checked = false;
            tokio::select! {
                changed = self.keep.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    everything = true;
                    role_changed = Some(Instant::now());
                }
                changed = booted.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if !*booted.borrow_and_update() {
                        continue;
                    }
                    everything = true;
                }
                event = events.recv() => match event {
                    Ok(e) if e.name().eq_ignore_ascii_case("Registry")
                        && e.get("ChannelType").is_none_or(|t| t.eq_ignore_ascii_case("PJSIP")) => {}
                    Ok(_) => continue,
                    Err(RecvError::Lagged { .. }) => {}
                    Err(RecvError::Closed) => return,
                },
                _ = check.tick() => checked = true,
            }
            let keep = *self.keep.borrow_and_update();
            let local = self.keep_local(keep, everything).await;
            everything = local.is_err();
            if let (Some(since), Ok(sent)) = (role_changed, &local) {
                role_changed = None;
                self.report_change(keep, since, sent).await;
            }
            if checked {
                // Only on the periodic check: a hung peer must not slow the local keeping.
                self.peer_view = list(&self.peer).await;
            }
            self.publish(keep, local.map(|_| ())).await;
        }
    }

    /// Lists the local registrations and sends what `keep` needs; returns what was sent.
    async fn keep_local(
        &mut self,
        keep: Keep,
        everything: bool,
    ) -> Result<Vec<(TrunkAction, String)>, String> {
        let Some(regs) = list(&self.local).await? else {
            return Ok(Vec::new());
        };
        let todo = actions(keep, &regs, everything, &self.stopped_before);
        if !regs.is_empty() {
            tracing::debug!(
                kept = keep.as_str(),
                everything,
                listed = ?regs,
                sending = ?todo,
                "trunks checked"
            );
        }
        self.stopped_before = regs
            .iter()
            .filter(|r| r.state == RegState::Unregistered)
            .map(|r| r.name.clone())
            .collect();
        let mut errors = Vec::new();
        for (action, name) in &todo {
            if let Err(e) = send(&self.local, *action, name).await {
                errors.push(e);
            } else if *action == TrunkAction::Register {
                // Just asked to register: not a stopped one at the next check.
                self.stopped_before.remove(name);
            }
        }
        if errors.is_empty() {
            Ok(todo)
        } else {
            Err(errors.join("; "))
        }
    }

    /// Logs (and keeps for the status) how the registrations followed a role change: for a new
    /// active, the time until every one it registered answered.
    async fn report_change(&mut self, keep: Keep, since: Instant, sent: &[(TrunkAction, String)]) {
        let names: Vec<&str> = sent.iter().map(|(_, n)| n.as_str()).collect();
        if names.is_empty() {
            return;
        }
        // The actions were sent (and acknowledged) just before this.
        let asked_ms = since.elapsed().as_millis();
        let summary = match keep {
            Keep::Stopped => format!(
                "stopped {asked_ms} ms after this node became {}: {}",
                keep.role_word(),
                names.join(", ")
            ),
            Keep::Registered => {
                let deadline = since + CONFIRM_DEADLINE;
                let mut asked_at = Instant::now();
                let mut asked_again = 0;
                let states = loop {
                    let states = match list(&self.local).await {
                        Ok(Some(regs)) => regs,
                        _ => Vec::new(),
                    };
                    let pending = |r: &&Registration| {
                        names.contains(&r.name.as_str()) && r.state != RegState::Registered
                    };
                    if !states.is_empty() && !states.iter().any(|r| pending(&r))
                        || Instant::now() >= deadline
                    {
                        break states;
                    }
                    if asked_at.elapsed() >= REASK_AFTER {
                        for name in still_stopped(&names, &states) {
                            tracing::info!(
                                trunk = name,
                                "trunks: still unregistered {} ms after it was asked for (its \
                                 REGISTER lost?): asking again",
                                asked_at.elapsed().as_millis()
                            );
                            match send(&self.local, TrunkAction::Register, name).await {
                                Ok(()) => asked_again += 1,
                                Err(e) => tracing::warn!("trunks: {e}"),
                            }
                        }
                        asked_at = Instant::now();
                    }
                    tokio::time::sleep(CONFIRM_POLL).await;
                };
                let described: Vec<String> = states
                    .iter()
                    .filter(|r| names.contains(&r.name.as_str()))
                    .map(|r| format!("{} {}", r.name, r.state.as_str()))
                    .collect();
                let again = match asked_again {
                    0 => String::new(),
                    1 => " (asked once more)".to_owned(),
                    n => format!(" (asked {n} more times)"),
                };
                format!(
                    "registration asked {asked_ms} ms after this node became {}{again}, answered \
                     after {} ms: {}",
                    keep.role_word(),
                    since.elapsed().as_millis(),
                    described.join(", ")
                )
            }
        };
        tracing::warn!("trunks {summary}");
        self.last_change = Some(summary);
    }

    /// Publishes both Asterisks' registrations (the peer's as last listed) for the status and
    /// the metrics.
    async fn publish(&mut self, keep: Keep, local_outcome: Result<(), String>) {
        let mut view = Vec::new();
        let local = list(&self.local).await;
        let error = local_outcome
            .err()
            .or_else(|| local.as_ref().err().cloned());
        if error != self.last_error {
            match &error {
                Some(e) => tracing::error!("trunks: cannot keep them {}: {e}", keep.as_str()),
                None if self.last_error.is_some() => {
                    tracing::info!("trunks: kept {} again", keep.as_str())
                }
                None => {}
            }
            self.last_error = error.clone();
        }
        let local_regs = local.unwrap_or_default();
        if local_regs.is_some() || error.is_some() {
            view.push(TrunksStatus {
                node: self.names[0].clone(),
                kept: Some(keep.as_str().to_owned()),
                registrations: to_status(local_regs.unwrap_or_default()),
                error,
                last_change: self.last_change.clone(),
            });
        }
        match &self.peer_view {
            Ok(Some(regs)) => view.push(TrunksStatus {
                node: self.names[1].clone(),
                kept: None,
                registrations: to_status(regs.clone()),
                error: None,
                last_change: None,
            }),
            Ok(None) => {}
            Err(e) => view.push(TrunksStatus {
                node: self.names[1].clone(),
                kept: None,
                registrations: Vec::new(),
                error: Some(e.clone()),
                last_change: None,
            }),
        }
        self.view.send_replace(view);
    }
}

fn to_status(regs: Vec<Registration>) -> Vec<TrunkStatus> {
    regs.into_iter()
        .map(|r| TrunkStatus {
            state: r.state.as_str().to_owned(),
            name: r.name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(name: &str, state: RegState) -> Registration {
        Registration {
            name: name.into(),
            state,
        }
    }

    fn names(actions: &[(TrunkAction, String)]) -> Vec<(TrunkAction, &str)> {
        actions.iter().map(|(a, n)| (*a, n.as_str())).collect()
    }

    #[test]
    fn the_list_of_a_real_asterisk_is_read_without_its_auth_items() {
        let mut detail = Message::new();
        detail.push("Event", "OutboundRegistrationDetail");
        detail.push("ObjectType", "registration");
        detail.push("ObjectName", "carrier");
        detail.push("Status", "Registered");
        let mut auth = Message::new();
        auth.push("Event", "AuthDetail");
        auth.push("ObjectName", "carrier-auth");
        let mut stopped = Message::new();
        stopped.push("Event", "OutboundRegistrationDetail");
        stopped.push("ObjectName", "backup");
        stopped.push("Status", "Unregistered");
        assert_eq!(
            registrations(&[detail, auth, stopped]),
            vec![
                reg("carrier", RegState::Registered),
                reg("backup", RegState::Unregistered)
            ]
        );
    }

    #[test]
    fn a_standby_stops_everything_on_a_change_and_then_whatever_registers() {
        let regs = [
            reg("carrier", RegState::Unregistered),
            reg("backup", RegState::Registered),
            reg("third", RegState::Rejected),
        ];
        let none = BTreeSet::new();
        assert_eq!(
            names(&actions(Keep::Stopped, &regs, true, &none)),
            vec![
                (TrunkAction::Unregister, "carrier"),
                (TrunkAction::Unregister, "backup"),
                (TrunkAction::Unregister, "third")
            ]
        );
        assert_eq!(
            names(&actions(Keep::Stopped, &regs, false, &none)),
            vec![
                (TrunkAction::Unregister, "backup"),
                (TrunkAction::Unregister, "third")
            ]
        );
    }

    #[test]
    fn an_active_registers_at_once_and_restarts_only_what_stays_stopped() {
        let regs = [
            reg("carrier", RegState::Unregistered),
            reg("backup", RegState::Registered),
        ];
        let none = BTreeSet::new();
        assert_eq!(
            names(&actions(Keep::Registered, &regs, true, &none)),
            vec![(TrunkAction::Register, "carrier")],
            "a registered one is left alone"
        );
        // Unregistered once may be a first attempt still pending: wait for a second check.
        assert!(actions(Keep::Registered, &regs, false, &none).is_empty());
        let before: BTreeSet<String> = ["carrier".to_string()].into();
        assert_eq!(
            names(&actions(Keep::Registered, &regs, false, &before)),
            vec![(TrunkAction::Register, "carrier")]
        );
        // Rejected: Asterisk retries by itself unless the role just changed.
        let rejected = [reg("carrier", RegState::Rejected)];
        assert!(actions(Keep::Registered, &rejected, false, &before).is_empty());
    }

    #[test]
    fn a_new_active_asks_again_only_for_what_it_asked_for_and_is_still_stopped() {
        let regs = [
            reg("carrier", RegState::Unregistered),
            reg("backup", RegState::Registered),
            reg("third", RegState::Rejected),
            reg("not-asked", RegState::Unregistered),
        ];
        assert_eq!(
            still_stopped(&["carrier", "backup", "third"], &regs),
            vec!["carrier"],
            "registered and rejected ones have their answer; one not asked for is left alone"
        );
        assert!(still_stopped(&["carrier"], &[]).is_empty());
    }
}
