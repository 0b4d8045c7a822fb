//! The validated configuration, parsed once at start from the environment (or any injected
//! lookup) so no business logic reads environment variables.
//!
//! Invalid configuration fails with every problem at once, one per line, each naming the
//! variable, the value (`(secret)` for secrets) and what was expected (`docs/design.md` §2).
//! A variable set to an empty or blank value counts as unset.
//!
//! | variable | default |
//! |---|---|
//! | `GITHUB_CONFIG_URL` | — (or `GITHUB_ENTERPRISE_URL` + `ORGANIZATION_NAME`) |
//! | `GITHUB_ENTERPRISE_URL` | `https://github.com` |
//! | `ORGANIZATION_NAME` | — |
//! | `GITHUB_ACTIONS_FORCE_GHES` | unset (present = GHES API routing) |
//! | `GITHUB_TOKEN` / `GITHUB_TOKEN_SSM_PARAMETER` | — (one credential required) |
//! | `GITHUB_APP_ID`, `GITHUB_APP_INSTALLATION_ID`, `GITHUB_APP_PRIVATE_KEY` / `GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER` | — |
//! | `GITHUB_CA_BUNDLE` / `GITHUB_CA_BUNDLE_SSM_PARAMETER` | none (platform roots only) |
//! | `RUNNER_GROUP` | `Default` |
//! | `RUNNER_SCALE_SET_NAME` | required |
//! | `RUNNER_SCALE_SET_ID` | none (found by name) |
//! | `RUNNER_LABELS` | none (the scale set name is always a label) |
//! | `MIN_RUNNERS` / `MAX_RUNNERS` | `0` / `10` |
//! | `AWS_REGION` (else `AWS_DEFAULT_REGION`) | none (SDK chain) |
//! | `EC2_SUBNET_ID`, `EC2_SECURITY_GROUP_ID` | required |
//! | `EC2_AMI_ID` | none: the current Amazon Linux 2023 of the instance types' architecture |
//! | `EC2_KEY_PAIR_NAME`, `EC2_SPOT_PRICE`, `EC2_INSTANCE_PROFILE`, `EC2_EBS_KMS_KEY_ID` | none |
//! | `EC2_EBS_KMS_KEY_ARNS_ALLOWED` | unset: any key (set, even blank: `EC2_EBS_KMS_KEY_ID` must be listed) |
//! | `EC2_INSTANCE_TYPE` | `m7i.large,m6i.large,m5.large` |
//! | `EC2_ASSOCIATE_PUBLIC_IP` / `EC2_ON_DEMAND_FAILOVER` | `false` / `true` |
//! | `EC2_ROOT_VOLUME_SIZE_GIB` | `30` |
//! | `STATE_TABLE_NAME` | `ghaec2-state` |
//! | `DRAIN_WINDOW_SECONDS` / `RUNNER_BOOT_TIMEOUT_SECONDS` | `60` / `300` |
//! | `RUNNER_WORK_FOLDER` | `_work` |
//! | `RUNNER_MIN_VERSION` | `2.329.0` |
//! | `SCALE_SETS` / `SCALE_SETS_SSM_PARAMETER` | none (the variables above are one scale set) |
//!
//! One deployment can serve several scale sets ([`Deployment`]): `SCALE_SETS` (or the SSM
//! parameter, String or SecureString, that `SCALE_SETS_SSM_PARAMETER` names) is a JSON array of
//! objects whose keys are per-scale-set variables ([`vars::SCALE_SET_VARIABLES`]); each element
//! overrides the variables above for its scale set, and a blank value unsets one. Values are
//! JSON strings, numbers or booleans. The rest ([`vars::DEPLOYMENT_VARIABLES`]) is the
//! deployment's, shared by every scale set. Problems of an element are named by its index:
//! `SCALE_SETS[1] MAX_RUNNERS="x": expected …`. Two shapes:
//!
//! ```text
//! SCALE_SETS=[{"RUNNER_SCALE_SET_NAME":"linux-x64","RUNNER_LABELS":"linux-x64,x64"},
//!   {"RUNNER_SCALE_SET_NAME":"linux-arm64","RUNNER_LABELS":"linux-arm64,arm64",
//!    "EC2_INSTANCE_TYPE":"m7g.large,m6g.large","MAX_RUNNERS":"20"}]
//! ```
//!
//! Layout: [`github_url`] (config URL → scope and API URLs, `docs/protocol.md` §2), `github`,
//! `scaling`, `ec2`, `runtime` (one settings group each), `credential` (token or App, inline
//! or SSM), `ca_bundle` (extra CA certificates, file or SSM), `allowed` (the KMS keys the
//! deployment's IAM covers, checked at start-up), `resolve` (SSM secrets → [`Credential`]),
//! `pem` (private key normalisation), `scale_sets` ([`Deployment`]: the list of scale sets),
//! `env` (typed lookups that collect problems), `error` ([`ConfigError`]), [`vars`] (names).

mod allowed;
mod ca_bundle;
mod credential;
mod ec2;
mod env;
mod error;
mod github;
pub mod github_url;
mod pem;
mod resolve;
mod runtime;
mod scale_sets;
mod scaling;
pub mod vars;

pub use ca_bundle::{CA_BUNDLE_EXPECTED, CaBundle, CaBundleError};
pub use credential::{GitHubCredential, Secret};
pub use ec2::{Ec2Settings, InstanceProfile};
pub use error::{ConfigError, Problem};
pub use github::GitHubSettings;
pub use github_url::{GitHubConfigUrl, GitHubUrlError, Scope};
pub use resolve::{Credential, SecretError};
pub use runtime::{DEFAULT_RUNNER_MIN_VERSION, RuntimeSettings};
pub use scale_sets::{Deployment, ScaleSetsSource};
pub use scaling::ScalingSettings;

use env::Env;

/// Everything ghaec2 is configured with, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// GitHub location, credential and scale set.
    pub github: GitHubSettings,
    /// Fleet size bounds.
    pub scaling: ScalingSettings,
    /// Runner instances.
    pub ec2: Ec2Settings,
    /// Invocation timing, state table and runner work folder.
    pub runtime: RuntimeSettings,
}

impl Config {
    /// Reads the process environment ([`process_env`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    /// Reads the configuration through `lookup` (`name -> value`), collecting every problem.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Env::new(&lookup);
        let github = GitHubSettings::from_env(&mut env);
        let scaling = ScalingSettings::from_env(&mut env);
        let ec2 = Ec2Settings::from_env(&mut env);
        let runtime = RuntimeSettings::from_env(&mut env);
        let problems = env.into_problems();
        match (github, scaling, ec2, runtime) {
            (Some(github), Some(scaling), Some(ec2), Some(runtime)) if problems.is_empty() => {
                Ok(Self {
                    github,
                    scaling,
                    ec2,
                    runtime,
                })
            }
            // Every group records a problem before it returns `None`, so the list is not empty.
            _ => Err(ConfigError::new(problems)),
        }
    }
}

/// The process environment as a lookup. A value that is not valid UTF-8 is read lossily, so it
/// is reported as invalid rather than as missing.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests;
