//! Job lifecycle and the job messages it emits (docs/protocol.md §10, §11, §15 item 5):
//! `[JobAvailable → acquire →] JobAssigned → JobStarted → JobCompleted`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Fail, Job, JobState, State, WorkflowRun, after};
use crate::options::Mode;
use crate::wire::{
    JOB_ASSIGNED, JOB_AVAILABLE, JOB_COMPLETED, JOB_STARTED, RESULT_CANCELED, ZERO_TIME,
};

/// A job to enqueue (control API `POST /_fake/jobs`). Only `labels` matters for
/// routing; the rest fills the job message fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobSpec {
    /// `runs-on` labels; the job goes to the first scale set carrying all of them.
    pub labels: Vec<String>,
    /// Send the job to this scale set regardless of labels.
    pub scale_set_id: Option<u64>,
    /// Run time once started; default: the server's default job duration.
    pub duration_ms: Option<u64>,
    /// Repository name (default `repo`).
    pub repository_name: Option<String>,
    /// Owner (default `owner`).
    pub owner_name: Option<String>,
    /// Workflow ref (default `owner/repo/.github/workflows/ci.yml@refs/heads/main`).
    pub job_workflow_ref: Option<String>,
    /// Display name (default `job <id>`).
    pub job_display_name: Option<String>,
    /// Event (default `push`).
    pub event_name: Option<String>,
    /// Workflow run the job belongs to (default `100000 +` its request id, a run of its own).
    pub workflow_run_id: Option<u64>,
}

impl JobSpec {
    /// A job with these labels and defaults for everything else.
    pub fn with_labels<I: IntoIterator<Item = S>, S: Into<String>>(labels: I) -> Self {
        Self {
            labels: labels.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }
}

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or_else(
        || Value::from(ZERO_TIME),
        |t| Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    )
}

impl State {
    /// Enqueues a job and offers it to a matching scale set at once.
    pub fn enqueue_job(&mut self, spec: JobSpec, now: DateTime<Utc>) -> Result<Job, Fail> {
        if spec.labels.is_empty() && spec.scale_set_id.is_none() {
            return Err(Fail::BadRequest(
                "a job needs labels or a scaleSetId".to_owned(),
            ));
        }
        let id = self.next_request_id;
        self.next_request_id += 1;
        let repo = spec.repository_name.unwrap_or_else(|| "repo".to_owned());
        let owner = spec.owner_name.unwrap_or_else(|| "owner".to_owned());
        let workflow_run_id = spec.workflow_run_id.unwrap_or(100_000 + id);
        let run_attempt = self
            .runs
            .entry(workflow_run_id)
            .or_insert_with(|| WorkflowRun::new(workflow_run_id, &owner, &repo))
            .run_attempt;
        let job = Job {
            runner_request_id: id,
            job_id: uuid::Uuid::new_v4().to_string(),
            request_labels: spec.labels,
            job_workflow_ref: spec.job_workflow_ref.unwrap_or_else(|| {
                format!("{owner}/{repo}/.github/workflows/ci.yml@refs/heads/main")
            }),
            repository_name: repo,
            owner_name: owner,
            job_display_name: spec.job_display_name.unwrap_or_else(|| format!("job {id}")),
            workflow_run_id,
            run_attempt,
            event_name: spec.event_name.unwrap_or_else(|| "push".to_owned()),
            duration: spec
                .duration_ms
                .map(Duration::from_millis)
                .or(self.cfg.options.default_job_duration),
            pinned_scale_set_id: spec.scale_set_id,
            scale_set_id: None,
            state: JobState::Queued,
            acquired: false,
            runner_id: None,
            runner_name: None,
            result: None,
            queue_time: now,
            scale_set_assign_time: None,
            runner_assign_time: None,
            finish_time: None,
            run_until: None,
        };
        self.jobs.insert(id, job);
        self.dispatch(now);
        self.job(id)
    }

    /// A job by runner request id.
    pub fn job(&self, id: u64) -> Result<Job, Fail> {
        self.jobs
            .get(&id)
            .cloned()
            .ok_or_else(|| Fail::JobNotFound(id.to_string()))
    }

    /// Jobs offered to a scale set and not yet acquired (GHES).
    pub fn available_jobs(&self, scale_set_id: u64) -> Vec<Job> {
        self.jobs
            .values()
            .filter(|j| j.scale_set_id == Some(scale_set_id) && j.state == JobState::Available)
            .cloned()
            .collect()
    }

    /// A job by runner request id (decimal) or by `jobId`.
    pub fn find_job(&self, key: &str) -> Result<Job, Fail> {
        let by_id = key.parse::<u64>().ok().and_then(|id| self.jobs.get(&id));
        by_id
            .or_else(|| self.jobs.values().find(|j| j.job_id == key))
            .cloned()
            .ok_or_else(|| Fail::JobNotFound(key.to_owned()))
    }

