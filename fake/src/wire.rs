//! Wire names: headers, message types, exception type names, fixed values.
//! Each appears once here so the handlers never spell a protocol string twice.

/// Correlation header of the Actions service (docs/protocol.md §5).
pub const HEADER_ACTIVITY_ID: &str = "ActivityId";
/// Correlation header of the GitHub REST API (docs/protocol.md §5).
pub const HEADER_GITHUB_REQUEST_ID: &str = "X-GitHub-Request-Id";
/// Capacity header sent on every message poll (docs/protocol.md §9.1).
pub const HEADER_MAX_CAPACITY: &str = "X-ScaleSetMaxCapacity";
/// Standard `Retry-After`, honoured by clients on 429/503 (docs/protocol.md §14.1).
pub const HEADER_RETRY_AFTER: &str = "Retry-After";

/// The only `api-version` the fake accepts (query on admin calls, `Accept` on polls).
pub const API_VERSION: &str = "6.0-preview";
/// Query parameter carrying the api version on admin calls (docs/protocol.md §5).
pub const API_VERSION_PARAM: &str = "api-version";

/// Authorization scheme of the runner-registration call (docs/protocol.md §4.1).
pub const SCHEME_REMOTE_AUTH: &str = "RemoteAuth";
/// Authorization scheme of every other call.
pub const SCHEME_BEARER: &str = "Bearer";

/// The envelope type every message carries (docs/protocol.md §9.1).
pub const MESSAGE_TYPE_JOB_MESSAGES: &str = "RunnerScaleSetJobMessages";
/// Job message types inside `body` (docs/protocol.md §10).
pub const JOB_AVAILABLE: &str = "JobAvailable";
/// See [`JOB_AVAILABLE`].
pub const JOB_ASSIGNED: &str = "JobAssigned";
/// See [`JOB_AVAILABLE`].
pub const JOB_STARTED: &str = "JobStarted";
/// See [`JOB_AVAILABLE`].
pub const JOB_COMPLETED: &str = "JobCompleted";

/// `JobCompleted.result` of a finished job (docs/protocol.md §18.3: lowercase TaskResult).
pub const RESULT_SUCCEEDED: &str = "succeeded";
/// `JobCompleted.result` of a cancelled job (confirmed value, docs/protocol.md §10).
pub const RESULT_CANCELED: &str = "canceled";

/// At most this many job messages per envelope; the rest goes to the next message
/// (docs/protocol.md §9.1, "large backlogs will be truncated").
pub const MAX_EVENTS_PER_MESSAGE: usize = 50;

/// Name and id of the default runner group (docs/protocol.md §6).
pub const DEFAULT_GROUP_NAME: &str = "Default";
/// See [`DEFAULT_GROUP_NAME`].
pub const DEFAULT_GROUP_ID: u64 = 1;

/// Go's zero `time.Time`, which .NET/Go peers emit for "not applicable" times (docs/protocol.md §10).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Label type clients send (docs/protocol.md §7.1).
pub const LABEL_TYPE_SYSTEM: &str = "System";

/// `token_schema` of the runner-registration response (docs/protocol.md §4.2).
pub const TOKEN_SCHEMA: &str = "OAuthAccessToken";

/// .NET exception type names (docs/protocol.md §14.4). The full assembly-qualified form is
/// used where it was observed; the short forms are what clients substring-match.
pub mod exceptions {
    /// 409 on session create while another session is live.
    pub const SESSION_CONFLICT: &str = "GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionConflictException, GitHub.Actions.Runtime.WebApi";
    /// 400 on delete of an unknown/expired session.
    pub const SESSION_EXPIRED: &str = "GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionExpiredException, GitHub.Actions.Runtime.WebApi";
    /// 404 on session calls of a deleted scale set.
    pub const SCALE_SET_NOT_FOUND: &str = "GitHub.Actions.Runtime.WebApi.RunnerScaleSetNotFoundException, GitHub.Actions.Runtime.WebApi";
    /// 400 on create of a duplicate scale set name.
    pub const SCALE_SET_EXISTS: &str = "GitHub.Actions.Runtime.WebApi.RunnerScaleSetExistsException, GitHub.Actions.Runtime.WebApi";
    /// 404 on refresh of an unknown session (broker).
    pub const RUNNER_ADMIN: &str = "RunnerAdminException";
    /// 409 on generatejitconfig with a taken runner name.
    pub const AGENT_EXISTS: &str =
        "GitHub.DistributedTask.WebApi.TaskAgentExistsException, GitHub.DistributedTask.WebApi";
    /// 400 on removal of a busy runner (and of a scale set with running jobs).
    pub const JOB_STILL_RUNNING: &str = "GitHub.DistributedTask.WebApi.TaskAgentJobStillRunningException, GitHub.DistributedTask.WebApi";
    /// 404 on get of an unknown runner.
    pub const AGENT_NOT_FOUND: &str =
        "GitHub.DistributedTask.WebApi.TaskAgentNotFoundException, GitHub.DistributedTask.WebApi";
    /// 404 on an unknown runner group / message / job.
    pub const NOT_FOUND: &str =
        "GitHub.Services.WebApi.VssResourceNotFoundException, GitHub.Services.WebApi";
    /// 400 on a malformed request (bad body, missing api-version).
    pub const ARGUMENT: &str = "System.ArgumentException, mscorlib";
}
