//! The fake's pure state machine: tenants, scale sets, sessions, message queues,
//! jobs and runners. No I/O and no clock: every operation takes `now`, so the rules
//! are unit-tested here and the HTTP layer only translates.
//!
//! Split by concept: `auth` (token chain), `scale_sets`, `sessions`, `queue`
//! (messages), `jobs` (lifecycle and events), `runners` (JIT, connect, agents), `runs`
//! (workflow runs and their re-runs).

mod auth;
mod fail;
mod jobs;
pub mod model;
mod queue;
#[cfg(test)]
mod redelivery_tests;
mod runners;
mod runs;
mod scale_sets;
mod sessions;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

pub use auth::{ExpireTokens, MqIdentity};
pub use fail::Fail;
pub use jobs::JobSpec;
pub use model::{
    Job, JobState, Label, Queue, Runner, RunnerGroup, RunnerSetting, ScaleSet, Session, Statistics,
};
pub use queue::Envelope;
pub use runs::WorkflowRun;
pub use scale_sets::ScaleSetInput;
pub use sessions::SessionGrant;

use crate::options::{FakeOptions, Mode};
use crate::tokens::TokenRegistry;
use crate::wire::{DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME};

/// `t + d`, saturating.
pub(crate) fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    let delta = TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
    t.checked_add_signed(delta)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// What the state machine needs from the options, plus the server's own address.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// Server options.
    pub options: FakeOptions,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
}

/// The whole fake service.
#[derive(Debug)]
pub struct State {
    cfg: StateConfig,
    tokens: TokenRegistry,
    /// Tenant keys (see `Scope::tenant_key`); tenant number = index + 1.
    tenants: Vec<String>,
    groups: Vec<RunnerGroup>,
    scale_sets: BTreeMap<u64, ScaleSet>,
    sessions: BTreeMap<Uuid, Session>,
    queues: BTreeMap<u64, Queue>,
    jobs: BTreeMap<u64, Job>,
    runners: BTreeMap<u64, Runner>,
    /// Workflow runs by id.
    runs: BTreeMap<u64, WorkflowRun>,
    next_scale_set_id: u64,
    next_runner_id: u64,
    next_request_id: u64,
    /// Counts emitted job messages; waiters are woken when it moves.
    version: u64,
    /// Every `encodedJITConfig` handed out, for secret-hygiene checks.
    jit_configs: Vec<String>,
}

/// Everything, for inspection (`GET /_fake/state`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Service flavour.
    pub mode: Mode,
    /// Scale sets with their live statistics and queue.
    pub scale_sets: Vec<ScaleSetView>,
    /// Sessions (live and not yet purged dead ones).
    pub sessions: Vec<SessionView>,
    /// Runners.
    pub runners: Vec<RunnerView>,
    /// Jobs, oldest first.
    pub jobs: Vec<Job>,
    /// Workflow runs by id.
    pub runs: Vec<WorkflowRun>,
}

/// A scale set as inspected.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleSetView {
    /// The scale set.
    #[serde(flatten)]
    pub scale_set: ScaleSet,
    /// Statistics now.
    pub statistics: Statistics,
    /// Its queue.
    pub queue: Queue,
}

/// A session as inspected.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// The session.
    #[serde(flatten)]
    pub session: Session,
    /// When it dies unless used.
    pub expires_at: DateTime<Utc>,
    /// Alive now.
    pub live: bool,
}

/// A runner as inspected.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerView {
    /// The runner.
    #[serde(flatten)]
    pub runner: Runner,
    /// `online` / `offline`.
    pub status: &'static str,
    /// Runs a job.
    pub busy: bool,
}

impl From<&Runner> for RunnerView {
    fn from(r: &Runner) -> Self {
        Self {
            runner: r.clone(),
            status: r.status(),
            busy: r.job.is_some(),
        }
    }
}

impl State {
    /// A fresh service: no tenants, no scale sets, the `Default` group and the extra
    /// groups of the options.
    pub fn new(cfg: StateConfig) -> Self {
        let mut groups = vec![RunnerGroup {
            id: DEFAULT_GROUP_ID,
            name: DEFAULT_GROUP_NAME.to_owned(),
            is_default_group: true,
        }];
        for (i, name) in cfg.options.extra_runner_groups.iter().enumerate() {
            groups.push(RunnerGroup {
                id: DEFAULT_GROUP_ID + 1 + i as u64,
                name: name.clone(),
                is_default_group: false,
            });
        }
        Self {
            cfg,
            tokens: TokenRegistry::new(),
            tenants: Vec::new(),
            groups,
            scale_sets: BTreeMap::new(),
            sessions: BTreeMap::new(),
            queues: BTreeMap::new(),
            jobs: BTreeMap::new(),
            runners: BTreeMap::new(),
            runs: BTreeMap::new(),
            next_scale_set_id: 1,
            next_runner_id: 1,
            next_request_id: 1,
            version: 0,
            jit_configs: Vec::new(),
        }
    }

