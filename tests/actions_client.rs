//! The Actions Service client against the fake: every endpoint of docs/protocol.md §3–§12.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ghaec2::actions::messages::JobMessage;
use ghaec2::actions::{RunnerRemoval, messages};
use ghaec2::config::Credential;
use ghaec2_fake::{AppOptions, Bom, FakeOptions, JobSpec, Mode};
use secrecy::SecretString;
use support::fake::{client, fake, pat, start};

const POLL: Duration = Duration::from_secs(5);

#[tokio::test]
async fn pat_token_chain_reaches_the_actions_service() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let admin = client.admin_connection().await.unwrap();
    assert!(admin.service_url.as_str().starts_with(fake.base_url()));
    assert!(admin.service_url.path().starts_with("/tenant/"));
    let registration = fake.calls_to("registration-token");
    assert_eq!(registration.len(), 1);
    assert_eq!(registration[0].auth_scheme.as_deref(), Some("Bearer"));
    assert_eq!(
        registration[0].content_type.as_deref(),
        Some("application/vnd.github.v3+json")
    );
    let remote = fake.calls_to("runner-registration");
    assert_eq!(remote[0].auth_scheme.as_deref(), Some("RemoteAuth"));
    assert!(
        remote[0]
            .user_agent
            .as_deref()
            .unwrap()
            .starts_with("ghaec2/")
    );
}

#[tokio::test]
async fn github_app_signs_a_jwt_and_exchanges_it() {
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
    client(&fake, &app).admin_connection().await.unwrap();
    let exchange = fake.calls_to("access-token");
    assert_eq!(exchange.len(), 1);
    assert_eq!(exchange[0].status, 201);
    assert_eq!(fake.calls_to("registration-token")[0].status, 201);

    let wrong_installation = Credential::App {
        app_id: "12345".into(),
        installation_id: 778,
        private_key_pem: SecretString::from(support::fake::app_key("private")),
    };
    let error = client(&fake, &wrong_installation)
        .admin_connection()
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("failed to get access token for GitHub App auth"),
        "{error}"
    );
}

#[tokio::test]
async fn admin_token_is_reused_until_a_minute_before_exp() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    for _ in 0..3 {
        client.scale_set_by_name(1, "nothing").await.unwrap();
    }
    assert_eq!(fake.calls_to("runner-registration").len(), 1);

    let mut short = FakeOptions::for_tests();
    short.admin_token_ttl = Duration::from_secs(30);
    let fake = start(short).await;
    let client = support::fake::client(&fake, &pat());
    for _ in 0..3 {
        client.scale_set_by_name(1, "nothing").await.unwrap();
    }
    // Within 60 s of exp on every call: a new admin connection each time (docs/protocol.md §4.3).
    assert_eq!(fake.calls_to("runner-registration").len(), 3);
}

#[tokio::test]
async fn runner_groups_default_is_one_without_a_call() {
    let mut options = FakeOptions::for_tests();
    options.extra_runner_groups = vec!["gpu".into()];
    let fake = start(options).await;
    let client = client(&fake, &pat());
    assert_eq!(client.runner_group_id("Default").await.unwrap(), 1);
    assert!(fake.calls_to("runner-groups").is_empty());
    assert_eq!(client.runner_group_id("gpu").await.unwrap(), 2);
    let missing = client.runner_group_id("nope").await.unwrap_err();
    assert_eq!(
        missing.to_string(),
        "runner groups: no runner group found with name \"nope\""
    );
}

#[tokio::test]
async fn scale_set_lifecycle() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    assert!(
        client
            .scale_set_by_name(1, "linux")
            .await
            .unwrap()
            .is_none()
    );
    let labels = vec!["x64".to_owned(), "linux".to_owned()];
    let created = client.create_scale_set(1, "linux", &labels).await.unwrap();
    let names: Vec<&str> = created.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, vec!["linux", "x64"]);
    assert!(created.labels.iter().all(|l| l.kind == "System"));
    let found = client.scale_set_by_name(1, "linux").await.unwrap().unwrap();
    assert_eq!(found.id, created.id);
    assert_eq!(client.scale_set(created.id).await.unwrap().name, "linux");

    let duplicate = client.create_scale_set(1, "linux", &[]).await.unwrap_err();
    assert!(
        duplicate.is_exception("RunnerScaleSetExistsException"),
        "{duplicate}"
    );

    let updated = client
        .update_scale_set(created.id, 1, "linux", &["arm64".to_owned()])
        .await
        .unwrap();
    assert!(updated.labels.iter().any(|l| l.name == "arm64"));
    client.delete_scale_set(created.id).await.unwrap();
    assert!(
        client
            .scale_set_by_name(1, "linux")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn sessions_are_exclusive_and_deletable() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "excl", &[]).await.unwrap();
    let session = client.create_session(set.id, "host-a").await.unwrap();
    assert_eq!(session.scale_set_id, set.id);
    assert_eq!(
        session.queue_url.query_pairs().count(),
        1,
        "{}",
        session.queue_url
    );

    let conflict = client.create_session(set.id, "host-b").await.unwrap_err();
    assert!(
        conflict.has_status(reqwest::StatusCode::CONFLICT),
        "{conflict}"
    );
    assert!(conflict.is_exception("RunnerScaleSetSessionConflictException"));

    client.delete_session(&session).await.unwrap();
    // Deleting again is fine: the session is already gone.
    client.delete_session(&session).await.unwrap();
    client.create_session(set.id, "host-b").await.unwrap();
}

