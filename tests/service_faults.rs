//! Whole cycles, on the ports in memory, under Actions Service faults and odd messages: 5xx bursts and 429 with
//! `Retry-After`, an HTML page, an empty `messageQueueUrl`, a 401 mid-poll, a hung response
//! at the Lambda deadline; a job delivered three times (assigned, canceled, assigned again),
//! statistics lagging the messages, more than 50 events, unknown event types. Each ends with
//! the shared invariant check of docs/design.md §2; every cycle is checked for leaked secrets.
//!
//! Covered elsewhere and not repeated here (tests/cycle_faults.rs): a 200 with an empty body
//! on the poll, a refresh answering 404, a 409 storm from a foreign session, the scale set
//! deleted server-side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ghaec2::cycle::{EndReason, SAFETY_MARGIN, Stop};
use ghaec2_fake::{Fault, JobSpec, Mode};
use support::cycle::{Harness, Memory, SCALE_SET, memory};
use support::invariants::{assert_converged, assert_kept, id_of, live};
use tokio::sync::watch;
use tokio::time::Instant;

/// A cycle long enough for a message and a few empty polls.
const SHORT: Duration = Duration::from_millis(1000);
/// Long enough for the cycle's own retry of a failed step (it waits 1 s first), or a
/// `Retry-After` of 1 s.
const WITH_RETRY: Duration = Duration::from_millis(2500);
/// A cycle that only needs to set things up (scale set, session) or to end.
const BRIEF: Duration = Duration::from_millis(600);

/// A scale set with its session.
async fn ready(h: &Harness<Memory>) -> i64 {
    id_of(&h.cycle(BRIEF).await.unwrap())
}

fn statuses(h: &Harness<Memory>, endpoint: &str) -> Vec<u16> {
    h.fake.calls_to(endpoint).iter().map(|c| c.status).collect()
}

// ---------------------------------------------------------------------------------------------
// Actions Service
// ---------------------------------------------------------------------------------------------

/// 503 bursts on the poll and on JIT generation, and a 429 with `Retry-After` on the
/// acknowledgement: the client retries each within the cycle, and the jobs get runners.
#[tokio::test]
async fn bursts_of_5xx_and_429_with_retry_after_are_ridden_out() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let id = ready(&h).await;
    h.fake.reset_calls();
    h.fake.add_fault(Fault::burst_5xx("messages.get", 3));
    h.fake.add_fault(Fault::status("generatejitconfig", 2, 502));
    h.fake
        .add_fault(Fault::too_many_requests("messages.delete", 1, 1));
    h.enqueue(2);
    let summary = h.cycle(WITH_RETRY).await.unwrap();
    assert!(h.fake.faults().is_empty(), "every fault fired");
    assert!(statuses(&h, "messages.get").starts_with(&[503, 503, 503]));
    let acks = statuses(&h, "messages.delete");
    assert_eq!(acks.first(), Some(&429));
    assert!(acks.contains(&204), "acknowledged after the wait: {acks:?}");
    assert_eq!(summary.launched, 2, "{summary:?}");
    assert_converged(&h, id, 2, "after 5xx and 429").await;
}

/// The poll answers a login page (HTML) with 200: it is an unreadable answer, not a message.
/// The cycle counts it as a transient failure, polls again after its backoff, and serves the
/// job in the same window; the page itself never reaches the logs.
#[tokio::test]
async fn an_html_page_on_the_poll_is_retried_without_loss() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let id = ready(&h).await;
    h.fake.reset_calls();
    h.enqueue(1);
    h.fake.add_fault(Fault::html("messages.get", 1, 200));
    let summary = h.cycle(WITH_RETRY).await.unwrap();
    let polls = h.fake.calls_to("messages.get");
    assert_eq!(polls[0].fault.as_deref(), Some("html"), "{polls:?}");
    assert!(polls.len() >= 2, "polled again: {polls:?}");
    assert_eq!(summary.launched, 1, "{summary:?}");
    assert_eq!(summary.messages_processed, 1, "{summary:?}");
    let logs = h.logs.text();
    assert!(logs.contains("Transient failure"), "{logs}");
    assert!(
        !logs.contains("Sign in to GitHub"),
        "the page stays out of the logs"
    );
    assert_converged(&h, id, 1, "after an HTML page").await;
}

