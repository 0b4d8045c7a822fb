//! The [`Reconciler`], the fleet policy: observe the ledger and EC2, ask
//! [`crate::scaling::plan`], and carry the plan out. Removal always goes registration first,
//! instance second, so a busy runner (which the service refuses to remove) is never terminated
//! (docs/design.md §2).

use chrono::{DateTime, Utc};
use futures::StreamExt;
use secrecy::SecretString;

use super::known::{Ec2View, Ledger};
use super::reruns::Reruns;
use super::{CycleError, CycleSettings, Ports};
use crate::actions::messages::{JobInfo, JobMessage};
use crate::actions::{ActionsClient, RunnerRemoval};
use crate::metrics;
use crate::ports::{
    BootFailure, Decision, Fleet, InstanceState, JitListing, JitStore, LaunchOutcome, Lease,
    PortErrorKind, RunnerRecord, RunnerState, StateStore,
};
use crate::scaling::{self, Observation, Plan, Registration, Removal, RemovalReason};

mod interruption;

/// Per-instance set-up after a launch runs this many at a time.
const SETUP_CONCURRENCY: usize = 16;

/// What one reconcile aims at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass<'a> {
    /// The lease every ledger write is fenced by.
    pub lease: &'a Lease,
    /// The scale set whose instances are reconciled.
    pub scale_set_id: i64,
    /// Desired runners.
    pub desired: u32,
    /// Desired without the max cap, to record what capped it.
    pub wanted: u32,
    /// The invocation's first pass: it lists JIT material.
    pub first: bool,
    /// List EC2's instances before planning (the first pass, a quiet poll); otherwise the
    /// last view serves while it is recent ([`super::known`]).
    pub observe: bool,
    /// Whether idle runners above `desired` may go: only on statistics the service gave in
    /// this invocation, never on restored ones (a job assigned since would lose its runner).
    pub scale_down: bool,
    /// Pass number within the invocation, part of the launch's client token.
    pub seq: u64,
}

/// What a reconcile did, for the decision record and the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
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
    /// What held the fleet below the wanted size: `max`, or CreateFleet error codes.
    pub capped_by: Vec<String>,
}

impl Outcome {
    /// The decision record of this reconcile, ended at `at`, for `--status`.
    pub fn decision(&self, at: DateTime<Utc>) -> Decision {
        let mut capped_by: Vec<String> = Vec::new();
        for cap in &self.capped_by {
            if !capped_by.contains(cap) {
                capped_by.push(cap.clone());
            }
        }
        Decision {
            at,
            desired: self.desired,
            current: self.current,
            booting: self.booting,
            launched: self.launched,
            terminated: self.terminated,
            capped_by,
        }
    }
}

/// The fleet policy of one scale set: owns the ledger, EC2 and the JIT material. It lives
/// for one cycle, under one lease: what it knows ([`super::known`]) is not read again.
#[derive(Debug)]
pub struct Reconciler<'a, S, F, J> {
    actions: &'a ActionsClient,
    store: &'a S,
    fleet: &'a F,
    jit: &'a J,
    settings: &'a CycleSettings,
    ledger: Ledger<'a, S>,
    view: Ec2View<'a, F>,
}

impl<'a, S: StateStore + Sync, F: Fleet + Sync, J: JitStore + Sync> Reconciler<'a, S, F, J> {
    /// A reconciler over `ports`.
    pub fn new(
        actions: &'a ActionsClient,
        ports: Ports<'a, S, F, J>,
        settings: &'a CycleSettings,
    ) -> Self {
        Reconciler {
            actions,
            store: ports.store,
            fleet: ports.fleet,
            jit: ports.jit,
            settings,
            ledger: Ledger::new(ports.store, &settings.scale_set_name),
            view: Ec2View::new(ports.fleet),
        }
    }

