//! Wire types of the GitHub REST and Actions Service calls (docs/protocol.md §3–§12).
//!
//! The service is .NET and the reference clients are Go, both case-insensitive about keys, so
//! responses arrive as `runnerSetting` or `RunnerSetting` (docs/protocol.md §5). [`decode`] strips a
//! UTF-8 BOM and lower-cases the first letter of every key before serde sees it, so each type
//! here names the camelCase form once. It also drops every key whose value is `null`: the Go
//! clients read `null` and absent alike, as the zero value, so here both mean the field's
//! `#[serde(default)]`, and only a field without a default (an id, a token) is required.
//! Job messages inside a message body live in [`super::messages`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Decodes a JSON body the way the service's own clients do: BOM stripped, key case folded.
/// A field of the wrong type is named in the error (`runner.id: invalid type: …`), since
/// serde's message alone gives only the type, or nothing at all for a map.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let value: Value = serde_json::from_slice(strip_bom(body))?;
    read(normalize(value))
}

/// Reads a value already [`normalize`]d, naming the field of any error as [`decode`] does.
pub fn read<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match path.as_str() {
            "." => inner,
            _ => serde::de::Error::custom(format!("{path}: {inner}")),
        }
    })
}

/// Removes a leading UTF-8 byte order mark, which the service sometimes sends (docs/protocol.md §5).
pub fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(body)
}

/// Folds key case and drops `null` members, at every depth (see the module doc).
pub fn normalize(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (lower_first(&key), normalize(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

fn lower_first(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) if first.is_uppercase() => first.to_lowercase().chain(chars).collect(),
        _ => key.to_owned(),
    }
}

/// `{"count": N, "value": [...]}`, the list shape of every Actions Service collection.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    /// Number of items, as the server counts them.
    #[serde(default)]
    pub count: i64,
    /// The items.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
}

/// The scale set's job and runner counters (docs/protocol.md §10). `totalAssignedJobs` is the
/// scaling signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Statistics {
    /// Jobs that match the scale set and are not yet acquired or assigned.
    pub total_available_jobs: i64,
    /// Jobs acquired by the scale set (acquire flow only).
    pub total_acquired_jobs: i64,
    /// Jobs assigned to the scale set: waiting for a runner plus running.
    pub total_assigned_jobs: i64,
    /// Jobs running on a runner of the set.
    pub total_running_jobs: i64,
    /// Runners registered in the set.
    pub total_registered_runners: i64,
    /// Registered runners running a job.
    pub total_busy_runners: i64,
    /// Registered runners without a job.
    pub total_idle_runners: i64,
}

/// A runner group (docs/protocol.md §6).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerGroup {
    /// Group id; the default group is 1.
    pub id: i64,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Whether this is the organization's default group.
    #[serde(default)]
    pub is_default_group: bool,
}

/// A scale set label; clients send type `System` (docs/protocol.md §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// The label as it appears in `runs-on`.
    #[serde(default)]
    pub name: String,
    /// Label type, `System` for labels we send.
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl Label {
    /// A `System` label, the kind scale sets carry.
    pub fn system(name: &str) -> Self {
        Label {
            name: name.to_owned(),
            kind: "System".to_owned(),
        }
    }
}

/// Runner settings of a scale set. Sent as `RunnerSetting` with a capital R, as the Go clients
/// do (docs/protocol.md §7.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunnerSetting {
    /// Runners take one job and are removed.
    pub ephemeral: bool,
    /// Runners do not self-update (ghaec2 enforces a minimum version instead).
    pub disable_update: bool,
}

/// A runner scale set as the service returns it (docs/protocol.md §7.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerScaleSet {
    /// Scale set id.
    pub id: i64,
    /// Name, unique per runner group.
    #[serde(default)]
    pub name: String,
    /// Runner group id.
    #[serde(default)]
    pub runner_group_id: i64,
    /// Runner group name (server-filled).
    #[serde(default)]
    pub runner_group_name: String,
    /// Labels jobs target with `runs-on`.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Runner settings.
    #[serde(default)]
    pub runner_setting: RunnerSetting,
    /// Current statistics, when the server includes them.
    #[serde(default)]
    pub statistics: Option<Statistics>,
}

/// Body of a scale set create or update, shaped as the Go clients send it (docs/protocol.md §17 S3).
#[derive(Debug, Clone, Serialize)]
pub struct ScaleSetRequest {
    /// Name.
    pub name: String,
    /// Runner group id.
    #[serde(rename = "runnerGroupId")]
    pub runner_group_id: i64,
    /// Labels, the name first.
    pub labels: Vec<Label>,
    /// Runner settings, capital R on purpose.
    #[serde(rename = "RunnerSetting")]
    pub runner_setting: RunnerSetting,
}

