//! `ghaec2 --status`: what each configured scale set looks like now, read-only
//! (docs/design.md §3).
//!
//! - [`mod@self`]: the reads (the state item, the JIT listing, EC2, the ledger) and the run
//!   of every configured scale set.
//! - [`view`]: the status from what was read (pure): the runners joined with their instances,
//!   the mismatches from the reconciler's own plan.
//! - [`render`]: the text report and the JSON document.
//!
//! It writes nothing and makes no Actions Service call: everything it shows is in the state
//! table and EC2.

pub mod render;
pub mod view;

use chrono::{DateTime, Utc};

pub use view::{Observed, Rules, ScaleSetStatus};

use crate::app::{self, StartError};
use crate::config::{self, Config};
use crate::cycle::Ports;
use crate::ports::{Fleet, JitStore, PortError, StateStore};
use crate::scaling::{DESCRIBE_GRACE, Timeouts};

/// Why the status of a scale set could not be read: the read that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("scale set {scale_set}: {source}")]
pub struct StatusError {
    /// The scale set.
    pub scale_set: String,
    /// The read that failed, e.g. `ec2 describe instances: …`.
    pub source: PortError,
}

impl Rules {
    /// The rules of a configured scale set, as its cycle applies them.
    pub fn of(config: &Config) -> Self {
        Rules {
            scale_set_name: config.github.scale_set_name.clone(),
            min_runners: config.scaling.min_runners,
            max_runners: config.scaling.max_runners,
            timeouts: Timeouts {
                boot: config.runtime.runner_boot_timeout,
                describe_grace: DESCRIBE_GRACE,
            },
        }
    }
}

/// Reads what the status of `scale_set` shows, in the order a cycle makes things (an instance
/// is launched, then its ledger entry written, then its JIT material): each read then finds
/// what the earlier ones name, and a cycle running meanwhile shows no JIT material without its
/// instance. What a cycle is doing between two reads can still show, in that status only: an
/// instance it is setting up as an orphan, a runner it is removing as its instance gone.
pub async fn observe<S, F, J>(
    ports: Ports<'_, S, F, J>,
    scale_set: &str,
    configured_id: Option<i64>,
) -> Result<Observed, PortError>
where
    S: StateStore + Sync,
    F: Fleet + Sync,
    J: JitStore + Sync,
{
    let record = ports.store.read(scale_set).await?;
    let scale_set_id = record.state.scale_set_id.or(configured_id);
    let jit = ports.jit.listing().await?;
    let instances = match scale_set_id {
        Some(id) => ports.fleet.instances(id).await?,
        // Instances are found by the scale set's id: none before the scale set exists.
        None => Vec::new(),
    };
    let ledger = ports.store.runners(scale_set).await?;
    Ok(Observed {
        record,
        scale_set_id,
        jit,
        instances,
        ledger,
    })
}

/// The status of the scale set `config` describes, read at `now`.
pub async fn scale_set<S, F, J>(
    ports: Ports<'_, S, F, J>,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<ScaleSetStatus, StatusError>
where
    S: StateStore + Sync,
    F: Fleet + Sync,
    J: JitStore + Sync,
{
    let rules = Rules::of(config);
    let observed = observe(ports, &rules.scale_set_name, config.github.scale_set_id)
        .await
        .map_err(|source| StatusError {
            scale_set: rules.scale_set_name.clone(),
            source,
        })?;
    Ok(view::status(&rules, observed, now))
}

/// `ghaec2 --status`: the status of every configured scale set, read at the same time. `Err`
/// when ghaec2 could not start (configuration, the AWS account).
pub async fn run() -> Result<Vec<Result<ScaleSetStatus, StatusError>>, StartError> {
    let deployment = app::deployment(config::process_env).await?;
    let aws = app::aws_config(deployment.shared()).await;
    // JIT items are keyed by instance ARN, which names the account (STS GetCallerIdentity).
    let arns = app::instance_arns(&aws).await?;
    let now = Utc::now();
    let reads = deployment.scale_sets().map(|config| {
        let adapters = app::adapters(config, &aws, arns.clone());
        async move {
            let ports = Ports {
                store: &adapters.store,
                fleet: &adapters.fleet,
                jit: &adapters.jit,
            };
            scale_set(ports, config, now).await
        }
    });
    Ok(futures::future::join_all(reads).await)
}
