//! Sessions that recover by themselves, in whole cycles against the fake and the ports in
//! memory:
//! a session create whose answer was lost (the retry meets our own session), and the answers
//! by which the service says a session is no longer valid (a 400 `RunnerSessionInvalid`, a
//! 403 on a queue call). Each must cost neither the window nor a job (docs/design.md §2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ghaec2::actions::{ActionsError, Session};
use ghaec2::cycle::EndReason;
use ghaec2_fake::{Fault, FaultAction, Mode};
use support::cycle::{Harness, Memory, SCALE_SET, memory};
use support::fake;
use support::invariants::{assert_converged, id_of};

/// A cycle long enough for a recovery, a message and a few empty polls.
const SHORT: Duration = Duration::from_millis(1000);
/// A cycle long enough for the lost answer's client timeout and the retry after it, or for the
/// first replacements of a refusing queue (waits of 0, 1 and 2 s).
const LONG: Duration = Duration::from_millis(3000);
/// A cycle that only needs to set things up (scale set, session).
const BRIEF: Duration = Duration::from_millis(600);
/// The client's per-attempt timeout in the lost-answer tests, and how long the fake holds
/// the create's answer: well past it.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(700);
const HELD_MS: u64 = 2000;

fn statuses(h: &Harness<Memory>, endpoint: &str) -> Vec<u16> {
    h.fake.calls_to(endpoint).iter().map(|c| c.status).collect()
}

/// The create succeeded on the service but its answer never came; the HTTP layer's retry
/// met our own session with a 409. Returns the cycle's summary.
async fn lost_create(names_owner: bool) -> (Harness<Memory>, ghaec2::cycle::Summary) {
    let mut h = memory(Mode::Ghes, 0, 10).await;
    h.actions = fake::client_with(&h.fake, &fake::pat(), CLIENT_TIMEOUT);
    h.fake
        .add_fault(Fault::session_create_answer_lost(1, HELD_MS));
    if names_owner {
        h.fake.add_fault(Fault::session_conflict_names_owner(1));
    }
    h.enqueue(2);
    let summary = h.cycle(LONG).await.unwrap();
    (h, summary)
}

/// The older 409 wording names our own owner: the session we proposed is deleted and a new
/// one created at once, so the window still acquires and launches for every job.
#[tokio::test]
async fn a_lost_create_naming_our_owner_is_cleared_within_the_window() {
    let (h, summary) = lost_create(true).await;
    assert_eq!(summary.reason, EndReason::WindowOver, "{summary:?}");
    assert_eq!(summary.jobs_acquired, 2, "{summary:?}");
    assert_eq!(summary.launched, 2, "{summary:?}");
    assert_eq!(
        statuses(&h, "sessions.delete"),
        [204],
        "our own session deleted"
    );
    assert!(
        statuses(&h, "sessions.create").ends_with(&[409, 200]),
        "{:?}",
        statuses(&h, "sessions.create")
    );
    let live = h.fake.live_session(id_of(&summary) as u64).unwrap();
    assert_eq!(Some(live.to_string()), summary.session_id);
    assert_converged(&h, id_of(&summary), 2, "after the lost create").await;
}

/// The newer wording names no owner: the proposed id is still ours alone to delete.
#[tokio::test]
async fn a_lost_create_is_cleared_when_the_conflict_names_no_owner() {
    let (h, summary) = lost_create(false).await;
    assert_eq!(summary.reason, EndReason::WindowOver, "{summary:?}");
    assert_eq!(summary.jobs_acquired, 2, "{summary:?}");
    assert_eq!(statuses(&h, "sessions.delete"), [204]);
    assert_converged(&h, id_of(&summary), 2, "after the lost create").await;
}

