//! Serde of every sample payload in docs/protocol.md §17, plus the casing and BOM quirks of §5.

use super::*;
use crate::actions::messages::{self, JobMessage};

#[test]
fn s1_runner_registration_reads_token_not_authorization() {
    let body = br#"{"url": "http://127.0.0.1:40000/tenant/123/", "token": "a.b.c",
        "token_schema": "OAuthAccessToken", "use_v2_flow": true}"#;
    let parsed: RunnerRegistrationResponse = decode(body).unwrap();
    assert_eq!(parsed.url, "http://127.0.0.1:40000/tenant/123/");
    assert_eq!(parsed.token, "a.b.c");
    assert!(!format!("{parsed:?}").contains("a.b.c"));
}

#[test]
fn s2_registration_token() {
    let body = br#"{"token": "LLBF3JGZDX3P5PMEXLND6TS6FCWO6", "expires_at": "2020-01-22T12:13:35.123-08:00"}"#;
    let parsed: TokenResponse = decode(body).unwrap();
    assert_eq!(parsed.token, "LLBF3JGZDX3P5PMEXLND6TS6FCWO6");
    let minimal: TokenResponse = decode(br#"{"token":"token"}"#).unwrap();
    assert_eq!(minimal.token, "token");
}

#[test]
fn s3_scale_set_list_and_create_request() {
    let list: ListResponse<RunnerScaleSet> =
        decode(br#"{"count": 1, "value": [{"id": 1, "name": "ScaleSet"}]}"#).unwrap();
    assert_eq!(list.count, 1);
    assert_eq!(list.value[0].id, 1);
    assert_eq!(list.value[0].name, "ScaleSet");

    let request = ScaleSetRequest {
        name: "scale".into(),
        runner_group_id: 1,
        labels: vec![Label::system("scale")],
        runner_setting: RunnerSetting {
            ephemeral: false,
            disable_update: true,
        },
    };
    let sent = serde_json::to_value(&request).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"name": "scale", "runnerGroupId": 1,
            "labels": [{"type": "System", "name": "scale"}],
            "RunnerSetting": {"ephemeral": false, "disableUpdate": true}})
    );
}

#[test]
fn runner_setting_accepts_both_casings() {
    for body in [
        br#"{"id": 2, "RunnerSetting": {"ephemeral": true, "disableUpdate": true}}"#.as_slice(),
        br#"{"id": 2, "runnerSetting": {"Ephemeral": true, "DisableUpdate": true}}"#.as_slice(),
        br#"{"Id": 2, "RunnerSetting": {"ephemeral": true, "disableUpdate": true}}"#.as_slice(),
    ] {
        let set: RunnerScaleSet = decode(body).unwrap();
        assert_eq!(set.id, 2);
        assert!(set.runner_setting.ephemeral && set.runner_setting.disable_update);
    }
}

#[test]
fn s4_session() {
    let body = br#"{"sessionId": "2f1c1c4e-3b8e-4c55-9a0e-6f1d2a1b0c9d", "ownerName": "foo",
        "runnerScaleSet": {"id": 1, "name": "ScaleSet"},
        "messageQueueUrl": "http://fake.actions.github.com/123",
        "messageQueueAccessToken": "fake.jwt.here",
        "statistics": {"totalAvailableJobs": 0, "totalAcquiredJobs": 0, "totalAssignedJobs": 0, "totalRunningJobs": 0,
                       "totalRegisteredRunners": 0, "totalBusyRunners": 0, "totalIdleRunners": 0}}"#;
    let session: SessionResponse = decode(body).unwrap();
    assert!(!format!("{session:?}").contains("fake.jwt.here"));
    assert_eq!(
        session.session_id.to_string(),
        "2f1c1c4e-3b8e-4c55-9a0e-6f1d2a1b0c9d"
    );
    assert_eq!(session.runner_scale_set.unwrap().id, 1);
    assert_eq!(
        session.message_queue_url,
        "http://fake.actions.github.com/123"
    );
    assert_eq!(session.statistics, Some(Statistics::default()));
}

#[test]
fn s5_envelope_with_bom() {
    let body = "\u{feff}{\"messageId\": 10391, \"messageType\": \"RunnerScaleSetJobMessages\", \"body\": \"[]\",
        \"statistics\": {\"totalAvailableJobs\": 1, \"totalAcquiredJobs\": 0, \"totalAssignedJobs\": 0,
        \"totalRunningJobs\": 0, \"totalRegisteredRunners\": 0, \"totalBusyRunners\": 0, \"totalIdleRunners\": 0}}";
    let envelope: Envelope = decode(body.as_bytes()).unwrap();
    let message = messages::parse(&envelope).unwrap();
    assert_eq!(message.id, 10391);
    assert_eq!(message.statistics.unwrap().total_available_jobs, 1);
    assert!(message.events.is_empty());
}

