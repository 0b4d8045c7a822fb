//! Job lifecycle over HTTP (docs/protocol.md §10–§12): GHES acquire flow, github.com
//! capacity, runners connecting with their JIT config, statistics, agents.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::*;
use ghaec2_fake::{FakeOptions, JobSpec, Mode};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn ghes_jobs_wait_in_available_until_acquired() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let session = admin.session(id).await;
    let job = fake.enqueue_job(JobSpec::with_labels(["SET"])).unwrap();
    let (m1, events, stats) = session.message(0, 10).await;
    assert_eq!(types(&events), ["JobAvailable"]);
    assert_eq!(events[0]["runnerRequestId"], job.runner_request_id);
    assert!(
        events[0]["acquireJobUrl"]
            .as_str()
            .unwrap()
            .contains("/acquirejobs")
    );
    assert_eq!(stats["totalAvailableJobs"], 1);
    assert_eq!(stats["totalAssignedJobs"], 0);
    session.ack(m1).await;

    let response = session
        .acquire(&admin, id, &[job.runner_request_id, 4242])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_json(response).await,
        serde_json::json!({"count": 1, "value": [job.runner_request_id]})
    );
    let (m2, events, stats) = session.message(m1, 10).await;
    assert_eq!(types(&events), ["JobAssigned"]);
    assert_eq!(
        (
            stats["totalAvailableJobs"].as_u64(),
            stats["totalAcquiredJobs"].as_u64(),
            stats["totalAssignedJobs"].as_u64()
        ),
        (Some(0), Some(1), Some(1))
    );
    assert_eq!(session.ack(m2).await.status(), StatusCode::NO_CONTENT);
    let empty = session.acquire(&admin, id, &[]).await;
    assert_eq!(
        body_json(empty).await,
        serde_json::json!({"count": 0, "value": []})
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn dotcom_assigns_only_up_to_the_polled_capacity() {
    let fake = start(FakeOptions::for_tests().with_mode(Mode::Dotcom)).await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let session = admin.session(id).await;
    assert_eq!(session.poll(0, 2).await.status(), StatusCode::ACCEPTED);
    let jobs: Vec<u64> = (0..4)
        .map(|_| {
            fake.enqueue_job(JobSpec::with_labels(["set"]))
                .unwrap()
                .runner_request_id
        })
        .collect();
    let (m1, events, stats) = session.message(0, 2).await;
    assert_eq!(types(&events), ["JobAssigned", "JobAssigned"]);
    assert_eq!(stats["totalAssignedJobs"], 2);
    assert_eq!(stats["totalAvailableJobs"], 0);
    // Raising the capacity on the next poll releases the rest.
    let (_, events, stats) = session.message(m1, 10).await;
    assert_eq!(types(&events), ["JobAssigned", "JobAssigned"]);
    assert_eq!(stats["totalAssignedJobs"], 4);
    assert_eq!(events[1]["runnerRequestId"], jobs[3]);
    fake.shutdown().await;
}

#[tokio::test]
async fn runner_connects_runs_the_job_and_is_removed() {
    let fake = start(FakeOptions::for_tests().with_mode(Mode::Dotcom)).await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let session = admin.session(id).await;
    let job = fake
        .enqueue_job(JobSpec {
            duration_ms: Some(100),
            ..JobSpec::with_labels(["set"])
        })
        .unwrap();
    let (m1, events, _) = session.message(0, 10).await;
    assert_eq!(types(&events), ["JobAssigned"]);
    assert_eq!(events[0]["runnerAssignTime"], "0001-01-01T00:00:00Z");

    let (runner_id, encoded) = admin.jit(id, "set-runner-1").await;
    let dup = admin
        .call(
            Method::POST,
            &format!("_apis/runtime/runnerscalesets/{id}/generatejitconfig"),
            Some(serde_json::json!({"name": "set-runner-1", "workFolder": ""})),
        )
        .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    assert!(
        body_json(dup).await["typeName"]
            .as_str()
            .unwrap()
            .contains("AgentExistsException")
    );
    let agent = body_json(
        admin
            .call(
                Method::GET,
                &format!("_apis/distributedtask/pools/0/agents/{runner_id}"),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(
        (agent["status"].as_str(), agent["busy"].as_bool()),
        (Some("offline"), Some(false))
    );

    // The JIT config is the runner's 3-file layout (docs/protocol.md §12.2).
    let files: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .unwrap(),
    )
    .unwrap();
    for file in [".runner", ".credentials", ".credentials_rsaparams"] {
        assert!(files[file].is_string(), "{file}");
    }
    let runner_file: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(files[".runner"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(runner_file["AgentId"], runner_id);
    assert_eq!(runner_file["ServerUrl"].as_str().unwrap(), admin.url);

    let connected = fake.connect_runner(&encoded).unwrap();
    assert_eq!((connected.status, connected.busy), ("online", true));
    let agent = body_json(
        admin
            .call(
                Method::GET,
                "_apis/distributedtask/pools/0/agents?agentName=set-runner-1",
                None,
            )
            .await,
    )
    .await;
    assert_eq!(
        (agent["count"].as_u64(), agent["value"][0]["busy"].as_bool()),
        (Some(1), Some(true))
    );
    let busy = admin
        .call(
            Method::DELETE,
            &format!("_apis/distributedtask/pools/0/agents/{runner_id}"),
            None,
        )
        .await;
    assert_eq!(busy.status(), StatusCode::BAD_REQUEST);
    assert!(
        body_json(busy).await["typeName"]
            .as_str()
            .unwrap()
            .contains("JobStillRunningException")
    );
    assert_eq!(
        admin
            .call(
                Method::DELETE,
                &format!("_apis/runtime/runnerscalesets/{id}"),
                None
            )
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    // The job completes by itself after its duration.
    let done = fake
        .wait_for(SHORT, |s| {
            s.jobs
                .iter()
                .find(|j| j.runner_request_id == job.runner_request_id && j.result.is_some())
                .cloned()
        })
        .await;
    assert_eq!(done.unwrap().result.as_deref(), Some("succeeded"));
    let (_, events, stats) = session.message(m1, 10).await;
    assert_eq!(types(&events), ["JobStarted", "JobCompleted"]);
    assert_eq!(events[0]["runnerId"], runner_id);
    assert_eq!(events[1]["runnerName"], "set-runner-1");
    assert_eq!(events[1]["result"], "succeeded");
    assert_ne!(events[1]["finishTime"], "0001-01-01T00:00:00Z");
    assert_eq!(
        stats["totalRegisteredRunners"], 0,
        "ephemeral runner removed"
    );
    assert_eq!(
        admin
            .call(
                Method::GET,
                &format!("_apis/distributedtask/pools/0/agents/{runner_id}"),
                None
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin
            .call(
                Method::DELETE,
                &format!("_apis/distributedtask/pools/0/agents/{runner_id}"),
                None
            )
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn statistics_follow_the_documented_semantics() {
    let fake = start(FakeOptions::for_tests().with_mode(Mode::Dotcom)).await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let jobs: Vec<u64> = (0..3)
        .map(|_| {
            fake.enqueue_job(JobSpec::with_labels(["set"]))
                .unwrap()
                .runner_request_id
        })
        .collect();
    let (_, idle_jit) = admin.jit(id, "r-a").await;
    let (_, busy_jit) = admin.jit(id, "r-b").await;
    fake.connect_runner(&busy_jit).unwrap();
    let s = fake.statistics(id);
    assert_eq!(
        (s.total_assigned_jobs, s.total_running_jobs),
        (3, 1),
        "assigned = waiting + running"
    );
    assert_eq!(
        (
            s.total_registered_runners,
            s.total_busy_runners,
            s.total_idle_runners
        ),
        (1, 1, 0),
        "only connected runners count"
    );
    fake.cancel_job(jobs[1]).unwrap();
    fake.cancel_job(jobs[2]).unwrap();
    fake.connect_runner(&idle_jit).unwrap();
    let s = fake.statistics(id);
    assert_eq!(
        (
            s.total_assigned_jobs,
            s.total_running_jobs,
            s.total_registered_runners,
            s.total_busy_runners,
            s.total_idle_runners
        ),
        (1, 1, 2, 1, 1)
    );
    assert_eq!(
        (s.total_available_jobs, s.total_acquired_jobs),
        (0, 0),
        "no acquire flow on github.com"
    );
    fake.succeed_job(jobs[0]).unwrap();
    let s = fake.statistics(id);
    assert_eq!(
        (
            s.total_assigned_jobs,
            s.total_registered_runners,
            s.total_idle_runners
        ),
        (0, 1, 1)
    );
    fake.shutdown().await;
}
