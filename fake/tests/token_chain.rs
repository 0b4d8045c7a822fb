//! Token chain (docs/protocol.md §1–§5): PAT and GitHub App credentials, registration
//! token, runner-registration, admin token checks, request conventions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use ghaec2_fake::{AppOptions, FakeOptions};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;

// Test-only keypair (tests/fixtures/README.md): never a real App key.
const PRIVATE_KEY: &str = include_str!("fixtures/test_app_private_key.pem");
const PUBLIC_KEY: &str = include_str!("fixtures/test_app_public_key.pem");

fn app_options() -> FakeOptions {
    FakeOptions::for_tests().with_app(AppOptions {
        app_id: "12345".into(),
        client_id: None,
        installation_id: 77,
        public_key_pem: PUBLIC_KEY.into(),
    })
}

fn app_jwt(iss: &str, iat_offset: i64, lifetime: i64) -> String {
    let iat = chrono::Utc::now().timestamp() + iat_offset;
    let claims = json!({"iat": iat, "exp": iat + lifetime, "iss": iss});
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn access_token(base: &str, installation: u64, jwt: &str) -> reqwest::Response {
    http()
        .post(format!(
            "{base}/api/v3/app/installations/{installation}/access_tokens"
        ))
        .bearer_auth(jwt)
        .header("Content-Type", "application/vnd.github+json")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn pat_chain_yields_tenant_url_and_jwt_admin_token() {
    let fake = start(FakeOptions::for_tests()).await;
    let response = registration_token(&fake, "orgs/my-org", ghaec2_fake::DEFAULT_PAT).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().contains_key("X-GitHub-Request-Id"));
    let body = body_json(response).await;
    assert!(body["expires_at"].is_string());
    let reg = body["token"].as_str().unwrap();

    let response = runner_registration(&fake, reg, &fake.config_url("my-org")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body = body_json(response).await;
    let url = body["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/tenant/", fake.base_url())) && url.ends_with('/'),
        "{url}"
    );
    assert_eq!(body["token_schema"], "OAuthAccessToken");
    assert_eq!(body["use_v2_flow"], true);
    assert!(
        body.get("authorization").is_none(),
        "the credential field is `token`"
    );
    // The admin token is a JWT whose `exp` a client can read without verifying.
    let token = body["token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert!(claims["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    fake.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_and_wrong_schemes_are_refused() {
    let fake = start(FakeOptions::for_tests()).await;
    let response = registration_token(&fake, "orgs/my-org", "ghp_wrong").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(response).await["message"], "Bad credentials");
    let response = http()
        .post(format!(
            "{}/api/v3/orgs/o/actions/runners/registration-token",
            fake.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // RemoteAuth must carry a registration token we issued; Bearer is the wrong scheme.
    assert_eq!(
        runner_registration(&fake, "NOTISSUED", &fake.config_url("o"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let reg = body_json(registration_token(&fake, "orgs/o", ghaec2_fake::DEFAULT_PAT).await).await
        ["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = http()
        .post(format!(
            "{}/api/v3/actions/runner-registration",
            fake.base_url()
        ))
        .bearer_auth(&reg)
        .json(&json!({"url": fake.config_url("o"), "runner_event": "register"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A token issued for another org does not register this one.
    assert_eq!(
        runner_registration(&fake, &reg, &fake.config_url("other"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn repo_and_enterprise_scopes_work() {
    let fake = start(FakeOptions::for_tests()).await;
    for (path, config_url) in [
        ("repos/o/r", fake.repo_config_url("o", "r")),
        ("enterprises/e", fake.enterprise_config_url("e")),
    ] {
        let response = registration_token(&fake, path, ghaec2_fake::DEFAULT_PAT).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{path}");
        let reg = body_json(response).await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            runner_registration(&fake, &reg, &config_url).await.status(),
            StatusCode::CREATED,
            "{config_url}"
        );
    }
    fake.shutdown().await;
}

#[tokio::test]
async fn github_app_chain_verifies_the_rs256_jwt() {
    let fake = start(app_options()).await;
    let response = access_token(fake.base_url(), 77, &app_jwt("12345", -60, 540)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let installation = body_json(response).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(installation.starts_with("ghs_"));
    let response = registration_token(&fake, "orgs/my-org", &installation).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    assert_eq!(
        access_token(fake.base_url(), 77, &app_jwt("999", -60, 540))
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "wrong iss"
    );
    assert_eq!(
        access_token(fake.base_url(), 77, &app_jwt("12345", 0, 660))
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "lifetime > 10 min"
    );
    assert_eq!(
        access_token(fake.base_url(), 77, &app_jwt("12345", -700, 600))
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "expired"
    );
    assert_eq!(
        access_token(fake.base_url(), 78, &app_jwt("12345", -60, 540))
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "other installation"
    );
    assert_eq!(
        access_token(fake.base_url(), 77, "not.a.jwt")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn admin_calls_need_a_live_admin_token_and_api_version() {
    let fake = start(FakeOptions {
        admin_token_ttl: Duration::from_secs(3600),
        ..FakeOptions::for_tests()
    })
    .await;
    let admin = admin(&fake, "my-org").await;
    let response = admin
        .call(
            Method::GET,
            "_apis/runtime/runnergroups/?groupName=Default",
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("ActivityId"));
    let groups = body_json(response).await;
    assert_eq!(groups["count"], 1);
    assert_eq!(groups["value"][0]["id"], 1);
    assert_eq!(groups["value"][0]["isDefaultGroup"], true);

    let missing = admin
        .http
        .get(format!("{}_apis/runtime/runnergroups/", admin.url))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        missing.status(),
        StatusCode::BAD_REQUEST,
        "missing api-version is a client bug"
    );

    let other = Admin {
        token: "x.y.z".into(),
        ..admin.clone()
    };
    assert_eq!(
        other
            .call(Method::GET, "_apis/runtime/runnergroups/", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(fake.expire_admin_tokens(), 1);
    let response = admin
        .call(Method::GET, "_apis/runtime/runnergroups/", None)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn registration_tokens_expire() {
    let fake = start(FakeOptions {
        registration_token_ttl: Duration::from_millis(50),
        ..FakeOptions::for_tests()
    })
    .await;
    let reg = body_json(registration_token(&fake, "orgs/o", ghaec2_fake::DEFAULT_PAT).await).await
        ["token"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(
        runner_registration(&fake, &reg, &fake.config_url("o"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    fake.shutdown().await;
}
