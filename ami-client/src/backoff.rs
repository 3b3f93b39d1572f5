//! Reconnect delays: exponential backoff with jitter, so many clients do not reconnect in step.

use std::time::Duration;

/// Exponential backoff between `min` and `max`; each delay is drawn from `[d/2, d]`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    rng: u64,
}

impl Backoff {
    /// A backoff starting at `min`, doubling up to `max`; `seed` drives the jitter.
    pub fn new(min: Duration, max: Duration, seed: u64) -> Self {
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
            next: min,
            // xorshift must not start at zero.
            rng: seed | 1,
        }
    }

    /// Starts over at `min` (after a successful login).
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = base / 2;
        let spread = base.saturating_sub(half).as_nanos() as u64;
        let jitter = if spread == 0 {
            0
        } else {
            self.random() % (spread + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    fn random(&mut self) -> u64 {
        // xorshift64: enough to spread reconnects; not for anything secret.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_max_with_jitter_in_range_and_resets() {
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        let mut b = Backoff::new(min, max, 42);
        let mut base = min;
        for _ in 0..10 {
            let d = b.next_delay();
            assert!(
                d >= base / 2 && d <= base,
                "{d:?} not in [{:?}, {base:?}]",
                base / 2
            );
            base = (base * 2).min(max);
        }
        b.reset();
        assert!(b.next_delay() <= min);
    }

    #[test]
    fn different_seeds_spread() {
        let delays: std::collections::BTreeSet<_> = (0..20u64)
            .map(|seed| {
                Backoff::new(Duration::from_secs(1), Duration::from_secs(1), seed * 7919)
                    .next_delay()
            })
            .collect();
        assert!(delays.len() > 10, "jitter should spread delays: {delays:?}");
    }
}
