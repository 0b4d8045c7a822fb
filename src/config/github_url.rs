//! The GitHub config URL (`https://github.com/my-org`, `…/org/repo`, `…/enterprises/x`) and the
//! GitHub REST API URLs derived from it, exactly as `docs/protocol.md` §2 describes (ARC and
//! `actions/scaleset` `config.go`).

use std::net::IpAddr;

use url::Url;

/// The text ARC and `actions/scaleset` use for a URL that names no scope (`docs/protocol.md` §2).
const INVALID_SCOPE: &str = "invalid config URL, should point to an enterprise, org, or repository";

/// The scope a config URL points at; it decides the registration-token path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `https://HOST/{org}`.
    Organization {
        /// The organization's login.
        org: String,
    },
    /// `https://HOST/{owner}/{repo}`.
    Repository {
        /// The repository owner (organization or user).
        owner: String,
        /// The repository name.
        repo: String,
    },
    /// `https://HOST/enterprises/{enterprise}` (`enterprises` matched case-insensitively).
    Enterprise {
        /// The enterprise slug.
        enterprise: String,
    },
}

impl Scope {
    /// Who the runners serve: the organization, the repository's owner or the enterprise.
    pub fn owner(&self) -> &str {
        match self {
            Scope::Organization { org } => org,
            Scope::Repository { owner, .. } => owner,
            Scope::Enterprise { enterprise } => enterprise,
        }
    }
}

/// Why a config URL was refused. `Display` names the value; config URLs hold no secrets, except
/// user info, which is refused without echoing the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubUrlError {
    /// Not an absolute `http(s)://host/...` URL.
    #[error("{value:?}: not a valid URL ({reason}); expected e.g. https://github.com/my-org")]
    NotAUrl {
        /// The input, trimmed.
        value: String,
        /// What the URL parser or the scheme check said.
        reason: String,
    },
    /// `http://` (or another scheme) for a host that is not loopback.
    #[error(
        "{value:?}: https is required (http:// is accepted only for loopback hosts: localhost, 127.0.0.0/8, ::1)"
    )]
    HttpsRequired {
        /// The input, trimmed.
        value: String,
    },
    /// The URL carries a user name or password; refused so credentials never sit in config.
    #[error("the GitHub URL must not contain a user name or password")]
    UserInfo,
    /// The path names no organization, repository or enterprise (the protocol's own wording).
    #[error("{url:?}: {INVALID_SCOPE}")]
    InvalidScope {
        /// The input, trimmed.
        url: String,
    },
}

impl GitHubUrlError {
    /// What a valid value looks like, for `ConfigError`'s `expected …` wording.
    pub fn expected(&self) -> String {
        match self {
            Self::NotAUrl { reason, .. } => {
                format!("an absolute https:// URL such as https://github.com/my-org ({reason})")
            }
            Self::HttpsRequired { .. } => "an https:// URL (http:// is accepted only for loopback \
                 hosts: localhost, 127.0.0.0/8, ::1)"
                .to_owned(),
            Self::UserInfo => "a URL without a user name or password".to_owned(),
            Self::InvalidScope { .. } => format!(
                "a URL of an enterprise, org, or repository such as https://github.com/my-org, \
                 https://github.com/my-org/my-repo or https://github.com/enterprises/my-enterprise \
                 ({INVALID_SCOPE})"
            ),
        }
    }
}

/// A validated config URL: its scope and the REST API base, which differs between hosted GitHub
/// (github.com, `*.ghe.com`) and GitHub Enterprise Server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubConfigUrl {
    /// The input with whitespace and leading/trailing `/` removed, sent verbatim as `url` in the
    /// runner-registration body (`docs/protocol.md` §2 step 5).
    raw: String,
    scope: Scope,
    /// `https://api.github.com`, `https://api.x.ghe.com` or `https://HOST/api/v3`.
    api_base: Url,
}

