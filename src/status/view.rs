//! What `--status` shows of one scale set, from plain values (pure): the lease, the session and
//! cursor with their times, the last decisions, the runners (the ledger joined with EC2), and the mismatches with what the next
//! reconcile does about them. The mismatches come from [`scaling::plan`] itself, so the status
//! cannot disagree with the cycle.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::actions::wire::Statistics;
use crate::ports::{
    BootFailure, Decision, Instance, InstanceState, JitListing, Lifecycle, RunnerRecord,
    RunnerState, StateRecord,
};
use crate::scaling::{self, Observation, RemovalReason, Timeouts};

/// What a status is judged by: the scale set's configuration, as the cycle gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Scale set name.
    pub scale_set_name: String,
    /// `MIN_RUNNERS`.
    pub min_runners: u32,
    /// `MAX_RUNNERS`.
    pub max_runners: u32,
    /// The timeouts the reconciler's plan applies.
    pub timeouts: Timeouts,
}

/// Everything read of one scale set, in the order read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The state item: lease, session, cursor, statistics.
    pub record: StateRecord,
    /// The scale set id the instances were listed by, when known.
    pub scale_set_id: Option<i64>,
    /// JIT material and boot-failure reports.
    pub jit: JitListing,
    /// The instances EC2 lists for the scale set, in every state.
    pub instances: Vec<Instance>,
    /// The runner ledger.
    pub ledger: Vec<RunnerRecord>,
}

/// One scale set's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleSetStatus {
    /// Scale set name.
    pub scale_set_name: String,
    /// Scale set id, once the scale set exists.
    pub scale_set_id: Option<i64>,
    /// When the reads began; ages are counted from it.
    pub read_at: DateTime<Utc>,
    /// The lease.
    pub lease: LeaseView,
    /// The message session's id, while there is one.
    pub session_id: Option<uuid::Uuid>,
    /// When the session was created, when known.
    pub session_created_at: Option<DateTime<Utc>>,
    /// When the session was last refreshed, when known.
    pub session_refreshed_at: Option<DateTime<Utc>>,
    /// Cursor: the last message whose effect is durable.
    pub last_message_id: i64,
    /// When the cursor's message was handled.
    pub last_message_at: Option<DateTime<Utc>>,
    /// The last reconcile decisions, newest first.
    pub decisions: Vec<Decision>,
    /// The statistics of the last message.
    pub statistics: Option<Statistics>,
    /// The ledger's runners, oldest first.
    pub runners: Vec<RunnerLine>,
    /// What does not match, each with what the next reconcile does about it.
    pub mismatches: Vec<Mismatch>,
}

/// The lease of the scale set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseView {
    /// The invocation that last took it.
    pub holder: Option<String>,
    /// Its fence.
    pub fence: Option<u64>,
    /// When it lapses (the epoch once released).
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last released.
    pub released_at: Option<DateTime<Utc>>,
    /// Held and not lapsed: an invocation is listening now.
    pub listening: bool,
}

/// Where a runner is, in an operator's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Launched, not yet seen online.
    Booting,
    /// Online, without a job.
    Idle,
    /// Running a job.
    Busy,
    /// Its job is done; its instance goes at the next reconcile.
    Finishing,
}

impl Phase {
    fn of(state: RunnerState) -> Self {
        match state {
            RunnerState::Booting => Phase::Booting,
            RunnerState::Idle => Phase::Idle,
            RunnerState::Busy => Phase::Busy,
            RunnerState::Terminating => Phase::Finishing,
        }
    }
}

/// One runner: its ledger entry joined with its instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerLine {
    /// Runner name.
    pub name: String,
    /// Its instance, as the ledger names it.
    pub instance_id: String,
    /// The instance as EC2 lists it; `None` when EC2 does not list it.
    pub instance: Option<InstanceView>,
    /// Where the runner is.
    pub phase: Phase,
    /// Time since launch.
    pub age_seconds: u64,
    /// The job it runs, when busy.
    pub job_id: Option<String>,
    /// When EC2 warned that it takes the spot instance back.
    pub interrupted_at: Option<DateTime<Utc>>,
}

