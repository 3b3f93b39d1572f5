//! The decision core: a pure (sans-IO) state machine that decides which server of the pair is active.
//!
//! # Shape
//!
//! [`Core`] owns no socket, no clock and no task. A driver feeds it:
//!
//! * [`Core::new`]`(config, persisted, now)` once at start (`persisted` comes from
//!   [`term_store::TermStore::load`]);
//! * [`Core::handle`]`(now, input)` for every [`Input`] (verdict changes, peer messages, relay
//!   read-back, actuator results, operator commands, witness reachability);
//! * [`Core::tick`]`(now)` whenever [`Core::next_tick_at`] is reached (at least every
//!   `peer_interval`);
//! * [`Core::status`] for `astha status`.
//!
//! Time is a [`Millis`]: milliseconds of a *monotonic* clock since the driver started (e.g.
//! `Instant::now() - start`). The core never reads a clock; if `now` goes backwards it is clamped.
//!
//! Both `handle` and `tick` return a `Vec<`[`Command`]`>` that the driver **must execute in
//! order**. In particular a [`Command::PersistTerm`] always precedes the [`Command::StartTakeover`]
//! and [`Command::SendPeer`] that use the new term in the same batch: the driver writes and fsyncs
//! the term (see [`term_store`]) before it moves on, and if persisting fails it must not execute the
//! rest of the batch (feed [`Input::TakeoverFailed`] instead). The core therefore never acts on a
//! term that is not durable.
//!
//! Actuator commands ([`Command::StartTakeover`], [`Command::StartRelease`]) are answered by the
//! driver with [`Input::TakeoverDone`]/[`Input::TakeoverFailed`] and
//! [`Input::ReleaseDone`]/[`Input::ReleaseFailed`]. The core never issues a second actuator
//! command before the first one is answered. [`Command::ProbePeerNow`] asks the probe layer for an
//! immediate, short-deadline probe of the peer's Asterisk; answer with
//! [`Input::UrgentProbeResult`].
//!
//! Contract for the actuators and the daemon (the simulator, `pair_sim` with the `test-support`
//! feature, models exactly this and checks the pair's invariants on seeded fault schedules):
//! * `StartTakeover` may arrive while the peer is still releasing (a handover): move the relay at
//!   once, and let the DRBD promotion retry until the peer has demoted (with a deadline).
//! * [`Command::CancelTakeover`] stops the takeover in progress at once: a waiting step (DRBD
//!   promotion, Asterisk's boot, the test call) ends now, a short one (relay, floating IP) is
//!   finished, no further step runs; answer the takeover as usual (`TakeoverFailed` when it
//!   stopped). The core then releases.
//! * On start, release everything (IP, DRBD) before feeding the core; have the service manager's
//!   stop hook remove the floating IP when the sidecar dies.
//! * Feed `PeerAsteriskVerdict` on every change and answer `ProbePeerNow` with one AMI ping of the
//!   peer's Asterisk with the given deadline; keep [`DecideConfig::probe_deadline_ms`] equal to the
//!   regular ping deadline. With a witness configured, check it then too and feed the answer.
//! * Drain the peer sockets before ticking after a stall; the core detects stalls (no call for
//!   longer than `peer_dead_after_ms`) and gathers fresh evidence before acting.
//!
//! # Rules
//!
//! Every node boots as [`Role::Standby`] (the other roles: `TakingOver`, `Active`, `Releasing`,
//! `Maintenance`, `Faulted`), except the active node whose daemon restarted while it held the
//! calls: [`resume`] decides from its term file and its devices whether it resumes the active
//! role ([`Core::resume`]), without any actuator command.
//!
//! Whether a node could take the calls is its readiness ([`Readiness`], `readiness.rs`), the
//! one answer every takeover, designation and handover rule asks of both nodes: a warm
//! standby's probes, a cold standby's start check (its Asterisk is stopped on purpose), and for
//! both its service network. Each node sends its readiness in every datagram.
//!
//! The conditions of each decision are named predicates in a table, run in the order listed
//! here: the first that objects decides (no step now, and its alert if it has one), so the order
//! only decides which alert an operator sees when several object. Each predicate has a unit test
//! of the same name (`decide/tests/`), and a test checks that these lists match the tables. To
//! add a rule, add a predicate, a row and a test, and list it here.
//!
//! ## A standby takes over only on positive evidence
//!
//! Before any takeover (`STANDBY_GATES`):
//! * `takeover_retry_wait_over`: after a failed takeover, the next waits `takeover_retry`.
//!
//! (1) The peer hands over (`HANDOVER_RULES`), checked first:
//! * `peer_hands_over_to_this_node`: the alive peer releases and asks this node to take over
//!   ([`Handover::ReleasingToYou`]).
//! * `this_node_can_take_over_or_handover_forced`: unless the handover or this node's
//!   operator request was forced.
//!
//! (2) The peer is dead (`DEAD_PEER_RULES`), when it is silent on every link:
//! * `silence_lasted_since_own_start_or_stall`: `peer_dead_after`, counted also from this
//!   node's start (a start-up grace: the peer may well be active), from its resumption after
//!   a stall (the core detects stalls and gathers fresh evidence before acting), and from the
//!   return of its own service network (what it saw while cut off is its own cut's doing).
//! * `silent_peer_did_not_move_the_relay`: a silent peer that moved the relay is alive behind
//!   cut links: no takeover, an alert.
//! * `peer_asterisk_fails_probes_from_here`: a failed verdict or urgent probe during this
//!   silence; a silent peer whose Asterisk still answers is a broken link: no takeover, an alert.
//! * `peer_asterisk_not_silent_with_own`: common-mode rejection (`core/common_silence.rs`): a
//!   peer's Asterisk that fell silent within one probe deadline of this node's own is this
//!   node's host or network stalling; it counts as failed only once the own Asterisk has
//!   answered again and the peer's still fails two probe deadlines later.
//! * `peer_not_in_maintenance`: no automatic decision over a peer in maintenance.
//! * `no_handover_offer_open`: this node just handed over; the peer is expected to take over.
//! * `no_recent_step_down_for_this_peer`: a node that gave way to the peer (stepped down or
//!   aborted a takeover) does not take over from it as "dead" within `hold_down`: under a lossy
//!   partition that would flap.
//! * `witness_reachable_if_configured`: with a witness configured, it answered after the peer
//!   was suspected (an answer from before may predate the cut); the driver checks the witness
//!   when it answers `ProbePeerNow` and feeds [`Input::Witness`].
//! * `this_node_can_take_over`: never a takeover while this node is not ready (its Asterisk
//!   cannot carry calls, its cold-start check fails, its service network is down; only an
//!   operator can force one).
//!
//! (3) Nobody is active (`NO_ACTIVE_RULES`), the peer alive; after one settling interval:
//! * `nobody_claims_the_calls`: the peer is not active, taking over or releasing.
//! * `peer_not_faulted`: a faulted peer needs an operator: an alert.
//! * `peer_not_in_maintenance`.
//! * `no_handover_offer_open`.
//! * `peer_has_judged_its_readiness`: a peer that just started gets a few seconds to judge
//!   whether it could take the calls.
//! * `knowledge_of_peer_is_current`: no message lost since, and after giving way to the peer
//!   only what it said since.
//! * `this_node_is_designated`: the configured preferred side if it is ready, otherwise the
//!   other side if it is. (Not the relay position: the two nodes read it at different
//!   times, and a tie-break must give both the same answer; the simulator showed double
//!   takeovers with it.) No hold-down: with nobody active there is only an outage to end.
//!
//! ## An active steps down for a newer active or the relay
//!
//! Terms order every takeover: it uses `max(own term, highest term seen) + 1`, persisted
//! before use. An active (or taking-over) node gives way on the first of (`STEP_DOWN_RULES`):
//! * `peer_claims_calls_under_a_newer_term`: an active or taking-over peer with a higher term
//!   (equal terms, only possible after simultaneous takeovers behind a cut: side A wins); this
//!   one also aborts a takeover in progress, and cancels its sequence at once
//!   ([`Command::CancelTakeover`]): a cold takeover must not keep the floating IP through its
//!   Asterisk's boot next to the newer active.
//! * `relay_moved_to_the_peer`: the relay, read back after this node's takeover, is on the
//!   peer's side while the peer is silent or claims the calls.
//! * `older_active_cannot_hear_this_node`: an older active that never learns this node's term
//!   (three messages in a row, over at least two peer intervals: a rejoining node's queued
//!   datagrams arrive in one burst) is on a one-way link and will never step down; this node
//!   yields, unless the relay reads back on its own side.
//! * `no_newer_term_since_restart`: a resumed active (its daemon restarted) whose peer knows a
//!   newer term: the peer took over meanwhile.
//! * `restart_confirmed_by_peer_in_time`: a role resumed on evidence that needs the peer's word
//!   (a relay that did not answer, a term file of astha 0.1) is given up when the peer is not
//!   heard within `resume_grace_ms`.
//!
//! The active hands over (releases first, asking the standby to take over) when
//! `standby_asks_for_the_calls` (its operator, or failback; a request from before the current
//! term is stale), or when `hand_over_when_this_node_cannot_serve`: its own call path failed or
//! its service network is down, and the standby reports itself ready, after hold-down;
//! otherwise it keeps the calls and alerts. A call path that failed together with the
//! standby's Asterisk as seen from here (common-mode, `core/common_silence.rs`) is this host
//! stalling: it is handed over only once the standby's answers again and its own still fails
//! two probe deadlines later.
//!
//! ## Hold-down, failback, maintenance, faults
//!
//! * Hold-down (`hold_down`) follows every switch, by either node, for automatic,
//!   non-emergency switches (handover on call-path failure, failback). A takeover from a dead
//!   peer or on the peer's request is not held down. The election of a pair with nobody active
//!   (at start-up) is no switch: a failure right after it is handed over at once.
//! * No automatic failback unless `failback_to` is configured; then that side asks the active
//!   for the calls when all of these hold (`FAILBACK_RULES`):
//!   * `failback_configured_to_this_node`.
//!   * `peer_is_active`.
//!   * `this_node_is_fully_ready`: ready, and in warm standby with a healthy Asterisk.
//!   * `hold_down_over`.
//!   * `up_for_hold_down`: a restarted node has not seen how long the peer has been active.
//!   * `no_release_request_open`.
//!   * `peer_not_in_maintenance`.
//! * Maintenance stops automatic decisions on this node; only a handover its operator asked for
//!   goes ahead.
//! * Manual failover ([`OperatorCommand::Failover`]) is graceful (release, then the standby takes
//!   over) and refused with a clear reason ([`Command::OperatorReply`]) when the standby is not
//!   healthy or is silent, unless forced.
//! * A failed release, or three failed takeovers in a row, make the node `Faulted` (an operator
//!   clears it with maintenance off).

mod core;
#[cfg(feature = "test-support")]
pub mod pair_sim;
mod readiness;
pub mod resume;
pub mod term_store;
mod types;

#[cfg(test)]
mod tests;

pub use self::core::Core;
pub use self::types::*;
