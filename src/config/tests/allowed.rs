//! `EC2_EBS_KMS_KEY_ARNS_ALLOWED`: a scale set whose root volume key the deployment's IAM does
//! not cover is refused at start-up, named by its index; without the variable nothing is checked.

use super::*;

const KEY_A: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_B: &str = "arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef";
const KEY_C: &str = "arn:aws:kms:eu-west-1:123456789012:key/9999abcd-12ab-34cd-56ef-1234567890ab";

fn deploy(vars: &HashMap<&'static str, String>, list: &str) -> Result<Deployment, Vec<String>> {
    Deployment::from_lookup(|name| vars.get(name).cloned(), Some(list))
        .map_err(|e| e.problems().iter().map(ToString::to_string).collect())
}

/// Two scale sets: the first with the top-level key (if any), the second with `key`.
fn two_with(key: &str) -> String {
    format!(
        r#"[{{"RUNNER_SCALE_SET_NAME":"x64"}},
            {{"RUNNER_SCALE_SET_NAME":"gpu","EC2_EBS_KMS_KEY_ID":"{key}"}}]"#
    )
}

fn not_covered(index: Option<usize>, key: &str, listed: &str) -> String {
    let scale_set = index.map_or(String::new(), |i| format!("SCALE_SETS[{i}] "));
    format!(
        "{scale_set}EC2_EBS_KMS_KEY_ID={key:?}: expected a key the deployment's IAM lets the \
         function use (EC2_EBS_KMS_KEY_ARNS_ALLOWED {listed}); add it to the template \
         parameter ScaleSetEbsKmsKeyArns"
    )
}

#[test]
fn a_listed_key_is_accepted() {
    let vars = with(&[
        ("EC2_EBS_KMS_KEY_ID", KEY_A),
        ("EC2_EBS_KMS_KEY_ARNS_ALLOWED", &format!("{KEY_A}, {KEY_B}")),
    ]);
    let deployment = deploy(&vars, &two_with(KEY_B)).unwrap_or_else(|p| panic!("{p:?}"));
    let keys: Vec<Option<String>> = deployment
        .scale_sets()
        .map(|c| c.ec2.ebs_kms_key_id.clone())
        .collect();
    assert_eq!(keys, [Some(KEY_A.to_owned()), Some(KEY_B.to_owned())]);
}

#[test]
fn an_element_with_a_key_not_listed_is_refused_by_its_index() {
    let vars = with(&[
        ("EC2_EBS_KMS_KEY_ID", KEY_A),
        ("EC2_EBS_KMS_KEY_ARNS_ALLOWED", &format!("{KEY_A},")),
    ]);
    assert_eq!(
        deploy(&vars, &two_with(KEY_C)).err(),
        Some(vec![not_covered(Some(1), KEY_C, &format!("lists {KEY_A}"))])
    );
    // Keys match exactly, as IAM compares ARNs: another region's key is another key.
    let elsewhere = KEY_A.replace("eu-west-1", "eu-west-2");
    assert_eq!(
        deploy(&vars, &two_with(&elsewhere)).err(),
        Some(vec![not_covered(
            Some(1),
            &elsewhere,
            &format!("lists {KEY_A}")
        )])
    );
}

#[test]
fn set_but_blank_covers_no_key() {
    // What the template sets when it grants no key: "," (blank joined with an empty list).
    for allowed in [",", "", " "] {
        let vars = with(&[("EC2_EBS_KMS_KEY_ARNS_ALLOWED", allowed)]);
        assert_eq!(
            deploy(&vars, &two_with(KEY_B)).err(),
            Some(vec![not_covered(Some(1), KEY_B, "lists none")]),
            "{allowed:?}"
        );
        // Without a key, the account's default EBS key: nothing to cover.
        ok(&vars);
        deploy(
            &vars,
            r#"[{"RUNNER_SCALE_SET_NAME":"a"},{"RUNNER_SCALE_SET_NAME":"b"}]"#,
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
    }
}

#[test]
fn without_the_variable_nothing_is_checked() {
    let vars = with(&[("EC2_EBS_KMS_KEY_ID", KEY_A)]);
    deploy(&vars, &two_with(KEY_C)).unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(ok(&vars).ec2.ebs_kms_key_id.as_deref(), Some(KEY_A));
}

#[test]
fn one_scale_set_and_every_inheriting_element_are_checked_too() {
    let vars = with(&[
        ("EC2_EBS_KMS_KEY_ID", KEY_C),
        ("EC2_EBS_KMS_KEY_ARNS_ALLOWED", KEY_A),
    ]);
    assert_eq!(
        problems(&vars),
        [not_covered(None, KEY_C, &format!("lists {KEY_A}"))]
    );
    // The first element inherits the top-level key; the second unsets it.
    let list =
        r#"[{"RUNNER_SCALE_SET_NAME":"a"},{"RUNNER_SCALE_SET_NAME":"b","EC2_EBS_KMS_KEY_ID":""}]"#;
    assert_eq!(
        deploy(&vars, list).err(),
        Some(vec![not_covered(Some(0), KEY_C, &format!("lists {KEY_A}"))])
    );
}

#[test]
fn a_bad_list_is_reported_once_and_checks_nothing() {
    let vars = with(&[("EC2_EBS_KMS_KEY_ARNS_ALLOWED", "alias/runners")]);
    let bad = "EC2_EBS_KMS_KEY_ARNS_ALLOWED=\"alias/runners\": expected a comma-separated list \
               of KMS key ARNs; \"alias/runners\" is not one";
    assert_eq!(
        deploy(&vars, &two_with(KEY_B)).err(),
        Some(vec![bad.to_owned()])
    );
    // The deployment's variable, not an element's.
    let list =
        format!(r#"[{{"RUNNER_SCALE_SET_NAME":"a","EC2_EBS_KMS_KEY_ARNS_ALLOWED":"{KEY_A}"}}]"#);
    let refused = deploy(&with(&[]), &list).err().unwrap_or_default();
    assert!(
        refused[0].starts_with(
            "SCALE_SETS[0] \"EC2_EBS_KMS_KEY_ARNS_ALLOWED\": expected a per-scale-set variable; \
             EC2_EBS_KMS_KEY_ARNS_ALLOWED is the deployment's"
        ),
        "{refused:?}"
    );
}
