//! What ghaec2 costs to run: the arithmetic of README.md's cost estimate, with the billed
//! duration and the per-invocation usage as inputs so the demo and the bench can use measured
//! ones. Prices are AWS list prices in us-east-1; each constant names the page it comes from.

use std::time::Duration;

/// Lambda arm64 list price in us-east-1 per GB-second ([`LAMBDA_PRICES`]).
pub const ARM64_USD_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// Lambda list price per request ([`LAMBDA_PRICES`]).
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

/// Where the Lambda prices come from.
pub const LAMBDA_PRICES: &str = "https://aws.amazon.com/lambda/pricing/";
/// DynamoDB on-demand list price per write request unit, us-east-1 ([`DYNAMODB_PRICES`]).
pub const USD_PER_WRU: f64 = 0.625 / 1_000_000.0;
/// DynamoDB on-demand list price per read request unit, us-east-1 ([`DYNAMODB_PRICES`]).
pub const USD_PER_RRU: f64 = 0.125 / 1_000_000.0;
/// Where the DynamoDB prices come from.
pub const DYNAMODB_PRICES: &str = "https://aws.amazon.com/dynamodb/pricing/on-demand/";
/// CloudWatch Logs standard ingestion per GB, us-east-1 ([`CLOUDWATCH_PRICES`]).
pub const USD_PER_LOG_GB: f64 = 0.50;
/// CloudWatch custom metric per month (first 10,000 metrics; prorated by the hour in which
/// the metric is published) ([`CLOUDWATCH_PRICES`]).
pub const USD_PER_METRIC_MONTH: f64 = 0.30;
/// Where the CloudWatch prices come from.
pub const CLOUDWATCH_PRICES: &str = "https://aws.amazon.com/cloudwatch/pricing/";

/// What one invocation uses besides its duration, as measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InvocationUsage {
    /// DynamoDB write request units.
    pub write_units: f64,
    /// DynamoDB read request units.
    pub read_units: f64,
    /// Bytes of log lines written (CloudWatch Logs ingests them).
    pub log_bytes: u64,
}

/// The monthly cost of a whole deployment: Lambda, DynamoDB, CloudWatch Logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeploymentCost {
    pub lambda: LambdaCost,
    /// Write and read request units per month.
    pub write_units: f64,
    pub read_units: f64,
    pub dynamodb_usd: f64,
    /// Log gigabytes (10^9 bytes) per month.
    pub log_gb: f64,
    pub logs_usd: f64,
    /// Custom metrics published all month.
    pub metrics: usize,
    pub metrics_usd: f64,
}

impl DeploymentCost {
    /// One invocation every `schedule`, each billed for `duration` at `memory_mb`, each using
    /// `usage`, with `metrics` custom metrics published all month.
    pub fn monthly(
        schedule: Duration,
        duration: Duration,
        memory_mb: u32,
        usage: InvocationUsage,
        metrics: usize,
    ) -> Self {
        let lambda = LambdaCost::monthly(schedule, duration, memory_mb);
        let n = lambda.invocations;
        let (write_units, read_units) = (n * usage.write_units, n * usage.read_units);
        let log_gb = n * usage.log_bytes as f64 / 1e9;
        Self {
            lambda,
            write_units,
            read_units,
            dynamodb_usd: write_units * USD_PER_WRU + read_units * USD_PER_RRU,
            log_gb,
            logs_usd: log_gb * USD_PER_LOG_GB,
            metrics,
            metrics_usd: metrics as f64 * USD_PER_METRIC_MONTH,
        }
    }

    /// Everything, USD per month.
    pub fn total_usd(&self) -> f64 {
        self.lambda.total_usd() + self.dynamodb_usd + self.logs_usd + self.metrics_usd
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

#[test]
fn a_deployment_adds_dynamodb_logs_and_metrics_to_lambda() {
    let usage = InvocationUsage {
        write_units: 10.0,
        read_units: 4.0,
        log_bytes: 2_000,
    };
    let c = DeploymentCost::monthly(
        Duration::from_secs(60),
        Duration::from_secs(60),
        128,
        usage,
        3,
    );
    // 43,200 × 60 s × 0.125 GB = 324,000 GB-s ≈ $4.32, + $0.01 of requests.
    assert_eq!(format!("{:.2}", c.lambda.total_usd()), "4.33");
    // 432,000 WRU × $0.625/M + 172,800 RRU × $0.125/M = $0.27 + $0.0216.
    assert_eq!(c.write_units.round(), 432_000.0);
    assert_eq!(format!("{:.4}", c.dynamodb_usd), "0.2916");
    // 43,200 × 2,000 B = 0.0864 GB × $0.50.
    assert_eq!(format!("{:.4}", c.logs_usd), "0.0432");
    assert_eq!(format!("{:.2}", c.metrics_usd), "0.90");
    let sum = c.lambda.total_usd() + c.dynamodb_usd + c.logs_usd + c.metrics_usd;
    assert!((c.total_usd() - sum).abs() < 1e-12);
}
