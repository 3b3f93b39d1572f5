//! The decision core's clock (monotonic milliseconds since the daemon started) and wall time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::decide::Millis;

/// Monotonic milliseconds since the daemon started: the decision core's clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    pub start: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    pub fn now(&self) -> Millis {
        Millis(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    pub fn instant_at(&self, at: Millis) -> Instant {
        self.start + Duration::from_millis(at.0)
    }
}

/// Milliseconds since the Unix epoch (peer datagram timestamps, boot epochs, takeover records).
pub(super) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
