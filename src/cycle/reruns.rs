//! Re-running the failed jobs of a run whose job a spot interruption took
//! (`RERUN_INTERRUPTED_JOBS`): the pending reruns in the state table, each looked at until
//! [`crate::rerun::next_step`] says it is done. Every write is fenced, and the attempt is
//! recorded before the re-run, so each run is re-run once even across crashes.

use super::{CycleError, CycleSettings};
use crate::actions::messages::JobInfo;
use crate::actions::{ActionsClient, ActionsError};
use crate::metrics;
use crate::ports::{Lease, RerunRecord, StateStore};
use crate::rerun::{RerunStep, next_step};

/// The pending reruns of one scale set.
#[derive(Debug)]
pub(super) struct Reruns<'a, S> {
    actions: &'a ActionsClient,
    store: &'a S,
    settings: &'a CycleSettings,
}

impl<'a, S: StateStore + Sync> Reruns<'a, S> {
    pub(super) fn new(
        actions: &'a ActionsClient,
        store: &'a S,
        settings: &'a CycleSettings,
    ) -> Self {
        Reruns {
            actions,
            store,
            settings,
        }
    }

    /// Records that `job`, which ran on runner `runner_name` whose spot instance was
    /// interrupted, ended with `result`: a failed job's run is re-run once it completes.
    pub(super) async fn record(
        &self,
        lease: &Lease,
        job: &JobInfo,
        runner_name: &str,
        result: &str,
    ) -> Result<(), CycleError> {
        if !self.settings.rerun_interrupted_jobs || result == "succeeded" {
            return Ok(());
        }
        let rerun = RerunRecord {
            run_id: job.workflow_run_id,
            owner: job.owner_name.clone(),
            repository: job.repository_name.clone(),
            job_id: job.job_id.clone(),
            runner_name: runner_name.to_owned(),
            attempt: None,
            recorded_at: self.settings.clock.now(),
        };
        let name = self.settings.scale_set_name.as_str();
        self.store.put_rerun(name, lease, &rerun).await?;
        tracing::info!(
            run_id = rerun.run_id,
            job_id = rerun.job_id,
            "Run {} will have its failed jobs re-run once it completes.",
            rerun.run_id
        );
        Ok(())
    }

    /// Looks at every pending rerun once. GitHub's refusals and failures are logged and the
    /// rerun stays pending (a missing permission can be granted); the state store's
    /// failures end the pass like any other.
    pub(super) async fn pass(&self, lease: &Lease) -> Result<(), CycleError> {
        if !self.settings.rerun_interrupted_jobs {
            return Ok(());
        }
        let name = self.settings.scale_set_name.as_str();
        for mut rerun in self.store.reruns(name).await? {
            let (owner, repo, run_id) = (&rerun.owner, &rerun.repository, rerun.run_id);
            let run = match self.actions.workflow_run(owner, repo, run_id).await {
                Ok(run) => run,
                Err(e) => {
                    tracing::warn!(run_id, error = %e, "Could not read the interrupted job's run; trying again later.");
                    continue;
                }
            };
            let mut step = next_step(&rerun, &run, self.settings.clock.now());
            if let RerunStep::Note(attempt) = step {
                rerun.attempt = Some(attempt);
                self.store.put_rerun(name, lease, &rerun).await?;
                step = next_step(&rerun, &run, self.settings.clock.now());
            }
            match step {
                RerunStep::Wait | RerunStep::Note(_) => {}
                RerunStep::Done(why) => {
                    tracing::info!(run_id, why, "No re-run for run {run_id}: {why}.");
                    self.store.delete_rerun(name, lease, run_id).await?;
                }
                RerunStep::Rerun => match self.actions.rerun_failed_jobs(owner, repo, run_id).await
                {
                    Ok(()) => {
                        tracing::info!(
                            run_id,
                            job_id = rerun.job_id,
                            runner = rerun.runner_name,
                            "Re-ran the failed jobs of run {run_id}, whose job {} a spot interruption took.",
                            rerun.job_id
                        );
                        metrics::count("InterruptedJobReruns", 1, &[("ScaleSet", name)]);
                        self.store.delete_rerun(name, lease, run_id).await?;
                    }
                    // Not completed after all, too old, or re-run too often: never, then.
                    Err(e @ ActionsError::RunNotRerunnable(_)) => {
                        tracing::warn!(run_id, error = %e, "GitHub will not re-run run {run_id}; giving up.");
                        self.store.delete_rerun(name, lease, run_id).await?;
                    }
                    Err(e) => {
                        tracing::warn!(run_id, error = %e, "Could not re-run the failed jobs; trying again later.");
                    }
                },
            }
        }
        Ok(())
    }
}
