//! `template.yaml` against the code it deploys: the state table's key schema and TTL attribute
//! are the consts of `src/aws/schema.rs`; the function sets exactly the variables ghaec2 reads
//! (`src/config/vars.rs`), with defaults equal to ghaec2's own and a timeout above the drain
//! window plus the safety margin; `samconfig.toml`'s placeholders make a configuration ghaec2
//! accepts; the per-partition names cover every partition `src/aws/identity.rs` knows; and the
//! IAM review of `scripts/check-template.py` passes.
//!
//! YAML is read by `scripts/check-template.py --json` (PyYAML, with CloudFormation's short-form
//! tags expanded) so the project needs no YAML crate. The script runs with the venv's Python
//! (`$GHAEC2_VENV`, else `~/.cache/ghaec2-venv`, as `scripts/venv.sh` creates it), else `python3`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
#[path = "support/template_script.rs"]
mod template_script;

use ghaec2::aws::schema;
use ghaec2::config::{Config, Deployment, vars};
use ghaec2::cycle::SAFETY_MARGIN;
use serde_json::{Value, json};
use template_script::{check_template, dump};

/// Variables the function deliberately does not set.
const NOT_SET: [(&str, &str); 5] = [
    (vars::AWS_REGION, "reserved: Lambda sets it"),
    (vars::AWS_DEFAULT_REGION, "reserved: Lambda sets it"),
    (
        vars::GITHUB_TOKEN,
        "secret: only GITHUB_TOKEN_SSM_PARAMETER",
    ),
    (
        vars::GITHUB_APP_PRIVATE_KEY,
        "secret: only GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER",
    ),
    (
        vars::GITHUB_CA_BUNDLE,
        "a file path, and the function ships no files: only GITHUB_CA_BUNDLE_SSM_PARAMETER",
    ),
];
/// Variables the function sets that are not configuration (read by `telemetry`).
const ALSO_KNOWN: [&str; 1] = ["RUST_LOG"];

fn template() -> &'static Value {
    &dump()["template"]
}

fn resource(name: &str) -> &'static Value {
    let r = &template()["Resources"][name];
    assert!(r.is_object(), "template.yaml has no resource {name}");
    r
}

fn function() -> &'static Value {
    resource("ScalerFunction")
}

fn env_vars() -> &'static serde_json::Map<String, Value> {
    function()["Properties"]["Environment"]["Variables"]
        .as_object()
        .unwrap()
}

fn parameter_default(name: &str) -> Option<String> {
    let p = &template()["Parameters"][name];
    assert!(p.is_object(), "template.yaml has no parameter {name}");
    match &p["Default"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => panic!("{name}: unexpected default {other}"),
    }
}

/// The variable names of `src/config/vars.rs` (`pub const X: &str = "NAME";`), read from the
/// source so a variable added there must be added to the template (or to [`NOT_SET`]) too.
fn config_variables() -> BTreeSet<String> {
    let source = include_str!("../src/config/vars.rs");
    let names: BTreeSet<String> = source
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .filter_map(|rest| rest.split_once("&str = \""))
        .filter_map(|(_, value)| value.split_once('"'))
        .map(|(name, _)| name.to_owned())
        .collect();
    // The parse found the real consts.
    for known in [
        vars::STATE_TABLE_NAME,
        vars::DRAIN_WINDOW_SECONDS,
        vars::EC2_SUBNET_ID,
    ] {
        assert!(names.contains(known), "{known} not parsed from vars.rs");
    }
    names
}

