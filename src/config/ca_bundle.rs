//! Extra CA certificates for a GitHub Enterprise Server behind a private CA: a PEM file
//! (`GITHUB_CA_BUNDLE`) or an SSM parameter holding the PEM (`GITHUB_CA_BUNDLE_SSM_PARAMETER`).
//! They are trusted beside the platform's roots for GitHub and Actions Service calls only.

use std::fmt;
use std::path::PathBuf;

use secrecy::ExposeSecret;

use super::credential::is_ssm_parameter_name;
use super::env::Env;
use super::resolve::{SecretError, fetch};
use super::vars::{GITHUB_CA_BUNDLE, GITHUB_CA_BUNDLE_SSM_PARAMETER};

/// What a CA bundle holds, for error messages.
pub const CA_BUNDLE_EXPECTED: &str =
    "PEM certificates (one or more -----BEGIN CERTIFICATE----- blocks)";

const SSM_NAME_EXPECTED: &str = "an SSM parameter name or ARN such as /ghaec2/github-ca \
     (letters, digits and _ . - / :)";

/// Where the extra CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaBundle {
    /// `GITHUB_CA_BUNDLE`: the path of a PEM file.
    File(PathBuf),
    /// `GITHUB_CA_BUNDLE_SSM_PARAMETER`: the name or ARN of an SSM parameter holding the PEM.
    SsmParameter(String),
}

impl fmt::Display for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "CA bundle file {path:?} (from {GITHUB_CA_BUNDLE})"),
            Self::SsmParameter(name) => write!(
                f,
                "SSM parameter {name:?} (from {GITHUB_CA_BUNDLE_SSM_PARAMETER})"
            ),
        }
    }
}

/// The bundle could not be used. Messages name the file or parameter, never its content.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    /// The file could not be read.
    #[error("{bundle} could not be read: {message}")]
    Unreadable {
        /// The bundle.
        bundle: CaBundle,
        /// The I/O error.
        message: String,
    },
    /// The content holds no certificate, or one that does not parse.
    #[error("{bundle} holds no usable certificates: expected {CA_BUNDLE_EXPECTED}")]
    Invalid {
        /// The bundle.
        bundle: CaBundle,
    },
    /// The SSM parameter could not be read.
    #[error(transparent)]
    Ssm(#[from] SecretError),
}

/// Reads the optional bundle setting; records a problem when both are set or the parameter
/// name is invalid.
pub(crate) fn from_env(env: &mut Env<'_>) -> Option<CaBundle> {
    match (
        env.get(GITHUB_CA_BUNDLE),
        env.get(GITHUB_CA_BUNDLE_SSM_PARAMETER),
    ) {
        (Some(_), Some(_)) => {
            env.conflict(
                vec![GITHUB_CA_BUNDLE, GITHUB_CA_BUNDLE_SSM_PARAMETER],
                format!(
                    "only one of them: the path of a PEM file in {GITHUB_CA_BUNDLE}, or in \
                     {GITHUB_CA_BUNDLE_SSM_PARAMETER} the name of the SSM parameter that holds \
                     the PEM"
                ),
            );
            None
        }
        (Some(path), None) => Some(CaBundle::File(path.into())),
        (None, Some(name)) if is_ssm_parameter_name(&name) => Some(CaBundle::SsmParameter(name)),
        (None, Some(name)) => {
            env.invalid(GITHUB_CA_BUNDLE_SSM_PARAMETER, &name, SSM_NAME_EXPECTED);
            None
        }
        (None, None) => None,
    }
}

impl CaBundle {
    /// The bundle's certificates, read from the file or from SSM (`GetParameter`, decrypted:
    /// a String or a SecureString parameter).
    pub async fn certificates(
        &self,
        ssm: &aws_sdk_ssm::Client,
    ) -> Result<Vec<reqwest::Certificate>, CaBundleError> {
        let pem = match self {
            Self::File(path) => std::fs::read(path).map_err(|e| CaBundleError::Unreadable {
                bundle: self.clone(),
                message: e.to_string(),
            })?,
            Self::SsmParameter(name) => fetch(ssm, name, GITHUB_CA_BUNDLE_SSM_PARAMETER)
                .await?
                .expose_secret()
                .as_bytes()
                .to_vec(),
        };
        parse(&pem).ok_or_else(|| CaBundleError::Invalid {
            bundle: self.clone(),
        })
    }
}

/// The certificates of a PEM bundle; `None` when it holds none, or one that is not a usable
/// certificate. Other PEM blocks (keys, CRLs) are skipped.
fn parse(pem: &[u8]) -> Option<Vec<reqwest::Certificate>> {
    let certificates = reqwest::Certificate::from_pem_bundle(pem)
        .ok()
        .filter(|c| !c.is_empty())?;
    // reqwest parses the certificates as trust anchors only when a client is built. Building one
    // with these roots alone (no I/O) blames a bad certificate on the bundle, not on the client.
    reqwest::Client::builder()
        .tls_certs_only(certificates.clone())
        .build()
        .ok()?;
    Some(certificates)
}

#[cfg(test)]
#[path = "ca_bundle_tests.rs"]
mod tests;
