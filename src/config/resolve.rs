//! Turns a configured [`GitHubCredential`] into a usable [`Credential`], reading SSM
//! parameters (SecureString, decrypted) only for secrets given by parameter name.

use aws_sdk_ssm::error::DisplayErrorContext;
use secrecy::{ExposeSecret, SecretString};

use super::credential::{GitHubCredential, Secret, TOKEN_EXPECTED, is_plausible_token};
use super::pem::{PEM_EXPECTED, normalize_private_key};
use super::vars::{GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER, GITHUB_TOKEN_SSM_PARAMETER};

/// A credential with every secret in hand, ready for the GitHub client.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A personal access token.
    Token(SecretString),
    /// A GitHub App installation.
    App {
        /// App id or client id (the JWT `iss`).
        app_id: String,
        /// The installation whose access token is minted.
        installation_id: u64,
        /// The private key as canonical PEM (PKCS#1 or PKCS#8).
        private_key_pem: SecretString,
    },
}

/// Reading a secret from SSM failed. Messages name the parameter and the variable that named
/// it, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The parameter (or the requested version) does not exist.
    #[error("SSM parameter {name:?} (from {variable}) was not found")]
    NotFound {
        /// The variable that named the parameter.
        variable: &'static str,
        /// The parameter name.
        name: String,
    },
    /// SSM refused or failed the request (permissions, KMS, throttling, network).
    #[error("SSM parameter {name:?} (from {variable}) could not be read: {message}")]
    Ssm {
        /// The variable that named the parameter.
        variable: &'static str,
        /// The parameter name.
        name: String,
        /// The SDK's error chain (it never contains parameter values).
        message: String,
    },
    /// The parameter holds something that is not the expected secret.
    #[error("SSM parameter {name:?} (from {variable}) holds (secret): expected {expected}")]
    Invalid {
        /// The variable that named the parameter.
        variable: &'static str,
        /// The parameter name.
        name: String,
        /// What the parameter should hold.
        expected: &'static str,
    },
}

impl GitHubCredential {
    /// Resolves SSM-held secrets (`GetParameter` with decryption) and checks their shape; an
    /// inline credential is returned without calling SSM.
    pub async fn resolve(&self, ssm: &aws_sdk_ssm::Client) -> Result<Credential, SecretError> {
        match self {
            Self::Token(secret) => {
                let token = reveal(secret, ssm, GITHUB_TOKEN_SSM_PARAMETER).await?;
                // A parameter edited in the console often ends with a newline.
                let token = SecretString::from(token.expose_secret().trim());
                if let Secret::SsmParameter(name) = secret {
                    check(
                        is_plausible_token(token.expose_secret()),
                        name,
                        GITHUB_TOKEN_SSM_PARAMETER,
                        TOKEN_EXPECTED,
                    )?;
                }
                Ok(Credential::Token(token))
            }
            Self::App {
                app_id,
                installation_id,
                private_key,
            } => {
                let variable = GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER;
                let key = reveal(private_key, ssm, variable).await?;
                let private_key_pem = match private_key {
                    // Inline keys were normalised when the configuration was read.
                    Secret::Value(_) => key,
                    Secret::SsmParameter(name) => {
                        normalize_private_key(&key).ok_or_else(|| SecretError::Invalid {
                            variable,
                            name: name.clone(),
                            expected: PEM_EXPECTED,
                        })?
                    }
                };
                Ok(Credential::App {
                    app_id: app_id.clone(),
                    installation_id: *installation_id,
                    private_key_pem,
                })
            }
        }
    }
}

fn check(
    ok: bool,
    name: &str,
    variable: &'static str,
    expected: &'static str,
) -> Result<(), SecretError> {
    if ok {
        Ok(())
    } else {
        Err(SecretError::Invalid {
            variable,
            name: name.to_owned(),
            expected,
        })
    }
}

/// The secret's value: inline, or fetched from the parameter `variable` named.
async fn reveal(
    secret: &Secret,
    ssm: &aws_sdk_ssm::Client,
    variable: &'static str,
) -> Result<SecretString, SecretError> {
    match secret {
        Secret::Value(value) => Ok(value.clone()),
        Secret::SsmParameter(name) => fetch(ssm, name, variable).await,
    }
}

/// The value of the parameter `variable` named, decrypted (a String parameter reads as is).
pub(crate) async fn fetch(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    variable: &'static str,
) -> Result<SecretString, SecretError> {
    let output = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|err| {
            let not_found = err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found() || e.is_parameter_version_not_found());
            if not_found {
                SecretError::NotFound {
                    variable,
                    name: name.to_owned(),
                }
            } else {
                SecretError::Ssm {
                    variable,
                    name: name.to_owned(),
                    message: DisplayErrorContext(&err).to_string(),
                }
            }
        })?;
    // Moved out of the output, not copied, so the only long-lived copy is the SecretString.
    output
        .parameter
        .and_then(|p| p.value)
        .map(SecretString::from)
        .filter(|v| !v.expose_secret().trim().is_empty())
        .ok_or_else(|| SecretError::Invalid {
            variable,
            name: name.to_owned(),
            expected: "a non-empty value",
        })
}

#[cfg(test)]
mod tests {
    use aws_sdk_ssm::config::retry::RetryConfig;
    use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};

    use super::*;

    /// A client whose every call fails at once: nothing listens on port 1, retries are off.
    fn unreachable_ssm() -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:1")
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    #[tokio::test]
    async fn inline_secrets_resolve_without_calling_ssm() {
        let ssm = unreachable_ssm();
        let token = GitHubCredential::Token(Secret::Value(SecretString::from("ghp_inline")));
        match token.resolve(&ssm).await {
            Ok(Credential::Token(t)) => assert_eq!(t.expose_secret(), "ghp_inline"),
            other => panic!("{other:?}"),
        }
        let app = GitHubCredential::App {
            app_id: "1".to_owned(),
            installation_id: 2,
            private_key: Secret::Value(SecretString::from("PEM")),
        };
        match app.resolve(&ssm).await {
            Ok(Credential::App {
                private_key_pem, ..
            }) => {
                assert_eq!(private_key_pem.expose_secret(), "PEM");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn ssm_failures_name_the_parameter_and_the_variable() {
        let ssm = unreachable_ssm();
        let token = GitHubCredential::Token(Secret::SsmParameter("/ghaec2/token".to_owned()));
        let err = token.resolve(&ssm).await.err();
        assert!(
            matches!(&err, Some(SecretError::Ssm { variable: GITHUB_TOKEN_SSM_PARAMETER, name, .. }) if name == "/ghaec2/token"),
            "{err:?}"
        );
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.starts_with(
                "SSM parameter \"/ghaec2/token\" (from GITHUB_TOKEN_SSM_PARAMETER) could not be read: "
            ),
            "{text}"
        );
    }

    #[test]
    fn credential_debug_redacts_secrets() {
        let credential = Credential::App {
            app_id: "1".to_owned(),
            installation_id: 2,
            private_key_pem: SecretString::from("-----BEGIN PRIVATE KEY-----SECRETBODY"),
        };
        let debug = format!(
            "{credential:?} {:?}",
            Credential::Token(SecretString::from("ghp_x1"))
        );
        assert!(
            !debug.contains("SECRETBODY") && !debug.contains("ghp_x1"),
            "{debug}"
        );
    }
}
