//! The `ghaec2` binary: a Lambda handler inside Lambda (`AWS_LAMBDA_RUNTIME_API` set), a CLI
//! elsewhere: `ghaec2` (continuous), `ghaec2 --once`, `ghaec2 --dry-run`, `ghaec2 --teardown`,
//! `ghaec2 --status`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ghaec2::actions::ActionsClient;
use ghaec2::app::{self, StartError};
use ghaec2::aws::InstanceArns;
use ghaec2::backoff::Backoff;
use ghaec2::config::{self, Config, Deployment};
use ghaec2::cycle::{CycleError, EndReason, SAFETY_MARGIN, Stop};
use ghaec2::event::{self, Invocation};
use ghaec2::ports::PortError;
use ghaec2::serve::{self, ScaleSet};
use ghaec2::{dry_run, status, teardown, telemetry};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use tokio::sync::{OnceCell, watch};
use tokio::time::Instant;

/// Autoscale GitHub Actions runners on EC2 spot from the runner scale set message queue.
/// Configuration comes from the environment (see README). Without a flag, runs cycle after
/// cycle until SIGINT/SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "ghaec2", version, about)]
struct Cli {
    /// Run exactly one cycle and print its JSON summary.
    #[arg(long, conflicts_with = "dry_run")]
    once: bool,
    /// Check configuration, credentials, the Actions Service, the scale set, the state table
    /// and EC2 permissions; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Remove everything of the scale set: runners (busy ones are waited for), instances, state,
    /// launch template, session and the scale set. Run it with the schedule disabled
    /// (`make destroy` does).
    #[arg(long, conflicts_with_all = ["once", "dry_run"])]
    teardown: bool,
    /// With --teardown: keep the scale set itself.
    #[arg(long, requires = "teardown")]
    keep_scale_set: bool,
    /// With --teardown: how long busy runners are waited for (default 900).
    #[arg(long, requires = "teardown", value_name = "SECONDS")]
    busy_wait_seconds: Option<u64>,
    /// Show each scale set's lease, session, runners (the ledger joined with EC2) and
    /// mismatches, with what the next reconcile does about them; change nothing.
    #[arg(long, conflicts_with_all = ["once", "dry_run", "teardown"])]
    status: bool,
    /// With --status: one JSON document instead of text.
    #[arg(long, requires = "status")]
    json: bool,
    /// With --once: the invocation a Lambda event asks for, from a JSON file, e.g.
    /// events/spot-interruption.json (deal with a spot interruption warning, then listen).
    #[arg(long, requires = "once", value_name = "FILE")]
    event: Option<std::path::PathBuf>,
}

/// Built once per process, borrowed by every cycle.
struct Deps {
    deployment: Deployment,
    aws: aws_config::SdkConfig,
    actions: ActionsClient,
}

impl Deps {
    /// The settings every scale set shares (GitHub, region, table, window).
    fn shared(&self) -> &Config {
        self.deployment.shared()
    }

