//! Outcomes of the conformance driver as JSON: the values a call decoded, or the error it
//! gave, in the terms a caller acts on.

use ghaec2::actions::ActionsError;
use ghaec2::actions::Session;
use ghaec2::actions::messages::{self, JobMessage};
use ghaec2::actions::wire::{Envelope, RunnerReference, RunnerScaleSet};
use serde_json::{Value, json};

/// Every token a fixture hands out contains this; no error may carry it.
pub const SECRET_MARK: &str = "secret-";

pub fn scale_set(set: &RunnerScaleSet) -> Value {
    json!({
        "id": set.id,
        "name": set.name,
        "runnerGroupId": set.runner_group_id,
        "runnerGroupName": set.runner_group_name,
        "labels": set.labels.iter().map(|l| &l.name).collect::<Vec<_>>(),
        "runnerSetting": set.runner_setting,
        "statistics": set.statistics,
    })
}

pub fn session_summary(session: &Session) -> Value {
    json!({
        "id": session.id,
        "scaleSetId": session.scale_set_id,
        "queueUrl": session.queue_url.as_str(),
        "statistics": session.statistics,
    })
}

pub fn runner(runner: &RunnerReference) -> Value {
    json!({
        "id": runner.id,
        "name": runner.name,
        "runnerScaleSetId": runner.runner_scale_set_id,
        "status": runner.status,
        "busy": runner.busy,
        "online": runner.is_online(),
    })
}

/// A polled message as the cycle would use it: what it acquires, and what it passes over.
pub fn message(envelope: &Envelope) -> Value {
    let parsed = messages::parse(envelope);
    let (events, acquire, skipped, malformed) = match &parsed {
        Ok(m) => (
            m.events.iter().map(event).collect(),
            messages::acquirable_ids(&m.events),
            m.skipped.len(),
            None,
        ),
        Err(e) => (vec![], vec![], 0, Some(e.reason.clone())),
    };
    json!({
        "messageId": envelope.message_id,
        "messageType": envelope.message_type,
        "statistics": envelope.statistics,
        "events": events,
        "acquire": acquire,
        "skipped": skipped,
        "malformed": malformed,
    })
}

fn event(event: &JobMessage) -> Value {
    let (kind, job, runner_name, result) = match event {
        JobMessage::JobAvailable { job, .. } => ("JobAvailable", job, None, None),
        JobMessage::JobAssigned { job } => ("JobAssigned", job, None, None),
        JobMessage::JobStarted { job, runner } => {
            ("JobStarted", job, Some(&runner.runner_name), None)
        }
        JobMessage::JobCompleted {
            job,
            runner,
            result,
        } => ("JobCompleted", job, Some(&runner.runner_name), Some(result)),
        JobMessage::Unknown => return json!({"type": "Unknown"}),
    };
    json!({
        "type": kind,
        "runnerRequestId": job.runner_request_id,
        "jobId": job.job_id,
        "labels": job.request_labels,
        "runnerName": runner_name,
        "result": result,
    })
}

/// An error as a caller sees it: its kind, the service's answer, and whether it is recovered
/// from by trying again (`retryable`) or by a new session (`sessionGone`).
pub fn error_summary(error: &ActionsError) -> Value {
    let debug = format!("{error:?}");
    let kind = debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default();
    let api = error.api();
    let what = match error {
        ActionsError::Decode { what, .. } | ActionsError::Protocol { what, .. } => Some(*what),
        _ => None,
    };
    let problem = match error {
        ActionsError::Protocol { problem, .. } => Some(problem.as_str()),
        _ => None,
    };
    json!({
        "kind": kind,
        "what": what,
        "problem": problem,
        "status": api.map(|e| e.status.as_u16()),
        "typeName": api.and_then(|e| e.type_name.as_deref()),
        "message": api.map(|e| e.message.as_str()),
        "activityId": api.and_then(|e| e.activity_id.as_deref()),
        "retryable": error.is_retryable(),
        "sessionGone": error.is_session_gone(),
        "carriesToken": error.to_string().contains(SECRET_MARK) || debug.contains(SECRET_MARK),
    })
}

/// Where `actual` does not contain `expected`: objects by their keys, arrays element by
/// element, anything else by equality.
pub fn mismatches(expected: &Value, actual: &Value, at: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                let at = format!("{at}.{key}");
                match got.get(key) {
                    Some(found) => mismatches(value, found, &at, out),
                    None => out.push(format!("{at}: absent, expected {value}")),
                }
            }
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => {
            for (index, (value, found)) in want.iter().zip(got).enumerate() {
                mismatches(value, found, &format!("{at}[{index}]"), out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{at}: expected {expected}, got {actual}")),
    }
}