    /// One reconcile towards `pass.desired`.
    pub async fn reconcile(&self, pass: &Pass<'_>) -> Result<Outcome, CycleError> {
        let &Pass {
            lease,
            scale_set_id,
            desired,
            wanted,
            first,
            observe,
            scale_down,
            seq,
        } = pass;
        let name = self.settings.scale_set_name.as_str();
        let mut ledger = self.ledger.entries().await?;
        let instances = self.view.instances(scale_set_id, observe).await?;
        // Listing JIT material scans the table: once per invocation is enough. The launch
        // template is made ready then too, so that a message's launch is one call.
        let jit = if first {
            self.prepare_launch(scale_set_id).await;
            self.jit.listing().await?
        } else {
            JitListing::default()
        };
        self.report_boot_failures(&jit.boot_failures, &ledger)
            .await?;
        self.confirm_online(lease, &mut ledger).await?;
        let mut observation = Observation {
            ledger,
            instances,
            jit_instance_ids: jit.instance_ids,
        };
        let now = self.settings.clock.now();
        let timeouts = scaling::Timeouts {
            boot: self.settings.boot_timeout,
            describe_grace: self.settings.describe_grace,
        };
        let mut plan = scaling::plan(desired, scale_down, &observation, timeouts, name, now);
        // An instance our copy of the ledger does not know may be one another invocation
        // recorded since (a spot warning's replacement, while it preempted us): before it is
        // taken down as unknown, the table decides.
        let unknown = |plan: &Plan| {
            plan.remove
                .iter()
                .any(|r| r.reason == RemovalReason::Unknown)
        };
        if unknown(&plan) && self.ledger.forget() {
            observation.ledger = self.ledger.entries().await?;
            plan = scaling::plan(desired, scale_down, &observation, timeouts, name, now);
        }
        let mut outcome = Outcome {
            desired,
            current: plan.current,
            booting: booting(&observation.ledger),
            ..Outcome::default()
        };
        if wanted > desired {
            outcome.capped_by.push("max".to_owned());
        }
        self.remove_all(lease, &plan, &mut outcome).await?;
        for instance_id in &plan.stale_jit {
            tracing::warn!(
                instance_id,
                "Instance {instance_id} ended without reading its JIT config."
            );
            self.jit.delete(instance_id).await?;
        }
        for untagged in &plan.untagged {
            self.name_runner(&untagged.instance_id, &untagged.name)
                .await;
        }
        if plan.launch > 0 {
            let token = format!("ghaec2-{scale_set_id}-{}-{seq}", lease.fence);
            let launch = self.fleet.launch(scale_set_id, plan.launch, &token).await?;
            for error in &launch.errors {
                outcome.capped_by.push(error.code.clone());
                metrics::count("LaunchFailures", 1, &[("ErrorCode", &error.code)]);
            }
            self.set_up(lease, scale_set_id, &launch, &mut outcome)
                .await?;
            outcome.current += outcome.launched;
            outcome.booting += outcome.launched;
            // After the launch, not before the next: the view then has every instance the
            // ledger has.
            self.view.list(scale_set_id).await?;
        }
        metrics::count("Launches", outcome.launched.into(), &[]);
        metrics::count("Terminations", outcome.terminated.into(), &[]);
        tracing::info!(
            scale_set_id,
            desired,
            current = outcome.current,
            booting = outcome.booting,
            launched = outcome.launched,
            terminated = outcome.terminated,
            capped_by = ?outcome.capped_by,
            "Reconciled."
        );
        Ok(outcome)
    }

