//! The tolerance rules, table-driven: `null` and absent read as the default wherever the Go
//! clients read a zero value; only the values truly needed are required, and their errors name
//! them; one bad part of a message costs only itself.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;
use crate::actions::session::Session;
use crate::actions::wire::{
    ListResponse, RunnerReference, RunnerScaleSet, SessionResponse, decode,
};

fn read<T: DeserializeOwned>(doc: &Value) -> Result<T, String> {
    decode(doc.to_string().as_bytes()).map_err(|e| e.to_string())
}

/// `key` of `doc` set to `null`, removed, and (when given) set to its zero value all read alike.
fn check_defaults<T: DeserializeOwned + Debug>(what: &str, doc: &Value, fields: &[(&str, Value)]) {
    read::<T>(doc).unwrap_or_else(|e| panic!("{what}: the full document: {e}"));
    for (key, zero) in fields {
        let mut nulled = doc.clone();
        nulled[*key] = Value::Null;
        let mut absent = doc.clone();
        absent.as_object_mut().map(|fields| fields.remove(*key));
        let mut explicit = doc.clone();
        explicit[*key] = zero.clone();
        let [nulled, absent, explicit] =
            [nulled, absent, explicit].map(|d| read::<T>(&d).map(|t| format!("{t:?}")));
        let nulled = nulled.unwrap_or_else(|e| panic!("{what}.{key} null: {e}"));
        assert_eq!(
            Ok(&nulled),
            absent.as_ref(),
            "{what}.{key}: null and absent differ"
        );
        if !zero.is_null() {
            assert_eq!(
                Ok(&nulled),
                explicit.as_ref(),
                "{what}.{key}: null is not {zero}"
            );
        }
    }
}

const TOTALS: [&str; 7] = [
    "totalAvailableJobs",
    "totalAcquiredJobs",
    "totalAssignedJobs",
    "totalRunningJobs",
    "totalRegisteredRunners",
    "totalBusyRunners",
    "totalIdleRunners",
];

fn full_statistics() -> Value {
    Value::Object(TOTALS.iter().map(|k| ((*k).to_owned(), json!(3))).collect())
}

#[test]
fn statistics_totals_default_to_zero() {
    let fields: Vec<_> = TOTALS.iter().map(|k| (*k, json!(0))).collect();
    check_defaults::<Statistics>("statistics", &full_statistics(), &fields);
}

#[test]
fn job_fields_default_to_zero() {
    let job = json!({
        "messageType": "JobCompleted", "runnerRequestId": 7, "jobId": "j", "repositoryName": "r",
        "ownerName": "o", "jobWorkflowRef": "w", "jobDisplayName": "d", "workflowRunId": 9,
        "eventName": "push", "requestLabels": ["l"], "queueTime": "2026-01-01T10:00:00Z",
        "scaleSetAssignTime": "2026-01-01T10:00:01Z", "runnerAssignTime": "2026-01-01T10:00:02Z",
        "finishTime": "2026-01-01T10:00:03Z", "runnerId": 4, "runnerName": "n", "result": "failed",
    });
    let fields = [
        ("runnerRequestId", json!(0)),
        ("jobId", json!("")),
        ("repositoryName", json!("")),
        ("ownerName", json!("")),
        ("jobWorkflowRef", json!("")),
        ("jobDisplayName", json!("")),
        ("workflowRunId", json!(0)),
        ("eventName", json!("")),
        ("requestLabels", json!([])),
        ("queueTime", json!("0001-01-01T00:00:00Z")),
        ("scaleSetAssignTime", json!("0001-01-01T00:00:00Z")),
        ("runnerAssignTime", json!("0001-01-01T00:00:00Z")),
        ("finishTime", json!("0001-01-01T00:00:00Z")),
        ("runnerId", json!(0)),
        ("runnerName", json!("")),
        ("result", json!("")),
    ];
    check_defaults::<JobMessage>("JobCompleted", &job, &fields);
    let mut started = job.clone();
    started["messageType"] = json!("JobStarted");
    check_defaults::<JobMessage>("JobStarted", &started, &fields);
    let mut available = job;
    available["messageType"] = json!("JobAvailable");
    available["acquireJobUrl"] = json!("u");
    check_defaults::<JobMessage>("JobAvailable", &available, &[("acquireJobUrl", json!(""))]);
}

#[test]
fn runner_scale_set_and_session_details_default() {
    let scale_set = json!({
        "id": 1, "name": "s", "runnerGroupId": 2, "runnerGroupName": "g",
        "labels": [{"name": "s", "type": "System"}],
        "runnerSetting": {"ephemeral": true, "disableUpdate": true}, "statistics": full_statistics(),
    });
    let fields = [
        ("name", json!("")),
        ("runnerGroupId", json!(0)),
        ("runnerGroupName", json!("")),
        ("labels", json!([])),
        ("runnerSetting", json!({})),
        ("statistics", Value::Null),
    ];
    check_defaults::<RunnerScaleSet>("runnerScaleSet", &scale_set, &fields);
    check_defaults::<ListResponse<RunnerScaleSet>>(
        "list",
        &json!({"count": 1, "value": [scale_set.clone()]}),
        &[("count", json!(0)), ("value", json!([]))],
    );
    let setting = json!({"ephemeral": true, "disableUpdate": true});
    check_defaults::<wire::RunnerSetting>(
        "runnerSetting",
        &setting,
        &[("ephemeral", json!(false)), ("disableUpdate", json!(false))],
    );
    check_defaults::<wire::Label>(
        "label",
        &json!({"name": "x", "type": "System"}),
        &[("name", json!("")), ("type", json!(""))],
    );
    let session = json!({
        "sessionId": "8b6f4c3c-8b0e-4d57-9b1a-3a9b3f3f3f3f", "ownerName": "o",
        "runnerScaleSet": scale_set, "messageQueueUrl": "https://q.example/x",
        "messageQueueAccessToken": "t", "statistics": full_statistics(),
    });
    check_defaults::<SessionResponse>(
        "session",
        &session,
        &[
            ("ownerName", json!("")),
            ("runnerScaleSet", Value::Null),
            ("statistics", Value::Null),
        ],
    );
    check_defaults::<RunnerReference>(
        "runner",
        &json!({"id": 1, "name": "n", "runnerScaleSetId": 2, "status": "online", "busy": true, "os": "linux"}),
        &[
            ("name", json!("")),
            ("runnerScaleSetId", json!(0)),
            ("status", Value::Null),
            ("busy", Value::Null),
            ("os", Value::Null),
        ],
    );
}

