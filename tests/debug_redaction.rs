//! `Debug` of every type that holds a secret redacts it (issue 6, item 6): each type is built
//! with a known secret and its `{:?}` (and `{:#?}`) must not contain it. The secrets: the PAT,
//! the GitHub App private key, the registration and installation tokens, the admin token, the
//! message queue token, the JIT config, and a password in a config URL.
//!
//! Types that hold no secret (settings, ids, errors naming variables) are not listed. A type
//! added later that holds a secret belongs here too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;

use base64::Engine as _;
use chrono::Utc;
use ghaec2::actions::auth::AdminConnection;
use ghaec2::actions::http::{Auth, Call, Response};
use ghaec2::actions::session::Session;
use ghaec2::actions::wire::{
    self, JitConfigResponse, RunnerRegistrationResponse, SessionResponse, TokenResponse,
};
use ghaec2::actions::{ActionsClient, ActionsError, ClientOptions};
use ghaec2::app::StartError;
use ghaec2::config::{Config, ConfigError, Credential, GitHubConfigUrl, GitHubCredential, Secret};
use ghaec2::cycle::{CycleError, Listener, Ports, Reconciler};
use ghaec2::ports::{Lease, LeaseOutcome, ScaleSetState, StoredAdmin, StoredSession};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use secrecy::SecretString;

const PAT: &str = "ghp_PatSecretValue0123456789";
const QUEUE_TOKEN: &str = "queue-SecretValue-0123456789";
const JIT_CONFIG: &str = "eyJJitSecretValue0123456789";
const REGISTRATION_TOKEN: &str = "AABBRegistrationSecret0123";
const PASSWORD: &str = "UrlPasswordSecret0123";
/// A real RSA key (the fake's test App key), so an App credential builds a client.
const APP_KEY: &str = include_str!("../fake/tests/fixtures/test_app_private_key.pem");

/// A line of the key body: what a leak of the key would show.
fn key_fragment() -> &'static str {
    APP_KEY.lines().nth(2).expect("a PEM body line")
}

