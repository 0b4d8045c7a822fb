//! Message sessions and the queue (docs/protocol.md §8, §9, §11): create, refresh, delete, long
//! poll, acknowledge and acquire. A 401 on a queue call refreshes the session once and retries,
//! and so does a restored session that has no queue token yet; the caller keeps the (possibly
//! replaced) [`Session`] to persist it.

use std::fmt;
use std::time::Duration;

use chrono::Utc;
use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode, Url};
use secrecy::SecretString;

use super::client::{API_VERSION, ActionsClient};
use super::error::{ActionsError, ApiError, error_kind};
use super::http::{Auth, Call, Response, rate_limit_wait};
use super::wire::{Envelope, ListResponse, SessionResponse, Statistics};

/// Header telling the service how many jobs the scale set can take (docs/protocol.md §9.1).
pub const MAX_CAPACITY_HEADER: &str = "X-ScaleSetMaxCapacity";
/// The service holds an empty poll about this long (docs/protocol.md §9.1).
pub const LONG_POLL: Duration = Duration::from_secs(50);
/// A poll attempt waits at most this long for its answer: the hold plus a margin of at least
/// 10 s, so that a held poll answered a little late is read, not cut and retried.
pub const POLL_TIMEOUT: Duration = LONG_POLL.saturating_add(Duration::from_secs(10));
const _: () = assert!(POLL_TIMEOUT.as_secs() >= LONG_POLL.as_secs() + 10);

/// A live message session: what must survive between invocations.
#[derive(Clone)]
pub struct Session {
    /// Session id.
    pub id: uuid::Uuid,
    /// Scale set the session listens for.
    pub scale_set_id: i64,
    /// Opaque long-poll URL, used verbatim.
    pub queue_url: Url,
    /// `None` for a session restored from the state store, until its first refresh.
    queue_token: Option<SecretString>,
    /// Statistics the service sent with the session; a refresh may leave them out, then the
    /// caller keeps the last ones it has (the next message brings fresh ones).
    pub statistics: Option<Statistics>,
}

impl Session {
    /// A session from its parts and a queue token.
    pub fn new(
        id: uuid::Uuid,
        scale_set_id: i64,
        queue_url: Url,
        queue_token: SecretString,
    ) -> Self {
        Session {
            queue_token: Some(queue_token),
            ..Self::restored(id, scale_set_id, queue_url)
        }
    }

    /// A session as the state store keeps it: no queue token yet. Its first queue call
    /// refreshes it for one (docs/protocol.md §8.2), unless the caller refreshed it before.
    pub fn restored(id: uuid::Uuid, scale_set_id: i64, queue_url: Url) -> Self {
        Session {
            id,
            scale_set_id,
            queue_url,
            queue_token: None,
            statistics: None,
        }
    }

    /// The message queue token, once the session has one.
    pub fn queue_token(&self) -> Option<&SecretString> {
        self.queue_token.as_ref()
    }

    /// Checks a create or refresh answer (docs/protocol.md §8.1): a queue URL and a queue token are
    /// required; statistics are not (the Go clients read a missing one as none). Public for
    /// the fuzz tests (tests/fuzz_parsing.rs).
    pub fn from_response(
        scale_set_id: i64,
        response: SessionResponse,
    ) -> Result<Self, ActionsError> {
        let invalid = |problem: String| ActionsError::Protocol {
            what: "session",
            problem,
        };
        // An empty queue URL has been seen during outages (docs/protocol.md §8.1).
        let queue_url = Url::parse(&response.message_queue_url).map_err(|e| {
            invalid(format!(
                "messageQueueUrl {:?}: {e}",
                response.message_queue_url
            ))
        })?;
        if response.message_queue_access_token.is_empty() {
            return Err(invalid("messageQueueAccessToken is empty".to_owned()));
        }
        let statistics = response.statistics;
        Ok(Session {
            id: response.session_id,
            scale_set_id,
            queue_url,
            queue_token: Some(SecretString::from(response.message_queue_access_token)),
            statistics,
        })
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("scale_set_id", &self.scale_set_id)
            .field("queue_url", &self.queue_url.as_str())
            .field(
                "queue_token",
                &self.queue_token.as_ref().map(|_| super::wire::REDACTED),
            )
            .field("statistics", &self.statistics)
            .finish()
    }
}

impl ActionsClient {
    /// Creates the scale set's session (docs/protocol.md §8.1). A 409 means another live
    /// session; the caller decides how long to wait it out.
    pub async fn create_session(
        &self,
        scale_set_id: i64,
        owner: &str,
    ) -> Result<Session, ActionsError> {
        self.create_session_with_id(scale_set_id, owner, None).await
    }

