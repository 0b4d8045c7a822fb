//! Credential settings: a token or a GitHub App, inline or by SSM parameter, and that secret
//! values never reach messages or `Debug`.

use super::*;

#[test]
fn app_settings_are_checked_one_by_one() {
    let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----");
    let app = |changes: &[(&'static str, &str)]| {
        let mut vars = with(&[
            ("GITHUB_APP_ID", "123"),
            ("GITHUB_APP_INSTALLATION_ID", "456"),
            ("GITHUB_APP_PRIVATE_KEY", &pem),
        ]);
        without(&mut vars, &["GITHUB_TOKEN"]);
        vars.extend(changes.iter().map(|(k, v)| (*k, (*v).to_owned())));
        vars
    };
    assert!(matches!(
        ok(&app(&[])).github.credential,
        GitHubCredential::App {
            installation_id: 456,
            ..
        }
    ));
    let cases = [
        (
            app(&[("GITHUB_APP_ID", "app")]),
            r#"GITHUB_APP_ID="app": expected a GitHub App id"#,
        ),
        (
            app(&[("GITHUB_APP_INSTALLATION_ID", "x1")]),
            r#"GITHUB_APP_INSTALLATION_ID="x1": expected a GitHub App installation id"#,
        ),
        (
            app(&[("GITHUB_APP_PRIVATE_KEY", "not a key")]),
            "GITHUB_APP_PRIVATE_KEY=(secret): expected an unencrypted PEM private key",
        ),
        (
            app(&[("GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER", "/k")]),
            "GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER are both set: expected only one of them",
        ),
        (
            app(&[("GITHUB_APP_ID", "")]),
            "GITHUB_APP_ID is required: the GitHub App's id or client id",
        ),
        (
            app(&[("GITHUB_APP_INSTALLATION_ID", "")]),
            "GITHUB_APP_INSTALLATION_ID is required: the GitHub App installation id",
        ),
        (
            app(&[("GITHUB_APP_PRIVATE_KEY", "")]),
            "GITHUB_APP_PRIVATE_KEY is required: the GitHub App's private key",
        ),
    ];
    for (vars, expected) in cases {
        let got = problems(&vars);
        assert!(
            got.len() == 1 && got[0].starts_with(expected),
            "{expected}: {got:?}"
        );
    }
    let only_id = app(&[
        ("GITHUB_APP_INSTALLATION_ID", ""),
        ("GITHUB_APP_PRIVATE_KEY", ""),
    ]);
    assert_eq!(problems(&only_id).len(), 2);
    let from_ssm = app(&[
        ("GITHUB_APP_PRIVATE_KEY", ""),
        ("GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER", "/ghaec2/key"),
    ]);
    assert!(matches!(
        ok(&from_ssm).github.credential,
        GitHubCredential::App { private_key: Secret::SsmParameter(ref name), .. } if name == "/ghaec2/key"
    ));
}

#[test]
fn exactly_one_credential_is_required() {
    let mut neither = minimal();
    without(&mut neither, &["GITHUB_TOKEN"]);
    let got = problems(&neither);
    assert!(
        got.len() == 1 && got[0].starts_with("GITHUB_TOKEN is required: a GitHub credential"),
        "{got:?}"
    );
    assert!(got[0].contains("GITHUB_APP_ID"), "{got:?}");

    let both = with(&[("GITHUB_APP_ID", "1")]);
    assert_eq!(
        problems(&both),
        [
            "GITHUB_TOKEN and GITHUB_APP_ID are both set: expected exactly one GitHub credential: a token \
          (GITHUB_TOKEN or GITHUB_TOKEN_SSM_PARAMETER) or a GitHub App (GITHUB_APP_ID, \
          GITHUB_APP_INSTALLATION_ID and GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER)"
        ]
    );
    let token_twice = with(&[("GITHUB_TOKEN_SSM_PARAMETER", "/t")]);
    let got = problems(&token_twice);
    assert!(
        got[0].starts_with("GITHUB_TOKEN and GITHUB_TOKEN_SSM_PARAMETER are both set"),
        "{got:?}"
    );

    let mut by_parameter = with(&[("GITHUB_TOKEN_SSM_PARAMETER", "/ghaec2/token")]);
    without(&mut by_parameter, &["GITHUB_TOKEN"]);
    assert!(matches!(
        ok(&by_parameter).github.credential,
        GitHubCredential::Token(Secret::SsmParameter(ref name)) if name == "/ghaec2/token"
    ));
}

#[test]
fn secrets_never_appear_in_messages_or_debug() {
    let secret_token = "ghp_with space";
    let got = problems(&with(&[("GITHUB_TOKEN", secret_token)])).join("\n");
    assert_eq!(
        got,
        "GITHUB_TOKEN=(secret): expected a GitHub token (printable characters, no spaces)"
    );

    let bad_key =
        format!("-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}!\n-----END RSA PRIVATE KEY-----");
    let mut vars = with(&[
        ("GITHUB_APP_ID", "1"),
        ("GITHUB_APP_INSTALLATION_ID", "2"),
        ("GITHUB_APP_PRIVATE_KEY", &bad_key),
    ]);
    without(&mut vars, &["GITHUB_TOKEN"]);
    let got = problems(&vars).join("\n");
    assert!(got.contains("(secret)") && !got.contains(KEY_BODY), "{got}");

    let url = problems(&with(&[(
        "GITHUB_CONFIG_URL",
        "https://x:hunter2@github.com/o",
    )]))
    .join("\n");
    assert!(
        url.starts_with("GITHUB_CONFIG_URL=(secret): expected") && !url.contains("hunter2"),
        "{url}"
    );

    let config = ok(&minimal());
    let debug = format!("{config:?} {:?}", config.github.credential);
    assert!(!debug.contains(TOKEN), "{debug}");
    let good_key =
        format!("-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----");
    vars.insert("GITHUB_APP_PRIVATE_KEY", good_key);
    let debug = format!("{:?}", ok(&vars));
    assert!(
        !debug.contains(&KEY_BODY[..40]) && debug.contains("(secret)"),
        "{debug}"
    );
}
