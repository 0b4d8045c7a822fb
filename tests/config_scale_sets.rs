//! `SCALE_SETS_SSM_PARAMETER`: the list of scale sets read from SSM at start
//! (`app::deployment`), against moto_server reached through `AWS_ENDPOINT_URL` (run with
//! `scripts/with-moto.sh`). Each test uses its own region, which moto keeps apart.

use std::collections::HashMap;

use aws_sdk_ssm::types::ParameterType;
use ghaec2::app::{self, StartError};
use ghaec2::config::{Deployment, SecretError};

const TWO_SHAPES: &str = r#"[
  {"RUNNER_SCALE_SET_NAME": "linux-x64", "RUNNER_LABELS": "linux-x64,x64"},
  {"RUNNER_SCALE_SET_NAME": "linux-arm64", "RUNNER_LABELS": "linux-arm64,arm64",
   "EC2_INSTANCE_TYPE": "m7g.large,m6g.large", "MAX_RUNNERS": 20}
]"#;

/// An SSM client for moto in `region`.
async fn ssm(region: &str) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&ghaec2_testkit::moto::sdk_config(region).await)
}

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str, kind: ParameterType) {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .overwrite(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put_parameter {name}: {e:?}"));
}

/// The deployment read through `app::deployment` from the top-level variables plus `vars`.
async fn deployment(region: &str, vars: &[(&str, &str)]) -> Result<Deployment, StartError> {
    let env: HashMap<String, String> = [
        ("GITHUB_CONFIG_URL", "https://github.com/my-org"),
        ("GITHUB_TOKEN", "ghp_S3cr3tT0k3nValue"),
        ("EC2_SUBNET_ID", "subnet-0123abcd"),
        ("EC2_SECURITY_GROUP_ID", "sg-0123abcd"),
        ("AWS_REGION", region),
    ]
    .iter()
    .chain(vars)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    app::deployment(|name| env.get(name).cloned()).await
}

fn names(deployment: &Deployment) -> Vec<String> {
    deployment
        .scale_sets()
        .map(|c| c.github.scale_set_name.clone())
        .collect()
}

#[tokio::test]
async fn the_list_is_read_from_a_string_or_a_secure_string_parameter() {
    let ssm = ssm("eu-north-1").await;
    put(
        &ssm,
        "/ghaec2/test/shapes",
        TWO_SHAPES,
        ParameterType::String,
    )
    .await;
    put(
        &ssm,
        "/ghaec2/test/shapes-secure",
        TWO_SHAPES,
        ParameterType::SecureString,
    )
    .await;
    for parameter in ["/ghaec2/test/shapes", "/ghaec2/test/shapes-secure"] {
        let deployment = deployment("eu-north-1", &[("SCALE_SETS_SSM_PARAMETER", parameter)])
            .await
            .unwrap_or_else(|e| panic!("{parameter}: {e}"));
        assert_eq!(names(&deployment), ["linux-x64", "linux-arm64"]);
        let arm64 = deployment
            .scale_sets()
            .nth(1)
            .map(|c| c.scaling.max_runners);
        assert_eq!(arm64, Some(20));
    }
}

#[tokio::test]
async fn a_bad_list_in_the_parameter_is_refused_naming_the_element() {
    let ssm = ssm("eu-south-1").await;
    let list =
        r#"[{"RUNNER_SCALE_SET_NAME": "a"}, {"RUNNER_SCALE_SET_NAME": "b", "MAX_RUNNERS": "x"}]"#;
    put(&ssm, "/ghaec2/test/bad-shapes", list, ParameterType::String).await;
    let err = deployment(
        "eu-south-1",
        &[("SCALE_SETS_SSM_PARAMETER", "/ghaec2/test/bad-shapes")],
    )
    .await
    .err();
    assert!(matches!(err, Some(StartError::Config(_))), "{err:?}");
    assert_eq!(
        err.map(|e| e.to_string()).unwrap_or_default(),
        "invalid configuration:\n\
         SCALE_SETS[1] MAX_RUNNERS=\"x\": expected a whole number from 0 to 1000"
    );
}

#[tokio::test]
async fn a_missing_parameter_names_the_parameter_and_the_variable() {
    let err = deployment(
        "ap-northeast-3",
        &[("SCALE_SETS_SSM_PARAMETER", "/ghaec2/test/absent-shapes")],
    )
    .await
    .err();
    assert!(
        matches!(
            &err,
            Some(StartError::Secret(SecretError::NotFound { variable: "SCALE_SETS_SSM_PARAMETER", name }))
                if name == "/ghaec2/test/absent-shapes"
        ),
        "{err:?}"
    );
    assert_eq!(
        err.map(|e| e.to_string()).unwrap_or_default(),
        "SSM parameter \"/ghaec2/test/absent-shapes\" (from SCALE_SETS_SSM_PARAMETER) was not found"
    );
}

#[tokio::test]
async fn the_list_inline_or_none_needs_no_parameter() {
    // No parameter exists in this region: a read would fail.
    let inline = deployment("sa-east-1", &[("SCALE_SETS", TWO_SHAPES)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&inline), ["linux-x64", "linux-arm64"]);
    let single = deployment("sa-east-1", &[("RUNNER_SCALE_SET_NAME", "linux")])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&single), ["linux"]);
    assert!(single.is_single());
    let both = deployment(
        "sa-east-1",
        &[
            ("SCALE_SETS", TWO_SHAPES),
            ("SCALE_SETS_SSM_PARAMETER", "/ghaec2/test/shapes"),
        ],
    )
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        both.starts_with(
            "invalid configuration:\nSCALE_SETS and SCALE_SETS_SSM_PARAMETER are both set"
        ),
        "{both}"
    );
}
