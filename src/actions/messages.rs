//! Pure parsing of queue messages into job events (protocol.md §9.1, §10).
//!
//! Parsing is split from fetching so that a malformed message can still be acknowledged by its
//! id: it is logged and skipped, and never blocks the queue (design.md §2).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::wire::{self, Envelope, Statistics};

/// The only envelope type the service sends for scale sets.
pub const JOB_MESSAGES_TYPE: &str = "RunnerScaleSetJobMessages";

/// A parsed message: its statistics and its job events in delivery order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Message id.
    pub id: i64,
    /// Statistics at delivery time.
    pub statistics: Statistics,
    /// Job events; unknown types are already dropped.
    pub events: Vec<JobMessage>,
}

/// Why a message could not be used. Carries the id so the caller can still acknowledge it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed message {id}: {reason}")]
pub struct MalformedMessage {
    /// Message id.
    pub id: i64,
    /// What was wrong, without the body (it may be large).
    pub reason: String,
}

/// Parses an envelope's body and checks what the listeners require: the message type and the
/// statistics (protocol.md §9.1).
pub fn parse(envelope: &Envelope) -> Result<Message, MalformedMessage> {
    let malformed = |reason: String| MalformedMessage {
        id: envelope.message_id,
        reason,
    };
    if envelope.message_type != JOB_MESSAGES_TYPE {
        return Err(malformed(format!(
            "messageType {:?}, expected {JOB_MESSAGES_TYPE:?}",
            envelope.message_type
        )));
    }
    let statistics = envelope
        .statistics
        .ok_or_else(|| malformed("statistics missing".to_owned()))?;
    let events = parse_body(&envelope.body).map_err(|e| malformed(format!("body: {e}")))?;
    Ok(Message {
        id: envelope.message_id,
        statistics,
        events,
    })
}

/// Parses a body string: a JSON array of job messages; empty means none. Unknown types are
/// dropped here, once.
pub fn parse_body(body: &str) -> Result<Vec<JobMessage>, serde_json::Error> {
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    let events: Vec<JobMessage> = wire::decode(body.as_bytes())?;
    Ok(events
        .into_iter()
        .filter(|e| !matches!(e, JobMessage::Unknown))
        .collect())
}

/// Request ids of the `JobAvailable` events, to acquire (protocol.md §11).
pub fn acquirable_ids(events: &[JobMessage]) -> Vec<i64> {
    events
        .iter()
        .filter_map(|e| match e {
            JobMessage::JobAvailable { job, .. } => Some(job.runner_request_id),
            _ => None,
        })
        .collect()
}

/// Fields every job message carries (protocol.md §10); all optional on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobInfo {
    /// Job request id, used by `acquirejobs`; 0 in newer github.com messages.
    pub runner_request_id: i64,
    /// Opaque job id, the preferred identity.
    pub job_id: String,
    /// Repository name without owner.
    pub repository_name: String,
    /// Repository owner.
    pub owner_name: String,
    /// Workflow reference.
    pub job_workflow_ref: String,
    /// Display name of the job.
    pub job_display_name: String,
    /// Workflow run id.
    pub workflow_run_id: i64,
    /// Triggering event.
    pub event_name: String,
    /// The job's `runs-on` labels.
    pub request_labels: Vec<String>,
    /// When the job was queued.
    #[serde(deserialize_with = "lenient_time")]
    pub queue_time: Option<DateTime<Utc>>,
    /// When the job was assigned to the scale set.
    #[serde(deserialize_with = "lenient_time")]
    pub scale_set_assign_time: Option<DateTime<Utc>>,
    /// When a runner took the job.
    #[serde(deserialize_with = "lenient_time")]
    pub runner_assign_time: Option<DateTime<Utc>>,
    /// When the job finished.
    #[serde(deserialize_with = "lenient_time")]
    pub finish_time: Option<DateTime<Utc>>,
}

/// Runner named by `JobStarted` and `JobCompleted`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunnerRef {
    /// Runner id.
    pub runner_id: i64,
    /// Runner name.
    pub runner_name: String,
}

/// One event of a message body; unknown types are kept as [`JobMessage::Unknown`] and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "messageType")]
pub enum JobMessage {
    /// A job may be acquired (acquire flow, GHES).
    JobAvailable {
        /// The job.
        #[serde(flatten)]
        job: JobInfo,
        /// URL the old acquire flow used.
        #[serde(rename = "acquireJobUrl", default)]
        acquire_job_url: String,
    },
    /// The job is assigned to the scale set.
    JobAssigned {
        /// The job.
        #[serde(flatten)]
        job: JobInfo,
    },
    /// A runner of the set picked the job up: that runner is busy.
    JobStarted {
        /// The job.
        #[serde(flatten)]
        job: JobInfo,
        /// The runner running it.
        #[serde(flatten)]
        runner: RunnerRef,
    },
    /// The job finished (`result` "canceled" when an assignment timed out).
    JobCompleted {
        /// The job.
        #[serde(flatten)]
        job: JobInfo,
        /// The runner that ran it, if any.
        #[serde(flatten)]
        runner: RunnerRef,
        /// Result, e.g. `succeeded`, `failed`, `canceled`.
        #[serde(default)]
        result: String,
    },
    /// Any other type: logged and ignored.
    #[serde(other)]
    Unknown,
}

/// Accepts an RFC 3339 time, and reads anything else (zero, garbage) as absent: message
/// timestamps feed metrics only and must never make a message malformed.
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw = Option::<Value>::deserialize(d)?;
    Ok(raw
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| t.timestamp() > 0))
}
