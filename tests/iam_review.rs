//! The IAM review of `scripts/check-template.py` can fail: each test feeds it the real
//! `template.yaml` with one statement added or changed (through `--template PATH`) and expects
//! the finding; controls show that the real template, and harmless additions to it, pass.
//!
//! Mutants start from `--json` of the current template, so they follow edits of template.yaml.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/template_script.rs"]
mod template_script;

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use template_script::{check_template, dump, root};

const INSTANCES: &str = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*";

/// EC2's principals in the stack's partition, as the template names them.
fn ec2_principals() -> Value {
    json!({"Fn::FindInMap": ["Partitions", {"Ref": "AWS::Partition"}, "Ec2Principals"]})
}

/// The real template with short-form tags expanded.
fn real_template() -> &'static Value {
    &dump()["template"]
}

/// The review of `template`: (passed, stderr).
fn review(template: &Value) -> (bool, String) {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "ghaec2-iam-review-{}-{}.json",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, serde_json::to_vec(template).unwrap()).unwrap();
    let out = check_template(&["--template", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => (true, stderr),
        Some(1) => (false, stderr),
        other => panic!("review crashed ({other:?}) instead of reporting:\n{stderr}"),
    }
}

fn function_mut(template: &mut Value) -> &mut Value {
    let function = &mut template["Resources"]["ScalerFunction"];
    assert!(function.is_object(), "template.yaml has no ScalerFunction");
    function
}

/// The function's inline policy statements.
fn function_statements(template: &mut Value) -> &mut Vec<Value> {
    function_mut(template)["Properties"]["Policies"]
        .as_array_mut()
        .and_then(|p| p.iter_mut().find(|d| d.get("Statement").is_some()))
        .and_then(|d| d["Statement"].as_array_mut())
        .expect("ScalerFunction has an inline policy with a Statement list")
}

/// The real template plus `statement` in the function's policy.
fn with_function_statement(statement: Value) -> Value {
    let mut template = real_template().clone();
    function_statements(&mut template).push(statement);
    template
}

