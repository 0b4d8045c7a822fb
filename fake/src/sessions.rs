//! Message session endpoints (docs/protocol.md §8): create, PATCH refresh, DELETE.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::actions::{admin, scale_set_json};
use crate::faults::{EmptyMessageQueueUrl, SessionConflictNamesOwner, SessionWithoutStatistics};
use crate::respond::{ApiError, dotnet_error, json};
use crate::server::Shared;
use crate::state::{self, Fail, SessionGrant};
use crate::wire::exceptions;

/// How a fault bends the session answer.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    empty_url: bool,
    no_statistics: bool,
}

impl Shape {
    fn of(
        empty_url: Option<Extension<EmptyMessageQueueUrl>>,
        no_statistics: Option<Extension<SessionWithoutStatistics>>,
    ) -> Self {
        Shape {
            empty_url: empty_url.is_some(),
            no_statistics: no_statistics.is_some(),
        }
    }
}

/// The `RunnerScaleSetSession` wire shape (docs/protocol.md §8.1): `runnerScaleSet` and
/// `statistics` are present unless a fault leaves the statistics out.
fn session_json(s: &state::State, grant: &SessionGrant, shape: Shape) -> Value {
    let mut body = json!({
        "sessionId": grant.session.session_id,
        "ownerName": grant.session.owner_name,
        "runnerScaleSet": scale_set_json(s, &grant.scale_set),
        "messageQueueUrl": if shape.empty_url { String::new() } else { grant.message_queue_url.clone() },
        "messageQueueAccessToken": grant.message_queue_access_token,
        "statistics": grant.statistics,
    });
    if shape.no_statistics
        && let Some(fields) = body.as_object_mut()
    {
        fields.remove("statistics");
    }
    body
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionRequest {
    #[serde(default)]
    owner_name: Option<String>,
    /// scaleset sends a nil UUID here (docs/protocol.md §8.1), which is ignored; another id is
    /// kept as the session's. Whether the real service keeps one is not documented: the fake
    /// does, so that a client's recovery of its own lost create can be exercised.
    #[serde(default)]
    session_id: Option<Value>,
}

/// `POST …/{id}/sessions` `{"ownerName", "sessionId"?}` ⇒ 200 session; 409 while another
/// session is live; 404 `RunnerScaleSetNotFoundException` for an unknown/deleted set.
pub async fn create_session(
    State(shared): State<Arc<Shared>>,
    Path((tenant, id)): Path<(u64, u64)>,
    empty_url: Option<Extension<EmptyMessageQueueUrl>>,
    no_statistics: Option<Extension<SessionWithoutStatistics>>,
    names_owner: Option<Extension<SessionConflictNamesOwner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    let shape = Shape::of(empty_url, no_statistics);
    let request: SessionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SessionRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Fail::BadRequest(format!("The session body is not valid JSON: {e}")))?
    };
    let owner = request.owner_name.unwrap_or_default();
    let proposed = request
        .session_id
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
        .filter(|id| !id.is_nil());
    let created = shared.with_state(|s, now| {
        match s.create_session_with_id(tenant, id, &owner, proposed, now) {
            Ok(grant) => Ok(Ok(session_json(s, &grant, shape))),
            Err(Fail::SessionConflict(name)) if names_owner.is_some() => Ok(Err((
                name,
                s.live_session_owner(id, now).unwrap_or_default(),
            ))),
            Err(fail) => Err(fail),
        }
    })?;
    Ok(match created {
        Ok(body) => json(StatusCode::OK, &body),
        Err((name, holder)) => {
            let message = format!(
                "The runner scale set `{name}` already has an active session for owner `{holder}`."
            );
            dotnet_error(StatusCode::CONFLICT, exceptions::SESSION_CONFLICT, &message)
        }
    })
}

/// `PATCH …/sessions/{sessionId}` (no body) ⇒ 200 with a new message queue token and
/// the same session id; unknown ⇒ 404 `RunnerAdminException`.
pub async fn refresh_session(
    State(shared): State<Arc<Shared>>,
    Path((tenant, id, session_id)): Path<(u64, u64, String)>,
    empty_url: Option<Extension<EmptyMessageQueueUrl>>,
    no_statistics: Option<Extension<SessionWithoutStatistics>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    let shape = Shape::of(empty_url, no_statistics);
    let body = shared.with_state(|s, now| {
        let session_id = parse_session_id(&session_id, Fail::SessionNotFound)?;
        s.refresh_session(tenant, id, session_id, now)
            .map(|grant| session_json(s, &grant, shape))
    })?;
    Ok(json(StatusCode::OK, &body))
}

/// `DELETE …/sessions/{sessionId}` ⇒ 204; unknown/expired ⇒ 400
/// `RunnerScaleSetSessionExpiredException`.
pub async fn delete_session(
    State(shared): State<Arc<Shared>>,
    Path((tenant, id, session_id)): Path<(u64, u64, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    shared.with_state(|s, now| {
        let session_id = parse_session_id(&session_id, Fail::SessionExpired)?;
        s.delete_session(tenant, id, session_id, now)
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A malformed id is treated like an unknown one (nil UUID in the error).
fn parse_session_id(text: &str, unknown: impl Fn(Uuid) -> Fail) -> Result<Uuid, Fail> {
    Uuid::parse_str(text).map_err(|_| unknown(Uuid::nil()))
}
