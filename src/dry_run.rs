//! `--dry-run`: every check that can be made without changing anything, and a report that the
//! caller prints (the CLI) or returns (the Lambda dry-run event).
//!
//! The scale set is looked up, never created: a missing one is reported as "would be created".

use std::fmt;

use crate::actions::ActionsClient;
use crate::actions::client::DEFAULT_RUNNER_GROUP_ID;
use crate::app;
use crate::config::{Config, GitHubSettings};

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It passed; the text says what was found.
    Passed(String),
    /// It failed; the text is the error users see.
    Failed(String),
    /// It could not run because an earlier check failed.
    Skipped(String),
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

/// The dry-run report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Checks in the order they ran.
    pub checks: Vec<Check>,
}

impl Report {
    /// Records a check.
    pub fn push(&mut self, name: &'static str, outcome: Outcome) {
        self.checks.push(Check { name, outcome });
    }

    /// True when no check failed or was skipped.
    pub fn passed(&self) -> bool {
        self.checks
            .iter()
            .all(|c| matches!(c.outcome, Outcome::Passed(_)))
    }
}

impl Report {
    /// The report as JSON, the Lambda response of a dry-run event:
    /// `{"dryRun": "passed" | "failed", "checks": [{"name", "outcome", "text"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let checks: Vec<serde_json::Value> = self
            .checks
            .iter()
            .map(|check| {
                let (outcome, text) = match &check.outcome {
                    Outcome::Passed(t) => ("passed", t),
                    Outcome::Failed(t) => ("failed", t),
                    Outcome::Skipped(t) => ("skipped", t),
                };
                serde_json::json!({ "name": check.name, "outcome": outcome, "text": text })
            })
            .collect();
        let verdict = if self.passed() { "passed" } else { "failed" };
        serde_json::json!({ "dryRun": verdict, "checks": checks })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            let (mark, text) = match &check.outcome {
                Outcome::Passed(t) => ("ok  ", t),
                Outcome::Failed(t) => ("FAIL", t),
                Outcome::Skipped(t) => ("skip", t),
            };
            writeln!(f, "[{mark}] {}: {text}", check.name)?;
        }
        let verdict = if self.passed() {
            "dry-run passed"
        } else {
            "dry-run failed"
        };
        write!(f, "{verdict}")
    }
}

/// Runs every check with the configuration of the environment.
pub async fn report() -> Report {
    let mut report = Report::default();
    match Config::from_env() {
        Err(e) => report.push("configuration", Outcome::Failed(e.to_string())),
        Ok(config) => check_all(&config, &mut report).await,
    }
    report
}

async fn check_all(config: &Config, report: &mut Report) {
    report.push(
        "configuration",
        Outcome::Passed(format!(
            "scale set {:?} at {}, {} to {} runners",
            config.github.scale_set_name,
            config.github.config_url.as_str(),
            config.scaling.min_runners,
            config.scaling.max_runners
        )),
    );
    let aws = app::aws_config(config).await;
    let scale_set_id = match app::actions_client(config, &aws).await {
        Err(e) => {
            report.push("credentials", Outcome::Failed(e.to_string()));
            None
        }
        Ok(client) => {
            report.push("credentials", Outcome::Passed("resolved".to_owned()));
            check_github(&client, &config.github, report).await
        }
    };
    let table = &config.runtime.state_table_name;
    let described = aws_sdk_dynamodb::Client::new(&aws)
        .describe_table()
        .table_name(table)
        .send()
        .await;
    report.push(
        "state table",
        match described {
            Ok(_) => Outcome::Passed(format!("{table} exists")),
            Err(e) => Outcome::Failed(format!("DescribeTable {table}: {}", aws_error(&e))),
        },
    );
    match app::instance_arns(&aws).await {
        Err(e) => report.push("identity", Outcome::Failed(e.to_string())),
        Ok(arns) => {
            report.push(
                "identity",
                Outcome::Passed(format!("instances are {}…", arns.prefix())),
            );
            let adapters = app::adapters(config, &aws, arns);
            report.push(
                "ec2 launch",
                match adapters.fleet.dry_run_launch(scale_set_id).await {
                    Ok(checked) => Outcome::Passed(format!("{checked} with DryRun=true allowed")),
                    Err(e) => Outcome::Failed(e.to_string()),
                },
            );
        }
    }
}

fn aws_error<E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error>(
    e: &aws_sdk_dynamodb::error::SdkError<E>,
) -> String {
    match e.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or_default()
        ),
        None => e.to_string(),
    }
}

/// The GitHub side: registration token, admin connection, runner group, scale set. Returns
/// the scale set's id when it exists, so the EC2 checks tag as the real launch will.
pub async fn check_github(
    client: &ActionsClient,
    github: &GitHubSettings,
    report: &mut Report,
) -> Option<i64> {
    let skipped = |after: &str| Outcome::Skipped(format!("needs {after}"));
    match client.authenticator().registration_token().await {
        Ok(_) => report.push(
            "registration token",
            Outcome::Passed(format!("obtained for {}", github.config_url.as_str())),
        ),
        Err(e) => {
            report.push("registration token", Outcome::Failed(e.to_string()));
            report.push("actions service", skipped("a registration token"));
            report.push("scale set", skipped("the Actions Service"));
            return None;
        }
    }
    match client.admin_connection().await {
        Ok(admin) => report.push(
            "actions service",
            Outcome::Passed(format!("admin connection to {}", admin.service_url)),
        ),
        Err(e) => {
            report.push("actions service", Outcome::Failed(e.to_string()));
            report.push("scale set", skipped("the Actions Service"));
            return None;
        }
    }
    let (outcome, id) = scale_set_outcome(client, github).await;
    report.push("scale set", outcome);
    id
}

async fn scale_set_outcome(
    client: &ActionsClient,
    github: &GitHubSettings,
) -> (Outcome, Option<i64>) {
    let group_id = match client.runner_group_id(&github.runner_group).await {
        Ok(id) => id,
        Err(e) => return (Outcome::Failed(e.to_string()), None),
    };
    let name = &github.scale_set_name;
    match client.scale_set_by_name(group_id, name).await {
        Ok(Some(set)) => match github.scale_set_id {
            Some(expected) if expected != set.id => (
                Outcome::Failed(format!(
                    "RUNNER_SCALE_SET_ID={expected}, but scale set {name:?} in runner group {:?} has id {}",
                    github.runner_group, set.id
                )),
                None,
            ),
            _ => (
                Outcome::Passed(format!(
                    "{name:?} found with id {} in runner group {:?}",
                    set.id, github.runner_group
                )),
                Some(set.id),
            ),
        },
        Ok(None) => {
            let group = if group_id == DEFAULT_RUNNER_GROUP_ID {
                "Default".to_owned()
            } else {
                github.runner_group.clone()
            };
            let outcome = Outcome::Passed(format!(
                "{name:?} does not exist in runner group {group:?}; it would be created with labels {:?}",
                github.labels
            ));
            (outcome, None)
        }
        Err(e) => (Outcome::Failed(e.to_string()), None),
    }
}
