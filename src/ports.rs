//! The roles the invocation cycle needs from AWS, as small traits: the state store
//! (lease, session, cursor, runner ledger, pending reruns), the fleet (EC2) and the JIT store. Real
//! implementations live in [`crate::aws`]; tests wrap them to inject faults at any step.

use std::future::Future;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::actions::wire::Statistics;

/// Error of a port call. `kind` lets the cycle tell a lost lease from a transient failure;
/// `message` never carries a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct PortError {
    /// What failed, e.g. `dynamodb save state`.
    pub operation: &'static str,
    /// Class of failure.
    pub kind: PortErrorKind,
    /// Error code and message from AWS, for the log.
    pub message: String,
}

/// Classes of port failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortErrorKind {
    /// A conditional write failed: another invocation took the lease (fencing).
    Fenced,
    /// Throttling, 5xx, timeouts: try again later.
    Retryable,
    /// Anything else (permissions, validation).
    Fatal,
}

/// The lease an invocation holds on its scale set (docs/design.md §1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Invocation id that owns it.
    pub owner: String,
    /// Fencing counter: incremented on every acquisition; every later write must match it.
    pub fence: u64,
    /// When the lease lapses if not released.
    pub expires_at: DateTime<Utc>,
}

/// A stored message session (docs/design.md §1.2). Its queue token is not stored: every
/// invocation refreshes the session before its first poll, which issues a new one, and the
/// tokens would take the state item past one write unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Session id.
    pub id: uuid::Uuid,
    /// Message queue URL.
    pub queue_url: String,
    /// When it was created, if known (an older layout did not keep it).
    pub created_at: Option<DateTime<Utc>>,
    /// When it was last refreshed (created counts): at the start of each invocation.
    pub refreshed_at: Option<DateTime<Utc>>,
}

/// A stored admin connection, kept in an item of its own beside the state item. The expiry is
/// read from the token itself.
#[derive(Clone)]
pub struct StoredAdmin {
    /// Actions Service base URL.
    pub service_url: String,
    /// Admin token (a secret; DynamoDB encrypts it at rest).
    pub token: SecretString,
}

impl std::fmt::Debug for StoredAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAdmin")
            .field("service_url", &self.service_url)
            .field("token", &crate::actions::wire::REDACTED)
            .finish()
    }
}

impl PartialEq for StoredAdmin {
    fn eq(&self, other: &Self) -> bool {
        use secrecy::ExposeSecret;
        self.service_url == other.service_url
            && self.token.expose_secret() == other.token.expose_secret()
    }
}

impl Eq for StoredAdmin {}

/// What the state record of a scale set holds besides the lease.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScaleSetState {
    /// Scale set id, once known.
    pub scale_set_id: Option<i64>,
    /// The live session, if any.
    pub session: Option<StoredSession>,
    /// Cursor: the last message whose effect is durable.
    pub last_message_id: i64,
    /// When the cursor's message was handled.
    pub last_message_at: Option<DateTime<Utc>>,
    /// Admin connection (service URL + admin token), so an invocation can skip the token
    /// chain while the token is valid. Read with the state, from its own item; written by
    /// [`StateStore::put_admin`], never by `save`.
    pub admin: Option<StoredAdmin>,
    /// Last statistics seen, so an invocation without messages does not scale down as if no
    /// job were assigned (docs/design.md §2).
    pub statistics: Option<Statistics>,
    /// The last reconcile decisions, for operators. Read with the state, from their own item;
    /// written by [`StateStore::put_decisions`], never by `save`.
    pub decisions: Decisions,
}

/// What one reconcile decided and did: the reconciler's `Reconciled.` line, kept for
/// `--status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// When the reconcile ended.
    pub at: DateTime<Utc>,
    /// Desired runners.
    pub desired: u32,
    /// Runners counted after the launches and removals.
    pub current: u32,
    /// Runners still booting.
    pub booting: u32,
    /// Instances launched.
    pub launched: u32,
    /// Instances terminated.
    pub terminated: u32,
    /// What held the fleet below the wanted size: `max`, or CreateFleet error codes, each once.
    pub capped_by: Vec<String>,
}

impl Decision {
    /// The same decision as `other`, whenever made.
    fn repeats(&self, other: &Decision) -> bool {
        Decision {
            at: other.at,
            ..self.clone()
        } == *other
    }
}

