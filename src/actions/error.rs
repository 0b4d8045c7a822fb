//! Errors of the GitHub and Actions Service calls.
//!
//! Three messages are worded exactly as users already know them (docs/design.md §5). The others
//! carry the status and the correlation ids (`ActivityId`, `X-GitHub-Request-Id`) that GitHub
//! support asks for. None carries a token.

use reqwest::StatusCode;

/// Exception type names the service uses (docs/protocol.md §14.4); matched as substrings, as the
/// reference clients do.
pub mod exception {
    /// A live session exists for the scale set (409).
    pub const SESSION_CONFLICT: &str = "RunnerScaleSetSessionConflictException";
    /// The session id is unknown or expired (400 on delete).
    pub const SESSION_EXPIRED: &str = "RunnerScaleSetSessionExpiredException";
    /// The scale set was deleted, e.g. after 7 dormant days (404 on session create).
    pub const SCALE_SET_NOT_FOUND: &str = "RunnerScaleSetNotFoundException";
    /// The scale set name is taken in the group (400 on create).
    pub const SCALE_SET_EXISTS: &str = "RunnerScaleSetExistsException";
    /// A runner with that name exists (409 on generatejitconfig).
    pub const AGENT_EXISTS: &str = "AgentExistsException";
    /// The runner is unknown (404).
    pub const AGENT_NOT_FOUND: &str = "AgentNotFoundException";
    /// The runner is running a job and cannot be removed (400).
    pub const JOB_STILL_RUNNING: &str = "JobStillRunningException";
}

/// `errorKind` values of the broker's error body (`{"source", "errorKind", "statusCode",
/// "errorMessage"}`), which carries no `typeName` (docs/protocol.md §14.4); matched exactly.
pub mod error_kind {
    /// The message session is no longer valid (400): a new one must be created.
    pub const SESSION_INVALID: &str = "RunnerSessionInvalid";
}

/// A non-success HTTP answer from GitHub or the Actions Service.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{method} {url} failed (status {status}, ActivityId {activity_id:?}, X-GitHub-Request-Id {github_request_id:?}): {detail}",
    detail = self.detail()
)]
pub struct ApiError {
    /// Request method.
    pub method: String,
    /// Request URL; never carries a credential.
    pub url: String,
    /// Response status.
    pub status: StatusCode,
    /// `ActivityId` header of the Actions Service.
    pub activity_id: Option<String>,
    /// `X-GitHub-Request-Id` header of the GitHub API.
    pub github_request_id: Option<String>,
    /// .NET exception type, when the body had one.
    pub type_name: Option<String>,
    /// The broker's `errorKind`, when the body had one.
    pub error_kind: Option<String>,
    /// The error message or (shortened) body text.
    pub message: String,
}

impl ApiError {
    /// True when the body names this exception (substring match, docs/protocol.md §14.2).
    pub fn is_exception(&self, name: &str) -> bool {
        self.type_name.as_deref().is_some_and(|t| t.contains(name))
    }

    /// True when the body's `errorKind` is `kind`.
    pub fn has_error_kind(&self, kind: &str) -> bool {
        self.error_kind.as_deref() == Some(kind)
    }

    /// The owner a session conflict names, in the older wording "… already has an active
    /// session for owner `<owner>`." (docs/protocol.md §8.4); `None` when it names none, as
    /// the newer wording does. The owner is the whole text between the quotes.
    pub fn conflict_owner(&self) -> Option<&str> {
        let (_, rest) = self.message.rsplit_once("for owner ")?;
        let rest = rest.trim_end().trim_end_matches('.');
        let quote = rest
            .chars()
            .next()
            .filter(|c| matches!(c, '`' | '\'' | '"'))?;
        rest[quote.len_utf8()..].strip_suffix(quote)
    }

