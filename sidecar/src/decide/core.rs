//! The decision state machine itself: applies inputs, evaluates the rules, emits commands.
//!
//! This file holds the state, the inputs and the actions; the rules live in one file per role
//! ([`standby`], [`active`]) as named predicates run in tables ([`rule`]), operator commands
//! in [`operator`], and the alerts about this node's own state in [`watch`].

mod active;
mod alerts;
mod common_silence;
mod operator;
mod rule;
mod standby;
#[cfg(test)]
mod tests;
mod watch;

use crate::actuate::config::StandbyMode;
use crate::side::Side;
use crate::verdict::Verdict;

use super::types::*;

/// How long a starting pair waits for the peer to report a verdict before designating without it.
const STARTUP_VERDICT_WAIT_MS: u64 = 5_000;

/// How long after its deadline a failed urgent probe still counts as evidence (ms).
const EVIDENCE_SLACK_MS: u64 = 50;

/// How late a peer message may be and still count as current knowledge (ms past the interval).
const FRESH_SLACK_MS: u64 = 100;

/// Messages in a row from an older active that evidently does not hear us before we yield to it.
const DEAF_PEER_MESSAGES: u32 = 3;

/// How long the two nodes' views of one Asterisk may disagree (its own node says it carries
/// calls, the other cannot probe it) before that is an alert: longer than one probe cycle, so a
/// fault seen by one side a moment before the other raises nothing.
const UNPROBEABLE_AFTER_MS: u64 = 5_000;

/// The pure decision core of one node. See the module documentation for the driving contract.
#[derive(Debug, Clone)]
pub struct Core {
    cfg: DecideConfig,
    role: Role,
    /// Highest term used or seen (what is persisted).
    term: u64,
    /// Term of this node's current (or last) takeover.
    active_term: u64,
    maintenance: bool,
    boot_at: Millis,
    /// The core's own time (never goes back).
    now: Millis,
    /// The caller's clock at the last call.
    caller_now: Millis,
    /// When the core last resumed after not being run for longer than `peer_dead_after_ms`.
    resumed_at: Option<Millis>,
    local: Verdict,
    peer_asterisk: Verdict,
    /// When the last urgent probe was requested during the current silence.
    urgent_probe_at: Option<Millis>,
    urgent_probe_pending: bool,
    /// When the last answered urgent probe was sent (a failure says how the peer's Asterisk was
    /// somewhere between then and its deadline, so it ages from then).
    urgent_answered_at: Option<Millis>,
    urgent_probe_failed: bool,
    /// When the peer's Asterisk verdict last turned failed.
    peer_asterisk_failed_at: Option<Millis>,
    /// When the local Asterisk verdict last turned failed.
    local_failed_at: Option<Millis>,
    /// Both Asterisks fell silent together (see [`common_silence`]).
    common_silence: Option<common_silence::CommonSilence>,
    /// When an urgent probe that the peer's Asterisk answered was sent.
    peer_answered_at: Option<Millis>,
    peer_last: Option<PeerState>,
    peer_last_at: Option<Millis>,
    link_last: Vec<Option<Millis>>,
    witness: Option<bool>,
    /// When the last witness answer arrived: only one that came after the peer fell silent
    /// speaks for the network as it is now.
    witness_at: Option<Millis>,
    relay: Option<Side>,
    relay_at: Option<Millis>,
    /// When the relay was last read elsewhere before a reading showed it on the peer's side: if that
    /// is after the peer went silent, the silent peer moved it (proof it is alive and acting).
    relay_moved_to_peer_at: Option<Millis>,
    last_switch_at: Option<Millis>,
    /// Last time the peer was seen switching (its claim on the calls started or ended).
    peer_switch_at: Option<Millis>,
    takeover_failures: u32,
    retry_after: Option<Millis>,
    /// Set when a takeover must be undone as soon as the actuator answers.
    abort_takeover: Option<Reason>,
    /// After the running release: go faulted instead of standby.
    fault_after_release: bool,
    /// This node released (or is releasing) and asks the peer to take over, until the deadline.
    handover_offer: Option<(bool, Millis)>,
    /// This standby asks the active to release to it, until the deadline.
    release_request: Option<(bool, Millis)>,
    /// Current takeover answers a handover from the peer.
    takeover_by_handover: bool,
    designated_since: Option<Millis>,
    /// Since when the peer has reported its own verdict as unknown (it just started).
    peer_unknown_since: Option<Millis>,
    /// When this node last gave way to the peer (step-down or aborted takeover).
    stepped_down_at: Option<Millis>,
    /// Consecutive messages from an active peer with an older term that has not seen ours.
    deaf_peer_messages: u32,
    /// When the first of those messages arrived.
    deaf_peer_since: Option<Millis>,
    last_sent: Option<PeerState>,
    last_sent_at: Option<Millis>,
    last_decision: Option<DecisionRecord>,
    /// Alerts raised and not cleared (see [`alerts`]).
    raised: Vec<AlertKey>,
    /// Alerts cleared during the current call, announced at its end.
    cleared: Vec<AlertKey>,
    /// Started without a term file: said once in an alert.
    term_file_missing: bool,
    /// The last cold-start check (cold standby); `None` before the first.
    cold_check: Option<Result<(), String>>,
    /// The floating IP's interface carrier (half of the service network).
    carrier: Result<(), String>,
    /// Whether a reachability target answers (the other half; `Ok` with none configured).
    reachability: Result<(), String>,
    /// What the term file says about the active role (written on every change).
    persisted_active_in: Option<u64>,
    /// The running (or last) takeover is the election of a pair with nobody active: it is
    /// not a switch and starts no hold-down.
    takeover_is_election: bool,
    /// A restarted daemon resumed the active role and has not had its peer's word yet.
    resume_check: Option<ResumeCheck>,
    /// Until when the completed takeover vouches for the local Asterisk (see
    /// [`DecideConfig::takeover_vouches_ms`]); ended by any change of the probes' verdict.
    takeover_vouches_until: Option<Millis>,
    /// Since when the peer says its Asterisk carries calls while probes from here fail.
    peer_unprobeable_since: Option<Millis>,
    /// Since when the peer says it cannot probe this node's Asterisk while it carries calls.
    unprobed_by_peer_since: Option<Millis>,
}

