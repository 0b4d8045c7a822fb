//! The `ghaec2` binary as a user runs it: against the fake and a fresh table and network in
//! moto, with its environment set explicitly, never inherited.

use std::process::Command;

use ghaec2_fake::FakeServer;

use super::moto;

/// What a run of the binary left: whether it succeeded, its stdout and its stderr.
pub struct Ran {
    /// Exit status 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error (the JSON log lines).
    pub stderr: String,
}

/// Runs `ghaec2 args…` off the runtime's thread, so the in-process fake keeps serving, for the
/// scale set `scale_set` in `region` (a region of the test's own), with `extra` variables on top.
pub async fn run(
    fake: &FakeServer,
    region: &str,
    scale_set: &str,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Ran {
    Site::new(region)
        .await
        .run(fake, scale_set, args, extra)
        .await
}

/// A network, an AMI and a state table in moto, kept across runs of the binary, as one
/// deployment's successive invocations see them.
pub struct Site {
    region: String,
    network: moto::Network,
    ami: String,
    table: String,
}

impl Site {
    /// A fresh site in `region` (a region of the test's own).
    pub async fn new(region: &str) -> Site {
        let sdk = moto::sdk_config(region).await;
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        Site {
            region: region.to_owned(),
            network: moto::network(&ec2).await,
            ami: moto::ami(&aws_sdk_ssm::Client::new(&sdk)).await,
            table: moto::table(&aws_sdk_dynamodb::Client::new(&sdk)).await,
        }
    }

    /// The live instances in this site's EC2, with their instance types.
    pub async fn live_instances(&self) -> Vec<(String, String)> {
        let ec2 = aws_sdk_ec2::Client::new(&moto::sdk_config(&self.region).await);
        let described = ec2.describe_instances().send().await.expect("describes");
        described
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| {
                i.state()
                    .and_then(|s| s.name())
                    .is_some_and(|s| matches!(s.as_str(), "pending" | "running"))
            })
            .map(|i| {
                let id = i.instance_id().unwrap_or_default().to_owned();
                let kind = i.instance_type().map(|t| t.as_str().to_owned());
                (id, kind.unwrap_or_default())
            })
            .collect()
    }

    /// Runs `ghaec2 args…` on this site (see [`run`]).
    pub async fn run(
        &self,
        fake: &FakeServer,
        scale_set: &str,
        args: &[&str],
        extra: &[(&str, &str)],
    ) -> Ran {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ghaec2"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GITHUB_CONFIG_URL", fake.config_url("my-org"))
            .env("GITHUB_TOKEN", ghaec2_fake::DEFAULT_PAT)
            .env("RUNNER_SCALE_SET_NAME", scale_set)
            .env("EC2_SUBNET_ID", self.network.subnet_ids.join(","))
            .env("EC2_SECURITY_GROUP_ID", &self.network.security_group_id)
            .env("EC2_AMI_ID", &self.ami)
            .env("STATE_TABLE_NAME", &self.table)
            .env("AWS_REGION", &self.region)
            .env("AWS_ENDPOINT_URL", moto::endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
        for (key, value) in extra {
            command.env(key, value);
        }
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("joins")
            .expect("runs ghaec2");
        Ran {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}
