//! Shared set-up for tests against the in-process fake Actions Service.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ghaec2::actions::http::RetryPolicy;
use ghaec2::actions::{ActionsClient, ClientOptions};
use ghaec2::backoff::Backoff;
use ghaec2::config::{Credential, GitHubConfigUrl};
use ghaec2_fake::{FakeOptions, FakeServer};
use secrecy::SecretString;

/// Retries as in production, but with millisecond waits.
pub const FAST_RETRY: RetryPolicy = RetryPolicy {
    max_retries: 4,
    backoff: Backoff::new(Duration::from_millis(5), Duration::from_millis(1500)),
};

/// A fake with test timings.
pub async fn fake() -> FakeServer {
    start(FakeOptions::for_tests()).await
}

/// A fake with the given options.
pub async fn start(options: FakeOptions) -> FakeServer {
    FakeServer::start(options).await.expect("fake starts")
}

/// The fake's default PAT.
pub fn pat() -> Credential {
    Credential::Token(SecretString::from(ghaec2_fake::DEFAULT_PAT))
}

/// A client of `my-org` on the fake.
pub fn client(fake: &FakeServer, credential: &Credential) -> ActionsClient {
    client_with(fake, credential, Duration::from_secs(10))
}

/// A client with a per-attempt timeout.
pub fn client_with(fake: &FakeServer, credential: &Credential, timeout: Duration) -> ActionsClient {
    let url = GitHubConfigUrl::parse_with(&fake.config_url("my-org"), false).expect("config url");
    let options = ClientOptions {
        retry: FAST_RETRY,
        timeout,
        ..ClientOptions::default()
    };
    ActionsClient::new(url, credential, options).expect("client")
}

/// The test-only App keypair shipped with the fake.
pub fn app_key(which: &str) -> String {
    let path = format!(
        "{}/fake/tests/fixtures/test_app_{which}_key.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("fixture key")
}
