//! `--dry-run` for EC2: the calls a launch makes, sent with `DryRun=true`, so EC2 checks
//! permissions (including `iam:PassRole` for the instance profile) and changes nothing.

use aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, InstanceType, ResourceType, ShutdownBehavior,
    TagSpecification, VolumeType,
};

use super::launch::Launcher;
use crate::aws::error::{Detail, code_of, from_sdk};
use crate::aws::launch_template;
use crate::aws::template_spec::{METADATA_HOP_LIMIT, TemplateSpec, scale_set_tags};
use crate::config::{Ec2Settings, InstanceProfile};
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

/// Scale set id placed in dry-run tags when the scale set does not exist yet.
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

/// Checks, without changing anything, that this role may make the EC2 calls of a launch:
/// each is sent with `DryRun=true` and the same tags and resources as the real one (the
/// template's own statements allow nothing less). With the scale set's template present:
/// a new template version and CreateFleet from it. Without: CreateLaunchTemplate, and
/// RunInstances standing in for CreateFleet (which needs an existing template) with the
/// template's launch data and the fleet's instance tags. Says what it checked.
pub(super) async fn check_launch(
    launcher: &Launcher,
    scale_set_id: Option<i64>,
) -> Result<String, PortError> {
    let scale_set_id = scale_set_id.unwrap_or(DRY_RUN_SCALE_SET_ID);
    let spec = launcher.template_spec(scale_set_id).await?;
    verdict(
        "ec2 describe instances (dry run)",
        launcher
            .ec2()
            .describe_instances()
            .dry_run(true)
            .send()
            .await,
    )?;
    let checked = match launch_template::find(launcher.ec2(), &spec.name).await? {
        Some(template) => {
            verdict(
                "ec2 create launch template version (dry run)",
                launch_template::version_request(launcher.ec2(), &spec, &template.id)
                    .dry_run(true)
                    .send()
                    .await,
            )?;
            verdict(
                "ec2 create fleet (dry run)",
                launcher
                    .fleet_request(&template, scale_set_id, 1, true)
                    .dry_run(true)
                    .send()
                    .await,
            )?;
            "CreateLaunchTemplateVersion and CreateFleet"
        }
        None => {
            verdict(
                "ec2 create launch template (dry run)",
                launch_template::create_request(launcher.ec2(), &spec)
                    .dry_run(true)
                    .send()
                    .await,
            )?;
            verdict(
                "ec2 run instances (dry run)",
                run_request(launcher.ec2(), &launcher.settings().ec2, &spec)
                    .dry_run(true)
                    .send()
                    .await,
            )?;
            "CreateLaunchTemplate and RunInstances (for CreateFleet)"
        }
    };
    tracing::info!(template = spec.name, checked, "EC2 dry run passed.");
    Ok(checked.to_owned())
}

/// RunInstances with what the template and CreateFleet would give the instance.
fn run_request(
    client: &aws_sdk_ec2::Client,
    ec2: &Ec2Settings,
    spec: &TemplateSpec,
) -> RunInstancesFluentBuilder {
    let profile = spec.instance_profile.as_ref().map(|p| {
        let builder = IamInstanceProfileSpecification::builder();
        match p {
            InstanceProfile::Name(n) => builder.name(n).build(),
            InstanceProfile::Arn(a) => builder.arn(a).build(),
        }
    });
    let tags = |resource| {
        TagSpecification::builder()
            .resource_type(resource)
            .set_tags(Some(scale_set_tags(spec.scale_set_id, &spec.name)))
            .build()
    };
    client
        .run_instances()
        .image_id(&spec.image_id)
        .set_instance_type(
            ec2.instance_types
                .first()
                .map(|t| InstanceType::from(t.as_str())),
        )
        .min_count(1)
        .max_count(1)
        .set_key_name(spec.key_pair_name.clone())
        .set_iam_instance_profile(profile)
        .network_interfaces(
            InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .set_subnet_id(ec2.subnet_ids.first().cloned())
                .set_groups(Some(spec.security_group_ids.clone()))
                .associate_public_ip_address(spec.associate_public_ip)
                .delete_on_termination(true)
                .build(),
        )
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .http_tokens(HttpTokensState::Required)
                .http_put_response_hop_limit(METADATA_HOP_LIMIT)
                .build(),
        )
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name(&spec.root_device_name)
                .ebs(
                    EbsBlockDevice::builder()
                        .encrypted(true)
                        .set_kms_key_id(spec.ebs_kms_key_id.clone())
                        .volume_type(VolumeType::Gp3)
                        .volume_size(i32::try_from(spec.root_volume_gib).unwrap_or(i32::MAX))
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .instance_initiated_shutdown_behavior(ShutdownBehavior::Terminate)
        .user_data(&spec.user_data_base64)
        .tag_specifications(tags(ResourceType::Instance))
        .tag_specifications(tags(ResourceType::Volume))
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
