//! The one backoff policy: a first wait, doubled after each further failure, never longer than a
//! maximum. The HTTP layer, the drain loop, session replacement and conflicts, and the local
//! loop each keep one, with their own first and longest waits.

use std::time::Duration;

/// Exponential backoff, counting the failures since the last success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// Waits of `first`, `2 × first`, … up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            failures: 0,
        }
    }

    /// The wait before attempt `retry + 1` after `retry + 1` failures in a row (pure).
    pub fn wait(&self, retry: u32) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max)
    }

    /// The longest wait.
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// Counts a failure and returns how long to wait before trying again.
    pub fn fail(&mut self) -> Duration {
        let wait = self.wait(self.failures);
        self.failures = self.failures.saturating_add(1);
        wait
    }

    /// A success: the next failure waits `first` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last success.
    pub const fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn waits_double_from_the_first_up_to_the_max() {
        let mut backoff = Backoff::new(S(1), S(8));
        let waits: Vec<u64> = (0..6).map(|_| backoff.fail().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
        assert_eq!(backoff.failures(), 6);
    }

    #[test]
    fn a_success_starts_again_from_the_first_wait() {
        let mut backoff = Backoff::new(S(2), S(32));
        backoff.fail();
        backoff.fail();
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        assert_eq!(backoff.fail(), S(2));
    }

    #[test]
    fn the_pure_wait_matches_the_counted_one_and_never_overflows() {
        let backoff = Backoff::new(Duration::from_millis(500), S(30));
        assert_eq!(backoff.wait(0), Duration::from_millis(500));
        assert_eq!(backoff.wait(3), S(4));
        assert_eq!(backoff.wait(u32::MAX), S(30));
        let mut counted = backoff;
        for retry in 0..40 {
            assert_eq!(counted.fail(), backoff.wait(retry), "retry {retry}");
        }
    }
}
