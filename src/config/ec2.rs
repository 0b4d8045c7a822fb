//! EC2 settings for the runner instances. ghaec2 builds its own launch template from these
//! (`docs/design.md`, "Instances"), so each is checked for shape here, before any AWS call.

use super::allowed;
use super::env::{Env, split_list};
use super::vars::*;

/// Where and how runner instances are launched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Settings {
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION` (e.g. `eu-west-1`). Default: none, leaving the
    /// region to the AWS SDK's chain (profile); Lambda always sets `AWS_REGION`.
    pub region: Option<String>,
    /// `EC2_SUBNET_ID`: comma-separated `subnet-…` ids the fleet may launch into. Required.
    pub subnet_ids: Vec<String>,
    /// `EC2_SECURITY_GROUP_ID`: comma-separated `sg-…` ids. Required.
    pub security_group_ids: Vec<String>,
    /// `EC2_KEY_PAIR_NAME`: an EC2 key pair for SSH access. Default: none.
    pub key_pair_name: Option<String>,
    /// `EC2_INSTANCE_TYPE`: comma-separated `family.size` types, in order of preference.
    /// Default `m7i.large,m6i.large,m5.large`.
    pub instance_types: Vec<String>,
    /// `EC2_AMI_ID`: `ami-` + 8 to 17 hex digits, or `resolve:ssm:/parameter/name`, passed to
    /// the launch template as given (EC2 resolves the parameter at launch). Default: none,
    /// meaning the current Amazon Linux 2023 for the instance types' architecture
    /// ([`crate::aws::image`]), whose runner the user-data installs at boot.
    pub ami_id: Option<String>,
    /// `EC2_EBS_KMS_KEY_ID`: ARN of the customer managed KMS key that encrypts the root volume.
    /// Default: none (the account's default EBS key, or the AMI snapshot's key).
    pub ebs_kms_key_id: Option<String>,
    /// `EC2_SPOT_PRICE`: maximum spot price per instance hour in USD, a positive decimal such
    /// as `0.05`. Default: none (capped at the on-demand price).
    pub spot_max_price: Option<String>,
    /// `EC2_INSTANCE_PROFILE`: instance profile (name or ARN) for the instances; it needs
    /// access to the JIT config. Default: none.
    pub instance_profile: Option<InstanceProfile>,
    /// `EC2_ASSOCIATE_PUBLIC_IP`: give instances a public IPv4 address. Default false.
    pub associate_public_ip: bool,
    /// `EC2_ROOT_VOLUME_SIZE_GIB`: encrypted gp3 root volume size, 8 to 16384. Default 30.
    pub root_volume_size_gib: u32,
    /// `EC2_ON_DEMAND_FAILOVER`: launch on-demand when spot capacity is short. Default true.
    pub on_demand_failover: bool,
}

/// An IAM instance profile, as the launch template's `IamInstanceProfile` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceProfile {
    /// The profile's name.
    Name(String),
    /// `arn:aws:iam::123456789012:instance-profile/…` (any partition).
    Arn(String),
}

const DEFAULT_INSTANCE_TYPES: [&str; 3] = ["m7i.large", "m6i.large", "m5.large"];
const DEFAULT_ROOT_VOLUME_SIZE_GIB: u32 = 30;

impl Ec2Settings {
    /// Reads the EC2 settings; `None` only after recording a problem.
    pub(crate) fn from_env(env: &mut Env<'_>) -> Option<Self> {
        let region = region(env);
        let subnet_ids = required_list(
            env,
            EC2_SUBNET_ID,
            "the subnets to launch runners into, as comma-separated subnet-… ids",
            "subnet ids (subnet- followed by 8 to 17 hex digits)",
            |id| is_resource_id(id, "subnet-"),
        );
        let security_group_ids = required_list(
            env,
            EC2_SECURITY_GROUP_ID,
            "the security groups of the runners, as comma-separated sg-… ids",
            "security group ids (sg- followed by 8 to 17 hex digits)",
            |id| is_resource_id(id, "sg-"),
        );
        let key_pair_name = env.parsed(
            EC2_KEY_PAIR_NAME,
            "an EC2 key pair name (at most 255 ASCII characters)",
            |v| {
                (v.len() <= 255 && v.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
                    .then(|| v.to_owned())
            },
        );
        let instance_types = env
            .list(
                EC2_INSTANCE_TYPE,
                "instance types of the form family.size, such as m7i.large",
                is_instance_type,
            )
            .unwrap_or_else(|| DEFAULT_INSTANCE_TYPES.map(str::to_owned).to_vec());
        let ami_id = env.parsed(
            EC2_AMI_ID,
            "an AMI id (ami- followed by 8 to 17 hex digits) or resolve:ssm:/parameter/name",
            |v| is_ami(v).then(|| v.to_owned()),
        );
        let ebs_kms_key_id = env.parsed(
            EC2_EBS_KMS_KEY_ID,
            "a KMS key ARN such as arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            |v| is_kms_key_arn(v).then(|| v.to_owned()),
        );
        if let Some(key) = &ebs_kms_key_id {
            allowed::check_ebs_key(env, key);
        }
        let spot_max_price = env.parsed(
            EC2_SPOT_PRICE,
            "a positive price in USD per hour, such as 0.05",
            |v| is_positive_decimal(v).then(|| v.to_owned()),
        );
        let instance_profile = env.parsed(
            EC2_INSTANCE_PROFILE,
            "an instance profile name (up to 128 of letters, digits and +=,.@_-) or an ARN \
             such as arn:aws:iam::123456789012:instance-profile/name",
            instance_profile,
        );
        let associate_public_ip = env.boolean(EC2_ASSOCIATE_PUBLIC_IP, false);
        let root_volume_size_gib = env.number(
            EC2_ROOT_VOLUME_SIZE_GIB,
            DEFAULT_ROOT_VOLUME_SIZE_GIB,
            8..=16384,
        );
        let on_demand_failover = env.boolean(EC2_ON_DEMAND_FAILOVER, true);
        Some(Self {
            region,
            subnet_ids: subnet_ids?,
            security_group_ids: security_group_ids?,
            key_pair_name,
            instance_types,
            ami_id,
            ebs_kms_key_id,
            spot_max_price,
            instance_profile,
            associate_public_ip: associate_public_ip?,
            root_volume_size_gib: root_volume_size_gib?,
            on_demand_failover: on_demand_failover?,
        })
    }
}

/// `AWS_REGION`, else `AWS_DEFAULT_REGION`, checked for the `xx-name-N` shape.
pub(crate) fn region(env: &mut Env<'_>) -> Option<String> {
    let variable = if env.get(AWS_REGION).is_some() {
        AWS_REGION
    } else {
        AWS_DEFAULT_REGION
    };
    env.parsed(variable, "an AWS region such as eu-west-1", |v| {
        is_region(v).then(|| v.to_owned())
    })
}

fn required_list(
    env: &mut Env<'_>,
    variable: &'static str,
    what: &str,
    expected: &str,
    valid: impl Fn(&str) -> bool,
) -> Option<Vec<String>> {
    // Only commas and blanks is as good as unset.
    let items = env.get(variable).map(|v| split_list(&v));
    if items.as_ref().is_none_or(Vec::is_empty) {
        env.missing(variable, what);
        return None;
    }
    env.list(variable, expected, valid)
}

/// `prefix` + 8 to 17 lowercase hex digits (EC2's short and long id formats).
fn is_resource_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|hex| (8..=17).contains(&hex.len()) && hex.bytes().all(is_lower_hex))
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// `ami-…`, or `resolve:ssm:` + a parameter name with an optional `:version` or `:label`.
fn is_ami(ami: &str) -> bool {
    if let Some(parameter) = ami.strip_prefix("resolve:ssm:") {
        return !parameter.is_empty()
            && parameter.len() <= 2048
            && parameter
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-/:".contains(&b));
    }
    is_resource_id(ami, "ami-")
}

/// `arn:<partition>:kms:<region>:<account>:key/<id>`: IAM grants name keys by ARN, and an
/// alias would leave the function's grant pointing at nothing.
pub(super) fn is_kms_key_arn(value: &str) -> bool {
    let fields: Vec<&str> = value.splitn(6, ':').collect();
    matches!(fields.as_slice(), ["arn", partition, "kms", region, account, resource]
    if partition.starts_with("aws")
        && is_region(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("key/").is_some_and(|id| {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }))
}

/// `family.size`: e.g. `m7i.large`, `c7gn.16xlarge`, `m7i-flex.large`, `u-6tb1.metal`,
/// `r8g.metal-24xl`.
fn is_instance_type(instance_type: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    instance_type.split_once('.').is_some_and(|(family, size)| {
        family.starts_with(|c: char| c.is_ascii_lowercase()) && part(family) && part(size)
    })
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `us-isob-east-1`.
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Digits with at most one `.` between digits, and not zero.
fn is_positive_decimal(value: &str) -> bool {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction) && value.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

fn instance_profile(value: &str) -> Option<InstanceProfile> {
    if value.starts_with("arn:") {
        // arn:<partition>:iam::<account>:instance-profile/<path/>name
        let fields: Vec<&str> = value.splitn(6, ':').collect();
        let ok = matches!(fields.as_slice(), [_, partition, "iam", "", account, resource]
        if partition.starts_with("aws")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("instance-profile/").is_some_and(|name| {
                name.rsplit('/').next().is_some_and(is_profile_name)
            }));
        return ok.then(|| InstanceProfile::Arn(value.to_owned()));
    }
    is_profile_name(value).then(|| InstanceProfile::Name(value.to_owned()))
}

/// IAM names: 1 to 128 of letters, digits and `+=,.@_-`.
fn is_profile_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

#[cfg(test)]
#[path = "ec2_tests.rs"]
mod tests;
