//! One message, in protocol order: acquire `JobAvailable` jobs, record busy and
//! finished runners, take the statistics, reconcile, persist the cursor, and only then
//! acknowledge. A crash anywhere before the acknowledgement redelivers the message, and every
//! step is idempotent, so the next cycle converges.

use super::{CycleError, Run, Services};
use crate::actions::messages::{self, JobMessage};
use crate::actions::wire::Envelope;
use crate::metrics;
use crate::ports::{Fleet, JitStore, RunnerState, StateStore};

impl<S: StateStore + Sync, F: Fleet + Sync, J: JitStore + Sync> Services<'_, S, F, J> {
    /// Handles one message end to end.
    pub(super) async fn handle(&self, run: &mut Run, envelope: Envelope) -> Result<(), CycleError> {
        match messages::parse(&envelope) {
            Err(malformed) => {
                // Skipped, not retried: a message that cannot be read never becomes readable.
                // Its jobs, if any, could not be read either.
                tracing::warn!(
                    message_id = malformed.id,
                    reason = malformed.reason,
                    "Skipping malformed message."
                );
            }
            Ok(message) => {
                let ids = messages::acquirable_ids(&message.events);
                if !ids.is_empty() {
                    let acquired = self.actions.acquire_jobs(&mut run.session, &ids).await?;
                    run.summary.jobs_acquired += u32::try_from(acquired.len()).unwrap_or(u32::MAX);
                    metrics::count("JobsAcquired", acquired.len() as u64, &[]);
                    tracing::info!(
                        requested = ids.len(),
                        acquired = acquired.len(),
                        "Acquired jobs."
                    );
                }
                self.record_runner_states(run, &message.events).await?;
                log_pickups(&message.events);
                for reason in &message.skipped {
                    tracing::warn!(
                        message_id = message.id,
                        reason,
                        "Skipped part of a message."
                    );
                }
                // Without statistics the last ones stand; the next message brings fresh ones.
                if let Some(statistics) = message.statistics {
                    run.statistics = statistics;
                    run.statistics_fresh = true;
                }
                self.reconcile_now(run, false).await?;
            }
        }
        // The cursor moves only once persisted: after a failed persist the cycle retries, and
        // its next poll must get this message again so that it is acknowledged.
        let previous = run.state.last_message_id;
        run.state.last_message_id = envelope.message_id;
        if let Err(e) = self.persist(run).await {
            run.state.last_message_id = previous;
            return Err(e);
        }
        self.actions
            .delete_message(&mut run.session, envelope.message_id)
            .await?;
        run.summary.messages_processed += 1;
        metrics::count("Messages", 1, &[]);
        Ok(())
    }

    /// JobStarted marks its runner busy; JobCompleted marks it finished (its instance goes at
    /// the next reconcile). Runners not in the ledger are not ours and are ignored.
    async fn record_runner_states(
        &self,
        run: &Run,
        events: &[JobMessage],
    ) -> Result<(), CycleError> {
        let changes: Vec<(&str, RunnerState, &str)> = events
            .iter()
            .filter_map(|event| match event {
                JobMessage::JobStarted { job, runner } => Some((
                    runner.runner_name.as_str(),
                    RunnerState::Busy,
                    job.job_id.as_str(),
                )),
                JobMessage::JobCompleted { job, runner, .. } if !runner.runner_name.is_empty() => {
                    Some((
                        runner.runner_name.as_str(),
                        RunnerState::Terminating,
                        job.job_id.as_str(),
                    ))
                }
                _ => None,
            })
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        let name = self.settings.scale_set_name.as_str();
        let ledger = self.store.runners(name).await?;
        for (runner_name, state, job_id) in changes {
            let Some(mut record) = ledger.iter().find(|r| r.name == runner_name).cloned() else {
                continue;
            };
            // A redelivered JobStarted must not revive a runner already finished.
            if record.state == RunnerState::Terminating || record.state == state {
                continue;
            }
            record.state = state;
            record.job_id = Some(job_id.to_owned()).filter(|id| !id.is_empty());
            self.store.put_runner(name, &run.lease, &record).await?;
            tracing::info!(runner = runner_name, state = ?state, "Runner state changed.");
        }
        Ok(())
    }
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
