//! [`MemoryStateStore`]: the state table of `src/aws/state.rs` in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ghaec2::ports::{
    Decision, Decisions, Lease, LeaseOutcome, PortError, PortErrorKind, RerunRecord, RunnerRecord,
    ScaleSetState, StateRecord, StateStore, StoredAdmin,
};

use super::lock;

/// [`StateStore`] in memory. As in DynamoDB:
/// - `acquire` takes a lease that was never taken, has lapsed (expiry before `now`, compared
///   to the millisecond, the table's unit) or is already the caller's, and increments the
///   fence each time; otherwise it reports the holder and its expiry (to the millisecond);
/// - every later write must name the current fence and owner, or fails as
///   [`PortErrorKind::Fenced`] and changes nothing; a lapsed lease still writes until someone
///   else takes it;
/// - `release` sets the expiry to the epoch, so the lease is free whatever the next caller's
///   clock says, and notes when;
/// - the admin connection and the decisions are apart from the state: `save` leaves them,
///   `put_admin` and `put_decisions` write them without a fence, `acquire` and `read` return
///   them with the state;
/// - times are kept to the millisecond;
/// - the ledger and the pending reruns are per scale set; deleting an entry that is not there
///   is fine.
#[derive(Debug, Clone, Default)]
pub struct MemoryStateStore {
    table: Arc<Mutex<HashMap<String, Record>>>,
}

/// One scale set's state record, admin connection, ledger and pending reruns.
#[derive(Debug, Default)]
struct Record {
    /// Owner and expiry (millisecond precision), once the lease was ever taken.
    lease: Option<(String, DateTime<Utc>)>,
    fence: u64,
    released_at: Option<DateTime<Utc>>,
    /// The state, its admin connection always `None` (that is `admin`), its decisions always
    /// empty (that is `decisions`).
    state: ScaleSetState,
    admin: Option<StoredAdmin>,
    decisions: Decisions,
    /// Ledger entries by runner name.
    ledger: BTreeMap<String, RunnerRecord>,
    /// Pending reruns by run id.
    reruns: BTreeMap<i64, RerunRecord>,
}

impl MemoryStateStore {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `write` on the record of `scale_set` if `lease` still holds it.
    fn fenced<T>(
        &self,
        operation: &'static str,
        scale_set: &str,
        lease: &Lease,
        write: impl FnOnce(&mut Record) -> T,
    ) -> Result<T, PortError> {
        let mut table = lock(&self.table);
        match table.get_mut(scale_set) {
            Some(record) if record.holds(lease) => Ok(write(record)),
            found => Err(PortError {
                operation,
                kind: PortErrorKind::Fenced,
                message: format!(
                    "the lease of {scale_set} is not held by {} at fence {} (the record has {})",
                    lease.owner,
                    lease.fence,
                    found.map_or("no lease".to_owned(), |r| r.describe_lease()),
                ),
            }),
        }
    }
}

impl Record {
    fn holds(&self, lease: &Lease) -> bool {
        self.fence == lease.fence
            && self
                .lease
                .as_ref()
                .is_some_and(|(owner, _)| *owner == lease.owner)
    }

    /// The state with the admin connection, as the ports return it.
    fn state(&self) -> ScaleSetState {
        ScaleSetState {
            admin: self.admin.clone(),
            decisions: self.decisions.clone(),
            ..self.state.clone()
        }
    }

    fn describe_lease(&self) -> String {
        match &self.lease {
            Some((owner, _)) => format!("{owner} at fence {}", self.fence),
            None => "no lease".to_owned(),
        }
    }
}

/// `at` cut to the millisecond, as the table stores times.
fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

impl StateStore for MemoryStateStore {
    async fn read(&self, scale_set: &str) -> Result<StateRecord, PortError> {
        let table = lock(&self.table);
        Ok(table
            .get(scale_set)
            .map(|record| StateRecord {
                lease: record.lease.as_ref().map(|(owner, expires_at)| Lease {
                    owner: owner.clone(),
                    fence: record.fence,
                    expires_at: *expires_at,
                }),
                released_at: record.released_at,
                state: record.state(),
            })
            .unwrap_or_default())
    }

