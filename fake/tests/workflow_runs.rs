//! Workflow runs on the GitHub side (docs/protocol.md §19): reading a run, re-running its
//! failed jobs, credentials and faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ghaec2_fake::endpoints::{RERUN_FAILED_JOBS, WORKFLOW_RUN};
use ghaec2_fake::{DEFAULT_PAT, FakeOptions, FakeServer, Fault, JobSpec, JobState};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn run_url(fake: &FakeServer, owner: &str, repo: &str, run: &str) -> String {
    format!(
        "{}/api/v3/repos/{owner}/{repo}/actions/runs/{run}",
        fake.base_url()
    )
}

async fn call(method: Method, url: &str, credential: Option<&str>) -> reqwest::Response {
    let mut request = http()
        .request(method, url)
        .header("Accept", "application/vnd.github+json");
    if let Some(credential) = credential {
        request = request.bearer_auth(credential);
    }
    request.send().await.unwrap()
}

async fn get_run(fake: &FakeServer, run: u64) -> reqwest::Response {
    let url = run_url(fake, "octo-org", "octo-repo", &run.to_string());
    call(Method::GET, &url, Some(DEFAULT_PAT)).await
}

async fn rerun(fake: &FakeServer, run: u64) -> reqwest::Response {
    let url = run_url(
        fake,
        "octo-org",
        "octo-repo",
        &format!("{run}/rerun-failed-jobs"),
    );
    call(Method::POST, &url, Some(DEFAULT_PAT)).await
}

fn spec() -> JobSpec {
    JobSpec {
        owner_name: Some("octo-org".into()),
        repository_name: Some("octo-repo".into()),
        ..JobSpec::with_labels(["set"])
    }
}

async fn message(response: reqwest::Response) -> String {
    body_json(response).await["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_run_is_read_with_the_credential_in_its_own_repository_only() {
    let fake = start(FakeOptions::for_tests()).await;
    let run = fake.enqueue_job(spec()).unwrap().workflow_run_id;

    let response = get_run(&fake, run).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("X-GitHub-Request-Id"));
    let body: Value = body_json(response).await;
    assert_eq!(body["id"], run);
    assert_eq!(body["status"], "queued");
    assert_eq!(body["conclusion"], Value::Null);
    assert_eq!(body["run_attempt"], 1);
    assert_eq!(body["repository"]["full_name"], "octo-org/octo-repo");

    let url = run_url(&fake, "octo-org", "octo-repo", &run.to_string());
    for credential in [None, Some("ghp_not-a-known-token")] {
        let response = call(Method::GET, &url, credential).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{credential:?}"
        );
    }
    for url in [
        run_url(&fake, "someone", "octo-repo", &run.to_string()),
        run_url(&fake, "octo-org", "octo-repo", "999999"),
        run_url(&fake, "octo-org", "octo-repo", "latest"),
    ] {
        let response = call(Method::GET, &url, Some(DEFAULT_PAT)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{url}");
        assert_eq!(message(response).await, "Not Found");
    }
    assert_eq!(fake.calls_to(WORKFLOW_RUN).len(), 6);
}

#[tokio::test]
async fn failed_jobs_are_re_run_once_the_run_completed_as_a_new_attempt() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "octo-org").await;
    admin.create_scale_set("set").await;
    let failed = fake.enqueue_job(spec()).unwrap();
    let run = failed.workflow_run_id;
    let passed = fake
        .enqueue_job(JobSpec {
            workflow_run_id: Some(run),
            ..spec()
        })
        .unwrap();

    let response = rerun(&fake, run).await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "not completed yet"
    );
    assert_eq!(message(response).await, "This workflow run cannot be rerun");

    fake.cancel_job(failed.runner_request_id).unwrap();
    fake.cancel_job(passed.runner_request_id).unwrap();
    let completed = http()
        .post(format!("{}/_fake/runs/{run}/complete", fake.base_url()))
        .json(&json!({"conclusion": "failure"}))
        .send()
        .await
        .unwrap();
    assert_eq!(completed.status(), StatusCode::OK);
    assert_eq!(body_json(completed).await["conclusion"], "failure");

    let response = rerun(&fake, run).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = body_json(get_run(&fake, run).await).await;
    assert_eq!(
        (&body["status"], &body["conclusion"], &body["run_attempt"]),
        (&json!("queued"), &Value::Null, &json!(2))
    );
    let again: Vec<_> = fake
        .state()
        .jobs
        .into_iter()
        .filter(|j| j.workflow_run_id == run && j.run_attempt == 2)
        .collect();
    assert_eq!(
        again.len(),
        2,
        "both cancelled jobs queued again: {again:?}"
    );
    assert!(
        again.iter().all(|j| j.state != JobState::Queued),
        "offered to the scale set: {again:?}"
    );

    let response = rerun(&fake, run).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "attempt 2 runs");
    assert_eq!(fake.calls_to(RERUN_FAILED_JOBS).len(), 3);
    assert_eq!(fake.workflow_run(run).unwrap().reruns, 1);
}

#[tokio::test]
async fn a_succeeded_run_is_not_re_run() {
    let fake = start(FakeOptions::for_tests()).await;
    let run = fake.enqueue_job(spec()).unwrap().workflow_run_id;
    fake.complete_run(run, "success").unwrap();
    let response = rerun(&fake, run).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(fake.workflow_run(run).unwrap().run_attempt, 1);
}

#[tokio::test]
async fn both_endpoints_take_faults_and_a_refused_rerun_changes_nothing() {
    let fake = start(FakeOptions::for_tests()).await;
    let run = fake.enqueue_job(spec()).unwrap().workflow_run_id;
    fake.complete_run(run, "failure").unwrap();
    fake.add_fault(Fault::github_forbidden(RERUN_FAILED_JOBS, 1));
    fake.add_fault(Fault::burst_5xx(WORKFLOW_RUN, 1));

    let response = rerun(&fake, run).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        message(response).await,
        "Resource not accessible by personal access token"
    );
    assert_eq!(fake.workflow_run(run).unwrap().run_attempt, 1);
    assert_eq!(
        get_run(&fake, run).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    assert_eq!(rerun(&fake, run).await.status(), StatusCode::CREATED);
    assert_eq!(get_run(&fake, run).await.status(), StatusCode::OK);
    assert_eq!(fake.workflow_run(run).unwrap().run_attempt, 2);
}
