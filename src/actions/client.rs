//! The Actions Service client: admin calls with a self-renewing admin connection
//! (docs/protocol.md §5–§7, §12). Session and queue calls live in [`super::session`].

use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use super::auth::{AdminConnection, Authenticator};
use super::error::{ActionsError, exception};
use super::http::{Auth, Call, Http, Response, RetryPolicy};
use super::wire::{
    JitConfigResponse, Label, ListResponse, RunnerGroup, RunnerReference, RunnerScaleSet,
    RunnerSetting, ScaleSetRequest,
};
use crate::config::{Credential, GitHubConfigUrl};

/// `api-version` of every admin call (docs/protocol.md §5).
pub const API_VERSION: &str = "6.0-preview";
/// Runner group id of the default group, used without a lookup (docs/protocol.md §6).
pub const DEFAULT_RUNNER_GROUP_ID: i64 = 1;
/// Display name of the default runner group.
pub const DEFAULT_RUNNER_GROUP: &str = "Default";
const AGENTS: &str = "_apis/distributedtask/pools/0/agents";

/// What the client needs besides the credential.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Retry policy for every call.
    pub retry: RetryPolicy,
    /// Per-attempt timeout of ordinary calls.
    pub timeout: Duration,
    /// CA certificates trusted beside the platform's roots (`GITHUB_CA_BUNDLE`).
    pub extra_roots: Vec<reqwest::Certificate>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            extra_roots: Vec::new(),
        }
    }
}

/// What removing a runner did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerRemoval {
    /// The runner is gone (or never existed).
    Removed,
    /// The runner is running a job; it stays (docs/protocol.md §12.3).
    JobStillRunning,
}

/// Client of GitHub and the Actions Service for one config URL and credential.
#[derive(Debug)]
pub struct ActionsClient {
    pub(super) http: Http,
    auth: Authenticator,
    admin: Mutex<Option<AdminConnection>>,
}

impl ActionsClient {
    /// Builds the client; nothing is called yet.
    pub fn new(
        config_url: GitHubConfigUrl,
        credential: &Credential,
        options: ClientOptions,
    ) -> Result<Self, ActionsError> {
        let http = Http::new(options.retry, options.timeout, options.extra_roots).map_err(|e| {
            ActionsError::Protocol {
                what: "http client",
                problem: e.to_string(),
            }
        })?;
        let auth = Authenticator::new(config_url, credential, http.clone())?;
        Ok(ActionsClient {
            http,
            auth,
            admin: Mutex::new(None),
        })
    }

    /// The token chain, for calls outside the Actions Service (e.g. `--dry-run`).
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// Seeds the admin connection, e.g. from the state store, to skip the token chain.
    pub async fn set_admin_connection(&self, connection: AdminConnection) {
        *self.admin.lock().await = Some(connection);
    }

    /// The admin connection held now, without renewing it (to persist it).
    pub async fn cached_admin_connection(&self) -> Option<AdminConnection> {
        self.admin.lock().await.clone()
    }

    /// The current admin connection, renewed when it expires within a minute.
    pub async fn admin_connection(&self) -> Result<AdminConnection, ActionsError> {
        let mut admin = self.admin.lock().await;
        match admin.as_ref() {
            Some(current) if !current.needs_refresh(Utc::now()) => Ok(current.clone()),
            _ => {
                let fresh = self.auth.admin_connection().await?;
                tracing::info!(
                    actionsServiceURL = fresh.service_url.as_str(),
                    "Successfully initialized Actions Service client"
                );
                *admin = Some(fresh.clone());
                Ok(fresh)
            }
        }
    }

    /// The runner group with this name (docs/protocol.md §6); `Default` is id 1 without a call.
    pub async fn runner_group_id(&self, name: &str) -> Result<i64, ActionsError> {
        if name.eq_ignore_ascii_case(DEFAULT_RUNNER_GROUP) {
            return Ok(DEFAULT_RUNNER_GROUP_ID);
        }
        let groups: ListResponse<RunnerGroup> = self
            .admin_json(
                Method::GET,
                "_apis/runtime/runnergroups/",
                &[("groupName", name)],
                None,
                "runner groups",
            )
            .await?;
        match groups.value.as_slice() {
            [group] => Ok(group.id),
            [] => Err(protocol(
                "runner groups",
                format!("no runner group found with name {name:?}"),
            )),
            _ => Err(protocol(
                "runner groups",
                format!("multiple runner group found with name {name:?}"),
            )),
        }
    }

