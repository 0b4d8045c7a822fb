//! The client under the fake's faults: retries, the errors users know (docs/design.md §5), session
//! faults, malformed answers and secret hygiene in error messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ghaec2::actions::ActionsError;
use ghaec2_fake::{Fault, FaultAction, JobSpec};
use reqwest::StatusCode;
use support::fake::{client, client_with, fake, pat};

const POLL: Duration = Duration::from_secs(5);

#[tokio::test]
async fn seed_errors_are_worded_as_users_know_them() {
    let cases: [(Fault, &str); 4] = [
        (
            Fault::runner_registration_status(404, 1),
            "Actions Service not available on this GitHub Enterprise Server. Please ensure you have a compatible version that supports the Actions Service API. Status: 404",
        ),
        (
            Fault::registration_token_forbidden(1),
            "failed to get registration token: Actions API error (status: 403)",
        ),
        (
            Fault::runner_registration_html(1),
            "Actions Service endpoint returned invalid response",
        ),
        (
            Fault::runner_registration_missing_fields(1),
            "Actions Service endpoint returned invalid response",
        ),
    ];
    for (fault, message) in cases {
        let fake = fake().await;
        fake.add_fault(fault);
        let error = client(&fake, &pat()).admin_connection().await.unwrap_err();
        assert_eq!(error.to_string(), message);
    }
}

#[tokio::test]
async fn runner_registration_retries_401_and_403() {
    for status in [401, 403] {
        let fake = fake().await;
        fake.add_fault(Fault::runner_registration_status(status, 2));
        client(&fake, &pat()).admin_connection().await.unwrap();
        assert_eq!(
            fake.calls_to("runner-registration").len(),
            3,
            "status {status}"
        );
    }
}

#[tokio::test]
async fn server_errors_are_retried_four_times() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    client.admin_connection().await.unwrap();

    fake.add_fault(Fault::burst_5xx("scale-sets.list", 4));
    assert!(client.scale_set_by_name(1, "x").await.unwrap().is_none());
    assert_eq!(fake.calls_to("scale-sets.list").len(), 5);

    fake.reset_calls();
    fake.add_fault(Fault::burst_5xx("scale-sets.list", 5));
    let error = client.scale_set_by_name(1, "x").await.unwrap_err();
    assert!(error.has_status(StatusCode::SERVICE_UNAVAILABLE), "{error}");
    assert!(error.is_retryable());
    assert_eq!(fake.calls_to("scale-sets.list").len(), 5);

    fake.reset_calls();
    fake.add_fault(Fault::status("scale-sets.list", 1, 501));
    client.scale_set_by_name(1, "x").await.unwrap_err();
    assert_eq!(
        fake.calls_to("scale-sets.list").len(),
        1,
        "501 is not retried"
    );
}

#[tokio::test]
async fn throttling_honours_retry_after() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    client.admin_connection().await.unwrap();
    fake.add_fault(Fault::too_many_requests("scale-sets.list", 1, 1));
    let started = std::time::Instant::now();
    client.scale_set_by_name(1, "x").await.unwrap();
    let calls = fake.calls_to("scale-sets.list");
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    // The fast test policy waits milliseconds; only Retry-After explains a second.
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_403_rate_limit_is_waited_out_and_a_403_refusal_is_not() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    client.admin_connection().await.unwrap();
    let forbidden = |json: serde_json::Value, retry_after_secs| {
        Fault::new(
            "scale-sets.list",
            1,
            FaultAction::Status {
                status: 403,
                json: Some(json),
                text: None,
                retry_after_secs,
            },
        )
    };
    // GitHub's secondary rate limit, by its body alone, and a 403 with Retry-After.
    fake.add_fault(forbidden(
        serde_json::json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}),
        None,
    ));
    client.scale_set_by_name(1, "x").await.unwrap();
    fake.add_fault(forbidden(
        serde_json::json!({"message": "slow down"}),
        Some(1),
    ));
    client.scale_set_by_name(1, "x").await.unwrap();
    let statuses: Vec<u16> = fake
        .calls_to("scale-sets.list")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![403, 200, 403, 200]);

    // A refusal is answered at once, not retried.
    fake.add_fault(forbidden(
        serde_json::json!({"message": "Resource not accessible by integration"}),
        None,
    ));
    let error = client.scale_set_by_name(1, "x").await.unwrap_err();
    assert!(error.to_string().contains("403"), "{error}");
    assert_eq!(fake.calls_to("scale-sets.list").len(), 5);
}