#[test]
fn state_table_matches_the_schema_consts() {
    let table = &resource("StateTable")["Properties"];
    assert_eq!(
        table["KeySchema"],
        json!([
            {"AttributeName": schema::PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": schema::SORT_KEY, "KeyType": "RANGE"},
        ])
    );
    assert_eq!(
        table["AttributeDefinitions"],
        json!([
            {"AttributeName": schema::PARTITION_KEY, "AttributeType": schema::KEY_ATTRIBUTE_TYPE},
            {"AttributeName": schema::SORT_KEY, "AttributeType": schema::KEY_ATTRIBUTE_TYPE},
        ])
    );
    assert_eq!(
        table["TimeToLiveSpecification"],
        json!({"AttributeName": schema::TTL_ATTRIBUTE, "Enabled": true})
    );
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(
        function()["Properties"]["Environment"]["Variables"][vars::STATE_TABLE_NAME],
        json!({"Ref": "StateTable"})
    );
}

fn runner_statement(index: usize) -> &'static Value {
    let statement =
        &resource("RunnerRole")["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][index];
    assert!(statement.is_object(), "RunnerRole has no statement {index}");
    statement
}

/// The partition key of an instance's own items: JIT_PREFIX + the instance ARN
/// (InstanceArns::jit_pk), as IAM's policy variable names it.
fn own_partition() -> Value {
    json!([format!("{}${{ec2:SourceInstanceARN}}", schema::JIT_PREFIX)])
}

#[test]
fn runner_role_reads_only_its_own_jit_item() {
    let statement = runner_statement(0);
    assert_eq!(
        statement["Action"],
        json!(["dynamodb:GetItem", "dynamodb:DeleteItem"])
    );
    assert_eq!(
        statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"],
        own_partition()
    );
}

#[test]
fn runner_role_writes_only_a_boot_failure_in_its_own_partition() {
    let statement = runner_statement(1);
    assert_eq!(statement["Sid"], "OwnBootFailureItemOnly");
    assert_eq!(statement["Action"], "dynamodb:PutItem");
    let only = &statement["Condition"]["ForAllValues:StringEquals"];
    assert_eq!(only["dynamodb:LeadingKeys"], own_partition());
    let attributes: BTreeSet<&str> = only["dynamodb:Attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    // The keys, the TTL and what the record says (the script writes exactly these).
    let expected = BTreeSet::from([
        schema::PARTITION_KEY,
        schema::SORT_KEY,
        schema::TTL_ATTRIBUTE,
        schema::jit::INSTANCE_ID,
        schema::jit::SCALE_SET_NAME,
        "reason",
    ]);
    assert_eq!(attributes, expected);
    assert!(
        !attributes.contains(schema::jit::CONFIG),
        "the runner must not write a JIT config"
    );
    assert_eq!(
        statement["Condition"]["StringEqualsIfExists"]["dynamodb:ReturnValues"],
        "NONE"
    );
}

/// The partitions `src/aws/identity.rs` knows: the second names of its `PARTITIONS` table,
/// and the default "aws".
fn identity_partitions() -> BTreeSet<String> {
    let source = include_str!("../src/aws/identity.rs");
    assert!(
        source.contains(r#"map_or("aws","#),
        "identity.rs no longer defaults to the aws partition"
    );
    let table = source
        .split_once("const PARTITIONS")
        .and_then(|(_, rest)| rest.split_once("];"))
        .expect("identity.rs has a PARTITIONS table")
        .0;
    let mut names: BTreeSet<String> = table
        .lines()
        .filter_map(|line| line.trim().strip_prefix("(\""))
        .filter_map(|rest| rest.split('"').nth(2))
        .map(str::to_owned)
        .collect();
    names.insert("aws".to_owned());
    for known in ["aws-cn", "aws-us-gov", "aws-iso-b"] {
        assert!(names.contains(known), "{known} not parsed from identity.rs");
    }
    names
}

#[test]
fn every_partition_has_its_service_names() {
    let rows = template()["Mappings"]["Partitions"]
        .as_object()
        .expect("template.yaml has a Partitions mapping");
    let mapped: BTreeSet<String> = rows.keys().cloned().collect();
    assert_eq!(mapped, identity_partitions());
    for (partition, row) in rows {
        let principals = row["Ec2Principals"].as_array().unwrap();
        assert!(
            principals
                .iter()
                .all(|p| p.as_str().is_some_and(|p| p.starts_with("ec2."))),
            "{partition}: Ec2Principals {principals:?}"
        );
        assert!(
            row["SpotServiceName"].is_string(),
            "{partition}: no SpotServiceName"
        );
    }
    // The runner role trusts them, and the function passes it to them only.
    let by_partition =
        json!({"Fn::FindInMap": ["Partitions", {"Ref": "AWS::Partition"}, "Ec2Principals"]});
    assert_eq!(
        resource("RunnerRole")["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
            ["Service"],
        by_partition
    );
}

#[test]
fn function_sets_exactly_the_variables_ghaec2_reads() {
    let known = config_variables();
    let set: BTreeSet<String> = env_vars().keys().cloned().collect();
    for name in &set {
        assert!(
            known.contains(name) || ALSO_KNOWN.contains(&name.as_str()),
            "template.yaml sets {name}, which ghaec2 does not read"
        );
    }
    for name in &known {
        let excluded = NOT_SET.iter().any(|(n, _)| n == name);
        assert!(
            set.contains(name) != excluded,
            "{name}: {}",
            if excluded {
                "must not be set by the template"
            } else {
                "not set by template.yaml; add a parameter (or list it in NOT_SET with why)"
            }
        );
    }
}

#[test]
fn function_shape_and_timeout_fit_the_drain_window() {
    let props = &function()["Properties"];
    assert_eq!(props["Runtime"], "provided.al2023");
    assert_eq!(props["Architectures"], json!(["arm64"]));
    assert_eq!(props["Handler"], "bootstrap");
    // No reservation unless asked for: reserving needs quota new accounts lack.
    assert_eq!(
        props["ReservedConcurrentExecutions"],
        json!({"Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(
        parameter_default("ReservedConcurrency").as_deref(),
        Some("0")
    );
    assert_eq!(
        function()["Metadata"]["BuildMethod"],
        "rust-cargolambda",
        "sam build runs cargo-lambda"
    );
    assert_eq!(props["MemorySize"], json!({"Ref": "FunctionMemorySize"}));
    assert_eq!(
        parameter_default("FunctionMemorySize").as_deref(),
        Some("128")
    );
    assert_eq!(props["Timeout"], json!({"Ref": "FunctionTimeoutSeconds"}));
    assert_eq!(
        env_vars()[vars::DRAIN_WINDOW_SECONDS],
        json!({"Ref": "DrainWindowSeconds"})
    );
    let timeout: u64 = parameter_default("FunctionTimeoutSeconds")
        .unwrap()
        .parse()
        .unwrap();
    let window: u64 = parameter_default("DrainWindowSeconds")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        timeout > window + SAFETY_MARGIN.as_secs(),
        "Timeout {timeout} s must exceed the window {window} s + margin {} s",
        SAFETY_MARGIN.as_secs()
    );
    let schedule = &props["Events"]["Tick"];
    assert_eq!(schedule["Type"], "Schedule");
    assert_eq!(
        schedule["Properties"]["Schedule"],
        json!({"Ref": "ScheduleExpression"})
    );
    assert_eq!(
        parameter_default("ScheduleExpression").as_deref(),
        Some("rate(1 minute)")
    );
    assert_eq!(
        window, 60,
        "the default window equals the default one-minute schedule, so ticks hand over without a gap"
    );
}

/// The EBS key reaches the function, and its KMS statements exist only when a key is given (an
/// empty Resource would make IAM reject the whole policy, and the deploy fail).
#[test]
fn ebs_key_reaches_the_function_and_is_granted_only_when_given() {
    assert_eq!(
        env_vars()["EC2_EBS_KMS_KEY_ID"],
        json!({"Ref": "Ec2EbsKmsKeyId"})
    );
    assert_eq!(parameter_default("Ec2EbsKmsKeyId").as_deref(), Some(""));
    let key = json!({"Ref": "Ec2EbsKmsKeyId"});
    let statements = function()["Properties"]["Policies"][0]["Statement"]
        .as_array()
        .unwrap();
    let granting: Vec<&Value> = statements
        .iter()
        .filter(|s| s.to_string().contains(&key.to_string()))
        .collect();
    assert_eq!(granting.len(), 2, "use through EC2, and grants for EC2");
    for statement in granting {
        let branches = statement["Fn::If"].as_array().expect("behind a condition");
        assert_eq!(branches[0], "HasEbsKmsKey");
        assert_eq!(branches[1]["Resource"], key);
        assert_eq!(branches[2], json!({"Ref": "AWS::NoValue"}));
    }
}

/// The scale sets' own roles and keys: lists that default to empty, granted (to EC2 only, as
/// the runner role and Ec2EbsKmsKeyId are) only when given, each in its own statement.
#[test]
fn scale_set_roles_and_keys_are_granted_only_when_listed() {
    let statements = function()["Properties"]["Policies"][0]["Statement"]
        .as_array()
        .unwrap();
    for (parameter, condition, sids) in [
        (
            "ScaleSetInstanceProfileRoleArns",
            "HasScaleSetRoles",
            vec!["PassScaleSetRolesOnly"],
        ),
        (
            "ScaleSetEbsKmsKeyArns",
            "HasScaleSetEbsKmsKeys",
            vec![
                "UseScaleSetEbsKeysThroughEc2",
                "ScaleSetEbsKeyGrantsForEc2Only",
            ],
        ),
    ] {
        let p = &template()["Parameters"][parameter];
        assert_eq!(p["Type"], "CommaDelimitedList", "{parameter}");
        assert_eq!(parameter_default(parameter).as_deref(), Some(""));
        assert_eq!(
            template()["Conditions"][condition],
            json!({"Fn::Not": [{"Fn::Equals": [{"Fn::Join": [",", {"Ref": parameter}]}, ""]}]})
        );
        let reference = json!({"Ref": parameter}).to_string();
        let granting: Vec<&Value> = statements
            .iter()
            .filter(|s| s.to_string().contains(&reference))
            .collect();
        assert_eq!(granting.len(), sids.len(), "{parameter}");
        for (statement, sid) in granting.into_iter().zip(sids) {
            let branches = statement["Fn::If"].as_array().expect("behind a condition");
            assert_eq!(branches[0], condition);
            assert_eq!(branches[1]["Sid"], sid);
            assert_eq!(branches[1]["Resource"], json!({"Ref": parameter}));
            assert_eq!(branches[2], json!({"Ref": "AWS::NoValue"}));
        }
    }
    // The scale sets' grants have the conditions of the runner role's and Ec2EbsKmsKeyId's:
    // to EC2 alone.
    let by_sid = |sid: &str| -> &Value {
        let branches = statements
            .iter()
            .filter_map(|s| s["Fn::If"].as_array().map(|b| &b[1]));
        statements
            .iter()
            .chain(branches)
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
    };
    for (scale_sets, top_level) in [
        ("PassScaleSetRolesOnly", "PassRunnerRoleOnly"),
        ("UseScaleSetEbsKeysThroughEc2", "UseEbsKeyThroughEc2"),
        ("ScaleSetEbsKeyGrantsForEc2Only", "EbsKeyGrantsForEc2Only"),
    ] {
        assert_eq!(by_sid(scale_sets)["Action"], by_sid(top_level)["Action"]);
        assert_eq!(
            by_sid(scale_sets)["Condition"],
            by_sid(top_level)["Condition"]
        );
    }
}

/// The function refuses to start when a scale set names a key the stack does not grant, and
/// names the parameter to add it to; listed there (or as Ec2EbsKmsKeyId), it starts.
#[test]
fn a_scale_set_key_the_stack_does_not_grant_is_refused_at_start_up() {
    const TOP: &str = "arn:aws:kms:us-east-1:123456789012:key/1111aaaa-11aa-11aa-11aa-111111111111";
    const GPU: &str = "arn:aws:kms:us-east-1:123456789012:key/2222bbbb-22bb-22bb-22bb-222222222222";
    let start = |extra: &[(&str, &str)]| {
        let mut overrides: HashMap<String, String> =
            serde_json::from_value(dump()["samconfig_overrides"].clone()).unwrap();
        let scale_sets = format!(
            r#"[{{"RUNNER_SCALE_SET_NAME":"x64"}},
                {{"RUNNER_SCALE_SET_NAME":"gpu","EC2_EBS_KMS_KEY_ID":"{GPU}"}}]"#
        );
        overrides.insert("ScaleSets".to_owned(), scale_sets);
        for (k, v) in extra {
            overrides.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut env = resolve_environment(&overrides);
        env.insert(vars::AWS_REGION.to_owned(), "us-east-1".to_owned());
        let scale_sets = env.get(vars::SCALE_SETS).cloned();
        Deployment::from_lookup(|name| env.get(name).cloned(), scale_sets.as_deref())
            .map(|d| d.scale_sets().count())
            .map_err(|e| e.to_string())
    };
    for missing in [vec![], vec![("Ec2EbsKmsKeyId", TOP)]] {
        let err = start(&missing).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "SCALE_SETS[1] EC2_EBS_KMS_KEY_ID={GPU:?}: expected"
            )) && err.ends_with("add it to the template parameter ScaleSetEbsKmsKeyArns"),
            "{err}"
        );
    }
    assert_eq!(start(&[("ScaleSetEbsKmsKeyArns", GPU)]), Ok(2));
    assert_eq!(
        start(&[
            ("Ec2EbsKmsKeyId", TOP),
            ("ScaleSetEbsKmsKeyArns", &format!("{TOP},{GPU}"))
        ]),
        Ok(2)
    );
    // Your own key for every scale set needs no list.
    assert_eq!(start(&[("Ec2EbsKmsKeyId", GPU)]), Ok(2));
}

#[test]
fn ca_bundle_parameter_reaches_the_function_and_is_readable_only_when_given() {
    assert_eq!(
        env_vars()["GITHUB_CA_BUNDLE_SSM_PARAMETER"],
        json!({"Ref": "GitHubCaBundleSsmParameter"})
    );
    assert_eq!(
        parameter_default("GitHubCaBundleSsmParameter").as_deref(),
        Some("")
    );
    assert_eq!(
        template()["Conditions"]["HasCaBundleParameter"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "GitHubCaBundleSsmParameter"}, ""]}]})
    );
    let statements = function()["Properties"]["Policies"][0]["Statement"]
        .as_array()
        .unwrap();
    let naming: Vec<&Value> = statements
        .iter()
        .filter(|s| s.to_string().contains("GitHubCaBundleSsmParameter"))
        .collect();
    assert_eq!(naming.len(), 1, "only the SSM read names the parameter");
    assert_eq!(naming[0]["Sid"], "GitHubSecrets");
    assert_eq!(naming[0]["Action"], "ssm:GetParameter");
    let grants: Vec<&Value> = naming[0]["Resource"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.to_string().contains("GitHubCaBundleSsmParameter"))
        .collect();
    assert_eq!(
        grants,
        [&json!({"Fn::If": [
            "HasCaBundleParameter",
            {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${GitHubCaBundleSsmParameter}"},
            {"Ref": "AWS::NoValue"}
        ]})]
    );
}