/// The state of a resumed active role until the peer confirms it (or the grace ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ResumeCheck {
    until: Millis,
    /// The evidence at start was not enough on its own: without the peer's word by `until`,
    /// the node steps down.
    peer_must_confirm: bool,
}

impl Core {
    /// A node always starts as standby (maintenance is not remembered either): a restarted node
    /// never resumes being active by itself.
    pub fn new(cfg: DecideConfig, persisted: PersistedState, now: Millis) -> Core {
        let links = cfg.links.max(1);
        Core {
            cfg,
            role: Role::Standby,
            term: persisted.term,
            active_term: persisted.term,
            maintenance: false,
            boot_at: now,
            now,
            caller_now: now,
            resumed_at: None,
            local: Verdict::Unknown,
            peer_asterisk: Verdict::Unknown,
            urgent_probe_at: None,
            urgent_probe_pending: false,
            urgent_answered_at: None,
            urgent_probe_failed: false,
            peer_asterisk_failed_at: None,
            local_failed_at: None,
            common_silence: None,
            peer_answered_at: None,
            peer_last: None,
            peer_last_at: None,
            link_last: vec![None; links],
            witness: None,
            witness_at: None,
            relay: None,
            relay_at: None,
            relay_moved_to_peer_at: None,
            last_switch_at: None,
            peer_switch_at: None,
            takeover_failures: 0,
            retry_after: None,
            abort_takeover: None,
            fault_after_release: false,
            handover_offer: None,
            release_request: None,
            takeover_by_handover: false,
            designated_since: None,
            deaf_peer_messages: 0,
            deaf_peer_since: None,
            stepped_down_at: None,
            peer_unknown_since: None,
            last_sent: None,
            last_sent_at: None,
            last_decision: None,
            raised: Vec::new(),
            cleared: Vec::new(),
            term_file_missing: persisted.missing,
            cold_check: None,
            carrier: Ok(()),
            reachability: Ok(()),
            persisted_active_in: persisted.active_in,
            takeover_is_election: false,
            resume_check: None,
            peer_unprobeable_since: None,
            unprobed_by_peer_since: None,
            takeover_vouches_until: None,
        }
    }

