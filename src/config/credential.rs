//! The GitHub credential as configured: a personal access token or a GitHub App, each secret
//! given inline or as the name of an SSM parameter. Resolving SSM parameters happens later,
//! once, in [`resolve`](super::resolve).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::env::Env;
use super::pem::{PEM_EXPECTED, normalize_private_key};
use super::vars::*;

/// A secret given inline or as the name of an SSM parameter (SecureString) that holds it.
/// `Debug` never shows an inline value.
#[derive(Clone)]
pub enum Secret {
    /// The secret itself (a private key is already normalised to canonical PEM).
    Value(SecretString),
    /// The name or ARN of the SSM parameter that holds the secret.
    SsmParameter(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value(\"(secret)\")"),
            Self::SsmParameter(name) => f.debug_tuple("SsmParameter").field(name).finish(),
        }
    }
}

/// How ghaec2 authenticates to GitHub. Exactly one kind is configured.
#[derive(Debug, Clone)]
pub enum GitHubCredential {
    /// A personal access token: `GITHUB_TOKEN` or `GITHUB_TOKEN_SSM_PARAMETER`.
    Token(Secret),
    /// A GitHub App installation.
    App {
        /// `GITHUB_APP_ID`: the numeric App id or its client id (`Iv1.…`), the JWT `iss`.
        app_id: String,
        /// `GITHUB_APP_INSTALLATION_ID`: the installation whose access token is minted.
        installation_id: u64,
        /// `GITHUB_APP_PRIVATE_KEY` (PEM) or `GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER`.
        private_key: Secret,
    },
}

/// What a token looks like: printable ASCII without spaces, since it goes into a header.
pub(crate) const TOKEN_EXPECTED: &str = "a GitHub token (printable characters, no spaces)";

pub(crate) const SSM_NAME_EXPECTED: &str = "an SSM parameter name or ARN such as /ghaec2/github-token \
     (letters, digits and _ . - / :)";

const ONE_CREDENTIAL: &str = "exactly one GitHub credential: a token (GITHUB_TOKEN or \
     GITHUB_TOKEN_SSM_PARAMETER) or a GitHub App (GITHUB_APP_ID, GITHUB_APP_INSTALLATION_ID and \
     GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER)";

/// Whether `token` can be a GitHub token.
pub(crate) fn is_plausible_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

/// SSM accepts names of letters, digits and `_.-/`, ARNs (with `:`), and `name:version`.
pub(crate) fn is_ssm_parameter_name(name: &str) -> bool {
    (1..=2048).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/:".contains(&b))
}

/// A numeric App id, or a client id (`Iv1.0123abcd…`, `Iv23li…`).
fn is_app_id(id: &str) -> bool {
    let numeric = id.parse::<u64>().is_ok_and(|n| n > 0);
    let client_id = id.len() <= 64
        && id.starts_with("Iv")
        && id.len() > 2
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
    numeric || client_id
}

/// Reads the credential settings; records a problem for a missing, conflicting, partial or
/// invalid credential.
pub(crate) fn from_env(env: &mut Env<'_>) -> Option<GitHubCredential> {
    let token_set = set_among(env, &[GITHUB_TOKEN, GITHUB_TOKEN_SSM_PARAMETER]);
    let app_set = set_among(
        env,
        &[
            GITHUB_APP_ID,
            GITHUB_APP_INSTALLATION_ID,
            GITHUB_APP_PRIVATE_KEY,
            GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER,
        ],
    );
    match (token_set.is_empty(), app_set.is_empty()) {
        (true, true) => {
            env.missing(
                GITHUB_TOKEN,
                format!("a GitHub credential: {ONE_CREDENTIAL}"),
            );
            None
        }
        (false, false) => {
            env.conflict([token_set, app_set].concat(), ONE_CREDENTIAL);
            None
        }
        (false, true) => {
            let token = secret(
                env,
                GITHUB_TOKEN,
                GITHUB_TOKEN_SSM_PARAMETER,
                |env, value| {
                    if is_plausible_token(value.expose_secret()) {
                        Some(value)
                    } else {
                        env.invalid_secret(GITHUB_TOKEN, TOKEN_EXPECTED);
                        None
                    }
                },
            );
            token.map(GitHubCredential::Token)
        }
        (true, false) => app_from_env(env),
    }
}

