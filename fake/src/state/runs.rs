//! Workflow runs (docs/protocol.md §19): every job belongs to one (its `workflowRunId`). A run
//! is `queued` until the control API completes it with a conclusion; re-running its failed
//! jobs opens the next attempt and queues those jobs again, as GitHub does.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Fail, JobSpec, JobState, State};
use crate::wire::RESULT_SUCCEEDED;

/// A workflow run, shaped as GitHub's REST API answers it (the fields clients read) plus what
/// tests inspect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowRun {
    /// Run id (the jobs' `workflowRunId`).
    pub id: u64,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repository: String,
    /// `queued` or `completed`.
    pub status: String,
    /// Set once completed (`failure`, `success`, `cancelled`, …).
    pub conclusion: Option<String>,
    /// 1, plus one per re-run.
    pub run_attempt: u32,
    /// How many re-runs of failed jobs were accepted.
    pub reruns: u32,
}

impl WorkflowRun {
    pub(super) fn new(id: u64, owner: &str, repository: &str) -> Self {
        Self {
            id,
            owner: owner.to_owned(),
            repository: repository.to_owned(),
            status: STATUS_QUEUED.to_owned(),
            conclusion: None,
            run_attempt: 1,
            reruns: 0,
        }
    }

    fn is_completed(&self) -> bool {
        self.status == STATUS_COMPLETED
    }
}

const STATUS_QUEUED: &str = "queued";
const STATUS_COMPLETED: &str = "completed";

impl State {
    /// A run of `owner/repository` (names compared case-insensitively, as GitHub does).
    pub fn workflow_run(
        &self,
        owner: &str,
        repository: &str,
        id: u64,
    ) -> Result<WorkflowRun, Fail> {
        self.runs
            .get(&id)
            .filter(|r| {
                r.owner.eq_ignore_ascii_case(owner) && r.repository.eq_ignore_ascii_case(repository)
            })
            .cloned()
            .ok_or(Fail::RunNotFound(id))
    }

    /// Completes a run with `conclusion` (control API); its jobs are left as they are.
    pub fn complete_run(&mut self, id: u64, conclusion: &str) -> Result<WorkflowRun, Fail> {
        let run = self.runs.get_mut(&id).ok_or(Fail::RunNotFound(id))?;
        run.status = STATUS_COMPLETED.to_owned();
        run.conclusion = Some(conclusion.to_owned());
        Ok(run.clone())
    }

    /// Re-runs the failed jobs of a completed run that did not succeed: the next attempt
    /// starts `queued`, and each job of the finished attempt that did not succeed is queued
    /// again under new ids. A run not completed, or one that succeeded, cannot be re-run.
    pub fn rerun_failed_jobs(
        &mut self,
        owner: &str,
        repository: &str,
        id: u64,
        now: DateTime<Utc>,
    ) -> Result<WorkflowRun, Fail> {
        let run = self.workflow_run(owner, repository, id)?;
        if !run.is_completed() || run.conclusion.as_deref() == Some("success") {
            return Err(Fail::RunNotRerunnable(id));
        }
        let failed: Vec<JobSpec> = self
            .jobs
            .values()
            .filter(|j| j.workflow_run_id == id && j.run_attempt == run.run_attempt)
            .filter(|j| {
                j.state == JobState::Completed && j.result.as_deref() != Some(RESULT_SUCCEEDED)
            })
            .map(|j| JobSpec {
                labels: j.request_labels.clone(),
                scale_set_id: j.pinned_scale_set_id,
                duration_ms: j.duration.map(|d| d.as_millis() as u64),
                repository_name: Some(j.repository_name.clone()),
                owner_name: Some(j.owner_name.clone()),
                job_workflow_ref: Some(j.job_workflow_ref.clone()),
                job_display_name: Some(j.job_display_name.clone()),
                event_name: Some(j.event_name.clone()),
                workflow_run_id: Some(id),
            })
            .collect();
        let run = self.runs.get_mut(&id).ok_or(Fail::RunNotFound(id))?;
        run.status = STATUS_QUEUED.to_owned();
        run.conclusion = None;
        run.run_attempt += 1;
        run.reruns += 1;
        let run = run.clone();
        for spec in failed {
            self.enqueue_job(spec, now)?;
        }
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::FakeOptions;
    use crate::state::StateConfig;

    fn state() -> State {
        State::new(StateConfig {
            options: FakeOptions::for_tests(),
            base_url: "http://127.0.0.1:1".into(),
        })
    }

    fn job(state: &mut State, run: Option<u64>) -> u64 {
        let spec = JobSpec {
            workflow_run_id: run,
            owner_name: Some("octo-org".into()),
            repository_name: Some("octo-repo".into()),
            ..JobSpec::with_labels(["linux"])
        };
        state
            .enqueue_job(spec, Utc::now())
            .unwrap()
            .runner_request_id
    }

    #[test]
    fn a_job_opens_its_run_and_jobs_may_share_one() {
        let mut state = state();
        let first = job(&mut state, None);
        let run_id = state.job(first).unwrap().workflow_run_id;
        job(&mut state, Some(run_id));
        let run = state.workflow_run("Octo-Org", "OCTO-REPO", run_id).unwrap();
        assert_eq!((run.status.as_str(), run.run_attempt), ("queued", 1));
        assert_eq!(state.snapshot(Utc::now()).runs.len(), 1);
        assert_eq!(
            state.workflow_run("someone", "octo-repo", run_id),
            Err(Fail::RunNotFound(run_id))
        );
    }

    #[test]
    fn only_a_completed_run_that_did_not_succeed_is_re_run() {
        let mut state = state();
        let id = job(&mut state, None);
        let run_id = state.job(id).unwrap().workflow_run_id;
        let now = Utc::now();
        let refused = state.rerun_failed_jobs("octo-org", "octo-repo", run_id, now);
        assert_eq!(refused, Err(Fail::RunNotRerunnable(run_id)));
        state.complete_run(run_id, "success").unwrap();
        let refused = state.rerun_failed_jobs("octo-org", "octo-repo", run_id, now);
        assert_eq!(refused, Err(Fail::RunNotRerunnable(run_id)));

        state.complete_run(run_id, "failure").unwrap();
        let run = state
            .rerun_failed_jobs("octo-org", "octo-repo", run_id, now)
            .unwrap();
        assert_eq!(
            (
                run.status.as_str(),
                run.conclusion,
                run.run_attempt,
                run.reruns
            ),
            ("queued", None, 2, 1)
        );
    }

    #[test]
    fn a_re_run_queues_again_the_jobs_of_the_attempt_that_did_not_succeed() {
        let mut state = state();
        let now = Utc::now();
        let failed = job(&mut state, None);
        let run_id = state.job(failed).unwrap().workflow_run_id;
        let passed = job(&mut state, Some(run_id));
        state.cancel_job(failed, now).unwrap();
        state.finish_job(passed, RESULT_SUCCEEDED, now);
        state.complete_run(run_id, "failure").unwrap();
        state
            .rerun_failed_jobs("octo-org", "octo-repo", run_id, now)
            .unwrap();
        let again: Vec<_> = state
            .snapshot(now)
            .jobs
            .into_iter()
            .filter(|j| j.run_attempt == 2)
            .collect();
        assert_eq!(again.len(), 1, "{again:?}");
        assert_eq!(again[0].workflow_run_id, run_id);
        assert_eq!(
            again[0].job_display_name,
            state.job(failed).unwrap().job_display_name
        );
        assert_ne!(again[0].runner_request_id, failed);
    }
}
