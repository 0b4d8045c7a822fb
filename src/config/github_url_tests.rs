//! Table-driven tests of config URL parsing: every example and invalid case of `docs/protocol.md` §2
//! and ARC's `config_test.go`.

use super::*;

fn org(o: &str) -> Scope {
    Scope::Organization { org: o.to_owned() }
}

fn repo(o: &str, r: &str) -> Scope {
    Scope::Repository {
        owner: o.to_owned(),
        repo: r.to_owned(),
    }
}

fn ent(e: &str) -> Scope {
    Scope::Enterprise {
        enterprise: e.to_owned(),
    }
}

#[test]
fn valid_urls_parse_to_scope_and_api_base() {
    // (input, verbatim string, scope, api_url("/some/path")): the API base tells hosted from GHES
    #[rustfmt::skip]
    let cases = [
        ("https://github.com/org/repo", "https://github.com/org/repo", repo("org", "repo"), "https://api.github.com/some/path"),
        ("https://github.com/org/repo/", "https://github.com/org/repo", repo("org", "repo"), "https://api.github.com/some/path"),
        ("https://github.com/org", "https://github.com/org", org("org"), "https://api.github.com/some/path"),
        ("https://github.com/enterprises/my-enterprise", "https://github.com/enterprises/my-enterprise", ent("my-enterprise"), "https://api.github.com/some/path"),
        ("https://github.com/enterprises/my-enterprise/", "https://github.com/enterprises/my-enterprise", ent("my-enterprise"), "https://api.github.com/some/path"),
        ("https://github.com/Enterprises/e", "https://github.com/Enterprises/e", ent("e"), "https://api.github.com/some/path"),
        ("https://www.github.com/org", "https://www.github.com/org", org("org"), "https://api.github.com/some/path"),
        ("https://www.github.com/org/", "https://www.github.com/org", org("org"), "https://api.github.com/some/path"),
        ("https://github.localhost/org", "https://github.localhost/org", org("org"), "https://api.github.localhost/some/path"),
        ("https://my-ghes.com/org", "https://my-ghes.com/org", org("org"), "https://my-ghes.com/api/v3/some/path"),
        ("https://my-ghes.com/org/", "https://my-ghes.com/org", org("org"), "https://my-ghes.com/api/v3/some/path"),
        ("https://my-ghes.ghe.com/org/", "https://my-ghes.ghe.com/org", org("org"), "https://api.my-ghes.ghe.com/some/path"),
        ("https://github.ghe.com/org/repo", "https://github.ghe.com/org/repo", repo("org", "repo"), "https://api.github.ghe.com/some/path"),
        ("https://octocorp.ghe.com/org", "https://octocorp.ghe.com/org", org("org"), "https://api.octocorp.ghe.com/some/path"),
        ("https://ghes.com/org/repo", "https://ghes.com/org/repo", repo("org", "repo"), "https://ghes.com/api/v3/some/path"),
        ("https://my-instance.com/org/repo", "https://my-instance.com/org/repo", repo("org", "repo"), "https://my-instance.com/api/v3/some/path"),
        ("http://localhost/org/repo", "http://localhost/org/repo", repo("org", "repo"), "http://localhost/api/v3/some/path"),
        ("http://127.0.0.1:8080/my-org", "http://127.0.0.1:8080/my-org", org("my-org"), "http://127.0.0.1:8080/api/v3/some/path"),
        ("http://127.1.2.3/o", "http://127.1.2.3/o", org("o"), "http://127.1.2.3/api/v3/some/path"),
        ("http://[::1]:9000/o/r", "http://[::1]:9000/o/r", repo("o", "r"), "http://[::1]:9000/api/v3/some/path"),
        ("http://github.localhost/o", "http://github.localhost/o", org("o"), "http://api.github.localhost/some/path"),
        // The host includes the port in Go's check, so an explicit port means GHES.
        ("https://github.com:443/org", "https://github.com:443/org", org("org"), "https://github.com/api/v3/some/path"),
        ("https://ghes.example.com:8443/org", "https://ghes.example.com:8443/org", org("org"), "https://ghes.example.com:8443/api/v3/some/path"),
        // Whitespace from env files is trimmed along with the slashes.
        ("  https://github.com/org/\n", "https://github.com/org", org("org"), "https://api.github.com/some/path"),
        ("/https://github.com/org/", "https://github.com/org", org("org"), "https://api.github.com/some/path"),
        // Hosts are case-insensitive (url crate lowercases them); the verbatim string is kept.
        ("https://GitHub.com/Org", "https://GitHub.com/Org", org("Org"), "https://api.github.com/some/path"),
    ];
    for (input, verbatim, scope, api) in cases {
        let parsed =
            GitHubConfigUrl::parse_with(input, false).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(parsed.as_str(), verbatim, "{input:?}");
        assert_eq!(parsed.scope(), &scope, "{input:?}");
        assert_eq!(parsed.api_url("/some/path").as_str(), api, "{input:?}");
        assert_eq!(parsed.api_url("some/path").as_str(), api, "{input:?}");
    }
}