    /// Every scale set with its adapters, for instances named by `arns`.
    fn scale_sets(&self, arns: &InstanceArns) -> Vec<ScaleSet> {
        self.deployment
            .scale_sets()
            .map(|config| ScaleSet {
                adapters: app::adapters(config, &self.aws, arns.clone()),
                config: config.clone(),
            })
            .collect()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return lambda().await;
    }
    let cli = Cli::parse();
    if cli.dry_run {
        return dry_run_cli().await;
    }
    if cli.status {
        return status_cli(cli.json).await;
    }
    if cli.teardown {
        return teardown_cli(teardown::Options {
            keep_scale_set: cli.keep_scale_set,
            busy_wait: cli.busy_wait_seconds.map(Duration::from_secs),
        })
        .await;
    }
    let started = async {
        let deps = start().await?;
        let arns = app::instance_arns(&deps.aws).await?;
        let scale_sets = deps.scale_sets(&arns);
        Ok::<_, StartError>((deps, scale_sets))
    };
    let (deps, scale_sets) = match started.await {
        Ok(started) => started,
        Err(e) => {
            tracing::error!(error = %e, "ghaec2 cannot start.");
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if cli.once {
        let invocation = match cli.event.as_deref().map(read_event).transpose() {
            Ok(invocation) => invocation.unwrap_or(Invocation::Cycle),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        once(&deps, &scale_sets, &invocation).await
    } else {
        continuous(&deps, &scale_sets).await
    }
}

async fn start() -> Result<Deps, StartError> {
    let deployment = app::deployment(config::process_env).await?;
    let aws = app::aws_config(deployment.shared()).await;
    let actions = app::actions_client(deployment.shared(), &aws).await?;
    Ok(Deps {
        deployment,
        aws,
        actions,
    })
}

fn window_stop(deps: &Deps, shutdown: watch::Receiver<bool>) -> Stop {
    Stop {
        listen_until: Instant::now() + deps.shared().runtime.drain_window,
        deadline_bound: false,
        shutdown,
    }
}

/// `--dry-run`: the report on stdout (ending with `dry-run passed` or `dry-run failed`), exit 0
/// only if every check passed.
#[allow(clippy::print_stdout)]
async fn dry_run_cli() -> ExitCode {
    let report = dry_run::report().await;
    println!("{report}");
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--teardown`: each scale set's report on stdout and exit 0; or why one stopped on stderr
/// and exit 1 (2 when ghaec2 could not start).
#[allow(clippy::print_stdout)]
async fn teardown_cli(options: teardown::Options) -> ExitCode {
    let results = match teardown::run(options).await {
        Ok(results) => results,
        Err(e) => {
            tracing::error!(error = %e, "ghaec2 cannot start.");
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let several = results.len() > 1;
    let mut status = ExitCode::SUCCESS;
    for (name, result) in results {
        match result {
            Ok(report) => println!("{report}"),
            Err(e) => {
                tracing::error!(scale_set = name, error = %e, "Teardown stopped.");
                match several {
                    true => eprintln!("teardown stopped: {name}: {e}"),
                    false => eprintln!("teardown stopped: {e}"),
                }
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}

/// `--status`: every scale set's status on stdout (text, or one JSON document with `--json`)
/// and exit 0; a scale set that could not be read is named on stderr, with the read that
/// failed, and exits 1 (2 when ghaec2 could not start).
#[allow(clippy::print_stdout)]
async fn status_cli(json: bool) -> ExitCode {
    let results = match status::run().await {
        Ok(results) => results,
        Err(e) => {
            tracing::error!(error = %e, "ghaec2 cannot start.");
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if json {
        println!("{:#}", status::render::json(&results));
    }
    let mut code = ExitCode::SUCCESS;
    for result in &results {
        match result {
            Ok(status) if !json => println!("{}", status::render::text(status)),
            Ok(_) => {}
            Err(e) => {
                eprintln!("status: {e}");
                code = ExitCode::FAILURE;
            }
        }
    }
    code
}

/// The invocation `--event FILE` asks for.
fn read_event(path: &std::path::Path) -> Result<Invocation, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--event {}: cannot read it: {e}", path.display()))?;
    let event: Value = serde_json::from_str(&text)
        .map_err(|e| format!("--event {}: not JSON: {e}", path.display()))?;
    event::classify(&event).map_err(|e| format!("--event {}: {e}", path.display()))
}

/// One invocation for every scale set at once (a cycle, or what `invocation` asks for); the
/// JSON summary on stdout, each failure on stderr.
#[allow(clippy::print_stdout)]
async fn once(deps: &Deps, scale_sets: &[ScaleSet], invocation: &Invocation) -> ExitCode {
    let stop = window_stop(deps, shutdown_signal());
    let owner = app::local_owner();
    let outcome = match invocation {
        Invocation::DryRun => return dry_run_cli().await,
        Invocation::SpotInterruption(warning) => {
            serve::interruption(&deps.actions, scale_sets, &owner, &stop, warning).await
        }
        Invocation::Cycle => {
            serve::cycle_all(&deps.actions, scale_sets, &owner, &stop, false).await
        }
    };
    println!("{}", outcome.to_json());
    let mut status = ExitCode::SUCCESS;
    for (name, e) in outcome.failures() {
        match scale_sets.len() {
            1 => eprintln!("{e}"),
            _ => eprintln!("{name}: {e}"),
        }
        status = ExitCode::FAILURE;
    }
    status
}

/// Every scale set served cycle after cycle, each in its own loop, until SIGINT/SIGTERM.
async fn continuous(deps: &Deps, scale_sets: &[ScaleSet]) -> ExitCode {
    let shutdown = shutdown_signal();
    let owner = app::local_owner();
    let named = scale_sets.len() > 1;
    let loops = scale_sets
        .iter()
        .map(|scale_set| serve_continuously(deps, scale_set, &owner, named, &shutdown));
    futures::future::join_all(loops).await;
    ExitCode::SUCCESS
}

/// Cycle after cycle for one scale set until shutdown; a failed cycle is logged and retried
/// after a pause, so the loop needs no babysitting. Each summary is a JSON line, with the
/// scale set's name when the deployment has several.
#[allow(clippy::print_stdout)]
async fn serve_continuously(
    deps: &Deps,
    scale_set: &ScaleSet,
    owner: &str,
    named: bool,
    shutdown: &watch::Receiver<bool>,
) {
    // A failed cycle waits 2 s, doubling to 32 s.
    let mut retry = Backoff::new(Duration::from_secs(2), Duration::from_secs(32));
    loop {
        let stop = window_stop(deps, shutdown.clone());
        match serve::cycle(&deps.actions, scale_set, owner, &stop, true).await {
            Ok(summary) => {
                retry.reset();
                let name = named.then_some(scale_set.config.github.scale_set_name.as_str());
                println!("{}", serve::result_json(name, &Ok(summary.clone())));
                if summary.reason == EndReason::Shutdown {
                    return;
                }
                if summary.reason == EndReason::LeaseHeld {
                    pause(Duration::from_secs(5), shutdown).await;
                }
            }
            Err(e) => {
                let wait = retry.fail();
                tracing::error!(error = %e, retry_in_s = wait.as_secs(), "Cycle failed.");
                pause(wait, shutdown).await;
            }
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

async fn pause(wait: Duration, shutdown: &watch::Receiver<bool>) {
    let mut shutdown = shutdown.clone();
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}

/// A receiver that turns true on SIGINT or SIGTERM.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = interrupt => {}
            _ = terminate => {}
        }
        tracing::info!("Shutting down after the current message.");
        let _ = sender.send(true);
    });
    receiver
}

/// Lambda: a spot interruption warning is dealt with, then listened on; the dry-run event runs
/// the dry run; every other event (EventBridge schedule, a manual test event) runs one cycle,
/// cut short
/// by the invocation's deadline minus the safety margin.
async fn lambda() -> ExitCode {
    let deps = match start().await {
        Ok(deps) => deps,
        Err(e) => {
            tracing::error!(error = %e, "ghaec2 cannot start.");
            return ExitCode::from(2);
        }
    };
    let deps = &deps;
    // Built at the first event, whose context names the function and so the account and
    // partition the instances launch in, without a call to STS (unless an emulator's
    // placeholder ARN leaves no choice).
    let scale_sets = &OnceCell::new();
    let handler = service_fn(move |event: LambdaEvent<Value>| async move {
        let invocation = event::classify(&event.payload).map_err(|e| {
            tracing::error!(error = %e, "Unreadable event.");
            Diagnostic {
                error_type: "BadEvent".to_owned(),
                error_message: e.to_string(),
            }
        })?;
        // The deployed role's own dry run: the same checks as `--dry-run`, with the function's
        // configuration and permissions; nothing changes and no cycle runs.
        if invocation == Invocation::DryRun {
            let report = dry_run::report().await;
            tracing::info!(passed = report.passed(), "Dry run: {report}");
            return Ok::<Value, Diagnostic>(report.to_json());
        }
        let scale_sets = scale_sets
            .get_or_try_init(|| async {
                let region = app::region(&deps.aws)?;
                let arns =
                    match InstanceArns::of_caller(region, &event.context.invoked_function_arn) {
                        Ok(arns) => arns,
                        // Emulators send a placeholder (`cargo lambda watch`: "function-arn").
                        Err(reason) => {
                            tracing::warn!(
                                reason,
                                "The function ARN names no account; asking STS."
                            );
                            app::instance_arns(&deps.aws).await?
                        }
                    };
                Ok::<_, PortError>(deps.scale_sets(&arns))
            })
            .await
            .map_err(|e| Diagnostic::from(CycleError::from(e)))?;
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let window = Instant::now() + deps.shared().runtime.drain_window;
        // A deadline already past on arrival is not a real one (`cargo lambda watch` sends a
        // fixed 1970 deadline): the window alone bounds the cycle then.
        let deadline = (event.context.deadline > now_ms).then(|| {
            let left = Duration::from_millis(event.context.deadline - now_ms);
            Instant::now() + left.saturating_sub(SAFETY_MARGIN)
        });
        let listen_until = deadline.map_or(window, |d| d.min(window));
        let stop = Stop {
            listen_until,
            deadline_bound: listen_until < window,
            shutdown: watch::channel(false).1,
        };
        let owner = &event.context.request_id;
        let outcome = match &invocation {
            Invocation::SpotInterruption(warning) => {
                serve::interruption(&deps.actions, scale_sets, owner, &stop, warning).await
            }
            _ => serve::cycle_all(&deps.actions, scale_sets, owner, &stop, false).await,
        };
        outcome.into_lambda_result()
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "Lambda runtime failed.");
            ExitCode::FAILURE
        }
    }
}
