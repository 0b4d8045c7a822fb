//! The upstream client's own test shapes, fed to our client (tests/conformance/README.md).
//!
//! Each fixture in tests/conformance/*.json is one call of [`ActionsClient`] and the answers an
//! HTTP server gives it. The driver serves those answers on loopback, makes the call, sums the
//! outcome up as JSON (`{"ok": …}` or `{"err": …}`, plus `attempts`) and checks that the
//! fixture's `expect` is contained in it. One loop runs them all; a failure names the fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "conformance/server.rs"]
mod server;
#[path = "conformance/summary.rs"]
mod summary;

use std::path::Path;
use std::time::Duration;

use ghaec2::actions::http::RetryPolicy;
use ghaec2::actions::{ActionsClient, ActionsError, ClientOptions, Session};
use ghaec2::backoff::Backoff;
use ghaec2::config::{Credential, GitHubConfigUrl};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use server::{Answer, Route, SERVER};
use summary::{error_summary, message, mismatches, runner, scale_set, session_summary};

/// Retries as in production, with millisecond waits: a 5xx fixture costs 5 attempts.
const RETRY: RetryPolicy = RetryPolicy {
    max_retries: 4,
    backoff: Backoff::new(Duration::from_millis(2), Duration::from_millis(50)),
};
const SCALE_SET_ID: i64 = 1;
const SCALE_SET_NAME: &str = "linux-x64";
const RUNNER_GROUP: &str = "build-pool";
const RUNNER_NAME: &str = "linux-x64-runner-1";
const SESSION_ID: &str = "5f0c1a7e-0000-4000-8000-00000000c0de";
/// An admin token whose `exp` is 2100-01-01; only its payload is read, so the signature can
/// carry the secret mark.
const ADMIN_JWT: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6ImNvbmZvcm1hbmNlIn0.secret-signature";

/// The client calls a fixture can make, each with fixed arguments (see [`run`]). All but
/// `installation_token` (a GitHub App) use a PAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Call {
    InstallationToken,
    RegistrationToken,
    AdminConnection,
    RunnerGroup,
    ScaleSetByName,
    ScaleSet,
    CreateScaleSet,
    UpdateScaleSet,
    DeleteScaleSet,
    CreateSession,
    RefreshSession,
    DeleteSession,
    GetMessage,
    DeleteMessage,
    AcquireJobs,
    GenerateJitConfig,
    Runner,
    RunnerByName,
    ScaleSetRunners,
    RemoveRunner,
}

/// Every call, so that the set is checked to cover each endpoint.
const ALL_CALLS: [Call; 20] = [
    Call::InstallationToken,
    Call::RegistrationToken,
    Call::AdminConnection,
    Call::RunnerGroup,
    Call::ScaleSetByName,
    Call::ScaleSet,
    Call::CreateScaleSet,
    Call::UpdateScaleSet,
    Call::DeleteScaleSet,
    Call::CreateSession,
    Call::RefreshSession,
    Call::DeleteSession,
    Call::GetMessage,
    Call::DeleteMessage,
    Call::AcquireJobs,
    Call::GenerateJitConfig,
    Call::Runner,
    Call::RunnerByName,
    Call::ScaleSetRunners,
    Call::RemoveRunner,
];

/// One file of fixtures, mirroring one upstream test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    upstream: String,
    fixtures: Vec<Fixture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    name: String,
    /// The upstream test function (and sub-test) whose shape this is.
    mirrors: String,
    call: Call,
    /// Answers to the call under test, in turn; the last one repeats.
    answers: Vec<Answer>,
    /// Answers to other requests the call makes on the way (e.g. a session refresh).
    #[serde(default)]
    also: Vec<Route>,
    /// What the outcome must contain.
    expect: Value,
    /// Why ghaec2 differs from upstream here, when it does (shown when the fixture fails).
    #[serde(default)]
    divergence: Option<String>,
}

/// The token chain as the service answers it, unless the fixture tests that very call.
fn token_chain(call: Call) -> Vec<Route> {
    let registration_token = Route {
        method: Some("POST".into()),
        path: "/actions/runners/registration-token".into(),
        answer: Answer::json(201, json!({"token": "secret-registration-token"})),
    };
    let admin_connection = Route {
        method: Some("POST".into()),
        path: "/actions/runner-registration".into(),
        answer: Answer::json(
            200,
            json!({"url": format!("{SERVER}/tenant/1/"), "token": ADMIN_JWT}),
        ),
    };
    match call {
        Call::RegistrationToken => vec![],
        Call::InstallationToken | Call::AdminConnection => vec![registration_token],
        _ => vec![registration_token, admin_connection],
    }
}

/// Makes the fixture's call and sums its outcome up.
async fn outcome(fixture: &Fixture) -> Value {
    let mut routes = fixture.also.clone();
    routes.extend(token_chain(fixture.call));
    let script = server::start(routes, fixture.answers.clone()).await;
    let config = GitHubConfigUrl::parse_with(&format!("{}/my-org", script.base), false).unwrap();
    let credential = match fixture.call {
        Call::InstallationToken => app_credential(),
        _ => Credential::Token(SecretString::from("secret-pat")),
    };
    let options = ClientOptions {
        retry: RETRY,
        timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    };
    let client = ActionsClient::new(config, &credential, options).unwrap();
    let mut session = Session::new(
        SESSION_ID.parse().unwrap(),
        SCALE_SET_ID,
        format!("{}/queue/{SCALE_SET_ID}", script.base)
            .parse()
            .unwrap(),
        SecretString::from("secret-queue-token"),
    );
    let result = run(fixture.call, &client, &mut session).await;
    let mut summary = match &result {
        Ok(value) => json!({"ok": value}),
        Err(error) => json!({"err": error_summary(error)}),
    };
    summary["attempts"] = json!(script.attempts());
    let text = summary.to_string().replace(&script.base, SERVER);
    serde_json::from_str(&text).unwrap()
}

