//! Pure parsing of queue messages into job events (docs/protocol.md §9.1, §10).
//!
//! Parsing is split from fetching so that a malformed message can still be acknowledged by its
//! id: it is logged and skipped, and never blocks the queue (docs/design.md §2). It is as tolerant
//! as the Go clients, and one bad part costs only itself: an envelope is read as far as it can
//! be (its id at least), and each body element on its own, so that an element that cannot be
//! read, or of a type nobody knows, is passed over while the jobs beside it are handled.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::wire::{self, Envelope, Statistics};

/// The only envelope type the service sends for scale sets.
pub const JOB_MESSAGES_TYPE: &str = "RunnerScaleSetJobMessages";

/// A parsed message: its statistics and its job events in delivery order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Message id.
    pub id: i64,
    /// Statistics at delivery time, when the message carried readable ones.
    pub statistics: Option<Statistics>,
    /// Job events that could be read, of known types.
    pub events: Vec<JobMessage>,
    /// What was passed over, each naming where (`body[2]: …`, `statistics…: …`), for the log.
    pub skipped: Vec<String>,
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

/// Decodes a polled message. When the whole envelope does not decode, it is read without its
/// statistics, then as its id alone, so that its jobs, or at least its acknowledgement, are not
/// lost; [`Envelope::unreadable`] then says what was left out. Fails only without a readable
/// `messageId`.
pub fn decode_envelope(bytes: &[u8]) -> Result<Envelope, serde_json::Error> {
    let error = match wire::decode::<Envelope>(bytes) {
        Ok(envelope) => return Ok(envelope),
        Err(error) => error,
    };
    let Ok(Value::Object(fields)) = wire::decode::<Value>(bytes) else {
        return Err(error);
    };
    for keep in [&["messageId", "messageType", "body"][..], &["messageId"]] {
        let part: Map<String, Value> = fields
            .iter()
            .filter(|(key, _)| keep.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if let Ok(mut envelope) = wire::read::<Envelope>(Value::Object(part)) {
            envelope.unreadable = Some(error.to_string());
            return Ok(envelope);
        }
    }
    Err(error)
}

/// Parses an envelope's body. Only a message of another type, or a body that is not a JSON
/// array, is malformed; missing statistics leave the caller's as they are.
pub fn parse(envelope: &Envelope) -> Result<Message, MalformedMessage> {
    let malformed = |reason: String| MalformedMessage {
        id: envelope.message_id,
        reason,
    };
    if envelope.message_type != JOB_MESSAGES_TYPE {
        return Err(malformed(envelope.unreadable.clone().unwrap_or_else(
            || {
                format!(
                    "messageType {:?}, expected {JOB_MESSAGES_TYPE:?}",
                    envelope.message_type
                )
            },
        )));
    }
    let Body {
        events,
        mut skipped,
    } = parse_body(&envelope.body).map_err(|e| malformed(format!("body: {e}")))?;
    skipped.extend(envelope.unreadable.clone());
    Ok(Message {
        id: envelope.message_id,
        statistics: envelope.statistics,
        events,
        skipped,
    })
}

/// A message body: the events read, and what was passed over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    /// Job events of known types, in delivery order.
    pub events: Vec<JobMessage>,
    /// Each element passed over, as `body[index]: why`.
    pub skipped: Vec<String>,
}

/// Parses a body string: a JSON array of job messages; empty means none. Each element is read
/// on its own; one that cannot be read, or of an unknown type, is recorded in
/// [`Body::skipped`].
pub fn parse_body(body: &str) -> Result<Body, serde_json::Error> {
    let mut parsed = Body::default();
    if body.trim().is_empty() {
        return Ok(parsed);
    }
    let elements: Vec<Value> = wire::decode(body.as_bytes())?;
    for (index, element) in elements.into_iter().enumerate() {
        match read_event(element) {
            Ok(event) => parsed.events.push(event),
            Err(reason) => parsed.skipped.push(format!("body[{index}]: {reason}")),
        }
    }
    Ok(parsed)
}

/// One body element, or why it is passed over. A `JobAvailable` needs its request id, the one
/// value acquiring it takes.
fn read_event(element: Value) -> Result<JobMessage, String> {
    let kind = element.get("messageType").cloned();
    match wire::read::<JobMessage>(element).map_err(|e| e.to_string())? {
        JobMessage::Unknown => Err(format!(
            "messageType {} is not known",
            kind.unwrap_or_default()
        )),
        JobMessage::JobAvailable { job, .. } if job.runner_request_id <= 0 => Err(format!(
            "JobAvailable without a runnerRequestId to acquire (got {})",
            job.runner_request_id
        )),
        event => Ok(event),
    }
}

/// Request ids of the `JobAvailable` events, to acquire (docs/protocol.md §11).
pub fn acquirable_ids(events: &[JobMessage]) -> Vec<i64> {
    events
        .iter()
        .filter_map(|e| match e {
            JobMessage::JobAvailable { job, .. } => Some(job.runner_request_id),
            _ => None,
        })
        .collect()
}

/// Fields every job message carries (docs/protocol.md §10); all optional on the wire.
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

/// One event of a message body; an unknown type reads as [`JobMessage::Unknown`], which
/// [`parse_body`] passes over.
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

#[cfg(test)]
#[path = "tolerance_tests.rs"]
mod tests;
