//! Start-up shared by every mode: configuration, AWS SDK configuration, secrets from SSM and
//! the Actions Service client, each built once.

use aws_config::{BehaviorVersion, SdkConfig};

use crate::actions::{ActionsClient, ActionsError, ClientOptions};
use crate::aws::{DynamoJitStore, DynamoStateStore, Ec2Fleet, InstanceArns, LaunchSettings};
use crate::config::{
    CaBundleError, Config, ConfigError, Credential, Deployment, ScaleSetsSource, SecretError,
};
use crate::cycle::CycleSettings;
use crate::ports::{PortError, PortErrorKind};

/// Why ghaec2 could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The environment is invalid.
    #[error("invalid configuration:\n{0}")]
    Config(#[from] ConfigError),
    /// A secret could not be read from SSM.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The CA bundle could not be read or holds no usable certificate.
    #[error(transparent)]
    CaBundle(#[from] CaBundleError),
    /// The client could not be built (e.g. the App key does not parse).
    #[error(transparent)]
    Actions(#[from] ActionsError),
    /// An AWS call needed at start failed.
    #[error(transparent)]
    Aws(#[from] PortError),
}

/// Loads the AWS SDK configuration from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL`,
/// credentials); the region falls back to the one configured for EC2.
pub async fn aws_config(config: &Config) -> SdkConfig {
    sdk_config(config.ec2.region.clone()).await
}

async fn sdk_config(region: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    loader.load().await
}

/// Reads every scale set of the deployment through `lookup` ([`crate::config::process_env`]
/// outside tests): the list in `SCALE_SETS`, or in the SSM parameter
/// `SCALE_SETS_SSM_PARAMETER` names (read once, here), or else the one scale set the plain
/// variables describe.
pub async fn deployment(lookup: impl Fn(&str) -> Option<String>) -> Result<Deployment, StartError> {
    let text = match ScaleSetsSource::from_lookup(&lookup)? {
        None => None,
        Some(ScaleSetsSource::Inline(text)) => Some(text),
        Some(ScaleSetsSource::SsmParameter { name, region }) => {
            let ssm = aws_sdk_ssm::Client::new(&sdk_config(region).await);
            let text = ScaleSetsSource::read_parameter(&ssm, &name).await?;
            tracing::info!(parameter = %name, "Read the scale sets from SSM.");
            Some(text)
        }
    };
    let deployment = Deployment::from_lookup(lookup, text.as_deref())?;
    crate::metrics::publish(deployment.shared().runtime.metrics.clone());
    Ok(deployment)
}

/// Resolves the GitHub credential and the CA bundle (from SSM when configured so) and builds
/// the client.
pub async fn actions_client(config: &Config, aws: &SdkConfig) -> Result<ActionsClient, StartError> {
    tracing::info!(
        organization = config.github.config_url.scope().owner(),
        "Initializing Actions Service client"
    );
    let ssm = aws_sdk_ssm::Client::new(aws);
    let credential: Credential = config.github.credential.resolve(&ssm).await?;
    let extra_roots = match &config.github.ca_bundle {
        Some(bundle) => {
            let certificates = bundle.certificates(&ssm).await?;
            tracing::info!(
                certificates = certificates.len(),
                bundle = %bundle,
                "Trusting extra CA certificates for GitHub."
            );
            certificates
        }
        None => Vec::new(),
    };
    let options = ClientOptions {
        extra_roots,
        ..ClientOptions::default()
    };
    let client = ActionsClient::new(config.github.config_url.clone(), &credential, options)?;
    Ok(client)
}

/// The AWS adapters, built once.
#[derive(Debug)]
pub struct Adapters {
    /// Lease, state and ledger.
    pub store: DynamoStateStore,
    /// EC2.
    pub fleet: Ec2Fleet,
    /// JIT material.
    pub jit: DynamoJitStore,
}

/// Builds the adapters for instances named by `arns` ([`instance_arns`] or, in Lambda,
/// [`InstanceArns::of_caller`] with the function's ARN).
pub fn adapters(config: &Config, aws: &SdkConfig, arns: InstanceArns) -> Adapters {
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let table = config.runtime.state_table_name.clone();
    Adapters {
        store: DynamoStateStore::new(dynamodb.clone(), table.clone()),
        jit: DynamoJitStore::new(
            dynamodb,
            table,
            config.github.scale_set_name.clone(),
            arns.clone(),
        ),
        fleet: Ec2Fleet::new(
            aws_sdk_ec2::Client::new(aws),
            aws_sdk_ssm::Client::new(aws),
            LaunchSettings::from_config(config, arns),
        ),
    }
}

/// The region the instances launch in: the SDK configuration's.
pub fn region(aws: &SdkConfig) -> Result<String, PortError> {
    aws.region()
        .map(ToString::to_string)
        .ok_or_else(|| PortError {
            operation: "aws configuration",
            kind: PortErrorKind::Fatal,
            message: "no AWS region: set AWS_REGION".to_owned(),
        })
}

/// Instance ARNs in this caller's partition and account, from STS (the local modes).
pub async fn instance_arns(aws: &SdkConfig) -> Result<InstanceArns, PortError> {
    InstanceArns::discover(&aws_sdk_sts::Client::new(aws), region(aws)?).await
}

/// The cycle's settings for this process; `owner` names the invocation.
pub fn cycle_settings(
    config: &Config,
    owner: String,
    delete_session_on_shutdown: bool,
) -> CycleSettings {
    CycleSettings {
        scale_set_name: config.github.scale_set_name.clone(),
        scale_set_id: config.github.scale_set_id,
        runner_group: config.github.runner_group.clone(),
        labels: config.github.labels.clone(),
        min_runners: config.scaling.min_runners,
        max_runners: config.scaling.max_runners,
        boot_timeout: config.runtime.runner_boot_timeout,
        describe_grace: crate::scaling::DESCRIBE_GRACE,
        work_folder: config.runtime.runner_work_folder.clone(),
        owner,
        delete_session_on_shutdown,
        rerun_interrupted_jobs: config.runtime.rerun_interrupted_jobs,
        clock: std::sync::Arc::new(crate::clock::SystemClock),
    }
}

/// A unique owner for a local process: host, pid and a random suffix.
pub fn local_owner() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "ghaec2".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..8])
}