    async fn put_admin(&self, scale_set: &str, admin: &StoredAdmin) -> Result<(), PortError> {
        let mut table = lock(&self.table);
        table.entry(scale_set.to_owned()).or_default().admin = Some(admin.clone());
        Ok(())
    }

    async fn put_decisions(&self, scale_set: &str, decisions: &Decisions) -> Result<(), PortError> {
        let mut table = lock(&self.table);
        let kept = decisions.as_slice().iter().map(|decision| Decision {
            at: millis(decision.at),
            ..decision.clone()
        });
        table.entry(scale_set.to_owned()).or_default().decisions = Decisions::new(kept.collect());
        Ok(())
    }

    async fn acquire(
        &self,
        scale_set: &str,
        owner: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, PortError> {
        let mut table = lock(&self.table);
        let record = table.entry(scale_set.to_owned()).or_default();
        if let Some((holder, expiry)) = &record.lease
            && holder != owner
            && *expiry >= millis(now)
        {
            return Ok(LeaseOutcome::Held {
                owner: holder.clone(),
                expires_at: *expiry,
            });
        }
        record.fence += 1;
        record.lease = Some((owner.to_owned(), millis(expires_at)));
        Ok(LeaseOutcome::Acquired(
            Lease {
                owner: owner.to_owned(),
                fence: record.fence,
                expires_at,
            },
            record.state(),
        ))
    }

    async fn save(
        &self,
        scale_set: &str,
        lease: &Lease,
        state: &ScaleSetState,
    ) -> Result<(), PortError> {
        self.fenced("memory save state", scale_set, lease, |record| {
            let mut state = ScaleSetState {
                admin: None,
                decisions: Decisions::default(),
                last_message_at: state.last_message_at.map(millis),
                ..state.clone()
            };
            if let Some(session) = &mut state.session {
                session.created_at = session.created_at.map(millis);
                session.refreshed_at = session.refreshed_at.map(millis);
            }
            record.state = state;
        })
    }

    async fn release(&self, scale_set: &str, lease: &Lease) -> Result<(), PortError> {
        self.fenced("memory release lease", scale_set, lease, |record| {
            record.lease = Some((lease.owner.clone(), DateTime::UNIX_EPOCH));
            record.released_at = Some(millis(Utc::now()));
        })
    }

    async fn runners(&self, scale_set: &str) -> Result<Vec<RunnerRecord>, PortError> {
        let table = lock(&self.table);
        Ok(table
            .get(scale_set)
            .map(|record| record.ledger.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn put_runner(
        &self,
        scale_set: &str,
        lease: &Lease,
        runner: &RunnerRecord,
    ) -> Result<(), PortError> {
        self.fenced("memory put runner", scale_set, lease, |record| {
            record.ledger.insert(runner.name.clone(), runner.clone());
        })
    }

    async fn delete_runner(
        &self,
        scale_set: &str,
        lease: &Lease,
        name: &str,
    ) -> Result<(), PortError> {
        self.fenced("memory delete runner", scale_set, lease, |record| {
            record.ledger.remove(name);
        })
    }

    async fn reruns(&self, scale_set: &str) -> Result<Vec<RerunRecord>, PortError> {
        let table = lock(&self.table);
        Ok(table
            .get(scale_set)
            .map(|record| record.reruns.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn put_rerun(
        &self,
        scale_set: &str,
        lease: &Lease,
        rerun: &RerunRecord,
    ) -> Result<(), PortError> {
        self.fenced("memory put rerun", scale_set, lease, |record| {
            record.reruns.insert(rerun.run_id, rerun.clone());
        })
    }

    async fn delete_rerun(
        &self,
        scale_set: &str,
        lease: &Lease,
        run_id: i64,
    ) -> Result<(), PortError> {
        self.fenced("memory delete rerun", scale_set, lease, |record| {
            record.reruns.remove(&run_id);
        })
    }
}