/// An instance as EC2 lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    /// Instance id.
    pub id: String,
    /// `pending`, `running`, `stopping` (shutting down, stopping or stopped) or `terminated`.
    pub state: &'static str,
    /// Instance type.
    pub instance_type: Option<String>,
    /// Availability Zone.
    pub zone: Option<String>,
    /// Spot or on-demand.
    pub lifecycle: Lifecycle,
}

impl InstanceView {
    fn of(instance: &Instance) -> Self {
        InstanceView {
            id: instance.id.clone(),
            state: match instance.state {
                InstanceState::Pending => "pending",
                InstanceState::Running => "running",
                InstanceState::Stopping => "stopping",
                InstanceState::Terminated => "terminated",
            },
            instance_type: instance.instance_type.clone(),
            zone: instance.zone.clone(),
            lifecycle: instance.lifecycle,
        }
    }
}

/// Something that does not match, and what the next reconcile does about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mismatch {
    /// What does not match.
    pub kind: MismatchKind,
    /// The runner concerned (derived from the instance id for an orphan).
    pub runner: Option<String>,
    /// The instance concerned.
    pub instance_id: String,
    /// The instance's own words, for a boot failure.
    pub reason: Option<String>,
    /// What the next reconcile does.
    pub next: Next,
}

/// The kinds of mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// A live instance of the scale set without a ledger entry.
    Orphan,
    /// A ledger entry whose instance EC2 lists on the way out or terminated, or not at all.
    InstanceGone,
    /// A runner still booting past `RUNNER_BOOT_TIMEOUT_SECONDS`.
    BootTimeout,
    /// A kept runner whose instance lacks its name tag.
    Untagged,
    /// JIT material no instance will read: its instance no longer exists.
    UnclaimedJit,
    /// An instance reported that its runner could not start.
    BootFailure,
}

/// What the next reconcile does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "action",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Next {
    /// Removes the registration (by id, else looked up by name), terminates the instance if
    /// EC2 still lists it short of terminated, deletes its JIT material and ledger entry.
    Remove {
        /// The registration's id, when known.
        runner_id: Option<i64>,
        /// The instance terminated.
        terminate: Option<String>,
    },
    /// Asks the service whether the runner is online: it becomes idle if so, else is removed.
    ConfirmOnline {
        /// The registration asked about.
        runner_id: i64,
    },
    /// Tags the instance with the runner's name.
    Tag,
    /// Deletes the JIT material.
    DeleteJit,
    /// Logs the report and deletes it; the instance powers itself off.
    LogReport,
}

/// The status of one scale set from what was read at `now`.
pub fn status(rules: &Rules, observed: Observed, now: DateTime<Utc>) -> ScaleSetStatus {
    let Observed {
        record,
        scale_set_id,
        jit,
        instances,
        ledger,
    } = observed;
    let state = record.state;
    let assigned = state.statistics.map_or(0, |s| s.total_assigned_jobs);
    let desired = scaling::desired_runners(rules.min_runners, rules.max_runners, assigned);
    let observation = Observation {
        ledger,
        instances,
        jit_instance_ids: jit.instance_ids,
    };
    let lease = LeaseView {
        listening: record
            .lease
            .as_ref()
            .is_some_and(|l| l.expires_at.timestamp_millis() >= now.timestamp_millis()),
        holder: record.lease.as_ref().map(|l| l.owner.clone()),
        fence: record.lease.as_ref().map(|l| l.fence),
        expires_at: record.lease.as_ref().map(|l| l.expires_at),
        released_at: record.released_at,
    };
    let mut mismatches = mismatches(rules, desired, &observation, now);
    mismatches.extend(jit.boot_failures.into_iter().map(boot_failure));
    let mut runners: Vec<RunnerLine> = observation
        .ledger
        .iter()
        .map(|r| runner_line(r, &observation.instances, now))
        .collect();
    runners.sort_by(|a, b| (b.age_seconds.cmp(&a.age_seconds)).then_with(|| a.name.cmp(&b.name)));
    ScaleSetStatus {
        scale_set_name: rules.scale_set_name.clone(),
        scale_set_id,
        read_at: now,
        lease,
        session_id: state.session.as_ref().map(|s| s.id),
        session_created_at: state.session.as_ref().and_then(|s| s.created_at),
        session_refreshed_at: state.session.as_ref().and_then(|s| s.refreshed_at),
        last_message_id: state.last_message_id,
        last_message_at: state.last_message_at,
        decisions: state.decisions.as_slice().to_vec(),
        statistics: state.statistics,
        runners,
        mismatches,
    }
}

