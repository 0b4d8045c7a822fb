//! What the deployment template configures: template.yaml's parameter defaults, read the
//! same way by the demo's cost line and the bench.

use std::time::Duration;

/// What the deployment template configures, read from template.yaml's parameter defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Configured {
    /// `ScheduleExpression` (a `rate(…)`).
    pub schedule: Duration,
    /// `DrainWindowSeconds`.
    pub window: Duration,
    /// `FunctionMemorySize`.
    pub memory_mb: u32,
}

impl Configured {
    pub fn from_template(yaml: &str) -> Result<Self, String> {
        let schedule = default_of(yaml, "ScheduleExpression")?;
        Ok(Self {
            schedule: rate(&schedule)
                .ok_or(format!("ScheduleExpression {schedule} is not a rate(…)"))?,
            window: Duration::from_secs(number(yaml, "DrainWindowSeconds")?),
            memory_mb: u32::try_from(number(yaml, "FunctionMemorySize")?)
                .map_err(|e| e.to_string())?,
        })
    }
}

/// The `Default:` of a top-level template parameter (`  Name:` then `    Default: v`).
fn default_of(yaml: &str, parameter: &str) -> Result<String, String> {
    let header = format!("  {parameter}:");
    let mut lines = yaml.lines().skip_while(|l| l.trim_end() != header);
    lines
        .next()
        .ok_or(format!("template.yaml has no parameter {parameter}"))?;
    lines
        .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
        .find_map(|l| l.trim().strip_prefix("Default:"))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .ok_or(format!("parameter {parameter} has no Default"))
}

fn number(yaml: &str, parameter: &str) -> Result<u64, String> {
    let v = default_of(yaml, parameter)?;
    v.parse()
        .map_err(|_| format!("{parameter} default {v} is not a number"))
}

/// `rate(1 minute)`, `rate(5 minutes)`, `rate(2 hours)`.
fn rate(expression: &str) -> Option<Duration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let unit_secs = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n * unit_secs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TEMPLATE: &str = "Parameters:\n  ScheduleExpression:\n    Type: String\n    Default: rate(1 minute)\n    Description: x\n  DrainWindowSeconds:\n    Type: Number\n    Default: 50\n  FunctionMemorySize:\n    Type: Number\n    # a comment\n    Default: 256\n";

    #[test]
    fn configuration_from_the_template() {
        let c = Configured::from_template(TEMPLATE).unwrap();
        assert_eq!(c.schedule, Duration::from_secs(60));
        assert_eq!(c.window, Duration::from_secs(50));
        assert_eq!(c.memory_mb, 256);
        assert!(Configured::from_template("Parameters:\n").is_err());
        assert_eq!(rate("rate(5 minutes)"), Some(Duration::from_secs(300)));
        assert_eq!(rate("cron(* * * * ? *)"), None);
    }

    #[test]
    fn the_real_template_parses() {
        let yaml =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
                .unwrap();
        assert!(Configured::from_template(&yaml).is_ok());
    }
}