/// Session creation answers an empty `messageQueueUrl` (seen during outages): the cycle
/// fails with a protocol error and deletes the unusable session it was given, so the next
/// cycle creates one at once instead of meeting a 409 until the old one lapses.
#[tokio::test]
async fn an_empty_message_queue_url_is_not_used() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    h.fake.add_fault(Fault::empty_message_queue_url(1));
    h.enqueue(1);
    let first = h.cycle(SHORT).await;
    let text = format!("{:?}", first.as_ref().map(|_| ()).unwrap_err());
    assert!(text.contains("messageQueueUrl"), "{text}");
    assert!(
        h.fake
            .calls_to("sessions.delete")
            .iter()
            .any(|c| c.status == 204),
        "the unusable session was deleted"
    );
    let second = h.cycle(SHORT).await.unwrap();
    assert_eq!(second.reason, EndReason::WindowOver, "{second:?}");
    let id = id_of(&second);
    assert!(
        h.fake
            .calls_to("messages.get")
            .iter()
            .all(|c| c.path.contains("/queue/")),
        "polled only real queue URLs"
    );
    assert_converged(&h, id, 1, "after an empty messageQueueUrl").await;
}

/// A 401 in the middle of polling: the cycle refreshes the session (same id) and goes on.
#[tokio::test]
async fn a_401_mid_poll_refreshes_the_session() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let setup = h.cycle(BRIEF).await.unwrap();
    let id = id_of(&setup);
    h.fake.reset_calls();
    h.fake.add_fault(Fault::unauthorized("messages.get", 1));
    h.enqueue(1);
    let summary = h.cycle(SHORT).await.unwrap();
    assert_eq!(statuses(&h, "messages.get").first(), Some(&401));
    assert!(!h.fake.calls_to("sessions.refresh").is_empty());
    assert_eq!(summary.session_id, setup.session_id);
    assert_eq!(summary.launched, 1, "{summary:?}");
    assert_converged(&h, id, 1, "after a 401 mid-poll").await;
}

/// The scale set is deleted server-side while the cycle polls: the poll fails with
/// "scale set not found", the cycle creates the scale set again by name with a new session
/// within the same window, and the job queued meanwhile gets a runner of the new one.
#[tokio::test]
async fn a_scale_set_deleted_mid_poll_is_recreated_within_the_cycle() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let old = ready(&h).await;
    h.fake.reset_calls();
    let (summary, ()) = tokio::join!(h.cycle(WITH_RETRY), async {
        h.fake
            .wait_for(Duration::from_secs(10), |_| {
                (!h.fake.calls_to("messages.get").is_empty()).then_some(())
            })
            .await
            .expect("the cycle polls");
        h.fake.delete_scale_set(old as u64).unwrap();
        h.enqueue(1);
    });
    let summary = summary.unwrap();
    let new = id_of(&summary);
    assert_ne!(new, old, "{summary:?}");
    assert_eq!(h.scale_set_id().await, new);
    assert_eq!(summary.launched, 1, "{summary:?}");
    assert_converged(&h, new, 1, "after the scale set was deleted mid-poll").await;
}

/// A response that hangs far past the Lambda deadline (an acknowledgement held 60 s): the
/// cycle still ends by the deadline, having persisted its state, and the message's effect is
/// kept. The bound is the Lambda's, not a performance target: past it the runtime kills us.
#[tokio::test]
async fn a_hung_response_does_not_outlive_the_lambda_deadline() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let id = ready(&h).await;
    h.fake.add_fault(Fault::delay("messages.delete", 1, 60_000));
    h.enqueue(1);
    let listen = Duration::from_millis(1500);
    let deadline = Stop {
        listen_until: Instant::now() + listen,
        deadline_bound: true,
        shutdown: watch::channel(false).1,
    };
    let lambda_deadline = listen + SAFETY_MARGIN;
    let ended = tokio::time::timeout(lambda_deadline, h.run(h.services(), &deadline)).await;
    let summary = ended
        .expect("the cycle outlived the Lambda deadline")
        .unwrap();
    assert_eq!(summary.reason, EndReason::Deadline, "{summary:?}");
    assert_eq!(summary.launched, 1, "{summary:?}");
    let next = h.cycle(SHORT).await.unwrap();
    assert_eq!((next.launched, next.terminated), (0, 0), "{next:?}");
    assert_converged(&h, id, 1, "after a hung acknowledgement").await;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// A job delivered three times: JobAssigned, then JobCompleted "canceled", then JobAssigned
