//! astha's own scheduling lag: how much later than asked it woke, so that time it was not running is never charged to Asterisk.

use std::future::Future;
use std::time::{Duration, Instant};

/// Waking this much later than asked is scheduling noise, not a stall worth compensating.
pub const LAG_TOLERANCE: Duration = Duration::from_millis(10);

/// How long astha was not running when it woke at `now` for a wake-up asked for `wake`.
pub fn own_lag(wake: Instant, now: Instant) -> Option<Duration> {
    let lag = now.saturating_duration_since(wake);
    (lag > LAG_TOLERANCE).then_some(lag)
}

/// `fut`'s output if it comes within `budget` of time astha was running: each time the deadline
/// fires late (the process starved of CPU), the lateness is given back and the future polled
/// again, so an answer that waited in a socket while astha was not scheduled still counts.
pub async fn within<F: Future>(budget: Duration, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut deadline = tokio::time::Instant::now() + budget;
    loop {
        match tokio::time::timeout_at(deadline, fut.as_mut()).await {
            Ok(output) => return Some(output),
            Err(_) => {
                let now = tokio::time::Instant::now();
                match own_lag(deadline.into_std(), now.into_std()) {
                    Some(lag) => deadline = now + lag,
                    None => return None,
                }
            }
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
    async fn within_gives_up_on_time_when_astha_is_not_late() {
        let started = tokio::time::Instant::now();
        let never = std::future::pending::<()>();
        assert_eq!(within(Duration::from_millis(700), never).await, None);
        assert_eq!(started.elapsed(), Duration::from_millis(700));
        let quick = async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            7
        };
        assert_eq!(within(Duration::from_millis(700), quick).await, Some(7));
    }
}
