//! Fault injection: rules that replace (or delay, or alter) the normal handling of
//! an endpoint for the next N calls (docs/protocol.md §15 item 10). A fault that answers
//! with an error is applied before the handler runs, so it never commits state:
//! clients retry POSTs (docs/protocol.md §14.1) and must see a clean retry.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::endpoints::{
    self, MESSAGES_GET, REGISTRATION_TOKEN, RUNNER_REGISTRATION, SESSIONS_CREATE, SESSIONS_REFRESH,
};
use crate::wire::{HEADER_RETRY_AFTER, TOKEN_SCHEMA, exceptions};

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum FaultAction {
    /// Answer `status` with an optional JSON or text body and `Retry-After`.
    Status {
        /// HTTP status.
        status: u16,
        /// JSON body (takes precedence over `text`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        json: Option<Value>,
        /// Plain-text body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// `Retry-After` seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
    /// Answer an HTML page (`text/html`), like a login or proxy page.
    Html {
        /// HTTP status (usually 200).
        status: u16,
    },
    /// Answer 200 with an empty body (seen live on message polls, docs/protocol.md §9.1).
    EmptyOk,
    /// Sleep, then handle normally (slow or hung responses).
    Delay {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// Handle normally but return `messageQueueUrl: ""` (session create/refresh;
    /// seen during outages, docs/protocol.md §8.1). The session is created for real.
    EmptyMessageQueueUrl,
    /// Handle normally but leave `statistics` out of the session (create/refresh), as a
    /// service that omits defaults may.
    SessionWithoutStatistics,
    /// Handle normally (the call takes effect), then hold the answer `ms` milliseconds: a
    /// client whose timeout is shorter never sees it and retries (a lost answer).
    AnswerLate {
        /// Milliseconds to hold the answer.
        ms: u64,
    },
    /// A session create that conflicts answers in the older wording, which names the live
    /// session's owner (docs/protocol.md §8.4).
    SessionConflictNamesOwner,
}

/// A fault rule: `endpoint` name (see [`crate::endpoints`]), `"*"` for any, or a
/// prefix ending in `.*` (e.g. `sessions.*`); `times` matching calls, then it disarms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Endpoint name, `*`, or `prefix.*`.
    pub endpoint: String,
    /// Remaining matching calls.
    pub times: u32,
    /// What to do.
    pub action: FaultAction,
}

fn status(
    endpoint: &str,
    times: u32,
    status: u16,
    json: Option<Value>,
    text: Option<&str>,
    retry_after_secs: Option<u64>,
) -> Fault {
    Fault::new(
        endpoint,
        times,
        FaultAction::Status {
            status,
            json,
            text: text.map(str::to_owned),
            retry_after_secs,
        },
    )
}

fn dotnet_body(type_name: &str, message: &str) -> Value {
    let class = type_name.split(',').next().unwrap_or(type_name);
    json!({"$id": "1", "innerException": null, "message": message, "typeName": type_name,
           "typeKey": class.rsplit('.').next().unwrap_or(class), "errorCode": 0, "eventId": 3000})
}

fn github_body(message: &str) -> Value {
    json!({"message": message, "documentation_url": "https://docs.github.com/rest"})
}

impl Fault {
    /// A rule from parts.
    pub fn new(endpoint: &str, times: u32, action: FaultAction) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            times,
            action,
        }
    }

    /// `times` × 503 with a plain-text body (retried by clients, docs/protocol.md §14.1).
    pub fn burst_5xx(endpoint: &str, times: u32) -> Self {
        Self::status(endpoint, times, 503)
    }

    /// `times` × `status` (e.g. 500, 502) with a plain-text body.
    pub fn status(endpoint: &str, times: u32, code: u16) -> Self {
        let text = StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error");
        status(endpoint, times, code, None, Some(text), None)
    }

    /// `times` × 429 with `Retry-After: secs` (docs/protocol.md §14.1).
    pub fn too_many_requests(endpoint: &str, times: u32, retry_after_secs: u64) -> Self {
        status(
            endpoint,
            times,
            429,
            Some(github_body("API rate limit exceeded")),
            None,
            Some(retry_after_secs),
        )
    }

    /// `times` × 503 with `Retry-After: secs`.
    pub fn unavailable_retry_after(endpoint: &str, times: u32, retry_after_secs: u64) -> Self {
        status(
            endpoint,
            times,
            503,
            None,
            Some("Service Unavailable"),
            Some(retry_after_secs),
        )
    }

    /// The first `times` runner-registration calls answer `code` (401/403 are retried
    /// by clients; 404 means "no Actions service on this GHES", docs/protocol.md §4.3).
    pub fn runner_registration_status(code: u16, times: u32) -> Self {
        let message = match code {
            401 => "Bad credentials",
            403 => "Forbidden",
            404 => "Not Found",
            _ => "Error",
        };
        status(
            RUNNER_REGISTRATION,
            times,
            code,
            Some(github_body(message)),
            None,
            None,
        )
    }

    /// The registration-token call answers 403 (missing permission, docs/protocol.md §3.2).
    pub fn registration_token_forbidden(times: u32) -> Self {
        status(
            REGISTRATION_TOKEN,
            times,
            403,
            Some(github_body("Resource not accessible by integration")),
            None,
            None,
        )
    }

    /// `endpoint` answers 403 as GitHub does to a credential without the permission it needs
    /// (e.g. "Actions: read and write" for the workflow-run calls, docs/protocol.md §19).
    pub fn github_forbidden(endpoint: &str, times: u32) -> Self {
        status(
            endpoint,
            times,
            403,
            Some(github_body(
                "Resource not accessible by personal access token",
            )),
            None,
            None,
        )
    }

    /// runner-registration answers 200 with an HTML page (proxy/login page).
    pub fn runner_registration_html(times: u32) -> Self {
        Self::new(
            RUNNER_REGISTRATION,
            times,
            FaultAction::Html { status: 200 },
        )
    }

    /// runner-registration answers 200 without `url` and `token` (docs/protocol.md §4.2).
    pub fn runner_registration_missing_fields(times: u32) -> Self {
        let body = json!({"token_schema": TOKEN_SCHEMA, "use_v2_flow": true});
        status(RUNNER_REGISTRATION, times, 200, Some(body), None, None)
    }

    /// Session refresh answers 404 `RunnerAdminException` (docs/protocol.md §8.2).
    pub fn session_refresh_not_found(times: u32) -> Self {
        let body = dotnet_body(
            exceptions::RUNNER_ADMIN,
            "runner referenced a session ID that doesn't exist in redis",
        );
        status(SESSIONS_REFRESH, times, 404, Some(body), None, None)
    }

    /// Session create answers 409 conflict (docs/protocol.md §8.4) without any session
    /// existing. For the stateful variant see `Fake::create_stale_session`.
    pub fn session_conflict(times: u32) -> Self {
        let body = dotnet_body(
            exceptions::SESSION_CONFLICT,
            "The actions runner scaleset already has an active session.",
        );
        status(SESSIONS_CREATE, times, 409, Some(body), None, None)
    }

    /// Session creates answer late (see [`FaultAction::AnswerLate`]): the session exists,
    /// but a client with a shorter timeout never learns its id.
    pub fn session_create_answer_lost(times: u32, ms: u64) -> Self {
        Self::new(SESSIONS_CREATE, times, FaultAction::AnswerLate { ms })
    }

    /// Session creates that conflict name the live session's owner (older wording).
    pub fn session_conflict_names_owner(times: u32) -> Self {
        Self::new(
            SESSIONS_CREATE,
            times,
            FaultAction::SessionConflictNamesOwner,
        )
    }

    /// `endpoint` answers 400 with the broker's error body, `errorKind` `RunnerSessionInvalid`
    /// (how the service now refuses a session it no longer knows, docs/protocol.md §14.4).
    pub fn session_invalid(endpoint: &str, times: u32) -> Self {
        let body = json!({"source": "actions-broker-listener", "errorKind": "RunnerSessionInvalid",
                          "statusCode": 400, "errorMessage": "Runner session is invalid"});
        status(endpoint, times, 400, Some(body), None, None)
    }

    /// Message polls answer 200 with an empty body (docs/protocol.md §9.1, ARC #4285).
    pub fn empty_message(times: u32) -> Self {
        Self::new(MESSAGES_GET, times, FaultAction::EmptyOk)
    }

    /// Session create and refresh return an empty `messageQueueUrl`.
    pub fn empty_message_queue_url(times: u32) -> Self {
        Self::new("sessions.*", times, FaultAction::EmptyMessageQueueUrl)
    }

    /// Session create and refresh answer without `statistics`.
    pub fn session_without_statistics(times: u32) -> Self {
        Self::new("sessions.*", times, FaultAction::SessionWithoutStatistics)
    }

    /// `endpoint` answers 401 plain text (as an expired token would).
    pub fn unauthorized(endpoint: &str, times: u32) -> Self {
        status(endpoint, times, 401, None, Some("Unauthorized"), None)
    }

    /// `endpoint` answers an HTML page with `code`.
    pub fn html(endpoint: &str, times: u32, code: u16) -> Self {
        Self::new(endpoint, times, FaultAction::Html { status: code })
    }

    /// `endpoint` is delayed by `ms` before normal handling.
    pub fn delay(endpoint: &str, times: u32, ms: u64) -> Self {
        Self::new(endpoint, times, FaultAction::Delay { ms })
    }

    fn matches(&self, endpoint: &str) -> bool {
        let name_ok = self.endpoint == "*"
            || self.endpoint == endpoint
            || self
                .endpoint
                .strip_suffix('*')
                .is_some_and(|prefix| prefix.ends_with('.') && endpoint.starts_with(prefix));
        let applicable = match self.action {
            FaultAction::EmptyMessageQueueUrl | FaultAction::SessionWithoutStatistics => {
                matches!(endpoint, SESSIONS_CREATE | SESSIONS_REFRESH)
            }
            FaultAction::SessionConflictNamesOwner => endpoint == SESSIONS_CREATE,
            _ => true,
        };
        self.times > 0 && name_ok && applicable
    }
}

