//! Whole-configuration tests: a full valid config, the defaults, every variable's invalid value,
//! all problems at once. Credentials, the GitHub location and `SCALE_SETS` have their own
//! submodules.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;

mod allowed;
mod credentials;
mod location;
mod scale_sets;

const KEY_BODY: &str = "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4DSmoEmo3qGy0t6z09AIJtH+5OeRV1be+N4cDYJKffGzDa88vQENZiRm0GRq6a+HPGQMd2kTQIhAKMSvzIBnni7ot/OSie2TmJLY4SwTQAevXysE2RbFDYdAiEBCUEaRQnMnbp79mxDXDf6AU0cN/RPBjb9qSHDcWZHGzUCIG2Es59z8ugGrDY+pxLQnwfotadxd+Uyv/Ow5T0q5gIJAiEAyS4RaI9YG8EWx/2w0T67ZUVAw8eOMB6BIUg0Xcu+3okCIBOs/5OiPgoTdSy7bcF9IGpSE8ZgGKzgYQVZeN97YE00";
const TOKEN: &str = "ghp_S3cr3tT0k3nValue";

/// The required variables with a PAT.
fn minimal() -> HashMap<&'static str, String> {
    [
        ("GITHUB_CONFIG_URL", "https://github.com/my-org"),
        ("GITHUB_TOKEN", TOKEN),
        ("RUNNER_SCALE_SET_NAME", "linux-x64"),
        ("EC2_SUBNET_ID", "subnet-0123abcd"),
        ("EC2_SECURITY_GROUP_ID", "sg-0123abcd"),
        ("EC2_AMI_ID", "ami-0123456789abcdef0"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

fn load(vars: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
    Config::from_lookup(|name| vars.get(name).cloned())
}

fn with(changes: &[(&'static str, &str)]) -> HashMap<&'static str, String> {
    let mut vars = minimal();
    for (k, v) in changes {
        vars.insert(k, (*v).to_owned());
    }
    vars
}

fn without(vars: &mut HashMap<&'static str, String>, names: &[&str]) {
    vars.retain(|k, _| !names.contains(k));
}

fn problems(vars: &HashMap<&'static str, String>) -> Vec<String> {
    match load(vars) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(err) => err.problems().iter().map(ToString::to_string).collect(),
    }
}

fn ok(vars: &HashMap<&'static str, String>) -> Config {
    load(vars).unwrap_or_else(|e| panic!("unexpected error:\n{e}"))
}

#[test]
fn a_full_configuration_sets_every_field() {
    let key = format!("-----BEGIN PRIVATE KEY-----\\n{KEY_BODY}\\n-----END PRIVATE KEY-----");
    let mut vars = with(&[
        (
            "GITHUB_CONFIG_URL",
            "https://ghes.example.com/my-org/my-repo/",
        ),
        ("GITHUB_APP_ID", "Iv1.0123456789abcdef"),
        ("GITHUB_APP_INSTALLATION_ID", "4242"),
        ("GITHUB_APP_PRIVATE_KEY", &key),
        ("RUNNER_GROUP", "CI runners"),
        ("RUNNER_SCALE_SET_ID", "7"),
        ("RUNNER_LABELS", "linux, x64 ,linux,LINUX-X64"),
        ("MIN_RUNNERS", "2"),
        ("MAX_RUNNERS", "1000"),
        ("AWS_REGION", "eu-west-1"),
        ("EC2_SUBNET_ID", "subnet-0123abcd, subnet-0123456789abcdef0"),
        ("EC2_SECURITY_GROUP_ID", "sg-0123abcd,sg-89abcdef"),
        ("EC2_KEY_PAIR_NAME", "ops key"),
        ("EC2_INSTANCE_TYPE", "c7i.xlarge,c6i.xlarge"),
        (
            "EC2_AMI_ID",
            "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        ),
        ("EC2_SPOT_PRICE", "0.25"),
        (
            "EC2_INSTANCE_PROFILE",
            "arn:aws:iam::123456789012:instance-profile/runner",
        ),
        ("EC2_ASSOCIATE_PUBLIC_IP", "yes"),
        ("EC2_ROOT_VOLUME_SIZE_GIB", "100"),
        ("EC2_ON_DEMAND_FAILOVER", "FALSE"),
        (
            "EC2_EBS_KMS_KEY_ID",
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        ("STATE_TABLE_NAME", "my.state_table-1"),
        ("DRAIN_WINDOW_SECONDS", "840"),
        ("RUNNER_BOOT_TIMEOUT_SECONDS", "30"),
        ("RUNNER_WORK_FOLDER", "work/dir"),
        ("RUNNER_MIN_VERSION", "2.330.1"),
        ("RERUN_INTERRUPTED_JOBS", "true"),
        ("METRICS", "default,JobPickupLatency"),
    ]);
    without(&mut vars, &["GITHUB_TOKEN"]);
    let config = ok(&vars);

    let github = &config.github;
    assert_eq!(
        github.config_url.as_str(),
        "https://ghes.example.com/my-org/my-repo"
    );
    assert_eq!(
        github.config_url.api_url("x").as_str(),
        "https://ghes.example.com/api/v3/x"
    );
    match &github.credential {
        GitHubCredential::App {
            app_id,
            installation_id,
            private_key: Secret::Value(pem),
        } => {
            assert_eq!(
                (app_id.as_str(), *installation_id),
                ("Iv1.0123456789abcdef", 4242)
            );
            assert!(
                pem.expose_secret()
                    .starts_with("-----BEGIN PRIVATE KEY-----\nMIIB")
            );
            assert!(!pem.expose_secret().contains("\\n"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(github.runner_group, "CI runners");
    assert_eq!(github.scale_set_name, "linux-x64");
    assert_eq!(github.scale_set_id, Some(7));
    assert_eq!(github.labels, ["linux-x64", "linux", "x64"]);
    assert_eq!(
        config.scaling,
        ScalingSettings {
            min_runners: 2,
            max_runners: 1000
        }
    );
    assert_eq!(
        config.ec2,
        Ec2Settings {
            region: Some("eu-west-1".to_owned()),
            subnet_ids: vec![
                "subnet-0123abcd".to_owned(),
                "subnet-0123456789abcdef0".to_owned()
            ],
            security_group_ids: vec!["sg-0123abcd".to_owned(), "sg-89abcdef".to_owned()],
            key_pair_name: Some("ops key".to_owned()),
            instance_types: vec!["c7i.xlarge".to_owned(), "c6i.xlarge".to_owned()],
            ami_id: Some(
                "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
                    .to_owned()
            ),
            ebs_kms_key_id: Some(
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .to_owned()
            ),
            spot_max_price: Some("0.25".to_owned()),
            instance_profile: Some(InstanceProfile::Arn(
                "arn:aws:iam::123456789012:instance-profile/runner".to_owned()
            )),
            associate_public_ip: true,
            root_volume_size_gib: 100,
            on_demand_failover: false,
        }
    );
    assert_eq!(
        config.runtime,
        RuntimeSettings {
            state_table_name: "my.state_table-1".to_owned(),
            drain_window: Duration::from_secs(840),
            runner_boot_timeout: Duration::from_secs(30),
            runner_work_folder: "work/dir".to_owned(),
            runner_min_version: "2.330.1".to_owned(),
            rerun_interrupted_jobs: true,
            metrics: crate::metrics::Published::parse("default,JobPickupLatency")
                .unwrap_or_default(),
        }
    );
    assert!(config.runtime.metrics.includes("JobPickupLatency"));
}

#[test]
fn unset_and_blank_optional_variables_take_their_defaults() {
    let blank = with(&[
        ("MAX_RUNNERS", ""),
        ("RUNNER_GROUP", "  "),
        ("EC2_INSTANCE_TYPE", " "),
        ("EC2_AMI_ID", ""),
    ]);
    let mut unset = minimal();
    without(&mut unset, &["EC2_AMI_ID"]);
    for vars in [unset, blank] {
        let config = ok(&vars);
        assert_eq!(
            config.github.config_url.api_url("x").host_str(),
            Some("api.github.com")
        );
        assert!(
            matches!(&config.github.credential, GitHubCredential::Token(Secret::Value(t)) if t.expose_secret() == TOKEN)
        );
        assert_eq!(config.github.runner_group, "Default");
        assert_eq!(config.github.scale_set_id, None);
        assert_eq!(config.github.labels, ["linux-x64"]);
        assert_eq!(
            config.scaling,
            ScalingSettings {
                min_runners: 0,
                max_runners: 10
            }
        );
        let ec2 = &config.ec2;
        assert_eq!(ec2.region, None);
        assert_eq!(ec2.instance_types, ["m7i.large", "m6i.large", "m5.large"]);
        assert_eq!(
            (ec2.key_pair_name.as_ref(), ec2.spot_max_price.as_ref()),
            (None, None)
        );
        assert_eq!(ec2.instance_profile, None);
        assert_eq!(
            (ec2.ami_id.as_ref(), ec2.ebs_kms_key_id.as_ref()),
            (None, None)
        );
        assert!(!ec2.associate_public_ip);
        assert_eq!(ec2.root_volume_size_gib, 30);
        assert!(ec2.on_demand_failover);
        assert_eq!(config.runtime.state_table_name, "ghaec2-state");
        assert_eq!(config.runtime.drain_window, Duration::from_secs(60));
        assert_eq!(config.runtime.runner_boot_timeout, Duration::from_secs(300));
        assert_eq!(config.runtime.runner_work_folder, "_work");
        assert_eq!(config.runtime.runner_min_version, "2.329.0");
        assert!(!config.runtime.rerun_interrupted_jobs);
        assert_eq!(config.runtime.metrics, crate::metrics::Published::default());
    }
}

#[test]
fn every_invalid_value_names_the_variable_the_value_and_the_expectation() {
    #[rustfmt::skip]
    let cases = [
        ("GITHUB_CONFIG_URL", "https://github.com", "a URL of an enterprise, org, or repository"),
        ("GITHUB_CONFIG_URL", "http://ghes.example.com/org", "an https:// URL"),
        ("GITHUB_CONFIG_URL", "github.com/org", "an absolute https:// URL"),
        ("GITHUB_TOKEN_SSM_PARAMETER", "/has space", "an SSM parameter name"),
        ("RUNNER_GROUP", "bad\tgroup", "a runner group name"),
        ("RUNNER_SCALE_SET_NAME", "has space", "a scale set name of 1 to 45"),
        ("RUNNER_SCALE_SET_ID", "0", "a positive whole number"),
        ("RUNNER_SCALE_SET_ID", "abc", "a positive whole number"),
        ("RUNNER_LABELS", "ok,bad\u{7}", "a comma-separated list of labels"),
        ("MIN_RUNNERS", "-1", "a whole number from 0 to 1000"),
        ("MAX_RUNNERS", "ten", "a whole number from 0 to 1000"),
        ("MAX_RUNNERS", "1001", "a whole number from 0 to 1000"),
        ("AWS_REGION", "Europe", "an AWS region"),
        ("EC2_SUBNET_ID", "subnet-0123abcd,subnet-nothex!", "a comma-separated list of subnet ids"),
        ("EC2_SECURITY_GROUP_ID", "sg-12", "a comma-separated list of security group ids"),
        ("EC2_KEY_PAIR_NAME", "tab\tkey", "an EC2 key pair name"),
        ("EC2_INSTANCE_TYPE", "m7i.large,large", "a comma-separated list of instance types of the form family.size"),
        ("EC2_AMI_ID", "ami-xyz", "an AMI id (ami- followed by 8 to 17 hex digits) or resolve:ssm:"),
        ("EC2_SPOT_PRICE", "0", "a positive price"),
        ("EC2_EBS_KMS_KEY_ID", "alias/ebs", "a KMS key ARN"),
        ("EC2_EBS_KMS_KEY_ID", "arn:aws:kms:eu-west-1:123456789012:alias/ebs", "a KMS key ARN"),
        ("EC2_INSTANCE_PROFILE", "arn:aws:iam::123:role/x", "an instance profile name"),
        ("EC2_ASSOCIATE_PUBLIC_IP", "maybe", "true or false"),
        ("EC2_ROOT_VOLUME_SIZE_GIB", "4", "a whole number from 8 to 16384"),
        ("EC2_ON_DEMAND_FAILOVER", "2", "true or false"),
        ("STATE_TABLE_NAME", "no", "a DynamoDB table name"),
        ("DRAIN_WINDOW_SECONDS", "900", "a whole number of seconds from 1 to 840"),
        ("RUNNER_BOOT_TIMEOUT_SECONDS", "10", "a whole number of seconds from 30 to 3600"),
        ("RUNNER_WORK_FOLDER", "../etc", "a relative folder path"),
        ("RUNNER_MIN_VERSION", "2.329", "a runner version such as 2.329.0"),
        ("RUNNER_MIN_VERSION", "2.329.0; reboot", "a runner version such as 2.329.0"),
        ("RERUN_INTERRUPTED_JOBS", "sometimes", "true or false"),
        ("METRICS", "default,Lunches", "a comma-separated list of default, all, none or metric names (JobsAcquired,"),
    ];
    for (variable, value, expected) in cases {
        let mut vars = with(&[(variable, value)]);
        if variable == "GITHUB_TOKEN_SSM_PARAMETER" {
            without(&mut vars, &["GITHUB_TOKEN"]);
        }
        let got = problems(&vars);
        let prefix = format!("{variable}={value:?}: expected {expected}");
        assert!(
            got.len() == 1 && got[0].starts_with(&prefix),
            "{variable}: {got:?}"
        );
    }
}

#[test]
fn all_problems_are_reported_together() {
    let mut vars = with(&[
        ("MAX_RUNNERS", "ten"),
        ("EC2_AMI_ID", "nope"),
        ("DRAIN_WINDOW_SECONDS", "0"),
    ]);
    without(
        &mut vars,
        &[
            "RUNNER_SCALE_SET_NAME",
            "EC2_SUBNET_ID",
            "EC2_SECURITY_GROUP_ID",
        ],
    );
    let err = load(&vars).err().map(|e| e.to_string()).unwrap_or_default();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 6, "{err}");
    for variable in [
        "MAX_RUNNERS",
        "EC2_AMI_ID",
        "DRAIN_WINDOW_SECONDS",
        "RUNNER_SCALE_SET_NAME is required",
        "EC2_SUBNET_ID is required",
        "EC2_SECURITY_GROUP_ID is required",
    ] {
        assert!(err.contains(variable), "{variable}: {err}");
    }
}

#[test]
fn min_runners_may_not_exceed_max_runners() {
    assert_eq!(
        problems(&with(&[("MIN_RUNNERS", "5"), ("MAX_RUNNERS", "3")])),
        [r#"MIN_RUNNERS="5": expected at most MAX_RUNNERS (3)"#]
    );
    assert_eq!(
        ok(&with(&[("MIN_RUNNERS", "3"), ("MAX_RUNNERS", "3")]))
            .scaling
            .min_runners,
        3
    );
    assert_eq!(ok(&with(&[("MAX_RUNNERS", "0")])).scaling.max_runners, 0);
}

#[test]
fn region_falls_back_to_aws_default_region() {
    let region = |changes: &[(&'static str, &str)]| ok(&with(changes)).ec2.region;
    assert_eq!(
        region(&[("AWS_DEFAULT_REGION", "us-east-2")]).as_deref(),
        Some("us-east-2")
    );
    assert_eq!(
        region(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-2")
        ])
        .as_deref(),
        Some("eu-west-1")
    );
    let got = problems(&with(&[("AWS_DEFAULT_REGION", "mars")]));
    assert!(
        got[0].starts_with(r#"AWS_DEFAULT_REGION="mars": expected an AWS region"#),
        "{got:?}"
    );
}

#[test]
fn lists_made_only_of_commas_count_as_missing() {
    let got = problems(&with(&[("EC2_SUBNET_ID", " , ,")]));
    assert!(
        got.len() == 1 && got[0].starts_with("EC2_SUBNET_ID is required: the subnets"),
        "{got:?}"
    );
    let config = ok(&with(&[
        ("EC2_SUBNET_ID", "subnet-0123abcd,,subnet-0123abcd"),
        ("RUNNER_LABELS", ","),
    ]));
    assert_eq!(config.ec2.subnet_ids, ["subnet-0123abcd"]);
    assert_eq!(config.github.labels, ["linux-x64"]);
}
