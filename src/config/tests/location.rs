//! Where the runners register: `GITHUB_CONFIG_URL`, or `GITHUB_ENTERPRISE_URL` +
//! `ORGANIZATION_NAME`.

use super::*;

#[test]
fn the_github_location_comes_from_the_config_url_or_enterprise_url_and_organization() {
    let mut base = minimal();
    without(&mut base, &["GITHUB_CONFIG_URL"]);
    let location = |changes: &[(&'static str, &str)]| {
        let mut vars = base.clone();
        vars.extend(changes.iter().map(|(k, v)| (*k, (*v).to_owned())));
        load(&vars)
            .map(|c| c.github.config_url.api_url("x").to_string())
            .map_err(|e| e.to_string())
    };
    let ok_cases = [
        (
            vec![("ORGANIZATION_NAME", "my-org")],
            "https://api.github.com/x",
        ),
        (
            vec![
                ("ORGANIZATION_NAME", "o"),
                ("GITHUB_ENTERPRISE_URL", "https://ghes.example.com/"),
            ],
            "https://ghes.example.com/api/v3/x",
        ),
        (
            vec![
                ("ORGANIZATION_NAME", "o"),
                ("GITHUB_CONFIG_URL", "https://github.com/a/b"),
            ],
            "https://api.github.com/x",
        ),
        (
            vec![
                ("GITHUB_CONFIG_URL", "https://x.ghe.com/o"),
                ("GITHUB_ACTIONS_FORCE_GHES", ""),
            ],
            "https://x.ghe.com/api/v3/x",
        ),
        (
            vec![("GITHUB_CONFIG_URL", "https://x.ghe.com/o")],
            "https://api.x.ghe.com/x",
        ),
    ];
    for (changes, api) in ok_cases {
        assert_eq!(location(&changes).as_deref(), Ok(api), "{changes:?}");
    }
    let err_cases = [
        (
            vec![],
            "GITHUB_CONFIG_URL is required: where the runners register",
        ),
        (
            vec![("GITHUB_ENTERPRISE_URL", "https://ghes.example.com")],
            "ORGANIZATION_NAME is required",
        ),
        (
            vec![("ORGANIZATION_NAME", "a/b")],
            r#"ORGANIZATION_NAME="a/b": expected an organization name"#,
        ),
        // Only the organization is blamed, not the (unset) GITHUB_ENTERPRISE_URL.
        (
            vec![("ORGANIZATION_NAME", "a/b/c")],
            r#"ORGANIZATION_NAME="a/b/c": expected an organization name"#,
        ),
        (
            vec![
                ("ORGANIZATION_NAME", "o"),
                ("GITHUB_ENTERPRISE_URL", "https://ghes.example.com/sub"),
            ],
            r#"GITHUB_ENTERPRISE_URL="https://ghes.example.com/sub": expected the base URL"#,
        ),
        (
            vec![
                ("ORGANIZATION_NAME", "o"),
                ("GITHUB_ENTERPRISE_URL", "http://ghes.example.com"),
            ],
            r#"GITHUB_ENTERPRISE_URL="http://ghes.example.com": expected an https:// URL"#,
        ),
    ];
    for (changes, expected) in err_cases {
        let got = location(&changes);
        assert!(
            got.as_ref()
                .is_err_and(|e| e.starts_with(expected) && !e.contains('\n')),
            "{changes:?}: {got:?}"
        );
    }
    let neither = location(&[]).err().unwrap_or_default();
    assert!(
        neither.contains("ORGANIZATION_NAME") && neither.contains("GITHUB_ENTERPRISE_URL"),
        "{neither}"
    );
}
