//! Pure scaling decisions: the desired runner count and the reconcile plan. No I/O, no async;
//! the cycle gathers the observations, asks here what to do, and does it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ports::{Instance, InstanceState, RunnerRecord, RunnerState};

/// How long a just-launched instance may be missing from DescribeInstances (EC2 is eventually
/// consistent) before its ledger entry counts as gone. Only for an instance EC2 does not list
/// at all: one it lists as shutting-down, stopping, stopped or terminated is gone at once.
pub const DESCRIBE_GRACE: Duration = Duration::from_secs(120);

/// The timeouts a plan judges runners by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A runner not online this long after launch is an orphan.
    pub boot: Duration,
    /// A ledger entry whose instance EC2 has not shown for this long is gone.
    pub describe_grace: Duration,
}

/// desired = min(max, min + totalAssignedJobs) (docs/protocol.md §13.3). Negative counts, which a
/// faulty service could send, count as zero.
pub fn desired_runners(min: u32, max: u32, total_assigned_jobs: i64) -> u32 {
    let assigned = u32::try_from(total_assigned_jobs.max(0)).unwrap_or(u32::MAX);
    min.saturating_add(assigned).min(max)
}

/// A runner name derived from its instance id, so that a crash between launch and ledger
/// write can still find the registration by name. `<scale set>-<instance hex>` fits the
/// 64-character limit for the 45-character scale set names config allows.
pub fn runner_name(scale_set_name: &str, instance_id: &str) -> String {
    format!("{scale_set_name}-{}", instance_id.trim_start_matches("i-"))
}

/// What the cycle observed before deciding.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Ledger entries of the scale set.
    pub ledger: Vec<RunnerRecord>,
    /// Instances EC2 lists for the scale set, in any state.
    pub instances: Vec<Instance>,
    /// Instance ids that still have JIT material.
    pub jit_instance_ids: Vec<String>,
}

/// Why a runner's instance is being removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// Fewer runners are wanted: idle, removed from the scale set first.
    ScaleDown,
    /// Its job completed; the ephemeral runner is done.
    Finished,
    /// Not online within the boot timeout.
    BootTimeout,
    /// Its instance is gone: EC2 lists it on the way out or terminated (spot interruption,
    /// manual termination, powered off), or has not listed it for the describe grace.
    InstanceGone,
    /// An instance of ours with no ledger entry (a crash between launch and ledger write).
    Unknown,
    /// Its runner could not be registered or given its JIT config right after launch.
    SetUpFailed,
    /// EC2 warned that it takes the spot instance back in two minutes; the runner was idle.
    Interrupted,
}

/// One runner (or bare instance) to take down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// Runner name (derived for unknown instances).
    pub name: String,
    /// Instance to terminate, if it still exists.
    pub instance_id: Option<String>,
    /// Registration to remove, when its id is known.
    pub runner_id: Option<i64>,
    /// Why.
    pub reason: RemovalReason,
}

/// How to remove a runner's registration before its instance goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Nothing to remove: the service drops an ephemeral runner once its job completed.
    Skip,
    /// Remove the runner with this id.
    Id(i64),
    /// Look the runner up by name first (its id was never recorded).
    ByName,
}

impl Removal {
    /// What to do about the registration.
    pub fn registration(&self) -> Registration {
        match (self.reason, self.runner_id) {
            (RemovalReason::Finished, _) => Registration::Skip,
            (_, Some(id)) => Registration::Id(id),
            (_, None) => Registration::ByName,
        }
    }
}

/// What reconcile should do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Runners counted as current: launched, not finished, not removed.
    pub current: u32,
    /// Instances to launch.
    pub launch: u32,
    /// Runners and instances to take down, in order.
    pub remove: Vec<Removal>,
    /// JIT material of instances that no longer exist.
    pub stale_jit: Vec<String>,
    /// Kept runners whose live instance lacks their name tag (a crash between the ledger
    /// write and CreateTags, or tagging that gave up): tagged again.
    pub untagged: Vec<Untagged>,
}

/// A live instance to tag with its runner's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untagged {
    /// Instance id.
    pub instance_id: String,
    /// Its runner's name, from the ledger.
    pub name: String,
}

/// Booting runners past the boot timeout: the cycle asks the service whether they are online
/// (and records them `Idle` if so) before [`plan`] judges them.
pub fn overdue_booting(
    ledger: &[RunnerRecord],
    boot_timeout: Duration,
    now: DateTime<Utc>,
) -> Vec<&RunnerRecord> {
    ledger
        .iter()
        .filter(|r| r.state == RunnerState::Booting && age(r, now) > boot_timeout)
        .collect()
}

/// How long the entry of a busy runner whose spot instance was interrupted waits for its
/// job's end (the service fails a job whose runner stopped answering within minutes).
pub const INTERRUPTED_JOB_WAIT: Duration = Duration::from_secs(3600);

