//! Workflow runs on the GitHub REST API against the fake (docs/protocol.md §19): the client's
//! calls, how their refusals read, and the rerun decision (src/rerun.rs) over them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::Utc;
use ghaec2::actions::{ActionsError, WorkflowRun};
use ghaec2::config::Credential;
use ghaec2::ports::RerunRecord;
use ghaec2::rerun::{RerunStep, next_step};
use ghaec2_fake::endpoints::{RERUN_FAILED_JOBS, WORKFLOW_RUN};
use ghaec2_fake::{AppOptions, FakeOptions, FakeServer, Fault, JobSpec};
use reqwest::StatusCode;
use secrecy::SecretString;
use support::fake::{client, fake, pat, start};

const OWNER: &str = "my-org";
const REPO: &str = "octo-repo";

/// A job of `my-org/octo-repo` and the id of its run.
fn run_of_a_job(fake: &FakeServer) -> i64 {
    let job = fake
        .enqueue_job(JobSpec {
            owner_name: Some(OWNER.into()),
            repository_name: Some(REPO.into()),
            ..JobSpec::with_labels(["set"])
        })
        .unwrap();
    i64::try_from(job.workflow_run_id).unwrap()
}

fn fake_id(run: i64) -> u64 {
    u64::try_from(run).unwrap()
}

#[tokio::test]
async fn a_run_is_read_and_re_run_with_the_rest_headers() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let run = run_of_a_job(&fake);

    let read = client.workflow_run(OWNER, REPO, run).await.unwrap();
    assert_eq!(
        read,
        WorkflowRun {
            id: run,
            status: "queued".into(),
            conclusion: None,
            run_attempt: 1,
        }
    );
    fake.complete_run(fake_id(run), "failure").unwrap();
    client.rerun_failed_jobs(OWNER, REPO, run).await.unwrap();
    let again = client.workflow_run(OWNER, REPO, run).await.unwrap();
    assert_eq!((again.status.as_str(), again.run_attempt), ("queued", 2));

    let calls = [
        fake.calls_to(WORKFLOW_RUN),
        fake.calls_to(RERUN_FAILED_JOBS),
    ]
    .concat();
    assert_eq!(calls.len(), 3);
    for call in &calls {
        assert!(
            call.path
                .starts_with(&format!("/api/v3/repos/{OWNER}/{REPO}/actions/runs/{run}")),
            "{call:?}"
        );
        assert_eq!(call.auth_scheme.as_deref(), Some("Bearer"));
        assert_eq!(call.accept.as_deref(), Some("application/vnd.github+json"));
        assert!(call.user_agent.as_deref().unwrap().starts_with("ghaec2/"));
    }
}

#[tokio::test]
async fn a_github_app_reads_and_re_runs_with_an_installation_token() {
    let options = FakeOptions::for_tests().with_app(AppOptions {
        app_id: "12345".into(),
        client_id: None,
        installation_id: 777,
        public_key_pem: support::fake::app_key("public"),
    });
    let fake = start(options).await;
    let app = Credential::App {
        app_id: "12345".into(),
        installation_id: 777,
        private_key_pem: SecretString::from(support::fake::app_key("private")),
    };
    let client = client(&fake, &app);
    let run = run_of_a_job(&fake);
    fake.complete_run(fake_id(run), "timed_out").unwrap();
    client.workflow_run(OWNER, REPO, run).await.unwrap();
    client.rerun_failed_jobs(OWNER, REPO, run).await.unwrap();
    assert_eq!(fake.calls_to("access-token").len(), 2);
    assert_eq!(fake.workflow_run(fake_id(run)).unwrap().reruns, 1);
}