    /// `acquirejobs` (docs/protocol.md §11): acquires the listed jobs that are available to
    /// this scale set; returns those acquired now or earlier by this scale set, so a
    /// retried POST sees the same answer. The acquired jobs become `JobAssigned`.
    pub fn acquire_jobs(&mut self, scale_set_id: u64, ids: &[u64], now: DateTime<Utc>) -> Vec<u64> {
        let mut acquired = Vec::new();
        for id in ids {
            let Some(job) = self
                .jobs
                .get_mut(id)
                .filter(|j| j.scale_set_id == Some(scale_set_id))
            else {
                continue;
            };
            match job.state {
                JobState::Available => {
                    job.acquired = true;
                    job.state = JobState::Assigned;
                    job.scale_set_assign_time = Some(now);
                    self.emit(*id, JOB_ASSIGNED, Value::Null);
                    acquired.push(*id);
                }
                JobState::Assigned | JobState::Running if job.acquired => acquired.push(*id),
                _ => {}
            }
        }
        self.dispatch(now);
        acquired
    }

    /// Completes a running job with `result` (control API).
    pub fn complete_job(&mut self, id: u64, result: &str, now: DateTime<Utc>) -> Result<Job, Fail> {
        let job = self.job(id)?;
        if job.state != JobState::Running {
            return Err(Fail::Conflict(format!(
                "job {id} is {:?}, not running",
                job.state
            )));
        }
        self.finish_job(id, result, now);
        self.job(id)
    }

    /// Cancels a job in any unfinished state (control API).
    pub fn cancel_job(&mut self, id: u64, now: DateTime<Utc>) -> Result<Job, Fail> {
        let job = self.job(id)?;
        if job.state == JobState::Completed {
            return Err(Fail::Conflict(format!("job {id} already completed")));
        }
        self.finish_job(id, RESULT_CANCELED, now);
        self.job(id)
    }

    /// Takes a job back from its scale set and queues it again, as the service does when
    /// it re-dispatches: the scale set hears `JobCompleted` "canceled" (naming the runner
    /// that had it, which is removed), then the job is offered or assigned again under the
    /// same ids.
    pub fn requeue_job(&mut self, id: u64, now: DateTime<Utc>) -> Result<Job, Fail> {
        let job = self.job(id)?;
        if !matches!(
            job.state,
            JobState::Available | JobState::Assigned | JobState::Running
        ) {
            return Err(Fail::Conflict(format!(
                "job {id} is {:?}, not with a scale set",
                job.state
            )));
        }
        if let Some(runner_id) = job.runner_id {
            self.runners.remove(&runner_id);
        }
        self.set_job(id, |j| j.finish_time = Some(now));
        self.emit(id, JOB_COMPLETED, json!({ "result": RESULT_CANCELED }));
        self.set_job(id, |j| {
            j.state = JobState::Queued;
            j.acquired = false;
            j.runner_id = None;
            j.runner_name = None;
            j.scale_set_assign_time = None;
            j.runner_assign_time = None;
            j.finish_time = None;
            j.run_until = None;
        });
        self.dispatch(now);
        self.job(id)
    }

    /// Ends a job. The scale set hears `JobCompleted` if it ever heard of the job; an
    /// ephemeral runner that ran it is removed (docs/protocol.md §12.2).
    pub(super) fn finish_job(&mut self, id: u64, result: &str, now: DateTime<Utc>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let seen = matches!(
            job.state,
            JobState::Available | JobState::Assigned | JobState::Running
        );
        job.state = JobState::Completed;
        job.result = Some(result.to_owned());
        job.finish_time = Some(now);
        job.run_until = None;
        if let Some(runner_id) = job.runner_id {
            self.runners.remove(&runner_id);
        }
        if seen {
            self.emit(id, JOB_COMPLETED, json!({ "result": result }));
        }
        self.dispatch(now);
    }

