//! The call log: one record per protocol request, with the Authorization *scheme*
//! only (never a token) and the few headers tests assert on.

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::wire::HEADER_MAX_CAPACITY;

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// When the request arrived.
    pub time: DateTime<Utc>,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Endpoint name (see [`crate::endpoints`]).
    pub endpoint: String,
    /// Response status.
    pub status: u16,
    /// Authorization scheme (`Bearer`, `RemoteAuth`), never the credential.
    pub auth_scheme: Option<String>,
    /// `X-ScaleSetMaxCapacity`.
    pub max_capacity: Option<String>,
    /// `Accept`.
    pub accept: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// The fault applied, if any (`status`, `html`, `emptyOk`, `delay`, …).
    pub fault: Option<String>,
}

/// The request half of a [`Call`], captured before the handler consumes the request.
#[derive(Debug, Clone)]
pub struct CallStart {
    time: DateTime<Utc>,
    method: String,
    path: String,
    query: Option<String>,
    endpoint: &'static str,
    auth_scheme: Option<String>,
    max_capacity: Option<String>,
    accept: Option<String>,
    user_agent: Option<String>,
    content_type: Option<String>,
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl CallStart {
    /// Captures the request line and headers.
    pub fn new(
        method: &str,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        endpoint: &'static str,
    ) -> Self {
        Self {
            time: Utc::now(),
            method: method.to_owned(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            endpoint,
            auth_scheme: crate::respond::auth_scheme(headers),
            max_capacity: header_text(headers, HEADER_MAX_CAPACITY),
            accept: header_text(headers, header::ACCEPT.as_str()),
            user_agent: header_text(headers, header::USER_AGENT.as_str()),
            content_type: header_text(headers, header::CONTENT_TYPE.as_str()),
        }
    }

    /// The endpoint name.
    pub fn endpoint(&self) -> &'static str {
        self.endpoint
    }

    /// Completes the record with the response status and applied fault.
    pub fn finish(self, status: u16, fault: Option<&str>) -> Call {
        Call {
            time: self.time,
            method: self.method,
            path: self.path,
            query: self.query,
            endpoint: self.endpoint.to_owned(),
            status,
            auth_scheme: self.auth_scheme,
            max_capacity: self.max_capacity,
            accept: self.accept,
            user_agent: self.user_agent,
            content_type: self.content_type,
            fault: fault.map(str::to_owned),
        }
    }
}
