//! Fault injection, BOM, the call log, and the HTTP control API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use ghaec2_fake::{Bom, DEFAULT_PAT, FakeOptions, Fault};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn status_faults_count_down_and_do_not_commit() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "org").await;
    fake.add_fault(Fault::burst_5xx("scale-sets.create", 2));
    let body = json!({"name": "set", "runnerGroupId": 1});
    for _ in 0..2 {
        let response = admin
            .call(
                Method::POST,
                "_apis/runtime/runnerscalesets",
                Some(body.clone()),
            )
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("ActivityId"));
    }
    // The failed attempts committed nothing: the retry creates, it is not a duplicate.
    assert_eq!(
        admin
            .call(Method::POST, "_apis/runtime/runnerscalesets", Some(body))
            .await
            .status(),
        StatusCode::OK
    );
    let faulted: Vec<_> = fake
        .calls_to("scale-sets.create")
        .into_iter()
        .map(|c| (c.status, c.fault))
        .collect();
    assert_eq!(
        faulted,
        [
            (503, Some("status".to_owned())),
            (503, Some("status".to_owned())),
            (200, None)
        ]
    );

    fake.add_fault(Fault::too_many_requests("*", 1, 7));
    let response = admin
        .call(Method::GET, "_apis/runtime/runnergroups/", None)
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    fake.add_fault(Fault::status("agents.list", 1, 500));
    assert_eq!(
        admin
            .call(Method::GET, "_apis/distributedtask/pools/0/agents", None)
            .await
            .status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(fake.faults().is_empty());
    fake.shutdown().await;
}

