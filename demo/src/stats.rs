//! Summaries of measured samples.

use std::fmt;
use std::time::Duration;

/// Percentiles of a set of durations (nearest-rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Distribution {
    /// How many samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// Largest.
    pub max: Duration,
}

impl Distribution {
    /// The distribution of `samples`, or `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let max = *sorted.last()?;
        Some(Self {
            count: sorted.len(),
            p50: percentile(&sorted, 50),
            p95: percentile(&sorted, 95),
            max,
        })
    }
}

/// Nearest-rank percentile of a sorted, non-empty slice.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {} · p95 {} · max {} (n={})",
            seconds(self.p50),
            seconds(self.p95),
            seconds(self.max),
            self.count
        )
    }
}

/// A duration as seconds with millisecond precision, e.g. `0.412 s`.
pub fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let d = Distribution::of(&ms(&[50, 10, 40, 20, 30])).unwrap();
        assert_eq!(d.p50, Duration::from_millis(30));
        assert_eq!(d.p95, Duration::from_millis(50));
        assert_eq!(d.max, Duration::from_millis(50));
        assert_eq!(d.count, 5);
        let hundred: Vec<u64> = (1..=100).collect();
        let d = Distribution::of(&ms(&hundred)).unwrap();
        assert_eq!(d.p50, Duration::from_millis(50));
        assert_eq!(d.p95, Duration::from_millis(95));
    }

    #[test]
    fn one_sample_and_none() {
        let d = Distribution::of(&ms(&[7])).unwrap();
        assert_eq!(
            (d.p50, d.p95, d.max),
            (ms(&[7])[0], ms(&[7])[0], ms(&[7])[0])
        );
        assert_eq!(Distribution::of(&[]), None);
    }
}
