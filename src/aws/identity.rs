//! [`InstanceArns`]: how ghaec2 names an instance by ARN, which the JIT item key and the
//! instance role's IAM policy share (see [`super::jit_store`]).

use super::error::{Detail, from_sdk, malformed};
use super::schema::JIT_PREFIX;
use crate::ports::PortError;

/// Builds instance ARNs (`arn:<partition>:ec2:<region>:<account>:instance/<id>`) for one
/// region and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceArns {
    partition: String,
    region: String,
    account_id: String,
}

impl InstanceArns {
    /// For `region` and the 12-digit `account_id`; the partition follows from the region.
    pub fn new(region: impl Into<String>, account_id: impl Into<String>) -> Self {
        let region = region.into();
        Self {
            partition: partition(&region).to_owned(),
            region,
            account_id: account_id.into(),
        }
    }

    /// Learns the account from the owner of a security group ghaec2 is configured with, so
    /// no STS client is needed (needs `ec2:DescribeSecurityGroups`). The region is the EC2
    /// client's.
    pub async fn discover(
        ec2: &aws_sdk_ec2::Client,
        security_group_id: &str,
    ) -> Result<Self, PortError> {
        const OP: &str = "ec2 describe security group owner";
        let region = ec2
            .config()
            .region()
            .map(ToString::to_string)
            .ok_or_else(|| malformed(OP, "the EC2 client has no region"))?;
        let groups = ec2
            .describe_security_groups()
            .group_ids(security_group_id)
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e, Detail::Full))?;
        let account = groups
            .security_groups()
            .first()
            .and_then(|g| g.owner_id())
            .ok_or_else(|| malformed(OP, "no owner for the security group"))?;
        Ok(Self::new(region, account))
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// `arn:<partition>:ec2:<region>:<account>:instance/`, to which the instance id is
    /// appended.
    pub fn prefix(&self) -> String {
        format!(
            "arn:{}:ec2:{}:{}:instance/",
            self.partition, self.region, self.account_id
        )
    }

    /// An instance's ARN.
    pub fn arn(&self, instance_id: &str) -> String {
        format!("{}{instance_id}", self.prefix())
    }

    /// Partition key of an instance's JIT material: `jit#<instance ARN>`, the value IAM's
    /// `jit#${ec2:SourceInstanceARN}` takes for that instance's role credentials.
    pub fn jit_pk(&self, instance_id: &str) -> String {
        format!("{JIT_PREFIX}{}", self.arn(instance_id))
    }

    /// The instance id of a JIT partition key, if it has the shape [`Self::jit_pk`] writes.
    pub fn instance_id_of(&self, jit_pk: &str) -> Option<String> {
        jit_pk
            .strip_prefix(JIT_PREFIX)?
            .strip_prefix(&self.prefix())
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    }
}

/// The AWS partition of a region.
pub fn partition(region: &str) -> &'static str {
    const PARTITIONS: &[(&str, &str)] = &[
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-iso-", "aws-iso"),
    ];
    PARTITIONS
        .iter()
        .find(|(p, _)| region.starts_with(p))
        .map_or("aws", |(_, partition)| partition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_regions() {
        for (region, expected) in [
            ("eu-west-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
        ] {
            assert_eq!(partition(region), expected, "{region}");
        }
    }

    #[test]
    fn jit_keys_hold_the_instance_arn_and_parse_back() {
        let arns = InstanceArns::new("eu-west-1", "123456789012");
        let pk = arns.jit_pk("i-0123456789abcdef0");
        assert_eq!(
            pk,
            "jit#arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0"
        );
        assert_eq!(
            arns.instance_id_of(&pk).as_deref(),
            Some("i-0123456789abcdef0")
        );
        let other = InstanceArns::new("eu-west-1", "210987654321");
        assert_eq!(other.instance_id_of(&pk), None);
        assert_eq!(arns.instance_id_of("scaleset#x"), None);
    }
}
