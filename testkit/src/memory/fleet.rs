//! [`MemoryFleet`]: the EC2 side of `src/aws/fleet.rs` in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ghaec2::aws::{MANAGED_BY, TAG_MANAGED_BY, TAG_NAME, TAG_RUNNER_NAME, TAG_SCALE_SET_ID};
use ghaec2::ports::{
    Fleet, Instance, InstanceState, LaunchOutcome, Lifecycle, PortError, PortErrorKind,
};

use super::lock;

/// EC2's code for a request naming an instance it does not know.
const INSTANCE_NOT_FOUND: &str = "InvalidInstanceID.NotFound";

/// Instance ids are unique across every fleet of the process, as across an account.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// [`Fleet`] in memory. As EC2 with ghaec2's launch template:
/// - instances carry their scale set's tag from launch and are listed by it in every state,
///   terminated ones included;
/// - a launch retried with the same client token returns the first launch's instances;
///   the same token with another scale set or count is refused, as
///   `IdempotentParameterMismatch`;
/// - naming a runner tags its instance (`ghaec2:runner-name` and `Name`);
/// - terminating an instance that is gone or was never known is fine.
///
/// Unlike EC2, an instance is known the moment it is launched (no eventual consistency:
/// tests/aws_consistency.rs covers that against moto), and a terminated one stays listed for
/// good, not for about an hour.
#[derive(Debug, Clone, Default)]
pub struct MemoryFleet {
    book: Arc<Mutex<Book>>,
}

#[derive(Debug, Default)]
struct Book {
    instances: Vec<MemoryInstance>,
    /// Launches by client token: what was asked and what came of it.
    launches: HashMap<String, (i64, u32, LaunchOutcome)>,
}

/// An instance as the memory fleet keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryInstance {
    /// Instance id.
    pub id: String,
    /// The scale set it was launched for.
    pub scale_set_id: i64,
    /// State.
    pub state: InstanceState,
    /// Launch time.
    pub launched_at: DateTime<Utc>,
    /// Tags, by key.
    pub tags: BTreeMap<String, String>,
}

impl MemoryFleet {
    /// A fleet without instances. Its capacity has no limit: partial fulfilment is played
    /// on moto (tests/aws_faults.rs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Every instance ever launched, in launch order, as kept (tags included).
    pub fn described(&self) -> Vec<MemoryInstance> {
        lock(&self.book).instances.clone()
    }
}

impl Book {
    fn instance(&mut self, id: &str) -> Option<&mut MemoryInstance> {
        self.instances.iter_mut().find(|i| i.id == id)
    }

    /// Launches `count` instances for `scale_set_id`.
    fn launch(&mut self, scale_set_id: i64, count: u32) -> LaunchOutcome {
        let now = Utc::now();
        let mut outcome = LaunchOutcome::default();
        for _ in 0..count {
            let id = format!("i-{:017x}", NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed));
            let tags = BTreeMap::from([
                (TAG_SCALE_SET_ID.to_owned(), scale_set_id.to_string()),
                (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
            ]);
            self.instances.push(MemoryInstance {
                id: id.clone(),
                scale_set_id,
                state: InstanceState::Running,
                launched_at: now,
                tags,
            });
            outcome.instance_ids.push(id);
        }
        outcome
    }
}

impl Fleet for MemoryFleet {
    async fn instances(&self, scale_set_id: i64) -> Result<Vec<Instance>, PortError> {
        let book = lock(&self.book);
        Ok(book
            .instances
            .iter()
            .filter(|i| i.scale_set_id == scale_set_id)
            .map(|i| Instance {
                id: i.id.clone(),
                state: i.state,
                launched_at: i.launched_at,
                runner_name: i.tags.get(TAG_RUNNER_NAME).cloned(),
                instance_type: None,
                zone: None,
                // Its capacity has no limit: every launch is spot.
                lifecycle: Lifecycle::Spot,
            })
            .collect())
    }

    /// Nothing to prepare: memory launches need no template.
    async fn prepare(&self, _scale_set_id: i64) -> Result<(), PortError> {
        Ok(())
    }

    async fn launch(
        &self,
        scale_set_id: i64,
        count: u32,
        client_token: &str,
    ) -> Result<LaunchOutcome, PortError> {
        if count == 0 {
            return Ok(LaunchOutcome::default());
        }
        let mut book = lock(&self.book);
        if let Some((id, asked, outcome)) = book.launches.get(client_token) {
            return if (*id, *asked) == (scale_set_id, count) {
                Ok(outcome.clone())
            } else {
                Err(PortError {
                    operation: "memory launch",
                    kind: PortErrorKind::Fatal,
                    message: format!(
                        "IdempotentParameterMismatch: client token {client_token} launched \
                         {asked} for scale set {id}, not {count} for {scale_set_id}"
                    ),
                })
            };
        }
        let outcome = book.launch(scale_set_id, count);
        book.launches.insert(
            client_token.to_owned(),
            (scale_set_id, count, outcome.clone()),
        );
        Ok(outcome)
    }

    async fn name_runner(&self, instance_id: &str, runner_name: &str) -> Result<(), PortError> {
        let mut book = lock(&self.book);
        let Some(instance) = book.instance(instance_id) else {
            return Err(PortError {
                operation: "memory tag runner name",
                kind: PortErrorKind::Retryable,
                message: format!("{INSTANCE_NOT_FOUND}: no instance {instance_id}"),
            });
        };
        for key in [TAG_RUNNER_NAME, TAG_NAME] {
            instance.tags.insert(key.to_owned(), runner_name.to_owned());
        }
        Ok(())
    }

    async fn terminate(&self, instance_ids: &[String]) -> Result<(), PortError> {
        let mut book = lock(&self.book);
        for id in instance_ids {
            if let Some(instance) = book.instance(id) {
                instance.state = InstanceState::Terminated;
            }
        }
        Ok(())
    }
}