    /// Creates the scale set's session, proposing `proposed` as its id. Should the answer be
    /// lost (a timeout after the service created the session), the retry's 409 would be our
    /// own session, which only a known id can delete: the proposed one, when the service
    /// keeps it (docs/protocol.md §8.4).
    pub async fn create_session_with_id(
        &self,
        scale_set_id: i64,
        owner: &str,
        proposed: Option<uuid::Uuid>,
    ) -> Result<Session, ActionsError> {
        let path = sessions_path(scale_set_id);
        let body = match proposed {
            Some(id) => serde_json::json!({"sessionId": id, "ownerName": owner}),
            None => serde_json::json!({"ownerName": owner}),
        };
        let response: SessionResponse = self
            .admin_json(Method::POST, &path, &[], Some(body), "create session")
            .await?;
        let id = response.session_id;
        let session = Session::from_response(scale_set_id, response);
        if session.is_err() {
            // The service holds a session we cannot use (e.g. an empty queue URL); left
            // alive, it would answer every later create with 409 until it lapses.
            if let Err(e) = self.delete_session_id(scale_set_id, id).await {
                tracing::info!(session_id = %id, error = %e, "Could not delete the unusable session.");
            }
        }
        session
    }

    /// Refreshes a session in place: new queue token, perhaps a new queue URL, same id.
    pub async fn refresh_session(&self, session: &mut Session) -> Result<(), ActionsError> {
        let path = format!("{}/{}", sessions_path(session.scale_set_id), session.id);
        let response: SessionResponse = self
            .admin_json(Method::PATCH, &path, &[], None, "refresh session")
            .await?;
        *session = Session::from_response(session.scale_set_id, response)?;
        // Logged, not counted: every invocation refreshes its session at start, and a custom
        // metric published every hour costs more than all of DynamoDB (BENCHMARKS.md, Cost).
        tracing::info!(session_id = %session.id, "Refreshed message session.");
        Ok(())
    }

    /// Deletes a session; one that is already gone counts as deleted.
    pub async fn delete_session(&self, session: &Session) -> Result<(), ActionsError> {
        match self
            .delete_session_id(session.scale_set_id, session.id)
            .await
        {
            Err(e) if e.is_session_gone() => Ok(()),
            other => other,
        }
    }

    /// Deletes the session `id` of the scale set (docs/protocol.md §8.3): 204, or 400
    /// `RunnerScaleSetSessionExpiredException` when no such session is live.
    pub async fn delete_session_id(
        &self,
        scale_set_id: i64,
        id: uuid::Uuid,
    ) -> Result<(), ActionsError> {
        let path = format!("{}/{id}", sessions_path(scale_set_id));
        self.admin_empty(Method::DELETE, &path, None).await
    }

    /// Long-polls the queue (docs/protocol.md §9.1). `None` is the 202 of an empty poll. The
    /// attempt waits at most `timeout`, and never longer than [`POLL_TIMEOUT`]. A message is an error
    /// only without a readable id: otherwise it is returned, however little of it could be read,
    /// so that it can be acknowledged.
    pub async fn get_message(
        &self,
        session: &mut Session,
        last_message_id: i64,
        max_capacity: u32,
        timeout: Duration,
    ) -> Result<Option<Envelope>, ActionsError> {
        let timeout = timeout.min(POLL_TIMEOUT);
        let (url, response) = self
            .queue_call(
                session,
                Method::GET,
                |session| {
                    let mut url = session.queue_url.clone();
                    if last_message_id > 0 {
                        url.query_pairs_mut()
                            .append_pair("lastMessageId", &last_message_id.to_string());
                    }
                    url
                },
                Some((timeout, max_capacity)),
                None,
            )
            .await?;
        match response.status {
            StatusCode::ACCEPTED => Ok(None),
            StatusCode::OK => super::messages::decode_envelope(&response.body)
                .map(Some)
                .map_err(|source| ActionsError::Decode {
                    what: "get message",
                    activity_id: response.activity_id(),
                    source,
                }),
            _ => Err(ActionsError::Api(Box::new(
                response.error(&Method::GET, &url),
            ))),
        }
    }

    /// Acknowledges a message: DELETE on the queue path plus `/<id>`, query kept (§9.2).
    pub async fn delete_message(
        &self,
        session: &mut Session,
        message_id: i64,
    ) -> Result<(), ActionsError> {
        let (url, response) = self
            .queue_call(
                session,
                Method::DELETE,
                |session| {
                    let mut url = session.queue_url.clone();
                    let path = format!("{}/{message_id}", url.path().trim_end_matches('/'));
                    url.set_path(&path);
                    url
                },
                None,
                None,
            )
            .await?;
        if !response.status.is_success() {
            return Err(ActionsError::Api(Box::new(
                response.error(&Method::DELETE, &url),
            )));
        }
        Ok(())
    }

