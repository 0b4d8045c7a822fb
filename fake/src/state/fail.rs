//! Refusals of the state machine, one per server behaviour of docs/protocol.md §14.4.
//! `errors.rs` turns them into HTTP responses.

use uuid::Uuid;

/// Why the state machine refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fail {
    /// Unknown or deleted scale set (404 `RunnerScaleSetNotFoundException`).
    #[error("The runner scale set {0} does not exist.")]
    ScaleSetNotFound(u64),
    /// Duplicate name in the group (400 `RunnerScaleSetExistsException`).
    #[error("The runner scale set already exists in runner group {group}.")]
    ScaleSetExists {
        /// Runner group name.
        group: String,
    },
    /// Delete while a job runs on one of its runners (400 `TaskAgentJobStillRunningException`).
    #[error("The runner scale set {0} cannot be deleted while jobs are running on its runners.")]
    ScaleSetBusy(String),
    /// Another live session (409 `RunnerScaleSetSessionConflictException`, 2025/26 wording).
    #[error("The actions runner scaleset {0} already has an active session.")]
    SessionConflict(String),
    /// Refresh of an unknown session (404 `RunnerAdminException`, broker wording).
    #[error("runner referenced a session ID that doesn't exist in redis")]
    SessionNotFound(Uuid),
    /// Delete of an unknown/expired session (400 `RunnerScaleSetSessionExpiredException`).
    #[error("The session identifier {0} is not valid.")]
    SessionExpired(Uuid),
    /// Runner name taken (409 `TaskAgentExistsException`).
    #[error("Agent exists with the name {0}")]
    AgentExists(String),
    /// Unknown runner (404 `TaskAgentNotFoundException`).
    #[error("Agent {0} not found")]
    AgentNotFound(u64),
    /// Removal of a busy runner (400 `TaskAgentJobStillRunningException`).
    #[error("Agent {0} is still running a job and cannot be removed")]
    AgentBusy(u64),
    /// Unknown message id on ack (404).
    #[error("Message {0} was not found")]
    MessageNotFound(u64),
    /// Unknown job (control API).
    #[error("Job {0} was not found")]
    JobNotFound(String),
    /// Unknown workflow run, or one of another repository (GitHub: 404).
    #[error("Workflow run {0} was not found")]
    RunNotFound(u64),
    /// Re-run of a run that is not completed or succeeded (GitHub: 403).
    #[error("This workflow run cannot be rerun")]
    RunNotRerunnable(u64),
    /// Unknown runner group.
    #[error("Runner group {0} was not found")]
    RunnerGroupNotFound(u64),
    /// The credential is unknown, expired or for something else (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Malformed request (400).
    #[error("{0}")]
    BadRequest(String),
    /// Operation not possible in the current state (control API).
    #[error("{0}")]
    Conflict(String),
    /// The fake itself failed (500).
    #[error("{0}")]
    Internal(String),
}

impl From<jsonwebtoken::errors::Error> for Fail {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        Fail::Internal(format!("minting a token: {e}"))
    }
}