/// A 409 naming another owner is someone else's session: nothing is deleted, the conflict is
/// waited out as before.
#[tokio::test]
async fn a_conflict_naming_another_owner_is_waited_out_untouched() {
    let h = memory(Mode::Ghes, 0, 10).await;
    let set = h
        .actions
        .create_scale_set(1, SCALE_SET, &h.settings.labels)
        .await
        .unwrap();
    h.fake
        .create_stale_session(set.id as u64, Some("someone-else"), None)
        .unwrap();
    h.fake.add_fault(Fault::session_conflict_names_owner(100));
    let summary = h.cycle(BRIEF).await.unwrap();
    assert_eq!(summary.reason, EndReason::SessionConflict, "{summary:?}");
    assert!(statuses(&h, "sessions.delete").is_empty());
    assert!(statuses(&h, "sessions.create").iter().all(|s| *s == 409));
}

/// Should the service refuse a proposed session id (no upstream client sends one), the create
/// is made again without it, in the same window.
#[tokio::test]
async fn a_refused_proposed_id_falls_back_to_a_plain_create() {
    let h = memory(Mode::Ghes, 0, 10).await;
    h.fake.add_fault(Fault::status("sessions.create", 1, 400));
    h.enqueue(1);
    let summary = h.cycle(SHORT).await.unwrap();
    assert_eq!(statuses(&h, "sessions.create"), [400, 200]);
    assert_eq!(summary.jobs_acquired, 1, "{summary:?}");
    assert_converged(&h, id_of(&summary), 1, "after the refused id").await;
}

/// A refresh answered 400 `RunnerSessionInvalid` (the broker's body, no `typeName`) is a
/// gone session: it is replaced, and the jobs get runners in the same window.
#[tokio::test]
async fn a_refresh_answering_session_invalid_replaces_the_session() {
    let h = memory(Mode::Ghes, 0, 10).await;
    let first = h.cycle(BRIEF).await.unwrap();
    h.fake
        .add_fault(Fault::session_invalid("sessions.refresh", 1));
    h.enqueue(2);
    let second = h.cycle(SHORT).await.unwrap();
    assert_eq!(statuses(&h, "sessions.refresh").last(), Some(&400));
    assert_ne!(second.session_id, first.session_id, "{second:?}");
    assert_eq!(second.jobs_acquired, 2, "{second:?}");
    assert_converged(&h, id_of(&second), 2, "after the invalid session").await;
}

/// A poll refused with a 403 that is not a rate limit: the session is replaced and the job
/// still acquired in the same window.
#[tokio::test]
async fn a_poll_refused_with_403_replaces_the_session_and_loses_no_job() {
    let h = memory(Mode::Ghes, 0, 10).await;
    let first = h.cycle(BRIEF).await.unwrap();
    h.fake.reset_calls();
    h.fake.add_fault(Fault::status("messages.get", 1, 403));
    h.enqueue(1);
    let second = h.cycle(SHORT).await.unwrap();
    assert_eq!(statuses(&h, "messages.get").first(), Some(&403));
    assert_ne!(second.session_id, first.session_id, "{second:?}");
    assert_eq!(second.jobs_acquired, 1, "{second:?}");
    assert_converged(&h, id_of(&second), 1, "after the refused poll").await;
}

/// The acquisition answered `RunnerSessionInvalid`: the message was not acknowledged, so the
/// new session gets it again and acquires its jobs.
#[tokio::test]
async fn an_acquire_refused_as_session_invalid_is_acquired_again_by_the_new_session() {
    let h = memory(Mode::Ghes, 0, 10).await;
    let first = h.cycle(BRIEF).await.unwrap();
    h.fake.add_fault(Fault::session_invalid("acquirejobs", 1));
    h.enqueue(2);
    let second = h.cycle(SHORT).await.unwrap();
    assert_eq!(statuses(&h, "acquirejobs").first(), Some(&400));
    assert_ne!(second.session_id, first.session_id, "{second:?}");
    assert_eq!(second.jobs_acquired, 2, "{second:?}");
    assert_converged(&h, id_of(&second), 2, "after the refused acquisition").await;
}

