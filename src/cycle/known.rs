//! What the reconciler already knows while it holds the lease, so that a message's path to
//! CreateFleet reads nothing it need not:
//! - the ledger: nobody else writes it under our lease, so after the first read it is ours,
//!   and every write goes through here. A write that fails may or may not have happened:
//!   the copy is dropped, and the next read goes to the store again. A preempting invocation
//!   (a spot warning) does write it, and our next write fails as fenced; until then, an
//!   instance the copy does not know is looked up in the table before it counts as unknown.
//! - EC2's view: listed at the first pass, on quiet polls, and right after each launch (so
//!   every launched instance is in it, or within the describe grace), never before a launch.
//!   A view older than [`VIEW_MAX_AGE`] is listed again first.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::ports::{Fleet, Instance, InstanceState, Lease, PortError, RunnerRecord, StateStore};

/// A view of EC2 older than this is listed again before a plan uses it: how late an
/// instance that went without a warning may be noticed during a burst.
pub const VIEW_MAX_AGE: Duration = Duration::from_secs(30);

/// The scale set's ledger, read once under the lease and written through.
#[derive(Debug)]
pub(super) struct Ledger<'a, S> {
    store: &'a S,
    scale_set: &'a str,
    copy: Mutex<Option<Vec<RunnerRecord>>>,
}

impl<'a, S: StateStore + Sync> Ledger<'a, S> {
    pub(super) fn new(store: &'a S, scale_set: &'a str) -> Self {
        Ledger {
            store,
            scale_set,
            copy: Mutex::new(None),
        }
    }

    /// Every entry.
    pub(super) async fn entries(&self) -> Result<Vec<RunnerRecord>, PortError> {
        if let Some(copy) = self.lock().as_ref() {
            return Ok(copy.clone());
        }
        let read = self.store.runners(self.scale_set).await?;
        *self.lock() = Some(read.clone());
        Ok(read)
    }

    /// Drops the copy, so that the next read goes to the table; whether there was one.
    pub(super) fn forget(&self) -> bool {
        self.lock().take().is_some()
    }

    /// Creates or replaces an entry under the fence.
    pub(super) async fn put(&self, lease: &Lease, record: &RunnerRecord) -> Result<(), PortError> {
        let written = self.store.put_runner(self.scale_set, lease, record).await;
        self.keep(written.is_ok(), |copy| {
            copy.retain(|r| r.name != record.name);
            copy.push(record.clone());
        });
        written
    }

    /// Deletes an entry under the fence.
    pub(super) async fn delete(&self, lease: &Lease, name: &str) -> Result<(), PortError> {
        let deleted = self.store.delete_runner(self.scale_set, lease, name).await;
        self.keep(deleted.is_ok(), |copy| copy.retain(|r| r.name != name));
        deleted
    }

    /// Applies a write that succeeded to the copy; drops the copy when it failed.
    fn keep(&self, succeeded: bool, apply: impl FnOnce(&mut Vec<RunnerRecord>)) {
        let mut copy = self.lock();
        match (succeeded, copy.as_mut()) {
            (true, Some(entries)) => apply(entries),
            (true, None) => {}
            (false, _) => *copy = None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<RunnerRecord>>> {
        self.copy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// EC2's last view of the scale set's instances.
#[derive(Debug)]
pub(super) struct Ec2View<'a, F> {
    fleet: &'a F,
    last: Mutex<Option<(Instant, Vec<Instance>)>>,
}

impl<'a, F: Fleet + Sync> Ec2View<'a, F> {
    pub(super) fn new(fleet: &'a F) -> Self {
        Ec2View {
            fleet,
            last: Mutex::new(None),
        }
    }

    /// The instances: the last view while it is younger than [`VIEW_MAX_AGE`], unless `fresh`.
    pub(super) async fn instances(
        &self,
        scale_set_id: i64,
        fresh: bool,
    ) -> Result<Vec<Instance>, PortError> {
        if !fresh
            && let Some((taken, instances)) = self.lock().as_ref()
            && taken.elapsed() < VIEW_MAX_AGE
        {
            return Ok(instances.clone());
        }
        self.list(scale_set_id).await
    }

    /// Lists the instances now.
    pub(super) async fn list(&self, scale_set_id: i64) -> Result<Vec<Instance>, PortError> {
        let taken = Instant::now();
        let instances = self.fleet.instances(scale_set_id).await?;
        *self.lock() = Some((taken, instances.clone()));
        Ok(instances)
    }

    /// Instances we terminated are on their way out in the view too: else the next plan,
    /// without their ledger entries, would take them for unknown ones.
    pub(super) fn terminated(&self, instance_ids: &[String]) {
        if let Some((_, instances)) = self.lock().as_mut() {
            for instance in instances
                .iter_mut()
                .filter(|i| instance_ids.contains(&i.id))
            {
                instance.state = InstanceState::Stopping;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Vec<Instance>)>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