#[tokio::test]
async fn dotcom_poll_ack_and_redelivery() {
    let fake = start(FakeOptions::for_tests().with_mode(Mode::Dotcom)).await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "dotcom", &[]).await.unwrap();
    let mut session = client.create_session(set.id, "me").await.unwrap();

    assert!(
        client
            .get_message(&mut session, 0, 10, POLL)
            .await
            .unwrap()
            .is_none(),
        "empty poll is 202"
    );
    fake.enqueue_job(JobSpec::with_labels(["dotcom"])).unwrap();
    let first = client
        .get_message(&mut session, 0, 10, POLL)
        .await
        .unwrap()
        .unwrap();
    let message = messages::parse(&first).unwrap();
    assert!(matches!(message.events[0], JobMessage::JobAssigned { .. }));
    assert_eq!(message.statistics.unwrap().total_assigned_jobs, 1);

    // Not acknowledged: delivered again.
    let again = client
        .get_message(&mut session, 0, 10, POLL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.message_id, first.message_id);
    client
        .delete_message(&mut session, first.message_id)
        .await
        .unwrap();
    assert!(
        client
            .get_message(&mut session, first.message_id, 10, POLL)
            .await
            .unwrap()
            .is_none()
    );

    let polls = fake.calls_to("messages.get");
    assert!(
        polls
            .iter()
            .all(|c| c.max_capacity.as_deref() == Some("10"))
    );
    assert!(
        polls
            .iter()
            .all(|c| c.accept.as_deref() == Some("application/json; api-version=6.0-preview"))
    );
    assert!(
        polls
            .iter()
            .any(|c| c.query.as_deref().unwrap_or("").contains("lastMessageId="))
    );
    assert!(
        !polls[0]
            .query
            .as_deref()
            .unwrap_or("")
            .contains("lastMessageId"),
        "not sent when 0"
    );
    let ack = &fake.calls_to("messages.delete")[0];
    assert!(ack.path.ends_with(&format!("/{}", first.message_id)));
    assert!(
        ack.query.as_deref().unwrap_or("").contains("tenant="),
        "queue URL query kept"
    );
}

