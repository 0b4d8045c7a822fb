//! Route patterns of every protocol endpoint and the stable short names the call
//! log and fault rules use (`registration-token`, `messages.get`, …).

use axum::http::Method;

/// Route patterns (axum syntax). Paths as in docs/protocol.md §2–§12.
pub mod paths {
    /// Registration token, org scope (docs/protocol.md §2 table).
    pub const ORG_REGISTRATION_TOKEN: &str =
        "/api/v3/orgs/{org}/actions/runners/registration-token";
    /// Registration token, repository scope.
    pub const REPO_REGISTRATION_TOKEN: &str =
        "/api/v3/repos/{owner}/{repo}/actions/runners/registration-token";
    /// Registration token, enterprise scope.
    pub const ENTERPRISE_REGISTRATION_TOKEN: &str =
        "/api/v3/enterprises/{enterprise}/actions/runners/registration-token";
    /// App installation token (docs/protocol.md §3.3).
    pub const ACCESS_TOKEN: &str = "/api/v3/app/installations/{installation_id}/access_tokens";
    /// Runner registration (docs/protocol.md §4).
    pub const RUNNER_REGISTRATION: &str = "/api/v3/actions/runner-registration";
    /// A workflow run (docs/protocol.md §19).
    pub const WORKFLOW_RUN: &str = "/api/v3/repos/{owner}/{repo}/actions/runs/{run_id}";
    /// Re-run a workflow run's failed jobs (docs/protocol.md §19).
    pub const RERUN_FAILED_JOBS: &str =
        "/api/v3/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs";
    /// Runner groups; clients send the trailing slash (docs/protocol.md §6).
    pub const RUNNER_GROUPS: &str = "/tenant/{tenant}/_apis/runtime/runnergroups/";
    /// Runner groups without the slash (also accepted).
    pub const RUNNER_GROUPS_NO_SLASH: &str = "/tenant/{tenant}/_apis/runtime/runnergroups";
    /// Scale set list/create (docs/protocol.md §7.2).
    pub const SCALE_SETS: &str = "/tenant/{tenant}/_apis/runtime/runnerscalesets";
    /// One scale set.
    pub const SCALE_SET: &str = "/tenant/{tenant}/_apis/runtime/runnerscalesets/{scale_set_id}";
    /// Session create (docs/protocol.md §8.1).
    pub const SESSIONS: &str =
        "/tenant/{tenant}/_apis/runtime/runnerscalesets/{scale_set_id}/sessions";
    /// Session refresh/delete (docs/protocol.md §8.2, §8.3).
    pub const SESSION: &str =
        "/tenant/{tenant}/_apis/runtime/runnerscalesets/{scale_set_id}/sessions/{session_id}";
    /// Job acquisition, message queue token (docs/protocol.md §11).
    pub const ACQUIRE_JOBS: &str =
        "/tenant/{tenant}/_apis/runtime/runnerscalesets/{scale_set_id}/acquirejobs";
    /// Acquirable jobs, admin token (docs/protocol.md §11, old ARC only).
    pub const ACQUIRABLE_JOBS: &str =
        "/tenant/{tenant}/_apis/runtime/runnerscalesets/{scale_set_id}/acquirablejobs";
    /// JIT config (docs/protocol.md §12.1).
    pub const GENERATE_JIT_CONFIG: &str =
        "/tenant/{tenant}/_apis/runtime/runnerscalesets/{scale_set_id}/generatejitconfig";
    /// Runner list / by name (docs/protocol.md §12.3).
    pub const AGENTS: &str = "/tenant/{tenant}/_apis/distributedtask/pools/{pool}/agents";
    /// One runner.
    pub const AGENT: &str = "/tenant/{tenant}/_apis/distributedtask/pools/{pool}/agents/{agent_id}";
    /// Message queue long poll (opaque to clients, docs/protocol.md §9.1).
    pub const QUEUE_MESSAGES: &str = "/queue/{scale_set_id}/{session_id}/messages";
    /// Message acknowledgement (docs/protocol.md §9.2).
    pub const QUEUE_MESSAGE: &str = "/queue/{scale_set_id}/{session_id}/messages/{message_id}";
}

