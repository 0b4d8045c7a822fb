//! Response shapes: .NET-style Actions errors, GitHub REST errors, plain-text 401s,
//! and small request helpers (bearer extraction, api-version check).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::Fail;
use crate::wire::{API_VERSION, exceptions};

/// A JSON response with a status.
pub fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `{"count": n, "value": [...]}`, the collection shape of the Actions service.
pub fn collection<T: serde::Serialize>(items: &[T]) -> Value {
    json!({ "count": items.len(), "value": items })
}

/// An error of one of the three services.
#[derive(Debug)]
pub enum ApiError {
    /// Actions service / message queue: .NET exception JSON (docs/protocol.md §14.4).
    Actions(Fail),
    /// GitHub REST: `{"message", "documentation_url", "status"}`.
    GitHub(StatusCode, String),
}

impl From<Fail> for ApiError {
    fn from(f: Fail) -> Self {
        ApiError::Actions(f)
    }
}

/// Status and exception type name of a refusal (docs/protocol.md §14.4, §12.3 mapping).
pub fn classify_fail(fail: &Fail) -> (StatusCode, &'static str) {
    match fail {
        Fail::ScaleSetNotFound(_) => (StatusCode::NOT_FOUND, exceptions::SCALE_SET_NOT_FOUND),
        Fail::ScaleSetExists { .. } => (StatusCode::BAD_REQUEST, exceptions::SCALE_SET_EXISTS),
        Fail::ScaleSetBusy(_) | Fail::AgentBusy(_) => {
            (StatusCode::BAD_REQUEST, exceptions::JOB_STILL_RUNNING)
        }
        Fail::SessionConflict(_) => (StatusCode::CONFLICT, exceptions::SESSION_CONFLICT),
        Fail::SessionNotFound(_) => (StatusCode::NOT_FOUND, exceptions::RUNNER_ADMIN),
        Fail::SessionExpired(_) => (StatusCode::BAD_REQUEST, exceptions::SESSION_EXPIRED),
        Fail::AgentExists(_) => (StatusCode::CONFLICT, exceptions::AGENT_EXISTS),
        Fail::AgentNotFound(_) => (StatusCode::NOT_FOUND, exceptions::AGENT_NOT_FOUND),
        Fail::MessageNotFound(_)
        | Fail::JobNotFound(_)
        | Fail::RunnerGroupNotFound(_)
        | Fail::RunNotFound(_) => (StatusCode::NOT_FOUND, exceptions::NOT_FOUND),
        Fail::RunNotRerunnable(_) => (StatusCode::FORBIDDEN, ""),
        Fail::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ""),
        Fail::BadRequest(_) => (StatusCode::BAD_REQUEST, exceptions::ARGUMENT),
        Fail::Conflict(_) => (
            StatusCode::CONFLICT,
            "System.InvalidOperationException, mscorlib",
        ),
        Fail::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "System.Exception, mscorlib",
        ),
    }
}

/// The .NET error body: `$id`, `innerException`, `message`, `typeName`, `typeKey`
/// (the short class name), `errorCode`, `eventId`.
pub fn dotnet_error(status: StatusCode, type_name: &str, message: &str) -> Response {
    let class = type_name.split(',').next().unwrap_or(type_name);
    let type_key = class.rsplit('.').next().unwrap_or(class);
    let body = json!({
        "$id": "1",
        "innerException": null,
        "message": message,
        "typeName": type_name,
        "typeKey": type_key,
        "errorCode": 0,
        "eventId": 3000,
    });
    json(status, &body)
}

/// A GitHub REST error body.
pub fn github_error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.as_u16().to_string(),
    });
    json(status, &body)
}

/// A plain-text response (401s of the Actions service, docs/protocol.md §15 item 2).
pub fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_owned(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::GitHub(status, message) => github_error(status, &message),
            ApiError::Actions(Fail::Unauthorized(reason)) => {
                let mut response =
                    plain(StatusCode::UNAUTHORIZED, &format!("Unauthorized: {reason}"));
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                response
            }
            ApiError::Actions(fail) => {
                let (status, type_name) = classify_fail(&fail);
                dotnet_error(status, type_name, &fail.to_string())
            }
        }
    }
}

/// `(scheme, credential)` of the Authorization header.
pub fn authorization(headers: &HeaderMap) -> Option<(&str, &str)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credential) = value.split_once(' ')?;
    Some((scheme, credential.trim()))
}

/// The scheme of the Authorization header only — what the call log keeps.
pub fn auth_scheme(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    Some(value.split(' ').next().unwrap_or_default().to_owned())
}

/// The `Bearer` credential, or a 401 (Actions service style).
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    match authorization(headers) {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case(crate::wire::SCHEME_BEARER) && !token.is_empty() =>
        {
            Ok(token)
        }
        _ => Err(Fail::Unauthorized("a Bearer token is required".to_owned()).into()),
    }
}

/// Whether an `api-version` value is one the fake serves.
pub fn api_version_ok(value: &str) -> bool {
    value == API_VERSION
}

/// Parses a JSON body, or a 400 `ArgumentException`.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| Fail::BadRequest(format!("The request body is not valid JSON: {e}")).into())
}
