//! A spot interruption warning's runner (docs/design.md §1.3): the reconciler's own
//! ledger, EC2 view and removal, so that an idle runner goes the way any other does,
//! registration first.

use super::{Outcome, Reconciler};
use crate::cycle::CycleError;
use crate::cycle::summary::{Handling, Interruption};
use crate::event::SpotInterruption;
use crate::metrics;
use crate::ports::{Fleet, JitStore, Lease, RunnerRecord, RunnerState, StateStore};
use crate::scaling::{Removal, RemovalReason};

impl<S: StateStore + Sync, F: Fleet + Sync, J: JitStore + Sync> Reconciler<'_, S, F, J> {
    /// A spot interruption warning for `warning.instance_id`: logged and counted by scale set
    /// and instance type. An idle or booting runner is removed at once (registration first:
    /// the service refuses a busy one, which is then marked like any busy one); a busy runner
    /// is marked, so that its job's end is put down to the interruption. `None` when the
    /// ledger does not hold the instance (not ours, or gone since). What it terminated goes
    /// into `outcome`.
    pub(in crate::cycle) async fn interrupted(
        &self,
        lease: &Lease,
        scale_set_id: i64,
        warning: &SpotInterruption,
        outcome: &mut Outcome,
    ) -> Result<Option<Interruption>, CycleError> {
        let name = self.settings.scale_set_name.as_str();
        let instance_id = warning.instance_id.as_str();
        let ledger = self.ledger.entries().await?;
        let Some(mut record) = ledger.into_iter().find(|r| r.instance_id == instance_id) else {
            tracing::info!(
                instance_id,
                "Spot interruption warning for an instance the ledger does not hold; nothing to do."
            );
            return Ok(None);
        };
        let instance_type = self
            .view
            .list(scale_set_id)
            .await?
            .into_iter()
            .find(|i| i.id == instance_id)
            .and_then(|i| i.instance_type);
        let instance_type_name = instance_type.as_deref().unwrap_or("unknown");
        tracing::warn!(
            instance_id,
            instance_type = instance_type_name,
            action = warning.action,
            runner = record.name,
            runner_state = ?record.state,
            job_id = record.job_id,
            "Spot interruption warning for runner {}'s instance {instance_id}.",
            record.name
        );
        metrics::count(
            "SpotInterruptions",
            1,
            &[("ScaleSet", name), ("InstanceType", instance_type_name)],
        );
        let handled = match record.state {
            RunnerState::Terminating => Handling::AlreadyLeaving,
            RunnerState::Booting | RunnerState::Idle => {
                let removal = Removal {
                    name: record.name.clone(),
                    instance_id: Some(record.instance_id.clone()),
                    runner_id: record.runner_id,
                    reason: RemovalReason::Interrupted,
                };
                match self.remove_one(lease, &removal, outcome).await? {
                    true => Handling::Removed,
                    // It took a job since the ledger last heard.
                    false => self.mark_interrupted(lease, &mut record).await?,
                }
            }
            RunnerState::Busy => self.mark_interrupted(lease, &mut record).await?,
        };
        Ok(Some(Interruption {
            instance_id: instance_id.to_owned(),
            instance_type,
            runner: record.name,
            job_id: record.job_id,
            handled,
        }))
    }

    /// Marks a busy runner's instance as interrupted in its ledger entry.
    async fn mark_interrupted(
        &self,
        lease: &Lease,
        record: &mut RunnerRecord,
    ) -> Result<Handling, CycleError> {
        if record.interrupted_at.is_none() {
            record.interrupted_at = Some(self.settings.clock.now());
            self.ledger.put(lease, record).await?;
        }
        Ok(Handling::MarkedBusy)
    }
}
