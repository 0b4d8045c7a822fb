//! [`Fake`]: the control handle tests and the HTTP control API (`/_fake/...`) use to
//! play GitHub's part (enqueue jobs, connect runners, complete/cancel jobs), inject
//! faults, and inspect state and calls.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::calls::Call;
use crate::faults::Fault;
use crate::server::Shared;
use crate::state::{
    ExpireTokens, Fail, Job, JobSpec, RunnerView, SessionView, Snapshot, Statistics, WorkflowRun,
};
use crate::wire::RESULT_SUCCEEDED;

/// Owner name of sessions created by [`Fake::create_stale_session`] by default.
pub const STALE_OWNER: &str = "someone-else";

/// A clonable handle on a running fake.
#[derive(Debug, Clone)]
pub struct Fake {
    shared: Arc<Shared>,
}

impl Fake {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// An org-scope config URL on the fake, e.g. `http://127.0.0.1:PORT/my-org`. The
    /// host is not a hosted GitHub host, so clients use GHES paths (`/api/v3/...`).
    pub fn config_url(&self, org: &str) -> String {
        format!("{}/{org}", self.shared.base_url)
    }

    /// A repository-scope config URL.
    pub fn repo_config_url(&self, owner: &str, repo: &str) -> String {
        format!("{}/{owner}/{repo}", self.shared.base_url)
    }

    /// An enterprise-scope config URL.
    pub fn enterprise_config_url(&self, enterprise: &str) -> String {
        format!("{}/enterprises/{enterprise}", self.shared.base_url)
    }

    /// Enqueues a job; it goes to the first scale set whose labels include all of
    /// the job's labels (or to `spec.scale_set_id`), now or once one exists.
    pub fn enqueue_job(&self, spec: JobSpec) -> Result<Job, Fail> {
        self.shared.with_state(|s, now| s.enqueue_job(spec, now))
    }

    /// Plays a runner started with `run.sh --jitconfig <encoded>`: it goes online and
    /// takes the oldest assigned job of its scale set, if any.
    pub fn connect_runner(&self, encoded_jit_config: &str) -> Result<RunnerView, Fail> {
        self.shared.with_state(|s, now| {
            s.connect_runner(encoded_jit_config, now)
                .map(|r| RunnerView::from(&r))
        })
    }

    /// Completes a running job with `result` (`succeeded`, `failed`, …).
    pub fn complete_job(&self, runner_request_id: u64, result: &str) -> Result<Job, Fail> {
        self.shared
            .with_state(|s, now| s.complete_job(runner_request_id, result, now))
    }

    /// Completes a running job as `succeeded`.
    pub fn succeed_job(&self, runner_request_id: u64) -> Result<Job, Fail> {
        self.complete_job(runner_request_id, RESULT_SUCCEEDED)
    }

    /// Cancels a job in any unfinished state (`JobCompleted{result:"canceled"}`).
    pub fn cancel_job(&self, runner_request_id: u64) -> Result<Job, Fail> {
        self.shared
            .with_state(|s, now| s.cancel_job(runner_request_id, now))
    }

    /// Completes a workflow run with `conclusion` (`failure`, `success`, …); its jobs are
    /// left as they are.
    pub fn complete_run(&self, run_id: u64, conclusion: &str) -> Result<WorkflowRun, Fail> {
        self.shared
            .with_state(|s, _| s.complete_run(run_id, conclusion))
    }

    /// A workflow run by id.
    pub fn workflow_run(&self, run_id: u64) -> Option<WorkflowRun> {
        self.state().runs.into_iter().find(|r| r.id == run_id)
    }

    /// A job by runner request id (decimal) or `jobId`.
    pub fn find_job(&self, key: &str) -> Result<Job, Fail> {
        self.shared.with_state(|s, _| s.find_job(key))
    }

    /// Arms a fault rule.
    pub fn add_fault(&self, fault: Fault) {
        self.shared.faults().add(fault);
    }

    /// Disarms all fault rules.
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// The armed fault rules.
    pub fn faults(&self) -> Vec<Fault> {
        self.shared.faults().list()
    }

