//! The decision core's clock: monotonic milliseconds since the daemon started (wall time is `crate::wall_clock`).

use std::time::{Duration, Instant};

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
