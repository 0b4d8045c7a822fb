//! The layer around every route: names the endpoint, applies faults, checks the
//! `api-version` of admin calls, adds correlation headers, reshapes answers in sparse
//! mode, adds the optional BOM, and records the call.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::calls::CallStart;
use crate::endpoints::{self, Service};
use crate::faults::{
    EmptyMessageQueueUrl, FaultAction, SessionConflictNamesOwner, SessionWithoutStatistics,
};
use crate::options::Bom;
use crate::respond::{ApiError, api_version_ok};
use crate::server::Shared;
use crate::state::Fail;
use crate::wire::{API_VERSION_PARAM, HEADER_ACTIVITY_ID, HEADER_GITHUB_REQUEST_ID};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The middleware function (see module doc).
pub async fn around(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let endpoint = endpoints::classify(request.method(), route.as_deref());
    if endpoint == endpoints::CONTROL {
        return next.run(request).await;
    }
    let start = CallStart::new(
        request.method().as_str(),
        request.uri(),
        request.headers(),
        endpoint,
    );
    let service = endpoints::service(endpoint);
    let action = shared.faults().take(endpoint);
    let fault_name = action.as_ref().map(FaultAction::name);
    let response = match action {
        Some(FaultAction::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            handle(service, request, next).await
        }
        Some(FaultAction::EmptyMessageQueueUrl) => {
            request.extensions_mut().insert(EmptyMessageQueueUrl);
            handle(service, request, next).await
        }
        Some(FaultAction::SessionWithoutStatistics) => {
            request.extensions_mut().insert(SessionWithoutStatistics);
            handle(service, request, next).await
        }
        Some(FaultAction::SessionConflictNamesOwner) => {
            request.extensions_mut().insert(SessionConflictNamesOwner);
            handle(service, request, next).await
        }
        Some(FaultAction::AnswerLate { ms }) => {
            let response = handle(service, request, next).await;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            response
        }
        Some(fault) => fault
            .response()
            .unwrap_or_else(|| axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        None => handle(service, request, next).await,
    };
    let response = decorate(&shared, endpoint, service, response).await;
    let call = start.finish(response.status().as_u16(), fault_name);
    tracing::debug!(endpoint = call.endpoint, method = %call.method, path = %call.path, status = call.status, "Request served.");
    shared.record(call);
    response
}

/// Admin calls must carry `api-version` in the query (docs/protocol.md §5); a missing one
/// is a client bug, answered 400 before the handler runs.
async fn handle(service: Service, request: Request, next: Next) -> Response {
    if service == Service::Actions {
        let version = request.uri().query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == API_VERSION_PARAM)
                .map(|(_, v)| v.into_owned())
        });
        match version {
            Some(v) if api_version_ok(&v) => {}
            Some(v) => {
                return ApiError::from(Fail::BadRequest(format!(
                    "The requested REST API version of {v} is not supported."
                )))
                .into_response();
            }
            None => {
                let message = format!(
                    "No api-version was supplied; expected {API_VERSION_PARAM}={}.",
                    crate::wire::API_VERSION
                );
                return ApiError::from(Fail::BadRequest(message)).into_response();
            }
        }
    }
    next.run(request).await
}

async fn decorate(
    shared: &Shared,
    endpoint: &str,
    service: Service,
    mut response: Response,
) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let header_name = match service {
        Service::GitHub => HEADER_GITHUB_REQUEST_ID,
        Service::Actions | Service::Queue => HEADER_ACTIVITY_ID,
        Service::Other => return response,
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(header_name, value);
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if service == Service::GitHub || !is_json {
        return response;
    }
    let sparse = shared.options.sparse;
    let bom = bom_due(shared);
    if !sparse && !bom {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes.to_vec(),
        Err(e) => {
            return ApiError::from(Fail::Internal(format!("buffering a response: {e}")))
                .into_response();
        }
    };
    if sparse && let Ok(value) = serde_json::from_slice(&bytes) {
        let reshaped = crate::sparse::answer(endpoint, value);
        bytes = serde_json::to_vec(&reshaped).unwrap_or(bytes);
    }
    if bom {
        // The .NET service sometimes prefixes a UTF-8 BOM; clients strip it (docs/protocol.md §5).
        bytes.splice(0..0, UTF8_BOM.iter().copied());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

fn bom_due(shared: &Shared) -> bool {
    match shared.options.bom {
        Bom::Never | Bom::EveryNth(0) => false,
        Bom::Always => true,
        Bom::EveryNth(n) => {
            (shared.json_responses.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(u64::from(n))
        }
    }
}
