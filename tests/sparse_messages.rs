//! Whole cycles, on the ports in memory, on messages shaped as the service may send them but
//! our fake does not by default: `null` job fields, an element that cannot be read, a type
//! nobody knows. Each is fed as a raw event beside a real job in GHES mode (jobs are
//! acquired), and the job must still be acquired and get its runner, with the bad element
//! logged by its index.
//! Last, an envelope that does not decode but has a readable id: acknowledged once, and the
//! queue moves on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ghaec2_fake::{Fault, FaultAction, JobSpec, Mode};
use serde_json::{Value, json};
use support::cycle::{Harness, Memory, SCALE_SET, memory, stop};
use support::faulty::{Faulty, SAVE};
use support::invariants::{assert_converged, id_of};

/// Long enough for one message and a few empty polls.
const SHORT: Duration = Duration::from_millis(1000);
/// A cycle that only sets up the scale set and its session.
const BRIEF: Duration = Duration::from_millis(600);

/// Runs a GHES cycle on `raw` events followed by one real job in the same message; returns the
/// harness and the scale set id once the job is checked acquired and served.
async fn job_beside(raw: &[Value]) -> (Harness<Memory>, i64) {
    let h = memory(Mode::Ghes, 0, 10).await;
    let id = id_of(&h.cycle(BRIEF).await.unwrap());
    for event in raw {
        h.fake.push_raw_event(id as u64, event.clone()).unwrap();
    }
    h.fake
        .enqueue_job(JobSpec::with_labels([SCALE_SET]))
        .unwrap();
    let summary = h.cycle(SHORT).await.unwrap();
    let logs = h.logs.text();
    assert!(!logs.contains("Skipping malformed message"), "{logs}");
    assert_eq!(summary.jobs_acquired, 1, "{summary:?}");
    assert_eq!(summary.launched, 1, "{summary:?}");
    assert!(summary.messages_processed >= 1, "{summary:?}");
    (h, id)
}

/// The issue's example: a job event whose runner fields are `null`, as .NET sends empty ones.
#[tokio::test]
async fn null_runner_name_costs_no_job() {
    let (h, id) = job_beside(&[json!({
        "messageType": "JobCompleted", "runnerRequestId": 999, "jobId": "gone",
        "runnerName": null, "runnerId": null, "result": null, "jobDisplayName": null,
        "eventName": null, "jobWorkflowRef": null, "queueTime": null, "finishTime": null,
    })])
    .await;
    assert!(!h.logs.text().contains("Skipped part of a message"));
    assert_converged(&h, id, 1, "after null runner fields").await;
}

/// An element that cannot be read is logged with its index; the job beside it is served.
#[tokio::test]
async fn unreadable_element_costs_only_itself() {
    let (h, id) = job_beside(&[
        json!({"messageType": "JobStarted", "runnerRequestId": "not a number"}),
        json!(17),
    ])
    .await;
    let logs = h.logs.text();
    assert!(logs.contains("Skipped part of a message"), "{logs}");
    assert!(logs.contains("body[0]: invalid type: string"), "{logs}");
    assert!(logs.contains("body[1]: "), "{logs}");
    assert_converged(&h, id, 1, "after an unreadable element").await;
}

/// A `messageType` nobody knows is logged with its index and type, and passed over.
#[tokio::test]
async fn unknown_message_type_is_logged_by_index() {
    let (h, id) = job_beside(&[json!({"messageType": "JobReassigned", "jobId": "x"})]).await;
    let logs = h.logs.text();
    assert!(
        logs.contains(r#"body[0]: messageType \"JobReassigned\" is not known"#)
            || logs.contains(r#"body[0]: messageType "JobReassigned" is not known"#),
        "{logs}"
    );
    assert_converged(&h, id, 1, "after an unknown type").await;
}

/// A real message left unacknowledged (its cycle died before persisting) comes back as an
/// envelope whose body and type have the wrong JSON types: it is logged, acknowledged once, and
/// the message after it is handled; it is not polled again.
#[tokio::test]
async fn undecodable_envelope_with_an_id_is_acknowledged_once() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let id = id_of(&h.cycle(BRIEF).await.unwrap());
    h.enqueue(1);
    let store = Faulty::new(&h.store).fail(SAVE, 1);
    let crashed = h
        .run(h.with_ports(&store, &h.fleet, &h.jit), &stop(SHORT))
        .await;
    assert!(crashed.is_err(), "{crashed:?}");
    let pending = h.unacknowledged(id);
    let &[message_id] = pending.as_slice() else {
        panic!("one unacknowledged message: {pending:?}");
    };
    h.fake.add_fault(Fault::new(
        "messages.get",
        1,
        FaultAction::Status {
            status: 200,
            json: Some(json!({"messageId": message_id, "messageType": 7, "body": {"x": 1}})),
            text: None,
            retry_after_secs: None,
        },
    ));
    h.enqueue(1);
    h.fake.reset_calls();
    let summary = h.cycle(SHORT).await.unwrap();
    assert!(summary.messages_processed >= 2, "{summary:?}");
    assert!(summary.last_message_id > message_id as i64, "{summary:?}");
    let acked: Vec<u16> = h
        .fake
        .calls_to("messages.delete")
        .iter()
        .filter(|c| c.path.ends_with(&format!("/{message_id}")))
        .map(|c| c.status)
        .collect();
    assert_eq!(acked, vec![204], "acknowledged once");
    let logs = h.logs.text();
    assert_eq!(
        logs.matches("Skipping malformed message").count(),
        1,
        "{logs}"
    );
    assert!(logs.contains("body: invalid type: map"), "{logs}");
    assert_converged(&h, id, 2, "after an undecodable envelope").await;
}