#[test]
fn envelope_details_default() {
    let envelope = json!({
        "messageId": 1, "messageType": JOB_MESSAGES_TYPE, "body": "[]", "statistics": full_statistics(),
    });
    let fields = [
        ("messageType", json!("")),
        ("body", json!("")),
        ("statistics", Value::Null),
    ];
    check_defaults::<Envelope>("envelope", &envelope, &fields);
}

/// Only the values a call cannot do without are required, and the error names them.
#[test]
fn needed_values_are_named_when_missing() {
    for message_id in [Value::Null, json!("x")] {
        let doc = json!({"messageId": message_id, "messageType": JOB_MESSAGES_TYPE, "body": "[]"});
        let error = decode_envelope(doc.to_string().as_bytes()).unwrap_err();
        assert!(error.to_string().contains("messageId"), "{error}");
    }
    for request_id in [Value::Null, json!(0)] {
        let body = json!([{"messageType": "JobAvailable", "runnerRequestId": request_id}]);
        let parsed = parse_body(&body.to_string()).unwrap();
        assert!(parsed.events.is_empty());
        assert!(parsed.skipped[0].starts_with("body[0]: "), "{parsed:?}");
        assert!(parsed.skipped[0].contains("runnerRequestId"), "{parsed:?}");
    }
    let session = json!({
        "sessionId": "8b6f4c3c-8b0e-4d57-9b1a-3a9b3f3f3f3f", "messageQueueUrl": "https://q.example/x",
        "messageQueueAccessToken": "t", "statistics": {},
    });
    for key in ["messageQueueUrl", "messageQueueAccessToken"] {
        let mut doc = session.clone();
        doc[key] = Value::Null;
        let error = Session::from_response(1, read(&doc).unwrap())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains(key), "{key}: {error}");
    }
    let mut doc = session;
    doc["sessionId"] = Value::Null;
    let error = read::<SessionResponse>(&doc).err().unwrap_or_default();
    assert!(error.contains("sessionId"), "{error}");
}

/// An element that cannot be read, or of an unknown type, is passed over by its index; the
/// others are kept in order.
#[test]
fn one_bad_element_costs_only_itself() {
    let body = json!([
        {"messageType": "JobAvailable", "runnerRequestId": 1},
        {"messageType": "JobStarted", "runnerId": "four"},
        17,
        null,
        {"messageType": "JobReassigned"},
        {"runnerRequestId": 5},
        {"messageType": "JobAvailable", "runnerRequestId": 2, "runnerName": null},
    ]);
    let parsed = parse_body(&body.to_string()).unwrap();
    assert_eq!(acquirable_ids(&parsed.events), vec![1, 2]);
    let indexes: Vec<&str> = parsed
        .skipped
        .iter()
        .map(|s| s.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        indexes,
        ["body[1]", "body[2]", "body[3]", "body[4]", "body[5]"]
    );
    assert!(parsed.skipped[3].contains("\"JobReassigned\" is not known"));
    assert!(parsed.skipped[4].contains("messageType"), "{parsed:?}");
}

/// An envelope that does not decode is read as far as it can be: without its statistics (its
/// jobs are still acquired), or as its id alone (it is still acknowledged).
#[test]
fn an_envelope_is_read_as_far_as_it_can_be() {
    let jobs = json!([{"messageType": "JobAvailable", "runnerRequestId": 3}]).to_string();
    let bad_statistics = json!({
        "messageId": 8, "messageType": JOB_MESSAGES_TYPE, "body": jobs,
        "statistics": {"totalAssignedJobs": "three"},
    });
    let envelope = decode_envelope(bad_statistics.to_string().as_bytes()).unwrap();
    let message = parse(&envelope).unwrap();
    assert_eq!(acquirable_ids(&message.events), vec![3]);
    assert_eq!(message.statistics, None);
    assert!(message.skipped[0].starts_with("statistics.totalAssignedJobs: "));

    for body in [json!(42), json!([{"messageType": "JobAvailable"}])] {
        let doc = json!({"messageId": 9, "messageType": JOB_MESSAGES_TYPE, "body": body});
        let envelope = decode_envelope(doc.to_string().as_bytes()).unwrap();
        let malformed = parse(&envelope).unwrap_err();
        assert_eq!(malformed.id, 9);
        assert!(
            malformed.reason.starts_with("body: invalid type"),
            "{malformed}"
        );
    }
    assert!(decode_envelope(b"\"text\"").is_err());
    assert!(decode_envelope(b"{}").is_err());
    assert!(decode_envelope(b"{not json").is_err());
}
