//! Pure parsing of queue messages into job events (protocol.md §9.1, §10).
//!
//! Parsing is split from fetching so that a malformed message can still be acknowledged by its
//! id: it is logged and skipped, and never blocks the queue (design.md §2).

use super::wire::{self, Envelope, JobMessage, Statistics};

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
