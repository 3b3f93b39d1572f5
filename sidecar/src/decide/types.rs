//! The decision core's vocabulary: time, configuration, inputs, commands, peer state and status.

use std::fmt;

use crate::actuate::config::StandbyMode;
use crate::side::Side;
use crate::verdict::Verdict;

pub use super::readiness::Readiness;

/// Milliseconds of a monotonic clock since the driver started. The core never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

impl Millis {
    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
    pub fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

/// Tunables of the decision core. [`DecideConfig::new`] gives the defaults tuned for the targets
/// (standby active within 800 ms of the active's death).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecideConfig {
    /// This node's side.
    pub me: Side,
    /// Number of peer links (datagrams arrive tagged with a link index below this).
    pub links: usize,
    /// How often a peer message is sent on every link (ms).
    pub peer_interval_ms: u64,
    /// Silence on every link after which the peer counts as silent (ms).
    pub peer_dead_after_ms: u64,
    /// Silence after which urgent probes of the peer's Asterisk are requested (ms), repeated every
    /// `peer_interval_ms` while the silence lasts and they succeed.
    pub suspect_after_ms: u64,
    /// Deadline given to the urgent probe (ms). At least half the regular ping deadline: a much
    /// shorter one would call a slow but working Asterisk failed.
    pub urgent_probe_deadline_ms: u64,
    /// Deadline of the probe layer's regular pings of the peer's Asterisk (ms): a verdict that
    /// failed at `t` may come from a ping sent at `t - probe_deadline_ms`.
    pub probe_deadline_ms: u64,
    /// Minimum time between two automatic non-emergency switches (ms).
    pub hold_down_ms: u64,
    /// Whether a witness is configured; when it is, a takeover from a silent peer needs it reachable.
    pub witness: bool,
    /// Side that takes the calls when both are healthy and nobody is active yet.
    pub preferred: Side,
    /// If set, this side asks for the calls back once healthy (automatic failback). Off by default.
    pub failback_to: Option<Side>,
    /// How long a handover request or offer stays open (ms).
    pub handover_timeout_ms: u64,
    /// Wait after a failed takeover before trying again (ms).
    pub takeover_retry_ms: u64,
    /// Failed takeovers in a row before the node gives up and goes faulted.
    pub max_takeover_failures: u32,
    /// How long a relay read-back stays meaningful (ms).
    pub relay_fresh_ms: u64,
    /// Whether this node's Asterisk runs while it is standby (warm) or is started on takeover
    /// (cold): a cold standby can take over when its start check passes, not its probes.
    pub standby: StandbyMode,
    /// How long a restarted active waits to hear its peer before the resumed role counts as
    /// confirmed (ms); see [`super::resume`].
    pub resume_grace_ms: u64,
    /// After a takeover the sequence itself proved the local Asterisk (`FullyBooted`, one test
    /// call); a verdict of failure the probes gave before — a cold standby's stopped Asterisk —
    /// is not acted upon for this long (ms), or until the probes' verdict changes: their
    /// hysteresis needs a few successes in a row to recover (about ten seconds by default).
    pub takeover_vouches_ms: u64,
}

impl DecideConfig {
    pub fn new(me: Side) -> Self {
        DecideConfig {
            me,
            links: 2,
            peer_interval_ms: 200,
            peer_dead_after_ms: 600,
            suspect_after_ms: 250,
            urgent_probe_deadline_ms: 500,
            probe_deadline_ms: 500,
            hold_down_ms: 10_000,
            witness: false,
            preferred: Side::A,
            failback_to: None,
            handover_timeout_ms: 3_000,
            takeover_retry_ms: 1_000,
            max_takeover_failures: 3,
            relay_fresh_ms: 2_000,
            standby: StandbyMode::Warm,
            resume_grace_ms: 1_500,
            takeover_vouches_ms: 15_000,
        }
    }
}

/// Tunables of the decision core that cannot work together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideConfigError {
    #[error("at least one peer link is needed")]
    NoLinks,
    #[error("peer_dead_after ({dead} ms) must be at least twice peer_interval ({interval} ms), or one lost datagram declares the peer dead")]
    DeadAfterTooShort { dead: u64, interval: u64 },
    #[error("suspect_after ({suspect} ms) must lie between peer_interval ({interval} ms) and peer_dead_after ({dead} ms)")]
    SuspectOutOfRange {
        suspect: u64,
        interval: u64,
        dead: u64,
    },
    #[error("urgent_probe_deadline ({urgent} ms) must be at least half the regular probe deadline ({regular} ms): a slow but working Asterisk would look failed")]
    UrgentDeadlineTooShort { urgent: u64, regular: u64 },
    #[error("failback_to is set but hold_down is 0: the pair would flap")]
    FailbackWithoutHoldDown,
}

