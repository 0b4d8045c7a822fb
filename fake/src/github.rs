//! GitHub REST endpoints under `/api/v3` (GHES layout, docs/protocol.md §2–§4):
//! registration token, App installation token, runner registration.

use std::sync::Arc;

use axum::body::Bytes as Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::respond::{ApiError, authorization, json};
use crate::server::Shared;
use crate::state::Fail;
use crate::tokens::{Scope, verify_app_jwt};
use crate::wire::{SCHEME_BEARER, SCHEME_REMOTE_AUTH, TOKEN_SCHEMA};

const BAD_CREDENTIALS: &str = "Bad credentials";
const REQUIRES_AUTH: &str = "Requires authentication";

fn unauthorized(message: &str) -> ApiError {
    ApiError::GitHub(StatusCode::UNAUTHORIZED, message.to_owned())
}

/// `Bearer`/`token` credential of a GitHub API call.
fn github_credential(headers: &HeaderMap) -> Result<&str, ApiError> {
    match authorization(headers) {
        None => Err(unauthorized(REQUIRES_AUTH)),
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case(SCHEME_BEARER)
                || scheme.eq_ignore_ascii_case("token") =>
        {
            Ok(token)
        }
        Some(_) => Err(unauthorized(BAD_CREDENTIALS)),
    }
}

fn registration_token(
    shared: &Shared,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Response, ApiError> {
    let credential = github_credential(headers)?;
    let issued = shared.with_state(|s, now| {
        if !s.is_github_credential(credential, now) {
            return Err(unauthorized(BAD_CREDENTIALS));
        }
        s.mint_registration_token(scope, now)
            .map_err(ApiError::from)
    })?;
    Ok(json(
        StatusCode::CREATED,
        &json!({ "token": issued.token, "expires_at": issued.expires_at.to_rfc3339() }),
    ))
}

/// `POST /api/v3/orgs/{org}/actions/runners/registration-token` ⇒ 201.
pub async fn registration_token_org(
    State(shared): State<Arc<Shared>>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    registration_token(&shared, &headers, Scope::Org { org })
}

/// `POST /api/v3/repos/{owner}/{repo}/actions/runners/registration-token` ⇒ 201.
pub async fn registration_token_repo(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    registration_token(&shared, &headers, Scope::Repo { owner, repo })
}

/// `POST /api/v3/enterprises/{enterprise}/actions/runners/registration-token` ⇒ 201.
pub async fn registration_token_enterprise(
    State(shared): State<Arc<Shared>>,
    Path(enterprise): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    registration_token(&shared, &headers, Scope::Enterprise { enterprise })
}

/// `POST /api/v3/app/installations/{id}/access_tokens` with the App JWT ⇒ 201
/// `{"token": "ghs_…", "expires_at"}` (docs/protocol.md §3.3).
pub async fn access_token(
    State(shared): State<Arc<Shared>>,
    Path(installation_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let jwt = github_credential(&headers)?;
    let Some(app) = shared.options.app.as_ref() else {
        return Err(unauthorized("A JSON web token could not be decoded"));
    };
    let mut issuers = vec![app.app_id.as_str()];
    issuers.extend(app.client_id.as_deref());
    verify_app_jwt(jwt, &app.public_key_pem, &issuers, chrono::Utc::now())
        .map_err(|m| unauthorized(&m))?;
    if installation_id.parse::<u64>().ok() != Some(app.installation_id) {
        return Err(ApiError::GitHub(
            StatusCode::NOT_FOUND,
            "Not Found".to_owned(),
        ));
    }
    let issued = shared.with_state(|s, now| s.mint_installation_token(now))?;
    let body = json!({
        "token": issued.token,
        "expires_at": issued.expires_at.to_rfc3339(),
        "permissions": { "organization_self_hosted_runners": "write", "administration": "write" },
        "repository_selection": "all",
    });
    Ok(json(StatusCode::CREATED, &body))
}

#[derive(serde::Deserialize)]
struct RegistrationRequest {
    url: String,
    #[serde(default)]
    runner_event: Option<String>,
}

/// `POST /api/v3/actions/runner-registration` with `RemoteAuth <registration token>`
/// and `{"url", "runner_event":"register"}` ⇒ 201 `{url, token, token_schema,
/// use_v2_flow}` (docs/protocol.md §4, §17 S1). The credential field is `token`.
pub async fn runner_registration(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let registration_token = match authorization(&headers) {
        Some((scheme, token)) if scheme == SCHEME_REMOTE_AUTH => token,
        Some(_) => return Err(unauthorized(BAD_CREDENTIALS)),
        None => return Err(unauthorized(REQUIRES_AUTH)),
    };
    let request: RegistrationRequest = serde_json::from_slice(&body).map_err(|_| {
        ApiError::GitHub(StatusCode::BAD_REQUEST, "Problems parsing JSON".to_owned())
    })?;
    if !matches!(
        request.runner_event.as_deref(),
        Some("register") | Some("remove")
    ) {
        return Err(ApiError::GitHub(
            StatusCode::UNPROCESSABLE_ENTITY,
            "runner_event must be \"register\" or \"remove\"".to_owned(),
        ));
    }
    let (url, admin) = shared
        .with_state(|s, now| s.register(registration_token, &request.url, now))
        .map_err(|fail| match fail {
            Fail::Unauthorized(reason) => {
                tracing::info!(%reason, "Runner registration refused.");
                unauthorized(BAD_CREDENTIALS)
            }
            Fail::BadRequest(m) => ApiError::GitHub(StatusCode::UNPROCESSABLE_ENTITY, m),
            other => ApiError::from(other),
        })?;
    let body = json!({ "url": url, "token": admin.token, "token_schema": TOKEN_SCHEMA, "use_v2_flow": true });
    Ok(json(StatusCode::CREATED, &body).into_response())
}
