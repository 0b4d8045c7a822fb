//! [`InstanceArns`]: how ghaec2 names an instance by ARN, which the JIT item key and the
//! instance role's IAM policy share (see [`super::jit_store`]). Partition and account come from
//! ghaec2's own identity, since `${ec2:SourceInstanceARN}` names the launching account.

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

    /// For `region`, in the partition and account of `caller_arn`: the function's own ARN
    /// (Lambda's `invoked_function_arn`) or the caller identity STS reports. The account is
    /// the one that launches the instances, whoever owns the subnets or security groups (a
    /// shared VPC), and the partition is the caller's, not guessed from the region.
    pub fn of_caller(region: impl Into<String>, caller_arn: &str) -> Result<Self, String> {
        let fields: Vec<&str> = caller_arn.splitn(6, ':').collect();
        match fields.as_slice() {
            ["arn", partition, _service, _region, account, _resource]
                if partition.starts_with("aws")
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok(Self {
                    partition: (*partition).to_owned(),
                    region: region.into(),
                    account_id: (*account).to_owned(),
                })
            }
            _ => Err(format!(
                "{caller_arn:?} is not an ARN with a partition and a 12-digit account"
            )),
        }
    }

    /// Learns partition and account from STS GetCallerIdentity (which needs no permission),
    /// for the local modes; inside Lambda the function's ARN gives both for free.
    pub async fn discover(
        sts: &aws_sdk_sts::Client,
        region: impl Into<String>,
    ) -> Result<Self, PortError> {
        const OP: &str = "sts get caller identity";
        let identity = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| from_sdk(OP, &e, Detail::Full))?;
        let arn = identity
            .arn()
            .ok_or_else(|| malformed(OP, "no ARN in the answer"))?;
        Self::of_caller(region, arn).map_err(|message| malformed(OP, &message))
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
    fn the_caller_arn_gives_partition_and_account() {
        let function = "arn:aws-cn:lambda:cn-north-1:123456789012:function:ghaec2";
        let arns = InstanceArns::of_caller("cn-north-1", function).unwrap();
        assert_eq!(
            arns.prefix(),
            "arn:aws-cn:ec2:cn-north-1:123456789012:instance/"
        );
        let assumed = "arn:aws-us-gov:sts::210987654321:assumed-role/ghaec2/session";
        let arns = InstanceArns::of_caller("us-gov-west-1", assumed).unwrap();
        assert_eq!(
            arns.prefix(),
            "arn:aws-us-gov:ec2:us-gov-west-1:210987654321:instance/"
        );
        for bad in [
            "",
            "arn:aws:sts::12345:user/x",
            "not:an:arn:at:all:x",
            "arn:foo:sts::123456789012:x",
        ] {
            let err = InstanceArns::of_caller("eu-west-1", bad).unwrap_err();
            assert!(err.contains("12-digit account"), "{bad}: {err}");
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