#[tokio::test]
async fn ghes_jobs_are_acquired_with_the_queue_token() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "ghes", &[]).await.unwrap();
    let mut session = client.create_session(set.id, "me").await.unwrap();
    let job = fake.enqueue_job(JobSpec::with_labels(["ghes"])).unwrap();

    let envelope = client
        .get_message(&mut session, 0, 5, POLL)
        .await
        .unwrap()
        .unwrap();
    let message = messages::parse(&envelope).unwrap();
    let ids = messages::acquirable_ids(&message.events);
    assert_eq!(ids, vec![job.runner_request_id as i64]);
    let acquired = client.acquire_jobs(&mut session, &ids).await.unwrap();
    assert_eq!(acquired, ids);
    assert_eq!(
        fake.calls_to("acquirejobs")[0].auth_scheme.as_deref(),
        Some("Bearer")
    );
    client
        .delete_message(&mut session, envelope.message_id)
        .await
        .unwrap();

    let next = client
        .get_message(&mut session, envelope.message_id, 5, POLL)
        .await
        .unwrap()
        .unwrap();
    let message = messages::parse(&next).unwrap();
    assert!(matches!(message.events[0], JobMessage::JobAssigned { .. }));
    assert!(
        client
            .acquire_jobs(&mut session, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn more_than_fifty_events_span_messages() {
    let fake = start(FakeOptions::for_tests().with_mode(Mode::Dotcom)).await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "many", &[]).await.unwrap();
    let mut session = client.create_session(set.id, "me").await.unwrap();
    for _ in 0..60 {
        fake.enqueue_job(JobSpec::with_labels(["many"])).unwrap();
    }
    let first = client
        .get_message(&mut session, 0, 100, POLL)
        .await
        .unwrap()
        .unwrap();
    client
        .delete_message(&mut session, first.message_id)
        .await
        .unwrap();
    let second = client
        .get_message(&mut session, first.message_id, 100, POLL)
        .await
        .unwrap()
        .unwrap();
    let counts = [first, second].map(|e| messages::parse(&e).unwrap().events.len());
    assert_eq!(counts, [50, 10]);
}

#[tokio::test]
async fn expired_queue_token_refreshes_the_session_once() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "refresh", &[]).await.unwrap();
    let mut session = client.create_session(set.id, "me").await.unwrap();
    let id = session.id;
    fake.expire_mq_tokens();
    assert!(
        client
            .get_message(&mut session, 0, 1, POLL)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(session.id, id, "refresh keeps the session id");
    assert_eq!(fake.calls_to("sessions.refresh").len(), 1);

    fake.expire_mq_tokens();
    client.delete_message(&mut session, 999).await.unwrap_err();
    assert_eq!(fake.calls_to("sessions.refresh").len(), 2);
}

#[tokio::test]
async fn runners_jit_busy_refusal_and_ephemeral_removal() {
    let fake = start(FakeOptions::for_tests().with_mode(Mode::Dotcom)).await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "jit", &[]).await.unwrap();
    let mut session = client.create_session(set.id, "me").await.unwrap();
    let job = fake.enqueue_job(JobSpec::with_labels(["jit"])).unwrap();
    // Poll once so the service assigns the job (and learns our capacity).
    client.get_message(&mut session, 0, 5, POLL).await.unwrap();

    let jit = client
        .generate_jit_config(set.id, "jit-runner-1", "_work")
        .await
        .unwrap();
    assert_eq!(jit.runner.name, "jit-runner-1");
    assert_eq!(jit.runner.runner_scale_set_id, set.id);
    let registered = client.runner(jit.runner.id).await.unwrap().unwrap();
    assert!(!registered.is_online());
    assert_eq!(
        client
            .runner_by_name("jit-runner-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        jit.runner.id
    );
    assert!(client.runner_by_name("nobody").await.unwrap().is_none());

    fake.connect_runner(&jit.encoded_jit_config).unwrap();
    let busy = client.runner(jit.runner.id).await.unwrap().unwrap();
    assert!(busy.is_online() && busy.busy == Some(true));
    assert_eq!(
        client.remove_runner(jit.runner.id).await.unwrap(),
        RunnerRemoval::JobStillRunning
    );

    fake.succeed_job(job.runner_request_id).unwrap();
    assert!(
        client.runner(jit.runner.id).await.unwrap().is_none(),
        "ephemeral runner removed"
    );
    assert_eq!(
        client.remove_runner(jit.runner.id).await.unwrap(),
        RunnerRemoval::Removed
    );
}

#[tokio::test]
async fn agent_exists_is_recovered_for_our_own_runner() {
    let fake = fake().await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "dup", &[]).await.unwrap();
    let first = client
        .generate_jit_config(set.id, "dup-1", "_work")
        .await
        .unwrap();
    let second = client
        .generate_jit_config(set.id, "dup-1", "_work")
        .await
        .unwrap();
    assert_ne!(first.runner.id, second.runner.id);
    assert!(client.runner(first.runner.id).await.unwrap().is_none());

    let other = client.create_scale_set(1, "other", &[]).await.unwrap();
    let taken = client
        .generate_jit_config(other.id, "dup-1", "_work")
        .await
        .unwrap_err();
    assert!(taken.is_exception("AgentExistsException"), "{taken}");
}

#[tokio::test]
async fn byte_order_marks_are_stripped() {
    let fake = start(FakeOptions::for_tests().with_bom(Bom::Always)).await;
    let client = client(&fake, &pat());
    let set = client.create_scale_set(1, "bom", &[]).await.unwrap();
    let mut session = client.create_session(set.id, "me").await.unwrap();
    fake.enqueue_job(JobSpec::with_labels(["bom"])).unwrap();
    let envelope = client
        .get_message(&mut session, 0, 1, POLL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(messages::parse(&envelope).unwrap().events.len(), 1);
}
