//! GitHub settings: where the runners register, how ghaec2 authenticates, and the scale set.

use url::Url;

use super::ca_bundle::{self, CaBundle};
use super::credential::{self, GitHubCredential};
use super::env::Env;
use super::github_url::{GitHubConfigUrl, GitHubUrlError};
use super::vars::*;

/// GitHub location, credential and scale set identity.
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    /// Where runners register. `GITHUB_CONFIG_URL` (e.g. `https://github.com/my-org`,
    /// `…/my-org/my-repo`, `…/enterprises/my-enterprise`, a GHES URL) wins; otherwise
    /// `GITHUB_ENTERPRISE_URL` (default `https://github.com`) + `/` + `ORGANIZATION_NAME`.
    /// `GITHUB_ACTIONS_FORCE_GHES` (set to anything) forces GHES API routing. Required.
    pub config_url: GitHubConfigUrl,
    /// `GITHUB_TOKEN` / `GITHUB_TOKEN_SSM_PARAMETER`, or `GITHUB_APP_ID` +
    /// `GITHUB_APP_INSTALLATION_ID` + `GITHUB_APP_PRIVATE_KEY` /
    /// `GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER`. Exactly one kind is required.
    pub credential: GitHubCredential,
    /// `GITHUB_CA_BUNDLE` (a PEM file) or `GITHUB_CA_BUNDLE_SSM_PARAMETER`: extra CA
    /// certificates trusted for GitHub and the Actions Service, beside the platform's roots.
    /// Default: none.
    pub ca_bundle: Option<CaBundle>,
    /// `RUNNER_GROUP`: the runner group the scale set lives in. Default `Default`.
    pub runner_group: String,
    /// `RUNNER_SCALE_SET_NAME`: 1 to 45 letters, digits, `-`, `_`, `.`. Required.
    pub scale_set_name: String,
    /// `RUNNER_SCALE_SET_ID`: id of an existing scale set, skipping the lookup by name.
    /// Default: none (found by name, created when missing).
    pub scale_set_id: Option<i64>,
    /// The scale set's labels: the scale set name first, then `RUNNER_LABELS` (comma-separated,
    /// trimmed, duplicates removed ignoring case). Default: just the name.
    pub labels: Vec<String>,
}

const DEFAULT_GITHUB_URL: &str = "https://github.com";
const DEFAULT_RUNNER_GROUP: &str = "Default";
const MAX_LABEL_LEN: usize = 256;

impl GitHubSettings {
    /// Reads the GitHub settings. `None` only after recording a problem; an invalid optional
    /// value falls back to its default, since the recorded problem fails the whole config.
    pub(crate) fn from_env(env: &mut Env<'_>) -> Option<Self> {
        let config_url = config_url(env);
        let credential = credential::from_env(env);
        let ca_bundle = ca_bundle::from_env(env);
        let runner_group = env
            .parsed(
                RUNNER_GROUP,
                "a runner group name (at most 100 characters, no control characters)",
                |v| {
                    let ok = v.chars().count() <= 100 && !v.chars().any(char::is_control);
                    ok.then(|| v.to_owned())
                },
            )
            .unwrap_or_else(|| DEFAULT_RUNNER_GROUP.to_owned());
        let scale_set_name = env.required(
            RUNNER_SCALE_SET_NAME,
            "the runner scale set's name, which workflows use in `runs-on`",
        );
        let scale_set_name = scale_set_name.and_then(|name| {
            if is_scale_set_name(&name) {
                return Some(name);
            }
            env.invalid(
                RUNNER_SCALE_SET_NAME,
                &name,
                "a scale set name of 1 to 45 letters, digits, '-', '_' or '.'",
            );
            None
        });
        let scale_set_id = env.parsed(
            RUNNER_SCALE_SET_ID,
            "a positive whole number (the id of an existing scale set)",
            |v| v.parse::<i64>().ok().filter(|id| *id > 0),
        );
        let extra_labels = env.list(
            RUNNER_LABELS,
            "labels (at most 256 characters each, no control characters)",
            |l| l.chars().count() <= MAX_LABEL_LEN && !l.chars().any(char::is_control),
        );
        let scale_set_name = scale_set_name?;
        Some(Self {
            config_url: config_url?,
            credential: credential?,
            ca_bundle,
            runner_group,
            labels: labels(&scale_set_name, extra_labels.unwrap_or_default()),
            scale_set_name,
            scale_set_id,
        })
    }
}