/// A GitHub App, with the fake's throwaway key (fake/tests/fixtures/README.md).
fn app_credential() -> Credential {
    let key =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fake/tests/fixtures/test_app_private_key.pem");
    Credential::App {
        app_id: "12345".to_owned(),
        installation_id: 777,
        private_key_pem: SecretString::from(std::fs::read_to_string(key).unwrap()),
    }
}

async fn run(
    call: Call,
    client: &ActionsClient,
    session: &mut Session,
) -> Result<Value, ActionsError> {
    let labels = [SCALE_SET_NAME.to_owned(), "gpu".to_owned()];
    Ok(match call {
        // The App's installation token is the first link; the registration token the result.
        Call::InstallationToken | Call::RegistrationToken => {
            let token = client.authenticator().registration_token().await?;
            json!({"token": token.expose_secret()})
        }
        Call::AdminConnection => {
            let admin = client.admin_connection().await?;
            json!({"serviceUrl": admin.service_url.as_str(), "expiresAt": admin.expires_at.timestamp()})
        }
        Call::RunnerGroup => json!({"id": client.runner_group_id(RUNNER_GROUP).await?}),
        Call::ScaleSetByName => {
            let set = client.scale_set_by_name(1, SCALE_SET_NAME).await?;
            set.as_ref().map_or(Value::Null, scale_set)
        }
        Call::ScaleSet => scale_set(&client.scale_set(SCALE_SET_ID).await?),
        Call::CreateScaleSet => {
            scale_set(&client.create_scale_set(1, SCALE_SET_NAME, &labels).await?)
        }
        Call::UpdateScaleSet => scale_set(
            &client
                .update_scale_set(SCALE_SET_ID, 1, SCALE_SET_NAME, &labels)
                .await?,
        ),
        Call::DeleteScaleSet => json!(client.delete_scale_set(SCALE_SET_ID).await?),
        Call::CreateSession => session_summary(
            &client
                .create_session(SCALE_SET_ID, "ghaec2-conformance")
                .await?,
        ),
        Call::RefreshSession => {
            client.refresh_session(session).await?;
            session_summary(session)
        }
        Call::DeleteSession => json!(client.delete_session(session).await?),
        Call::GetMessage => {
            let envelope = client
                .get_message(session, 0, 10, Duration::from_secs(10))
                .await?;
            envelope.as_ref().map_or(Value::Null, message)
        }
        Call::DeleteMessage => json!(client.delete_message(session, 7).await?),
        Call::AcquireJobs => json!(client.acquire_jobs(session, &[101, 102]).await?),
        Call::GenerateJitConfig => {
            let jit = client
                .generate_jit_config(SCALE_SET_ID, RUNNER_NAME, "_work")
                .await?;
            json!({"runner": runner(&jit.runner), "encodedJitConfig": jit.encoded_jit_config})
        }
        Call::Runner => client.runner(5).await?.as_ref().map_or(Value::Null, runner),
        Call::RunnerByName => {
            let found = client.runner_by_name(RUNNER_NAME).await?;
            found.as_ref().map_or(Value::Null, runner)
        }
        Call::ScaleSetRunners => {
            let runners = client.scale_set_runners(SCALE_SET_ID).await?;
            Value::Array(runners.iter().map(runner).collect())
        }
        Call::RemoveRunner => json!(format!("{:?}", client.remove_runner(5).await?)),
    })
}

fn load() -> Vec<(String, FixtureFile)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let file = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, file)
        })
        .collect()
}

#[tokio::test]
async fn upstream_shapes_are_accepted_or_refused_as_upstream_does() {
    let mut failures = Vec::new();
    let mut covered = std::collections::BTreeSet::new();
    let mut count = 0;
    for (file, set) in load() {
        assert!(!set.upstream.is_empty(), "{file}: names no upstream file");
        for fixture in &set.fixtures {
            count += 1;
            covered.insert(fixture.call);
            let label = format!("{file} {} (mirrors {})", fixture.name, fixture.mirrors);
            let actual = outcome(fixture).await;
            let mut found = Vec::new();
            mismatches(&fixture.expect, &actual, "", &mut found);
            if actual["err"]["carriesToken"] == json!(true) {
                found.push("the error carries a token".to_owned());
            }
            if let (false, Some(why)) = (found.is_empty(), &fixture.divergence) {
                found.push(format!("(differs from upstream on purpose: {why})"));
            }
            if !found.is_empty() {
                failures.push(format!(
                    "{label}:\n    {}\n    outcome: {actual}",
                    found.join("\n    ")
                ));
            }
        }
    }
    let missing: Vec<_> = ALL_CALLS.iter().filter(|c| !covered.contains(c)).collect();
    assert!(missing.is_empty(), "no fixture for {missing:?}");
    assert!(
        failures.is_empty(),
        "{} of {count} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