/// An acknowledgement refused with a 403 replaces the session; the message is not polled
/// again (the cursor was persisted first) and nothing is launched twice.
#[tokio::test]
async fn an_acknowledgement_refused_with_403_replaces_the_session() {
    let h = memory(Mode::Ghes, 0, 10).await;
    let first = h.cycle(BRIEF).await.unwrap();
    h.fake.add_fault(Fault::status("messages.delete", 1, 403));
    h.enqueue(1);
    let second = h.cycle(SHORT).await.unwrap();
    assert_eq!(statuses(&h, "messages.delete").first(), Some(&403));
    assert_ne!(second.session_id, first.session_id, "{second:?}");
    assert_eq!(second.jobs_acquired, 1, "{second:?}");
    assert_converged(&h, id_of(&second), 1, "after the refused acknowledgement").await;
}

/// A queue that refuses every new session too: each replacement after the first waits
/// longer, so the service is not hammered, and the window ends normally.
#[tokio::test]
async fn a_queue_refusing_every_session_is_not_hammered() {
    let h = memory(Mode::Ghes, 0, 10).await;
    h.cycle(BRIEF).await.unwrap();
    h.fake.reset_calls();
    h.fake.add_fault(Fault::status("messages.get", 10_000, 403));
    let summary = h.cycle(LONG).await.unwrap();
    assert_eq!(summary.reason, EndReason::WindowOver, "{summary:?}");
    let creates = statuses(&h, "sessions.create");
    // Waits of 0, 1 and 2 s fit at most three or four replacements into a 3 s window.
    assert!(
        (1..=4).contains(&creates.len()),
        "{} sessions created in {LONG:?}",
        creates.len()
    );
}

/// A 403 that is a rate limit (`Retry-After`) is waited out by the HTTP layer: the session
/// stays.
#[tokio::test]
async fn a_rate_limited_403_on_the_queue_keeps_the_session() {
    let h = memory(Mode::Ghes, 0, 10).await;
    let first = h.cycle(BRIEF).await.unwrap();
    h.fake.reset_calls();
    h.fake.add_fault(Fault::new(
        "messages.get",
        1,
        FaultAction::Status {
            status: 403,
            json: Some(serde_json::json!({"message": "You have exceeded a secondary rate limit."})),
            text: None,
            retry_after_secs: Some(0),
        },
    ));
    h.enqueue(1);
    let second = h.cycle(SHORT).await.unwrap();
    assert_eq!(statuses(&h, "messages.get").first(), Some(&403));
    assert_eq!(second.session_id, first.session_id, "{second:?}");
    assert!(statuses(&h, "sessions.create").is_empty(), "no new session");
    assert_eq!(second.jobs_acquired, 1, "{second:?}");
}

/// Client level: the queue's refusals are [`ActionsError::SessionInvalid`], which the cycle
/// recovers; a rate-limited 403 that outlasts the retries is not.
#[tokio::test]
async fn queue_refusals_are_session_invalid_but_rate_limits_are_not() {
    let fake = fake::fake().await;
    let client = fake::client(&fake, &fake::pat());
    let set = client
        .create_scale_set(1, "refusals", &["refusals".to_owned()])
        .await
        .unwrap();
    let mut session = client.create_session(set.id, "me").await.unwrap();
    let poll = Duration::from_secs(2);

    fake.add_fault(Fault::status("messages.get", 1, 403));
    let refused = client
        .get_message(&mut session, 0, 1, poll)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ActionsError::SessionInvalid(_)),
        "{refused:?}"
    );
    assert!(refused.is_session_gone());

    fake.add_fault(Fault::session_invalid("messages.delete", 1));
    let invalid = client.delete_message(&mut session, 1).await.unwrap_err();
    assert!(
        matches!(invalid, ActionsError::SessionInvalid(_)),
        "{invalid:?}"
    );
    assert!(
        invalid
            .to_string()
            .contains("RunnerSessionInvalid: Runner session is invalid"),
        "{invalid}"
    );

    // Every attempt rate limited: the HTTP layer gives up and returns the 403 as it is.
    fake.add_fault(Fault::new(
        "messages.get",
        10,
        FaultAction::Status {
            status: 403,
            json: None,
            text: Some("API rate limit exceeded".into()),
            retry_after_secs: Some(0),
        },
    ));
    let limited = client
        .get_message(&mut session, 0, 1, poll)
        .await
        .unwrap_err();
    assert!(
        !matches!(limited, ActionsError::SessionInvalid(_)),
        "{limited:?}"
    );
    assert!(!limited.is_session_gone(), "{limited:?}");
}