/// 1 to 45 ASCII letters, digits, `-`, `_`, `.`.
fn is_scale_set_name(name: &str) -> bool {
    (1..=45).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The name first, then the extra labels, skipping duplicates (labels match case-insensitively
/// on GitHub, so `Linux` and `linux` are one label).
fn labels(name: &str, extra: Vec<String>) -> Vec<String> {
    let mut labels = vec![name.to_owned()];
    for label in extra {
        if !labels.iter().any(|l| l.eq_ignore_ascii_case(&label)) {
            labels.push(label);
        }
    }
    labels
}

/// GitHub organization logins: letters, digits and single hyphens, at most 39 characters.
fn is_org_name(name: &str) -> bool {
    (1..=39).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
}

/// `GITHUB_CONFIG_URL`, or `GITHUB_ENTERPRISE_URL` + `ORGANIZATION_NAME`.
fn config_url(env: &mut Env<'_>) -> Option<GitHubConfigUrl> {
    let force_ghes = env.is_present(GITHUB_ACTIONS_FORCE_GHES);
    if let Some(value) = env.get(GITHUB_CONFIG_URL) {
        return GitHubConfigUrl::parse_with(&value, force_ghes)
            .map_err(|e| url_problem(env, GITHUB_CONFIG_URL, &value, &e))
            .ok();
    }
    let base = env.get(GITHUB_ENTERPRISE_URL);
    let Some(org) = env.get(ORGANIZATION_NAME) else {
        match base {
            Some(_) => env.missing(
                ORGANIZATION_NAME,
                "the organization served on GITHUB_ENTERPRISE_URL (or set GITHUB_CONFIG_URL \
                 instead)",
            ),
            None => env.missing(
                GITHUB_CONFIG_URL,
                "where the runners register: a config URL such as https://github.com/my-org, \
                 https://github.com/my-org/my-repo or https://github.com/enterprises/my-enterprise, \
                 or else ORGANIZATION_NAME (with GITHUB_ENTERPRISE_URL for GitHub Enterprise Server)",
            ),
        }
        return None;
    };
    let org_ok = is_org_name(&org);
    if !org_ok {
        env.invalid(
            ORGANIZATION_NAME,
            &org,
            "an organization name (letters, digits and hyphens, at most 39 characters)",
        );
    }
    let base_value = base.unwrap_or_else(|| DEFAULT_GITHUB_URL.to_owned());
    let base = base_value.trim_end_matches('/');
    // A path on the base would silently turn `ORGANIZATION_NAME` into a repository or an
    // invalid scope, so the base must be a bare host.
    let bare_host = Url::parse(base)
        .is_ok_and(|u| u.path() == "/" && u.query().is_none() && u.fragment().is_none());
    if !bare_host && !base.contains('@') {
        env.invalid(
            GITHUB_ENTERPRISE_URL,
            &base_value,
            "the base URL of GitHub Enterprise Server without a path, such as \
             https://ghes.example.com",
        );
        return None;
    }
    // An invalid organization is reported above; a stand-in keeps it from being blamed on
    // GITHUB_ENTERPRISE_URL (even when unset) while the base's own problems still show.
    let org = if org_ok { org.as_str() } else { "org" };
    let config_url = GitHubConfigUrl::parse_with(&format!("{base}/{org}"), force_ghes)
        .map_err(|e| url_problem(env, GITHUB_ENTERPRISE_URL, &base_value, &e))
        .ok()?;
    org_ok.then_some(config_url)
}

/// Records a URL problem; a URL with user info may hold a password, so it is not echoed.
fn url_problem(env: &mut Env<'_>, variable: &'static str, value: &str, err: &GitHubUrlError) {
    match err {
        GitHubUrlError::UserInfo => env.invalid_secret(variable, err.expected()),
        _ => env.invalid(variable, value, err.expected()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_set_names_follow_the_documented_rule() {
        let long = "a".repeat(45);
        let too_long = "a".repeat(46);
        let cases = [
            ("linux-x64", true),
            ("my_set.v2", true),
            (long.as_str(), true),
            (too_long.as_str(), false),
            ("has space", false),
            ("slash/name", false),
            ("ünï", false),
        ];
        for (name, valid) in cases {
            assert_eq!(is_scale_set_name(name), valid, "{name:?}");
        }
    }

    #[test]
    fn labels_start_with_the_name_and_ignore_case_duplicates() {
        let extra = ["linux", "Set", "x64", "LINUX"].map(str::to_owned).to_vec();
        assert_eq!(labels("set", extra), ["set", "linux", "x64"]);
        assert_eq!(labels("set", Vec::new()), ["set"]);
    }

    #[test]
    fn org_names_are_github_logins() {
        let cases = [
            ("my-org", true),
            ("Org1", true),
            ("-org", false),
            ("a/b", false),
            ("", false),
        ];
        for (name, valid) in cases {
            assert_eq!(is_org_name(name), valid, "{name:?}");
        }
    }
}