/// The armed rules, first match wins.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<Fault>,
}

impl Faults {
    /// Arms a rule after the existing ones.
    pub fn add(&mut self, fault: Fault) {
        self.rules.push(fault);
    }

    /// Disarms everything.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The armed rules.
    pub fn list(&self) -> Vec<Fault> {
        self.rules.clone()
    }

    /// Consumes one use of the first rule matching `endpoint`.
    pub fn take(&mut self, endpoint: &str) -> Option<FaultAction> {
        if endpoint == endpoints::CONTROL {
            return None;
        }
        let index = self.rules.iter().position(|r| r.matches(endpoint))?;
        let rule = &mut self.rules[index];
        rule.times -= 1;
        let action = rule.action.clone();
        if rule.times == 0 {
            self.rules.remove(index);
        }
        Some(action)
    }
}

const HTML_PAGE: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in to GitHub · GitHub</title></head>\n<body><div class=\"auth-form\"><h1>Sign in to GitHub</h1><form action=\"/session\" method=\"post\"><input type=\"text\" name=\"login\"><input type=\"password\" name=\"password\"></form></div></body></html>\n";

impl FaultAction {
    /// The response replacing normal handling, or `None` when the request proceeds.
    pub fn response(&self) -> Option<Response> {
        match self {
            FaultAction::Status {
                status,
                json,
                text,
                retry_after_secs,
            } => {
                let code =
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut response = match (json, text) {
                    (Some(body), _) => (code, axum::Json(body.clone())).into_response(),
                    (None, Some(text)) => (
                        code,
                        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        text.clone(),
                    )
                        .into_response(),
                    (None, None) => code.into_response(),
                };
                if let Some(secs) = retry_after_secs {
                    response
                        .headers_mut()
                        .insert(HEADER_RETRY_AFTER, HeaderValue::from(*secs));
                }
                Some(response)
            }
            FaultAction::Html { status } => {
                let code = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
                Some(
                    (
                        code,
                        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        HTML_PAGE,
                    )
                        .into_response(),
                )
            }
            FaultAction::EmptyOk => Some(StatusCode::OK.into_response()),
            FaultAction::Delay { .. }
            | FaultAction::EmptyMessageQueueUrl
            | FaultAction::SessionWithoutStatistics
            | FaultAction::AnswerLate { .. }
            | FaultAction::SessionConflictNamesOwner => None,
        }
    }

