//! Metrics as CloudWatch Embedded Metric Format: log lines CloudWatch turns into metrics, with
//! no API call (docs/design.md §6). Each metric is one JSON log line whose `_aws` member declares
//! it; [`crate::telemetry`] lifts the members of the `emf` field to the top level.

use serde_json::{Map, Value, json};

/// Metric namespace.
pub const NAMESPACE: &str = "ghaec2";

/// Emits one metric with optional dimensions (e.g. `[("ErrorCode", "InsufficientInstanceCapacity")]`).
pub fn emit(name: &str, value: f64, unit: &str, dimensions: &[(&str, &str)]) {
    let line = document(
        name,
        value,
        unit,
        dimensions,
        chrono::Utc::now().timestamp_millis(),
    );
    tracing::info!(target: "ghaec2::metrics", emf = %line, "metric");
}

/// A count metric.
pub fn count(name: &str, value: u64, dimensions: &[(&str, &str)]) {
    if value > 0 {
        emit(name, value as f64, "Count", dimensions);
    }
}

/// The EMF document for one metric (pure).
fn document(
    name: &str,
    value: f64,
    unit: &str,
    dimensions: &[(&str, &str)],
    timestamp_ms: i64,
) -> Value {
    let mut root = Map::new();
    let keys: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    for (key, dimension) in dimensions {
        root.insert((*key).to_owned(), Value::String((*dimension).to_owned()));
    }
    root.insert(name.to_owned(), json!(value));
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [keys],
                "Metrics": [{"Name": name, "Unit": unit}],
            }],
        }),
    );
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_embedded_metric_format() {
        let doc = document(
            "LaunchFailures",
            2.0,
            "Count",
            &[("ErrorCode", "InsufficientInstanceCapacity")],
            1,
        );
        assert_eq!(doc["LaunchFailures"], json!(2.0));
        assert_eq!(doc["ErrorCode"], json!("InsufficientInstanceCapacity"));
        let metrics = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(metrics["Namespace"], json!("ghaec2"));
        assert_eq!(metrics["Dimensions"], json!([["ErrorCode"]]));
        assert_eq!(metrics["Metrics"][0]["Name"], json!("LaunchFailures"));
    }
}