    /// Leaves a session owned by someone else (a crashed listener) on a scale set:
    /// creates answer 409 until it is deleted or `ttl` (default: the idle TTL) passes.
    pub fn create_stale_session(
        &self,
        scale_set_id: u64,
        owner: Option<&str>,
        ttl: Option<Duration>,
    ) -> Result<SessionView, Fail> {
        self.shared.with_state(|s, now| {
            let grant =
                s.create_stale_session(scale_set_id, owner.unwrap_or(STALE_OWNER), ttl, now)?;
            let session = grant.session;
            Ok(SessionView {
                expires_at: session.expires_at(),
                live: true,
                session,
            })
        })
    }

    /// Takes a job back from its scale set and queues it again: `JobCompleted` "canceled",
    /// then `JobAssigned` (or `JobAvailable`) once more under the same ids.
    pub fn requeue_job(&self, runner_request_id: u64) -> Result<Job, Fail> {
        self.shared
            .with_state(|s, now| s.requeue_job(runner_request_id, now))
    }

    /// The next `deliveries` messages of a scale set carry its statistics frozen as they
    /// are now (counters lagging the messages).
    pub fn lag_statistics(&self, scale_set_id: u64, deliveries: u32) -> Result<(), Fail> {
        self.shared
            .with_state(|s, _| s.lag_statistics(scale_set_id, deliveries))
    }

    /// Queues a raw job message (e.g. an unknown `messageType`) for a scale set.
    pub fn push_raw_event(&self, scale_set_id: u64, event: serde_json::Value) -> Result<(), Fail> {
        self.shared
            .with_state(|s, _| s.push_raw_event(scale_set_id, event))
    }

    /// Every secret value the fake accepted or issued: PATs, tokens, JIT configs.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.shared.with_state(|s, _| s.issued_secrets())
    }

    /// Deletes a scale set server-side (dormant cleanup): its sessions then get 404.
    pub fn delete_scale_set(&self, scale_set_id: u64) -> Result<(), Fail> {
        self.shared
            .with_state(|s, now| s.delete_scale_set_server_side(scale_set_id, now))
    }

    /// Expires the selected token kinds now; returns how many were live.
    pub fn expire_tokens(&self, which: ExpireTokens) -> usize {
        self.shared.with_state(|s, now| s.expire_tokens(which, now))
    }

    /// Expires every message queue token now (clients see 401 and refresh).
    pub fn expire_mq_tokens(&self) -> usize {
        self.expire_tokens(ExpireTokens {
            message_queue: true,
            ..ExpireTokens::default()
        })
    }

    /// Expires every admin token now (clients see 401 on admin calls).
    pub fn expire_admin_tokens(&self) -> usize {
        self.expire_tokens(ExpireTokens {
            admin: true,
            ..ExpireTokens::default()
        })
    }

    /// Everything, for inspection.
    pub fn state(&self) -> Snapshot {
        self.shared.with_state(|s, now| s.snapshot(now))
    }

    /// The id of the scale set named `name`, once a client has created it.
    pub fn scale_set_id(&self, name: &str) -> Option<u64> {
        self.state()
            .scale_sets
            .iter()
            .find(|s| s.scale_set.name == name)
            .map(|s| s.scale_set.id)
    }

    /// Statistics of one scale set now.
    pub fn statistics(&self, scale_set_id: u64) -> Statistics {
        self.shared.with_state(|s, _| s.statistics(scale_set_id))
    }

    /// The call log, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls().clone()
    }

    /// Calls to one endpoint name.
    pub fn calls_to(&self, endpoint: &str) -> Vec<Call> {
        self.shared
            .calls()
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .cloned()
            .collect()
    }

    /// Clears the call log.
    pub fn reset_calls(&self) {
        self.shared.calls().clear();
    }

    /// Waits until `check` returns `Some` for the current state, up to `timeout`
    /// (checked every 10 ms). For tests that wait on state instead of sleeping.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Snapshot) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = check(&self.state()) {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The session id of the live session of a scale set, if any.
    pub fn live_session(&self, scale_set_id: u64) -> Option<Uuid> {
        self.state()
            .sessions
            .into_iter()
            .find(|s| s.live && s.session.scale_set_id == scale_set_id)
            .map(|s| s.session.session_id)
    }
}
