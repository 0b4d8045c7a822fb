//! `ghaec2 --teardown` from the environment: start-up and the run of every configured scale
//! set; `main` prints the reports.

use std::time::Duration;

use super::{DEFAULT_BUSY_WAIT, Report, Teardown, TeardownError, TeardownSettings};
use crate::app::{self, StartError};
use crate::aws::TableCleanup;
use crate::config;

/// What the command line asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `--keep-scale-set`.
    pub keep_scale_set: bool,
    /// `--busy-wait-seconds`, when given.
    pub busy_wait: Option<Duration>,
}

/// `ghaec2 --teardown`: everything of every configured scale set removed, the scale sets at the
/// same time; each one's report, or why it stopped. `Err` when ghaec2 could not start.
pub async fn run(
    options: Options,
) -> Result<Vec<(String, Result<Report, TeardownError>)>, StartError> {
    let deployment = app::deployment(config::process_env).await?;
    let shared = deployment.shared();
    let aws = app::aws_config(shared).await;
    let actions = app::actions_client(shared, &aws).await?;
    let arns = app::instance_arns(&aws).await?;
    let owner = format!("teardown-{}", app::local_owner());
    let table = TableCleanup::new(
        aws_sdk_dynamodb::Client::new(&aws),
        shared.runtime.state_table_name.clone(),
    );
    let ec2 = aws_sdk_ec2::Client::new(&aws);
    let teardowns = deployment.scale_sets().map(|config| {
        let adapters = app::adapters(config, &aws, arns.clone());
        let mut settings = TeardownSettings::new(config, owner.clone());
        settings.keep_scale_set = options.keep_scale_set;
        settings.busy_wait = options.busy_wait.unwrap_or(DEFAULT_BUSY_WAIT);
        let (actions, table, ec2) = (&actions, &table, &ec2);
        async move {
            let teardown = Teardown {
                actions,
                store: &adapters.store,
                fleet: &adapters.fleet,
                ec2,
                table,
                settings: &settings,
            };
            (config.github.scale_set_name.clone(), teardown.run().await)
        }
    });
    Ok(futures::future::join_all(teardowns).await)
}
