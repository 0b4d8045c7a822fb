//! `--teardown`: removes everything ghaec2 made for its scale set, so that `sam delete`
//! succeeds and nothing keeps costing money. Safe to run again after a partial run, and when the
//! scale set or parts of it are gone already.
//!
//! The order, and why:
//! 1. Take the scale set's lease, waiting (bounded) for a running invocation to end, so no
//!    cycle launches or registers while runners are removed.
//! 2. Remove every runner registration of the scale set. The service refuses to remove a busy
//!    runner (docs/protocol.md §12.3); that refusal is the only busy test, so a busy runner is never
//!    removed nor its instance killed. Busy runners are asked again until their jobs end or the
//!    busy wait is over.
//! 3. Terminate the scale set's instances, found by the `ghaec2:scale-set-id` tag (and the
//!    ledger's), except a busy runner's. With runners still busy, stop there, non-zero.
//! 4. Wait until EC2 reports every instance `terminated`: a shutting-down instance still holds
//!    its network interface, and with it the runner security group `sam delete` must delete.
//! 5. Delete the session, the scale set (unless kept), the launch template, the instances' JIT
//!    and boot-failure items, the ledger, the admin connection, the decisions and, last, the state record. The state record goes last
//!    so that a run that stops earlier leaves the scale set id for the rerun; deleting it also
//!    ends the lease.
//!
//! A teardown cannot stop the schedule: a tick after it would find no state and create the
//! scale set and runners again. `make destroy` (scripts/destroy.sh) therefore sets the
//! function's reserved concurrency to 0, disables the schedule rule and pauses until an
//! invocation that started just before holds the lease, before it runs this.
//!
//! - [`mod@self`]: the steps, under the lease.
//! - [`plan`]: which instances go, what the operator is told (pure).
//! - [`error`]: why a teardown stops; [`cli`]: `ghaec2 --teardown`.

mod cli;
mod error;
mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use reqwest::{StatusCode, Url};
use tokio::time::Instant;

pub use cli::{Options, run};
pub use error::TeardownError;
pub use plan::{BusyRunner, Report, ScaleSetOutcome, Split, describe_busy, split};

use crate::actions::{ActionsClient, RunnerRemoval, Session};
use crate::aws::{TableCleanup, delete_launch_template, schema, template_name};
use crate::config::Config;
use crate::cycle::{LEASE_OVERHANG, SAFETY_MARGIN};
use crate::ports::{
    Fleet, Instance, InstanceState, Lease, LeaseOutcome, PortError, PortErrorKind, RunnerRecord,
    ScaleSetState, StateStore,
};

/// How long runners may stay busy before the teardown gives up, unless the flag says.
pub const DEFAULT_BUSY_WAIT: Duration = Duration::from_secs(15 * 60);
/// How long terminated instances may take to reach `terminated` (usually one or two minutes).
pub const TERMINATION_WAIT: Duration = Duration::from_secs(10 * 60);
/// How often the waits look again.
pub const POLL: Duration = Duration::from_secs(5);
/// Each grant of the lease lasts this long; the waits renew it. A teardown that dies blocks
/// the scale set (and a rerun) for at most this long.
const LEASE_TERM: Duration = Duration::from_secs(120);

/// What a teardown needs to know.
#[derive(Debug, Clone)]
pub struct TeardownSettings {
    /// Scale set name; also the key of its state record.
    pub scale_set_name: String,
    /// Runner group of the scale set.
    pub runner_group: String,
    /// `RUNNER_SCALE_SET_ID`, checked against the scale set found by name.
    pub scale_set_id: Option<i64>,
    /// Lease owner.
    pub owner: String,
    /// Leave the scale set (and nothing else) in place.
    pub keep_scale_set: bool,
    /// How long busy runners are waited for.
    pub busy_wait: Duration,
    /// How long a running invocation's lease is waited for.
    pub lease_wait: Duration,
    /// How long instances may take to terminate.
    pub termination_wait: Duration,
    /// Pause between two looks.
    pub poll: Duration,
}

impl TeardownSettings {
    /// Settings from the configuration, with the production waits. The lease wait covers an
    /// invocation's whole lease: its window, the safety margin and the overhang (docs/design.md §3).
    pub fn new(config: &Config, owner: String) -> Self {
        Self {
            scale_set_name: config.github.scale_set_name.clone(),
            runner_group: config.github.runner_group.clone(),
            scale_set_id: config.github.scale_set_id,
            owner,
            keep_scale_set: false,
            busy_wait: DEFAULT_BUSY_WAIT,
            lease_wait: config.runtime.drain_window + SAFETY_MARGIN + LEASE_OVERHANG + POLL,
            termination_wait: TERMINATION_WAIT,
            poll: POLL,
        }
    }
}

