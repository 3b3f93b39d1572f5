//! astha's own scheduling lag: how much later than asked it woke, so that time it was not running is never charged to Asterisk.

use std::time::{Duration, Instant};

/// Waking this much later than asked is scheduling noise, not a stall worth compensating.
pub const LAG_TOLERANCE: Duration = Duration::from_millis(10);

/// How long astha was not running when it woke at `now` for a wake-up asked for `wake`.
pub fn own_lag(wake: Instant, now: Instant) -> Option<Duration> {
    let lag = now.saturating_duration_since(wake);
    (lag > LAG_TOLERANCE).then_some(lag)
}

/// Sleeps until `deadline`, counted in time astha was running: each time the wake-up comes late
/// (the process starved of CPU), the lateness is given back and the sleep goes on, so that a
/// caller racing this against an answer reads an answer that waited in a socket meanwhile.
pub async fn sleep_running(mut deadline: tokio::time::Instant) {
    loop {
        tokio::time::sleep_until(deadline).await;
        let now = tokio::time::Instant::now();
        match own_lag(deadline.into_std(), now.into_std()) {
            Some(lag) => deadline = now + lag,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_late_wake_beyond_the_tolerance_is_lag() {
        let t = Instant::now();
        assert_eq!(own_lag(t, t + Duration::from_millis(5)), None);
        assert_eq!(own_lag(t + Duration::from_secs(1), t), None);
        assert_eq!(
            own_lag(t, t + Duration::from_millis(300)),
            Some(Duration::from_millis(300))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_ends_on_time_when_astha_is_not_late() {
        let started = tokio::time::Instant::now();
        sleep_running(started + Duration::from_millis(700)).await;
        assert_eq!(started.elapsed(), Duration::from_millis(700));
    }
}