impl GitHubConfigUrl {
    /// Parses a config URL; `force_ghes` (from `GITHUB_ACTIONS_FORCE_GHES`) treats every host as
    /// GitHub Enterprise Server.
    pub fn parse_with(s: &str, force_ghes: bool) -> Result<Self, GitHubUrlError> {
        // Whitespace is trimmed too: env files and SSM values often carry a trailing newline.
        let raw = s.trim().trim_matches('/').to_owned();
        let url = Url::parse(&raw).map_err(|e| GitHubUrlError::NotAUrl {
            value: raw.clone(),
            reason: e.to_string(),
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(GitHubUrlError::UserInfo);
        }
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(GitHubUrlError::NotAUrl {
                value: raw,
                reason: "no host".to_owned(),
            });
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(host) => {}
            _ => return Err(GitHubUrlError::HttpsRequired { value: raw }),
        }
        let scope = parse_scope(url.path())
            .ok_or_else(|| GitHubUrlError::InvalidScope { url: raw.clone() })?;
        // The Go code compares `u.Host`, which includes a port, so `github.com:443` is GHES. The
        // url crate drops a default port, so the raw authority is checked for one.
        let hosted = !force_ghes && !has_explicit_port(&raw) && is_hosted_host(host);
        let api_base = api_base(&url, host, hosted).map_err(|e| GitHubUrlError::NotAUrl {
            value: raw.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            raw,
            scope,
            api_base,
        })
    }

    /// The trimmed config URL, sent verbatim as `url` in the runner-registration body.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The organization, repository or enterprise the URL points at.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The GitHub REST API URL of `path` (with or without a leading `/`): `api.<host>` for
    /// hosted GitHub, `<host>/api/v3` for GitHub Enterprise Server.
    pub fn api_url(&self, path: &str) -> Url {
        let mut url = self.api_base.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/{}", path.trim_start_matches('/')));
        url
    }

    /// `POST` here for a runner registration token (`docs/protocol.md` §2 table, §3).
    pub fn registration_token_url(&self) -> Url {
        let path = match &self.scope {
            Scope::Organization { org } => format!("orgs/{org}"),
            Scope::Enterprise { enterprise } => format!("enterprises/{enterprise}"),
            Scope::Repository { owner, repo } => format!("repos/{owner}/{repo}"),
        };
        self.api_url(&format!("{path}/actions/runners/registration-token"))
    }

    /// `POST` here with `RemoteAuth <registration token>` for the admin connection (§4).
    pub fn runner_registration_url(&self) -> Url {
        self.api_url("actions/runner-registration")
    }

    /// `POST` here with an App JWT for an installation access token (§3.3).
    pub fn installation_token_url(&self, installation_id: u64) -> Url {
        self.api_url(&format!(
            "app/installations/{installation_id}/access_tokens"
        ))
    }
}

impl std::fmt::Display for GitHubConfigUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

/// 1 segment ⇒ org; 2 ⇒ enterprise (`enterprises/x`) or repo; anything else ⇒ none (§2 step 2).
fn parse_scope(path: &str) -> Option<Scope> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [org] if !org.is_empty() => Some(Scope::Organization {
            org: (*org).to_owned(),
        }),
        [first, enterprise] if first.eq_ignore_ascii_case("enterprises") => {
            Some(Scope::Enterprise {
                enterprise: (*enterprise).to_owned(),
            })
        }
        [owner, repo] => Some(Scope::Repository {
            owner: (*owner).to_owned(),
            repo: (*repo).to_owned(),
        }),
        _ => None,
    }
}

/// Hosted iff the host is github.com, www.github.com, github.localhost or ends with `.ghe.com`.
/// The url crate lowercases hosts, so these checks are case-insensitive, like the ARC client and
/// `actions/scaleset` (DNS names are case-insensitive anyway).
fn is_hosted_host(host: &str) -> bool {
    matches!(host, "github.com" | "www.github.com" | "github.localhost")
        || host.ends_with(".ghe.com")
}

/// Loopback hosts, the only ones allowed over plain http (local stand-ins). `*.localhost` names
/// resolve to loopback by RFC 6761, so `http://github.localhost` counts too.
fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    // The url crate keeps brackets around IPv6 literals in `host_str`.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether the authority of `raw` (an absolute URL) names a port, even the scheme's default.
fn has_explicit_port(raw: &str) -> bool {
    let after_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    // For `[::1]:8080` the port follows the closing bracket; a bare IPv6 literal has none.
    let after_host = host_port
        .rsplit_once(']')
        .map_or(host_port, |(_, rest)| rest);
    after_host.contains(':')
}

/// The REST API base: `api.<host>` with no prefix when hosted (`www.github.com` ⇒
/// `api.github.com`), else the same host under `/api/v3`.
fn api_base(config: &Url, host: &str, hosted: bool) -> Result<Url, url::ParseError> {
    let authority = match config.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let base = match (hosted, host) {
        (true, "www.github.com") => "api.github.com".to_owned(),
        (true, _) => format!("api.{authority}"),
        (false, _) => format!("{authority}/api/v3"),
    };
    Url::parse(&format!("{}://{base}", config.scheme()))
}

#[cfg(test)]
#[path = "github_url_tests.rs"]
mod tests;
