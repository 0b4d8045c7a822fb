//! Sparse mode: every Actions service and queue answer reshaped the way a .NET data
//! contract service may send it (docs/protocol.md §5), so that clients are tested on the
//! shapes the upstream Go clients read as zero values:
//!
//! * default values are left out: `0`, `false`, Go's zero time;
//! * empty values are `null`: `""`, `[]`;
//! * a session refresh carries no `statistics`;
//! * every message body opens with a job message of a kind no client knows.
//!
//! Nothing else is dropped, so what a real answer truly needs (message id, request ids,
//! queue URL and token) is still there. One transform over the answer's JSON, applied
//! by the middleware, not per endpoint.

use serde_json::{Map, Value, json};

use crate::endpoints::{MESSAGES_GET, SESSIONS_REFRESH};
use crate::wire::ZERO_TIME;

/// The `messageType` of the job message every sparse message body opens with.
pub const UNKNOWN_JOB_MESSAGE: &str = "JobKindNoClientKnows";

/// The sparse form of the answer `value` of `endpoint`.
pub fn answer(endpoint: &str, mut value: Value) -> Value {
    if let Value::Object(fields) = &mut value {
        if endpoint == SESSIONS_REFRESH {
            fields.remove("statistics");
        }
        if endpoint == MESSAGES_GET
            && let Some(Value::String(body)) = fields.get_mut("body")
        {
            *body = message_body(body);
        }
    }
    sparse(value).unwrap_or(Value::Null)
}

/// A message body (a JSON array as a string) with the unknown job message first and
/// each job message sparse. A body that is not an array is left as it is.
fn message_body(body: &str) -> String {
    let Ok(Value::Array(events)) = serde_json::from_str::<Value>(body) else {
        return body.to_owned();
    };
    let unknown = json!({ "messageType": UNKNOWN_JOB_MESSAGE, "detail": { "reason": "new" } });
    let events: Vec<Value> = std::iter::once(unknown)
        .chain(events.into_iter().map(|e| sparse(e).unwrap_or(Value::Null)))
        .collect();
    serde_json::to_string(&events).unwrap_or_else(|_| body.to_owned())
}

/// `None` for a default value (the member is left out), `null` for an empty one, the
/// value with its members made sparse otherwise. Array elements are never left out:
/// their position carries meaning.
fn sparse(value: Value) -> Option<Value> {
    match value {
        Value::Bool(false) => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::String(s) if s == ZERO_TIME => None,
        Value::String(s) if s.is_empty() => Some(Value::Null),
        Value::Array(items) if items.is_empty() => Some(Value::Null),
        Value::Array(items) => Some(Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(_) => sparse(item).unwrap_or(Value::Null),
                    other => other,
                })
                .collect(),
        )),
        Value::Object(fields) => Some(Value::Object(
            fields
                .into_iter()
                .filter_map(|(k, v)| sparse(v).map(|v| (k, v)))
                .collect::<Map<_, _>>(),
        )),
        other => Some(other),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::endpoints::{SCALE_SETS_LIST, SESSIONS_CREATE};

    #[test]
    fn defaults_go_and_empty_values_become_null() {
        let full = json!({
            "id": 7, "count": 0, "busy": false, "enabled": true, "name": "",
            "labels": [], "ids": [0, 3], "createdOn": ZERO_TIME, "owner": null,
            "runnerSetting": { "ephemeral": false }, "statistics": { "totalBusyRunners": 0 },
        });
        let expected = json!({
            "id": 7, "enabled": true, "name": null, "labels": null, "ids": [0, 3],
            "owner": null, "runnerSetting": {}, "statistics": {},
        });
        assert_eq!(answer(SCALE_SETS_LIST, full), expected);
    }

    #[test]
    fn a_refresh_loses_its_statistics_and_a_create_keeps_what_it_needs() {
        let session = json!({
            "sessionId": "5f0e", "ownerName": "me", "messageQueueUrl": "http://q/1?tenant=1",
            "messageQueueAccessToken": "tok", "statistics": { "totalAssignedJobs": 2 },
        });
        let refreshed = answer(SESSIONS_REFRESH, session.clone());
        assert!(refreshed.get("statistics").is_none(), "{refreshed}");
        assert_eq!(answer(SESSIONS_CREATE, session.clone()), session);
    }

    #[test]
    fn a_message_body_opens_with_an_unknown_kind_and_keeps_its_request_ids() {
        let events = json!([{
            "messageType": "JobAvailable", "runnerRequestId": 12, "runnerName": "",
            "finishTime": ZERO_TIME, "requestLabels": ["x"],
        }]);
        let envelope = json!({
            "messageId": 3, "messageType": "RunnerScaleSetJobMessages",
            "body": events.to_string(), "statistics": { "totalAvailableJobs": 1 },
        });
        let sent = answer(MESSAGES_GET, envelope);
        assert_eq!(sent["messageId"], 3);
        assert_eq!(sent["statistics"], json!({ "totalAvailableJobs": 1 }));
        let body: Value = serde_json::from_str(sent["body"].as_str().unwrap()).unwrap();
        assert_eq!(body[0]["messageType"], UNKNOWN_JOB_MESSAGE);
        let expected = json!({
            "messageType": "JobAvailable", "runnerRequestId": 12, "runnerName": null,
            "requestLabels": ["x"],
        });
        assert_eq!(body[1], expected);
        assert_eq!(body.as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_body_that_is_not_an_array_is_left_alone() {
        let envelope = json!({ "messageId": 1, "body": "{not json" });
        assert_eq!(answer(MESSAGES_GET, envelope)["body"], "{not json");
    }
}