impl DecideConfig {
    /// Check the tunables against each other. (The daemon derives them from a configuration
    /// that `config` has already checked; the simulator and the tests build them by hand.)
    pub fn validate(&self) -> Result<(), DecideConfigError> {
        let (interval, dead, suspect) = (
            self.peer_interval_ms,
            self.peer_dead_after_ms,
            self.suspect_after_ms,
        );
        if self.links == 0 {
            return Err(DecideConfigError::NoLinks);
        }
        if dead < 2 * interval {
            return Err(DecideConfigError::DeadAfterTooShort { dead, interval });
        }
        if suspect <= interval || suspect >= dead {
            return Err(DecideConfigError::SuspectOutOfRange {
                suspect,
                interval,
                dead,
            });
        }
        // The urgent probe only counts together with silence on every peer link (two signs of
        // a dead node), so it may be shorter than the lone ping's window, but not much.
        if self.urgent_probe_deadline_ms * 2 < self.probe_deadline_ms {
            return Err(DecideConfigError::UrgentDeadlineTooShort {
                urgent: self.urgent_probe_deadline_ms,
                regular: self.probe_deadline_ms,
            });
        }
        if self.failback_to.is_some() && self.hold_down_ms == 0 {
            return Err(DecideConfigError::FailbackWithoutHoldDown);
        }
        Ok(())
    }
}

/// What survives a restart (see [`super::term_store`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PersistedState {
    /// Highest term this node used or saw.
    pub term: u64,
    /// The term this node was active in when it last wrote the file (`None`: it was not
    /// active). A restarted daemon may resume the active role only in that term.
    pub active_in: Option<u64>,
    /// True when no term file was found (fresh install, or the file was lost).
    pub missing: bool,
    /// True when the file has the format of astha 0.1 (`term=N` only), which did not record
    /// whether the node was active.
    pub legacy_format: bool,
}

/// The role of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    #[default]
    Standby,
    TakingOver,
    Active,
    Releasing,
    Maintenance,
    Faulted,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Standby => "standby",
            Role::TakingOver => "taking-over",
            Role::Active => "active",
            Role::Releasing => "releasing",
            Role::Maintenance => "maintenance",
            Role::Faulted => "faulted",
        }
    }
    /// Active or on its way there: a peer in this role claims the calls.
    pub fn claims_calls(self) -> bool {
        matches!(self, Role::Active | Role::TakingOver)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Handover signalling carried in every peer message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Handover {
    #[default]
    None,
    /// A standby asks the active to release to it (operator failover or failback).
    PleaseRelease { forced: bool },
    /// The sender is releasing (or has released) and asks the receiver to take over.
    ReleasingToYou { forced: bool },
    /// The sender is taking over because the receiver handed over.
    Ack,
}

/// What a node tells its peer every `peer_interval` and on every change (the payload of a datagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerState {
    pub from: Side,
    pub role: Role,
    /// The term the sender is active under (when claiming the calls), else the highest it knows.
    pub term: u64,
    /// Highest term the sender knows, including ours: shows whether it hears us.
    pub seen_term: u64,
    pub maintenance: bool,
    /// The sender's verdict on its own Asterisk.
    pub own_verdict: Verdict,
    /// The sender's verdict on the receiver's Asterisk: tells the receiver whether the sender
    /// can probe it (see the unprobeable-Asterisk alerts).
    pub peer_verdict: Verdict,
    /// Relay position the sender last read back, if its relay can be read.
    pub relay_seen: Option<Side>,
    pub handover: Handover,
    /// Whether the sender could take the calls now, and if not, why (a version-1 peer's is
    /// derived from its verdict: [`Readiness::from_verdict`]).
    pub readiness: Readiness,
    /// The sender is a cold standby: its Asterisk is stopped on purpose (false from a
    /// version-1 peer).
    pub cold_standby: bool,
}

/// Operator requests, from the CLI or the dialplan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorCommand {
    /// Move the calls to the other node (on the active) or to this node (on the standby).
    Failover {
        force: bool,
        reason: String,
    },
    Maintenance {
        on: bool,
    },
}