    /// JobStarted marks its runner busy and logs the job's pickup latency; JobCompleted marks
    /// it finished (its instance goes at the next reconcile). Runners not in the ledger are
    /// not ours and are ignored.
    pub(super) async fn record_job_events(
        &self,
        lease: &Lease,
        events: &[JobMessage],
    ) -> Result<(), CycleError> {
        log_pickups(events);
        // (runner, its new state, the job, the job's result once completed)
        let changes: Vec<(&str, RunnerState, &JobInfo, Option<&str>)> = events
            .iter()
            .filter_map(|event| match event {
                JobMessage::JobStarted { job, runner } => {
                    Some((runner.runner_name.as_str(), RunnerState::Busy, job, None))
                }
                JobMessage::JobCompleted {
                    job,
                    runner,
                    result,
                } if !runner.runner_name.is_empty() => Some((
                    runner.runner_name.as_str(),
                    RunnerState::Terminating,
                    job,
                    Some(result.as_str()),
                )),
                _ => None,
            })
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        let ledger = self.ledger.entries().await?;
        for (runner_name, state, job, result) in changes {
            let job_id = job.job_id.as_str();
            let Some(mut record) = ledger.iter().find(|r| r.name == runner_name).cloned() else {
                continue;
            };
            // A redelivered JobStarted must not revive a runner already finished.
            if record.state == RunnerState::Terminating || record.state == state {
                continue;
            }
            if let (Some(result), Some(warned_at)) = (result, record.interrupted_at) {
                tracing::warn!(
                    runner = runner_name,
                    instance_id = record.instance_id,
                    job_id,
                    result,
                    %warned_at,
                    "Job {job_id} ended {result} on runner {runner_name}, whose spot instance EC2 interrupted."
                );
                Reruns::new(self.actions, self.store, self.settings)
                    .record(lease, job, runner_name, result)
                    .await?;
            }
            record.state = state;
            record.job_id = Some(job_id.to_owned()).filter(|id| !id.is_empty());
            self.ledger.put(lease, &record).await?;
            tracing::info!(runner = runner_name, state = ?state, "Runner state changed.");
        }
        Ok(())
    }

    /// A scale set the service deleted took its runners with it: its instances, JIT material
    /// and ledger go too.
    pub(super) async fn forget_scale_set(
        &self,
        lease: &Lease,
        scale_set_id: i64,
    ) -> Result<(), CycleError> {
        let instances: Vec<String> = self
            .view
            .list(scale_set_id)
            .await?
            .into_iter()
            .filter(|i| i.state != InstanceState::Terminated)
            .map(|i| i.id)
            .collect();
        self.fleet.terminate(&instances).await?;
        self.view.terminated(&instances);
        for record in self.ledger.entries().await? {
            self.jit.delete(&record.instance_id).await?;
            self.ledger.delete(lease, &record.name).await?;
        }
        Ok(())
    }

    /// Logs and counts the boot failures instances reported, then deletes the reports. The
    /// instance itself powers off; the plan deals with it and its runner as usual.
    async fn report_boot_failures(
        &self,
        failures: &[BootFailure],
        ledger: &[RunnerRecord],
    ) -> Result<(), CycleError> {
        let scale_set = self.settings.scale_set_name.as_str();
        for BootFailure {
            instance_id,
            reason,
        } in failures
        {
            let runner = ledger
                .iter()
                .find(|r| &r.instance_id == instance_id)
                .map_or_else(
                    || scaling::runner_name(scale_set, instance_id),
                    |r| r.name.clone(),
                );
            tracing::warn!(
                runner,
                instance_id,
                reason,
                "Runner {runner} on {instance_id} failed to start: {reason}"
            );
            metrics::count("RunnerStartFailures", 1, &[]);
            self.jit.delete_boot_failure(instance_id).await?;
        }
        Ok(())
    }

    /// Asks the service about booting runners past the boot timeout; online ones become idle.
    async fn confirm_online(
        &self,
        lease: &Lease,
        ledger: &mut [RunnerRecord],
    ) -> Result<(), CycleError> {
        let now = self.settings.clock.now();
        let overdue: Vec<String> =
            scaling::overdue_booting(ledger, self.settings.boot_timeout, now)
                .into_iter()
                .map(|r| r.name.clone())
                .collect();
        for record in ledger.iter_mut().filter(|r| overdue.contains(&r.name)) {
            let Some(id) = record.runner_id else { continue };
            if self
                .actions
                .runner(id)
                .await?
                .is_some_and(|r| r.is_online())
            {
                record.state = RunnerState::Idle;
                self.ledger.put(lease, record).await?;
            }
        }
        Ok(())
    }