    /// Acquires `JobAvailable` jobs with the queue token, not the admin token (§11).
    /// Returns the ids the service actually acquired.
    pub async fn acquire_jobs(
        &self,
        session: &mut Session,
        request_ids: &[i64],
    ) -> Result<Vec<i64>, ActionsError> {
        if request_ids.is_empty() {
            return Ok(Vec::new());
        }
        let admin = self.admin_connection().await?;
        let path = format!(
            "_apis/runtime/runnerscalesets/{}/acquirejobs",
            session.scale_set_id
        );
        let url = Self::admin_url(&admin.service_url, &path, &[]);
        let body = serde_json::json!(request_ids);
        let (url, response) = self
            .queue_call(session, Method::POST, |_| url.clone(), None, Some(&body))
            .await?;
        if response.status != StatusCode::OK {
            return Err(ActionsError::Api(Box::new(
                response.error(&Method::POST, &url),
            )));
        }
        let acquired: ListResponse<i64> = response.json("acquire jobs")?;
        Ok(acquired.value)
    }

    /// Sends a queue-token call built from the (current) session; on 401 refreshes the
    /// session and retries once (docs/protocol.md §9.1). An answer refusing the session itself,
    /// or a refresh finding it gone, is [`ActionsError::SessionInvalid`].
    async fn queue_call(
        &self,
        session: &mut Session,
        method: Method,
        url_of: impl Fn(&Session) -> Url,
        poll: Option<(Duration, u32)>,
        body: Option<&serde_json::Value>,
    ) -> Result<(Url, Response), ActionsError> {
        let mut refreshed = false;
        loop {
            let Some(token) = session.queue_token.clone() else {
                // A restored session: a call without a token could only meet a 401.
                tracing::info!(session_id = %session.id, "Message session has no queue token yet; refreshing it.");
                self.refresh_session(session)
                    .await
                    .map_err(gone_as_invalid)?;
                refreshed = true;
                continue;
            };
            let mut call = Call::new(method.clone(), url_of(session), Auth::Bearer(&token));
            call.body = body;
            // api-version travels in Accept here, not in the query (docs/protocol.md §9.1).
            call.headers.push((
                ACCEPT.as_str(),
                format!("application/json; api-version={API_VERSION}"),
            ));
            if let Some((timeout, max_capacity)) = poll {
                call.timeout = Some(timeout);
                call.headers
                    .push((MAX_CAPACITY_HEADER, max_capacity.to_string()));
            }
            let response = self.http.send(&call, |_| false).await?;
            if response.status.is_success() {
                return Ok((call.url, response));
            }
            let error = Box::new(response.error(&method, &call.url));
            if refuses_session(&response, &error) {
                return Err(ActionsError::SessionInvalid(error));
            }
            if response.status != StatusCode::UNAUTHORIZED {
                return Ok((call.url, response));
            }
            if refreshed {
                return Err(ActionsError::QueueTokenExpired(error));
            }
            tracing::info!(session_id = %session.id, "Message queue token expired; refreshing the session.");
            self.refresh_session(session)
                .await
                .map_err(gone_as_invalid)?;
            refreshed = true;
        }
    }
}

/// A queue answer refusing the session itself (docs/protocol.md §9.1): a 403 that is not a
/// rate limit (those are waited out by [`super::http::Http::send`] and arrive here only once
/// it gave up) nor an HTML page (a proxy's, not the service's), or the broker's `errorKind`
/// `RunnerSessionInvalid`.
fn refuses_session(response: &Response, error: &ApiError) -> bool {
    let forbidden = response.status == StatusCode::FORBIDDEN
        && !response.is_html()
        && rate_limit_wait(&response.headers, &response.body, Utc::now()).is_none();
    forbidden || error.has_error_kind(error_kind::SESSION_INVALID)
}

/// A refresh that finds the session gone leaves the queue call without a session.
fn gone_as_invalid(e: ActionsError) -> ActionsError {
    match e.api() {
        Some(api) if e.is_session_gone() => ActionsError::SessionInvalid(Box::new(api.clone())),
        _ => e,
    }
}

fn sessions_path(scale_set_id: i64) -> String {
    format!("_apis/runtime/runnerscalesets/{scale_set_id}/sessions")
}
