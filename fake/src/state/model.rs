//! The records the state machine keeps. They serialize (camelCase) as the fake's
//! inspection view (`GET /_fake/state`); the protocol's wire shapes are built from
//! them in `wire_json.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A scale set label (docs/protocol.md §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    /// Label name.
    pub name: String,
    /// Label type, `System` by default.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `RunnerSetting` of a scale set (docs/protocol.md §7.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerSetting {
    /// Runners run one job.
    pub ephemeral: bool,
    /// Elastic flag (unused by the fake).
    pub is_elastic: bool,
    /// Runner self-update disabled.
    pub disable_update: bool,
}

/// A runner scale set.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleSet {
    /// Id.
    pub id: u64,
    /// Tenant it lives in.
    pub tenant: u64,
    /// Name, unique per runner group.
    pub name: String,
    /// Runner group.
    pub runner_group_id: u64,
    /// Labels jobs are matched against.
    pub labels: Vec<Label>,
    /// Runner settings.
    pub runner_setting: RunnerSetting,
    /// Creation time.
    pub created_on: DateTime<Utc>,
}

/// A message session (docs/protocol.md §8).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Session id.
    pub session_id: Uuid,
    /// Scale set it belongs to.
    pub scale_set_id: u64,
    /// Owner (listener host name).
    pub owner_name: String,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last create/refresh/poll/ack/acquire.
    pub last_active_at: DateTime<Utc>,
    /// Idle time after which the session is gone.
    #[serde(skip)]
    pub idle_ttl: Duration,
    /// Current message queue token (never shown).
    #[serde(skip)]
    pub mq_token: String,
}

impl Session {
    /// When the session dies unless it is used again.
    pub fn expires_at(&self) -> DateTime<Utc> {
        super::after(self.last_active_at, self.idle_ttl)
    }

    /// Whether the session is still alive at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at()
    }
}

/// Lifecycle of a job (docs/protocol.md §10 ordering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum JobState {
    /// Not yet offered to a scale set: no matching scale set, or (dotcom) over capacity.
    Queued,
    /// GHES: offered as `JobAvailable`, waiting for `acquirejobs`.
    Available,
    /// Assigned to the scale set, waiting for a runner.
    Assigned,
    /// Running on a runner.
    Running,
    /// Finished (any result).
    Completed,
}

/// A workflow job.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Job request id (the acquire key).
    pub runner_request_id: u64,
    /// Opaque job id.
    pub job_id: String,
    /// `runs-on` labels.
    pub request_labels: Vec<String>,
    /// Repository name only.
    pub repository_name: String,
    /// Owner login.
    pub owner_name: String,
    /// Workflow ref.
    pub job_workflow_ref: String,
    /// Display name.
    pub job_display_name: String,
    /// Workflow run id.
    pub workflow_run_id: u64,
    /// The run's attempt the job belongs to (1, plus one per re-run).
    pub run_attempt: u32,
    /// Triggering event.
    pub event_name: String,
    /// How long it runs once started (`None` = until completed by hand).
    #[serde(skip)]
    pub duration: Option<Duration>,
    /// Scale set the job must go to, if the enqueuer chose one.
    pub pinned_scale_set_id: Option<u64>,
    /// Scale set it was routed to.
    pub scale_set_id: Option<u64>,
    /// Current state.
    pub state: JobState,
    /// Acquired through `acquirejobs` (GHES).
    pub acquired: bool,
    /// Runner running it.
    pub runner_id: Option<u64>,
    /// Name of that runner.
    pub runner_name: Option<String>,
    /// Final result.
    pub result: Option<String>,
    /// Enqueued at.
    pub queue_time: DateTime<Utc>,
    /// Assigned to the scale set at.
    pub scale_set_assign_time: Option<DateTime<Utc>>,
    /// Picked by a runner at.
    pub runner_assign_time: Option<DateTime<Utc>>,
    /// Finished at.
    pub finish_time: Option<DateTime<Utc>>,
    /// Completes by itself at (running jobs with a duration).
    pub run_until: Option<DateTime<Utc>>,
}

impl Job {
    /// Assigned to the scale set and not finished (`totalAssignedJobs`, docs/protocol.md §10).
    pub fn is_assigned(&self) -> bool {
        matches!(self.state, JobState::Assigned | JobState::Running)
    }
}

/// A runner (agent) of a scale set.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Runner {
    /// Agent id.
    pub id: u64,
    /// Agent name, unique per tenant.
    pub name: String,
    /// Scale set.
    pub runner_scale_set_id: u64,
    /// Tenant.
    pub tenant: u64,
    /// Work folder from the JIT request.
    pub work_folder: String,
    /// Created (JIT config generated) at.
    pub created_on: DateTime<Utc>,
    /// Connected with its JIT config: `status: "online"`.
    pub online: bool,
    /// Job it runs (`busy`).
    pub job: Option<u64>,
}

impl Runner {
    /// Wire `status` value (docs/protocol.md §12.3).
    pub fn status(&self) -> &'static str {
        if self.online { "online" } else { "offline" }
    }
}

/// A scale set's message queue: pending events and undeleted messages.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    /// Next message id (+1 per message, across sessions; docs/protocol.md §15 item 3).
    pub next_message_id: u64,
    /// Job messages not yet packed into a message.
    pub pending: VecDeque<serde_json::Value>,
    /// Delivered or built but not deleted: id ⇒ body (a JSON array as a string).
    pub messages: BTreeMap<u64, String>,
    /// `X-ScaleSetMaxCapacity` of the latest poll.
    pub max_capacity: Option<u64>,
    /// How many times each message id was delivered (kept after the ack).
    pub deliveries: BTreeMap<u64, u32>,
    /// Statistics frozen for the next deliveries (a service whose counters lag its
    /// messages), with how many deliveries still carry them.
    #[serde(skip)]
    pub lagging: Option<(Statistics, u32)>,
}

impl Default for Queue {
    fn default() -> Self {
        Self {
            next_message_id: 1,
            pending: VecDeque::new(),
            messages: BTreeMap::new(),
            max_capacity: None,
            deliveries: BTreeMap::new(),
            lagging: None,
        }
    }
}

/// `RunnerScaleSetStatistic` (docs/protocol.md §10); all fields always serialized.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statistics {
    /// Offered, not acquired (GHES only).
    pub total_available_jobs: u64,
    /// Acquired and not finished (GHES only).
    pub total_acquired_jobs: u64,
    /// Waiting for a runner + running.
    pub total_assigned_jobs: u64,
    /// Running on a runner.
    pub total_running_jobs: u64,
    /// Connected runners not removed.
    pub total_registered_runners: u64,
    /// Registered runners with a job.
    pub total_busy_runners: u64,
    /// Registered runners without a job.
    pub total_idle_runners: u64,
}

/// A runner group (docs/protocol.md §6).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerGroup {
    /// Id (1 = Default).
    pub id: u64,
    /// Name.
    pub name: String,
    /// Default group flag.
    pub is_default_group: bool,
}