fn app_from_env(env: &mut Env<'_>) -> Option<GitHubCredential> {
    let app_id = match env.get(GITHUB_APP_ID) {
        None => {
            env.missing(
                GITHUB_APP_ID,
                "the GitHub App's id or client id, since other GITHUB_APP_* settings are set",
            );
            None
        }
        Some(id) if !is_app_id(&id) => {
            env.invalid(
                GITHUB_APP_ID,
                &id,
                "a GitHub App id (a number) or client id (like Iv1.0123456789abcdef)",
            );
            None
        }
        Some(id) => Some(id),
    };
    let installation_id = if env.get(GITHUB_APP_INSTALLATION_ID).is_none() {
        env.missing(
            GITHUB_APP_INSTALLATION_ID,
            "the GitHub App installation id (a number), since other GITHUB_APP_* settings are set",
        );
        None
    } else {
        env.parsed(
            GITHUB_APP_INSTALLATION_ID,
            "a GitHub App installation id (a positive whole number)",
            |v| v.parse::<u64>().ok().filter(|n| *n > 0),
        )
    };
    let private_key = if set_among(
        env,
        &[GITHUB_APP_PRIVATE_KEY, GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER],
    )
    .is_empty()
    {
        env.missing(
            GITHUB_APP_PRIVATE_KEY,
            "the GitHub App's private key (PEM), or GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER naming \
             the SSM parameter that holds it, since other GITHUB_APP_* settings are set",
        );
        None
    } else {
        secret(
            env,
            GITHUB_APP_PRIVATE_KEY,
            GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER,
            |env, value| {
                let key = normalize_private_key(&value);
                if key.is_none() {
                    env.invalid_secret(GITHUB_APP_PRIVATE_KEY, PEM_EXPECTED);
                }
                key
            },
        )
    };
    Some(GitHubCredential::App {
        app_id: app_id?,
        installation_id: installation_id?,
        private_key: private_key?,
    })
}

/// The variables among `variables` that are set.
fn set_among(env: &Env<'_>, variables: &[&'static str]) -> Vec<&'static str> {
    variables
        .iter()
        .copied()
        .filter(|v| env.get(v).is_some())
        .collect()
}

/// A secret from `value_var` (checked by `check`) or `parameter_var`; exactly one may be set.
fn secret(
    env: &mut Env<'_>,
    value_var: &'static str,
    parameter_var: &'static str,
    check: impl FnOnce(&mut Env<'_>, SecretString) -> Option<SecretString>,
) -> Option<Secret> {
    match (env.secret(value_var), env.get(parameter_var)) {
        (Some(_), Some(_)) => {
            env.conflict(
                vec![value_var, parameter_var],
                format!(
                    "only one of them: the secret itself in {value_var}, or in \
                     {parameter_var} the name of the SSM parameter that holds it"
                ),
            );
            None
        }
        (Some(value), None) => check(env, value).map(Secret::Value),
        (None, Some(name)) if is_ssm_parameter_name(&name) => Some(Secret::SsmParameter(name)),
        (None, Some(name)) => {
            env.invalid(parameter_var, &name, SSM_NAME_EXPECTED);
            None
        }
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids_are_numbers_or_client_ids() {
        let cases = [
            ("123456", true),
            ("Iv1.0123456789abcdef", true),
            ("Iv23liAbCdEf012345", true),
            ("0", false),
            ("-5", false),
            ("Iv", false),
            ("abc", false),
            ("Iv1.abc def", false),
        ];
        for (id, valid) in cases {
            assert_eq!(is_app_id(id), valid, "{id:?}");
        }
    }

    #[test]
    fn ssm_parameter_names_allow_paths_arns_and_versions() {
        let cases = [
            ("/ghaec2/github-token", true),
            ("github_token.v2", true),
            (
                "arn:aws:ssm:us-east-1:123456789012:parameter/ghaec2/key",
                true,
            ),
            ("/ghaec2/key:3", true),
            ("", false),
            ("/with space", false),
            ("/ünïcode", false),
        ];
        for (name, valid) in cases {
            assert_eq!(is_ssm_parameter_name(name), valid, "{name:?}");
        }
    }

    #[test]
    fn secret_debug_redacts_values_only() {
        let value = Secret::Value(SecretString::from("ghp_supersecret"));
        let parameter = Secret::SsmParameter("/ghaec2/token".to_owned());
        assert_eq!(format!("{value:?}"), "Value(\"(secret)\")");
        assert_eq!(format!("{parameter:?}"), "SsmParameter(\"/ghaec2/token\")");
        let credential = GitHubCredential::Token(value);
        assert!(!format!("{credential:?}").contains("supersecret"));
    }
}
