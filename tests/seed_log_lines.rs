//! The log lines someone following the original write-up greps for, with their field names:
//! `ghaec2 --once` as a user runs it, against the fake and moto, its stderr read as the JSON
//! lines Lambda would ship.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use serde_json::Value;
use support::moto;

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
    let region = "ap-south-1";
    let sdk = moto::sdk_config(region).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let network = moto::network(&ec2).await;
    let ami = moto::ami(&aws_sdk_ssm::Client::new(&sdk)).await;
    let table = moto::table(&aws_sdk_dynamodb::Client::new(&sdk)).await;
    let mut command = Command::new(env!("CARGO_BIN_EXE_ghaec2"));
    command
        .arg("--once")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_CONFIG_URL", fake.config_url("my-org"))
        .env("GITHUB_TOKEN", ghaec2_fake::DEFAULT_PAT)
        .env("RUNNER_SCALE_SET_NAME", "seed")
        .env("EC2_SUBNET_ID", network.subnet_ids.join(","))
        .env("EC2_SECURITY_GROUP_ID", &network.security_group_id)
        .env("EC2_AMI_ID", ami)
        .env("STATE_TABLE_NAME", table)
        .env("DRAIN_WINDOW_SECONDS", "1")
        .env("AWS_REGION", region)
        .env("AWS_ENDPOINT_URL", moto::endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("runs ghaec2");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
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
