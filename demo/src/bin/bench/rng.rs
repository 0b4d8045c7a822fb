//! Seeded arrival times. The workload must be the same on every run, so the generator is the
//! demo's seeded splitmix64 rather than an OS-seeded one.

use std::time::Duration;

use ghaec2_demo::workload::SplitMix64 as Rng;

/// Arrival offsets of a Poisson process with `mean` gap, first arrival after one gap, all
/// before `span`.
pub fn arrivals(seed: u64, mean: Duration, span: Duration) -> Vec<Duration> {
    let mut rng = Rng::new(seed);
    let mut at = Duration::ZERO;
    let mut out = Vec::new();
    loop {
        at += rng.exponential(mean);
        if at >= span {
            return out;
        }
        out.push(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_arrivals() {
        let a = arrivals(7, Duration::from_secs(2), Duration::from_secs(60));
        let b = arrivals(7, Duration::from_secs(2), Duration::from_secs(60));
        assert_eq!(a, b);
        assert_ne!(
            a,
            arrivals(8, Duration::from_secs(2), Duration::from_secs(60))
        );
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(a.iter().all(|d| *d < Duration::from_secs(60)));
    }

    #[test]
    fn exponential_mean_is_close() {
        let mut rng = Rng::new(42);
        let n = 20_000;
        let total: f64 = (0..n)
            .map(|_| rng.exponential(Duration::from_secs(1)).as_secs_f64())
            .sum();
        let mean = total / f64::from(n);
        assert!((0.97..1.03).contains(&mean), "{mean}");
    }

    #[test]
    fn unit_stays_in_range() {
        let mut rng = Rng::new(1);
        assert!(
            (0..10_000)
                .map(|_| rng.unit())
                .all(|u| (0.0..1.0).contains(&u))
        );
    }
}
