//! The runner AMI's root device name, which the launch template's encrypted root volume must
//! name exactly (a wrong name adds a second volume and leaves the root as the AMI has it).

use super::error::{Detail, from_sdk};
use super::launch_template::FALLBACK_ROOT_DEVICE;
use crate::ports::PortError;

/// Prefix of an AMI given as an SSM parameter.
pub const RESOLVE_SSM_PREFIX: &str = "resolve:ssm:";

/// The AMI id behind `image`: as is for `ami-…`; for `resolve:ssm:<parameter>` the parameter's
/// value (the launch template keeps `resolve:ssm:`, EC2 resolves it at each launch; this only
/// serves DescribeImages).
pub async fn resolve(ssm: &aws_sdk_ssm::Client, image: &str) -> Result<String, PortError> {
    let Some(parameter) = image.strip_prefix(RESOLVE_SSM_PREFIX) else {
        return Ok(image.to_owned());
    };
    let got = ssm
        .get_parameter()
        .name(parameter)
        .send()
        .await
        .map_err(|e| from_sdk("ssm get ami parameter", &e, Detail::Full))?;
    got.parameter()
        .and_then(|p| p.value())
        .map(str::to_owned)
        .ok_or_else(|| super::error::malformed("ssm get ami parameter", "parameter without value"))
}

/// The root device name of `image`, or [`FALLBACK_ROOT_DEVICE`] (with a warning) when the
/// image cannot be described.
pub async fn root_device_name(
    ec2: &aws_sdk_ec2::Client,
    ssm: &aws_sdk_ssm::Client,
    image: &str,
) -> Result<String, PortError> {
    let ami = resolve(ssm, image).await?;
    let described = ec2
        .describe_images()
        .image_ids(&ami)
        .send()
        .await
        .map_err(|e| from_sdk("ec2 describe image", &e, Detail::Full));
    let name = match described {
        Ok(out) => out
            .images()
            .first()
            .and_then(|i| i.root_device_name())
            .map(str::to_owned),
        Err(e) => {
            tracing::warn!(ami, error = %e, "Could not describe the AMI.");
            None
        }
    };
    Ok(name.unwrap_or_else(|| {
        tracing::warn!(
            ami,
            root_device = FALLBACK_ROOT_DEVICE,
            "Root device name unknown; assuming the default."
        );
        FALLBACK_ROOT_DEVICE.to_owned()
    }))
}
