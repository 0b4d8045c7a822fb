//! GitHub REST endpoints under `/api/v3` (GHES layout, docs/protocol.md §2–§4, §19):
//! registration token, App installation token, runner registration, workflow runs.

use std::sync::Arc;

use axum::body::Bytes as Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::respond::{ApiError, authorization, json};
use crate::server::Shared;
use crate::state::{Fail, WorkflowRun};
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

/// A workflow run call's refusal, worded as GitHub words it.
fn run_refusal(fail: Fail) -> ApiError {
    match fail {
        Fail::RunNotFound(_) => ApiError::GitHub(StatusCode::NOT_FOUND, "Not Found".to_owned()),
        Fail::RunNotRerunnable(_) => ApiError::GitHub(StatusCode::FORBIDDEN, fail.to_string()),
        other => ApiError::from(other),
    }
}

/// Checks the GitHub credential, then runs `f` on the run id of the path (a path that is
/// not a number names no run: 404).
fn with_run<T>(
    shared: &Shared,
    headers: &HeaderMap,
    run_id: &str,
    f: impl FnOnce(&mut crate::state::State, u64, chrono::DateTime<chrono::Utc>) -> Result<T, Fail>,
) -> Result<T, ApiError> {
    let credential = github_credential(headers)?;
    shared.with_state(|s, now| {
        if !s.is_github_credential(credential, now) {
            return Err(unauthorized(BAD_CREDENTIALS));
        }
        let id = run_id
            .parse::<u64>()
            .map_err(|_| ApiError::GitHub(StatusCode::NOT_FOUND, "Not Found".to_owned()))?;
        f(s, id, now).map_err(run_refusal)
    })
}

/// The REST shape of a run: the fields clients read, and a few they must ignore.
fn run_json(run: &WorkflowRun) -> serde_json::Value {
    json!({
        "id": run.id,
        "name": "CI",
        "run_number": run.id,
        "event": "push",
        "status": run.status,
        "conclusion": run.conclusion,
        "run_attempt": run.run_attempt,
        "repository": {
            "name": run.repository,
            "full_name": format!("{}/{}", run.owner, run.repository),
            "owner": { "login": run.owner },
        },
    })
}

/// `GET /api/v3/repos/{owner}/{repo}/actions/runs/{run_id}` ⇒ 200 the run; 404 when the
/// repository has no such run (docs/protocol.md §19).
pub async fn workflow_run(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo, run_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let run = with_run(&shared, &headers, &run_id, |s, id, _| {
        s.workflow_run(&owner, &repo, id)
    })?;
    Ok(json(StatusCode::OK, &run_json(&run)))
}

/// `POST /api/v3/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs` ⇒ 201 `{}`;
/// 403 "This workflow run cannot be rerun" for a run not completed or one that succeeded
/// (docs/protocol.md §19).
pub async fn rerun_failed_jobs(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo, run_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    with_run(&shared, &headers, &run_id, |s, id, now| {
        s.rerun_failed_jobs(&owner, &repo, id, now)
    })?;
    Ok(json(StatusCode::CREATED, &json!({})))
}