/// The last [`Decisions::KEPT`] decisions, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Decisions(Vec<Decision>);

impl Decisions {
    /// How many are kept: a few, so that their item stays small.
    pub const KEPT: usize = 5;

    /// The decisions as read, newest first, the oldest past [`Decisions::KEPT`] dropped.
    pub fn new(mut newest_first: Vec<Decision>) -> Self {
        newest_first.truncate(Self::KEPT);
        Decisions(newest_first)
    }

    /// Records `decision` unless it repeats the newest (an idle scale set decides the same
    /// at every reconcile: the list keeps changes, each with the time it was first made).
    pub fn record(&mut self, decision: Decision) {
        if self
            .0
            .first()
            .is_some_and(|newest| decision.repeats(newest))
        {
            return;
        }
        self.0.insert(0, decision);
        self.0.truncate(Self::KEPT);
    }

    /// Newest first.
    pub fn as_slice(&self) -> &[Decision] {
        &self.0
    }
}

/// The state item as a read finds it, lease included (docs/design.md §1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateRecord {
    /// The lease as last taken (its expiry is the epoch once released); `None` before the
    /// first acquisition.
    pub lease: Option<Lease>,
    /// When the lease was last released.
    pub released_at: Option<DateTime<Utc>>,
    /// The state the lease guards, admin connection included.
    pub state: ScaleSetState,
}

impl StateRecord {
    /// The lease, when an owner other than `owner` holds it at `now`: what `acquire` would
    /// meet. Compared to the millisecond, the table's unit.
    pub fn held_against(&self, owner: &str, now: DateTime<Utc>) -> Option<&Lease> {
        self.lease.as_ref().filter(|lease| {
            lease.owner != owner && lease.expires_at.timestamp_millis() >= now.timestamp_millis()
        })
    }
}

/// Result of asking for the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per invocation, moved once into the run: a box would save nothing"
)]
pub enum LeaseOutcome {
    /// We hold it now; here is the state it guards.
    Acquired(Lease, ScaleSetState),
    /// Another live invocation holds it.
    Held {
        /// Its owner.
        owner: String,
        /// When it lapses.
        expires_at: DateTime<Utc>,
    },
}

/// Where a runner is in its life, as the ledger records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunnerState {
    /// Instance launched, runner not yet seen online.
    Booting,
    /// Seen online, no job.
    Idle,
    /// Running a job (JobStarted without JobCompleted).
    Busy,
    /// Registration removed; instance being terminated.
    Terminating,
}

/// One runner in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerRecord {
    /// Runner name (also the `ghaec2:runner-name` tag).
    pub name: String,
    /// EC2 instance id.
    pub instance_id: String,
    /// Actions Service runner id, once registered.
    pub runner_id: Option<i64>,
    /// When the instance was launched.
    pub launched_at: DateTime<Utc>,
    /// Lifecycle state.
    pub state: RunnerState,
    /// Job id it runs, when busy.
    pub job_id: Option<String>,
    /// When a spot interruption warning named its instance while it was busy, so that its
    /// job's end is put down to the interruption.
    pub interrupted_at: Option<DateTime<Utc>>,
}

/// A workflow run whose job an interrupted spot instance was running, waiting to have its
/// failed jobs re-run once (`RERUN_INTERRUPTED_JOBS`, decided by [`crate::rerun`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerunRecord {
    /// Workflow run id (`workflowRunId` of the job messages); the record's key.
    pub run_id: i64,
    /// Repository owner (`ownerName`).
    pub owner: String,
    /// Repository name without the owner (`repositoryName`).
    pub repository: String,
    /// The interrupted job (`jobId`), for the log.
    pub job_id: String,
    /// The runner that ran it, for the log.
    pub runner_name: String,
    /// The run attempt the interrupted job ran in, once the run was first read: a later
    /// attempt means the run was re-run already.
    pub attempt: Option<u32>,
    /// When the interruption was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// The DynamoDB state store: lease, state record, admin connection, decisions, runner ledger and
