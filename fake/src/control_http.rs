//! The HTTP control API under `/_fake/...` (JSON), for drivers and runner simulators
//! in other processes. Same operations as [`crate::Fake`]; see the crate doc for
//! the request and response shapes. Control calls are neither logged nor faulted.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::control::Fake;
use crate::faults::Fault;
use crate::respond::{classify_fail, json};
use crate::server::Shared;
use crate::state::{ExpireTokens, Fail, JobSpec};
use crate::wire::RESULT_SUCCEEDED;

/// A control API error: `{"error": message}` with the status of the refusal.
struct ControlError(Fail);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let (status, _) = classify_fail(&self.0);
        json(status, &json!({ "error": self.0.to_string() }))
    }
}

impl From<Fail> for ControlError {
    fn from(f: Fail) -> Self {
        Self(f)
    }
}

type Result<T> = std::result::Result<T, ControlError>;

fn fake(shared: Arc<Shared>) -> Fake {
    Fake::new(shared)
}

/// Parses an optional JSON body (`{}` when empty).
fn body<T: for<'de> Deserialize<'de> + Default>(bytes: &Bytes) -> Result<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Fail::BadRequest(format!("invalid JSON body: {e}")).into())
}

fn job_id(shared: &Arc<Shared>, key: &str) -> Result<u64> {
    Ok(fake(shared.clone()).find_job(key)?.runner_request_id)
}

/// The control routes.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_fake/jobs", post(enqueue_job))
        .route("/_fake/jobs/{id}/complete", post(complete_job))
        .route("/_fake/jobs/{id}/cancel", post(cancel_job))
        .route("/_fake/runs/{id}/complete", post(complete_run))
        .route("/_fake/runners/connect", post(connect_runner))
        .route(
            "/_fake/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_fake/scale-sets/{id}/delete", post(delete_scale_set))
        .route("/_fake/sessions/stale", post(stale_session))
        .route("/_fake/tokens/expire", post(expire_tokens))
        .route("/_fake/state", get(state))
        .route("/_fake/calls", get(calls).delete(reset_calls))
}

async fn enqueue_job(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Result<Response> {
    let spec: JobSpec = body(&bytes)?;
    let job = fake(shared).enqueue_job(spec)?;
    Ok(json(StatusCode::CREATED, &job))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CompleteRequest {
    result: Option<String>,
}

async fn complete_job(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let request: CompleteRequest = body(&bytes)?;
    let id = job_id(&shared, &key)?;
    let job =
        fake(shared).complete_job(id, request.result.as_deref().unwrap_or(RESULT_SUCCEEDED))?;
    Ok(json(StatusCode::OK, &job))
}

async fn cancel_job(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
) -> Result<Response> {
    let id = job_id(&shared, &key)?;
    Ok(json(StatusCode::OK, &fake(shared).cancel_job(id)?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CompleteRunRequest {
    conclusion: Option<String>,
}

async fn complete_run(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let request: CompleteRunRequest = body(&bytes)?;
    let id = id
        .parse::<u64>()
        .map_err(|_| Fail::BadRequest(format!("run id {id:?} is not a number")))?;
    let conclusion = request.conclusion.as_deref().unwrap_or("success");
    Ok(json(
        StatusCode::OK,
        &fake(shared).complete_run(id, conclusion)?,
    ))
}

#[derive(Deserialize, Default)]
struct ConnectRequest {
    #[serde(rename = "encodedJITConfig", default)]
    encoded_jit_config: String,
}

async fn connect_runner(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Result<Response> {
    let request: ConnectRequest = body(&bytes)?;
    Ok(json(
        StatusCode::OK,
        &fake(shared).connect_runner(&request.encoded_jit_config)?,
    ))
}

async fn list_faults(State(shared): State<Arc<Shared>>) -> Response {
    json(StatusCode::OK, &fake(shared).faults())
}

async fn add_fault(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Result<Response> {
    let fault: Fault = serde_json::from_slice(&bytes)
        .map_err(|e| Fail::BadRequest(format!("invalid fault: {e}")))?;
    fake(shared).add_fault(fault.clone());
    Ok(json(StatusCode::CREATED, &fault))
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    fake(shared).clear_faults();
    StatusCode::NO_CONTENT
}

async fn delete_scale_set(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<u64>,
) -> Result<StatusCode> {
    fake(shared).delete_scale_set(id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct StaleRequest {
    scale_set_id: u64,
    owner_name: Option<String>,
    ttl_ms: Option<u64>,
}

async fn stale_session(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Result<Response> {
    let request: StaleRequest = body(&bytes)?;
    let view = fake(shared).create_stale_session(
        request.scale_set_id,
        request.owner_name.as_deref(),
        request.ttl_ms.map(Duration::from_millis),
    )?;
    Ok(json(StatusCode::CREATED, &view))
}

/// Body `{"admin", "messageQueue", "registration", "installation"}` (booleans); an
/// empty body or `{}` expires admin and message queue tokens.
async fn expire_tokens(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Result<Response> {
    let mut which: ExpireTokens = body(&bytes)?;
    if which == ExpireTokens::default() {
        which = ExpireTokens {
            admin: true,
            message_queue: true,
            ..ExpireTokens::default()
        };
    }
    let expired = fake(shared).expire_tokens(which);
    Ok(json(StatusCode::OK, &json!({ "expired": expired })))
}

async fn state(State(shared): State<Arc<Shared>>) -> Response {
    json(StatusCode::OK, &fake(shared).state())
}

async fn calls(State(shared): State<Arc<Shared>>) -> Response {
    json(StatusCode::OK, &fake(shared).calls())
}

async fn reset_calls(State(shared): State<Arc<Shared>>) -> StatusCode {
    fake(shared).reset_calls();
    StatusCode::NO_CONTENT
}
