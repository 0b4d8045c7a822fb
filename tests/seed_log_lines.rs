//! The log lines someone following the original write-up greps for, with their field names:
//! `ghaec2 --once` as a user runs it, against the fake and moto, its stderr read as the JSON
//! lines Lambda would ship.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;

/// Each line: its message and the field it must carry.
const SEED_LINES: [(&str, &str); 4] = [
    ("Initializing Actions Service client", "organization"),
    ("Getting Actions Service admin connection", "baseURL"),
    (
        "Successfully initialized Actions Service client",
        "actionsServiceURL",
    ),
    (
        "Starting Actions Service message polling",
        "messagePollingInterval",
    ),
];

#[tokio::test]
async fn once_logs_the_seed_lines_at_info_with_their_fields() {
    let fake = support::fake::fake().await;
    let ran = support::cli::run(
        &fake,
        "ap-south-1",
        "seed",
        &["--once"],
        &[("DRAIN_WINDOW_SECONDS", "1")],
    )
    .await;
    let stderr = ran.stderr;
    assert!(ran.success, "{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    for (message, field) in SEED_LINES {
        let line = lines
            .iter()
            .find(|l| l["msg"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in\n{stderr}"));
        assert_eq!(line["level"], "INFO", "{line}");
        let value = line[field].as_str().unwrap_or_default();
        assert!(!value.is_empty(), "{message:?} without {field}: {line}");
    }
    let organization = lines.iter().find(|l| l["msg"] == SEED_LINES[0].0).unwrap();
    assert_eq!(organization["organization"], "my-org");
}