#[test]
fn s6_batched_body_ignores_unknown_types() {
    let body = r#"[{"messageType": "JobAvailable", "runnerRequestId": 3},
        {"messageType": "JobAvailable", "runnerRequestId": 4},
        {"messageType": "JobAssigned",  "runnerRequestId": 2},
        {"messageType": "JobCompleted", "runnerRequestId": 1, "result": "succeed"},
        {"messageType": "unknown"}]"#;
    let parsed = messages::parse_body(body).unwrap();
    assert_eq!(
        parsed.skipped,
        vec![r#"body[4]: messageType "unknown" is not known"#]
    );
    let events = parsed.events;
    assert_eq!(events.len(), 4);
    assert_eq!(messages::acquirable_ids(&events), vec![3, 4]);
    assert!(matches!(&events[2], JobMessage::JobAssigned { job } if job.runner_request_id == 2));
    assert!(matches!(&events[3], JobMessage::JobCompleted { result, .. } if result == "succeed"));
}

#[test]
fn s7_job_started_and_full_job_completed() {
    let started = r#"[{"messageType": "JobStarted", "runnerRequestId": 3, "runnerId": 1, "runnerName": "runner1",
        "ownerName": "owner1", "repositoryName": "repo1", "jobWorkflowRef": ".github/workflows/ci.yaml",
        "jobDisplayName": "job1", "workflowRunId": 100}]"#;
    let events = messages::parse_body(started).unwrap().events;
    let JobMessage::JobStarted { job, runner } = &events[0] else {
        panic!("expected JobStarted, got {events:?}");
    };
    assert_eq!(
        (runner.runner_id, runner.runner_name.as_str()),
        (1, "runner1")
    );
    assert_eq!(
        (job.owner_name.as_str(), job.workflow_run_id),
        ("owner1", 100)
    );

    let completed = r#"[{"messageType": "JobCompleted", "runnerRequestId": 0, "jobId": "b5f0", "ownerName": "actions",
        "repositoryName": "runner", "jobWorkflowRef": "actions/runner/.github/workflows/build.yml@refs/heads/main",
        "jobDisplayName": "Build and Test", "workflowRunId": 123456, "eventName": "push", "requestLabels": ["my-scale-set"],
        "queueTime": "2026-01-01T10:00:00Z", "scaleSetAssignTime": "2026-01-01T10:00:01Z",
        "runnerAssignTime": "2026-01-01T10:00:20Z", "finishTime": "2026-01-01T10:05:00Z",
        "result": "succeeded", "runnerId": 42, "runnerName": "my-scale-set-abcde-runner-xyz12"}]"#;
    let events = messages::parse_body(completed).unwrap().events;
    let JobMessage::JobCompleted {
        job,
        runner,
        result,
    } = &events[0]
    else {
        panic!("expected JobCompleted, got {events:?}");
    };
    assert_eq!(result, "succeeded");
    assert_eq!(runner.runner_id, 42);
    assert_eq!(job.job_id, "b5f0");
    assert_eq!(job.request_labels, vec!["my-scale-set"]);
    let queued = job.queue_time.unwrap();
    assert_eq!((job.runner_assign_time.unwrap() - queued).num_seconds(), 20);
}

#[test]
fn zero_and_garbage_times_are_absent() {
    let body = r#"[{"messageType": "JobAssigned", "queueTime": "0001-01-01T00:00:00Z", "finishTime": "soon"}]"#;
    let events = messages::parse_body(body).unwrap().events;
    let JobMessage::JobAssigned { job } = &events[0] else {
        panic!("expected JobAssigned");
    };
    assert_eq!((job.queue_time, job.finish_time), (None, None));
}