fn allow(sid: &str, action: Value, resource: Value) -> Value {
    json!({"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource})
}

fn assert_fails(template: &Value, expected: &str) {
    let (passed, stderr) = review(template);
    assert!(!passed, "the review passed, expected {expected:?}");
    assert!(
        stderr.contains(expected),
        "expected a finding with {expected:?}, got:\n{stderr}"
    );
}

fn assert_passes(template: &Value) {
    let (passed, stderr) = review(template);
    assert!(passed, "the review failed:\n{stderr}");
}

#[test]
fn the_real_template_passes_as_yaml_and_as_json() {
    let out = check_template(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = root().join("template.yaml");
    let out = check_template(&["--template", yaml.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The JSON round trip the mutants take loses nothing the review needs.
    assert_passes(real_template());
}

#[test]
fn mutating_actions_on_everything_fail() {
    let everything_in_account = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:*";
    let cases = [
        ("ec2:TerminateInstances", json!("*")),
        ("ec2:CreateTags", json!("*")),
        ("ec2:RunInstances", json!(["*"])),
        (
            "ec2:TerminateInstances",
            json!({"Fn::Sub": everything_in_account}),
        ),
        ("ssm:PutParameter", json!("*")),
        ("ssm:DeleteParameter", json!("*")),
        ("dynamodb:PutItem", json!("*")),
        ("dynamodb:DeleteTable", json!("*")),
        // Hidden in a condition's branch.
        (
            "ec2:TerminateInstances",
            json!({"Fn::If": ["CreateRunnerRole", "*", {"Ref": "AWS::NoValue"}]}),
        ),
    ];
    for (action, resource) in cases {
        let template = with_function_statement(allow("Mutant", json!(action), resource.clone()));
        assert_fails(&template, &format!("Mutant: {action} on Resource '*'"));
    }
    // A tag condition does not make "*" acceptable either.
    let mut tagged = allow("Mutant", json!("ec2:TerminateInstances"), json!("*"));
    tagged["Condition"] = json!({"StringEquals": {"ec2:ResourceTag/ghaec2:managed-by": "ghaec2"}});
    assert_fails(
        &with_function_statement(tagged),
        "Mutant: ec2:TerminateInstances on Resource '*'",
    );
}

#[test]
fn instance_actions_without_a_tag_condition_fail() {
    for action in [
        "ec2:TerminateInstances",
        "ec2:StopInstances",
        "EC2:terminateinstances",
    ] {
        let statement = allow(
            "Mutant",
            json!(action),
            json!({"Fn::Sub": INSTANCES.replace("instance/*", "instance/i-*")}),
        );
        assert_fails(
            &with_function_statement(statement),
            &format!("Mutant: {action} on instances without a ghaec2 tag condition"),
        );
    }
    // Changing a launch template changes what every later launch runs.
    for action in [
        "ec2:CreateLaunchTemplateVersion",
        "ec2:DeleteLaunchTemplate",
    ] {
        let statement = allow(
            "Mutant",
            json!(action),
            json!({"Fn::Sub": INSTANCES.replace("instance/*", "launch-template/*")}),
        );
        assert_fails(
            &with_function_statement(statement),
            &format!("Mutant: {action} on launch templates without a ghaec2 tag condition"),
        );
    }
    // A condition on something other than ghaec2's tags is no scope.
    let mut statement = allow(
        "Mutant",
        json!("ec2:TerminateInstances"),
        json!({"Fn::Sub": INSTANCES}),
    );
    statement["Condition"] = json!({"StringEquals": {"aws:RequestedRegion": "us-east-1"}});
    assert_fails(
        &with_function_statement(statement),
        "without a ghaec2 tag condition",
    );
}

#[test]
fn ssm_and_dynamodb_outside_their_resources_fail() {
    let other_table = json!({"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/other"});
    assert_fails(
        &with_function_statement(allow("Mutant", json!("dynamodb:DeleteItem"), other_table)),
        "Mutant: dynamodb:DeleteItem on something other than the state table",
    );
    let other_parameter = json!({"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/prod/db-password"});
    assert_fails(
        &with_function_statement(allow("Mutant", json!("ssm:GetParameter"), other_parameter)),
        "Mutant: ssm:GetParameter on",
    );
    // The runner role: only its own JIT item, only Get/Delete.
    let mut template = real_template().clone();
    runner_statement(&mut template, 0)["Action"] = json!(["dynamodb:GetItem", "dynamodb:PutItem"]);
    assert_fails(&template, "only GetItem/DeleteItem, or PutItem alone");
    let mut template = real_template().clone();
    runner_statement(&mut template, 0)["Condition"] = json!({});
    assert_fails(
        &template,
        "runner role not limited to jit#${ec2:SourceInstanceARN}",
    );
}

/// A statement of the runner role's inline policy.
fn runner_statement(template: &mut Value, index: usize) -> &mut Value {
    let statement = &mut template["Resources"]["RunnerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"][index];
    assert!(statement.is_object(), "RunnerRole has no statement {index}");
    statement
}

/// The boot-failure record: PutItem of exactly its attributes, in the instance's own partition.
#[test]
fn widened_boot_failure_writes_fail() {
    let boot_failure = |template: &mut Value| -> Value {
        let statement = runner_statement(template, 1).clone();
        assert_eq!(statement["Sid"], "OwnBootFailureItemOnly");
        statement
    };
    let widen = |change: &dyn Fn(&mut Value)| {
        let mut template = real_template().clone();
        let mut statement = boot_failure(&mut template);
        change(&mut statement);
        *runner_statement(&mut template, 1) = statement;
        template
    };
    let only = "ForAllValues:StringEquals";
    // Another attribute: the JIT config itself, written over by the runner.
    let extra = widen(&|s| {
        s["Condition"][only]["dynamodb:Attributes"]
            .as_array_mut()
            .unwrap()
            .push(json!("jit_config"));
    });
    assert_fails(
        &extra,
        "runner role PutItem not limited to the boot-failure attributes",
    );
    // No attribute limit at all.
    let unlimited = widen(&|s| {
        s["Condition"][only]
            .as_object_mut()
            .unwrap()
            .remove("dynamodb:Attributes");
    });
    assert_fails(
        &unlimited,
        "runner role PutItem not limited to the boot-failure attributes",
    );
    // Any partition: another runner's JIT item, the lease, the ledger.
    let anywhere = widen(&|s| {
        s["Condition"][only]
            .as_object_mut()
            .unwrap()
            .remove("dynamodb:LeadingKeys");
    });
    assert_fails(
        &anywhere,
        "runner role not limited to jit#${ec2:SourceInstanceARN}",
    );
    // UpdateItem beside PutItem (an update names no attribute list of the whole item).
    let update = widen(&|s| s["Action"] = json!(["dynamodb:PutItem", "dynamodb:UpdateItem"]));
    assert_fails(&update, "only GetItem/DeleteItem, or PutItem alone");
    // Control: the same statement, unchanged, passes.
    assert_passes(&widen(&|_| {}));
}

/// Launches may use another account's subnets and security groups (a VPC shared through RAM)
/// and public images; nothing else may name another account.
#[test]
fn other_accounts_beyond_shared_vpc_and_images_fail() {
    let any_account = |kind: &str| json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:ec2:${{AWS::Region}}:*:{kind}/*")});
    for kind in [
        "instance",
        "network-interface",
        "volume",
        "launch-template",
        "key-pair",
    ] {
        let mut statement = allow("Mutant", json!("ec2:RunInstances"), any_account(kind));
        statement["Condition"] =
            json!({"StringEquals": {"aws:RequestTag/ghaec2:managed-by": "ghaec2"}});
        assert_fails(
            &with_function_statement(statement),
            &format!("Mutant: ec2:RunInstances on {kind} of another account"),
        );
    }
    // An image of no account is public; one of any account is not what the review allows.
    let any_image = allow("Mutant", json!("ec2:RunInstances"), any_account("image"));
    assert_fails(
        &with_function_statement(any_image),
        "Mutant: ec2:RunInstances on image of another account",
    );
    // Controls: shared subnets and security groups, public images.
    for kind in ["subnet", "security-group"] {
        let statement = allow("Fine", json!("ec2:RunInstances"), any_account(kind));
        assert_passes(&with_function_statement(statement));
    }
    let public = json!({"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}::image/*"});
    assert_passes(&with_function_statement(allow(
        "Fine",
        json!("ec2:RunInstances"),
        public,
    )));
}

/// KMS only on the configured keys, only through a service of this partition, grants only for
/// AWS resources; no name pinned to the aws partition.
#[test]
fn kms_and_partition_pinned_names_fail() {
    let key = json!({"Ref": "Ec2EbsKmsKeyId"});
    let via_ec2 = json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "ec2.${AWS::Region}.${AWS::URLSuffix}"}}});
    let mut grant = allow("Mutant", json!("kms:CreateGrant"), key.clone());
    grant["Condition"] = via_ec2.clone();
    assert_fails(
        &with_function_statement(grant),
        "Mutant: kms:CreateGrant without kms:GrantIsForAWSResource true",
    );
    let direct = allow("Mutant", json!("kms:Decrypt"), key.clone());
    assert_fails(
        &with_function_statement(direct),
        "Mutant: kms:Decrypt without kms:ViaService",
    );
    let mut plaintext = allow("Mutant", json!("kms:GenerateDataKey"), key.clone());
    plaintext["Condition"] = via_ec2.clone();
    assert_fails(
        &with_function_statement(plaintext),
        "Mutant: unexpected KMS action kms:GenerateDataKey",
    );
    let mut any_key = allow("Mutant", json!("kms:Decrypt"), json!("*"));
    any_key["Condition"] = via_ec2.clone();
    assert_fails(&with_function_statement(any_key), "not a configured key");
    // The aws partition's endpoint suffix, hard-coded.
    let mut pinned = allow("Mutant", json!("kms:Decrypt"), key.clone());
    pinned["Condition"] = json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "ec2.${AWS::Region}.amazonaws.com"}}});
    assert_fails(
        &with_function_statement(pinned),
        "Mutant: hard-coded amazonaws.com",
    );
    // The runner role trusting the aws partition's EC2 only.
    let mut template = real_template().clone();
    template["Resources"]["RunnerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
        ["Principal"] = json!({"Service": "ec2.amazonaws.com"});
    assert_fails(&template, "RunnerRole/?: hard-coded amazonaws.com");
    // A list parameter of something else than keys.
    let mut roles = allow(
        "Mutant",
        json!("kms:Decrypt"),
        json!({"Ref": "ScaleSetInstanceProfileRoleArns"}),
    );
    roles["Condition"] = via_ec2.clone();
    assert_fails(&with_function_statement(roles), "not a configured key");
    // Control: the real EBS statements' shape passes, for the top-level key and the list.
    for key in [key, json!({"Ref": "ScaleSetEbsKmsKeyArns"})] {
        let mut fine = allow("Fine", json!(["kms:Decrypt", "kms:ReEncryptTo"]), key);
        fine["Condition"] = via_ec2.clone();
        assert_passes(&with_function_statement(fine));
    }
}

#[test]
fn pass_role_to_anything_but_the_runner_role_fails() {
    let ec2_only = json!({"StringEquals": {"iam:PassedToService": ec2_principals()}});
    let cases = [
        (
            "iam:PassRole",
            json!("arn:aws:iam::123456789012:role/admin"),
        ),
        (
            "iam:PassRole",
            json!({"Fn::GetAtt": ["SomeOtherRole", "Arn"]}),
        ),
        ("iam:PassRole", json!("*")),
        (
            "IAM:passrole",
            json!("arn:aws:iam::123456789012:role/admin"),
        ),
        (
            "iam:PassRole",
            json!([{"Fn::GetAtt": ["RunnerRole", "Arn"]}, "arn:aws:iam::123456789012:role/admin"]),
        ),
        // A parameter that is not one of the role lists, however well its value is checked.
        ("iam:PassRole", json!({"Ref": "Ec2EbsKmsKeyId"})),
    ];
    for (action, resource) in cases {
        let mut statement = allow("Mutant", json!(action), resource);
        statement["Condition"] = ec2_only.clone();
        assert_fails(
            &with_function_statement(statement),
            "Mutant: iam:PassRole for",
        );
    }
    // The runner role, but to any service.
    let mut template = real_template().clone();
    let pass = function_statements(&mut template)
        .iter_mut()
        .find(|s| s["Action"] == json!("iam:PassRole"))
        .expect("the function may pass the runner role");
    pass["Condition"] = json!({});
    assert_fails(
        &template,
        "iam:PassRole without iam:PassedToService of the Partitions mapping's Ec2Principals",
    );
    // To any service in the partition of the mapping is not EC2 either.
    let mut template = real_template().clone();
    let pass = function_statements(&mut template)
        .iter_mut()
        .find(|s| s["Action"] == json!("iam:PassRole"))
        .unwrap();
    pass["Condition"] = json!({"StringLike": {"iam:PassedToService": "*"}});
    assert_fails(&template, "iam:PassRole without iam:PassedToService");
}

#[test]
fn action_wildcards_fail() {
    let table = json!({"Fn::GetAtt": ["StateTable", "Arn"]});
    for action in [
        json!("*"),
        json!("dynamodb:*"),
        json!("dynamodb:Put*"),
        json!("dynamodb:?utItem"),
        json!(["dynamodb:GetItem", "dynamodb:*Item"]),
        json!("ec2:*"),
        json!("iam:Pass*"),
    ] {
        let template = with_function_statement(allow("Mutant", action.clone(), table.clone()));
        assert_fails(&template, "Mutant: action wildcard");
    }
}

#[test]
fn statements_the_review_cannot_see_into_fail() {
    let mut not_action = json!({"Sid": "Mutant", "Effect": "Allow", "NotAction": "iam:*",
        "Resource": {"Fn::GetAtt": ["StateTable", "Arn"]}});
    assert_fails(
        &with_function_statement(not_action.clone()),
        "Mutant: NotAction grants everything not listed",
    );
    not_action["Action"] = json!("dynamodb:GetItem");
    not_action.as_object_mut().unwrap().remove("NotAction");
    not_action["NotResource"] = json!({"Fn::GetAtt": ["StateTable", "Arn"]});
    assert_fails(
        &with_function_statement(not_action),
        "Mutant: NotResource grants everything not listed",
    );
    for policy in [
        json!("AdministratorAccess"),
        json!("arn:aws:iam::aws:policy/AmazonEC2FullAccess"),
        // A managed policy whose name contains "Statement" is still not a statement list.
        json!("MyStatementPolicy"),
        json!({"DynamoDBCrudPolicy": {"TableName": "other"}}),
    ] {
        let mut template = real_template().clone();
        function_mut(&mut template)["Properties"]["Policies"]
            .as_array_mut()
            .unwrap()
            .push(policy);
        assert_fails(&template, "is not an inline statement list");
    }
}

#[test]
fn plaintext_secrets_on_the_function_fail() {
    for variable in ["GITHUB_TOKEN", "GITHUB_APP_PRIVATE_KEY"] {
        let mut template = real_template().clone();
        function_mut(&mut template)["Properties"]["Environment"]["Variables"][variable] =
            json!("ghp_plaintext");
        assert_fails(&template, &format!("sets {variable}"));
    }
}

/// A parameter that names a resource (a Ref, or ${Name} in a Fn::Sub) must refuse wildcards
/// through its AllowedPattern, item by item for a list: else a parameter value could widen
/// PassRole, KMS or SSM to everything.
#[test]
fn resource_parameters_that_admit_wildcards_fail() {
    let cases = [
        // The scale sets' roles: any role name, "*" among them.
        (
            "ScaleSetInstanceProfileRoleArns",
            Some("^$|^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"),
            "'arn:aws:iam::123456789012:role/path/runner*'",
        ),
        // Any account.
        (
            "Ec2InstanceProfileRoleArn",
            Some("^$|^arn:aws:iam::[0-9*]{1,12}:role/[a-z/]+$"),
            "'arn:aws:iam::*:role/path/runner'",
        ),
        ("ScaleSetEbsKmsKeyArns", None, "'*'"),
        // Any key of the account.
        (
            "Ec2EbsKmsKeyId",
            Some("^$|^arn:aws:kms:[a-z0-9-]+:[0-9]{12}:key/[^/]+$"),
            "'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab*'",
        ),
        // A parameter path inside a Fn::Sub: every parameter under /ghaec2/.
        (
            "GitHubTokenSsmParameter",
            Some("^$|^/[a-zA-Z0-9_.*/-]+$"),
            "'/ghaec2/github-token*'",
        ),
    ];
    for (parameter, pattern, admitted) in cases {
        let mut template = real_template().clone();
        let definition = template["Parameters"][parameter]
            .as_object_mut()
            .unwrap_or_else(|| panic!("template.yaml has no parameter {parameter}"));
        match pattern {
            Some(pattern) => definition.insert("AllowedPattern".to_owned(), json!(pattern)),
            None => definition.remove("AllowedPattern"),
        };
        assert_fails(
            &template,
            &format!(
                "resource from parameter {parameter}, whose AllowedPattern admits the \
                 wildcard {admitted}"
            ),
        );
    }
    // Control: a stricter pattern than the real one still passes.
    let mut template = real_template().clone();
    template["Parameters"]["ScaleSetEbsKmsKeyArns"]["AllowedPattern"] =
        json!("^$|^arn:aws:kms:us-east-1:123456789012:key/[0-9a-f-]{36}$");
    assert_passes(&template);
}

/// Controls: additions that are scoped as the review asks pass, so the failures above come
/// from the mutation and not from any change at all.
#[test]
fn scoped_additions_pass() {
    let mut tagged = allow(
        "Fine",
        json!(["ec2:TerminateInstances", "ec2:StopInstances"]),
        json!({"Fn::Sub": INSTANCES}),
    );
    tagged["Condition"] = json!({"StringEquals": {"ec2:ResourceTag/ghaec2:managed-by": "ghaec2"}});
    let mut pass_runner = allow(
        "Fine",
        json!("iam:PassRole"),
        json!({"Fn::GetAtt": ["RunnerRole", "Arn"]}),
    );
    pass_runner["Condition"] = json!({"StringEquals": {"iam:PassedToService": ec2_principals()}});
    let mut pass_listed = pass_runner.clone();
    pass_listed["Resource"] = json!([
        {"Ref": "Ec2InstanceProfileRoleArn"},
        {"Ref": "ScaleSetInstanceProfileRoleArns"}
    ]);
    let deny_everything = json!({"Sid": "Fine", "Effect": "Deny", "Action": "*", "Resource": "*"});
    for statement in [
        tagged,
        pass_runner,
        pass_listed,
        deny_everything,
        allow("Fine", json!("ec2:DescribeInstances"), json!("*")),
        allow("Fine", json!("ec2:Describe*"), json!("*")),
        allow(
            "Fine",
            json!("dynamodb:GetItem"),
            json!({"Fn::GetAtt": ["StateTable", "Arn"]}),
        ),
    ] {
        assert_passes(&with_function_statement(statement));
    }
}