/// Values the stack gives its own resources, for resolving the environment offline.
fn sample_attribute(reference: &Value) -> String {
    let text = reference.to_string();
    match text.as_str() {
        r#"{"Ref":"StateTable"}"# => "ghaec2-StateTable-ABCDEFGHIJKL".to_owned(),
        r#"{"Fn::GetAtt":["RunnerSecurityGroup","GroupId"]}"# => "sg-0fedcba9876543210".to_owned(),
        r#"{"Fn::GetAtt":["RunnerInstanceProfile","Arn"]}"# => {
            "arn:aws:iam::123456789012:instance-profile/ghaec2-RunnerInstanceProfile-ABC".to_owned()
        }
        _ => panic!("no sample for {text}"),
    }
}

/// Resolves the function's environment the way CloudFormation would for `parameters` (the
/// parameters' defaults, overridden by `overrides`): Ref, Fn::Join, Fn::If over the template's
/// conditions (Equals, Not, And, Or, Condition), AWS::NoValue.
fn resolve_environment(overrides: &HashMap<String, String>) -> HashMap<String, String> {
    let parameters: HashMap<String, String> = template()["Parameters"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|name| {
            overrides
                .get(name)
                .cloned()
                .or_else(|| parameter_default(name))
                .map(|v| (name.clone(), v))
        })
        .collect();
    let conditions = template()["Conditions"].as_object().unwrap();

    fn value(
        v: &Value,
        p: &HashMap<String, String>,
        c: &serde_json::Map<String, Value>,
    ) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(o) if o.contains_key("Ref") => {
                let name = o["Ref"].as_str().unwrap();
                match name {
                    "AWS::NoValue" => None,
                    _ => Some(p.get(name).cloned().unwrap_or_else(|| sample_attribute(v))),
                }
            }
            Value::Object(o) if o.contains_key("Fn::GetAtt") => Some(sample_attribute(v)),
            // ${Name} of a parameter (the only kind the environment's Fn::Sub uses).
            Value::Object(o) if o.contains_key("Fn::Sub") => {
                let mut text = o["Fn::Sub"].as_str().unwrap().to_owned();
                while let Some(start) = text.find("${") {
                    let end = start + text[start..].find('}').unwrap();
                    let name = &text[start + 2..end];
                    let value = p.get(name).unwrap_or_else(|| panic!("no parameter {name}"));
                    text.replace_range(start..=end, value);
                }
                Some(text)
            }
            Value::Object(o) if o.contains_key("Fn::Join") => {
                let args = o["Fn::Join"].as_array().unwrap();
                let separator = args[0].as_str().unwrap();
                // A list parameter's value is already the comma-joined list.
                assert_eq!(separator, ",", "only comma joins of list parameters");
                match &args[1] {
                    Value::Array(items) => Some(
                        items
                            .iter()
                            .filter_map(|item| value(item, p, c))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    list => value(list, p, c),
                }
            }
            Value::Object(o) if o.contains_key("Fn::If") => {
                let args = o["Fn::If"].as_array().unwrap();
                let branch = if condition(&c[args[0].as_str().unwrap()], p, c) {
                    1
                } else {
                    2
                };
                value(&args[branch], p, c)
            }
            other => panic!("cannot resolve {other}"),
        }
    }
    fn condition(
        v: &Value,
        p: &HashMap<String, String>,
        c: &serde_json::Map<String, Value>,
    ) -> bool {
        let (op, args) = v.as_object().unwrap().iter().next().unwrap();
        match op.as_str() {
            "Condition" => condition(&c[args.as_str().unwrap()], p, c),
            "Fn::Equals" => {
                let args = args.as_array().unwrap();
                value(&args[0], p, c) == value(&args[1], p, c)
            }
            "Fn::Not" => !condition(&args[0], p, c),
            "Fn::And" => args.as_array().unwrap().iter().all(|a| condition(a, p, c)),
            "Fn::Or" => args.as_array().unwrap().iter().any(|a| condition(a, p, c)),
            other => panic!("unknown condition function {other}"),
        }
    }

    env_vars()
        .iter()
        .filter_map(|(name, v)| value(v, &parameters, conditions).map(|v| (name.clone(), v)))
        .collect()
}

