//! Whether two Asterisks fell silent together as seen from this node: then neither silence says anything about that Asterisk (see `decide/core/common_silence.rs` for the same rule on verdicts).
//!
//! The urgent check of a silent peer's Asterisk is judged on the silence of its AMI connection;
//! on a host that stalls for seconds (every process starved at once, the network namespaces'
//! links with them) the own Asterisk's connection goes quiet at the same moment, and the peer's
//! silence is this host's. Measured on a saturated test bed: all four AMI connections of a pair
//! quiet together while astha itself ran, and a standby that took a healthy active's calls.

use std::time::{Duration, Instant};

/// Whether the own Asterisk (last answer to an action sent at `own`) is silent at `now` and
/// fell silent together with the peer's (last answer `peer`): nothing answered for `window`,
/// and its last answer is not older than one `window` before the peer's. An own Asterisk that
/// never answered or went silent long before (stopped in a cold standby, hung on its own) is no
/// shared silence: it has no bearing on the peer's.
pub fn fell_silent_together(
    own: Option<Instant>,
    peer: Option<Instant>,
    now: Instant,
    window: Duration,
) -> bool {
    let Some(own) = own else {
        return false;
    };
    let own_silent = now.saturating_duration_since(own) >= window;
    let peer_went_quiet = peer.unwrap_or(own);
    own_silent && own + window >= peer_went_quiet
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(700);

    #[test]
    fn both_quiet_since_about_the_same_moment_is_a_shared_silence() {
        let t = Instant::now();
        let now = t + Duration::from_secs(2);
        assert!(fell_silent_together(Some(t), Some(t), now, WINDOW));
        // The own Asterisk's last answer a little before or after the peer's.
        let peer = t + Duration::from_millis(300);
        assert!(fell_silent_together(Some(t), Some(peer), now, WINDOW));
        assert!(fell_silent_together(Some(peer), Some(t), now, WINDOW));
    }

    #[test]
    fn an_own_asterisk_that_answers_makes_the_peers_silence_its_own() {
        let t = Instant::now();
        let now = t + Duration::from_secs(2);
        let just_now = now - Duration::from_millis(100);
        assert!(!fell_silent_together(Some(just_now), Some(t), now, WINDOW));
    }

    #[test]
    fn an_own_asterisk_silent_long_before_or_never_heard_is_no_shared_silence() {
        let t = Instant::now();
        let now = t + Duration::from_secs(60);
        let peer = now - Duration::from_secs(1);
        assert!(!fell_silent_together(Some(t), Some(peer), now, WINDOW));
        assert!(!fell_silent_together(None, Some(peer), now, WINDOW));
    }
}