/// The clients and stores a teardown works with, borrowed.
#[derive(Debug)]
pub struct Teardown<'a, S, F> {
    /// GitHub + Actions Service.
    pub actions: &'a ActionsClient,
    /// Lease and ledger.
    pub store: &'a S,
    /// EC2 instances.
    pub fleet: &'a F,
    /// EC2, for the launch template.
    pub ec2: &'a aws_sdk_ec2::Client,
    /// The scale set's items in the state table.
    pub table: &'a TableCleanup,
    /// Settings.
    pub settings: &'a TeardownSettings,
}

impl<S: StateStore + Sync, F: Fleet + Sync> Teardown<'_, S, F> {
    /// Tears the scale set down; the report says what went.
    pub async fn run(&self) -> Result<Report, TeardownError> {
        let name = self.settings.scale_set_name.as_str();
        let (mut lease, state) = self.take_lease().await?;
        let result = self.under_lease(&mut lease, &state).await;
        if let Err(e) = &result
            && !matches!(e, TeardownError::Port(p) if p.kind == PortErrorKind::Fenced)
            && let Err(release) = self.store.release(name, &lease).await
        {
            tracing::warn!(error = %release, "Could not release the lease; it lapses by itself.");
        }
        result
    }

    async fn under_lease(
        &self,
        lease: &mut Lease,
        state: &ScaleSetState,
    ) -> Result<Report, TeardownError> {
        let name = self.settings.scale_set_name.as_str();
        let (found, ids) = self.scale_set_ids(state).await?;
        let ledger = self.store.runners(name).await?;
        let mut report = Report {
            scale_set: name.to_owned(),
            runners_removed: Vec::new(),
            instances_terminated: Vec::new(),
            session_deleted: None,
            scale_set_outcome: ScaleSetOutcome::AlreadyGone,
            template_deleted: false,
            instance_items_deleted: 0,
            ledger_entries_deleted: 0,
        };
        let busy = self
            .remove_runners(lease, &ids, &ledger, &mut report)
            .await?;
        let instances = self.instances(&ids).await?;
        let split = split(&instances, &ledger, &busy, name);
        self.fleet.terminate(&split.terminate).await?;
        report.instances_terminated.clone_from(&split.terminate);
        if !busy.is_empty() {
            return Err(TeardownError::Busy {
                runners: describe_busy(&busy, &split.keep),
                waited_s: self.settings.busy_wait.as_secs(),
            });
        }
        self.wait_terminated(lease, &ids).await?;

        if let (Some(stored), Some(id)) = (&state.session, state.scale_set_id)
            && let Ok(url) = Url::parse(&stored.queue_url)
        {
            let session = Session::restored(stored.id, id, url);
            self.actions.delete_session(&session).await?;
            report.session_deleted = Some(stored.id);
        }
        report.scale_set_outcome = match (found, self.settings.keep_scale_set) {
            (found, true) => ScaleSetOutcome::Kept(found),
            (None, false) => ScaleSetOutcome::AlreadyGone,
            (Some(id), false) => match self.actions.delete_scale_set(id).await {
                Err(e) if e.has_status(StatusCode::NOT_FOUND) => ScaleSetOutcome::AlreadyGone,
                other => other.map(|()| ScaleSetOutcome::Deleted(id))?,
            },
        };
        report.template_deleted = delete_launch_template(self.ec2, &template_name(name)).await?;

        for key in self.table.instance_item_keys(name).await? {
            self.table.delete(key).await?;
            report.instance_items_deleted += 1;
        }
        self.renew(lease).await?;
        for runner in self.table.ledger_names(name).await? {
            self.store.delete_runner(name, lease, &runner).await?;
            report.ledger_entries_deleted += 1;
        }
        self.table.delete(schema::admin_key(name)).await?;
        self.table.delete(schema::decisions_key(name)).await?;
        self.table.delete_state(name, lease).await?;
        tracing::info!(scale_set = name, "Teardown complete.");
        Ok(report)
    }

    /// Takes the lease, waiting for a running invocation's to end.
    async fn take_lease(&self) -> Result<(Lease, ScaleSetState), TeardownError> {
        let name = self.settings.scale_set_name.as_str();
        let start = Instant::now();
        loop {
            match self.acquire().await? {
                LeaseOutcome::Acquired(lease, state) => return Ok((lease, state)),
                LeaseOutcome::Held { owner, expires_at } => {
                    if start.elapsed() >= self.settings.lease_wait {
                        return Err(TeardownError::LeaseHeld {
                            scale_set: name.to_owned(),
                            owner,
                            waited_s: start.elapsed().as_secs(),
                        });
                    }
                    tracing::info!(scale_set = name, holder = owner, %expires_at, "Lease held; waiting for that invocation to end.");
                    tokio::time::sleep(self.settings.poll).await;
                }
            }
        }
    }

    async fn acquire(&self) -> Result<LeaseOutcome, PortError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(LEASE_TERM).unwrap_or_default();
        self.store
            .acquire(
                &self.settings.scale_set_name,
                &self.settings.owner,
                until,
                now,
            )
            .await
    }

    /// Extends our lease (acquiring again as its owner moves the fence).
    async fn renew(&self, lease: &mut Lease) -> Result<(), TeardownError> {
        match self.acquire().await? {
            LeaseOutcome::Acquired(renewed, _) => {
                *lease = renewed;
                Ok(())
            }
            LeaseOutcome::Held { owner, .. } => Err(PortError {
                operation: "dynamodb renew lease",
                kind: PortErrorKind::Fenced,
                message: format!("the lease lapsed and {owner} took it"),
            }
            .into()),
        }
    }

    /// Sleeps one poll interval and renews the lease.
    async fn pause(&self, lease: &mut Lease) -> Result<(), TeardownError> {
        tokio::time::sleep(self.settings.poll).await;
        self.renew(lease).await
    }

    /// The id the service knows the scale set by (`None` when it is gone), and every id its
    /// instances may be tagged with: that one, the state record's, the configured one.
    async fn scale_set_ids(
        &self,
        state: &ScaleSetState,
    ) -> Result<(Option<i64>, Vec<i64>), TeardownError> {
        let settings = self.settings;
        let group = self.actions.runner_group_id(&settings.runner_group).await?;
        let found = self
            .actions
            .scale_set_by_name(group, &settings.scale_set_name)
            .await?
            .map(|set| set.id);
        if let (Some(expected), Some(actual)) = (settings.scale_set_id, found)
            && expected != actual
        {
            return Err(TeardownError::ScaleSetIdMismatch {
                name: settings.scale_set_name.clone(),
                expected,
                actual,
            });
        }
        let ids: BTreeSet<i64> = [found, state.scale_set_id, settings.scale_set_id]
            .into_iter()
            .flatten()
            .collect();
        Ok((found, ids.into_iter().collect()))
    }

    /// Removes every registration of the scale set (the service's list and the ledger's);
    /// returns the runners still busy when the busy wait ends.
    async fn remove_runners(
        &self,
        lease: &mut Lease,
        ids: &[i64],
        ledger: &[RunnerRecord],
        report: &mut Report,
    ) -> Result<Vec<BusyRunner>, TeardownError> {
        let start = Instant::now();
        let mut removed = BTreeSet::new();
        loop {
            let mut runners: BTreeMap<i64, String> = ledger
                .iter()
                .filter_map(|r| Some((r.runner_id?, r.name.clone())))
                .collect();
            for id in ids {
                runners.extend(
                    self.actions
                        .scale_set_runners(*id)
                        .await?
                        .into_iter()
                        .map(|r| (r.id, r.name)),
                );
            }
            let mut busy = Vec::new();
            for (id, name) in runners {
                if removed.contains(&id) {
                    continue;
                }
                match self.actions.remove_runner(id).await? {
                    RunnerRemoval::Removed => {
                        tracing::info!(runner = name, runner_id = id, "Removed runner.");
                        removed.insert(id);
                        report.runners_removed.push(name);
                    }
                    RunnerRemoval::JobStillRunning => busy.push(BusyRunner { id, name }),
                }
            }
            if busy.is_empty() || start.elapsed() >= self.settings.busy_wait {
                return Ok(busy);
            }
            let names: Vec<&str> = busy.iter().map(|r| r.name.as_str()).collect();
            tracing::info!(runners = ?names, "Runners are running jobs; waiting for them to end.");
            self.pause(lease).await?;
        }
    }

    /// The scale set's instances that EC2 does not report terminated yet (it lists terminated
    /// ones for a while).
    async fn instances(&self, ids: &[i64]) -> Result<Vec<Instance>, TeardownError> {
        let mut instances = Vec::new();
        for id in ids {
            instances.extend(self.fleet.instances(*id).await?);
        }
        instances.retain(|i| i.state != InstanceState::Terminated);
        Ok(instances)
    }

    /// Waits until EC2 reports every instance of the scale set terminated. One that still runs
    /// (listed late, after a launch) is terminated on the way.
    async fn wait_terminated(&self, lease: &mut Lease, ids: &[i64]) -> Result<(), TeardownError> {
        let start = Instant::now();
        loop {
            let left = self.instances(ids).await?;
            if left.is_empty() {
                return Ok(());
            }
            if start.elapsed() >= self.settings.termination_wait {
                let instances: Vec<String> = left
                    .iter()
                    .map(|i| format!("{} ({:?})", i.id, i.state))
                    .collect();
                return Err(TeardownError::NotTerminated {
                    instances: instances.join(", "),
                    waited_s: start.elapsed().as_secs(),
                });
            }
            // Again for all: a running one was listed late, a stopped one would keep its
            // interface for good, and terminating one already shutting down changes nothing.
            let left_ids: Vec<String> = left.iter().map(|i| i.id.clone()).collect();
            self.fleet.terminate(&left_ids).await?;
            tracing::info!(count = left.len(), "Waiting for instances to terminate.");
            self.pause(lease).await?;
        }
    }
}
