//! The `ghaec2` binary: a Lambda handler inside Lambda, a CLI elsewhere.

use std::process::ExitCode;

use clap::Parser;
use ghaec2::config::Config;
use ghaec2::dry_run::{self, Outcome, Report};
use ghaec2::{app, telemetry};

/// Autoscale GitHub Actions runners on EC2 spot from the runner scale set message queue.
/// Configuration comes from the environment (see README).
#[derive(Debug, Parser)]
#[command(name = "ghaec2", version, about)]
struct Cli {
    /// Check configuration, credentials, the Actions Service and the scale set; change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let cli = Cli::parse();
    if cli.dry_run {
        return run_dry_run().await;
    }
    eprintln!("ghaec2: only --dry-run is available until the invocation cycle lands (issue #3)");
    ExitCode::from(2)
}

/// Prints the report on stdout, ending with `dry-run passed` or `dry-run failed`.
#[allow(clippy::print_stdout)]
async fn run_dry_run() -> ExitCode {
    let mut report = Report::default();
    let passed = match Config::from_env() {
        Err(e) => {
            report.push("configuration", Outcome::Failed(e.to_string()));
            false
        }
        Ok(config) => {
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
            let aws = app::aws_config(&config).await;
            match app::actions_client(&config, &aws).await {
                Err(e) => report.push("credentials", Outcome::Failed(e.to_string())),
                Ok(client) => {
                    report.push("credentials", Outcome::Passed("resolved".to_owned()));
                    dry_run::check_github(&client, &config.github, &mut report).await;
                }
            }
            report.passed()
        }
    };
    println!("{report}");
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