    fn detail(&self) -> String {
        match self.type_name.as_ref().or(self.error_kind.as_ref()) {
            Some(t) => format!("{t}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Everything that can go wrong talking to GitHub and the Actions Service.
#[derive(Debug, thiserror::Error)]
pub enum ActionsError {
    /// runner-registration answered 404: the GHES version has no Actions Service.
    #[error(
        "Actions Service not available on this GitHub Enterprise Server. Please ensure you have a compatible version that supports the Actions Service API. Status: 404"
    )]
    ActionsServiceNotAvailable,
    /// The registration-token call was refused.
    #[error("failed to get registration token: Actions API error (status: {})", .0.status.as_u16())]
    RegistrationToken(Box<ApiError>),
    /// runner-registration answered an HTML page or a body without `url`/`token`.
    #[error("Actions Service endpoint returned invalid response")]
    InvalidRegistrationResponse,
    /// The GitHub App installation token could not be obtained.
    #[error("failed to get access token for GitHub App auth (status: {})", .0.status.as_u16())]
    InstallationToken(Box<ApiError>),
    /// The GitHub App key could not sign the app JWT.
    #[error("failed to sign the GitHub App JWT: {0}")]
    AppJwt(String),
    /// The admin token is not a JWT with `exp` (docs/protocol.md §4.3).
    #[error("failed to parse jwt token: {0}")]
    AdminToken(String),
    /// A workflow-run call refused with 403 for want of permission (docs/protocol.md §19).
    #[error(
        "{0}; reading and re-running workflow runs needs the repository permission \"Actions: read and write\" (fine-grained personal access token or GitHub App: Actions write; classic personal access token: repo scope)"
    )]
    ActionsPermission(Box<ApiError>),
    /// GitHub will not re-run this workflow run (403 "This workflow run cannot be rerun"):
    /// not completed, older than 30 days, or re-run too often.
    #[error("{0}; GitHub will not re-run this workflow run")]
    RunNotRerunnable(Box<ApiError>),
    /// Any other non-success status.
    #[error(transparent)]
    Api(#[from] Box<ApiError>),
    /// No HTTP answer after all retries. The message carries the whole cause chain: reqwest's
    /// own text ("error sending request") hides why, such as an untrusted certificate.
    #[error(
        "{method} {url} giving up after {attempts} attempt(s): {}",
        causes(source)
    )]
    Transport {
        /// Request method.
        method: String,
        /// Request URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last transport error.
        source: reqwest::Error,
    },
    /// A success status with a body that does not decode.
    #[error("{what}: invalid response body (ActivityId {activity_id:?}): {source}")]
    Decode {
        /// Which call.
        what: &'static str,
        /// `ActivityId` of the response.
        activity_id: Option<String>,
        /// The decode error.
        source: serde_json::Error,
    },
    /// The service answered something the protocol rules out.
    #[error("{what}: {problem}")]
    Protocol {
        /// Which call.
        what: &'static str,
        /// What was wrong.
        problem: String,
    },
    /// The message queue token stayed expired after a session refresh (docs/protocol.md §9.1).
    #[error("message queue token expired, and again after a session refresh: {0}")]
    QueueTokenExpired(Box<ApiError>),
    /// A queue call (poll, acknowledgement, acquisition) was refused for the session itself:
    /// a 403 that is not a rate limit, `errorKind` `RunnerSessionInvalid`, or a refresh that
    /// found the session gone (docs/protocol.md §9.1). A new session must be created.
    #[error("the message session is no longer valid: {0}")]
    SessionInvalid(Box<ApiError>),
}

impl ActionsError {
    /// The HTTP error behind this one, if the service answered.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ActionsError::Api(e)
            | ActionsError::RegistrationToken(e)
            | ActionsError::InstallationToken(e)
            | ActionsError::QueueTokenExpired(e)
            | ActionsError::SessionInvalid(e)
            | ActionsError::ActionsPermission(e)
            | ActionsError::RunNotRerunnable(e) => Some(e),
            _ => None,
        }
    }

    /// The service answered with this status.
    pub fn has_status(&self, status: StatusCode) -> bool {
        self.api().is_some_and(|e| e.status == status)
    }

    /// The service answered with this exception type.
    pub fn is_exception(&self, name: &str) -> bool {
        self.api().is_some_and(|e| e.is_exception(name))
    }

    /// Worth trying again later: transport failures, throttling and server errors. GitHub
    /// throttles with a 403 too, whose message then names the rate limit.
    pub fn is_retryable(&self) -> bool {
        match self {
            ActionsError::Transport { .. } | ActionsError::Decode { .. } => true,
            _ => self.api().is_some_and(|e| {
                e.status == StatusCode::TOO_MANY_REQUESTS
                    || e.status.is_server_error()
                    || (e.status == StatusCode::FORBIDDEN
                        && e.message.to_ascii_lowercase().contains("rate limit"))
            }),
        }
    }

    /// The session is gone and a new one must be created: 404 on refresh, 400 expired, 400
    /// `errorKind` `RunnerSessionInvalid`, or a queue call refused for the session.
    pub fn is_session_gone(&self) -> bool {
        matches!(self, ActionsError::SessionInvalid(_))
            || self.has_status(StatusCode::NOT_FOUND)
            || self.is_exception(exception::SESSION_EXPIRED)
            || self
                .api()
                .is_some_and(|e| e.has_error_kind(error_kind::SESSION_INVALID))
    }

    /// A queue call on a message (acquire, acknowledge) refused for its session: the message
    /// was not acknowledged, so a new session gets it again.
    pub fn needs_new_session(&self) -> bool {
        matches!(
            self,
            ActionsError::SessionInvalid(_) | ActionsError::QueueTokenExpired(_)
        )
    }
}

/// Result of the Actions Service calls.
pub type Result<T, E = ActionsError> = std::result::Result<T, E>;

/// `error: its source: …`, every cause of the chain once.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        // Some layers repeat their source's text in their own; skip the repeat.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
