//! `ghaec2 --teardown` on the command line: start-up, the run, the report.

use std::process::ExitCode;
use std::time::Duration;

use super::{DEFAULT_BUSY_WAIT, Teardown, TeardownSettings};
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

/// `ghaec2 --teardown`: prints the report on stdout and exits 0, or prints why it stopped on
/// stderr and exits 1 (2 when it cannot start).
#[allow(clippy::print_stdout)]
pub async fn run(options: Options) -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => return cannot_start(StartError::from(e)),
    };
    let aws = app::aws_config(&config).await;
    let (actions, adapters) = match (
        app::actions_client(&config, &aws).await,
        app::instance_arns(&aws).await,
    ) {
        (Ok(actions), Ok(arns)) => (actions, app::adapters(&config, &aws, arns)),
        (Err(e), _) => return cannot_start(e),
        (_, Err(e)) => return cannot_start(e.into()),
    };
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
    match teardown.run().await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "Teardown stopped.");
            eprintln!("teardown stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cannot_start(e: StartError) -> ExitCode {
    tracing::error!(error = %e, "ghaec2 cannot start.");
    eprintln!("{e}");
    ExitCode::from(2)
}
