//! `ghaec2 --teardown` from the environment: start-up and the run; `main` prints the report.

use std::time::Duration;

use super::{DEFAULT_BUSY_WAIT, Report, Teardown, TeardownError, TeardownSettings};
use crate::app::{self, StartError};
use crate::aws::TableCleanup;
use crate::config::Config;

/// What the command line asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `--keep-scale-set`.
    pub keep_scale_set: bool,
    /// `--busy-wait-seconds`, when given.
    pub busy_wait: Option<Duration>,
}

/// Why `--teardown` did not finish.
#[derive(Debug, thiserror::Error)]
pub enum TeardownFailure {
    /// ghaec2 could not start (configuration, secrets, AWS identity).
    #[error(transparent)]
    CannotStart(#[from] StartError),
    /// The teardown began and stopped.
    #[error("teardown stopped: {0}")]
    Stopped(#[from] TeardownError),
}

/// `ghaec2 --teardown`: everything of the configured scale set removed; the report of what went.
pub async fn run(options: Options) -> Result<Report, TeardownFailure> {
    let config = Config::from_env().map_err(StartError::from)?;
    let aws = app::aws_config(&config).await;
    let actions = app::actions_client(&config, &aws).await?;
    let arns = app::instance_arns(&aws).await.map_err(StartError::from)?;
    let adapters = app::adapters(&config, &aws, arns);
    let mut settings = TeardownSettings::new(&config, format!("teardown-{}", app::local_owner()));
    settings.keep_scale_set = options.keep_scale_set;
    settings.busy_wait = options.busy_wait.unwrap_or(DEFAULT_BUSY_WAIT);
    let table = TableCleanup::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.runtime.state_table_name.clone(),
    );
    let teardown = Teardown {
        actions: &actions,
        store: &adapters.store,
        fleet: &adapters.fleet,
        ec2: &aws_sdk_ec2::Client::new(&aws),
        table: &table,
        settings: &settings,
    };
    Ok(teardown.run().await?)
}
