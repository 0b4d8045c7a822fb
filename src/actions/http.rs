//! The HTTP layer: retries, `Retry-After`, BOM stripping and error mapping (docs/protocol.md §14).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::error::{ActionsError, ApiError};
use super::wire::{self, ErrorBody};
use crate::backoff::Backoff;

/// Correlation header of the Actions Service.
pub const ACTIVITY_ID: &str = "ActivityId";
/// Correlation header of the GitHub API.
pub const GITHUB_REQUEST_ID: &str = "X-GitHub-Request-Id";
/// Longest body text kept in an error message.
const MAX_ERROR_TEXT: usize = 512;

/// When and how long to retry (docs/protocol.md §14.1): 4 retries, waits of 1, 2, 4, 8 s, at most
/// 30 s, or what `Retry-After` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Waits between attempts; `Retry-After` is capped at its longest wait too.
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
        }
    }
}

impl RetryPolicy {
    /// Wait before retry number `retry` (0-based); `Retry-After` wins, capped at the longest
    /// wait.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        retry_after
            .unwrap_or_else(|| self.backoff.wait(retry))
            .min(self.backoff.max())
    }

    /// Statuses retried for every call: 429 and 5xx other than 501.
    pub fn is_retryable_status(status: StatusCode) -> bool {
        status == StatusCode::TOO_MANY_REQUESTS
            || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
    }
}

/// GitHub's rate-limit headers: requests left in the window, and when it resets (epoch seconds).
const RATE_LIMIT_REMAINING: &str = "x-ratelimit-remaining";
const RATE_LIMIT_RESET: &str = "x-ratelimit-reset";
/// How long GitHub asks to wait after a secondary rate limit that names no time: "at least one
/// minute" (capped by the policy's longest wait like any other).
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// How long a 403 asks to wait when it is a rate limit rather than a refusal: GitHub answers
/// both primary and secondary rate limits with 403 as well as 429. `Retry-After` first, then
/// `x-ratelimit-remaining: 0` until `x-ratelimit-reset`, then a body naming a rate limit.
/// `None`: a real refusal, not retried.
pub fn rate_limit_wait(headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(wait) = header(RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(v, now)) {
        return Some(wait);
    }
    if header(RATE_LIMIT_REMAINING).map(str::trim) == Some("0") {
        let reset = header(RATE_LIMIT_RESET)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .and_then(|epoch| DateTime::from_timestamp(epoch, 0));
        return Some(reset.map_or(SECONDARY_LIMIT_WAIT, |at| {
            (at - now).to_std().unwrap_or(Duration::ZERO)
        }));
    }
    String::from_utf8_lossy(body)
        .to_ascii_lowercase()
        .contains("rate limit")
        .then_some(SECONDARY_LIMIT_WAIT)
}

/// Parses `Retry-After`: delay seconds, or an HTTP date relative to `now`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&Utc) - now)
        .to_std()
        .ok()
        .or(Some(Duration::ZERO))
}

/// A response read to the end, with any BOM removed. `Debug` gives the body's length only:
/// a token call's body is the token.
pub struct Response {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body without BOM.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

impl Response {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The `ActivityId` header.
    pub fn activity_id(&self) -> Option<String> {
        self.header(ACTIVITY_ID)
    }

    /// True when the body is an HTML page (a proxy, a login page) rather than an API answer.
    pub fn is_html(&self) -> bool {
        let content_type = self.header(CONTENT_TYPE.as_str()).unwrap_or_default();
        content_type.contains("text/html")
            || String::from_utf8_lossy(&self.body)
                .trim_start()
                .get(..1)
                .is_some_and(|c| c == "<")
    }

    /// Decodes the body as `T`, naming the call on failure.
    pub fn json<T: DeserializeOwned>(&self, what: &'static str) -> Result<T, ActionsError> {
        wire::decode(&self.body).map_err(|source| ActionsError::Decode {
            what,
            activity_id: self.activity_id(),
            source,
        })
    }

