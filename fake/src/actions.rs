//! Actions service admin endpoints under `/tenant/<n>/_apis/...` (admin `Bearer`), as
//! `docs/protocol.md` describes them: runner groups (§6), scale sets (§7), JIT configs and
//! agents (§12). Sessions are in `sessions.rs`, the message queue and acquisition in `queue.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::respond::{ApiError, bearer, collection, json, parse_json};
use crate::server::Shared;
use crate::state::{self, Fail, Label, Runner, RunnerSetting, ScaleSet, ScaleSetInput};

pub use crate::sessions::{create_session, delete_session, refresh_session};

/// Checks the admin bearer for `tenant` (401 when unknown/expired, docs/protocol.md §15).
pub(crate) fn admin(shared: &Shared, headers: &HeaderMap, tenant: u64) -> Result<(), ApiError> {
    let token = bearer(headers)?;
    shared
        .with_state(|s, now| s.check_admin(token, tenant, now))
        .map_err(ApiError::from)
}

/// The wire shape of a scale set (docs/protocol.md §7.1); servers answer `runnerSetting`
/// in camelCase.
pub(crate) fn scale_set_json(s: &state::State, set: &ScaleSet) -> Value {
    let group = s
        .runner_groups()
        .iter()
        .find(|g| g.id == set.runner_group_id)
        .map(|g| g.name.clone())
        .unwrap_or_default();
    json!({
        "id": set.id,
        "name": set.name,
        "runnerGroupId": set.runner_group_id,
        "runnerGroupName": group,
        "labels": set.labels,
        "runnerSetting": set.runner_setting,
        "createdOn": set.created_on.to_rfc3339(),
        "runnerJitConfigUrl": format!("{}_apis/runtime/runnerscalesets/{}/generatejitconfig", s.tenant_url(set.tenant), set.id),
        "statistics": s.statistics(set.id),
    })
}

/// The wire shape of a runner reference, with `status` and `busy` (docs/protocol.md §12.3).
pub(crate) fn runner_json(r: &Runner) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "runnerScaleSetId": r.runner_scale_set_id,
        "status": r.status(),
        "busy": r.job.is_some(),
        "enabled": true,
        "ephemeral": true,
        "os": "Linux",
        "createdOn": r.created_on.to_rfc3339(),
    })
}

/// `GET runtime/runnergroups/?groupName=` ⇒ `{count, value}` (docs/protocol.md §6).
pub async fn runner_groups(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<u64>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    let name = query.get("groupName");
    let groups: Vec<Value> = shared.with_state(|s, _| {
        s.runner_groups()
            .iter()
            .filter(|g| name.is_none_or(|n| g.name.eq_ignore_ascii_case(n)))
            .map(|g| json!({ "id": g.id, "name": g.name, "size": s.group_size(tenant, g.id), "isDefaultGroup": g.is_default_group }))
            .collect()
    });
    Ok(json(StatusCode::OK, &collection(&groups)))
}

/// `GET runnerscalesets?runnerGroupId=&name=` ⇒ `{count, value}` (docs/protocol.md §7.2).
pub async fn list_scale_sets(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<u64>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    let group = match query.get("runnerGroupId") {
        Some(g) => Some(
            g.parse::<u64>()
                .map_err(|_| Fail::BadRequest(format!("runnerGroupId {g:?} is not a number")))?,
        ),
        None => None,
    };
    let sets: Vec<Value> = shared.with_state(|s, _| {
        s.scale_sets_named(tenant, group, query.get("name").map(String::as_str))
            .iter()
            .map(|set| scale_set_json(s, set))
            .collect()
    });
    Ok(json(StatusCode::OK, &collection(&sets)))
}

