//! Reconnect backoff with jitter, shared by the relay and the Redis backplane (on `backon`).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// The delays between reconnect attempts: exponential with random jitter, within
/// `min..=max`.
///
/// The base delay starts at `min` and doubles up to half of `max`; each delay adds a random
/// 0–100 % of its base (backon's jitter). So the first delay is in `min..2 * min`, later
/// ones grow, and once the base is capped they spread over `max / 2..max`: instances cut
/// off together (a broker restart) do not come back in lockstep. A delay is never longer
/// than `max`.
#[derive(Debug)]
pub(crate) struct Backoff {
    delays: ExponentialBackoff,
    max: Duration,
}

impl Backoff {
    /// Delays from `min` up to `max` (`max` below `min` counts as `min`).
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        let delays = ExponentialBuilder::new()
            .with_min_delay(min)
            .with_max_delay((max / 2).max(min))
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build();
        Backoff { delays, max }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.delays.next().unwrap_or(self.max).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_jittered_growing_and_bounded() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        let runs: Vec<Vec<Duration>> = (0..20)
            .map(|_| {
                let mut backoff = Backoff::new(min, max);
                (0..12).map(|_| backoff.next_delay()).collect()
            })
            .collect();
        for run in &runs {
            assert!(run.iter().all(|d| *d >= min && *d <= max), "{run:?}");
            // The first delay is within one doubling of the minimum.
            assert!(run[0] < min * 2, "{run:?}");
            // Capped: the late delays spread over the upper half.
            assert!(run[11] >= max / 2, "{run:?}");
        }
        // Jittered: twenty runs do not wait the same, neither at first nor at the cap.
        for attempt in [0, 11] {
            let mut seen: Vec<Duration> = runs.iter().map(|run| run[attempt]).collect();
            seen.sort();
            seen.dedup();
            assert!(seen.len() > 10, "attempt {attempt}: {seen:?}");
        }
    }

    #[test]
    fn the_base_doubles_from_the_minimum() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(60));
        for base_ms in [100u64, 200, 400, 800, 1600] {
            let delay = backoff.next_delay();
            let base = Duration::from_millis(base_ms);
            assert!(delay >= base && delay < base * 2, "{delay:?} for {base:?}");
        }
    }

    #[test]
    fn equal_bounds_give_a_constant_delay() {
        let second = Duration::from_secs(1);
        let mut backoff = Backoff::new(second, second);
        assert!((0..5).all(|_| backoff.next_delay() == second));
        let mut backoff = Backoff::new(second, Duration::ZERO);
        assert_eq!(backoff.next_delay(), second);
    }
}
