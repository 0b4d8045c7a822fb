//! Resolving `GITHUB_TOKEN_SSM_PARAMETER` and `GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER` against
//! moto_server, reached through `AWS_ENDPOINT_URL` (CI always starts it). Each test uses its
//! own region, which moto keeps apart, so tests can run in parallel.

use std::collections::HashMap;

use aws_sdk_ssm::types::ParameterType;
use ghaec2::config::{Config, Credential, GitHubCredential, SecretError};
use secrecy::ExposeSecret;

const KEY_BODY: &str = "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4DSmoEmo3qGy0t6z09AIJtH+5OeRV1be+N4cDYJKffGzDa88vQENZiRm0GRq6a+HPGQMd2kTQIhAKMSvzIBnni7ot/OSie2TmJLY4SwTQAevXysE2RbFDYdAiEBCUEaRQnMnbp79mxDXDf6AU0cN/RPBjb9qSHDcWZHGzUCIG2Es59z8ugGrDY+pxLQnwfotadxd+Uyv/Ow5T0q5gIJAiEAyS4RaI9YG8EWx/2w0T67ZUVAw8eOMB6BIUg0Xcu+3okCIBOs/5OiPgoTdSy7bcF9IGpSE8ZgGKzgYQVZeN97YE00";

/// An SSM client for moto in `region`.
async fn ssm(region: &str) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&ghaec2_testkit::moto::sdk_config(region).await)
}

async fn put_secure_string(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put_parameter {name}: {e:?}"));
}

/// The credential configured by `vars` on top of the other required settings.
fn credential(vars: &[(&str, &str)]) -> GitHubCredential {
    let mut env: HashMap<String, String> = [
        ("GITHUB_CONFIG_URL", "https://github.com/my-org"),
        ("RUNNER_SCALE_SET_NAME", "linux"),
        ("EC2_SUBNET_ID", "subnet-0123abcd"),
        ("EC2_SECURITY_GROUP_ID", "sg-0123abcd"),
        ("EC2_AMI_ID", "ami-0123abcd"),
    ]
    .iter()
    .chain(vars)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.retain(|_, v| !v.is_empty());
    match Config::from_lookup(|name| env.get(name).cloned()) {
        Ok(config) => config.github.credential,
        Err(e) => panic!("config: {e}"),
    }
}

#[tokio::test]
async fn token_is_read_from_ssm_and_trimmed() {
    let ssm = ssm("us-west-2").await;
    put_secure_string(&ssm, "/ghaec2/test/token", "ghp_fromSsmValue\n").await;
    let configured = credential(&[("GITHUB_TOKEN_SSM_PARAMETER", "/ghaec2/test/token")]);
    match configured.resolve(&ssm).await {
        Ok(Credential::Token(token)) => assert_eq!(token.expose_secret(), "ghp_fromSsmValue"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn app_private_key_is_read_from_ssm_and_normalised() {
    let ssm = ssm("eu-west-1").await;
    // Stored with escaped newlines, as a one-line CLI `put-parameter` often leaves it.
    let escaped =
        format!("-----BEGIN RSA PRIVATE KEY-----\\n{KEY_BODY}\\n-----END RSA PRIVATE KEY-----");
    put_secure_string(&ssm, "/ghaec2/test/app-key", &escaped).await;
    let configured = credential(&[
        ("GITHUB_APP_ID", "12345"),
        ("GITHUB_APP_INSTALLATION_ID", "678"),
        (
            "GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER",
            "/ghaec2/test/app-key",
        ),
    ]);
    match configured.resolve(&ssm).await {
        Ok(Credential::App {
            app_id,
            installation_id,
            private_key_pem,
        }) => {
            assert_eq!((app_id.as_str(), installation_id), ("12345", 678));
            let pem = private_key_pem.expose_secret();
            assert!(
                pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\nMIIB"),
                "{pem}"
            );
            assert!(pem.ends_with("\n-----END RSA PRIVATE KEY-----\n"), "{pem}");
            assert!(pem.lines().all(|l| l.len() <= 64) && !pem.contains("\\n"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_parameter_that_is_not_a_key_is_refused_without_showing_it() {
    let ssm = ssm("eu-central-1").await;
    put_secure_string(&ssm, "/ghaec2/test/not-a-key", "ghp_thisIsATokenNotAKey").await;
    let configured = credential(&[
        ("GITHUB_APP_ID", "Iv1.0123456789abcdef"),
        ("GITHUB_APP_INSTALLATION_ID", "1"),
        (
            "GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER",
            "/ghaec2/test/not-a-key",
        ),
    ]);
    let err = configured.resolve(&ssm).await.err();
    assert!(matches!(err, Some(SecretError::Invalid { .. })), "{err:?}");
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("/ghaec2/test/not-a-key"), "{text}");
    assert!(
        text.contains("GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER"),
        "{text}"
    );
    assert!(!text.contains("ghp_thisIsATokenNotAKey"), "{text}");
}

#[tokio::test]
async fn a_missing_parameter_names_the_parameter_and_the_variable() {
    let ssm = ssm("ap-southeast-2").await;
    let token = credential(&[("GITHUB_TOKEN_SSM_PARAMETER", "/ghaec2/test/absent")]);
    let err = token.resolve(&ssm).await.err();
    assert!(
        matches!(&err, Some(SecretError::NotFound { variable: "GITHUB_TOKEN_SSM_PARAMETER", name }) if name == "/ghaec2/test/absent"),
        "{err:?}"
    );
    assert_eq!(
        err.map(|e| e.to_string()).unwrap_or_default(),
        "SSM parameter \"/ghaec2/test/absent\" (from GITHUB_TOKEN_SSM_PARAMETER) was not found"
    );

    let key = credential(&[
        ("GITHUB_APP_ID", "1"),
        ("GITHUB_APP_INSTALLATION_ID", "2"),
        (
            "GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER",
            "/ghaec2/test/absent-key",
        ),
    ]);
    let err = key
        .resolve(&ssm)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        "SSM parameter \"/ghaec2/test/absent-key\" (from GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER) was not found"
    );
}
