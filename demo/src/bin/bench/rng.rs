//! Seeded arrival times. The workload must be the same on every run, so the generator is a
//! fixed splitmix64 rather than an OS-seeded one (and no dependency for a dozen lines).

use std::time::Duration;

/// splitmix64 (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with `mean`: the gaps of a Poisson arrival process.
    pub fn exponential(&mut self, mean: Duration) -> Duration {
        // 1 - unit() is in (0, 1], so ln is finite.
        mean.mul_f64(-(1.0 - self.unit()).ln())
    }
}

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