    /// The error this response stands for (docs/protocol.md §14.2): JSON `typeName`/`message`
    /// (or the broker's `errorKind`/`errorMessage`), plain text as it is, an empty body as
    /// "unknown exception".
    pub fn error(&self, method: &Method, url: &reqwest::Url) -> ApiError {
        let text = String::from_utf8_lossy(&self.body).trim().to_owned();
        let parsed = wire::decode::<ErrorBody>(&self.body).ok();
        let given = |s: String| Some(s).filter(|s| !s.is_empty());
        let (type_name, error_kind, message) = match parsed {
            Some(body)
                if !(body.type_name.is_empty()
                    && body.message.is_empty()
                    && body.error_kind.is_empty()
                    && body.error_message.is_empty()) =>
            {
                let message = given(body.message).unwrap_or(body.error_message);
                (given(body.type_name), given(body.error_kind), message)
            }
            _ if text.is_empty() => (None, None, "unknown exception".to_owned()),
            _ if self.is_html() => (
                None,
                None,
                "an HTML page instead of an API response".to_owned(),
            ),
            _ => (None, None, shorten(&text)),
        };
        ApiError {
            method: method.to_string(),
            url: url.to_string(),
            status: self.status,
            activity_id: self.activity_id(),
            github_request_id: self.header(GITHUB_REQUEST_ID),
            type_name,
            error_kind,
            message,
        }
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// How a call authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// `Authorization: Bearer <token>` (PAT, installation token, admin or queue token).
    Bearer(&'a SecretString),
    /// `Authorization: RemoteAuth <registration token>`, for runner-registration only.
    RemoteAuth(&'a SecretString),
}

/// One call: everything needed to build (and rebuild, on retry) its request.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// Method.
    pub method: Method,
    /// URL.
    pub url: reqwest::Url,
    /// Credential.
    pub auth: Auth<'a>,
    /// JSON body, if any.
    pub body: Option<&'a serde_json::Value>,
    /// Content type; the Actions Service wants JSON even on GET and DELETE (docs/protocol.md §5).
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Per-attempt timeout instead of the client's.
    pub timeout: Option<Duration>,
}

impl<'a> Call<'a> {
    /// A JSON call with `auth` and no extras.
    pub fn new(method: Method, url: reqwest::Url, auth: Auth<'a>) -> Self {
        Call {
            method,
            url,
            auth,
            body: None,
            content_type: "application/json",
            headers: Vec::new(),
            timeout: None,
        }
    }

    fn request(&self, client: &reqwest::Client) -> RequestBuilder {
        let authorization = match self.auth {
            Auth::Bearer(token) => format!("Bearer {}", token.expose_secret()),
            Auth::RemoteAuth(token) => format!("RemoteAuth {}", token.expose_secret()),
        };
        let mut request = client
            .request(self.method.clone(), self.url.clone())
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, self.content_type);
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        match self.body {
            Some(body) => request.json(body),
            None => request,
        }
    }
}

/// A reqwest client with the retry policy, the user agent and a per-attempt timeout.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl Http {
    /// Builds the client, trusting `extra_roots` beside the platform's roots. `timeout` bounds
    /// each attempt of an ordinary call; the long poll sets its own.
    pub fn new(
        retry: RetryPolicy,
        timeout: Duration,
        extra_roots: Vec<reqwest::Certificate>,
    ) -> Result<Http, reqwest::Error> {
        // reqwest reads HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (either case) by default
        // and exempts no host, loopback neither (docs/deploy.md "Enterprise networks").
        let client = reqwest::Client::builder()
            .user_agent(user_agent())
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .tls_certs_merge(extra_roots)
            .build()?;
        Ok(Http { client, retry })
    }

    /// Sends a call, again on transport errors, 429 and 5xx (≠ 501), a 403 that is a rate
    /// limit ([`rate_limit_wait`]), and on the statuses `also_retry` names. Returns the last
    /// response whatever its status; fails only when no response came.
    pub async fn send(
        &self,
        call: &Call<'_>,
        also_retry: impl Fn(StatusCode) -> bool,
    ) -> Result<Response, ActionsError> {
        let (method, url) = (&call.method, &call.url);
        let mut retry = 0;
        loop {
            let outcome = call.request(&self.client).send().await;
            // A 403 is a rate limit or a refusal: only its headers and body tell, so read it.
            if matches!(&outcome, Ok(r) if r.status() == StatusCode::FORBIDDEN && !also_retry(r.status()))
            {
                let response = read(outcome, method, url, retry + 1).await?;
                match rate_limit_wait(&response.headers, &response.body, Utc::now()) {
                    Some(asked) if retry < self.retry.max_retries => {
                        let wait = self.retry.wait(retry, Some(asked));
                        tracing::info!(%url, retry, wait_ms = wait.as_millis() as u64, "Rate limited (403); waiting.");
                        tokio::time::sleep(wait).await;
                        retry += 1;
                        continue;
                    }
                    _ => return Ok(response),
                }
            }
            let wait = match &outcome {
                Ok(r) if RetryPolicy::is_retryable_status(r.status()) || also_retry(r.status()) => {
                    let retry_after = r
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, Utc::now()));
                    Some(self.retry.wait(retry, retry_after))
                }
                Ok(_) => None,
                Err(e) if is_transient(e) => Some(self.retry.wait(retry, None)),
                Err(_) => None,
            };
            match (wait, retry < self.retry.max_retries) {
                (Some(wait), true) => {
                    tracing::debug!(%method, %url, retry, wait_ms = wait.as_millis() as u64, "Retrying request.");
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
                _ => return read(outcome, method, url, retry + 1).await,
            }
        }
    }
}

async fn read(
    outcome: reqwest::Result<reqwest::Response>,
    method: &Method,
    url: &reqwest::Url,
    attempts: u32,
) -> Result<Response, ActionsError> {
    let transport = |source| ActionsError::Transport {
        method: method.to_string(),
        url: url.to_string(),
        attempts,
        source,
    };
    let response = outcome.map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport)?;
    Ok(Response {
        status,
        headers,
        body: wire::strip_bom(&body).to_vec(),
    })
}

/// Transport errors worth retrying; a request that could not even be built is not.
fn is_transient(e: &reqwest::Error) -> bool {
    !e.is_builder() && !e.is_redirect()
}

/// `ghaec2/<version>`, sent on every request (docs/protocol.md §14.5).
pub fn user_agent() -> String {
    format!("ghaec2/{}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
