//! Table-free scenario tests of the pure state machine (no HTTP, explicit `now`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::*;
use crate::options::{FakeOptions, Mode};
use crate::tokens::Scope;

fn state(mode: Mode) -> (State, u64) {
    let options = FakeOptions {
        mode,
        session_idle_ttl: Duration::from_secs(60),
        ..FakeOptions::default()
    };
    let mut s = State::new(StateConfig {
        options,
        base_url: "http://127.0.0.1:1".into(),
    });
    let tenant = s.tenant_for(&Scope::Org { org: "org".into() });
    (s, tenant)
}

fn scale_set(s: &mut State, tenant: u64, name: &str, now: DateTime<Utc>) -> u64 {
    s.create_scale_set(
        tenant,
        ScaleSetInput {
            name: Some(name.into()),
            ..Default::default()
        },
        now,
    )
    .unwrap()
    .id
}

fn events(envelope: &Envelope) -> Vec<Value> {
    serde_json::from_str(&envelope.body).unwrap()
}

fn types(envelope: &Envelope) -> Vec<String> {
    events(envelope)
        .iter()
        .map(|e| e["messageType"].as_str().unwrap().to_owned())
        .collect()
}

fn session(s: &mut State, tenant: u64, ss: u64, now: DateTime<Utc>) -> MqIdentity {
    let grant = s.create_session(tenant, ss, "me", now).unwrap();
    s.check_mq(&grant.message_queue_access_token, now).unwrap()
}

#[test]
fn duplicate_scale_set_names_are_refused_per_group() {
    let now = Utc::now();
    let (mut s, t) = state(Mode::Ghes);
    scale_set(&mut s, t, "set", now);
    let dup = s.create_scale_set(
        t,
        ScaleSetInput {
            name: Some("SET".into()),
            ..Default::default()
        },
        now,
    );
    assert_eq!(
        dup.unwrap_err(),
        Fail::ScaleSetExists {
            group: "Default".into()
        }
    );
    assert_eq!(s.scale_sets_named(t, Some(1), Some("set")).len(), 1);
    assert!(s.scale_sets_named(t, Some(1), Some("other")).is_empty());
}

#[test]
fn sessions_are_exclusive_until_deleted_or_idle() {
    let now = Utc::now();
    let (mut s, t) = state(Mode::Ghes);
    let ss = scale_set(&mut s, t, "set", now);
    let first = s.create_session(t, ss, "a", now).unwrap();
    assert_eq!(
        s.create_session(t, ss, "b", now).unwrap_err(),
        Fail::SessionConflict("set".into())
    );
    let refreshed = s
        .refresh_session(t, ss, first.session.session_id, now)
        .unwrap();
    assert_eq!(refreshed.session.session_id, first.session.session_id);
    assert_ne!(
        refreshed.message_queue_access_token,
        first.message_queue_access_token
    );
    let later = now + TimeDelta::seconds(61);
    assert!(
        s.create_session(t, ss, "b", later).is_ok(),
        "idle session expired"
    );
    let id = first.session.session_id;
    assert_eq!(
        s.delete_session(t, ss, id, later).unwrap_err(),
        Fail::SessionExpired(id)
    );
    assert_eq!(
        s.refresh_session(t, ss, id, later).unwrap_err(),
        Fail::SessionNotFound(id)
    );
}

#[test]
fn deleted_scale_set_sessions_are_not_found() {
    let now = Utc::now();
    let (mut s, t) = state(Mode::Ghes);
    let ss = scale_set(&mut s, t, "set", now);
    let grant = s.create_session(t, ss, "a", now).unwrap();
    s.delete_scale_set_server_side(ss, now).unwrap();
    assert_eq!(
        s.create_session(t, ss, "a", now).unwrap_err(),
        Fail::ScaleSetNotFound(ss)
    );
    assert_eq!(
        s.refresh_session(t, ss, grant.session.session_id, now)
            .unwrap_err(),
        Fail::ScaleSetNotFound(ss)
    );
}

