//! Replay protection: a sliding window over (boot epoch, sequence number) per sender.

use super::wire::DropReason;

/// Width of the window: a datagram up to this many sequence numbers behind the newest is still
/// accepted once (datagrams on several links overtake each other).
pub const WINDOW: u64 = 64;

/// Default silence of the current epoch after which a lower epoch is accepted again (ms).
pub const STALE_EPOCH_RESET_MS: u64 = 30_000;

/// Whether an accepted datagram is the newest so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fresh {
    Newest,
    /// Accepted, but a higher sequence number was already seen (reordered).
    Reordered,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    epoch: u64,
    highest: u64,
    /// Bit i set: `highest - i` was seen.
    seen: u64,
    last_accept_ms: u64,
}

/// The window for one sender.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    current: Option<Current>,
    stale_epoch_reset_ms: u64,
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow::new(STALE_EPOCH_RESET_MS)
    }
}

impl ReplayWindow {
    pub fn new(stale_epoch_reset_ms: u64) -> ReplayWindow {
        ReplayWindow {
            current: None,
            stale_epoch_reset_ms,
        }
    }

    /// Check and record an *authenticated* datagram's (epoch, seq); `now_ms` is monotonic.
    pub fn accept(&mut self, epoch: u64, seq: u64, now_ms: u64) -> Result<Fresh, DropReason> {
        let fresh_start = Current {
            epoch,
            highest: seq,
            seen: 1,
            last_accept_ms: now_ms,
        };
        let Some(cur) = self.current.as_mut() else {
            self.current = Some(fresh_start);
            return Ok(Fresh::Newest);
        };
        if epoch != cur.epoch {
            let restarted = epoch > cur.epoch;
            let old_epoch_gone =
                now_ms.saturating_sub(cur.last_accept_ms) >= self.stale_epoch_reset_ms;
            if restarted || old_epoch_gone {
                *cur = fresh_start;
                return Ok(Fresh::Newest);
            }
            return Err(DropReason::StaleEpoch);
        }
        if seq > cur.highest {
            let shift = seq - cur.highest;
            cur.seen = if shift >= WINDOW {
                1
            } else {
                (cur.seen << shift) | 1
            };
            cur.highest = seq;
            cur.last_accept_ms = now_ms;
            return Ok(Fresh::Newest);
        }
        let behind = cur.highest - seq;
        if behind >= WINDOW {
            return Err(DropReason::Replayed);
        }
        let bit = 1u64 << behind;
        if cur.seen & bit != 0 {
            return Err(DropReason::Replayed);
        }
        cur.seen |= bit;
        cur.last_accept_ms = now_ms;
        Ok(Fresh::Reordered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn duplicates_are_replays_and_reordering_is_accepted_once() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.accept(5, 10, 0), Ok(Fresh::Newest));
        assert_eq!(w.accept(5, 10, 0), Err(DropReason::Replayed));
        assert_eq!(w.accept(5, 12, 0), Ok(Fresh::Newest));
        assert_eq!(w.accept(5, 11, 0), Ok(Fresh::Reordered));
        assert_eq!(w.accept(5, 11, 0), Err(DropReason::Replayed));
        assert_eq!(w.accept(5, 12 + WINDOW, 0), Ok(Fresh::Newest));
        assert_eq!(
            w.accept(5, 12, 0),
            Err(DropReason::Replayed),
            "fell out of the window"
        );
    }

    #[test]
    fn restarted_peer_with_a_new_epoch_is_accepted_from_seq_zero() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.accept(100, 5000, 0), Ok(Fresh::Newest));
        assert_eq!(w.accept(101, 0, 10), Ok(Fresh::Newest));
        assert_eq!(w.accept(101, 1, 20), Ok(Fresh::Newest));
    }

    #[test]
    fn old_epoch_is_refused_while_the_current_one_talks_and_accepted_after_it_is_gone() {
        let mut w = ReplayWindow::new(30_000);
        assert_eq!(w.accept(200, 7, 1_000), Ok(Fresh::Newest));
        assert_eq!(w.accept(150, 9_999, 2_000), Err(DropReason::StaleEpoch));
        // The peer lost its epoch file and restarted with a lower epoch: after 30 s of silence
        // of the current epoch it is accepted again.
        assert_eq!(w.accept(150, 0, 31_000), Ok(Fresh::Newest));
        assert_eq!(
            w.accept(200, 8, 31_100),
            Ok(Fresh::Newest),
            "a higher epoch always wins"
        );
    }

    proptest! {
        /// Whatever the order of arrival, no (epoch, seq) is ever accepted twice.
        #[test]
        fn nothing_is_accepted_twice(seqs in proptest::collection::vec(0u64..200, 1..400)) {
            let mut w = ReplayWindow::default();
            let mut accepted = std::collections::HashSet::new();
            for s in seqs {
                if w.accept(1, s, 0).is_ok() {
                    prop_assert!(accepted.insert(s), "seq {} accepted twice", s);
                }
            }
        }
    }
}
