//! The token chain (docs/protocol.md §1, §3, §4): a PAT or a GitHub App installation token buys a
//! registration token, which buys the admin connection (Actions Service URL + admin token).

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::error::{ActionsError, ApiError};
use super::http::{Auth, Call, Http, Response};
use super::wire::{RunnerRegistrationResponse, TokenResponse};
use crate::config::{Credential, GitHubConfigUrl};

/// The admin token is renewed this long before its `exp` (docs/protocol.md §4.3).
pub const ADMIN_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Content type the reference clients send to the GitHub API (sic, docs/protocol.md §3.1).
const GITHUB_CONTENT_TYPE: &str = "application/vnd.github.v3+json";
/// Media type and API version of the REST calls ghaec2 makes on its own (docs/protocol.md §19).
const REST_MEDIA_TYPE: &str = "application/vnd.github+json";
const REST_API_VERSION: &str = "2022-11-28";

/// The admin connection: where the Actions Service is and the token to call it with.
#[derive(Clone)]
pub struct AdminConnection {
    /// Actions Service base URL; it may change on a refresh.
    pub service_url: Url,
    token: SecretString,
    /// The token's `exp`.
    pub expires_at: DateTime<Utc>,
}

impl AdminConnection {
    /// Builds a connection from a service URL and an admin JWT, reading `exp` without
    /// verifying the signature, as the reference clients do.
    pub fn new(service_url: &str, token: SecretString) -> Result<Self, ActionsError> {
        let service_url = Url::parse(service_url).map_err(|e| ActionsError::Protocol {
            what: "runner-registration",
            problem: format!("service url {service_url:?} is not a URL: {e}"),
        })?;
        let expires_at = jwt_expiry(token.expose_secret())?;
        Ok(AdminConnection {
            service_url,
            token,
            expires_at,
        })
    }

    /// The admin token.
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// True when the token expires within the refresh margin.
    pub fn needs_refresh(&self, now: DateTime<Utc>) -> bool {
        now + ADMIN_REFRESH_MARGIN >= self.expires_at
    }
}

impl fmt::Debug for AdminConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConnection")
            .field("service_url", &self.service_url.as_str())
            .field("token", &super::wire::REDACTED)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Reads `exp` from a JWT's payload without verifying it.
pub fn jwt_expiry(token: &str) -> Result<DateTime<Utc>, ActionsError> {
    #[derive(Deserialize)]
    struct Claims {
        exp: i64,
    }
    let invalid = |why: &str| ActionsError::AdminToken(why.to_owned());
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| invalid("not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| invalid("payload is not base64url"))?;
    let claims: Claims =
        serde_json::from_slice(&bytes).map_err(|_| invalid("payload has no numeric exp"))?;
    DateTime::from_timestamp(claims.exp, 0).ok_or_else(|| invalid("exp out of range"))
}

/// The configured credential, ready to use: a PAT, or an App with its key parsed once.
enum Signer {
    Token(SecretString),
    App {
        app_id: String,
        installation_id: u64,
        key: EncodingKey,
    },
}

/// Claims of the GitHub App JWT (docs/protocol.md §3.3).
#[derive(Serialize)]
struct AppClaims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a str,
}

/// Walks the token chain for one config URL and credential.
pub struct Authenticator {
    config_url: GitHubConfigUrl,
    signer: Signer,
    http: Http,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.signer {
            Signer::Token(_) => "token",
            Signer::App { .. } => "github-app",
        };
        f.debug_struct("Authenticator")
            .field("config_url", &self.config_url.as_str())
            .field("credential", &kind)
            .finish()
    }
}

