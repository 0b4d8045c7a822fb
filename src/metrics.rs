//! Metrics as CloudWatch Embedded Metric Format: log lines CloudWatch turns into metrics, with
//! no API call (docs/design.md §6). Each metric is one JSON log line; [`crate::telemetry`] lifts
//! the members of the `emf` field to the top level.
//!
//! CloudWatch bills each published metric for every hour it receives data, so `METRICS`
//! chooses which ones it receives: a metric left out still writes its line, with its value and
//! dimensions, but without the `_aws` member that makes CloudWatch publish it.

use std::collections::BTreeSet;
use std::sync::RwLock;

use serde_json::{Map, Value, json};

/// Metric namespace.
pub const NAMESPACE: &str = "ghaec2";

/// The metrics `default` leaves as log lines: routine counts and the pickup latency, which a
/// month with jobs would publish, and CloudWatch bill, in every hour.
pub const ROUTINE: [&str; 6] = [
    "JobsAcquired",
    "Messages",
    "Launches",
    "Terminations",
    "SessionsCreated",
    "JobPickupLatency",
];

/// `default`: the failures and interruptions. Each is written only when it happens, so it is
/// billed only for the hours something went wrong.
pub const DEFAULT: [&str; 6] = [
    "LaunchFailures",
    "RunnerStartFailures",
    "TerminationFailures",
    "TaggingFailures",
    "SpotInterruptions",
    "InterruptedJobReruns",
];

/// Every metric ghaec2 writes.
pub fn names() -> impl Iterator<Item = &'static str> {
    ROUTINE.into_iter().chain(DEFAULT)
}

/// The metrics CloudWatch publishes (`METRICS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published(BTreeSet<&'static str>);

impl Default for Published {
    fn default() -> Self {
        Self(DEFAULT.into_iter().collect())
    }
}

impl Published {
    /// What `METRICS` accepts, for errors.
    pub const EXPECTED: &str = "default, all, none, or metric names";

    /// Parses `METRICS`: `default`, `all`, `none` or metric names, comma-separated and
    /// combinable (`default,JobPickupLatency`). `Err` holds the first word that is none of them.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut published = BTreeSet::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "default" => published.extend(DEFAULT),
                "all" => published.extend(names()),
                "none" => {}
                name => match names().find(|known| *known == name) {
                    Some(known) => {
                        published.insert(known);
                    }
                    None => return Err(word.to_owned()),
                },
            }
        }
        Ok(Self(published))
    }

    /// Whether CloudWatch publishes `name`.
    pub fn includes(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

/// The process's choice, set at start-up from the configuration.
static PUBLISHED: RwLock<Option<Published>> = RwLock::new(None);

/// Sets which metrics CloudWatch publishes from now on.
pub fn publish(published: Published) {
    if let Ok(mut current) = PUBLISHED.write() {
        *current = Some(published);
    }
}

fn is_published(name: &str) -> bool {
    match PUBLISHED.read().as_deref() {
        Ok(Some(published)) => published.includes(name),
        _ => Published::default().includes(name),
    }
}

/// Emits one metric with optional dimensions (e.g. `[("ErrorCode", "InsufficientInstanceCapacity")]`).
pub fn emit(name: &str, value: f64, unit: &str, dimensions: &[(&str, &str)]) {
    let line = document(
        name,
        value,
        unit,
        dimensions,
        chrono::Utc::now().timestamp_millis(),
        is_published(name),
    );
    tracing::info!(target: "ghaec2::metrics", emf = %line, "metric");
}

/// A count metric.
pub fn count(name: &str, value: u64, dimensions: &[(&str, &str)]) {
    if value > 0 {
        emit(name, value as f64, "Count", dimensions);
    }
}

/// The line of one metric (pure): its value and dimensions, and when published the EMF
/// declaration. A dimensioned metric is also published without its dimensions, the total an
/// alarm watches.
fn document(
    name: &str,
    value: f64,
    unit: &str,
    dimensions: &[(&str, &str)],
    timestamp_ms: i64,
    published: bool,
) -> Value {
    let mut root = Map::new();
    for (key, dimension) in dimensions {
        root.insert((*key).to_owned(), Value::String((*dimension).to_owned()));
    }
    root.insert(name.to_owned(), json!(value));
    if published {
        let keys: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
        let sets = match keys.is_empty() {
            true => json!([[]]),
            false => json!([[], keys]),
        };
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": sets,
                    "Metrics": [{"Name": name, "Unit": unit}],
                }],
            }),
        );
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_documents_follow_embedded_metric_format() {
        let doc = document(
            "LaunchFailures",
            2.0,
            "Count",
            &[("ErrorCode", "InsufficientInstanceCapacity")],
            1,
            true,
        );
        assert_eq!(doc["LaunchFailures"], json!(2.0));
        assert_eq!(doc["ErrorCode"], json!("InsufficientInstanceCapacity"));
        let metrics = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(metrics["Namespace"], json!("ghaec2"));
        assert_eq!(metrics["Dimensions"], json!([[], ["ErrorCode"]]));
        assert_eq!(metrics["Metrics"][0]["Name"], json!("LaunchFailures"));
        let plain = document("Launches", 1.0, "Count", &[], 1, true);
        assert_eq!(
            plain["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }

    #[test]
    fn unpublished_metrics_keep_value_and_dimensions_without_the_declaration() {
        let doc = document("Launches", 3.0, "Count", &[("ScaleSet", "x64")], 1, false);
        assert_eq!(doc, json!({"Launches": 3.0, "ScaleSet": "x64"}));
    }

    #[test]
    fn metrics_setting_combines_groups_and_names() {
        let parsed = |t: &str| Published::parse(t).map(|p| p.0.into_iter().collect::<Vec<_>>());
        assert_eq!(Published::parse("default"), Ok(Published::default()));
        assert_eq!(parsed("none"), Ok(vec![]));
        assert_eq!(parsed("all").map(|n| n.len()), Ok(12));
        let with_latency = parsed("default, JobPickupLatency").unwrap_or_default();
        assert!(with_latency.contains(&"JobPickupLatency") && with_latency.len() == 7);
        assert_eq!(parsed("Launches"), Ok(vec!["Launches"]));
        assert_eq!(parsed("default,Lunches"), Err("Lunches".to_owned()));
        assert_eq!(parsed("launches"), Err("launches".to_owned()));
    }

    #[test]
    fn every_metric_written_in_the_source_is_known() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut unknown = Vec::new();
        for path in rust_files(std::path::Path::new(root)) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for call in ["count(\"", "emit(\""] {
                for (at, _) in text.match_indices(call) {
                    let rest = &text[at + call.len()..];
                    let name = rest.split('"').next().unwrap_or_default();
                    if !names().any(|known| known == name) {
                        unknown.push(format!("{}: {name}", path.display()));
                    }
                }
            }
        }
        assert!(
            unknown.is_empty(),
            "metrics missing from ROUTINE and DEFAULT: {unknown:?}"
        );
    }

    fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(rust_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
        files
    }
}