/// again (the service requeued it). Statistics count it once, so one runner serves it; when
/// the requeue takes it from a runner that had started it, that runner's instance goes and a
/// new one comes.
#[tokio::test]
async fn a_requeued_job_gets_exactly_one_runner() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let id = ready(&h).await;
    let job = h.enqueue(1)[0];
    let first = h.cycle(SHORT).await.unwrap();
    assert_eq!(first.launched, 1, "{first:?}");
    let before = live(&h, id).await;

    // Requeued while still waiting for its runner.
    h.fake.requeue_job(job).unwrap();
    let second = h.cycle(SHORT).await.unwrap();
    assert_eq!((second.launched, second.terminated), (0, 0), "{second:?}");
    assert_kept(&h, id, &before, "requeued before it started").await;
    assert_converged(&h, id, 1, "requeued before it started").await;

    // Requeued after a runner started it: that runner is done, another one takes the job.
    assert_eq!(h.boot_all().await, 1);
    let started = h.cycle(BRIEF).await.unwrap();
    assert_eq!(started.launched, 0, "{started:?}");
    h.fake.requeue_job(job).unwrap();
    let third = h.cycle(SHORT).await.unwrap();
    assert_eq!((third.launched, third.terminated), (1, 1), "{third:?}");
    let now = live(&h, id).await;
    assert!(
        before.iter().all(|i| !now.contains(i)),
        "{before:?} {now:?}"
    );
    assert_converged(&h, id, 1, "requeued after it started").await;
}

/// Statistics lag the messages: the message announcing two jobs still counts none. The cycle
/// scales on statistics, never on counting messages, so it launches nothing for it, and it
/// catches up once the service's statistics reach it (the next message, or a session
/// refresh).
#[tokio::test]
async fn lagging_statistics_are_caught_up() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let id = ready(&h).await;
    h.fake.reset_calls();
    h.fake.lag_statistics(id as u64, 1).unwrap();
    // The jobs come while the cycle polls, so only the lagging message tells of them.
    let (lagged, ()) = tokio::join!(h.cycle(SHORT), async {
        h.fake
            .wait_for(Duration::from_secs(10), |_| {
                (!h.fake.calls_to("messages.get").is_empty()).then_some(())
            })
            .await
            .expect("the cycle polls");
        h.enqueue(2);
    });
    let lagged = lagged.unwrap();
    assert!(lagged.messages_processed >= 1, "{lagged:?}");
    assert_eq!(lagged.launched, 0, "scaled on the statistics: {lagged:?}");
    h.enqueue(1);
    let caught_up = h.cycle(SHORT).await.unwrap();
    assert_eq!(caught_up.launched, 3, "{caught_up:?}");
    assert_converged(&h, id, 3, "after lagging statistics").await;
}

/// More than 50 job events: the service sends at most 50 per message, so 55 jobs arrive in
/// two messages; all are handled and every job gets a runner. (A second cycle is allowed, in
/// case a slow machine ends the first window before the second message.)
#[tokio::test]
async fn more_than_50_events_are_all_served() {
    let h = memory(Mode::Dotcom, 0, 60).await;
    let id = ready(&h).await;
    h.enqueue(55);
    let first = h.cycle(SHORT).await.unwrap();
    let second = h.cycle(SHORT).await.unwrap();
    assert!(
        first.messages_processed + second.messages_processed >= 2,
        "{first:?} {second:?}"
    );
    assert_eq!(first.launched + second.launched, 55, "{first:?} {second:?}");
    assert_eq!(second.terminated, 0, "{second:?}");
    assert_converged(&h, id, 55, "after 55 events").await;
}

/// Event types nobody knows yet, in the same message as a real job: they are passed over, the
/// job gets its runner, and the message is acknowledged.
#[tokio::test]
async fn unknown_event_types_are_passed_over() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let id = ready(&h).await;
    for kind in ["JobReassigned", "RunnerScaleSetPaused"] {
        h.fake
            .push_raw_event(
                id as u64,
                serde_json::json!({"messageType": kind, "runnerRequestId": 999, "jobId": "x"}),
            )
            .unwrap();
    }
    h.fake
        .enqueue_job(JobSpec::with_labels([SCALE_SET]))
        .unwrap();
    let summary = h.cycle(SHORT).await.unwrap();
    assert_eq!(summary.messages_processed, 1, "{summary:?}");
    assert_eq!(summary.launched, 1, "{summary:?}");
    assert!(statuses(&h, "messages.delete").contains(&204));
    assert_converged(&h, id, 1, "after unknown event types").await;
}