    /// The scale set with this name in the group, if any (docs/protocol.md §7.2).
    pub async fn scale_set_by_name(
        &self,
        runner_group_id: i64,
        name: &str,
    ) -> Result<Option<RunnerScaleSet>, ActionsError> {
        let group = runner_group_id.to_string();
        let sets: ListResponse<RunnerScaleSet> = self
            .admin_json(
                Method::GET,
                "_apis/runtime/runnerscalesets",
                &[("runnerGroupId", &group), ("name", name)],
                None,
                "scale sets",
            )
            .await?;
        let mut sets = sets.value.into_iter();
        match (sets.next(), sets.next()) {
            (set, None) => Ok(set),
            _ => Err(protocol(
                "scale sets",
                format!("multiple runner scale sets found with name {name:?}"),
            )),
        }
    }

    /// The scale set with this id.
    pub async fn scale_set(&self, id: i64) -> Result<RunnerScaleSet, ActionsError> {
        let path = format!("_apis/runtime/runnerscalesets/{id}");
        self.admin_json(Method::GET, &path, &[], None, "scale set")
            .await
    }

    /// Creates a scale set; the name is always its first label (docs/design.md §3).
    pub async fn create_scale_set(
        &self,
        runner_group_id: i64,
        name: &str,
        labels: &[String],
    ) -> Result<RunnerScaleSet, ActionsError> {
        let body = scale_set_request(runner_group_id, name, labels);
        self.admin_json(
            Method::POST,
            "_apis/runtime/runnerscalesets",
            &[],
            Some(body),
            "create scale set",
        )
        .await
    }

    /// Updates a scale set's name, group and labels.
    pub async fn update_scale_set(
        &self,
        id: i64,
        runner_group_id: i64,
        name: &str,
        labels: &[String],
    ) -> Result<RunnerScaleSet, ActionsError> {
        let path = format!("_apis/runtime/runnerscalesets/{id}");
        let body = scale_set_request(runner_group_id, name, labels);
        self.admin_json(Method::PATCH, &path, &[], Some(body), "update scale set")
            .await
    }

    /// Deletes a scale set (204).
    pub async fn delete_scale_set(&self, id: i64) -> Result<(), ActionsError> {
        let path = format!("_apis/runtime/runnerscalesets/{id}");
        self.admin_empty(Method::DELETE, &path, None).await
    }