/// A restored session has no queue token (none is stored): when the refresh at the start of
/// the invocation fails, and not as a gone session, the first poll refreshes it for one and
/// polls. The session stays, and the job gets its runner.
#[tokio::test]
async fn a_restored_session_whose_first_refresh_failed_gets_its_token_at_the_first_poll() {
    let h = memory(Mode::Ghes, 0, 10).await;
    let first = h.cycle(BRIEF).await.unwrap();
    h.fake.reset_calls();
    h.fake.add_fault(Fault::status("sessions.refresh", 1, 400));
    h.enqueue(1);
    let second = h.cycle(SHORT).await.unwrap();
    assert_eq!(statuses(&h, "sessions.refresh"), [400, 200]);
    assert!(statuses(&h, "messages.get").iter().all(|s| *s != 401));
    assert_eq!(second.session_id, first.session_id, "{second:?}");
    assert!(statuses(&h, "sessions.create").is_empty(), "no new session");
    assert_eq!(second.jobs_acquired, 1, "{second:?}");
    assert_converged(&h, id_of(&second), 1, "after the failed refresh").await;
}

/// A restored session refreshed at the start whose first poll still meets a 401 refreshes
/// once more and polls again: the same session, the job acquired.
#[tokio::test]
async fn a_restored_sessions_poll_answered_401_refreshes_and_polls_again() {
    let h = memory(Mode::Ghes, 0, 10).await;
    let first = h.cycle(BRIEF).await.unwrap();
    h.fake.reset_calls();
    h.fake.add_fault(Fault::unauthorized("messages.get", 1));
    h.enqueue(1);
    let second = h.cycle(SHORT).await.unwrap();
    assert_eq!(statuses(&h, "messages.get").first(), Some(&401));
    assert_eq!(statuses(&h, "sessions.refresh"), [200, 200]);
    assert_eq!(second.session_id, first.session_id, "{second:?}");
    assert!(statuses(&h, "sessions.create").is_empty(), "no new session");
    assert_eq!(second.jobs_acquired, 1, "{second:?}");
    assert_converged(&h, id_of(&second), 1, "after the 401").await;
}

/// Client level: a restored session's first queue call refreshes it for a queue token, then
/// goes out with it; a restored session the service no longer knows is
/// [`ActionsError::SessionInvalid`], which the cycle replaces.
#[tokio::test]
async fn a_restored_session_refreshes_for_a_token_before_its_first_queue_call() {
    let fake = fake::fake().await;
    let client = fake::client(&fake, &fake::pat());
    let set = client
        .create_scale_set(1, "restored", &["restored".to_owned()])
        .await
        .unwrap();
    let created = client.create_session(set.id, "me").await.unwrap();
    fake.enqueue_job(ghaec2_fake::JobSpec::with_labels(["restored"]))
        .unwrap();
    fake.reset_calls();

    let mut restored = Session::restored(created.id, set.id, created.queue_url.clone());
    assert!(restored.queue_token().is_none());
    let message = client
        .get_message(&mut restored, 0, 1, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(message.is_some(), "the queued job's message");
    assert!(restored.queue_token().is_some());
    let refreshes: Vec<u16> = fake
        .calls_to("sessions.refresh")
        .iter()
        .map(|c| c.status)
        .collect();
    let polls: Vec<u16> = fake
        .calls_to("messages.get")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!((refreshes, polls), (vec![200], vec![200]));

    let mut unknown = Session::restored(uuid::Uuid::new_v4(), set.id, created.queue_url);
    let gone = client
        .get_message(&mut unknown, 0, 1, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(gone, ActionsError::SessionInvalid(_)), "{gone:?}");
    assert!(unknown.queue_token().is_none());
}