/// A message session (docs/protocol.md §8.1). `Debug` redacts the queue token.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    /// Session id; the client parses it as a UUID.
    pub session_id: uuid::Uuid,
    /// Owner the session was created for.
    #[serde(default)]
    pub owner_name: String,
    /// The scale set the session belongs to.
    #[serde(default)]
    pub runner_scale_set: Option<RunnerScaleSet>,
    /// Opaque long-poll URL; empty values have been seen during outages.
    #[serde(default)]
    pub message_queue_url: String,
    /// Bearer token for the queue and `acquirejobs`.
    #[serde(default)]
    pub message_queue_access_token: String,
    /// Statistics at session creation; required in practice.
    #[serde(default)]
    pub statistics: Option<Statistics>,
}

/// A message from the queue, before its body is parsed (docs/protocol.md §9.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Message id; acknowledged with DELETE and sent back as `lastMessageId`.
    pub message_id: i64,
    /// Must be `RunnerScaleSetJobMessages`.
    #[serde(default)]
    pub message_type: String,
    /// A JSON array of job messages, as a string.
    #[serde(default)]
    pub body: String,
    /// Statistics at delivery time.
    #[serde(default)]
    pub statistics: Option<Statistics>,
    /// What of the envelope could not be read, when only part of it could (see
    /// [`super::messages::decode_envelope`]).
    #[serde(skip)]
    pub unreadable: Option<String>,
}

/// `generatejitconfig` response (docs/protocol.md §12.1).
#[derive(Clone, Deserialize)]
pub struct JitConfigResponse {
    /// The runner registered for this config.
    pub runner: RunnerReference,
    /// Opaque config for `run.sh --jitconfig`; a secret.
    #[serde(rename = "encodedJITConfig")]
    pub encoded_jit_config: String,
}

/// A runner as the Actions Service reports it (docs/protocol.md §12.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerReference {
    /// Runner id.
    pub id: i64,
    /// Runner name.
    #[serde(default)]
    pub name: String,
    /// Scale set the runner belongs to.
    #[serde(default)]
    pub runner_scale_set_id: i64,
    /// `online` or `offline`; missing means not known online.
    #[serde(default)]
    pub status: Option<String>,
    /// Whether it runs a job.
    #[serde(default)]
    pub busy: Option<bool>,
}

impl RunnerReference {
    /// Online, or busy (a busy runner is connected).
    pub fn is_online(&self) -> bool {
        self.busy == Some(true) || self.status.as_deref() == Some("online")
    }
}

/// GitHub REST token responses (registration token, installation token).
#[derive(Deserialize)]
pub struct TokenResponse {
    /// The token; a secret.
    #[serde(default)]
    pub token: String,
}

/// `runner-registration` response: the admin connection. The credential is `token`, not
/// `authorization` (docs/protocol.md §4.2).
#[derive(Deserialize)]
pub struct RunnerRegistrationResponse {
    /// Actions Service base URL.
    #[serde(default)]
    pub url: String,
    /// Admin token, a JWT; a secret.
    #[serde(default)]
    pub token: String,
}

/// .NET error body: clients read only `typeName` and `message` (docs/protocol.md §14.2). The
/// broker's body has `errorKind` and `errorMessage` instead (docs/protocol.md §14.4).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorBody {
    /// Exception type, e.g. `…RunnerScaleSetSessionConflictException, …`.
    pub type_name: String,
    /// Human-readable message.
    pub message: String,
    /// Broker error kind, e.g. `RunnerSessionInvalid`.
    pub error_kind: String,
    /// Broker message.
    pub error_message: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for RunnerRegistrationResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerRegistrationResponse")
            .field("url", &self.url)
            .field("token", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionResponse")
            .field("session_id", &self.session_id)
            .field("owner_name", &self.owner_name)
            .field("runner_scale_set", &self.runner_scale_set)
            .field("message_queue_url", &self.message_queue_url)
            .field("message_queue_access_token", &REDACTED)
            .field("statistics", &self.statistics)
            .finish()
    }
}

impl std::fmt::Debug for JitConfigResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitConfigResponse")
            .field("runner", &self.runner)
            .field("encoded_jit_config", &REDACTED)
            .finish()
    }
}

/// What `Debug` prints in place of a secret.
pub const REDACTED: &str = "[REDACTED]";

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