#[test]
fn samconfig_placeholders_make_a_configuration_ghaec2_accepts() {
    let overrides: HashMap<String, String> =
        serde_json::from_value(dump()["samconfig_overrides"].clone()).unwrap();
    let env = resolve_environment(&overrides);
    let mut lookup = env.clone();
    // Lambda sets the region.
    lookup.insert(vars::AWS_REGION.to_owned(), "us-east-1".to_owned());
    // No AMI to bake: an empty Ec2AmiId means the stock Amazon Linux 2023 image.
    assert_eq!(env[vars::EC2_AMI_ID], "", "samconfig.toml needs no AMI");
    let config = Config::from_lookup(|name| lookup.get(name).cloned())
        .unwrap_or_else(|e| panic!("the deployed environment is invalid:\n{e}\n{env:#?}"));

    // Created resources feed the environment when no own ones are given.
    assert_eq!(env[vars::EC2_SECURITY_GROUP_ID], "sg-0fedcba9876543210");
    assert!(env[vars::EC2_INSTANCE_PROFILE].contains(":instance-profile/"));
    assert!(
        !env.contains_key(vars::GITHUB_ACTIONS_FORCE_GHES),
        "absent unless forced"
    );
    assert_eq!(
        config.runtime.state_table_name,
        "ghaec2-StateTable-ABCDEFGHIJKL"
    );
    assert_eq!(
        config.github.scale_set_name,
        overrides["RunnerScaleSetName"]
    );

    // The template's defaults are ghaec2's own: a deployment behaves like the documented
    // defaults unless the user overrides them.
    let required_only: HashMap<String, String> = [
        (vars::GITHUB_CONFIG_URL, "https://github.com/my-org"),
        (vars::GITHUB_TOKEN, "ghp_placeholder"),
        (vars::RUNNER_SCALE_SET_NAME, "defaults"),
        (vars::EC2_SUBNET_ID, "subnet-0123456789abcdef0"),
        (vars::EC2_SECURITY_GROUP_ID, "sg-0123456789abcdef0"),
        (vars::EC2_AMI_ID, "ami-0123456789abcdef0"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    let defaults = Config::from_lookup(|name| required_only.get(name).cloned()).unwrap();
    assert_eq!(config.scaling.min_runners, defaults.scaling.min_runners);
    assert_eq!(
        parameter_default("MaxRunners").unwrap(),
        defaults.scaling.max_runners.to_string()
    );
    assert_eq!(config.runtime.drain_window, defaults.runtime.drain_window);
    assert_eq!(
        config.runtime.runner_boot_timeout,
        defaults.runtime.runner_boot_timeout
    );
    assert_eq!(
        config.runtime.runner_work_folder,
        defaults.runtime.runner_work_folder
    );
    assert_eq!(config.github.runner_group, defaults.github.runner_group);
    assert_eq!(
        parameter_default("Ec2InstanceType").unwrap(),
        defaults.ec2.instance_types.join(",")
    );
    assert_eq!(
        config.ec2.root_volume_size_gib,
        defaults.ec2.root_volume_size_gib
    );
    assert_eq!(
        config.ec2.associate_public_ip,
        defaults.ec2.associate_public_ip
    );
    assert_eq!(
        config.ec2.on_demand_failover,
        defaults.ec2.on_demand_failover
    );
}

#[test]
fn metrics_gain_the_alarms_metrics_only_with_alarms() {
    let metrics = |changes: &[(&str, &str)]| {
        let mut overrides: HashMap<String, String> =
            serde_json::from_value(dump()["samconfig_overrides"].clone()).unwrap();
        overrides.extend(
            changes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        resolve_environment(&overrides)["METRICS"].clone()
    };
    assert_eq!(metrics(&[]), "default");
    assert_eq!(metrics(&[("Metrics", "all")]), "all");
    let topic = "arn:aws:sns:us-east-1:123456789012:on-call";
    assert_eq!(
        metrics(&[("AlarmTopicArn", topic)]),
        "default,LaunchFailures,JobPickupLatency"
    );
    assert_eq!(
        metrics(&[("AlarmTopicArn", topic), ("Metrics", "none")]),
        "none,LaunchFailures,JobPickupLatency"
    );
    // ghaec2 reads each as the list the alarms need.
    for list in ["default", "none", "all", "default,Launches"] {
        let metrics = metrics(&[("AlarmTopicArn", topic), ("Metrics", list)]);
        let published = ghaec2::metrics::Published::parse(&metrics).unwrap();
        for name in ["LaunchFailures", "JobPickupLatency"] {
            assert!(published.includes(name), "{metrics}: {name}");
        }
    }
}

#[test]
fn iam_review_passes() {
    let out = check_template(&[]);
    assert!(
        out.status.success(),
        "scripts/check-template.py found:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
