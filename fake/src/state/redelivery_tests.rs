//! The state machine's test-only behaviours: requeued jobs, lagging statistics, raw events
//! and the list of issued secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::*;
use crate::options::{FakeOptions, Mode};
use crate::tokens::Scope;

fn dotcom() -> (State, u64, u64, MqIdentity, String) {
    let now = Utc::now();
    let options = FakeOptions {
        mode: Mode::Dotcom,
        session_idle_ttl: Duration::from_secs(60),
        ..FakeOptions::default()
    };
    let mut s = State::new(StateConfig {
        options,
        base_url: "http://127.0.0.1:1".into(),
    });
    let tenant = s.tenant_for(&Scope::Org { org: "org".into() });
    let ss = s
        .create_scale_set(
            tenant,
            ScaleSetInput {
                name: Some("set".into()),
                ..Default::default()
            },
            now,
        )
        .unwrap()
        .id;
    let grant = s.create_session(tenant, ss, "me", now).unwrap();
    let token = grant.message_queue_access_token.clone();
    let who = s.check_mq(&token, now).unwrap();
    (s, tenant, ss, who, token)
}

fn job(s: &mut State) -> u64 {
    s.enqueue_job(JobSpec::with_labels(["set"]), Utc::now())
        .unwrap()
        .runner_request_id
}

/// Polls and acknowledges one message; its events' types and its statistics.
fn take(s: &mut State, who: MqIdentity) -> (Vec<Value>, Statistics) {
    let now = Utc::now();
    let envelope = s.poll(who, None, None, now).unwrap().expect("a message");
    s.ack(who, envelope.message_id, now).unwrap();
    (
        serde_json::from_str(&envelope.body).unwrap(),
        envelope.statistics,
    )
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["messageType"].as_str().unwrap_or_default())
        .collect()
}

#[test]
fn a_requeued_job_is_completed_canceled_then_assigned_again() {
    let (mut s, tenant, ss, who, _) = dotcom();
    let id = job(&mut s);
    assert_eq!(types(&take(&mut s, who).0), ["JobAssigned"]);

    let requeued = s.requeue_job(id, Utc::now()).unwrap();
    assert_eq!(requeued.state, JobState::Assigned);
    let (events, statistics) = take(&mut s, who);
    assert_eq!(types(&events), ["JobCompleted", "JobAssigned"]);
    assert_eq!(events[0]["result"], "canceled");
    assert_eq!(events[0]["runnerRequestId"], events[1]["runnerRequestId"]);
    assert_eq!(statistics.total_assigned_jobs, 1);

    // Running on a runner: the cancel names it and the runner is gone.
    let (_, encoded) = s
        .generate_jit_config(tenant, ss, "r1", "", Utc::now())
        .unwrap();
    s.connect_runner(&encoded, Utc::now()).unwrap();
    assert_eq!(types(&take(&mut s, who).0), ["JobStarted"]);
    s.requeue_job(id, Utc::now()).unwrap();
    let (events, _) = take(&mut s, who);
    assert_eq!(types(&events), ["JobCompleted", "JobAssigned"]);
    assert_eq!(events[0]["runnerName"], "r1");
    assert!(s.runners.is_empty(), "the runner that had it is removed");

    s.cancel_job(id, Utc::now()).unwrap();
    assert!(
        s.requeue_job(id, Utc::now()).is_err(),
        "a finished job is not requeued"
    );
}

#[test]
fn lagging_statistics_hold_for_the_armed_deliveries_only() {
    let (mut s, _, ss, who, _) = dotcom();
    s.lag_statistics(ss, 1).unwrap();
    job(&mut s);
    job(&mut s);
    let (events, lagged) = take(&mut s, who);
    assert_eq!(events.len(), 2);
    assert_eq!(lagged.total_assigned_jobs, 0, "frozen before the jobs came");
    job(&mut s);
    let (_, fresh) = take(&mut s, who);
    assert_eq!(fresh.total_assigned_jobs, 3);
    assert!(s.lag_statistics(ss + 1, 1).is_err());
}

#[test]
fn raw_events_go_out_with_the_next_message() {
    let (mut s, _, ss, who, _) = dotcom();
    let before = s.version();
    s.push_raw_event(
        ss,
        json!({"messageType": "JobFromTheFuture", "runnerRequestId": 7}),
    )
    .unwrap();
    assert!(s.version() > before, "held polls wake up");
    job(&mut s);
    let (events, _) = take(&mut s, who);
    assert_eq!(types(&events), ["JobFromTheFuture", "JobAssigned"]);
}

#[test]
fn issued_secrets_list_pats_tokens_and_jit_configs() {
    let (mut s, tenant, ss, _, mq_token) = dotcom();
    let (_, encoded) = s
        .generate_jit_config(tenant, ss, "r1", "", Utc::now())
        .unwrap();
    let secrets = s.issued_secrets();
    for expected in [crate::DEFAULT_PAT, mq_token.as_str(), encoded.as_str()] {
        assert!(secrets.iter().any(|s| s == expected), "{expected} listed");
    }
}