impl Authenticator {
    /// Prepares the chain; an App key that does not parse fails here, not on first use.
    pub fn new(
        config_url: GitHubConfigUrl,
        credential: &Credential,
        http: Http,
    ) -> Result<Self, ActionsError> {
        let signer = match credential {
            Credential::Token(token) => Signer::Token(token.clone()),
            Credential::App {
                app_id,
                installation_id,
                private_key_pem,
            } => Signer::App {
                app_id: app_id.clone(),
                installation_id: *installation_id,
                key: EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes())
                    .map_err(|e| ActionsError::AppJwt(format!("private key: {e}")))?,
            },
        };
        Ok(Authenticator {
            config_url,
            signer,
            http,
        })
    }

    /// The config URL this chain registers against.
    pub fn config_url(&self) -> &GitHubConfigUrl {
        &self.config_url
    }

    /// The bearer for the GitHub API: the PAT, or a fresh installation token.
    async fn github_token(&self) -> Result<SecretString, ActionsError> {
        let (app_id, installation_id, key) = match &self.signer {
            Signer::Token(token) => return Ok(token.clone()),
            Signer::App {
                app_id,
                installation_id,
                key,
            } => (app_id, *installation_id, key),
        };
        let now = Utc::now().timestamp();
        let iat = now - 60;
        let claims = AppClaims {
            iat,
            exp: iat + 9 * 60,
            iss: app_id,
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, key)
            .map_err(|e| ActionsError::AppJwt(e.to_string()))?;
        let url = self.config_url.installation_token_url(installation_id);
        let response = self
            .post_github(
                &url,
                &SecretString::from(jwt),
                "application/vnd.github+json",
            )
            .await?;
        if response.status != StatusCode::CREATED {
            let error = response.error(&Method::POST, &url);
            return Err(ActionsError::InstallationToken(Box::new(error)));
        }
        token_from(&response, "installation token")
    }

    /// A new registration token for the configured scope (docs/protocol.md §3); never cached.
    pub async fn registration_token(&self) -> Result<SecretString, ActionsError> {
        let bearer = self.github_token().await?;
        let url = self.config_url.registration_token_url();
        let response = self.post_github(&url, &bearer, GITHUB_CONTENT_TYPE).await?;
        if response.status != StatusCode::CREATED {
            let error = response.error(&Method::POST, &url);
            return Err(ActionsError::RegistrationToken(Box::new(error)));
        }
        token_from(&response, "registration token")
    }

    /// Registration token, then runner-registration with `RemoteAuth` (docs/protocol.md §4).
    /// 401/403 are retried: a fresh registration token can take a moment to become valid.
    pub async fn admin_connection(&self) -> Result<AdminConnection, ActionsError> {
        let registration = self.registration_token().await?;
        tracing::info!("Successfully obtained registration token");
        let url = self.config_url.runner_registration_url();
        tracing::info!(
            baseURL = self.config_url.api_url("").as_str().trim_end_matches('/'),
            "Getting Actions Service admin connection"
        );
        let body = serde_json::json!({"url": self.config_url.as_str(), "runner_event": "register"});
        let mut call = Call::new(Method::POST, url.clone(), Auth::RemoteAuth(&registration));
        call.body = Some(&body);
        let response = self
            .http
            .send(&call, |status| {
                status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
            })
            .await?;
        admin_from(&response, &url)
    }

    /// A GitHub REST call with the credential's bearer (the PAT, or a fresh installation token)
    /// and the headers GitHub's REST docs ask for; the response whatever its status.
    pub(super) async fn github_rest(
        &self,
        method: Method,
        url: &Url,
    ) -> Result<Response, ActionsError> {
        let bearer = self.github_token().await?;
        let mut call = Call::new(method, url.clone(), Auth::Bearer(&bearer));
        call.content_type = REST_MEDIA_TYPE;
        call.headers = vec![
            ("Accept", REST_MEDIA_TYPE.to_owned()),
            ("X-GitHub-Api-Version", REST_API_VERSION.to_owned()),
        ];
        self.http.send(&call, |_| false).await
    }

    async fn post_github(
        &self,
        url: &Url,
        bearer: &SecretString,
        content_type: &'static str,
    ) -> Result<Response, ActionsError> {
        let mut call = Call::new(Method::POST, url.clone(), Auth::Bearer(bearer));
        call.content_type = content_type;
        self.http.send(&call, |_| false).await
    }
}

fn token_from(response: &Response, what: &'static str) -> Result<SecretString, ActionsError> {
    let body: TokenResponse = response.json(what)?;
    if body.token.is_empty() {
        return Err(ActionsError::Protocol {
            what,
            problem: "response has no token".to_owned(),
        });
    }
    Ok(SecretString::from(body.token))
}

/// Maps the runner-registration answer to the messages users know (docs/design.md §5).
fn admin_from(response: &Response, url: &Url) -> Result<AdminConnection, ActionsError> {
    if response.status == StatusCode::NOT_FOUND {
        return Err(ActionsError::ActionsServiceNotAvailable);
    }
    if !response.status.is_success() {
        let error: ApiError = response.error(&Method::POST, url);
        return Err(ActionsError::Api(Box::new(error)));
    }
    if response.is_html() {
        return Err(ActionsError::InvalidRegistrationResponse);
    }
    let body: RunnerRegistrationResponse = response
        .json("runner-registration")
        .map_err(|_| ActionsError::InvalidRegistrationResponse)?;
    if body.url.is_empty() || body.token.is_empty() {
        return Err(ActionsError::InvalidRegistrationResponse);
    }
    AdminConnection::new(&body.url, SecretString::from(body.token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            engine.encode(r#"{"alg":"HS256"}"#),
            engine.encode(payload)
        )
    }

    #[test]
    fn reads_exp_without_verifying() {
        let at = jwt_expiry(&jwt(r#"{"exp": 1700000000, "iss": "x"}"#)).unwrap();
        assert_eq!(at.timestamp(), 1_700_000_000);
    }

    #[test]
    fn rejects_tokens_that_are_not_jwts() {
        for token in ["opaque", &jwt(r#"{"iss": "x"}"#), "a.!!!.c"] {
            let error = jwt_expiry(token).unwrap_err().to_string();
            assert!(error.starts_with("failed to parse jwt token"), "{error}");
        }
    }

    #[test]
    fn refreshes_a_minute_before_exp() {
        let exp = Utc::now() + chrono::Duration::seconds(90);
        let connection = AdminConnection::new(
            "http://127.0.0.1/tenant/1/",
            SecretString::from(jwt(&format!(r#"{{"exp": {}}}"#, exp.timestamp()))),
        )
        .unwrap();
        assert!(!connection.needs_refresh(Utc::now()));
        assert!(connection.needs_refresh(Utc::now() + chrono::Duration::seconds(31)));
        assert!(!format!("{connection:?}").contains(connection.token().expose_secret()));
    }
}