/// Everything the core reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Verdict on this node's Asterisk changed.
    LocalVerdict(Verdict),
    /// Verdict on the peer's Asterisk (probed from here) changed.
    PeerAsteriskVerdict(Verdict),
    /// Result of a [`Command::ProbePeerNow`].
    UrgentProbeResult {
        ok: bool,
    },
    /// An authenticated, non-replayed peer message arrived on link `link`. `newest` is false when
    /// a datagram with a higher sequence number was already accepted (reordering across links):
    /// such a message only proves the link alive, its state is not used.
    PeerMessage {
        link: usize,
        state: PeerState,
        newest: bool,
    },
    /// The relay position read back (`None`: the device answered nothing usable).
    RelayPosition(Option<Side>),
    TakeoverDone,
    TakeoverFailed {
        error: String,
    },
    ReleaseDone,
    ReleaseFailed {
        error: String,
    },
    Operator(OperatorCommand),
    /// Whether the configured witness answers from here.
    Witness(bool),
    /// The cold-start check (cold standby): `Ok` when this node could start its Asterisk now,
    /// else why not.
    ColdStartCheck(Result<(), String>),
    /// Carrier of the floating IP's interface, one half of this node's service network: `Ok`
    /// when up, else why not. Up until told otherwise.
    Carrier(Result<(), String>),
    /// The reachability targets (`[service_network] targets`), the other half: `Ok` while at
    /// least one answers (or none is configured), else why none does. Up until told otherwise.
    Reachability(Result<(), String>),
}

/// Why a decision was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Peer silent on every link and its Asterisk fails probes from here.
    PeerDead,
    /// The peer released and asked this node to take over.
    PeerHandedOver,
    /// Nobody is active and this node is the designated one.
    NoActiveNode,
    /// This node's call path failed and the standby is healthy.
    OwnCallPathFailed,
    /// The standby asked for the calls (operator on the standby, or failback).
    PeerRequested {
        forced: bool,
    },
    /// Met an active or taking-over peer with a higher term (or equal term, and it is side A).
    PeerHigherTerm {
        peer_term: u64,
    },
    /// The relay is on the peer's side.
    PeerHoldsRelay,
    /// The peer claims the calls under an older term and does not hear this node (one-way link):
    /// it cannot step down, so this node yields.
    PeerCannotHearUs,
    Operator {
        reason: String,
        forced: bool,
    },
    Failback,
    /// Clean-up after a takeover that failed.
    TakeoverFailed {
        error: String,
    },
    /// This node's service network is down and the standby can take the calls.
    ServiceNetworkDown {
        detail: String,
    },
    /// A restarted daemon resumed the active role, but the peer knows a newer term.
    NewerTermSinceRestart {
        peer_term: u64,
    },
    /// A restarted daemon resumed the active role on evidence that needs the peer's word,
    /// and the peer was not heard in time.
    ResumeUnconfirmed,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::PeerDead => f.write_str("peer silent on every link and its Asterisk fails probes from here"),
            Reason::PeerHandedOver => f.write_str("peer handed over"),
            Reason::NoActiveNode => f.write_str("no node is active and this node is the designated one"),
            Reason::OwnCallPathFailed => f.write_str("own call path failed and the standby is healthy"),
            Reason::PeerRequested { forced } => write!(f, "peer requested the calls{}", if *forced { " (forced)" } else { "" }),
            Reason::PeerHigherTerm { peer_term } => write!(f, "met an active peer with term {peer_term}"),
            Reason::PeerHoldsRelay => f.write_str("the relay is on the peer's side"),
            Reason::PeerCannotHearUs => f.write_str("an active peer with an older term does not hear this node (one-way link): yielding"),
            Reason::Operator { reason, forced } => {
                write!(f, "operator failover{}: {reason}", if *forced { " (forced)" } else { "" })
            }
            Reason::Failback => f.write_str("automatic failback to the preferred side"),
            Reason::TakeoverFailed { error } => write!(f, "takeover failed: {error}"),
            Reason::ServiceNetworkDown { detail } => write!(f, "own service network down ({detail}) and the standby can take the calls"),
            Reason::NewerTermSinceRestart { peer_term } => write!(f, "resumed after a restart, but the peer knows the newer term {peer_term}"),
            Reason::ResumeUnconfirmed => f.write_str("resumed after a restart, but the peer did not confirm the term in time"),
        }
    }
}