    /// Registers a runner and returns its JIT config (docs/protocol.md §12.1). A name collision
    /// (`AgentExistsException`) with a runner of this scale set removes that runner and
    /// tries once more, as actions-runner-controller does.
    pub async fn generate_jit_config(
        &self,
        scale_set_id: i64,
        name: &str,
        work_folder: &str,
    ) -> Result<JitConfigResponse, ActionsError> {
        let path = format!("_apis/runtime/runnerscalesets/{scale_set_id}/generatejitconfig");
        let body = serde_json::json!({"name": name, "workFolder": work_folder});
        let first = self
            .admin_json(
                Method::POST,
                &path,
                &[],
                Some(body.clone()),
                "generatejitconfig",
            )
            .await;
        match first {
            Err(e) if e.is_exception(exception::AGENT_EXISTS) => {
                let existing = self.runner_by_name(name).await?;
                match existing {
                    Some(runner) if runner.runner_scale_set_id == scale_set_id => {
                        if self.remove_runner(runner.id).await? == RunnerRemoval::JobStillRunning {
                            return Err(e);
                        }
                        self.admin_json(Method::POST, &path, &[], Some(body), "generatejitconfig")
                            .await
                    }
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    /// The runner with this id, or `None` when the service does not know it.
    pub async fn runner(&self, id: i64) -> Result<Option<RunnerReference>, ActionsError> {
        let path = format!("{AGENTS}/{id}");
        match self
            .admin_json(Method::GET, &path, &[], None, "runner")
            .await
        {
            Err(e) if e.has_status(StatusCode::NOT_FOUND) => Ok(None),
            other => other.map(Some),
        }
    }

    /// The runner with this name, if any.
    pub async fn runner_by_name(
        &self,
        name: &str,
    ) -> Result<Option<RunnerReference>, ActionsError> {
        let runners: ListResponse<RunnerReference> = self
            .admin_json(
                Method::GET,
                AGENTS,
                &[("agentName", name)],
                None,
                "runner by name",
            )
            .await?;
        let mut runners = runners.value.into_iter();
        match (runners.next(), runners.next()) {
            (runner, None) => Ok(runner),
            _ => Err(protocol(
                "runner by name",
                format!("multiple runner found with name {name}"),
            )),
        }
    }

    /// The runners registered in a scale set: the agents list (docs/protocol.md §12.3, `list`),
    /// filtered by `runnerScaleSetId`.
    pub async fn scale_set_runners(
        &self,
        scale_set_id: i64,
    ) -> Result<Vec<RunnerReference>, ActionsError> {
        let runners: ListResponse<RunnerReference> = self
            .admin_json(Method::GET, AGENTS, &[], None, "runners")
            .await?;
        Ok(runners
            .value
            .into_iter()
            .filter(|r| r.runner_scale_set_id == scale_set_id)
            .collect())
    }

    /// Removes a runner from its scale set; a busy runner is left alone (docs/protocol.md §12.3).
    pub async fn remove_runner(&self, id: i64) -> Result<RunnerRemoval, ActionsError> {
        let path = format!("{AGENTS}/{id}");
        match self.admin_empty(Method::DELETE, &path, None).await {
            Ok(()) => Ok(RunnerRemoval::Removed),
            Err(e) if e.is_exception(exception::JOB_STILL_RUNNING) => {
                Ok(RunnerRemoval::JobStillRunning)
            }
            Err(e) if e.has_status(StatusCode::NOT_FOUND) => Ok(RunnerRemoval::Removed),
            Err(e) => Err(e),
        }
    }

    /// An admin URL: `path` joined to the service URL with one `/`, plus `api-version`.
    pub(super) fn admin_url(base: &Url, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = base.clone();
        let joined = format!(
            "{}/{}",
            base.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
            pairs.append_pair("api-version", API_VERSION);
        }
        url
    }

    /// Sends an admin call and returns the raw response, whatever its status. A 401 renews
    /// the admin connection once and retries: ghaec2 persists the admin token across
    /// invocations, so a token the service stopped honouring before its `exp` must not stick.
    pub(super) async fn admin_send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<(Url, Response), ActionsError> {
        let mut renewed = false;
        loop {
            let admin = self.admin_connection().await?;
            let url = Self::admin_url(&admin.service_url, path, query);
            let mut call = Call::new(method.clone(), url, Auth::Bearer(admin.token()));
            call.body = body.as_ref();
            let response = self.http.send(&call, |_| false).await?;
            if response.status != StatusCode::UNAUTHORIZED || renewed {
                return Ok((call.url, response));
            }
            tracing::info!("Admin token refused; renewing the admin connection.");
            *self.admin.lock().await = None;
            renewed = true;
        }
    }

    /// An admin call that answers 200 with a JSON body.
    pub(super) async fn admin_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        what: &'static str,
    ) -> Result<T, ActionsError> {
        let (url, response) = self.admin_send(method.clone(), path, query, body).await?;
        if response.status != StatusCode::OK {
            return Err(ActionsError::Api(Box::new(response.error(&method, &url))));
        }
        response.json(what)
    }

    /// An admin call that answers 204 (any 2xx is accepted).
    pub(super) async fn admin_empty(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(), ActionsError> {
        let (url, response) = self.admin_send(method.clone(), path, &[], body).await?;
        if !response.status.is_success() {
            return Err(ActionsError::Api(Box::new(response.error(&method, &url))));
        }
        Ok(())
    }
}

fn scale_set_request(runner_group_id: i64, name: &str, labels: &[String]) -> serde_json::Value {
    let mut all = vec![Label::system(name)];
    for label in labels {
        if !all.iter().any(|l| l.name == *label) {
            all.push(Label::system(label));
        }
    }
    let request = ScaleSetRequest {
        name: name.to_owned(),
        runner_group_id,
        labels: all,
        runner_setting: RunnerSetting {
            ephemeral: true,
            disable_update: true,
        },
    };
    serde_json::json!(request)
}

fn protocol(what: &'static str, problem: String) -> ActionsError {
    ActionsError::Protocol { what, problem }
}
