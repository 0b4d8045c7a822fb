//! Start-up shared by every mode: configuration, AWS SDK configuration, secrets from SSM and
//! the Actions Service client, each built once.

use aws_config::{BehaviorVersion, SdkConfig};

use crate::actions::{ActionsClient, ActionsError, ClientOptions};
use crate::config::{Config, ConfigError, Credential, SecretError};

/// Why ghaec2 could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The environment is invalid.
    #[error("invalid configuration:\n{0}")]
    Config(#[from] ConfigError),
    /// A secret could not be read from SSM.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The client could not be built (e.g. the App key does not parse).
    #[error(transparent)]
    Actions(#[from] ActionsError),
}

/// Loads the AWS SDK configuration from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL`,
/// credentials); the region falls back to the one configured for EC2.
pub async fn aws_config(config: &Config) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.ec2.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    loader.load().await
}

/// Resolves the GitHub credential (from SSM when configured so) and builds the client.
pub async fn actions_client(config: &Config, aws: &SdkConfig) -> Result<ActionsClient, StartError> {
    tracing::info!("Initializing Actions Service client");
    let credential: Credential = config
        .github
        .credential
        .resolve(&aws_sdk_ssm::Client::new(aws))
        .await?;
    let client = ActionsClient::new(
        config.github.config_url.clone(),
        &credential,
        ClientOptions::default(),
    )?;
    Ok(client)
}
