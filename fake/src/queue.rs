//! Message queue endpoints (docs/protocol.md §9) and job acquisition (§11), all with the
//! message queue token. The long poll is held until job messages arrive or the
//! configured hold passes (then 202, empty body).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use crate::actions::admin;
use crate::respond::{ApiError, bearer, collection, json, parse_json};
use crate::server::Shared;
use crate::state::{Fail, MqIdentity};
use crate::wire::{API_VERSION, API_VERSION_PARAM, HEADER_MAX_CAPACITY, JOB_AVAILABLE};

type Params = HashMap<String, String>;

/// Checks the MQ bearer and that it belongs to the queue in the path, including the
/// `tenant` query parameter the queue URL carries (clients must keep it).
fn queue_identity(
    shared: &Shared,
    headers: &HeaderMap,
    scale_set_id: u64,
    session_id: &str,
    query: &Params,
) -> Result<MqIdentity, ApiError> {
    let token = bearer(headers)?;
    let who = shared.with_state(|s, now| s.check_mq(token, now))?;
    let path_session = Uuid::parse_str(session_id).ok();
    if who.scale_set_id != scale_set_id || Some(who.session_id) != path_session {
        return Err(Fail::Unauthorized(
            "the message queue token is not valid for this queue".to_owned(),
        )
        .into());
    }
    match query.get("tenant").and_then(|t| t.parse::<u64>().ok()) {
        Some(t) if t == who.tenant => Ok(who),
        _ => Err(Fail::BadRequest(
            "the message queue URL lost its tenant query parameter".to_owned(),
        )
        .into()),
    }
}

/// `GET <messageQueueUrl>[&lastMessageId=n]` with `Accept: application/json;
/// api-version=6.0-preview` and `X-ScaleSetMaxCapacity` ⇒ 200 envelope, or 202
/// after the hold (docs/protocol.md §9.1).
pub async fn get_message(
    State(shared): State<Arc<Shared>>,
    Path((scale_set_id, session_id)): Path<(u64, String)>,
    Query(query): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // api-version travels in Accept here, not in the query (docs/protocol.md §9.1).
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !(accept.contains("application/json")
        && accept.contains(&format!("{API_VERSION_PARAM}={API_VERSION}")))
    {
        return Err(Fail::BadRequest(format!(
            "Accept must be \"application/json; {API_VERSION_PARAM}={API_VERSION}\", got {accept:?}"
        ))
        .into());
    }
    let who = queue_identity(&shared, &headers, scale_set_id, &session_id, &query)?;
    let last = match query.get("lastMessageId") {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| Fail::BadRequest(format!("lastMessageId {v:?} is not a number")))?,
        ),
        None => None,
    };
    let capacity = match headers.get(HEADER_MAX_CAPACITY) {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    Fail::BadRequest(format!(
                        "{HEADER_MAX_CAPACITY} must be a non-negative integer"
                    ))
                })?,
        ),
        None => None,
    };
    let deadline = tokio::time::Instant::now() + shared.options.poll_hold;
    let mut stopping = shared.stopping.clone();
    loop {
        let notified = shared.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Re-check the token each round: a token that expires while held ends in 401.
        let token = bearer(&headers)?;
        let found = shared.with_state(|s, now| {
            s.check_mq(token, now)?;
            s.poll(who, last, capacity, now)
        })?;
        if let Some(envelope) = found {
            return Ok(json(StatusCode::OK, &envelope));
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = &mut notified => {}
            _ = stopping.wait_for(|s| *s) => break,
        }
    }
    // A held poll is activity: the session stays alive (docs/protocol.md §15 item 1).
    shared.with_state(|s, now| s.touch_session(who.session_id, now));
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `DELETE <queue path>/{messageId}` (query kept) ⇒ 204; unknown id ⇒ 404.
pub async fn delete_message(
    State(shared): State<Arc<Shared>>,
    Path((scale_set_id, session_id, message_id)): Path<(u64, String, u64)>,
    Query(query): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = queue_identity(&shared, &headers, scale_set_id, &session_id, &query)?;
    shared.with_state(|s, now| s.ack(who, message_id, now))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST …/{id}/acquirejobs` with the **message queue** token and a JSON array of
/// runnerRequestIds ⇒ 200 `{count, value}` of the ids acquired (docs/protocol.md §11).
pub async fn acquire_jobs(
    State(shared): State<Arc<Shared>>,
    Path((tenant, scale_set_id)): Path<(u64, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?;
    let ids: Vec<u64> = parse_json(&body)?;
    let acquired = shared.with_state(|s, now| {
        let who = s.check_mq(token, now)?;
        if who.tenant != tenant || who.scale_set_id != scale_set_id {
            return Err(Fail::Unauthorized(
                "the message queue token is not valid for this scale set".to_owned(),
            ));
        }
        s.touch_session(who.session_id, now);
        Ok(s.acquire_jobs(scale_set_id, &ids, now))
    })?;
    Ok(json(StatusCode::OK, &collection(&acquired)))
}

/// `GET …/{id}/acquirablejobs` (admin) ⇒ 200 `{count, value}` or 204 when empty
/// (docs/protocol.md §11; only the old ARC listener used it).
pub async fn acquirable_jobs(
    State(shared): State<Arc<Shared>>,
    Path((tenant, scale_set_id)): Path<(u64, u64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    let jobs = shared.with_state(|s, _| {
        s.scale_set(tenant, scale_set_id)
            .map(|_| (s.available_jobs(scale_set_id), s.tenant_url(tenant)))
    })?;
    let (jobs, tenant_url) = jobs;
    if jobs.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let value: Vec<_> = jobs
        .iter()
        .map(|j| {
            json!({
                "acquireJobUrl": format!("{tenant_url}_apis/runtime/runnerscalesets/{scale_set_id}/acquirejobs"),
                "messageType": JOB_AVAILABLE,
                "runnerRequestId": j.runner_request_id,
                "repositoryName": j.repository_name,
                "ownerName": j.owner_name,
                "jobWorkflowRef": j.job_workflow_ref,
                "eventName": j.event_name,
                "requestLabels": j.request_labels,
            })
        })
        .collect();
    Ok(json(StatusCode::OK, &collection(&value)))
}
