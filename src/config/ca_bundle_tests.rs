use std::collections::HashMap;

use ghaec2_fake::PrivateCa;

use super::*;

fn ca_pem() -> String {
    PrivateCa::generate().expect("generates a CA").ca_pem
}

fn read(vars: &[(&str, &str)]) -> (Option<CaBundle>, Vec<String>) {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = |name: &str| vars.get(name).cloned();
    let mut env = Env::new(&lookup);
    let bundle = from_env(&mut env);
    let problems = env
        .into_problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    (bundle, problems)
}

#[test]
fn a_path_or_a_parameter_is_read_and_not_both() {
    assert_eq!(read(&[]), (None, vec![]));
    assert_eq!(
        read(&[(GITHUB_CA_BUNDLE, " /etc/ghes-ca.pem ")]),
        (Some(CaBundle::File("/etc/ghes-ca.pem".into())), vec![])
    );
    assert_eq!(
        read(&[(GITHUB_CA_BUNDLE_SSM_PARAMETER, "/ghaec2/github-ca")]),
        (
            Some(CaBundle::SsmParameter("/ghaec2/github-ca".to_owned())),
            vec![]
        )
    );
    let (bundle, problems) = read(&[
        (GITHUB_CA_BUNDLE, "/etc/ghes-ca.pem"),
        (GITHUB_CA_BUNDLE_SSM_PARAMETER, "/ghaec2/github-ca"),
    ]);
    assert_eq!(bundle, None);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with("GITHUB_CA_BUNDLE and GITHUB_CA_BUNDLE_SSM_PARAMETER"),
        "{problems:?}"
    );
    let (bundle, problems) = read(&[(GITHUB_CA_BUNDLE_SSM_PARAMETER, "/with space")]);
    assert_eq!(bundle, None);
    assert_eq!(
        problems,
        [format!(
            "GITHUB_CA_BUNDLE_SSM_PARAMETER=\"/with space\": expected {SSM_NAME_EXPECTED}"
        )]
    );
}

#[test]
fn every_certificate_of_a_bundle_is_read_and_other_blocks_are_skipped() {
    let (first, second) = (ca_pem(), ca_pem());
    assert_eq!(parse(first.as_bytes()).map(|c| c.len()), Some(1));
    let two = format!("# corporate roots\n{first}\n{second}");
    assert_eq!(parse(two.as_bytes()).map(|c| c.len()), Some(2));
    let crlf = first.replace('\n', "\r\n");
    assert_eq!(parse(crlf.as_bytes()).map(|c| c.len()), Some(1));
    let server = PrivateCa::generate().expect("generates a CA");
    let with_key = format!("{}{}", server.server_key_pem, first);
    assert_eq!(parse(with_key.as_bytes()).map(|c| c.len()), Some(1));
}

#[test]
fn a_bundle_without_a_usable_certificate_is_refused() {
    let server = PrivateCa::generate().expect("generates a CA");
    let cases = [
        String::new(),
        "not a certificate".to_owned(),
        server.server_key_pem,
        // base64 that is not a certificate
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned(),
        // not base64
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_owned(),
        // cut off
        ca_pem().lines().take(3).collect::<Vec<_>>().join("\n"),
    ];
    for case in cases {
        assert!(parse(case.as_bytes()).is_none(), "{case:?}");
    }
}

#[tokio::test]
async fn file_errors_name_the_file_and_what_was_expected_never_the_content() {
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .build(),
    );
    let dir = std::env::temp_dir().join(format!("ghaec2-ca-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let missing = CaBundle::File(dir.join("missing.pem"));
    let text = missing
        .certificates(&ssm)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        text.starts_with(&format!(
            "CA bundle file {:?} (from GITHUB_CA_BUNDLE) could not be read: ",
            dir.join("missing.pem")
        )),
        "{text}"
    );
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "SECRET-LOOKING CONTENT").expect("writes");
    let text = CaBundle::File(garbage.clone())
        .certificates(&ssm)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        text,
        format!(
            "CA bundle file {garbage:?} (from GITHUB_CA_BUNDLE) holds no usable certificates: \
             expected {CA_BUNDLE_EXPECTED}"
        )
    );
    let good = dir.join("good.pem");
    std::fs::write(&good, ca_pem()).expect("writes");
    let certificates = CaBundle::File(good).certificates(&ssm).await;
    assert_eq!(certificates.map(|c| c.len()).ok(), Some(1));
    let _ = std::fs::remove_dir_all(dir);
}