#[tokio::test]
async fn runner_registration_faults() {
    let fake = start(FakeOptions::for_tests()).await;
    let reg = || async {
        body_json(registration_token(&fake, "orgs/o", DEFAULT_PAT).await).await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for code in [401u16, 403, 404] {
        fake.add_fault(Fault::runner_registration_status(code, 1));
        assert_eq!(
            runner_registration(&fake, &reg().await, &fake.config_url("o"))
                .await
                .status()
                .as_u16(),
            code
        );
    }
    fake.add_fault(Fault::runner_registration_html(1));
    let html = runner_registration(&fake, &reg().await, &fake.config_url("o")).await;
    assert_eq!(html.status(), StatusCode::OK);
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(html.text().await.unwrap().contains("<html"));
    fake.add_fault(Fault::runner_registration_missing_fields(1));
    let missing =
        body_json(runner_registration(&fake, &reg().await, &fake.config_url("o")).await).await;
    assert!(missing.get("url").is_none() && missing.get("token").is_none());
    fake.add_fault(Fault::registration_token_forbidden(1));
    assert_eq!(
        registration_token(&fake, "orgs/o", DEFAULT_PAT)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        runner_registration(&fake, &reg().await, &fake.config_url("o"))
            .await
            .status(),
        StatusCode::CREATED,
        "faults disarmed"
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn session_and_message_faults() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();

    fake.add_fault(Fault::session_conflict(1));
    assert_eq!(
        admin.create_session(id).await.status(),
        StatusCode::CONFLICT
    );
    fake.add_fault(Fault::empty_message_queue_url(1));
    let body = body_json(admin.create_session(id).await).await;
    assert_eq!(body["messageQueueUrl"], "");
    let path = format!(
        "_apis/runtime/runnerscalesets/{id}/sessions/{}",
        body["sessionId"].as_str().unwrap()
    );
    fake.add_fault(Fault::session_refresh_not_found(1));
    let refresh = admin.call(Method::PATCH, &path, None).await;
    assert_eq!(refresh.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(refresh).await["typeName"], "RunnerAdminException");
    let session = Session::from_json(
        admin.http.clone(),
        &body_json(admin.call(Method::PATCH, &path, None).await).await,
    );
    assert!(
        !session.queue_url.is_empty(),
        "the refresh restores the URL"
    );

    fake.add_fault(Fault::empty_message(1));
    let empty = session.poll(0, 1).await;
    assert_eq!(empty.status(), StatusCode::OK);
    assert!(empty.bytes().await.unwrap().is_empty());

    fake.add_fault(Fault::delay("messages.delete", 1, 150));
    fake.add_fault(Fault::html("messages.get", 1, 502));
    assert_eq!(session.poll(0, 1).await.status(), StatusCode::BAD_GATEWAY);
    let started = Instant::now();
    assert_eq!(
        session.ack(99).await.status(),
        StatusCode::NOT_FOUND,
        "delayed, then handled normally"
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
    fake.shutdown().await;
}

#[tokio::test]
async fn bom_prefixes_actions_json_only() {
    let fake = start(FakeOptions::for_tests().with_bom(Bom::Always)).await;
    let admin = admin(&fake, "org").await; // GitHub API JSON parsed fine: no BOM there.
    let response = admin
        .call(Method::GET, "_apis/runtime/runnergroups/", None)
        .await;
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let registration = registration_token(&fake, "orgs/org", DEFAULT_PAT)
        .await
        .bytes()
        .await
        .unwrap();
    assert!(registration.starts_with(b"{"));
    fake.shutdown().await;

    let fake = start(FakeOptions::for_tests().with_bom(Bom::EveryNth(2))).await;
    let admin = common::admin(&fake, "org").await;
    let mut with_bom = 0;
    for _ in 0..4 {
        let bytes = admin
            .call(Method::GET, "_apis/runtime/runnergroups/", None)
            .await
            .bytes()
            .await
            .unwrap();
        with_bom += usize::from(bytes.starts_with(b"\xEF\xBB\xBF"));
    }
    assert_eq!(with_bom, 2);
    fake.shutdown().await;
}

#[tokio::test]
async fn call_log_keeps_schemes_and_headers_never_tokens() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "org").await;
    admin
        .call(
            Method::GET,
            "_apis/runtime/runnergroups/?groupName=Default",
            None,
        )
        .await;
    let calls = fake.calls();
    let names: Vec<&str> = calls.iter().map(|c| c.endpoint.as_str()).collect();
    assert_eq!(
        names,
        ["registration-token", "runner-registration", "runner-groups"]
    );
    assert_eq!(calls[0].auth_scheme.as_deref(), Some("Bearer"));
    assert_eq!(calls[1].auth_scheme.as_deref(), Some("RemoteAuth"));
    assert_eq!(
        calls[2].query.as_deref(),
        Some("groupName=Default&api-version=6.0-preview")
    );
    assert_eq!(calls[2].user_agent.as_deref(), Some("ghaec2-fake-tests/1"));
    assert_eq!(
        calls[0].content_type.as_deref(),
        Some("application/vnd.github.v3+json")
    );
    let log = serde_json::to_string(&calls).unwrap();
    assert!(!log.contains(DEFAULT_PAT) && !log.contains(&admin.token));
    fake.reset_calls();
    assert!(fake.calls().is_empty());
    fake.shutdown().await;
}

#[tokio::test]
async fn http_control_api_drives_the_fake() {
    let fake = start(FakeOptions::for_tests()).await;
    let control = |path: &str| format!("{}/_fake/{path}", fake.base_url());
    let http = http();
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();

    let job: Value = http
        .post(control("jobs"))
        .json(&json!({"labels": ["set"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["state"], "available");
    let (_, encoded) = admin.jit(id, "runner-x").await;
    let session = admin.session(id).await;
    session
        .acquire(&admin, id, &[job["runnerRequestId"].as_u64().unwrap()])
        .await;
    let runner: Value = http
        .post(control("runners/connect"))
        .json(&json!({"encodedJITConfig": encoded}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (runner["status"].as_str(), runner["busy"].as_bool()),
        (Some("online"), Some(true))
    );
    let done: Value = http
        .post(control(&format!(
            "jobs/{}/complete",
            job["jobId"].as_str().unwrap()
        )))
        .json(&json!({"result": "failed"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["result"], "failed");
    let missing = http
        .post(control("jobs/424242/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.json::<Value>().await.unwrap()["error"].is_string());

    let fault = json!({"endpoint": "runner-groups", "times": 1, "action": {"kind": "status", "status": 502, "text": "bad gateway"}});
    assert_eq!(
        http.post(control("faults"))
            .json(&fault)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        http.get(control("faults"))
            .send()
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        http.delete(control("faults"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );

    http.delete(format!("{}/_apis/x", fake.base_url()))
        .send()
        .await
        .unwrap();
    let stale = http
        .post(control("sessions/stale"))
        .json(&json!({"scaleSetId": id, "ttlMs": 60000}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stale.status(),
        StatusCode::CONFLICT,
        "the listener's session is still live"
    );
    let expired: Value = http
        .post(control("tokens/expire"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(expired["expired"].as_u64().unwrap() >= 2);
    let state: Value = http
        .get(control("state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["scaleSets"][0]["statistics"]["totalAssignedJobs"], 0);
    assert_eq!(
        http.post(control(&format!("scale-sets/{id}/delete")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let calls: Vec<Value> = http
        .get(control("calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        calls
            .iter()
            .all(|c| !c["path"].as_str().unwrap().starts_with("/_fake")),
        "control calls are not logged"
    );
    assert!(calls.iter().any(|c| c["endpoint"] == "unknown"));
    assert_eq!(
        http.delete(control("calls")).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    fake.shutdown().await;
}