    /// Moves every job as far as the rules allow: route queued jobs to a scale set,
    /// offer (GHES) or assign within capacity (dotcom), start assigned jobs on idle
    /// online runners. Called after every change.
    pub(super) fn dispatch(&mut self, now: DateTime<Utc>) {
        let ghes = self.cfg.options.mode == Mode::Ghes;
        let ids: Vec<u64> = self.jobs.keys().copied().collect();
        for id in ids {
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            if job.state != JobState::Queued {
                continue;
            }
            let target = match job.scale_set_id {
                Some(ss) => Some(ss),
                None => self.route(job),
            };
            let Some(ss) = target else { continue };
            if ghes {
                self.set_job(id, |j| {
                    j.scale_set_id = Some(ss);
                    j.state = JobState::Available;
                });
                let url = format!(
                    "{}_apis/runtime/runnerscalesets/{ss}/acquirejobs",
                    self.tenant_url(self.tenant_of(ss))
                );
                self.emit(id, JOB_AVAILABLE, json!({ "acquireJobUrl": url }));
            } else {
                let capacity = self
                    .queues
                    .get(&ss)
                    .and_then(|q| q.max_capacity)
                    .unwrap_or(u64::MAX);
                let assigned = self
                    .jobs
                    .values()
                    .filter(|j| j.scale_set_id == Some(ss) && j.is_assigned())
                    .count() as u64;
                self.set_job(id, |j| j.scale_set_id = Some(ss));
                if assigned < capacity {
                    self.set_job(id, |j| {
                        j.state = JobState::Assigned;
                        j.scale_set_assign_time = Some(now);
                    });
                    self.emit(id, JOB_ASSIGNED, Value::Null);
                }
            }
        }
        self.start_waiting_jobs(now);
    }

    fn start_waiting_jobs(&mut self, now: DateTime<Utc>) {
        let waiting: Vec<(u64, u64)> = self
            .jobs
            .values()
            .filter(|j| j.state == JobState::Assigned)
            .filter_map(|j| j.scale_set_id.map(|ss| (j.runner_request_id, ss)))
            .collect();
        for (job_id, ss) in waiting {
            let idle = self
                .runners
                .values()
                .find(|r| r.runner_scale_set_id == ss && r.online && r.job.is_none())
                .map(|r| (r.id, r.name.clone()));
            let Some((runner_id, runner_name)) = idle else {
                continue;
            };
            let default = self.cfg.options.default_job_duration;
            if let Some(runner) = self.runners.get_mut(&runner_id) {
                runner.job = Some(job_id);
            }
            self.set_job(job_id, |j| {
                j.state = JobState::Running;
                j.runner_id = Some(runner_id);
                j.runner_name = Some(runner_name.clone());
                j.runner_assign_time = Some(now);
                j.run_until = j.duration.or(default).map(|d| after(now, d));
            });
            self.emit(job_id, JOB_STARTED, Value::Null);
        }
    }

    /// The scale set a queued job goes to: the pinned one, or the first (lowest id)
    /// whose labels include all the job's labels, case-insensitively.
    fn route(&self, job: &Job) -> Option<u64> {
        if let Some(pinned) = job.pinned_scale_set_id {
            return self.scale_sets.contains_key(&pinned).then_some(pinned);
        }
        self.scale_sets
            .values()
            .find(|s| {
                job.request_labels
                    .iter()
                    .all(|l| s.labels.iter().any(|sl| sl.name.eq_ignore_ascii_case(l)))
            })
            .map(|s| s.id)
    }

    fn set_job(&mut self, id: u64, f: impl FnOnce(&mut Job)) {
        if let Some(job) = self.jobs.get_mut(&id) {
            f(job);
        }
    }

    fn tenant_of(&self, scale_set_id: u64) -> u64 {
        self.scale_sets.get(&scale_set_id).map_or(0, |s| s.tenant)
    }

    /// Appends a job message for `id` to its scale set's queue, with the job's fields
    /// as they are now plus `extra` (docs/protocol.md §10 per-type fields).
    fn emit(&mut self, id: u64, message_type: &str, extra: Value) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let Some(ss) = job
            .scale_set_id
            .filter(|ss| self.scale_sets.contains_key(ss))
        else {
            return;
        };
        let zero_ids =
            self.cfg.options.zero_runner_request_ids && self.cfg.options.mode == Mode::Dotcom;
        let mut event = json!({
            "messageType": message_type,
            "runnerRequestId": if zero_ids { 0 } else { job.runner_request_id },
            "jobId": job.job_id,
            "repositoryName": job.repository_name,
            "ownerName": job.owner_name,
            "jobWorkflowRef": job.job_workflow_ref,
            "jobDisplayName": job.job_display_name,
            "workflowRunId": job.workflow_run_id,
            "eventName": job.event_name,
            "requestLabels": job.request_labels,
            "queueTime": time(Some(job.queue_time)),
            "scaleSetAssignTime": time(job.scale_set_assign_time),
            "runnerAssignTime": time(job.runner_assign_time),
            "finishTime": time(job.finish_time),
        });
        if matches!(message_type, JOB_STARTED | JOB_COMPLETED)
            && let (Some(runner_id), Some(runner_name)) = (job.runner_id, &job.runner_name)
        {
            event["runnerId"] = runner_id.into();
            event["runnerName"] = runner_name.clone().into();
        }
        if let (Value::Object(extra), Value::Object(map)) = (extra, &mut event) {
            map.extend(extra);
        }
        self.queues.entry(ss).or_default().pending.push_back(event);
        self.version += 1;
    }
}
