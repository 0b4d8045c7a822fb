//! The HTTP side of the conformance driver: one loopback server per fixture, answering by
//! its routes first, then with the answers to the call under test, in turn.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

/// What every fixture's URLs and bodies say in place of the server's address.
pub const SERVER: &str = "{{server}}";

/// One HTTP answer. `json` is sent serialized, `text` byte for byte (a BOM is `\ufeff`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    #[serde(default = "ok_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub json: Option<Value>,
    #[serde(default)]
    pub text: Option<String>,
}

impl Answer {
    /// A JSON answer with no extra headers.
    pub fn json(status: u16, body: Value) -> Self {
        Answer {
            status,
            headers: BTreeMap::new(),
            json: Some(body),
            text: None,
        }
    }
}

fn ok_status() -> u16 {
    200
}

/// Requests whose method (if given) and path (containing `path`) match get `answer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    pub method: Option<String>,
    pub path: String,
    pub answer: Answer,
}

impl Route {
    fn matches(&self, request: &Request) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| request.method().as_str().eq_ignore_ascii_case(m))
            && request.uri().path().contains(&self.path)
    }
}

/// The server of one fixture: routes first, then the answers to the call under test.
#[derive(Debug)]
pub struct Script {
    /// `http://127.0.0.1:<port>`, what `{{server}}` stands for.
    pub base: String,
    routes: Vec<Route>,
    answers: Vec<Answer>,
    attempts: AtomicUsize,
}

impl Script {
    /// Requests the answers to the call under test got.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

async fn serve(State(script): State<Arc<Script>>, request: Request) -> Response {
    let answer = match script.routes.iter().find(|r| r.matches(&request)) {
        Some(route) => &route.answer,
        None => {
            let turn = script.attempts.fetch_add(1, Ordering::SeqCst);
            &script.answers[turn.min(script.answers.len() - 1)]
        }
    };
    let fill = |s: &str| s.replace(SERVER, &script.base);
    let (content_type, body) = match (&answer.json, &answer.text) {
        (Some(json), _) => (Some("application/json"), fill(&json.to_string())),
        (None, Some(text)) => (None, fill(text)),
        (None, None) => (None, String::new()),
    };
    let mut response = (StatusCode::from_u16(answer.status).unwrap(), body).into_response();
    let headers = response.headers_mut();
    headers.remove("content-type");
    if let Some(content_type) = content_type {
        headers.insert("content-type", HeaderValue::from_static(content_type));
    }
    for (name, value) in &answer.headers {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    response
}

/// Starts a server answering `routes` first, then `answers` in turn (the last repeats).
pub async fn start(routes: Vec<Route>, answers: Vec<Answer>) -> Arc<Script> {
    assert!(!answers.is_empty(), "a fixture needs at least one answer");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let script = Arc::new(Script {
        base,
        routes,
        answers,
        attempts: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .fallback(serve)
        .with_state(script.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    script
}
