//! Workflow runs on the GitHub REST API (docs/protocol.md §19): read one, and re-run its failed
//! jobs, for `RERUN_INTERRUPTED_JOBS`. Both go to the API base of the config URL with the
//! configured credential, like the registration token (§3).

use chrono::Utc;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::client::ActionsClient;
use super::error::ActionsError;
use super::http::{Response, rate_limit_wait};

/// A workflow run as ghaec2 reads it; every other field of the answer is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowRun {
    /// Run id.
    pub id: i64,
    /// `queued`, `in_progress`, `completed`, … (`waiting`, `requested`, `pending`).
    pub status: String,
    /// Set once completed: `success`, `failure`, `cancelled`, `skipped`, `timed_out`, …
    #[serde(default)]
    pub conclusion: Option<String>,
    /// Attempt number, 1 for the first run; each re-run adds one. Absent reads as 1.
    #[serde(default = "first_attempt")]
    pub run_attempt: u32,
}

fn first_attempt() -> u32 {
    1
}

impl ActionsClient {
    /// `GET /repos/{owner}/{repo}/actions/runs/{run_id}`: 200 with the run. A 403 that is not a
    /// rate limit is [`ActionsError::ActionsPermission`]; a 404 (no such run, or a private
    /// repository the credential cannot see) is [`ActionsError::Api`] with its status.
    pub async fn workflow_run(
        &self,
        owner: &str,
        repo: &str,
        run_id: i64,
    ) -> Result<WorkflowRun, ActionsError> {
        let url = self.run_url(owner, repo, run_id, "")?;
        let response = self.authenticator().github_rest(Method::GET, &url).await?;
        if response.status != StatusCode::OK {
            return Err(refusal(&response, &Method::GET, &url));
        }
        response.json("workflow run")
    }

    /// `POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs`: 201 once GitHub
    /// has queued the run's failed jobs (and the jobs that depend on them) as a new attempt.
    /// A run GitHub will not re-run (not completed, too old, re-run too often) is
    /// [`ActionsError::RunNotRerunnable`]; a missing permission
    /// [`ActionsError::ActionsPermission`].
    pub async fn rerun_failed_jobs(
        &self,
        owner: &str,
        repo: &str,
        run_id: i64,
    ) -> Result<(), ActionsError> {
        let url = self.run_url(owner, repo, run_id, "/rerun-failed-jobs")?;
        let response = self.authenticator().github_rest(Method::POST, &url).await?;
        if !response.status.is_success() {
            return Err(refusal(&response, &Method::POST, &url));
        }
        Ok(())
    }

    /// The run's URL under the API base. Owner and repository come from job messages and
    /// become path segments, so anything that is not a GitHub name is refused rather than
    /// escaped: no escape would make it name a repository.
    fn run_url(
        &self,
        owner: &str,
        repo: &str,
        run_id: i64,
        suffix: &str,
    ) -> Result<Url, ActionsError> {
        let invalid = |problem: String| ActionsError::Protocol {
            what: "workflow run",
            problem,
        };
        if !is_owner_name(owner) {
            return Err(invalid(format!(
                "owner {owner:?} is not a GitHub account name (letters, digits, '-' and '_')"
            )));
        }
        if !is_repository_name(repo) {
            return Err(invalid(format!(
                "repository {repo:?} is not a GitHub repository name (letters, digits, '-', \
                 '_' and '.', not . or ..)"
            )));
        }
        if run_id <= 0 {
            return Err(invalid(format!(
                "run id {run_id} is not a workflow run id (a positive number)"
            )));
        }
        let config_url = self.authenticator().config_url();
        Ok(config_url.api_url(&format!(
            "repos/{owner}/{repo}/actions/runs/{run_id}{suffix}"
        )))
    }
}

/// The error of a refused workflow-run call. GitHub answers 403 both to a missing permission
/// and to a run it will not re-run; only the message tells them apart ("This workflow run
/// cannot be rerun", "Unable to retry this workflow run because it was created over a month
/// ago"). Any other 403 counts as a missing permission, which the caller keeps trying (and
/// logging) until it gives up, rather than dropping the rerun on a message it does not know.
/// A 403 that is a rate limit the HTTP layer could not wait out stays a plain, retryable
/// API error.
fn refusal(response: &Response, method: &Method, url: &Url) -> ActionsError {
    let error = Box::new(response.error(method, url));
    if response.status != StatusCode::FORBIDDEN
        || rate_limit_wait(&response.headers, &response.body, Utc::now()).is_some()
    {
        return ActionsError::Api(error);
    }
    let message = error.message.to_ascii_lowercase();
    let not_rerunnable = [
        "cannot be rerun",
        "cannot be re-run",
        "cannot be retried",
        "unable to retry",
    ];
    if not_rerunnable.iter().any(|m| message.contains(m)) {
        ActionsError::RunNotRerunnable(error)
    } else {
        ActionsError::ActionsPermission(error)
    }
}

/// A user or organization login: letters, digits and `-`; `_` too, which managed users'
/// logins carry (`name_shortcode`). At most 100 characters, well above GitHub's limits.
fn is_owner_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// A repository name: letters, digits, `-`, `_` and `.`, at most 100 characters, not `.` or
/// `..`.
fn is_repository_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::wire;

    #[test]
    fn a_run_reads_tolerantly() {
        let full = br#"{"id": 30433642, "name": "Build", "status": "completed",
            "conclusion": "failure", "run_attempt": 2, "run_number": 562,
            "repository": {"id": 1296269, "full_name": "octo-org/octo-repo"}}"#;
        assert_eq!(
            wire::decode::<WorkflowRun>(full).unwrap(),
            WorkflowRun {
                id: 30433642,
                status: "completed".into(),
                conclusion: Some("failure".into()),
                run_attempt: 2,
            }
        );
        let sparse = br#"{"id": 7, "status": "in_progress", "conclusion": null}"#;
        assert_eq!(
            wire::decode::<WorkflowRun>(sparse).unwrap(),
            WorkflowRun {
                id: 7,
                status: "in_progress".into(),
                conclusion: None,
                run_attempt: 1,
            }
        );
        let error = wire::decode::<WorkflowRun>(br#"{"id": 7}"#).unwrap_err();
        assert!(error.to_string().contains("status"), "{error}");
    }

    #[test]
    fn names_are_github_names() {
        for owner in ["octo-org", "a", "user_emu", "Org9"] {
            assert!(is_owner_name(owner), "{owner:?}");
        }
        for owner in ["", "a/b", "..", "a b", "a%2Fb", "é", &"o".repeat(101)] {
            assert!(!is_owner_name(owner), "{owner:?}");
        }
        for repo in ["repo", "my.repo", ".github", "a-b_c", "x"] {
            assert!(is_repository_name(repo), "{repo:?}");
        }
        for repo in ["", ".", "..", "a/b", "a?b", "a#b", "a b", &"r".repeat(101)] {
            assert!(!is_repository_name(repo), "{repo:?}");
        }
    }
}