    async fn remove_all(
        &self,
        lease: &Lease,
        plan: &Plan,
        outcome: &mut Outcome,
    ) -> Result<(), CycleError> {
        for removal in &plan.remove {
            let removed = self.remove_one(lease, removal, outcome).await?;
            if removed && removal.reason == RemovalReason::ScaleDown {
                outcome.current = outcome.current.saturating_sub(1);
            }
        }
        Ok(())
    }

    /// Registration first, then the instance, its JIT material and its ledger entry. False
    /// when the service refused because the runner runs a job: then nothing is touched.
    async fn remove_one(
        &self,
        lease: &Lease,
        removal: &Removal,
        outcome: &mut Outcome,
    ) -> Result<bool, CycleError> {
        if !self.remove_registration(removal).await? {
            tracing::info!(runner = removal.name, "Runner is running a job; it stays.");
            return Ok(false);
        }
        if let Some(instance_id) = &removal.instance_id {
            match self
                .fleet
                .terminate(std::slice::from_ref(instance_id))
                .await
            {
                Ok(()) => {
                    self.view.terminated(std::slice::from_ref(instance_id));
                    outcome.terminated += 1;
                }
                // EC2 refuses this instance for good (termination protection, the tag IAM needs
                // removed by hand): it must not stop the scale set. Its runner is gone; the
                // instance is left to the operator, reported again whenever a later pass
                // meets it as unknown.
                Err(e) if e.kind == PortErrorKind::Fatal => {
                    tracing::warn!(instance_id, error = %e, "EC2 refused to terminate the instance; leaving it.");
                    metrics::count("TerminationFailures", 1, &[]);
                }
                Err(e) => return Err(e.into()),
            }
            self.jit.delete(instance_id).await?;
        }
        self.ledger.delete(lease, &removal.name).await?;
        tracing::info!(runner = removal.name, reason = ?removal.reason, instance_id = ?removal.instance_id, "Removed runner.");
        Ok(true)
    }

    /// Removes the registration; false when the service refuses because a job runs.
    async fn remove_registration(&self, removal: &Removal) -> Result<bool, CycleError> {
        let id = match removal.registration() {
            Registration::Skip => return Ok(true),
            Registration::Id(id) => id,
            Registration::ByName => match self.actions.runner_by_name(&removal.name).await? {
                Some(runner) => runner.id,
                None => return Ok(true),
            },
        };
        Ok(self.actions.remove_runner(id).await? == RunnerRemoval::Removed)
    }

    /// Registers a runner for each launched instance and delivers its JIT config. The ledger
    /// entry is written before the JIT material, so an instance that can come online always
    /// has a ledger entry (an instance without one is terminated as unknown).
    async fn set_up(
        &self,
        lease: &Lease,
        scale_set_id: i64,
        launch: &LaunchOutcome,
        outcome: &mut Outcome,
    ) -> Result<(), CycleError> {
        let results: Vec<(&String, Result<(), CycleError>)> =
            futures::stream::iter(&launch.instance_ids)
                .map(|instance_id| async move {
                    (
                        instance_id,
                        self.set_up_one(lease, scale_set_id, instance_id).await,
                    )
                })
                .buffer_unordered(SETUP_CONCURRENCY)
                .collect()
                .await;
        for (instance_id, result) in results {
            match result {
                Ok(()) => outcome.launched += 1,
                Err(e @ CycleError::Fenced(_)) => return Err(e),
                Err(e) => {
                    // Without a runner the instance is useless: take it and whatever part of
                    // its set-up happened (registration, ledger entry, JIT material) down now.
                    tracing::warn!(instance_id, error = %e, "Runner set-up failed; removing it.");
                    let removal = Removal {
                        name: scaling::runner_name(&self.settings.scale_set_name, instance_id),
                        instance_id: Some(instance_id.clone()),
                        runner_id: None,
                        reason: RemovalReason::SetUpFailed,
                    };
                    self.remove_one(lease, &removal, outcome).await?;
                }
            }
        }
        Ok(())
    }