#[tokio::test]
async fn html_from_the_actions_service_is_a_typed_error() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    client.admin_connection().await.unwrap();
    fake.add_fault(Fault::html("scale-sets.list", 1, 200));
    let error = client.scale_set_by_name(1, "x").await.unwrap_err();
    assert!(matches!(error, ActionsError::Decode { .. }), "{error:?}");
    fake.add_fault(Fault::html("scale-sets.list", 1, 404));
    let error = client.scale_set_by_name(1, "x").await.unwrap_err();
    assert!(error.to_string().contains("HTML page"), "{error}");
}

#[tokio::test]
async fn empty_poll_body_and_empty_queue_url_are_typed_errors() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "empty", &[]).await.unwrap();
    fake.add_fault(Fault::empty_message_queue_url(1));
    let error = client.create_session(set.id, "me").await.unwrap_err();
    assert!(error.to_string().contains("messageQueueUrl"), "{error}");

    let set = client.create_scale_set(1, "empty-poll", &[]).await.unwrap();
    let mut session = client.create_session(set.id, "me").await.unwrap();
    fake.add_fault(Fault::empty_message(1));
    let error = client
        .get_message(&mut session, 0, 1, POLL)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ActionsError::Decode {
                what: "get message",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn refresh_404_means_the_session_is_gone() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "gone", &[]).await.unwrap();
    let mut session = client.create_session(set.id, "me").await.unwrap();
    fake.expire_mq_tokens();
    fake.add_fault(Fault::session_refresh_not_found(1));
    let error = client
        .get_message(&mut session, 0, 1, POLL)
        .await
        .unwrap_err();
    assert!(error.is_session_gone(), "{error}");
}

#[tokio::test]
async fn stale_session_and_deleted_scale_set() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "stale", &[]).await.unwrap();
    fake.create_stale_session(set.id as u64, Some("crashed-host"), None)
        .unwrap();
    let conflict = client.create_session(set.id, "me").await.unwrap_err();
    assert!(
        conflict.is_exception("RunnerScaleSetSessionConflictException"),
        "{conflict}"
    );

    fake.delete_scale_set(set.id as u64).unwrap();
    let gone = client.create_session(set.id, "me").await.unwrap_err();
    assert!(
        gone.is_exception("RunnerScaleSetNotFoundException"),
        "{gone}"
    );
    assert!(gone.has_status(StatusCode::NOT_FOUND));
}

#[tokio::test]
async fn a_hung_response_times_out_per_attempt() {
    let fake = fake().await;
    let client = client_with(&fake, &pat(), Duration::from_millis(200));
    client.admin_connection().await.unwrap();
    fake.add_fault(Fault::delay("scale-sets.list", 1, 1000));
    // One slow attempt, then a normal one.
    assert!(client.scale_set_by_name(1, "x").await.unwrap().is_none());
    fake.add_fault(Fault::delay("scale-sets.list", 5, 1000));
    let error = client.scale_set_by_name(1, "x").await.unwrap_err();
    assert!(
        matches!(error, ActionsError::Transport { attempts: 5, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn no_error_message_carries_a_secret() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "secret", &[]).await.unwrap();
    let mut session = client.create_session(set.id, "me").await.unwrap();
    let jit = client
        .generate_jit_config(set.id, "secret-1", "_work")
        .await
        .unwrap();
    let admin = client.admin_connection().await.unwrap();
    fake.enqueue_job(JobSpec::with_labels(["secret"])).unwrap();

    let mut errors: Vec<String> = Vec::new();
    fake.expire_mq_tokens();
    fake.add_fault(Fault::session_refresh_not_found(1));
    errors.push(
        client
            .get_message(&mut session, 0, 1, POLL)
            .await
            .unwrap_err()
            .to_string(),
    );
    errors.push(
        client
            .create_session(set.id, "again")
            .await
            .unwrap_err()
            .to_string(),
    );
    errors.push(
        client
            .generate_jit_config(0, "secret-1", "_work")
            .await
            .unwrap_err()
            .to_string(),
    );
    fake.add_fault(Fault::registration_token_forbidden(1));
    let fresh = support::fake::client(&fake, &pat());
    errors.push(fresh.admin_connection().await.unwrap_err().to_string());

    use secrecy::ExposeSecret;
    let secrets = [
        ghaec2_fake::DEFAULT_PAT.to_owned(),
        admin.token().expose_secret().to_owned(),
        session.queue_token().unwrap().expose_secret().to_owned(),
        jit.encoded_jit_config.clone(),
    ];
    for error in &errors {
        for secret in &secrets {
            assert!(!error.contains(secret.as_str()), "{error}");
        }
    }
    let debug = format!("{session:?} {admin:?} {jit:?}");
    for secret in &secrets {
        assert!(!debug.contains(secret.as_str()), "{debug}");
    }
}