    /// A restarted daemon that [`super::resume::start_role`] found still active: the core
    /// starts active in `persisted.term` without any actuator command, and steps down if the
    /// peer knows a newer term (or, with `peer_must_confirm`, if the peer is not heard within
    /// `resume_grace`).
    pub fn resume(
        cfg: DecideConfig,
        persisted: PersistedState,
        now: Millis,
        peer_must_confirm: bool,
    ) -> Core {
        let grace = cfg.resume_grace_ms;
        let mut core = Core::new(cfg, persisted, now);
        core.role = Role::Active;
        core.active_term = persisted.term;
        core.persisted_active_in = Some(persisted.term);
        core.resume_check = Some(ResumeCheck {
            until: now.plus(grace),
            peer_must_confirm,
        });
        core
    }

    pub fn config(&self) -> &DecideConfig {
        &self.cfg
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn term(&self) -> u64 {
        self.term
    }

    /// Feed one input; execute the returned commands in order.
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Command> {
        self.handle_all(now, [input])
    }

    /// Several inputs that arrived together, applied before any rule is evaluated: the two
    /// verdicts of one silence shared by both Asterisks (`probe::shared_silence::VerdictGate`)
    /// are one observation, and acting between them would act on half of it.
    pub fn handle_all(
        &mut self,
        now: Millis,
        inputs: impl IntoIterator<Item = Input>,
    ) -> Vec<Command> {
        self.advance(now);
        let mut out = Vec::new();
        for input in inputs {
            self.apply(input, &mut out);
        }
        self.evaluate(&mut out);
        self.settle_alerts(&mut out);
        self.maybe_send(&mut out);
        out
    }

    /// Periodic evaluation (silence detection, sending); call at [`Core::next_tick_at`] at the latest.
    pub fn tick(&mut self, now: Millis) -> Vec<Command> {
        self.advance(now);
        let mut out = Vec::new();
        self.evaluate(&mut out);
        self.settle_alerts(&mut out);
        self.maybe_send(&mut out);
        out
    }

    /// When the core next needs a [`Core::tick`] (it may be called earlier).
    pub fn next_tick_at(&self) -> Millis {
        let c = &self.cfg;
        let mut next = self
            .last_sent_at
            .map_or(self.now, |t| t.plus(c.peer_interval_ms));
        let silent_since = self.silent_since();
        let mut candidates = vec![
            silent_since.plus(c.suspect_after_ms),
            silent_since.plus(c.peer_dead_after_ms),
            self.boot_at.plus(c.peer_dead_after_ms),
        ];
        candidates.extend(self.retry_after);
        candidates.extend(self.stepped_down_at.map(|t| t.plus(c.hold_down_ms)));
        candidates.extend(self.urgent_probe_at.map(|t| t.plus(c.peer_interval_ms)));
        candidates.extend(
            self.urgent_answered_at
                .map(|t| t.plus(c.probe_deadline_ms + EVIDENCE_SLACK_MS + 1)),
        );
        candidates.extend(self.last_switch_at.map(|t| t.plus(c.hold_down_ms)));
        candidates.extend(self.peer_switch_at.map(|t| t.plus(c.hold_down_ms)));
        candidates.extend(self.designated_since.map(|t| t.plus(c.peer_interval_ms)));
        candidates.extend(self.resume_check.map(|r| r.until));
        candidates.extend(self.takeover_vouches_until);
        candidates.extend(self.common_silence_confirmed_at());
        for since in [self.peer_unprobeable_since, self.unprobed_by_peer_since] {
            candidates.extend(since.map(|t| t.plus(UNPROBEABLE_AFTER_MS)));
        }
        for t in candidates {
            if t > self.now && t < next {
                next = t;
            }
        }
        // Back to the caller's clock.
        self.caller_now.plus(next.max(self.now).since(self.now))
    }

    pub fn status(&self) -> CoreStatus {
        let links = self
            .link_last
            .iter()
            .map(|t| LinkStatus {
                alive: t.is_some_and(|t| self.now.since(t) < self.cfg.peer_dead_after_ms),
                silent_ms: t.map(|t| self.now.since(t)),
            })
            .collect();
        CoreStatus {
            me: self.cfg.me,
            role: self.role,
            term: self.term,
            maintenance: self.maintenance,
            local_verdict: self.local,
            peer: PeerView {
                alive: self.peer_alive(),
                silent_ms: self.peer_last_at.map(|t| self.now.since(t)),
                links,
                last: self.peer_last,
                asterisk_verdict: self.peer_asterisk,
            },
            witness: self.witness,
            relay: self.relay,
            hold_down_left_ms: [self.last_switch_at, self.peer_switch_at]
                .into_iter()
                .flatten()
                .map(|t| t.plus(self.cfg.hold_down_ms).since(self.now))
                .max()
                .unwrap_or(0),
            takeover_failures: self.takeover_failures,
            dead_peer_takeover_held_ms: self.dead_peer_takeover_held_ms(),
            last_decision: self.last_decision.clone(),
            readiness: self.readiness(),
            readiness_problem: self.readiness_problem(),
            resume_unconfirmed: self.resume_check.is_some(),
            cold_standby: self.is_cold_standby(),
        }
    }

    // ----- inputs -------------------------------------------------------------------------

    /// Move the core's own clock by the time elapsed on the caller's clock. If the caller's clock
    /// goes back (it should be monotonic), no time passes and the core keeps working from there,
    /// instead of freezing until the caller's clock catches up.
    fn advance(&mut self, now: Millis) {
        let elapsed = now.since(self.caller_now);
        self.caller_now = now;
        self.now = self.now.plus(elapsed);
        if elapsed > self.cfg.peer_dead_after_ms {
            // We were not run for a long while (process or VM stall, clock jump): whatever we
            // concluded before is stale and the peer's messages may be waiting in the socket.
            // Measure silence and gather evidence afresh from now.
            self.resumed_at = Some(self.now);
            self.urgent_probe_failed = false;
            self.urgent_probe_at = None;
        }
    }

    fn apply(&mut self, input: Input, out: &mut Vec<Command>) {
        match input {
            Input::LocalVerdict(v) => {
                if v != self.local {
                    self.takeover_vouches_until = None;
                }
                if v == Verdict::Failed && self.local != Verdict::Failed {
                    self.local_failed_at = Some(self.now);
                }
                self.local = v;
                self.track_common_silence();
            }
            Input::PeerAsteriskVerdict(v) => {
                if v == Verdict::Failed && self.peer_asterisk != Verdict::Failed {
                    self.peer_asterisk_failed_at = Some(self.now);
                }
                self.peer_asterisk = v;
                self.track_common_silence();
                if v != Verdict::Failed {
                    // A probe answered since the urgent one failed: newer evidence wins.
                    self.urgent_probe_failed = false;
                }
            }
            Input::UrgentProbeResult { ok } => {
                self.urgent_probe_pending = false;
                // A message since the request makes the answer moot.
                if self.urgent_probe_at.is_some() {
                    self.urgent_probe_failed = !ok;
                    self.urgent_answered_at = self.urgent_probe_at;
                    if ok {
                        // The latest evidence wins: a failed verdict from a probe that may have
                        // started before this one no longer counts.
                        self.peer_answered_at = self.urgent_probe_at;
                    }
                }
            }
            Input::PeerMessage {
                link,
                state,
                newest,
            } => self.on_peer_message(link, state, newest, out),
            Input::RelayPosition(side) => {
                let peer = Some(self.cfg.me.other());
                if side == peer && self.relay != peer {
                    // Remember when the reading that still showed it elsewhere was taken.
                    self.relay_moved_to_peer_at = self.relay_at;
                }
                self.relay = side;
                self.relay_at = Some(self.now);
            }
            Input::TakeoverDone => self.on_takeover_done(out),
            Input::TakeoverFailed { error } => self.on_takeover_failed(error, out),
            Input::ReleaseDone => self.on_release_done(out),
            Input::ReleaseFailed { error } => self.on_release_failed(error, out),
            Input::Operator(cmd) => self.on_operator(cmd, out),
            Input::Witness(ok) => {
                self.witness = Some(ok);
                self.witness_at = Some(self.now);
            }
            Input::ColdStartCheck(result) => self.cold_check = Some(result),
            Input::Carrier(result) => {
                let was_down = self.service_network().is_err();
                self.carrier = result;
                self.after_service_network_change(was_down);
            }
            Input::Reachability(result) => {
                let was_down = self.service_network().is_err();
                self.reachability = result;
                self.after_service_network_change(was_down);
            }
        }
    }

    /// Whether this node's service network can serve clients: its interface has carrier and a
    /// reachability target answers; else why not (the carrier first: it explains the rest).
    fn service_network(&self) -> Result<(), &str> {
        self.carrier
            .as_ref()
            .and(self.reachability.as_ref())
            .map(|_| ())
            .map_err(String::as_str)
    }

    /// Back from its own cut: the silence and the failing peer Asterisk it saw while cut off
    /// may be its own network's doing. It gathers fresh evidence, as after a stall, instead of
    /// taking over a live peer before the peer link is heard again.
    fn after_service_network_change(&mut self, was_down: bool) {
        if was_down && self.service_network().is_ok() {
            self.resumed_at = Some(self.now);
            self.urgent_probe_failed = false;
            self.urgent_probe_at = None;
        }
    }

    fn on_peer_message(
        &mut self,
        link: usize,
        state: PeerState,
        newest: bool,
        out: &mut Vec<Command>,
    ) {
        if state.from != self.cfg.me.other() {
            return; // the codec filters these; never trust our own reflection
        }
        if let Some(slot) = self.link_last.get_mut(link) {
            *slot = Some(self.now);
        }
        if !newest {
            self.peer_last_at = Some(self.now);
            return;
        }
        let deaf = self.role == Role::Active
            && state.role == Role::Active
            && state.term < self.active_term
            && state.seen_term < self.active_term;
        if deaf {
            self.deaf_peer_messages += 1;
            self.deaf_peer_since.get_or_insert(self.now);
        } else {
            self.deaf_peer_messages = 0;
            self.deaf_peer_since = None;
        }
        let was_claiming = self.peer_last.is_some_and(|p| p.role.claims_calls());
        // The peer's claim starting while nobody held the calls (this node neither claiming,
        // releasing nor handing over) is an election, not a switch: no hold-down.
        let election = !was_claiming
            && state.role.claims_calls()
            && matches!(self.role, Role::Standby | Role::Maintenance | Role::Faulted)
            && self.handover_offer.is_none();
        if self.peer_last.is_some() && was_claiming != state.role.claims_calls() && !election {
            self.peer_switch_at = Some(self.now);
        }
        // The peer's word on a resumed role: a standby peer that knows no newer term confirms
        // it; anything else is left to the step-down rules.
        if self.resume_check.is_some()
            && state.term <= self.active_term
            && !state.role.claims_calls()
        {
            self.resume_check = None;
        }
        if state.readiness != Readiness::Unknown {
            self.peer_unknown_since = None;
        } else if self.peer_unknown_since.is_none() {
            self.peer_unknown_since = Some(self.now);
        }
        self.peer_last = Some(state);
        self.peer_last_at = Some(self.now);
        self.urgent_probe_at = None;
        self.urgent_probe_failed = false;
        if state.term > self.term {
            self.term = state.term;
            out.push(Command::PersistTerm {
                term: self.term,
                active_in: self.persisted_active_in,
            });
        }
        if state.role.claims_calls() {
            self.handover_offer = None;
        }
        if state.role != Role::Active && state.role != Role::Releasing {
            self.release_request = None;
        }
    }

    fn on_takeover_done(&mut self, out: &mut Vec<Command>) {
        if self.role != Role::TakingOver {
            return;
        }
        self.takeover_by_handover = false;
        if let Some(reason) = self.abort_takeover.take() {
            self.begin_release(DecisionKind::AbortTakeover, reason, out);
            return;
        }
        self.role = Role::Active;
        self.takeover_failures = 0;
        // The sequence just proved the local Asterisk (booted, one test call passed): a failed
        // verdict the probes gave before — a cold standby's stopped Asterisk — is stale.
        if !self.local.can_carry_calls() {
            self.takeover_vouches_until = Some(self.now.plus(self.cfg.takeover_vouches_ms));
        }
        if !self.takeover_is_election {
            self.last_switch_at = Some(self.now);
        }
        // A restarted daemon resumes the active role only in the term it was active in.
        self.persist_active_in(Some(self.active_term), out);
    }

    fn on_takeover_failed(&mut self, error: String, out: &mut Vec<Command>) {
        if self.role != Role::TakingOver {
            return;
        }
        self.takeover_by_handover = false;
        if let Some(reason) = self.abort_takeover.take() {
            // Cancelled because this node gave way (or failed after that): no failure of this
            // node's, just the release of whatever part of the takeover happened.
            self.begin_release(DecisionKind::AbortTakeover, reason, out);
            return;
        }
        self.takeover_failures += 1;
        let give_up = self.takeover_failures >= self.cfg.max_takeover_failures;
        self.raise(
            AlertKey::TakeoverFailed,
            AlertSeverity::Critical,
            format!(
                "takeover failed ({} in a row): {error}",
                self.takeover_failures
            ),
            out,
        );
        self.retry_after = Some(self.now.plus(self.cfg.takeover_retry_ms));
        // Undo whatever part of the takeover happened before trying again.
        self.begin_release(DecisionKind::Release, Reason::TakeoverFailed { error }, out);
        self.fault_after_release = give_up;
    }

    fn on_release_done(&mut self, out: &mut Vec<Command>) {
        if self.role != Role::Releasing {
            return;
        }
        self.last_switch_at = Some(self.now);
        if self.fault_after_release {
            self.fault_after_release = false;
            self.role = Role::Faulted;
            self.raise(
                AlertKey::Faulted,
                AlertSeverity::Critical,
                format!(
                    "{} takeovers failed in a row, node faulted (fix, then `astha maintenance off`)",
                    self.takeover_failures
                ),
                out,
            );
        } else if self.maintenance {
            self.role = Role::Maintenance;
        } else {
            self.role = Role::Standby;
        }
    }

    fn on_release_failed(&mut self, error: String, out: &mut Vec<Command>) {
        if self.role != Role::Releasing {
            return;
        }
        self.role = Role::Faulted;
        self.fault_after_release = false;
        let reason = Reason::TakeoverFailed {
            error: format!("release failed: {error}"),
        };
        self.record(DecisionKind::Faulted, reason, out);
        self.raise(
            AlertKey::Faulted,
            AlertSeverity::Critical,
            format!("release failed, node faulted (fix, then `astha maintenance off`): {error}"),
            out,
        );
    }

    // ----- facts the rules share ----------------------------------------------------------

    fn peer_alive(&self) -> bool {
        self.peer_last_at
            .is_some_and(|t| self.now.since(t) < self.cfg.peer_dead_after_ms)
    }

    /// The peer's last state, if it is alive (heard within `peer_dead_after`).
    fn alive_peer(&self) -> Option<PeerState> {
        self.peer_alive().then_some(self.peer_last).flatten()
    }

    /// Start of the current silence as far as decisions go (a stall restarts it).
    fn silent_since(&self) -> Millis {
        self.peer_last_at
            .unwrap_or(self.boot_at)
            .max(self.resumed_at.unwrap_or(self.boot_at))
    }

    fn peer_silent_ms(&self) -> u64 {
        self.now.since(self.silent_since())
    }

    /// Time left during which a dead-peer takeover is held down because this node gave way to
    /// the peer (ms).
    fn dead_peer_takeover_held_ms(&self) -> u64 {
        self.stepped_down_at
            .map_or(0, |t| t.plus(self.cfg.hold_down_ms).since(self.now))
    }

    /// Hold-down is cluster-wide: a switch by either node counts.
    fn held_down(&self) -> bool {
        [self.last_switch_at, self.peer_switch_at]
            .into_iter()
            .flatten()
            .any(|t| self.now.since(t) < self.cfg.hold_down_ms)
    }

    /// Whether this node could take the calls now, and if not, the first reason why (see
    /// [`super::super::readiness`]).
    fn readiness(&self) -> Readiness {
        if self.service_network().is_err() {
            return Readiness::ServiceNetworkDown;
        }
        let by_probes = Readiness::from_verdict(self.local_verdict());
        if self.is_cold_standby() && !by_probes.is_ready() {
            // Its Asterisk is stopped on purpose: the start check speaks for it.
            return match &self.cold_check {
                None => Readiness::Unknown,
                Some(Ok(())) => Readiness::Ready,
                Some(Err(_)) => Readiness::ColdStartCheckFailed,
            };
        }
        by_probes
    }

    /// [`Core::readiness`] in words, with the details the node has (None when ready).
    fn readiness_problem(&self) -> Option<String> {
        let readiness = self.readiness();
        Some(match readiness {
            Readiness::Ready => return None,
            Readiness::ServiceNetworkDown => format!(
                "its service network is down ({})",
                self.service_network().err().unwrap_or_default()
            ),
            Readiness::ColdStartCheckFailed => format!(
                "its cold-start check fails ({})",
                self.cold_check
                    .as_ref()
                    .and_then(|c| c.as_ref().err())
                    .map_or("", String::as_str)
            ),
            Readiness::AsteriskCannotCarryCalls | Readiness::Unknown if !self.is_cold_standby() => {
                format!("its Asterisk is {}", self.local_verdict())
            }
            other => other.describe().to_string(),
        })
    }

    /// The local Asterisk's verdict as the rules use it: the probes', except that a completed
    /// takeover vouches for it for a while (see [`DecideConfig::takeover_vouches_ms`]).
    fn local_verdict(&self) -> Verdict {
        match self.takeover_vouches_until {
            Some(until) if self.now < until && self.role == Role::Active => Verdict::Healthy,
            _ => self.local,
        }
    }

    /// A cold standby's Asterisk is stopped on purpose while it does not claim the calls.
    fn is_cold_standby(&self) -> bool {
        self.cfg.standby == StandbyMode::Cold
            && matches!(self.role, Role::Standby | Role::Maintenance)
    }

    fn relay_fresh(&self) -> Option<Side> {
        match self.relay_at {
            Some(t) if self.now.since(t) <= self.cfg.relay_fresh_ms => self.relay,
            _ => None,
        }
    }

    /// Housekeeping, then the rules of the current role.
    fn evaluate(&mut self, out: &mut Vec<Command>) {
        if std::mem::take(&mut self.term_file_missing) {
            self.raise(
                AlertKey::TermFileMissing,
                AlertSeverity::Warning,
                "no term file found: starting at term 0 (fine on a first start; the peer's term is adopted)"
                    .into(),
                out,
            );
        }
        self.expire_handover_offer_and_request(out);
        self.expire_resume_check();
        self.watch_own_readiness(out);
        self.watch_probes_across(out);
        self.gather_evidence_on_silent_peer(out);
        match self.role {
            Role::Active => self.evaluate_active(out),
            Role::TakingOver => self.evaluate_taking_over(out),
            Role::Standby => self.evaluate_standby(out),
            Role::Maintenance => self.evaluate_maintenance(out),
            Role::Releasing | Role::Faulted => {}
        }
    }

    /// A handover offer or request stays open for `handover_timeout` only.
    fn expire_handover_offer_and_request(&mut self, out: &mut Vec<Command>) {
        if let Some((_, until)) = self.handover_offer {
            if self.now >= until {
                self.handover_offer = None;
            }
        }
        if let Some((_, until)) = self.release_request {
            if self.now >= until {
                self.release_request = None;
                let message = format!(
                    "{} did not release in time; handover request dropped",
                    self.cfg.me.other()
                );
                self.raise(
                    AlertKey::HandoverRequestExpired,
                    AlertSeverity::Warning,
                    message,
                    out,
                );
            }
        }
    }

    /// A resumed role needs no further word from the peer once the grace is over, unless the
    /// evidence at start needed it (then `restart_confirmed_by_peer_in_time` steps down).
    fn expire_resume_check(&mut self) {
        if self
            .resume_check
            .is_some_and(|r| self.now >= r.until && !r.peer_must_confirm)
        {
            self.resume_check = None;
        }
    }

    /// Ages the urgent probe's answer and asks for a new one while the peer stays silent.
    fn gather_evidence_on_silent_peer(&mut self, out: &mut Vec<Command>) {
        // A failed urgent probe is evidence until shortly after its deadline, counted from when
        // it was sent (it tells how the peer was somewhere in between); after that, ask again.
        let evidence_life = self.cfg.probe_deadline_ms + EVIDENCE_SLACK_MS;
        if self.urgent_probe_failed
            && self
                .urgent_answered_at
                .is_none_or(|t| self.now.since(t) > evidence_life)
        {
            self.urgent_probe_failed = false;
        }
        // While the peer is silent, keep asking for fresh evidence about its Asterisk (one probe
        // in flight at a time, at most one per interval) until a probe fails or the peer speaks.
        let probe_due = self
            .urgent_probe_at
            .is_none_or(|t| self.now.since(t) >= self.cfg.peer_interval_ms);
        if !self.urgent_probe_pending
            && !self.urgent_probe_failed
            && probe_due
            && self.peer_silent_ms() >= self.cfg.suspect_after_ms
        {
            self.urgent_probe_at = Some(self.now);
            self.urgent_probe_pending = true;
            out.push(Command::ProbePeerNow {
                deadline_ms: self.cfg.urgent_probe_deadline_ms,
            });
        }
    }

    // ----- actions ------------------------------------------------------------------------

    fn start_takeover(&mut self, reason: Reason, out: &mut Vec<Command>) {
        self.term += 1;
        self.active_term = self.term;
        self.role = Role::TakingOver;
        self.designated_since = None;
        self.retry_after = None;
        self.abort_takeover = None;
        // Ending an outage with nobody active is no switch to flap from: no hold-down.
        self.takeover_is_election = reason == Reason::NoActiveNode;
        if !self.takeover_is_election {
            self.last_switch_at = Some(self.now);
        }
        // Durable before anything uses it: the driver executes commands in order.
        out.push(Command::PersistTerm {
            term: self.term,
            active_in: self.persisted_active_in,
        });
        self.record(DecisionKind::Takeover, reason.clone(), out);
        out.push(Command::StartTakeover {
            term: self.term,
            reason,
        });
    }

    /// Release while asking the peer to take over.
    fn begin_handover(&mut self, reason: Reason, forced: bool, out: &mut Vec<Command>) {
        let until = self.now.plus(self.cfg.handover_timeout_ms);
        self.handover_offer = Some((forced, until));
        self.begin_release(DecisionKind::Release, reason, out);
    }

    fn begin_release(&mut self, kind: DecisionKind, reason: Reason, out: &mut Vec<Command>) {
        self.role = Role::Releasing;
        self.release_request = None;
        self.resume_check = None;
        // Before the release touches anything: a daemon restarted mid-release must not resume.
        self.persist_active_in(None, out);
        if matches!(kind, DecisionKind::StepDown | DecisionKind::AbortTakeover) {
            // We gave way to the peer: it was alive a moment ago.
            self.stepped_down_at = Some(self.now);
        }
        self.last_switch_at = Some(self.now);
        self.record(kind, reason.clone(), out);
        out.push(Command::StartRelease { reason });
    }

    /// Writes the term file again when the term this node is active in changes.
    fn persist_active_in(&mut self, active_in: Option<u64>, out: &mut Vec<Command>) {
        if self.persisted_active_in != active_in {
            self.persisted_active_in = active_in;
            out.push(Command::PersistTerm {
                term: self.term,
                active_in,
            });
        }
    }

    fn record(&mut self, kind: DecisionKind, reason: Reason, out: &mut Vec<Command>) {
        let p = self.peer_last;
        let record = DecisionRecord {
            at: self.now,
            kind,
            term: self.term,
            reason,
            inputs: DecisionInputs {
                local_verdict: self.local,
                peer_asterisk_verdict: self.peer_asterisk,
                urgent_probe_failed: self.urgent_probe_failed,
                peer_silent_ms: self.peer_last_at.map(|t| self.now.since(t)),
                peer_role: p.map(|p| p.role),
                peer_term: p.map(|p| p.term),
                peer_own_verdict: p.map(|p| p.own_verdict),
                witness: self.witness,
                relay: self.relay_fresh(),
                readiness: self.readiness(),
                peer_readiness: p.map(|p| p.readiness),
            },
        };
        self.last_decision = Some(record.clone());
        out.push(Command::Decision(record));
    }

    fn own_state(&self) -> PeerState {
        let handover = if let Some((forced, _)) = self.handover_offer {
            Handover::ReleasingToYou { forced }
        } else if let Some((forced, _)) = self.release_request {
            Handover::PleaseRelease { forced }
        } else if self.role == Role::TakingOver && self.takeover_by_handover {
            Handover::Ack
        } else {
            Handover::None
        };
        PeerState {
            from: self.cfg.me,
            role: self.role,
            term: if self.role.claims_calls() {
                self.active_term
            } else {
                self.term
            },
            seen_term: self.term,
            maintenance: self.maintenance,
            own_verdict: self.local_verdict(),
            peer_verdict: self.peer_asterisk,
            relay_seen: self.relay_fresh(),
            handover,
            readiness: self.readiness(),
            cold_standby: self.is_cold_standby(),
        }
    }

    fn maybe_send(&mut self, out: &mut Vec<Command>) {
        let state = self.own_state();
        let due = self
            .last_sent_at
            .is_none_or(|t| self.now.since(t) >= self.cfg.peer_interval_ms);
        // Changes go out at once: a handover must not wait for the next interval.
        if due || self.last_sent != Some(state) {
            self.last_sent = Some(state);
            self.last_sent_at = Some(self.now);
            out.push(Command::SendPeer(state));
        }
    }
}