#[test]
fn ghes_flow_available_acquire_assigned_started_completed() {
    let now = Utc::now();
    let (mut s, t) = state(Mode::Ghes);
    let ss = scale_set(&mut s, t, "set", now);
    let who = session(&mut s, t, ss, now);
    let job = s.enqueue_job(JobSpec::with_labels(["set"]), now).unwrap();
    let m1 = s.poll(who, None, Some(10), now).unwrap().unwrap();
    assert_eq!(types(&m1), ["JobAvailable"]);
    assert_eq!(m1.statistics.total_available_jobs, 1);
    assert!(
        events(&m1)[0]["acquireJobUrl"]
            .as_str()
            .unwrap()
            .ends_with("/acquirejobs")
    );
    assert_eq!(
        s.acquire_jobs(ss, &[job.runner_request_id, 999], now),
        [job.runner_request_id]
    );
    assert_eq!(
        s.acquire_jobs(ss, &[job.runner_request_id], now),
        [job.runner_request_id],
        "retry sees the same answer"
    );
    s.ack(who, m1.message_id, now).unwrap();
    let m2 = s
        .poll(who, Some(m1.message_id), None, now)
        .unwrap()
        .unwrap();
    assert_eq!(m2.message_id, m1.message_id + 1);
    assert_eq!(types(&m2), ["JobAssigned"]);
    let st = m2.statistics;
    assert_eq!(
        (
            st.total_available_jobs,
            st.total_acquired_jobs,
            st.total_assigned_jobs,
            st.total_running_jobs
        ),
        (0, 1, 1, 0)
    );

    let (runner, jit) = s.generate_jit_config(t, ss, "r1", "", now).unwrap();
    assert_eq!(
        s.statistics(ss).total_registered_runners,
        0,
        "registered only once connected"
    );
    assert_eq!(
        s.generate_jit_config(t, ss, "R1", "", now).unwrap_err(),
        Fail::AgentExists("R1".into())
    );
    s.connect_runner(&jit, now).unwrap();
    let st = s.statistics(ss);
    assert_eq!(
        (
            st.total_assigned_jobs,
            st.total_running_jobs,
            st.total_registered_runners,
            st.total_busy_runners
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(
        s.remove_runner(t, runner.id, now).unwrap_err(),
        Fail::AgentBusy(runner.id)
    );
    s.complete_job(job.runner_request_id, "succeeded", now)
        .unwrap();
    let m3 = s
        .poll(who, Some(m2.message_id), None, now)
        .unwrap()
        .unwrap();
    assert_eq!(types(&m3), ["JobStarted", "JobCompleted"]);
    let completed = &events(&m3)[1];
    assert_eq!(completed["result"], "succeeded");
    assert_eq!(completed["runnerName"], "r1");
    assert!(s.runner(t, runner.id).is_err(), "ephemeral runner removed");
    assert_eq!(s.statistics(ss), Statistics::default());
}

#[test]
fn unacknowledged_messages_are_redelivered_and_batches_hold_fifty() {
    let now = Utc::now();
    let (mut s, t) = state(Mode::Ghes);
    let ss = scale_set(&mut s, t, "set", now);
    let who = session(&mut s, t, ss, now);
    for _ in 0..60 {
        s.enqueue_job(JobSpec::with_labels(["set"]), now).unwrap();
    }
    let m1 = s.poll(who, None, None, now).unwrap().unwrap();
    assert_eq!(events(&m1).len(), 50);
    assert_eq!(
        s.poll(who, None, None, now).unwrap().unwrap().message_id,
        m1.message_id,
        "redelivered"
    );
    let m2 = s
        .poll(who, Some(m1.message_id), None, now)
        .unwrap()
        .unwrap();
    assert_eq!(events(&m2).len(), 10);
    assert_eq!(s.poll(who, Some(m2.message_id), None, now).unwrap(), None);
    s.ack(who, m1.message_id, now).unwrap();
    assert_eq!(
        s.ack(who, m1.message_id, now).unwrap_err(),
        Fail::MessageNotFound(m1.message_id)
    );
    assert_eq!(
        s.poll(who, None, None, now).unwrap().unwrap().message_id,
        m2.message_id
    );
}

#[test]
fn dotcom_assigns_within_the_latest_capacity() {
    let now = Utc::now();
    let (mut s, t) = state(Mode::Dotcom);
    let ss = scale_set(&mut s, t, "set", now);
    let who = session(&mut s, t, ss, now);
    let _ = s.poll(who, None, Some(2), now).unwrap();
    let jobs: Vec<u64> = (0..3)
        .map(|_| {
            s.enqueue_job(JobSpec::with_labels(["set"]), now)
                .unwrap()
                .runner_request_id
        })
        .collect();
    let m1 = s.poll(who, None, Some(2), now).unwrap().unwrap();
    assert_eq!(types(&m1), ["JobAssigned", "JobAssigned"]);
    assert_eq!(m1.statistics.total_assigned_jobs, 2);
    assert_eq!(
        m1.statistics.total_available_jobs, 0,
        "no available jobs on github.com"
    );
    s.cancel_job(jobs[0], now).unwrap();
    let m2 = s
        .poll(who, Some(m1.message_id), Some(2), now)
        .unwrap()
        .unwrap();
    assert_eq!(types(&m2), ["JobCompleted", "JobAssigned"]);
    assert_eq!(events(&m2)[0]["result"], "canceled");
    assert!(events(&m2)[0].get("runnerName").is_none());
    let m3 = s.poll(who, Some(m2.message_id), Some(0), now).unwrap();
    assert_eq!(m3, None, "capacity 0 assigns nothing more");
}

#[test]
fn jobs_complete_by_duration_on_tick() {
    let now = Utc::now();
    let (mut s, t) = state(Mode::Dotcom);
    let ss = scale_set(&mut s, t, "set", now);
    let job = s
        .enqueue_job(
            JobSpec {
                duration_ms: Some(100),
                ..JobSpec::with_labels(["set"])
            },
            now,
        )
        .unwrap();
    let (_, jit) = s.generate_jit_config(t, ss, "r", "_work", now).unwrap();
    s.connect_runner(&jit, now).unwrap();
    assert!(s.next_deadline().is_some());
    assert!(!s.tick(now));
    assert!(s.tick(now + TimeDelta::milliseconds(100)));
    assert_eq!(
        s.job(job.runner_request_id).unwrap().result.as_deref(),
        Some("succeeded")
    );
    assert!(s.runners_named(t, None).is_empty());
}

#[test]
fn scale_set_delete_is_refused_while_a_job_runs() {
    let now = Utc::now();
    let (mut s, t) = state(Mode::Dotcom);
    let ss = scale_set(&mut s, t, "set", now);
    s.enqueue_job(JobSpec::with_labels(["set"]), now).unwrap();
    let (_, jit) = s.generate_jit_config(t, ss, "r", "", now).unwrap();
    s.connect_runner(&jit, now).unwrap();
    assert_eq!(
        s.delete_scale_set(t, ss, now).unwrap_err(),
        Fail::ScaleSetBusy("set".into())
    );
    let waiting = s.enqueue_job(JobSpec::with_labels(["set"]), now).unwrap();
    s.delete_scale_set_server_side(ss, now).unwrap();
    assert_eq!(
        s.job(waiting.runner_request_id).unwrap().state,
        JobState::Queued,
        "back in the queue"
    );
}

#[test]
fn mq_tokens_die_with_their_session_and_on_expire() {
    let now = Utc::now();
    let (mut s, t) = state(Mode::Ghes);
    let ss = scale_set(&mut s, t, "set", now);
    let grant = s.create_session(t, ss, "a", now).unwrap();
    let token = grant.message_queue_access_token.clone();
    assert!(s.check_mq(&token, now).is_ok());
    s.expire_tokens(
        ExpireTokens {
            message_queue: true,
            ..Default::default()
        },
        now,
    );
    assert!(matches!(
        s.check_mq(&token, now),
        Err(Fail::Unauthorized(_))
    ));
    let fresh = s
        .refresh_session(t, ss, grant.session.session_id, now)
        .unwrap();
    s.delete_session(t, ss, grant.session.session_id, now)
        .unwrap();
    assert!(matches!(
        s.check_mq(&fresh.message_queue_access_token, now),
        Err(Fail::Unauthorized(_))
    ));
}