/// How urgent an [`Command::Alert`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertSeverity {
    Warning,
    Critical,
}

impl AlertSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSeverity::Warning => "warning",
            AlertSeverity::Critical => "critical",
        }
    }
}

/// What an alert is about: at most one alert of each kind is active at a time. The core raises
/// each once ([`Command::Alert`]) and says when its condition ended ([`Command::AlertCleared`]);
/// the names ([`AlertKey::as_str`]) are the `kind` of the status document, the metrics and the
/// alert events, so they are part of astha's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKey {
    /// The peer is silent on every link but alive (its Asterisk answers, or it moved the relay).
    BrokenLink,
    /// A takeover is due (dead peer, handover) but this node's Asterisk cannot carry calls.
    LocalUnhealthyNoTakeover,
    /// The peer looks dead but the configured witness does not answer from here.
    WitnessUnreachable,
    /// This active node's call path failed and no standby can take the calls.
    OwnCallPathFailedNoStandby,
    /// The relay reads back on the standby's side while this node is active.
    RelayOnStandbySide,
    /// The peer is faulted and nobody is active.
    PeerFaulted,
    /// The peer looks dead, but this node gave way to it recently: holding down.
    HeldAfterStepDown,
    /// A takeover by this node failed; active until one succeeds or the peer carries the calls.
    TakeoverFailed,
    /// This node is faulted (a release failed, or takeovers failed in a row) until an operator
    /// runs `astha maintenance off`.
    Faulted,
    /// The active peer did not release when this node asked for the calls.
    HandoverRequestExpired,
    /// Started without a term file; ends once a term is persisted.
    TermFileMissing,
    /// Raised by the daemon, not the core: DRBD left this standby behind and its disk was
    /// outdated; ends when the disk is UpToDate again.
    DrbdOutdated,
    /// This node's service network (the floating IP's interface) is down: it cannot serve.
    ServiceNetworkDown,
    /// A cold standby's cold-start check fails: it could not start its Asterisk.
    ColdStartCheckFailed,
    /// The peer says its Asterisk carries calls but this node cannot probe it.
    PeerAsteriskUnprobeable,
    /// The peer cannot probe this node's Asterisk.
    UnprobedByPeer,
    /// Raised by the daemon: the relay's watchdog kicks fail (the device will move the calls).
    RelayWatchdogKickFailing,
    /// Raised by the daemon: the relay's watchdog is off on the side this active node holds.
    RelayWatchdogOff,
}

impl AlertKey {
    /// Every kind, in a stable order (metrics list each one, active or not).
    pub const ALL: [AlertKey; 18] = [
        AlertKey::BrokenLink,
        AlertKey::LocalUnhealthyNoTakeover,
        AlertKey::WitnessUnreachable,
        AlertKey::OwnCallPathFailedNoStandby,
        AlertKey::RelayOnStandbySide,
        AlertKey::PeerFaulted,
        AlertKey::HeldAfterStepDown,
        AlertKey::TakeoverFailed,
        AlertKey::Faulted,
        AlertKey::HandoverRequestExpired,
        AlertKey::TermFileMissing,
        AlertKey::DrbdOutdated,
        AlertKey::ServiceNetworkDown,
        AlertKey::ColdStartCheckFailed,
        AlertKey::PeerAsteriskUnprobeable,
        AlertKey::UnprobedByPeer,
        AlertKey::RelayWatchdogKickFailing,
        AlertKey::RelayWatchdogOff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKey::BrokenLink => "broken_link",
            AlertKey::LocalUnhealthyNoTakeover => "local_unhealthy_no_takeover",
            AlertKey::WitnessUnreachable => "witness_unreachable",
            AlertKey::OwnCallPathFailedNoStandby => "own_call_path_failed_no_standby",
            AlertKey::RelayOnStandbySide => "relay_on_standby_side",
            AlertKey::PeerFaulted => "peer_faulted",
            AlertKey::HeldAfterStepDown => "held_after_step_down",
            AlertKey::TakeoverFailed => "takeover_failed",
            AlertKey::Faulted => "faulted",
            AlertKey::HandoverRequestExpired => "handover_request_expired",
            AlertKey::TermFileMissing => "term_file_missing",
            AlertKey::DrbdOutdated => "drbd_outdated",
            AlertKey::ServiceNetworkDown => "service_network_down",
            AlertKey::ColdStartCheckFailed => "cold_start_check_failed",
            AlertKey::PeerAsteriskUnprobeable => "peer_asterisk_unprobeable",
            AlertKey::UnprobedByPeer => "unprobed_by_peer",
            AlertKey::RelayWatchdogKickFailing => "relay_watchdog_kick_failing",
            AlertKey::RelayWatchdogOff => "relay_watchdog_off",
        }
    }
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The facts a decision was based on (logged with every decision and shown in status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionInputs {
    pub local_verdict: Verdict,
    pub peer_asterisk_verdict: Verdict,
    pub urgent_probe_failed: bool,
    /// Milliseconds since the last valid peer message (None: never heard).
    pub peer_silent_ms: Option<u64>,
    pub peer_role: Option<Role>,
    pub peer_term: Option<u64>,
    pub peer_own_verdict: Option<Verdict>,
    pub witness: Option<bool>,
    pub relay: Option<Side>,
    /// Whether this node could take the calls.
    pub readiness: Readiness,
    pub peer_readiness: Option<Readiness>,
}

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    Takeover,
    Release,
    StepDown,
    RequestRelease,
    AbortTakeover,
    Faulted,
}