#[test]
fn s8_acquire_jobs() {
    let acquired: ListResponse<i64> = decode(br#"{"count": 2, "value": [1, 2]}"#).unwrap();
    assert_eq!(acquired.value, vec![1, 2]);
    let arc: ListResponse<i64> = decode(br#"{"value": [1]}"#).unwrap();
    assert_eq!(arc.value, vec![1]);
}

#[test]
fn s9_runners_groups_and_jit() {
    let runner: RunnerReference = decode(br#"{"id": 1, "name": "self-hosted-ubuntu"}"#).unwrap();
    assert_eq!(runner.name, "self-hosted-ubuntu");
    assert!(!runner.is_online());
    let none: ListResponse<RunnerReference> = decode(br#"{"count": 0, "value": []}"#).unwrap();
    assert!(none.value.is_empty());
    let groups: ListResponse<RunnerGroup> =
        decode(br#"{"count": 1, "value": [{"id": 1, "name": "test-runner-group"}]}"#).unwrap();
    assert_eq!(groups.value[0].name, "test-runner-group");
    let jit: JitConfigResponse = decode(
        br#"{"runner": {"id": 7, "name": "runner-1a2b3c4d", "runnerScaleSetId": 1}, "encodedJITConfig": "eyIucnVubmVyIjoi"}"#,
    )
    .unwrap();
    assert_eq!(jit.runner.runner_scale_set_id, 1);
    assert_eq!(jit.encoded_jit_config, "eyIucnVubmVyIjoi");
    assert!(!format!("{jit:?}").contains("eyIucnVubmVyIjoi"));
}

#[test]
fn runner_online_when_status_online_or_busy() {
    let online: RunnerReference = decode(br#"{"id": 1, "status": "online"}"#).unwrap();
    let busy: RunnerReference = decode(br#"{"id": 1, "status": "offline", "busy": true}"#).unwrap();
    let offline: RunnerReference =
        decode(br#"{"id": 1, "status": "offline", "busy": false}"#).unwrap();
    assert!(online.is_online() && busy.is_online() && !offline.is_online());
}

#[test]
fn s10_error_bodies() {
    let error: ErrorBody =
        decode(br#"{"typeName": "CSharpExceptionNameHere", "message": "could not do something"}"#)
            .unwrap();
    assert_eq!(error.type_name, "CSharpExceptionNameHere");
    let dotnet: ErrorBody = decode(
        br#"{"$id":"1","innerException":null,"message":"The actions runner scaleset dev already has an active session.",
        "typeName":"GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionConflictException, GitHub.Actions.Runtime.WebApi",
        "typeKey":"RunnerScaleSetSessionConflictException","errorCode":0,"eventId":3000}"#,
    )
    .unwrap();
    assert!(
        dotnet
            .type_name
            .contains("RunnerScaleSetSessionConflictException")
    );
}

#[test]
fn malformed_messages_keep_their_id() {
    let wrong_type = Envelope {
        message_id: 5,
        message_type: "Other".into(),
        body: "[]".into(),
        statistics: Some(Statistics::default()),
        unreadable: None,
    };
    assert_eq!(messages::parse(&wrong_type).unwrap_err().id, 5);
    let bad_body = Envelope {
        message_type: messages::JOB_MESSAGES_TYPE.into(),
        body: "{not json".into(),
        ..wrong_type
    };
    assert_eq!(messages::parse(&bad_body).unwrap_err().id, 5);
}

#[test]
fn a_message_without_statistics_keeps_its_jobs() {
    let envelope: Envelope = decode(
        br#"{"messageId": 5, "messageType": "RunnerScaleSetJobMessages", "statistics": null,
        "body": "[{\"messageType\": \"JobAvailable\", \"runnerRequestId\": 9}]"}"#,
    )
    .unwrap();
    let message = messages::parse(&envelope).unwrap();
    assert_eq!(message.statistics, None);
    assert_eq!(messages::acquirable_ids(&message.events), vec![9]);
}

#[test]
fn empty_body_string_means_no_events() {
    assert_eq!(messages::parse_body("").unwrap(), messages::Body::default());
    assert_eq!(
        messages::parse_body("[]").unwrap(),
        messages::Body::default()
    );
}

#[test]
fn decode_errors_name_the_field() {
    let error = decode::<JitConfigResponse>(br#"{"Runner": {"id": {}}, "encodedJITConfig": "x"}"#)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.starts_with("runner.id: invalid type: map"), "{error}");
    let error =
        decode::<Envelope>(br#"{"messageId": 1, "statistics": {"totalAssignedJobs": "3"}}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
    assert!(
        error.starts_with("statistics.totalAssignedJobs: "),
        "{error}"
    );
    // At the top there is no field to name.
    let error = decode::<Envelope>(b"\"text\"")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.starts_with("invalid type: string \"text\""),
        "{error}"
    );
}