#[tokio::test]
async fn refusals_say_what_is_missing_or_why_not() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let run = run_of_a_job(&fake);

    let running = client
        .rerun_failed_jobs(OWNER, REPO, run)
        .await
        .unwrap_err();
    assert!(
        matches!(running, ActionsError::RunNotRerunnable(_)),
        "{running:?}"
    );
    assert!(running.to_string().contains("cannot be rerun"), "{running}");

    fake.complete_run(fake_id(run), "failure").unwrap();
    fake.add_fault(Fault::github_forbidden(RERUN_FAILED_JOBS, 1));
    fake.add_fault(Fault::github_forbidden(WORKFLOW_RUN, 1));
    let errors = [
        client
            .rerun_failed_jobs(OWNER, REPO, run)
            .await
            .unwrap_err(),
        client.workflow_run(OWNER, REPO, run).await.unwrap_err(),
    ];
    for error in &errors {
        assert!(
            matches!(error, ActionsError::ActionsPermission(_)),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(text.contains("\"Actions: read and write\""), "{text}");
        assert!(
            text.contains("classic personal access token: repo scope"),
            "{text}"
        );
        assert!(!error.is_retryable(), "{text}");
        for secret in fake.issued_secrets() {
            assert!(!text.contains(&secret), "{text}");
        }
    }
    assert_eq!(fake.workflow_run(fake_id(run)).unwrap().run_attempt, 1);

    let elsewhere = client.workflow_run("someone", REPO, run).await.unwrap_err();
    assert!(elsewhere.has_status(StatusCode::NOT_FOUND), "{elsewhere}");
}

#[tokio::test]
async fn names_that_are_not_github_names_are_refused_before_any_call() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let cases = [
        ("my-org/../x", REPO, 1, "owner \"my-org/../x\""),
        (OWNER, "..", 1, "repository \"..\""),
        (OWNER, "repo?x=1", 1, "repository \"repo?x=1\""),
        (OWNER, REPO, 0, "run id 0"),
    ];
    for (owner, repo, run, named) in cases {
        for error in [
            client.workflow_run(owner, repo, run).await.unwrap_err(),
            client
                .rerun_failed_jobs(owner, repo, run)
                .await
                .unwrap_err(),
        ] {
            assert!(matches!(error, ActionsError::Protocol { .. }), "{error:?}");
            assert!(error.to_string().contains(named), "{error}");
        }
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[tokio::test]
async fn server_errors_are_retried() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let run = run_of_a_job(&fake);
    fake.complete_run(fake_id(run), "failure").unwrap();
    fake.add_fault(Fault::burst_5xx(WORKFLOW_RUN, 2));
    fake.add_fault(Fault::burst_5xx(RERUN_FAILED_JOBS, 2));
    client.workflow_run(OWNER, REPO, run).await.unwrap();
    client.rerun_failed_jobs(OWNER, REPO, run).await.unwrap();
    assert_eq!(fake.calls_to(RERUN_FAILED_JOBS).len(), 3);
    assert_eq!(fake.workflow_run(fake_id(run)).unwrap().reruns, 1);
}

/// The decision over the real calls: the attempt is noted first, the run is re-run once it
/// failed, and a re-run whose record was never dropped (a crash right after it) is seen as
/// done, not repeated.
#[tokio::test]
async fn the_decision_re_runs_a_failed_run_once_even_across_a_crash() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let run = run_of_a_job(&fake);
    let mut record = RerunRecord {
        run_id: run,
        owner: OWNER.into(),
        repository: REPO.into(),
        job_id: "job-1".into(),
        runner_name: "set-r1".into(),
        attempt: None,
        recorded_at: Utc::now(),
    };
    let mut steps = Vec::new();
    for finish in [false, true, false, false] {
        if finish {
            fake.complete_run(fake_id(run), "failure").unwrap();
        }
        let read = client.workflow_run(OWNER, REPO, run).await.unwrap();
        let step = next_step(&record, &read, Utc::now());
        match step {
            RerunStep::Note(attempt) => record.attempt = Some(attempt),
            // The record stays: the crash comes before it is dropped.
            RerunStep::Rerun => client.rerun_failed_jobs(OWNER, REPO, run).await.unwrap(),
            RerunStep::Wait | RerunStep::Done(_) => {}
        }
        steps.push(step);
    }
    assert!(
        matches!(
            steps.as_slice(),
            [
                RerunStep::Note(1),
                RerunStep::Rerun,
                RerunStep::Done(_),
                RerunStep::Done(_)
            ]
        ),
        "{steps:?}"
    );
    assert_eq!(fake.calls_to(RERUN_FAILED_JOBS).len(), 1);
}