#[test]
fn force_ghes_uses_the_api_v3_prefix_on_hosted_hosts() {
    let cases = [
        (
            "https://test.ghe.com/org/repo",
            "https://test.ghe.com/api/v3/some/path",
        ),
        (
            "https://github.com/org",
            "https://github.com/api/v3/some/path",
        ),
        (
            "https://www.github.com/org",
            "https://www.github.com/api/v3/some/path",
        ),
    ];
    for (input, api) in cases {
        let parsed = GitHubConfigUrl::parse_with(input, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.api_url("/some/path").as_str(), api, "{input:?}");
    }
}

#[test]
fn endpoint_urls_follow_the_scope_table() {
    // (config URL, registration-token URL, runner-registration URL, installation-token URL)
    #[rustfmt::skip]
    let cases = [
        ("https://github.com/o", "https://api.github.com/orgs/o/actions/runners/registration-token", "https://api.github.com/actions/runner-registration", "https://api.github.com/app/installations/42/access_tokens"),
        ("https://github.com/o/r", "https://api.github.com/repos/o/r/actions/runners/registration-token", "https://api.github.com/actions/runner-registration", "https://api.github.com/app/installations/42/access_tokens"),
        ("https://github.com/enterprises/e", "https://api.github.com/enterprises/e/actions/runners/registration-token", "https://api.github.com/actions/runner-registration", "https://api.github.com/app/installations/42/access_tokens"),
        ("https://ghes.example.com/o", "https://ghes.example.com/api/v3/orgs/o/actions/runners/registration-token", "https://ghes.example.com/api/v3/actions/runner-registration", "https://ghes.example.com/api/v3/app/installations/42/access_tokens"),
        ("http://127.0.0.1:8080/o/r", "http://127.0.0.1:8080/api/v3/repos/o/r/actions/runners/registration-token", "http://127.0.0.1:8080/api/v3/actions/runner-registration", "http://127.0.0.1:8080/api/v3/app/installations/42/access_tokens"),
        ("https://x.ghe.com/enterprises/e", "https://api.x.ghe.com/enterprises/e/actions/runners/registration-token", "https://api.x.ghe.com/actions/runner-registration", "https://api.x.ghe.com/app/installations/42/access_tokens"),
    ];
    for (input, token, registration, installation) in cases {
        let parsed = GitHubConfigUrl::parse_with(input, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.registration_token_url().as_str(), token);
        assert_eq!(parsed.runner_registration_url().as_str(), registration);
        assert_eq!(parsed.installation_token_url(42).as_str(), installation);
    }
}

#[test]
fn urls_without_a_scope_get_the_protocol_error_text() {
    let cases = [
        ("https://github.com/", "https://github.com"),
        ("https://github.com", "https://github.com"),
        (
            "https://github.com/some/random/path",
            "https://github.com/some/random/path",
        ),
        ("https://github.com/a/b/c", "https://github.com/a/b/c"),
        (
            "https://github.com/org//repo",
            "https://github.com/org//repo",
        ),
        (
            "https://ghes.example.com/prefix/org/repo",
            "https://ghes.example.com/prefix/org/repo",
        ),
    ];
    for (input, shown) in cases {
        let err = GitHubConfigUrl::parse_with(input, false).err();
        assert_eq!(
            err,
            Some(GitHubUrlError::InvalidScope {
                url: shown.to_owned()
            }),
            "{input:?}"
        );
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            text,
            format!(
                "\"{shown}\": invalid config URL, should point to an enterprise, org, or repository"
            )
        );
    }
}

#[test]
fn plain_http_is_refused_for_non_loopback_hosts() {
    let cases = [
        "http://github.com/org",
        "http://ghes.example.com/org",
        "http://10.0.0.1/org",
        "http://128.0.0.1/org",
        "http://localhost.example.com/org",
        "ftp://github.com/org",
    ];
    for input in cases {
        let err = GitHubConfigUrl::parse_with(input, false).err();
        assert_eq!(
            err,
            Some(GitHubUrlError::HttpsRequired {
                value: input.to_owned()
            })
        );
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains(input) && text.contains("https is required"),
            "{text}"
        );
    }
}

#[test]
fn non_urls_and_user_info_are_refused() {
    for input in ["github.com/org", "", "   ", "not a url"] {
        let err = GitHubConfigUrl::parse_with(input, false).err();
        assert!(
            matches!(err, Some(GitHubUrlError::NotAUrl { .. })),
            "{input:?}: {err:?}"
        );
    }
    let err = GitHubConfigUrl::parse_with("https://user:hunter2@github.com/org", false).err();
    assert_eq!(err, Some(GitHubUrlError::UserInfo));
    let text = err
        .map(|e| format!("{e} {}", e.expected()))
        .unwrap_or_default();
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn explicit_port_detection_reads_the_authority_only() {
    let cases = [
        ("https://github.com/org", false),
        ("https://github.com:443/org", true),
        ("https://github.com/org:x", false),
        ("http://[::1]/o", false),
        ("http://[::1]:80/o", true),
        ("https://github.com?x=1:2", false),
    ];
    for (input, expected) in cases {
        assert_eq!(has_explicit_port(input), expected, "{input:?}");
    }
}