    /// A short name for the call log.
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Status { .. } => "status",
            FaultAction::Html { .. } => "html",
            FaultAction::EmptyOk => "emptyOk",
            FaultAction::Delay { .. } => "delay",
            FaultAction::EmptyMessageQueueUrl => "emptyMessageQueueUrl",
            FaultAction::SessionWithoutStatistics => "sessionWithoutStatistics",
            FaultAction::AnswerLate { .. } => "answerLate",
            FaultAction::SessionConflictNamesOwner => "sessionConflictNamesOwner",
        }
    }
}

/// Marker a handler finds in the request extensions when the
/// `EmptyMessageQueueUrl` fault applies.
#[derive(Debug, Clone, Copy)]
pub struct EmptyMessageQueueUrl;

/// Marker a handler finds in the request extensions when the `SessionWithoutStatistics`
/// fault applies.
#[derive(Debug, Clone, Copy)]
pub struct SessionWithoutStatistics;

/// Marker a handler finds in the request extensions when the `SessionConflictNamesOwner`
/// fault applies.
#[derive(Debug, Clone, Copy)]
pub struct SessionConflictNamesOwner;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_disarm_after_their_count_and_match_prefixes() {
        let mut faults = Faults::default();
        faults.add(Fault::burst_5xx("messages.get", 2));
        faults.add(Fault::empty_message_queue_url(1));
        assert!(faults.take("messages.delete").is_none());
        assert!(
            faults.take("sessions.delete").is_none(),
            "mq-url fault only on create/refresh"
        );
        assert_eq!(
            faults.take("sessions.refresh"),
            Some(FaultAction::EmptyMessageQueueUrl)
        );
        assert!(faults.take("messages.get").is_some());
        assert!(faults.take("messages.get").is_some());
        assert!(faults.take("messages.get").is_none());
        assert!(faults.list().is_empty());
    }

    #[test]
    fn session_faults_apply_where_they_mean_something() {
        let mut faults = Faults::default();
        faults.add(Fault::session_conflict_names_owner(1));
        assert!(
            faults.take("sessions.refresh").is_none(),
            "only creates conflict"
        );
        assert_eq!(
            faults.take("sessions.create"),
            Some(FaultAction::SessionConflictNamesOwner)
        );
        let late: Fault = serde_json::from_str(
            r#"{"endpoint":"sessions.create","times":1,"action":{"kind":"answerLate","ms":900}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(late, Fault::session_create_answer_lost(1, 900));
        let invalid = Fault::session_invalid("acquirejobs", 1);
        let text = serde_json::to_string(&invalid).unwrap_or_default();
        assert!(
            text.contains("\"errorKind\":\"RunnerSessionInvalid\""),
            "{text}"
        );
    }

    #[test]
    fn faults_round_trip_as_json() {
        let fault = Fault::too_many_requests("*", 1, 3);
        let text = serde_json::to_string(&fault).unwrap_or_default();
        assert!(
            text.contains("\"kind\":\"status\"") && text.contains("\"retryAfterSecs\":3"),
            "{text}"
        );
        let back: Fault = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, fault);
        let delay: Fault = serde_json::from_str(
            r#"{"endpoint":"acquirejobs","times":1,"action":{"kind":"delay","ms":5}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(delay.action, FaultAction::Delay { ms: 5 });
    }
}