/// pending reruns of each scale set. Every write after acquisition but the admin connection's
/// and the decisions' is conditional on the lease's fence.
pub trait StateStore {
    /// Takes the lease unless another owner holds it past `now`, incrementing the fence, and
    /// reads the state it guards with the admin connection and the decisions. A
    /// caller that must preempt the holder (a spot interruption cannot wait for its window to
    /// end) passes a `now` after every expiry: the holder's next fenced write then fails.
    fn acquire(
        &self,
        scale_set: &str,
        owner: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<LeaseOutcome, PortError>> + Send;
    /// Reads the state item, the admin connection and the decisions, consistently, without writing: who
    /// holds the lease, and the state it guards. A scale set never seen reads as the default.
    fn read(&self, scale_set: &str) -> impl Future<Output = Result<StateRecord, PortError>> + Send;
    /// Writes the admin connection to its own item, without a fence: any valid admin token is
    /// as good as another, and an expired one is renewed by its expiry.
    fn put_admin(
        &self,
        scale_set: &str,
        admin: &StoredAdmin,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Writes the decisions to their own item, without a fence: they are diagnostics, and the
    /// last writer's are as true as any.
    fn put_decisions(
        &self,
        scale_set: &str,
        decisions: &Decisions,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Writes the state record under the fence (not the admin connection nor the decisions:
    /// see [`StateStore::put_admin`], [`StateStore::put_decisions`]), removing attributes an older layout kept in it.
    fn save(
        &self,
        scale_set: &str,
        lease: &Lease,
        state: &ScaleSetState,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Gives the lease up under the fence: its expiry set to the epoch, so it is free whatever
    /// the next invocation's clock says.
    fn release(
        &self,
        scale_set: &str,
        lease: &Lease,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Writes the state record and gives the lease up, under the fence: an invocation's last
    /// write. One write where the table allows it (the state item is the largest, and every
    /// invocation of every scale set writes it).
    fn save_and_release(
        &self,
        scale_set: &str,
        lease: &Lease,
        state: &ScaleSetState,
    ) -> impl Future<Output = Result<(), PortError>> + Send
    where
        Self: Sync,
    {
        async move {
            self.save(scale_set, lease, state).await?;
            self.release(scale_set, lease).await
        }
    }
    /// All ledger entries of the scale set.
    fn runners(
        &self,
        scale_set: &str,
    ) -> impl Future<Output = Result<Vec<RunnerRecord>, PortError>> + Send;
    /// Creates or replaces a ledger entry under the fence.
    fn put_runner(
        &self,
        scale_set: &str,
        lease: &Lease,
        runner: &RunnerRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Deletes a ledger entry under the fence; a missing one is fine.
    fn delete_runner(
        &self,
        scale_set: &str,
        lease: &Lease,
        name: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// All pending reruns of the scale set.
    fn reruns(
        &self,
        scale_set: &str,
    ) -> impl Future<Output = Result<Vec<RerunRecord>, PortError>> + Send;
    /// Creates or replaces a pending rerun (keyed by run id) under the fence.
    fn put_rerun(
        &self,
        scale_set: &str,
        lease: &Lease,
        rerun: &RerunRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Deletes a pending rerun under the fence; a missing one is fine.
    fn delete_rerun(
        &self,
        scale_set: &str,
        lease: &Lease,
        run_id: i64,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// EC2 instance states that matter to ghaec2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// pending
    Pending,
    /// running
    Running,
    /// shutting-down, stopping, stopped: on the way out.
    Stopping,
    /// terminated
    Terminated,
}

impl InstanceState {
    /// Pending or running: the instance can host a runner. Any other state is gone for good
    /// (ghaec2 never starts a stopped instance again).
    pub fn is_live(self) -> bool {
        matches!(self, InstanceState::Pending | InstanceState::Running)
    }
}

/// An instance of the scale set as EC2 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Instance id.
    pub id: String,
    /// State.
    pub state: InstanceState,
    /// Launch time.
    pub launched_at: DateTime<Utc>,
    /// `ghaec2:runner-name` tag, once set.
    pub runner_name: Option<String>,
    /// Instance type, as EC2 reports it.
    pub instance_type: Option<String>,
    /// Availability Zone, as EC2 reports it.
    pub zone: Option<String>,
    /// Spot or on-demand.
    pub lifecycle: Lifecycle,
}

/// How an instance is paid for. ghaec2 launches spot, and on-demand when spot has no capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lifecycle {
    /// A spot instance: EC2 may take it back with a two-minute warning.
    Spot,
    /// An on-demand instance.
    OnDemand,
}

/// A capacity or launch error reported by CreateFleet, by code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchError {
    /// EC2 error code, e.g. `InsufficientInstanceCapacity`.
    pub code: String,
    /// EC2 message.
    pub message: String,
}

/// What a launch produced: possibly fewer instances than asked (partial fulfilment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchOutcome {
    /// Ids of the instances launched.
    pub instance_ids: Vec<String>,
    /// Errors for the part not fulfilled.
    pub errors: Vec<LaunchError>,
}

/// The EC2 side of a scale set.
pub trait Fleet {
    /// Instances tagged with the scale set, in every state EC2 lists: terminated ones stay
    /// listed for about an hour, so that their runners are known to be gone at once.
    fn instances(
        &self,
        scale_set_id: i64,
    ) -> impl Future<Output = Result<Vec<Instance>, PortError>> + Send;
    /// Makes ready what a launch of the scale set needs (its launch template), so that a
    /// launch is one call. A launch does it too, if it was not done or did not work.
    fn prepare(&self, scale_set_id: i64) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Launches up to `count` instances through CreateFleet `instant` (spot first, on-demand
    /// on capacity errors). `client_token` makes a retried call idempotent.
    fn launch(
        &self,
        scale_set_id: i64,
        count: u32,
        client_token: &str,
    ) -> impl Future<Output = Result<LaunchOutcome, PortError>> + Send;
    /// Tags an instance with its runner name (`ghaec2:runner-name`, `Name`). An instance id
    /// EC2 does not know yet (a launch still propagating) is retried for a bounded time.
    fn name_runner(
        &self,
        instance_id: &str,
        runner_name: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Terminates instances; already-terminated ones are fine. An id EC2 says it does not
    /// know counts as terminated only once DescribeInstances agrees.
    fn terminate(
        &self,
        instance_ids: &[String],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// An instance's report that its runner could not start (`src/aws/user_data.sh` writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFailure {
    /// The instance.
    pub instance_id: String,
    /// Why, in the instance's words (short, never a secret).
    pub reason: String,
}

/// What the JIT partitions of a scale set hold, from one listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JitListing {
    /// Instance ids whose JIT material is still there: not read by the instance yet.
    pub instance_ids: Vec<String>,
    /// Boot failures instances reported.
    pub boot_failures: Vec<BootFailure>,
}

/// Private delivery of JIT configs, keyed by instance id (docs/design.md §3 "Instances"), and the
/// instances' boot-failure reports that share their partitions.
pub trait JitStore {
    /// Stores an instance's JIT config.
    fn put(
        &self,
        instance_id: &str,
        config: &SecretString,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Deletes an instance's JIT config; a missing one is fine (the instance deletes its own).
    fn delete(&self, instance_id: &str) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Instances with JIT material left, and the boot failures reported.
    fn listing(&self) -> impl Future<Output = Result<JitListing, PortError>> + Send;
    /// Deletes an instance's boot-failure report once it has been logged.
    fn delete_boot_failure(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(minute: u32, desired: u32) -> Decision {
        Decision {
            at: DateTime::from_timestamp(i64::from(minute) * 60, 0).unwrap_or_default(),
            desired,
            current: desired,
            ..Decision::default()
        }
    }

    #[test]
    fn decisions_keep_the_last_few_changes_newest_first() {
        let mut decisions = Decisions::default();
        decisions.record(decision(0, 0));
        decisions.record(decision(1, 0));
        assert_eq!(
            decisions.as_slice(),
            [decision(0, 0)],
            "a repeat keeps its first time"
        );
        for (minute, desired) in (2..9).zip(1..) {
            decisions.record(decision(minute, desired));
        }
        let desired: Vec<u32> = decisions.as_slice().iter().map(|d| d.desired).collect();
        assert_eq!(desired, [7, 6, 5, 4, 3]);
        decisions.record(decision(9, 3));
        assert_eq!(
            decisions.as_slice()[0],
            decision(9, 3),
            "not the newest: recorded"
        );
        let capped = Decision {
            capped_by: vec!["max".into()],
            ..decision(10, 3)
        };
        decisions.record(capped.clone());
        assert_eq!(
            decisions.as_slice()[0],
            capped,
            "capped differently: recorded"
        );
        assert_eq!(
            Decisions::new(vec![decision(0, 0); 9]).as_slice().len(),
            Decisions::KEPT
        );
    }
}