/// An admin token: a JWT whose signature part is the secret marker.
fn admin_token() -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let exp = Utc::now().timestamp() + 3600;
    format!(
        "{}.{}.AdminSignatureSecret0123",
        engine.encode(r#"{"alg":"RS256"}"#),
        engine.encode(format!(r#"{{"exp":{exp}}}"#))
    )
}

/// Every secret these tests use.
fn secrets() -> Vec<String> {
    vec![
        PAT.to_owned(),
        QUEUE_TOKEN.to_owned(),
        JIT_CONFIG.to_owned(),
        REGISTRATION_TOKEN.to_owned(),
        PASSWORD.to_owned(),
        key_fragment().to_owned(),
        admin_token(),
        "AdminSignatureSecret0123".to_owned(),
    ]
}

/// `{:?}` and `{:#?}` of `value` contain no secret, as text or as the bytes' `Debug`.
#[track_caller]
fn assert_redacted(what: &str, value: &impl Debug) {
    for debug in [format!("{value:?}"), format!("{value:#?}")] {
        for secret in secrets() {
            let bytes = format!("{:?}", secret.as_bytes());
            let bytes = bytes.trim_matches(|c| c == '[' || c == ']');
            assert!(
                !debug.contains(&secret) && !debug.contains(bytes),
                "{what}: Debug shows {secret:?}:\n{debug}"
            );
        }
    }
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

const REQUIRED: [(&str, &str); 5] = [
    ("GITHUB_CONFIG_URL", "https://github.com/my-org"),
    ("RUNNER_SCALE_SET_NAME", "linux-x64"),
    ("EC2_SUBNET_ID", "subnet-0123abcd"),
    ("EC2_SECURITY_GROUP_ID", "sg-0123abcd"),
    ("EC2_AMI_ID", "ami-0123456789abcdef0"),
];

fn config_with(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut pairs = REQUIRED.to_vec();
    pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    pairs.extend_from_slice(extra);
    Config::from_lookup(env(&pairs))
}

fn pat_config() -> Config {
    config_with(&[("GITHUB_TOKEN", PAT)]).unwrap()
}

fn app_config() -> Config {
    config_with(&[
        ("GITHUB_APP_ID", "123"),
        ("GITHUB_APP_INSTALLATION_ID", "456"),
        ("GITHUB_APP_PRIVATE_KEY", APP_KEY),
    ])
    .unwrap()
}

fn pat() -> Credential {
    Credential::Token(SecretString::from(PAT))
}

fn app() -> Credential {
    Credential::App {
        app_id: "123".to_owned(),
        installation_id: 456,
        private_key_pem: SecretString::from(APP_KEY),
    }
}

fn config_url() -> GitHubConfigUrl {
    GitHubConfigUrl::parse_with("https://github.com/my-org", false).unwrap()
}

fn session() -> Session {
    Session::new(
        uuid::Uuid::new_v4(),
        1,
        Url::parse("https://broker.actions.example/queue/1").unwrap(),
        SecretString::from(QUEUE_TOKEN),
    )
}

fn state() -> ScaleSetState {
    ScaleSetState {
        scale_set_id: Some(1),
        session: Some(StoredSession {
            id: uuid::Uuid::new_v4(),
            queue_url: "https://broker.actions.example/queue/1".to_owned(),
            created_at: None,
            refreshed_at: None,
        }),
        last_message_id: 3,
        admin: Some(StoredAdmin {
            service_url: "https://broker.actions.example/".to_owned(),
            token: SecretString::from(admin_token()),
        }),
        statistics: None,
        ..ScaleSetState::default()
    }
}

#[test]
fn the_check_itself_catches_a_leak() {
    // A derived Debug over a plain string shows it, and assert_redacted says so.
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Leaky(String);
    let result = std::panic::catch_unwind(|| assert_redacted("Leaky", &Leaky(PAT.to_owned())));
    assert!(result.is_err());
    let bytes = std::panic::catch_unwind(|| assert_redacted("bytes", &PAT.as_bytes().to_vec()));
    assert!(bytes.is_err());
}

#[test]
fn configuration_types() {
    let pat_config = pat_config();
    let app_config = app_config();
    // The secrets are there, so their absence from Debug means something.
    assert!(matches!(
        &pat_config.github.credential,
        GitHubCredential::Token(Secret::Value(_))
    ));
    assert!(matches!(
        &app_config.github.credential,
        GitHubCredential::App {
            private_key: Secret::Value(_),
            ..
        }
    ));
    assert_redacted("Config (PAT)", &pat_config);
    assert_redacted("Config (App)", &app_config);
    assert_redacted("GitHubSettings", &app_config.github);
    assert_redacted("GitHubCredential", &pat_config.github.credential);
    assert_redacted("GitHubCredential::App", &app_config.github.credential);
    assert_redacted("Secret", &Secret::Value(SecretString::from(PAT)));
    assert_redacted("Credential::Token", &pat());
    assert_redacted("Credential::App", &app());
}

#[test]
fn configuration_errors() {
    let bad_token = format!("{PAT} with spaces");
    let bad_key = APP_KEY.replace("RSA PRIVATE KEY", "EC PRIVATE KEY");
    let password_url = format!("https://user:{PASSWORD}@github.com/my-org");
    let cases = [
        vec![("GITHUB_TOKEN", bad_token.as_str())],
        vec![
            ("GITHUB_APP_ID", "123"),
            ("GITHUB_APP_INSTALLATION_ID", "456"),
            ("GITHUB_APP_PRIVATE_KEY", bad_key.as_str()),
        ],
        vec![
            ("GITHUB_TOKEN", PAT),
            ("GITHUB_CONFIG_URL", password_url.as_str()),
        ],
        vec![
            ("GITHUB_TOKEN", PAT),
            ("GITHUB_CONFIG_URL", ""),
            (
                "GITHUB_ENTERPRISE_URL",
                &password_url[..password_url.len() - 7],
            ),
            ("ORGANIZATION_NAME", "my-org"),
        ],
        // Both kinds at once: a conflict, with both secrets set.
        vec![
            ("GITHUB_TOKEN", PAT),
            ("GITHUB_APP_ID", "123"),
            ("GITHUB_APP_INSTALLATION_ID", "456"),
            ("GITHUB_APP_PRIVATE_KEY", APP_KEY),
        ],
    ];
    for case in cases {
        let error = config_with(&case).expect_err("an invalid configuration");
        assert_redacted("ConfigError", &error);
        assert_redacted("StartError::Config", &StartError::Config(error.clone()));
        let text = error.to_string();
        assert!(secrets().iter().all(|s| !text.contains(s)), "{text}");
    }
}

#[test]
fn wire_types() {
    let token: TokenResponse =
        wire::decode(format!(r#"{{"token": "{REGISTRATION_TOKEN}"}}"#).as_bytes()).unwrap();
    assert_eq!(token.token, REGISTRATION_TOKEN);
    assert_redacted("TokenResponse", &token);
    let admin = admin_token();
    let registration: RunnerRegistrationResponse = wire::decode(
        format!(r#"{{"url": "https://broker.actions.example/", "token": "{admin}"}}"#).as_bytes(),
    )
    .unwrap();
    assert_eq!(registration.token, admin);
    assert_redacted("RunnerRegistrationResponse", &registration);
    let jit: JitConfigResponse = wire::decode(
        format!(r#"{{"runner": {{"id": 7, "name": "r"}}, "encodedJITConfig": "{JIT_CONFIG}"}}"#)
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(jit.encoded_jit_config, JIT_CONFIG);
    assert_redacted("JitConfigResponse", &jit);
    let session: SessionResponse = wire::decode(
        format!(
            r#"{{"sessionId": "{}", "messageQueueUrl": "https://broker.actions.example/q",
                "messageQueueAccessToken": "{QUEUE_TOKEN}", "statistics": {{}}}}"#,
            uuid::Uuid::new_v4()
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(session.message_queue_access_token, QUEUE_TOKEN);
    assert_redacted("SessionResponse", &session);
    let session = Session::from_response(1, session).unwrap();
    assert_redacted("Session (from a response)", &session);
}

#[test]
fn http_types() {
    let token = SecretString::from(PAT);
    let registration = SecretString::from(REGISTRATION_TOKEN);
    let url = Url::parse("https://api.github.com/orgs/my-org/actions/runners").unwrap();
    for auth in [Auth::Bearer(&token), Auth::RemoteAuth(&registration)] {
        assert_redacted("Auth", &auth);
        let call = Call::new(Method::POST, url.clone(), auth);
        assert_redacted("Call", &call);
    }
    // A token call's response holds the token in its body until it is decoded.
    let response = Response {
        status: StatusCode::CREATED,
        headers: HeaderMap::new(),
        body: format!(r#"{{"token": "{REGISTRATION_TOKEN}"}}"#).into_bytes(),
    };
    assert_redacted("Response", &response);
}

#[tokio::test]
async fn client_and_session_types() {
    let admin = AdminConnection::new(
        "https://broker.actions.example/",
        SecretString::from(admin_token()),
    )
    .unwrap();
    assert_redacted("AdminConnection", &admin);
    assert_redacted("Session", &session());
    for credential in [pat(), app()] {
        let client = ActionsClient::new(config_url(), &credential, ClientOptions::default())
            .expect("a client for a PAT and for the test App key");
        client.set_admin_connection(admin.clone()).await;
        assert!(client.cached_admin_connection().await.is_some());
        assert_redacted("ActionsClient", &client);
        assert_redacted("Authenticator", client.authenticator());
        let config = pat_config();
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .load()
            .await;
        let adapters = ghaec2::app::adapters(
            &config,
            &aws,
            ghaec2::aws::InstanceArns::new("us-east-1", "123456789012"),
        );
        let settings = ghaec2::app::cycle_settings(&config, "test".to_owned(), false);
        let ports = Ports {
            store: &adapters.store,
            fleet: &adapters.fleet,
            jit: &adapters.jit,
        };
        assert_redacted("Listener", &Listener::new(&client, ports, &settings));
        assert_redacted("Reconciler", &Reconciler::new(&client, ports, &settings));
    }
}

#[test]
fn client_errors() {
    // A key that does not parse: the error names the problem, not the key.
    let broken = Credential::App {
        app_id: "123".to_owned(),
        installation_id: 456,
        private_key_pem: SecretString::from(APP_KEY.replace('M', "*")),
    };
    let error = ActionsClient::new(config_url(), &broken, ClientOptions::default())
        .expect_err("a key that does not parse");
    assert!(matches!(error, ActionsError::AppJwt(_)), "{error:?}");
    assert_redacted("ActionsError::AppJwt", &error);
    assert!(!error.to_string().contains(key_fragment()));
    assert_redacted("CycleError", &CycleError::Actions(error));
    // A token response that does not decode.
    let response = Response {
        status: StatusCode::CREATED,
        headers: HeaderMap::new(),
        body: format!(r#"{{"token": ["{REGISTRATION_TOKEN}"]}}"#).into_bytes(),
    };
    let error = response
        .json::<TokenResponse>("registration token")
        .expect_err("a list is not a token");
    assert_redacted("ActionsError::Decode", &error);
}

#[test]
fn port_types() {
    let state = state();
    assert_redacted("StoredSession", state.session.as_ref().unwrap());
    assert_redacted("StoredAdmin", state.admin.as_ref().unwrap());
    assert_redacted("ScaleSetState", &state);
    let lease = Lease {
        owner: "test".to_owned(),
        fence: 1,
        expires_at: Utc::now(),
    };
    assert_redacted("LeaseOutcome", &LeaseOutcome::Acquired(lease, state));
}
