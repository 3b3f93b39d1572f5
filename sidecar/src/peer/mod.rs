//! The peer link: authenticated, replay-protected datagrams between the two sidecars.
//!
//! Layers, from the bytes up:
//! * [`wire`]: the versioned datagram format (fixed 86 bytes in version 1) with an HMAC-SHA256
//!   trailer; [`wire::decode`] checks length, magic, version and MAC before reading a field.
//! * [`key`]: the shared key file (refused when missing, shorter than 32 bytes, or readable or
//!   writable by group/others); never printed.
//! * [`replay`]: a per-sender sliding window over (boot epoch, sequence number).
//! * [`link`]: [`PeerLink`], the sans-IO codec a driver uses: [`PeerLink::seal`] a
//!   [`crate::decide::PeerState`] for a link, [`PeerLink::open`] a received datagram into a
//!   [`Received`] (fed to the core as `Input::PeerMessage`) or a [`DropReason`], counted in
//!   [`PeerCounters`] for `astha status`.
//! * [`epoch`]: the boot epoch, strictly increasing across restarts (persisted), so a restarted
//!   peer whose sequence numbers start again is accepted while old datagrams are not.
//! * [`udp`]: the thin tokio driver, one UDP socket per link.
//!
//! Boot epochs and replay: each start picks `epoch = max(wall-clock ms, last epoch + 1)` and
//! persists it. The receiver accepts a higher epoch at once (the peer restarted), and a lower one
//! only after the current epoch has been silent for `stale_epoch_reset` (30 s by default), so
//! replaying a recorded datagram of an earlier boot is dropped as long as the real peer talks,
//! and a peer that lost its epoch file is accepted again after half a minute.

pub mod epoch;
pub mod key;
pub mod link;
pub mod replay;
pub mod udp;
pub mod wire;
#[cfg(test)]
mod wire_0_1;

pub use key::{KeyError, PeerKey};
pub use link::{fuzz_open, PeerCounters, PeerLink, Received};
pub use wire::DropReason;
