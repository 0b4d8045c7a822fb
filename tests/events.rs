//! The committed Lambda test events (`events/*.json`, used by `make invoke` and the Lambda
//! console): each is valid JSON the handler accepts, the scheduled one is a real EventBridge
//! "Scheduled Event", the spot one a real "EC2 Spot Instance Interruption Warning", and each
//! that asks for a cycle runs one against moto_server and the fake.
//!
//! The handler in `src/main.rs` takes any `serde_json::Value` and runs one cycle for it
//! (docs/design.md §3), except for `{"ghaec2": "dry-run"}`, which runs the dry run instead
//! (`make invoke-roundtrip` checks that one through the real handler), and a spot interruption
//! warning (`ghaec2::event::classify`; tests/spot_interruptions.rs). "Accepted" means: parses
//! as a JSON object. The cycle is run through the test harness, one per event in turn, as
//! successive invocations would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use ghaec2::cycle::EndReason;
use ghaec2::event::{self, Invocation};
use ghaec2_fake::{JobSpec, Mode};
use serde_json::Value;
use support::cycle::{SCALE_SET, harness};

const WINDOW: Duration = Duration::from_millis(2500);

/// Every `events/*.json`, sorted by name, parsed as the handler receives it.
fn events() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("events/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let value: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
            (name, value)
        })
        .collect()
}

#[test]
fn event_files_are_json_objects_and_the_scheduled_one_is_an_eventbridge_event() {
    let events = events();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"scheduled.json"), "{names:?}");
    assert!(names.contains(&"manual.json"), "{names:?}");
    assert!(names.contains(&"dry-run.json"), "{names:?}");
    for (name, value) in &events {
        assert!(
            value.is_object(),
            "{name}: the handler expects a JSON object"
        );
        // The handler's event type, round-tripped as the runtime does.
        let again: Value = serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap();
        assert_eq!(&again, value, "{name}");
    }

    let (_, scheduled) = events.iter().find(|(n, _)| n == "scheduled.json").unwrap();
    let typed: EventBridgeEvent = serde_json::from_value(scheduled.clone()).unwrap();
    assert_eq!(typed.detail_type, "Scheduled Event");
    assert_eq!(typed.source, "aws.events");
    assert!(typed.time.is_some(), "a schedule event carries its time");
    let rules = typed.resources.unwrap_or_default();
    assert_eq!(rules.len(), 1, "one rule: {rules:?}");
    assert!(rules[0].starts_with("arn:aws:events:") && rules[0].contains(":rule/"));
    assert_eq!(typed.detail, Value::Object(Default::default()));

    // A manual test event is not an EventBridge event: the handler must not require one.
    let (_, manual) = events.iter().find(|(n, _)| n == "manual.json").unwrap();
    assert!(serde_json::from_value::<EventBridgeEvent>(manual.clone()).is_err());

    let (_, spot) = events
        .iter()
        .find(|(n, _)| n == "spot-interruption.json")
        .unwrap();
    let Ok(Invocation::SpotInterruption(warning)) = event::classify(spot) else {
        panic!("not a spot interruption warning: {spot}");
    };
    assert_eq!(warning.action, "terminate");
    for (name, value) in &events {
        let expected = match name.as_str() {
            "dry-run.json" => Invocation::DryRun,
            "spot-interruption.json" => Invocation::SpotInterruption(warning.clone()),
            _ => Invocation::Cycle,
        };
        assert_eq!(event::classify(value), Ok(expected), "{name}");
    }
}

#[tokio::test]
async fn each_event_runs_one_cycle() {
    // us-east-1: the one moto region with AMI data that no other test harness uses.
    let h = harness("us-east-1", Mode::Dotcom, 0, 10).await;
    for _ in 0..2 {
        h.fake
            .enqueue_job(JobSpec::with_labels([SCALE_SET]))
            .unwrap();
    }
    let mut session = None;
    let cycle_events = events()
        .into_iter()
        .filter(|(_, event)| event::classify(event) == Ok(Invocation::Cycle));
    for (index, (name, _event)) in cycle_events.enumerate() {
        let summary = h.cycle(WINDOW).await.unwrap();
        assert_eq!(summary.reason, EndReason::WindowOver, "{name}: {summary:?}");
        assert!(summary.scale_set_id.is_some(), "{name}: {summary:?}");
        assert_eq!(
            (summary.desired, summary.current),
            (2, 2),
            "{name}: {summary:?}"
        );
        if index == 0 {
            assert_eq!(summary.launched, 2, "{name}: {summary:?}");
            assert!(summary.messages_processed >= 1, "{name}: {summary:?}");
            session = summary.session_id.clone();
            assert!(session.is_some(), "{name}: {summary:?}");
        } else {
            assert_eq!(
                summary.launched, 0,
                "{name}: no duplicate launch: {summary:?}"
            );
            assert_eq!(summary.session_id, session, "{name}: session reused");
        }
        assert_eq!(summary.terminated, 0, "{name}: {summary:?}");

        // The invocation's response: the summary with the keys docs/design.md §3 names.
        let response = serde_json::to_value(&summary).unwrap();
        for key in [
            "scaleSetId",
            "sessionId",
            "messagesProcessed",
            "lastMessageId",
            "jobsAcquired",
            "desired",
            "current",
            "launched",
            "terminated",
            "reason",
        ] {
            assert!(
                response.get(key).is_some(),
                "{name}: {key} missing in {response}"
            );
        }
        assert_eq!(response["reason"], "window_over");
    }
    assert_eq!(h.instances().await.len(), 2);
}
