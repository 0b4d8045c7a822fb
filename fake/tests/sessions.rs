//! Scale sets and sessions (docs/protocol.md §7, §8): exclusivity, TTL, refresh, delete,
//! stale sessions, deleted scale sets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use ghaec2_fake::FakeOptions;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn scale_set_crud_by_name_id_and_duplicates() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "org").await;
    let set = admin.create_scale_set("linux").await;
    let id = set["id"].as_u64().unwrap();
    assert_eq!(set["runnerGroupName"], "Default");
    assert_eq!(set["labels"][0]["name"], "linux");
    assert_eq!(
        set["runnerSetting"]["disableUpdate"], true,
        "RunnerSetting accepted case-insensitively"
    );
    assert!(set["statistics"].is_object());

    let dup = admin
        .call(
            Method::POST,
            "_apis/runtime/runnerscalesets",
            Some(json!({"name": "linux", "runnerGroupId": 1})),
        )
        .await;
    assert_eq!(dup.status(), StatusCode::BAD_REQUEST);
    let error = body_json(dup).await;
    assert!(
        error["typeName"]
            .as_str()
            .unwrap()
            .contains("RunnerScaleSetExistsException")
    );
    assert_eq!(error["$id"], "1");

    let list = body_json(
        admin
            .call(
                Method::GET,
                "_apis/runtime/runnerscalesets?runnerGroupId=1&name=linux",
                None,
            )
            .await,
    )
    .await;
    assert_eq!(list["count"], 1);
    let none = body_json(
        admin
            .call(
                Method::GET,
                "_apis/runtime/runnerscalesets?runnerGroupId=1&name=nope",
                None,
            )
            .await,
    )
    .await;
    assert_eq!(none, json!({"count": 0, "value": []}));

    let patched = admin
        .call(
            Method::PATCH,
            &format!("_apis/runtime/runnerscalesets/{id}"),
            Some(json!({"name": "linux-2"})),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(body_json(patched).await["name"], "linux-2");
    let got = body_json(
        admin
            .call(
                Method::GET,
                &format!("_apis/runtime/runnerscalesets/{id}"),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(got["name"], "linux-2");
    assert_eq!(
        admin
            .call(
                Method::DELETE,
                &format!("_apis/runtime/runnerscalesets/{id}"),
                None
            )
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin
            .call(
                Method::GET,
                &format!("_apis/runtime/runnerscalesets/{id}"),
                None
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn one_live_session_per_scale_set() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let response = admin.create_session(id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(response).await;
    assert_eq!(body["ownerName"], "test-host");
    assert_eq!(body["runnerScaleSet"]["id"], id);
    assert!(body["statistics"]["totalAssignedJobs"].is_u64());
    assert_ne!(
        body["sessionId"], "00000000-0000-0000-0000-000000000000",
        "nil sessionId in the body is ignored"
    );

    let conflict = admin.create_session(id).await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let error = body_json(conflict).await;
    assert_eq!(
        error["typeName"],
        "GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionConflictException, GitHub.Actions.Runtime.WebApi"
    );
    assert_eq!(
        error["message"],
        "The actions runner scaleset set already has an active session."
    );

    let session_path = format!(
        "_apis/runtime/runnerscalesets/{id}/sessions/{}",
        body["sessionId"].as_str().unwrap()
    );
    let refreshed = body_json(admin.call(Method::PATCH, &session_path, None).await).await;
    assert_eq!(refreshed["sessionId"], body["sessionId"]);
    assert_ne!(
        refreshed["messageQueueAccessToken"],
        body["messageQueueAccessToken"]
    );

    assert_eq!(
        admin
            .call(Method::DELETE, &session_path, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let again = admin.call(Method::DELETE, &session_path, None).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(
        body_json(again).await["typeName"]
            .as_str()
            .unwrap()
            .contains("RunnerScaleSetSessionExpiredException")
    );
    let refresh = admin.call(Method::PATCH, &session_path, None).await;
    assert_eq!(refresh.status(), StatusCode::NOT_FOUND);
    assert!(
        body_json(refresh).await["typeName"]
            .as_str()
            .unwrap()
            .contains("RunnerAdminException")
    );
    assert_eq!(
        admin.create_session(id).await.status(),
        StatusCode::OK,
        "free again after delete"
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn idle_sessions_expire_and_polls_keep_them_alive() {
    let fake = start(FakeOptions {
        session_idle_ttl: Duration::from_millis(300),
        poll_hold: Duration::from_millis(100),
        ..FakeOptions::for_tests()
    })
    .await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let session = admin.session(id).await;
    for _ in 0..5 {
        assert_eq!(
            session.poll(0, 10).await.status(),
            StatusCode::ACCEPTED,
            "polls keep the session alive"
        );
    }
    assert_eq!(
        admin.create_session(id).await.status(),
        StatusCode::CONFLICT
    );
    let expired = fake
        .wait_for(SHORT, |s| s.sessions.iter().all(|s| !s.live).then_some(()))
        .await;
    assert!(expired.is_some());
    assert_eq!(
        session.poll(0, 10).await.status(),
        StatusCode::UNAUTHORIZED,
        "token of a dead session"
    );
    assert_eq!(admin.create_session(id).await.status(), StatusCode::OK);
    fake.shutdown().await;
}

#[tokio::test]
async fn stale_session_blocks_until_its_ttl() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let stale = fake
        .create_stale_session(id, None, Some(Duration::from_millis(200)))
        .unwrap();
    assert_eq!(stale.session.owner_name, ghaec2_fake::STALE_OWNER);
    assert_eq!(
        admin.create_session(id).await.status(),
        StatusCode::CONFLICT
    );
    let freed = fake
        .wait_for(SHORT, |s| s.sessions.iter().all(|s| !s.live).then_some(()))
        .await;
    assert!(freed.is_some());
    assert_eq!(admin.create_session(id).await.status(), StatusCode::OK);
    fake.shutdown().await;
}

#[tokio::test]
async fn sessions_of_a_server_deleted_scale_set_are_not_found() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let session = admin.session(id).await;
    fake.delete_scale_set(id).unwrap();
    let response = admin.create_session(id).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        body_json(response).await["typeName"]
            .as_str()
            .unwrap()
            .contains("RunnerScaleSetNotFoundException")
    );
    let refresh = admin
        .call(
            Method::PATCH,
            &format!("_apis/runtime/runnerscalesets/{id}/sessions/{}", session.id),
            None,
        )
        .await;
    assert_eq!(refresh.status(), StatusCode::NOT_FOUND);
    fake.shutdown().await;
}
