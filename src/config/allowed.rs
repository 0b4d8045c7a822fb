//! What the deployment's IAM lets the function use, as the template tells it, so a scale set
//! that names something else is refused at start-up rather than failing at its first launch.
//! The function cannot read its own policy without IAM calls (and permissions to make them);
//! the template knows the policy it writes, and lists it.
//!
//! Only KMS keys can be checked: IAM authorizes a key's use on the key's ARN, which is what
//! `EC2_EBS_KMS_KEY_ID` holds. An instance profile is authorized through the role inside it
//! (`iam:PassRole`), which its name or ARN does not tell without `iam:GetInstanceProfile`, and
//! one role may sit in several profiles; so profiles are not checked (`docs/deploy.md`).

use super::ec2::is_kms_key_arn;
use super::env::{Env, split_list};
use super::vars::{EC2_EBS_KMS_KEY_ARNS_ALLOWED, EC2_EBS_KMS_KEY_ID};

/// The template parameter that lists the scale sets' own root volume keys.
const EBS_KEYS_PARAMETER: &str = "ScaleSetEbsKmsKeyArns";

/// Records a problem when the deployment lists the keys it may use and `key` is not one.
pub(crate) fn check_ebs_key(env: &mut Env<'_>, key: &str) {
    let Some(allowed) = allowed_ebs_keys(env) else {
        return;
    };
    if allowed.iter().any(|k| k == key) {
        return;
    }
    let listed = match allowed.as_slice() {
        [] => "lists none".to_owned(),
        keys => format!("lists {}", keys.join(", ")),
    };
    env.invalid(
        EC2_EBS_KMS_KEY_ID,
        key,
        format!(
            "a key the deployment's IAM lets the function use ({EC2_EBS_KMS_KEY_ARNS_ALLOWED} \
             {listed}); add it to the template parameter {EBS_KEYS_PARAMETER}"
        ),
    );
}

/// The keys of [`EC2_EBS_KMS_KEY_ARNS_ALLOWED`]; `None` when it is unset (a deployment that
/// does not say: nothing is checked) or invalid (recorded). Set but blank, unlike other
/// variables, means no key: the template sets it even when it grants none.
fn allowed_ebs_keys(env: &mut Env<'_>) -> Option<Vec<String>> {
    if !env.is_present(EC2_EBS_KMS_KEY_ARNS_ALLOWED) {
        return None;
    }
    // The template joins the keys it grants with commas: "," when there is none.
    let value = env.get(EC2_EBS_KMS_KEY_ARNS_ALLOWED).unwrap_or_default();
    if split_list(&value).is_empty() {
        return Some(Vec::new());
    }
    env.list(EC2_EBS_KMS_KEY_ARNS_ALLOWED, "KMS key ARNs", is_kms_key_arn)
}