/// `GET runnerscalesets/{id}` ⇒ 200 or 404.
pub async fn get_scale_set(
    State(shared): State<Arc<Shared>>,
    Path((tenant, id)): Path<(u64, u64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    let body =
        shared.with_state(|s, _| s.scale_set(tenant, id).map(|set| scale_set_json(s, &set)))?;
    Ok(json(StatusCode::OK, &body))
}

/// `POST runnerscalesets` ⇒ **200** (not 201) with the created set (docs/protocol.md §7.2).
pub async fn create_scale_set(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    let input = scale_set_input(&parse_json(&body)?)?;
    let body = shared.with_state(|s, now| {
        s.create_scale_set(tenant, input, now)
            .map(|set| scale_set_json(s, &set))
    })?;
    Ok(json(StatusCode::OK, &body))
}

/// `PATCH runnerscalesets/{id}` ⇒ 200 with the updated set.
pub async fn update_scale_set(
    State(shared): State<Arc<Shared>>,
    Path((tenant, id)): Path<(u64, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    let input = scale_set_input(&parse_json(&body)?)?;
    let body = shared.with_state(|s, now| {
        s.update_scale_set(tenant, id, input, now)
            .map(|set| scale_set_json(s, &set))
    })?;
    Ok(json(StatusCode::OK, &body))
}

/// `DELETE runnerscalesets/{id}` ⇒ 204, or 400 while a job runs on it.
pub async fn delete_scale_set(
    State(shared): State<Arc<Shared>>,
    Path((tenant, id)): Path<(u64, u64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    shared.with_state(|s, now| s.delete_scale_set(tenant, id, now))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct JitRequest {
    name: String,
    #[serde(default)]
    work_folder: String,
}

/// `POST …/{id}/generatejitconfig` `{"name","workFolder"}` ⇒ 200 `{runner,
/// encodedJITConfig}`; taken name ⇒ 409 `TaskAgentExistsException` (docs/protocol.md §12.1).
pub async fn generate_jit_config(
    State(shared): State<Arc<Shared>>,
    Path((tenant, id)): Path<(u64, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    let request: JitRequest = parse_json(&body)?;
    let (runner, encoded) = shared.with_state(|s, now| {
        s.generate_jit_config(tenant, id, &request.name, &request.work_folder, now)
    })?;
    Ok(json(
        StatusCode::OK,
        &json!({ "runner": runner_json(&runner), "encodedJITConfig": encoded }),
    ))
}

/// `GET pools/0/agents[?agentName=]` ⇒ `{count, value}` (docs/protocol.md §12.3).
pub async fn list_agents(
    State(shared): State<Arc<Shared>>,
    Path((tenant, _pool)): Path<(u64, u64)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    let runners: Vec<Value> = shared.with_state(|s, _| {
        s.runners_named(tenant, query.get("agentName").map(String::as_str))
            .iter()
            .map(runner_json)
            .collect()
    });
    Ok(json(StatusCode::OK, &collection(&runners)))
}

/// `GET pools/0/agents/{id}` ⇒ 200 or 404 `TaskAgentNotFoundException`.
pub async fn get_agent(
    State(shared): State<Arc<Shared>>,
    Path((tenant, _pool, id)): Path<(u64, u64, u64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    let runner = shared.with_state(|s, _| s.runner(tenant, id))?;
    Ok(json(StatusCode::OK, &runner_json(&runner)))
}

/// `DELETE pools/0/agents/{id}` ⇒ 204 (also for unknown ids) or 400 while busy.
pub async fn delete_agent(
    State(shared): State<Arc<Shared>>,
    Path((tenant, _pool, id)): Path<(u64, u64, u64)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&shared, &headers, tenant)?;
    shared.with_state(|s, now| s.remove_runner(tenant, id, now))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Case-insensitive key lookup: Go clients send `RunnerSetting`, servers use
/// `runnerSetting`, and the .NET service accepts both (docs/protocol.md §5).
fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn bad(what: &str) -> ApiError {
    Fail::BadRequest(format!("{what} has the wrong type")).into()
}

/// Reads a create/PATCH body; tolerates the zero `createdOn` and extra keys.
fn scale_set_input(body: &Value) -> Result<ScaleSetInput, ApiError> {
    let object = body.as_object().ok_or_else(|| bad("the body"))?;
    let name = field(object, "name")
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| bad("name")))
        .transpose()?;
    let runner_group_id = field(object, "runnerGroupId")
        .map(|v| v.as_u64().ok_or_else(|| bad("runnerGroupId")))
        .transpose()?;
    let labels = match field(object, "labels") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| {
                    let label = item.as_object().ok_or_else(|| bad("labels"))?;
                    let text = |k: &str| {
                        field(label, k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    };
                    Ok(Label {
                        name: text("name"),
                        kind: text("type"),
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?,
        ),
        Some(_) => return Err(bad("labels")),
    };
    let runner_setting = match field(object, "runnerSetting") {
        None => None,
        Some(Value::Object(setting)) => {
            let flag = |k: &str| field(setting, k).and_then(Value::as_bool).unwrap_or(false);
            Some(RunnerSetting {
                ephemeral: flag("ephemeral"),
                is_elastic: flag("isElastic"),
                disable_update: flag("disableUpdate"),
            })
        }
        Some(_) => return Err(bad("runnerSetting")),
    };
    Ok(ScaleSetInput {
        name,
        runner_group_id,
        labels,
        runner_setting,
    })
}
