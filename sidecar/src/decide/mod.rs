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
//! # Rules (see DESIGN.md "Decisions")
//!
//! * Roles: [`Role::Standby`], `TakingOver`, `Active`, `Releasing`, `Maintenance`, `Faulted`.
//!   Every node boots as standby; a restarted node never resumes active by itself.
//! * A standby takes over only on positive evidence: (1) the peer hands over to it
//!   ([`Handover::ReleasingToYou`]); or (2) the peer is silent on every link for
//!   `peer_dead_after` **and** the peer's Asterisk fails probes from here (a failed verdict or a
//!   failed urgent probe sent when the silence began) **and**, if configured, the witness is
//!   reachable; or (3) the peer is alive, nobody is active, and this node is the designated one
//!   (the preferred side if its Asterisk is healthy, otherwise the other side) after hold-down.
//!   A silent peer whose Asterisk still answers is a broken link: no takeover, an alert.
//! * A node never takes over while its own Asterisk cannot carry calls (unless an operator forces
//!   it), nor in maintenance, nor during the start-up grace (`peer_dead_after` after boot).
//! * The active hands over (releases first, asking the standby to take over) when its own call
//!   path has failed and the standby reports itself healthy, after hold-down.
//! * Terms: every takeover uses `max(own term, highest term seen) + 1`, persisted before use.
//!   An active or taking-over node steps down when it meets an active/taking-over peer with a
//!   higher term (equal terms: side A wins), or an active peer that holds the relay, or when the
//!   relay reads back on the peer's side while the peer is silent or active.
//! * Hold-down (`hold_down`) after every switch for automatic, non-emergency switches (handover on
//!   call-path failure, no-active designation, failback). A takeover from a dead peer or on the
//!   peer's request is not held down.
//! * No automatic failback unless `failback_to` is configured.
//! * Manual failover ([`OperatorCommand::Failover`]) is graceful (release, then the standby takes
//!   over) and refused with a clear reason ([`Command::OperatorReply`]) when the standby is not
//!   healthy or is silent, unless forced.
//! * A failed release, or three failed takeovers in a row, make the node `Faulted` (an operator
//!   clears it with maintenance off).

mod core;
pub mod sim;
pub mod term_store;
mod types;

#[cfg(test)]
mod tests;

pub use self::core::Core;
pub use self::types::*;