/// `POST …/registration-token` (any scope).
pub const REGISTRATION_TOKEN: &str = "registration-token";
/// `POST /app/installations/{id}/access_tokens`.
pub const ACCESS_TOKEN: &str = "access-token";
/// `POST /actions/runner-registration`.
pub const RUNNER_REGISTRATION: &str = "runner-registration";
/// `GET /repos/{owner}/{repo}/actions/runs/{run_id}`.
pub const WORKFLOW_RUN: &str = "workflow-runs.get";
/// `POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs`.
pub const RERUN_FAILED_JOBS: &str = "workflow-runs.rerun-failed-jobs";
/// `GET runnergroups/`.
pub const RUNNER_GROUPS: &str = "runner-groups";
/// `GET runnerscalesets/{id}`.
pub const SCALE_SETS_GET: &str = "scale-sets.get";
/// `GET runnerscalesets?runnerGroupId=&name=`.
pub const SCALE_SETS_LIST: &str = "scale-sets.list";
/// `POST runnerscalesets`.
pub const SCALE_SETS_CREATE: &str = "scale-sets.create";
/// `PATCH runnerscalesets/{id}`.
pub const SCALE_SETS_UPDATE: &str = "scale-sets.update";
/// `DELETE runnerscalesets/{id}`.
pub const SCALE_SETS_DELETE: &str = "scale-sets.delete";
/// `POST …/sessions`.
pub const SESSIONS_CREATE: &str = "sessions.create";
/// `PATCH …/sessions/{id}`.
pub const SESSIONS_REFRESH: &str = "sessions.refresh";
/// `DELETE …/sessions/{id}`.
pub const SESSIONS_DELETE: &str = "sessions.delete";
/// `GET <messageQueueUrl>`.
pub const MESSAGES_GET: &str = "messages.get";
/// `DELETE <messageQueueUrl>/{id}`.
pub const MESSAGES_DELETE: &str = "messages.delete";
/// `POST …/acquirejobs`.
pub const ACQUIRE_JOBS: &str = "acquirejobs";
/// `GET …/acquirablejobs`.
pub const ACQUIRABLE_JOBS: &str = "acquirablejobs";
/// `POST …/generatejitconfig`.
pub const GENERATE_JIT_CONFIG: &str = "generatejitconfig";
/// `GET agents/{id}`.
pub const AGENTS_GET: &str = "agents.get";
/// `GET agents?agentName=`.
pub const AGENTS_LIST: &str = "agents.list";
/// `DELETE agents/{id}`.
pub const AGENTS_DELETE: &str = "agents.delete";
/// The fake's own control API (not logged, never faulted).
pub const CONTROL: &str = "control";
/// Anything else (404 from the router).
pub const UNKNOWN: &str = "unknown";

/// Which service an endpoint belongs to: decides correlation header and BOM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// GitHub REST API (`X-GitHub-Request-Id`).
    GitHub,
    /// Actions service, admin calls (`ActivityId`, `api-version` query, BOM).
    Actions,
    /// Message queue (`ActivityId`, BOM).
    Queue,
    /// Control API or unknown path.
    Other,
}

/// The service of an endpoint name.
pub fn service(endpoint: &str) -> Service {
    match endpoint {
        REGISTRATION_TOKEN | ACCESS_TOKEN | RUNNER_REGISTRATION | WORKFLOW_RUN
        | RERUN_FAILED_JOBS => Service::GitHub,
        MESSAGES_GET | MESSAGES_DELETE => Service::Queue,
        CONTROL | UNKNOWN => Service::Other,
        _ => Service::Actions,
    }
}

/// The endpoint name of a request, from its method and matched route pattern.
pub fn classify(method: &Method, route: Option<&str>) -> &'static str {
    use paths::*;
    let Some(route) = route else { return UNKNOWN };
    if route.starts_with("/_fake") {
        return CONTROL;
    }
    match (method.as_str(), route) {
        (
            "POST",
            ORG_REGISTRATION_TOKEN | REPO_REGISTRATION_TOKEN | ENTERPRISE_REGISTRATION_TOKEN,
        ) => REGISTRATION_TOKEN,
        ("POST", paths::ACCESS_TOKEN) => self::ACCESS_TOKEN,
        ("POST", paths::RUNNER_REGISTRATION) => self::RUNNER_REGISTRATION,
        ("GET", paths::WORKFLOW_RUN) => self::WORKFLOW_RUN,
        ("POST", paths::RERUN_FAILED_JOBS) => self::RERUN_FAILED_JOBS,
        ("GET", paths::RUNNER_GROUPS | RUNNER_GROUPS_NO_SLASH) => self::RUNNER_GROUPS,
        ("GET", SCALE_SETS) => SCALE_SETS_LIST,
        ("POST", SCALE_SETS) => SCALE_SETS_CREATE,
        ("GET", SCALE_SET) => SCALE_SETS_GET,
        ("PATCH", SCALE_SET) => SCALE_SETS_UPDATE,
        ("DELETE", SCALE_SET) => SCALE_SETS_DELETE,
        ("POST", SESSIONS) => SESSIONS_CREATE,
        ("PATCH", SESSION) => SESSIONS_REFRESH,
        ("DELETE", SESSION) => SESSIONS_DELETE,
        ("POST", paths::ACQUIRE_JOBS) => self::ACQUIRE_JOBS,
        ("GET", paths::ACQUIRABLE_JOBS) => self::ACQUIRABLE_JOBS,
        ("POST", paths::GENERATE_JIT_CONFIG) => self::GENERATE_JIT_CONFIG,
        ("GET", AGENTS) => AGENTS_LIST,
        ("GET", AGENT) => AGENTS_GET,
        ("DELETE", AGENT) => AGENTS_DELETE,
        ("GET", QUEUE_MESSAGES) => MESSAGES_GET,
        ("DELETE", QUEUE_MESSAGE) => MESSAGES_DELETE,
        _ => UNKNOWN,
    }
}
