//! `--dry-run` for EC2: the calls a launch makes, sent with `DryRun=true`, so EC2 checks
//! permissions (including `iam:PassRole` for the instance profile) and changes nothing.

use aws_sdk_ec2::types::{
    InstanceNetworkInterfaceSpecification, InstanceType, ResourceType, TagSpecification,
};

use super::error::{Detail, code_of, from_sdk};
use super::fleet::Ec2Fleet;
use super::launch_template::scale_set_tags;
use crate::config::InstanceProfile;
use crate::ports::{PortError, PortErrorKind};

/// What a `DryRun=true` answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRunVerdict {
    /// `DryRunOperation`: the call would have succeeded.
    WouldSucceed,
    /// `UnauthorizedOperation`: the role lacks a permission.
    Unauthorized,
    /// Anything else: the request itself is wrong (or EC2 is unwell).
    Other,
}

/// Reads a dry-run error code (pure).
pub fn dry_run_verdict(code: Option<&str>) -> DryRunVerdict {
    match code {
        Some("DryRunOperation") => DryRunVerdict::WouldSucceed,
        Some("UnauthorizedOperation") => DryRunVerdict::Unauthorized,
        _ => DryRunVerdict::Other,
    }
}

/// Scale set id placed in dry-run tags when the real one is not known yet.
const DRY_RUN_SCALE_SET_ID: i64 = 0;

fn verdict<E>(
    operation: &'static str,
    result: Result<
        impl Sized,
        aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>,
    >,
) -> Result<(), PortError>
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let Err(e) = result else {
        // EC2 never succeeds on DryRun; treat it as a pass all the same.
        return Ok(());
    };
    match dry_run_verdict(code_of(&e)) {
        DryRunVerdict::WouldSucceed => Ok(()),
        DryRunVerdict::Unauthorized => Err(PortError {
            operation,
            kind: PortErrorKind::Fatal,
            // AWS's message is an encoded authorization blob; the code says enough.
            message: "UnauthorizedOperation: the role may not make this call".to_owned(),
        }),
        DryRunVerdict::Other => Err(from_sdk(operation, &e, Detail::Full)),
    }
}

impl Ec2Fleet {
    /// Checks, without changing anything, that this role may describe instances, create the
    /// launch template and launch an instance as configured (RunInstances stands in for
    /// CreateFleet, which cannot dry-run without an existing template). Also renders the
    /// user-data and reads the AMI's root device.
    pub async fn dry_run_launch(&self) -> Result<(), PortError> {
        let spec = self.template_spec(DRY_RUN_SCALE_SET_ID).await?;
        let ec2 = &self.settings.ec2;
        verdict(
            "ec2 describe instances (dry run)",
            self.ec2.describe_instances().dry_run(true).send().await,
        )?;
        verdict(
            "ec2 create launch template (dry run)",
            self.ec2
                .create_launch_template()
                .dry_run(true)
                .launch_template_name(&spec.name)
                .version_description(spec.description())
                .launch_template_data(spec.data())
                .send()
                .await,
        )?;
        let profile = ec2.instance_profile.as_ref().map(|p| {
            let builder = aws_sdk_ec2::types::IamInstanceProfileSpecification::builder();
            match p {
                InstanceProfile::Name(n) => builder.name(n).build(),
                InstanceProfile::Arn(a) => builder.arn(a).build(),
            }
        });
        let mut run = self
            .ec2
            .run_instances()
            .dry_run(true)
            .image_id(&ec2.ami_id)
            .min_count(1)
            .max_count(1)
            .set_key_name(ec2.key_pair_name.clone())
            .set_iam_instance_profile(profile)
            .network_interfaces(
                InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .set_subnet_id(ec2.subnet_ids.first().cloned())
                    .set_groups(Some(ec2.security_group_ids.clone()))
                    .associate_public_ip_address(ec2.associate_public_ip)
                    .build(),
            )
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(scale_set_tags(DRY_RUN_SCALE_SET_ID, &spec.name)))
                    .build(),
            );
        if let Some(instance_type) = ec2.instance_types.first() {
            run = run.instance_type(InstanceType::from(instance_type.as_str()));
        }
        verdict("ec2 run instances (dry run)", run.send().await)?;
        tracing::info!(template = spec.name, "EC2 dry run passed.");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dry_run_codes() {
        assert_eq!(
            dry_run_verdict(Some("DryRunOperation")),
            DryRunVerdict::WouldSucceed
        );
        assert_eq!(
            dry_run_verdict(Some("UnauthorizedOperation")),
            DryRunVerdict::Unauthorized
        );
        assert_eq!(
            dry_run_verdict(Some("InvalidAMIID.NotFound")),
            DryRunVerdict::Other
        );
        assert_eq!(dry_run_verdict(None), DryRunVerdict::Other);
    }
}
