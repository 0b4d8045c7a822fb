//! Records the state store tests write: a booting runner and a state record with every field
//! set (secrets included, so that their round trip is checked).

use chrono::{DateTime, Utc};
use ghaec2::actions::wire::Statistics;
use ghaec2::ports::{
    Decision, Decisions, RunnerRecord, RunnerState, ScaleSetState, StoredAdmin, StoredSession,
};
use secrecy::SecretString;

/// A booting runner named `name` on instance `i-<name>`.
pub fn runner(name: &str) -> RunnerRecord {
    RunnerRecord {
        name: name.into(),
        instance_id: format!("i-{name}"),
        runner_id: None,
        launched_at: Utc::now(),
        state: RunnerState::Booting,
        job_id: None,
        interrupted_at: None,
    }
}

/// A state record with every field set.
pub fn full_state() -> ScaleSetState {
    ScaleSetState {
        scale_set_id: Some(12),
        session: Some(StoredSession {
            id: uuid::Uuid::new_v4(),
            queue_url: "https://pipelines.example/_apis/queue".into(),
            created_at: Some(at_millis(1_000)),
            refreshed_at: Some(at_millis(2_000)),
        }),
        last_message_id: 77,
        last_message_at: Some(at_millis(3_000)),
        admin: Some(StoredAdmin {
            service_url: "https://pipelines.example/".into(),
            token: SecretString::from("admin-token-value"),
        }),
        statistics: Some(Statistics {
            total_assigned_jobs: 4,
            total_running_jobs: 2,
            ..Statistics::default()
        }),
        decisions: decisions(),
    }
}

/// Two decisions, newest first: a launch held by `max` and spot capacity, then an idle one.
pub fn decisions() -> Decisions {
    Decisions::new(vec![
        Decision {
            at: at_millis(5_000),
            desired: 4,
            current: 4,
            booting: 2,
            launched: 2,
            terminated: 0,
            capped_by: vec!["max".into(), "InsufficientInstanceCapacity".into()],
        },
        Decision {
            at: at_millis(4_000),
            ..Decision::default()
        },
    ])
}

/// A time `ms` milliseconds into 2030: the table keeps times to the millisecond.
pub fn at_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_893_456_000_000 + ms).unwrap_or_default()
}
