//! What ghaec2 costs to run on Lambda: the arithmetic of README.md's cost estimate, with
//! the billed duration as an input so the demo and the bench can use measured ones.

use std::time::Duration;

/// Lambda arm64 list price in us-east-1 per GB-second (README.md, "Cost estimate").
pub const ARM64_USD_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// Lambda list price per request.
pub const USD_PER_REQUEST: f64 = 0.20 / 1_000_000.0;
/// Days in the month of the estimate.
pub const DAYS_PER_MONTH: f64 = 30.0;

/// A monthly Lambda cost estimate for one scale set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambdaCost {
    /// Invocations per month.
    pub invocations: f64,
    /// GB-seconds per month.
    pub gb_seconds: f64,
    /// Compute charge, USD.
    pub compute_usd: f64,
    /// Request charge, USD.
    pub requests_usd: f64,
}

impl LambdaCost {
    /// One invocation every `schedule`, each billed for `duration` at `memory_mb`.
    pub fn monthly(schedule: Duration, duration: Duration, memory_mb: u32) -> Self {
        let invocations = DAYS_PER_MONTH * 86_400.0 / schedule.as_secs_f64();
        let gb_seconds = invocations * duration.as_secs_f64() * f64::from(memory_mb) / 1024.0;
        Self {
            invocations,
            gb_seconds,
            compute_usd: gb_seconds * ARM64_USD_PER_GB_SECOND,
            requests_usd: invocations * USD_PER_REQUEST,
        }
    }

    /// Compute plus requests, USD per month.
    pub fn total_usd(&self) -> f64 {
        self.compute_usd + self.requests_usd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_readme_arithmetic() {
        // README: 43,200 invocations × 55 s × 0.25 GB = 594,000 GB-s ≈ $7.92 + $0.01.
        let c = LambdaCost::monthly(Duration::from_secs(60), Duration::from_secs(55), 256);
        assert_eq!(c.invocations.round(), 43_200.0);
        assert_eq!(c.gb_seconds.round(), 594_000.0);
        assert_eq!(format!("{:.2}", c.compute_usd), "7.92");
        assert_eq!(format!("{:.2}", c.total_usd()), "7.93");
    }
}
