//! Records the state store tests write: a booting runner and a state record with every field
//! set (secrets included, so that their round trip is checked).

use chrono::Utc;
use ghaec2::actions::wire::Statistics;
use ghaec2::ports::{RunnerRecord, RunnerState, ScaleSetState, StoredAdmin, StoredSession};
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
        }),
        last_message_id: 77,
        admin: Some(StoredAdmin {
            service_url: "https://pipelines.example/".into(),
            token: SecretString::from("admin-token-value"),
        }),
        statistics: Some(Statistics {
            total_assigned_jobs: 4,
            total_running_jobs: 2,
            ..Statistics::default()
        }),
    }
}