/// A busy runner's spot instance was interrupted and its job has not ended yet.
fn awaits_interrupted_job(record: &RunnerRecord, now: DateTime<Utc>) -> bool {
    record.state == RunnerState::Busy
        && record
            .interrupted_at
            .is_some_and(|at| (now - at).to_std().unwrap_or_default() < INTERRUPTED_JOB_WAIT)
}

fn age(record: &RunnerRecord, now: DateTime<Utc>) -> Duration {
    (now - record.launched_at).to_std().unwrap_or_default()
}

/// Decides one reconcile: how many to launch, what to take down, which JIT material to drop,
/// which instances to tag. With `scale_down` false, idle runners beyond `desired` stay:
/// statistics restored from an earlier invocation may be older than the fleet, and a crash must
/// never shrink it.
pub fn plan(
    desired: u32,
    scale_down: bool,
    observation: &Observation,
    timeouts: Timeouts,
    scale_set_name: &str,
    now: DateTime<Utc>,
) -> Plan {
    let listed: HashMap<&str, &Instance> = observation
        .instances
        .iter()
        .map(|i| (i.id.as_str(), i))
        .collect();
    let known: HashSet<&str> = observation
        .ledger
        .iter()
        .map(|r| r.instance_id.as_str())
        .collect();
    let mut plan = Plan::default();
    let mut keep: Vec<&RunnerRecord> = Vec::new();

    for record in &observation.ledger {
        let instance = listed.get(record.instance_id.as_str()).copied();
        let gone = match instance {
            // Listed on the way out or terminated: gone now, whatever its age.
            Some(i) => !i.state.is_live(),
            // Not listed at all: a launch EC2 may not show yet, until the grace runs out.
            None => age(record, now) > timeouts.describe_grace,
        };
        let reason = match record.state {
            RunnerState::Terminating => Some(RemovalReason::Finished),
            // Not a runner any more, but its entry stays for the job's end to be put down to
            // the interruption.
            _ if gone && awaits_interrupted_job(record, now) => continue,
            _ if gone => Some(RemovalReason::InstanceGone),
            RunnerState::Booting if age(record, now) > timeouts.boot => {
                Some(RemovalReason::BootTimeout)
            }
            _ => None,
        };
        match reason {
            Some(reason) => plan.remove.push(removal_of(record, instance, reason)),
            None => keep.push(record),
        }
    }

    let unknown = observation
        .instances
        .iter()
        .filter(|i| i.state.is_live() && !known.contains(i.id.as_str()));
    for instance in unknown {
        let name = instance
            .runner_name
            .clone()
            .unwrap_or_else(|| runner_name(scale_set_name, &instance.id));
        plan.remove.push(Removal {
            name,
            instance_id: Some(instance.id.clone()),
            runner_id: None,
            reason: RemovalReason::Unknown,
        });
    }

    plan.current = u32::try_from(keep.len()).unwrap_or(u32::MAX);
    if desired > plan.current {
        plan.launch = desired - plan.current;
    } else if scale_down {
        // Oldest idle first; busy runners are never candidates.
        let mut idle: Vec<&RunnerRecord> = keep
            .iter()
            .copied()
            .filter(|r| r.state != RunnerState::Busy)
            .collect();
        idle.sort_by_key(|r| r.launched_at);
        let excess = (plan.current - desired) as usize;
        for record in idle.into_iter().take(excess) {
            let instance = listed.get(record.instance_id.as_str()).copied();
            plan.remove
                .push(removal_of(record, instance, RemovalReason::ScaleDown));
        }
    }

    let removed: HashSet<&str> = plan.remove.iter().map(|r| r.name.as_str()).collect();
    plan.untagged = keep
        .iter()
        .filter(|r| !removed.contains(r.name.as_str()))
        .filter(|r| {
            listed.get(r.instance_id.as_str()).is_some_and(|i| {
                i.state.is_live() && i.runner_name.as_deref() != Some(r.name.as_str())
            })
        })
        .map(|r| Untagged {
            instance_id: r.instance_id.clone(),
            name: r.name.clone(),
        })
        .collect();

    // Material of a kept runner stays even while DescribeInstances has not caught up.
    let existing: HashSet<&str> = observation
        .instances
        .iter()
        .filter(|i| i.state.is_live())
        .map(|i| i.id.as_str())
        .chain(keep.iter().map(|r| r.instance_id.as_str()))
        .collect();
    plan.stale_jit = observation
        .jit_instance_ids
        .iter()
        .filter(|id| !existing.contains(id.as_str()))
        .cloned()
        .collect();
    plan
}

/// The removal of a ledger entry. Its instance is terminated whenever EC2 still lists it short
/// of terminated: a stopped instance would otherwise be kept (and its volume paid for) for good,
/// and terminating one already shutting down is harmless.
fn removal_of(
    record: &RunnerRecord,
    instance: Option<&Instance>,
    reason: RemovalReason,
) -> Removal {
    Removal {
        name: record.name.clone(),
        instance_id: instance
            .filter(|i| i.state != InstanceState::Terminated)
            .map(|i| i.id.clone()),
        runner_id: record.runner_id,
        reason,
    }
}

#[cfg(test)]
#[path = "scaling_tests.rs"]
mod tests;
