//! Message queue (docs/protocol.md §9): long poll, 202, redelivery, 50-event batches,
//! ids across sessions, acknowledgements, header and token checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use ghaec2_fake::{FakeOptions, JobSpec};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn empty_poll_is_held_then_202_and_wakes_on_events() {
    let fake = start(FakeOptions {
        poll_hold: Duration::from_secs(30),
        ..FakeOptions::for_tests()
    })
    .await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let session = admin.session(id).await;
    let poll = tokio::spawn({
        let session = session.clone();
        async move { session.message(0, 5).await }
    });
    // The poll is held (hold is 30 s); a job wakes it long before.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!poll.is_finished(), "held while empty");
    fake.enqueue_job(JobSpec::with_labels(["set"])).unwrap();
    let (_, events, _) = tokio::time::timeout(SHORT, poll).await.unwrap().unwrap();
    assert_eq!(types(&events), ["JobAvailable"]);
    fake.shutdown().await;

    let fake = start(FakeOptions {
        poll_hold: Duration::from_millis(100),
        ..FakeOptions::for_tests()
    })
    .await;
    let admin = common::admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let response = admin.session(id).await.poll(0, 5).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(response.bytes().await.unwrap().is_empty());
    fake.shutdown().await;
}

#[tokio::test]
async fn unacked_messages_are_redelivered_and_batches_are_truncated_at_fifty() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let session = admin.session(id).await;
    for _ in 0..120 {
        fake.enqueue_job(JobSpec::with_labels(["set"])).unwrap();
    }
    let (m1, events, stats) = session.message(0, 200).await;
    assert_eq!(events.len(), 50);
    assert_eq!(stats["totalAvailableJobs"], 120);
    let (again, _, _) = session.message(0, 200).await;
    assert_eq!(again, m1, "unacknowledged ⇒ redelivered");
    let (m2, events, _) = session.message(m1, 200).await;
    assert_eq!((m2, events.len()), (m1 + 1, 50));
    let (m3, events, _) = session.message(m2, 200).await;
    assert_eq!((m3, events.len()), (m2 + 1, 20));
    for m in [m1, m2, m3] {
        assert_eq!(session.ack(m).await.status(), StatusCode::NO_CONTENT);
    }
    let unknown = session.ack(m1).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(body_json(unknown).await["typeName"].is_string());
    fake.shutdown().await;
}

#[tokio::test]
async fn message_ids_keep_increasing_across_sessions() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let first = admin.session(id).await;
    fake.enqueue_job(JobSpec::with_labels(["set"])).unwrap();
    let (m1, _, _) = first.message(0, 1).await;
    // Crash without ack: the next session sees the same message, then newer ids.
    admin
        .call(
            Method::DELETE,
            &format!("_apis/runtime/runnerscalesets/{id}/sessions/{}", first.id),
            None,
        )
        .await;
    let second = admin.session(id).await;
    assert_eq!(second.message(0, 1).await.0, m1);
    assert_eq!(second.ack(m1).await.status(), StatusCode::NO_CONTENT);
    fake.enqueue_job(JobSpec::with_labels(["set"])).unwrap();
    assert_eq!(second.message(m1, 1).await.0, m1 + 1);
    fake.shutdown().await;
}

#[tokio::test]
async fn polls_check_accept_query_and_token() {
    let fake = start(FakeOptions::for_tests()).await;
    let admin = admin(&fake, "org").await;
    let id = admin.create_scale_set("set").await["id"].as_u64().unwrap();
    let session = admin.session(id).await;

    let no_accept = session
        .http
        .get(&session.queue_url)
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        no_accept.status(),
        StatusCode::BAD_REQUEST,
        "api-version travels in Accept"
    );
    let without_query = session.queue_url.split('?').next().unwrap().to_owned();
    let lost = session
        .http
        .get(&without_query)
        .bearer_auth(&session.token)
        .header("Accept", ACCEPT_MQ)
        .send()
        .await
        .unwrap();
    assert_eq!(
        lost.status(),
        StatusCode::BAD_REQUEST,
        "the queue URL's query must be kept"
    );
    let admin_token = session
        .http
        .get(&session.queue_url)
        .bearer_auth(&admin.token)
        .header("Accept", ACCEPT_MQ)
        .send()
        .await
        .unwrap();
    assert_eq!(
        admin_token.status(),
        StatusCode::UNAUTHORIZED,
        "the admin token is not an MQ token"
    );

    assert_eq!(fake.expire_mq_tokens(), 1);
    let expired = session.poll(0, 1).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert!(
        expired.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(expired.headers().contains_key("ActivityId"));
    assert_eq!(session.ack(1).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        session.acquire(&admin, id, &[1]).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Refresh ⇒ a new token on the same session works again.
    let refreshed = body_json(
        admin
            .call(
                Method::PATCH,
                &format!("_apis/runtime/runnerscalesets/{id}/sessions/{}", session.id),
                None,
            )
            .await,
    )
    .await;
    let session = Session::from_json(session.http.clone(), &refreshed);
    assert_eq!(session.poll(0, 1).await.status(), StatusCode::ACCEPTED);
    let calls = fake.calls_to("messages.get");
    assert_eq!(calls.last().unwrap().max_capacity.as_deref(), Some("1"));
    assert_eq!(calls.last().unwrap().accept.as_deref(), Some(ACCEPT_MQ));
    fake.shutdown().await;
}