fn runner_line(record: &RunnerRecord, instances: &[Instance], now: DateTime<Utc>) -> RunnerLine {
    RunnerLine {
        name: record.name.clone(),
        instance_id: record.instance_id.clone(),
        instance: instances
            .iter()
            .find(|i| i.id == record.instance_id)
            .map(InstanceView::of),
        phase: Phase::of(record.state),
        age_seconds: seconds_since(record.launched_at, now),
        job_id: record.job_id.clone(),
        interrupted_at: record.interrupted_at,
    }
}

/// The mismatches the reconciler's plan finds, as the next invocation's first reconcile sees
/// them: on the stored statistics, which never scale down (docs/design.md §2).
fn mismatches(
    rules: &Rules,
    desired: u32,
    observation: &Observation,
    now: DateTime<Utc>,
) -> Vec<Mismatch> {
    let plan = scaling::plan(
        desired,
        false,
        observation,
        rules.timeouts,
        &rules.scale_set_name,
        now,
    );
    let overdue = scaling::overdue_booting(&observation.ledger, rules.timeouts.boot, now);
    let mut found = Vec::new();
    for removal in &plan.remove {
        let kind = match removal.reason {
            RemovalReason::Unknown => MismatchKind::Orphan,
            RemovalReason::InstanceGone => MismatchKind::InstanceGone,
            RemovalReason::BootTimeout => MismatchKind::BootTimeout,
            // A finished runner's instance going is no mismatch; the other reasons are not
            // the plan's (set-up failures and spot warnings are dealt with as they happen).
            _ => continue,
        };
        // A removal names no instance when EC2 lists it terminated: the ledger does.
        let instance_id = removal
            .instance_id
            .clone()
            .or_else(|| {
                let entry = observation.ledger.iter().find(|r| r.name == removal.name);
                entry.map(|r| r.instance_id.clone())
            })
            .unwrap_or_default();
        // The cycle asks the service about an overdue runner before the plan judges it.
        let confirm = overdue
            .iter()
            .find(|r| r.name == removal.name)
            .and_then(|r| r.runner_id);
        let next = match (kind, confirm) {
            (MismatchKind::BootTimeout, Some(runner_id)) => Next::ConfirmOnline { runner_id },
            _ => Next::Remove {
                runner_id: removal.runner_id,
                terminate: removal.instance_id.clone(),
            },
        };
        found.push(Mismatch {
            kind,
            runner: Some(removal.name.clone()),
            instance_id,
            reason: None,
            next,
        });
    }
    found.extend(plan.untagged.into_iter().map(|u| Mismatch {
        kind: MismatchKind::Untagged,
        runner: Some(u.name),
        instance_id: u.instance_id,
        reason: None,
        next: Next::Tag,
    }));
    found.extend(plan.stale_jit.into_iter().map(|instance_id| Mismatch {
        kind: MismatchKind::UnclaimedJit,
        runner: None,
        instance_id,
        reason: None,
        next: Next::DeleteJit,
    }));
    found
}

fn boot_failure(failure: BootFailure) -> Mismatch {
    Mismatch {
        kind: MismatchKind::BootFailure,
        runner: None,
        instance_id: failure.instance_id,
        reason: Some(failure.reason),
        next: Next::LogReport,
    }
}

fn seconds_since(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    (now - at).to_std().unwrap_or(Duration::ZERO).as_secs()
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