    async fn set_up_one(
        &self,
        lease: &Lease,
        scale_set_id: i64,
        instance_id: &str,
    ) -> Result<(), CycleError> {
        let name = scaling::runner_name(&self.settings.scale_set_name, instance_id);
        let jit = self
            .actions
            .generate_jit_config(scale_set_id, &name, &self.settings.work_folder)
            .await?;
        let record = RunnerRecord {
            name: name.clone(),
            instance_id: instance_id.to_owned(),
            runner_id: Some(jit.runner.id),
            launched_at: self.settings.clock.now(),
            state: RunnerState::Booting,
            job_id: None,
            interrupted_at: None,
        };
        self.ledger.put(lease, &record).await?;
        self.jit
            .put(instance_id, &SecretString::from(jit.encoded_jit_config))
            .await?;
        self.name_runner(instance_id, &name).await;
        Ok(())
    }

    /// Makes the launch template ready. A failure is the launch's to report (a scale set
    /// that needs no instance keeps listening): it tries again.
    async fn prepare_launch(&self, scale_set_id: i64) {
        if let Err(e) = self.fleet.prepare(scale_set_id).await {
            tracing::warn!(error = %e, "Could not make the launch template ready; the launch tries again.");
        }
    }

    /// Tags an instance with its runner's name. The tags are for people and for finding the
    /// runner of an instance the ledger lost; the runner works without them, so a failure
    /// (an instance EC2 still does not know past the fleet's patience, a denied CreateTags)
    /// never takes it down: the next reconcile tags it again.
    async fn name_runner(&self, instance_id: &str, name: &str) {
        if let Err(e) = self.fleet.name_runner(instance_id, name).await {
            tracing::warn!(instance_id, runner = name, error = %e, "Could not tag the instance; the next reconcile tries again.");
            metrics::count("TaggingFailures", 1, &[]);
        }
    }
}

fn booting(ledger: &[RunnerRecord]) -> u32 {
    let count = ledger
        .iter()
        .filter(|r| r.state == RunnerState::Booting)
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// Job pickup latency, from the job's queue time to its runner taking it.
fn log_pickups(events: &[JobMessage]) {
    for event in events {
        if let JobMessage::JobStarted { job, .. } = event
            && let (Some(queued), Some(started)) = (job.queue_time, job.runner_assign_time)
        {
            let latency_ms = (started - queued).num_milliseconds().max(0);
            tracing::info!(
                job_id = job.job_id,
                pickup_latency_ms = latency_ms,
                "Job picked up."
            );
            metrics::emit("JobPickupLatency", latency_ms as f64, "Milliseconds", &[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_names_each_cap_once_in_order() {
        let outcome = Outcome {
            desired: 3,
            current: 2,
            booting: 2,
            launched: 1,
            terminated: 0,
            capped_by: [
                "max",
                "InsufficientInstanceCapacity",
                "InsufficientInstanceCapacity",
            ]
            .map(str::to_owned)
            .to_vec(),
        };
        let at = Utc::now();
        let decision = outcome.decision(at);
        assert_eq!(decision.capped_by, ["max", "InsufficientInstanceCapacity"]);
        assert_eq!(
            (
                decision.at,
                decision.desired,
                decision.current,
                decision.booting
            ),
            (at, 3, 2, 2)
        );
        assert_eq!((decision.launched, decision.terminated), (1, 0));
    }
}