    /// Moves whenever new job messages are queued (wakes held polls).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every secret the fake knows a client holds: the accepted PATs, each token it
    /// issued (registration, installation, admin, message queue) and each JIT config.
    /// Tests assert none of them shows up in logs, errors, tags or user-data.
    pub fn issued_secrets(&self) -> Vec<String> {
        let mut secrets = self.cfg.options.pats.clone();
        secrets.extend(self.tokens.issued());
        secrets.extend(self.jit_configs.iter().cloned());
        secrets
    }

    /// The options the state was built with.
    pub fn options(&self) -> &FakeOptions {
        &self.cfg.options
    }

    /// The tenant's Actions service URL, with the trailing slash clients keep.
    pub fn tenant_url(&self, tenant: u64) -> String {
        format!("{}/tenant/{tenant}/", self.cfg.base_url)
    }

    /// Runner groups.
    pub fn runner_groups(&self) -> &[RunnerGroup] {
        &self.groups
    }

    /// Number of runners in the scale sets of a group (`size` of a runner group).
    pub fn group_size(&self, tenant: u64, group_id: u64) -> u64 {
        let sets: Vec<u64> = self
            .scale_sets
            .values()
            .filter(|s| s.tenant == tenant && s.runner_group_id == group_id)
            .map(|s| s.id)
            .collect();
        self.runners
            .values()
            .filter(|r| sets.contains(&r.runner_scale_set_id))
            .count() as u64
    }

    /// Statistics of a scale set now (docs/protocol.md §10, §15 item 6).
    pub fn statistics(&self, scale_set_id: u64) -> Statistics {
        let ghes = self.cfg.options.mode == Mode::Ghes;
        let jobs = self
            .jobs
            .values()
            .filter(|j| j.scale_set_id == Some(scale_set_id));
        let mut s = Statistics::default();
        for job in jobs {
            match job.state {
                JobState::Available if ghes => s.total_available_jobs += 1,
                JobState::Assigned => s.total_assigned_jobs += 1,
                JobState::Running => {
                    s.total_assigned_jobs += 1;
                    s.total_running_jobs += 1;
                }
                _ => {}
            }
            if ghes && job.acquired && job.is_assigned() {
                s.total_acquired_jobs += 1;
            }
        }
        for runner in self
            .runners
            .values()
            .filter(|r| r.runner_scale_set_id == scale_set_id && r.online)
        {
            s.total_registered_runners += 1;
            if runner.job.is_some() {
                s.total_busy_runners += 1;
            } else {
                s.total_idle_runners += 1;
            }
        }
        s
    }

    /// Everything, for inspection.
    pub fn snapshot(&self, now: DateTime<Utc>) -> Snapshot {
        Snapshot {
            mode: self.cfg.options.mode,
            scale_sets: self
                .scale_sets
                .values()
                .map(|s| ScaleSetView {
                    scale_set: s.clone(),
                    statistics: self.statistics(s.id),
                    queue: self.queues.get(&s.id).cloned().unwrap_or_default(),
                })
                .collect(),
            sessions: self
                .sessions
                .values()
                .map(|s| SessionView {
                    session: s.clone(),
                    expires_at: s.expires_at(),
                    live: s.is_live(now),
                })
                .collect(),
            runners: self.runners.values().map(RunnerView::from).collect(),
            jobs: self.jobs.values().cloned().collect(),
            runs: self.runs.values().cloned().collect(),
        }
    }

    /// The earliest time `tick` has work to do (a running job's end).
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.jobs.values().filter_map(|j| j.run_until).min()
    }

    /// Advances time: running jobs whose duration elapsed complete. Returns whether
    /// anything changed.
    pub fn tick(&mut self, now: DateTime<Utc>) -> bool {
        let due: Vec<u64> = self
            .jobs
            .values()
            .filter(|j| j.run_until.is_some_and(|t| t <= now))
            .map(|j| j.runner_request_id)
            .collect();
        let changed = !due.is_empty();
        for id in due {
            self.finish_job(id, crate::wire::RESULT_SUCCEEDED, now);
        }
        changed
    }
}