/// One audited decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRecord {
    pub at: Millis,
    pub kind: DecisionKind,
    pub term: u64,
    pub reason: Reason,
    pub inputs: DecisionInputs,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Write and fsync the term (and the term this node is active in, if it is) before
    /// executing the following commands.
    PersistTerm { term: u64, active_in: Option<u64> },
    /// Run the takeover steps (relay, DRBD, IP, Asterisk); answer with TakeoverDone/Failed.
    StartTakeover { term: u64, reason: Reason },
    /// Stop the takeover of `term` where it is: the core gave way to a newer term. A step
    /// that waits (DRBD for the peer's demotion, Asterisk's boot, the test call) ends at once,
    /// a short one (relay, floating IP) is finished first; no further step runs. The takeover
    /// is then answered with TakeoverFailed (or TakeoverDone if it had finished), and the core
    /// releases at once instead of holding the floating IP through a boot.
    CancelTakeover { term: u64 },
    /// Run the release steps (IP, DRBD, ...); answer with ReleaseDone/Failed.
    StartRelease { reason: Reason },
    /// Send this state to the peer on every link.
    SendPeer(PeerState),
    /// Probe the peer's Asterisk now with this deadline; answer with UrgentProbeResult.
    ProbePeerNow { deadline_ms: u64 },
    /// An alert of this kind is raised (once: it stays raised until [`Command::AlertCleared`]).
    Alert {
        key: AlertKey,
        severity: AlertSeverity,
        message: String,
    },
    /// The condition of a raised alert ended.
    AlertCleared { key: AlertKey },
    /// Log this decision (with its inputs) and keep it for status.
    Decision(DecisionRecord),
    /// Answer to an operator command: Ok(what happens) or Err(why refused).
    OperatorReply(Result<String, String>),
}

/// What the core knows about one peer link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    pub alive: bool,
    /// Milliseconds since the last valid message on this link (None: never).
    pub silent_ms: Option<u64>,
}

/// The peer as seen from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    pub alive: bool,
    pub silent_ms: Option<u64>,
    pub links: Vec<LinkStatus>,
    pub last: Option<PeerState>,
    /// Our probes' verdict on the peer's Asterisk.
    pub asterisk_verdict: Verdict,
}

/// Snapshot for `astha status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreStatus {
    pub me: Side,
    pub role: Role,
    /// Highest term used or seen (persisted).
    pub term: u64,
    pub maintenance: bool,
    pub local_verdict: Verdict,
    pub peer: PeerView,
    pub witness: Option<bool>,
    pub relay: Option<Side>,
    /// Milliseconds left in the hold-down period (0: none).
    pub hold_down_left_ms: u64,
    pub takeover_failures: u32,
    /// Milliseconds left during which a takeover from a silent peer is held down because this
    /// node recently gave way to that peer (0: none).
    pub dead_peer_takeover_held_ms: u64,
    pub last_decision: Option<DecisionRecord>,
    /// Whether this node could take the calls now, and if not, why.
    pub readiness: Readiness,
    /// Why this node could not take the calls, in words (None when ready).
    pub readiness_problem: Option<String>,
    /// A restarted daemon that resumed the active role and waits for its peer's word.
    pub resume_unconfirmed: bool,
    /// This node is a cold standby: its Asterisk is stopped on purpose.
    pub cold_standby: bool,
}
