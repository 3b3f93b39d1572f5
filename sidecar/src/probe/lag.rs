//! astha's own scheduling lag: how much later than asked it woke, so that time it was not running is never charged to Asterisk.

use std::time::{Duration, Instant};

/// Waking at least this much later than asked is a stall of astha's own, given back to the
/// deadlines in flight. Shorter lateness is the ordinary jitter of a loaded host (tens of
/// milliseconds): it is well inside the 1 s liveness window, and giving it back would add up. On a
/// saturated host every wake-up of the probe loop came 10–60 ms late and, with a 10 ms
/// tolerance, each moved every deadline in flight: a hang was judged 1.7–2.0 s after it began
/// instead of 1.0–1.25 s (BENCHMARKS.md, "Soak").
pub const STALL: Duration = Duration::from_millis(100);

/// How long astha was not running when it woke at `now` for a wake-up asked for `wake`, if that
/// was a stall ([`STALL`]).
pub fn own_lag(wake: Instant, now: Instant) -> Option<Duration> {
    let lag = now.saturating_duration_since(wake);
    (lag >= STALL).then_some(lag)
}

/// Sleeps until `deadline`, counted in time astha was running: each time the wake-up comes a
/// stall late (the process starved of CPU), the lateness is given back and the sleep goes on, so that a
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
        assert_eq!(own_lag(t, t + Duration::from_millis(60)), None);
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
