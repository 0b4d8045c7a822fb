//! A tiny protocol client for the fake's integration tests (reqwest), written like
//! the reference clients call the service (docs/protocol.md §14.6).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ghaec2_fake::{DEFAULT_PAT, FakeOptions, FakeServer};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

pub const ACCEPT_MQ: &str = "application/json; api-version=6.0-preview";
pub const API: &str = "api-version=6.0-preview";

pub async fn start(options: FakeOptions) -> FakeServer {
    FakeServer::start(options).await.expect("fake starts")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("ghaec2-fake-tests/1")
        .build()
        .unwrap()
}

/// Strips a UTF-8 BOM and parses JSON (clients do the same, docs/protocol.md §5).
pub async fn body_json(response: Response) -> Value {
    let bytes = response.bytes().await.unwrap();
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(&bytes);
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// An admin connection: tenant URL and admin token.
#[derive(Clone, Debug)]
pub struct Admin {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
}

pub async fn registration_token(fake: &FakeServer, path: &str, credential: &str) -> Response {
    http()
        .post(format!(
            "{}/api/v3/{path}/actions/runners/registration-token",
            fake.base_url()
        ))
        .bearer_auth(credential)
        .header("Content-Type", "application/vnd.github.v3+json")
        .send()
        .await
        .unwrap()
}

pub async fn runner_registration(
    fake: &FakeServer,
    registration_token: &str,
    config_url: &str,
) -> Response {
    http()
        .post(format!(
            "{}/api/v3/actions/runner-registration",
            fake.base_url()
        ))
        .header("Authorization", format!("RemoteAuth {registration_token}"))
        .json(&json!({"url": config_url, "runner_event": "register"}))
        .send()
        .await
        .unwrap()
}

/// The PAT token chain for org `org` (docs/protocol.md §3, §4).
pub async fn admin(fake: &FakeServer, org: &str) -> Admin {
    let response = registration_token(fake, &format!("orgs/{org}"), DEFAULT_PAT).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let reg = body_json(response).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = runner_registration(fake, &reg, &fake.config_url(org)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body = body_json(response).await;
    Admin {
        http: http(),
        url: body["url"].as_str().unwrap().to_owned(),
        token: body["token"].as_str().unwrap().to_owned(),
    }
}

impl Admin {
    /// An admin call: path joined to the tenant URL, `api-version` added.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut request = self
            .http
            .request(method, format!("{}{path}{sep}{API}", self.url))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        request.send().await.unwrap()
    }

    pub async fn create_scale_set(&self, name: &str) -> Value {
        let body = json!({"name": name, "runnerGroupId": 1, "labels": [{"type": "System", "name": name}],
                          "RunnerSetting": {"disableUpdate": true}, "createdOn": "0001-01-01T00:00:00Z"});
        let response = self
            .call(Method::POST, "_apis/runtime/runnerscalesets", Some(body))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        body_json(response).await
    }

    pub async fn create_session(&self, scale_set_id: u64) -> Response {
        let body =
            json!({"sessionId": "00000000-0000-0000-0000-000000000000", "ownerName": "test-host"});
        self.call(
            Method::POST,
            &format!("_apis/runtime/runnerscalesets/{scale_set_id}/sessions"),
            Some(body),
        )
        .await
    }

    pub async fn session(&self, scale_set_id: u64) -> Session {
        let response = self.create_session(scale_set_id).await;
        assert_eq!(response.status(), StatusCode::OK);
        Session::from_json(self.http.clone(), &body_json(response).await)
    }

    pub async fn jit(&self, scale_set_id: u64, name: &str) -> (u64, String) {
        let response = self
            .call(
                Method::POST,
                &format!("_apis/runtime/runnerscalesets/{scale_set_id}/generatejitconfig"),
                Some(json!({"name": name, "workFolder": ""})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = body_json(response).await;
        (
            body["runner"]["id"].as_u64().unwrap(),
            body["encodedJITConfig"].as_str().unwrap().to_owned(),
        )
    }
}

/// A message session.
#[derive(Clone, Debug)]
pub struct Session {
    pub http: reqwest::Client,
    pub id: String,
    pub queue_url: String,
    pub token: String,
    pub tenant_url: String,
}

impl Session {
    pub fn from_json(http: reqwest::Client, body: &Value) -> Self {
        let queue_url = body["messageQueueUrl"].as_str().unwrap().to_owned();
        let tenant_url = queue_url.split("/queue/").next().unwrap().to_owned();
        Self {
            http,
            id: body["sessionId"].as_str().unwrap().to_owned(),
            queue_url,
            token: body["messageQueueAccessToken"].as_str().unwrap().to_owned(),
            tenant_url,
        }
    }

    /// GET the queue URL, adding `lastMessageId` only when > 0 (docs/protocol.md §9.1).
    pub async fn poll(&self, last: u64, capacity: u64) -> Response {
        let mut url = reqwest::Url::parse(&self.queue_url).unwrap();
        if last > 0 {
            url.query_pairs_mut()
                .append_pair("lastMessageId", &last.to_string());
        }
        self.http
            .get(url)
            .bearer_auth(&self.token)
            .header("Accept", ACCEPT_MQ)
            .header("X-ScaleSetMaxCapacity", capacity.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Polls and returns `(messageId, events, statistics)`; panics on non-200.
    pub async fn message(&self, last: u64, capacity: u64) -> (u64, Vec<Value>, Value) {
        let response = self.poll(last, capacity).await;
        assert_eq!(response.status(), StatusCode::OK);
        let envelope = body_json(response).await;
        assert_eq!(envelope["messageType"], "RunnerScaleSetJobMessages");
        let events: Vec<Value> = serde_json::from_str(envelope["body"].as_str().unwrap()).unwrap();
        (
            envelope["messageId"].as_u64().unwrap(),
            events,
            envelope["statistics"].clone(),
        )
    }

    /// DELETE `<queue path>/<id>`, keeping the query (docs/protocol.md §9.2).
    pub async fn ack(&self, message_id: u64) -> Response {
        let mut url = reqwest::Url::parse(&self.queue_url).unwrap();
        let path = format!("{}/{message_id}", url.path());
        url.set_path(&path);
        self.http
            .delete(url)
            .bearer_auth(&self.token)
            .header("Content-Type", "application/json")
            .send()
            .await
            .unwrap()
    }

    pub async fn acquire(&self, admin: &Admin, scale_set_id: u64, ids: &[u64]) -> Response {
        self.http
            .post(format!(
                "{}_apis/runtime/runnerscalesets/{scale_set_id}/acquirejobs?{API}",
                admin.url
            ))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/json")
            .body(serde_json::to_string(ids).unwrap())
            .send()
            .await
            .unwrap()
    }
}

pub fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["messageType"].as_str().unwrap())
        .collect()
}

pub const SHORT: Duration = Duration::from_secs(5);
