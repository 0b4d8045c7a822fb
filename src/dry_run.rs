//! `--dry-run`: every check that can be made without changing anything, and a report that the
//! caller prints (the CLI) or returns (the Lambda dry-run event).
//!
//! The scale set is looked up, never created: a missing one is reported as "would be created".

use std::fmt;

use crate::actions::ActionsClient;
use crate::actions::client::DEFAULT_RUNNER_GROUP_ID;
use crate::app;
use crate::config::{self, Config, Deployment, GitHubSettings};

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

/// Runs every check with the configuration of the environment: the shared parts once, each
/// scale set's own parts (its configuration, its scale set, its launch) for each.
pub async fn report() -> Report {
    let mut report = Report::default();
    match app::deployment(config::process_env).await {
        Err(e) => report.push("configuration", Outcome::Failed(e.to_string())),
        Ok(deployment) => check_all(&deployment, &mut report).await,
    }
    report
}

async fn check_all(deployment: &Deployment, report: &mut Report) {
    let several = !deployment.is_single();
    // Each scale set's own lines name it when there are several.
    let named = |config: &Config, text: String| match several {
        true => format!("{}: {text}", config.github.scale_set_name),
        false => text,
    };
    for config in deployment.scale_sets() {
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
    }
    let shared = deployment.shared();
    let aws = app::aws_config(shared).await;
    let mut scale_set_ids = Vec::new();
    match app::actions_client(shared, &aws).await {
        Err(e) => report.push("credentials", Outcome::Failed(e.to_string())),
        Ok(client) => {
            report.push("credentials", Outcome::Passed("resolved".to_owned()));
            let reachable = check_service(&client, &shared.github, report).await;
            for config in deployment.scale_sets() {
                let (outcome, id) = match reachable {
                    true => scale_set_outcome(&client, &config.github).await,
                    false => (
                        Outcome::Skipped("needs the Actions Service".to_owned()),
                        None,
                    ),
                };
                report.push("scale set", outcome);
                scale_set_ids.push(id);
            }
        }
    }
    let table = &shared.runtime.state_table_name;
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
            for (index, config) in deployment.scale_sets().enumerate() {
                let adapters = app::adapters(config, &aws, arns.clone());
                let id = scale_set_ids.get(index).copied().flatten();
                report.push(
                    "ec2 launch",
                    match adapters.fleet.dry_run_launch(id).await {
                        Ok(checked) => Outcome::Passed(named(
                            config,
                            format!("{checked} with DryRun=true allowed"),
                        )),
                        Err(e) => Outcome::Failed(named(config, e.to_string())),
                    },
                );
            }
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

/// The GitHub side every scale set shares: registration token and admin connection. False
/// when the scale sets cannot be looked up.
async fn check_service(
    client: &ActionsClient,
    github: &GitHubSettings,
    report: &mut Report,
) -> bool {
    match client.authenticator().registration_token().await {
        Ok(_) => report.push(
            "registration token",
            Outcome::Passed(format!("obtained for {}", github.config_url.as_str())),
        ),
        Err(e) => {
            report.push("registration token", Outcome::Failed(e.to_string()));
            report.push(
                "actions service",
                Outcome::Skipped("needs a registration token".to_owned()),
            );
            return false;
        }
    }
    match client.admin_connection().await {
        Ok(admin) => {
            report.push(
                "actions service",
                Outcome::Passed(format!("admin connection to {}", admin.service_url)),
            );
            true
        }
        Err(e) => {
            report.push("actions service", Outcome::Failed(e.to_string()));
            false
        }
    }
}

/// A scale set looked up, never created; its id when it exists, so the EC2 checks tag as the
/// real launch will.
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
