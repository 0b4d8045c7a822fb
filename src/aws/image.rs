//! The runner image: the configured AMI, or by default the current Amazon Linux 2023 for the
//! instance types' architecture; and its root device name, which the launch template's
//! encrypted root volume must name exactly (a wrong name adds a second volume and leaves the
//! root as the AMI has it).

use super::error::{Detail, from_sdk};
use super::template_spec::FALLBACK_ROOT_DEVICE;
use crate::ports::{PortError, PortErrorKind};

/// Prefix of an AMI given as an SSM parameter.
pub const RESOLVE_SSM_PREFIX: &str = "resolve:ssm:";

/// A CPU architecture an image is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `x86_64`.
    X86_64,
    /// `arm64` (Graviton).
    Arm64,
}

impl Architecture {
    /// EC2's name, as DescribeInstanceTypes and the public AMI parameters spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }
}

/// The current Amazon Linux 2023 for `architecture`, as a public SSM parameter that EC2
/// resolves at each launch (so new releases are picked up without a template change).
pub fn amazon_linux_2023(architecture: Architecture) -> String {
    format!(
        "{RESOLVE_SSM_PREFIX}/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{}",
        architecture.as_str()
    )
}

/// The architecture every instance type supports, from each type's supported architectures
/// as DescribeInstanceTypes lists them (pure). x86_64 wins when all support both. One launch
/// template has one image, so types of different architectures cannot share it.
pub fn common_architecture(types: &[(String, Vec<String>)]) -> Result<Architecture, String> {
    let supports = |arch: Architecture| {
        !types.is_empty()
            && types
                .iter()
                .all(|(_, archs)| archs.iter().any(|a| a == arch.as_str()))
    };
    [Architecture::X86_64, Architecture::Arm64]
        .into_iter()
        .find(|arch| supports(*arch))
        .ok_or_else(|| {
            let listed: Vec<String> = types
                .iter()
                .map(|(t, archs)| format!("{t}: {}", archs.join("/")))
                .collect();
            format!(
                "EC2_INSTANCE_TYPE has no architecture common to all its types ({}): without \
                 EC2_AMI_ID ghaec2 launches Amazon Linux 2023 for one architecture, so list types \
                 of one architecture (x86_64 or arm64) or give EC2_AMI_ID",
                listed.join(", ")
            )
        })
}

/// The supported architectures of each of `instance_types`, from DescribeInstanceTypes.
pub async fn architectures(
    ec2: &aws_sdk_ec2::Client,
    instance_types: &[String],
) -> Result<Vec<(String, Vec<String>)>, PortError> {
    const OP: &str = "ec2 describe instance types";
    let mut found = Vec::new();
    let mut pages = ec2
        .describe_instance_types()
        .set_instance_types(Some(
            instance_types
                .iter()
                .map(|t| aws_sdk_ec2::types::InstanceType::from(t.as_str()))
                .collect(),
        ))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk(OP, &e, Detail::Full))?;
        for info in page.instance_types() {
            let Some(name) = info.instance_type() else {
                continue;
            };
            let archs = info
                .processor_info()
                .map(|p| {
                    p.supported_architectures()
                        .iter()
                        .map(|a| a.as_str().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            found.push((name.as_str().to_owned(), archs));
        }
    }
    // In the configured order, so a message lists them as the operator wrote them.
    found.sort_by_key(|(name, _)| instance_types.iter().position(|t| t == name));
    Ok(found)
}

/// The image to launch: `configured` as given, or Amazon Linux 2023 for the architecture
/// `instance_types` share.
pub async fn image_for(
    ec2: &aws_sdk_ec2::Client,
    configured: Option<&str>,
    instance_types: &[String],
) -> Result<String, PortError> {
    if let Some(image) = configured {
        return Ok(image.to_owned());
    }
    let architectures = architectures(ec2, instance_types).await?;
    let architecture = common_architecture(&architectures).map_err(|message| PortError {
        operation: "choose the runner image",
        kind: PortErrorKind::Fatal,
        message,
    })?;
    Ok(amazon_linux_2023(architecture))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Instance types with their supported architectures.
    type Listing<'a> = &'a [(&'a str, &'a [&'a str])];

    fn types(list: Listing<'_>) -> Vec<(String, Vec<String>)> {
        list.iter()
            .map(|(t, a)| ((*t).to_owned(), a.iter().map(|s| (*s).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn the_default_image_follows_the_common_architecture() {
        let cases: [(Listing<'_>, Option<Architecture>); 6] = [
            (&[("m7i.large", &["x86_64"])], Some(Architecture::X86_64)),
            (
                &[("m7g.large", &["arm64"]), ("c7g.large", &["arm64"])],
                Some(Architecture::Arm64),
            ),
            (
                &[("t2.micro", &["i386", "x86_64"]), ("m5.large", &["x86_64"])],
                Some(Architecture::X86_64),
            ),
            (
                &[("m7i.large", &["x86_64"]), ("m7g.large", &["arm64"])],
                None,
            ),
            (&[("mac2.metal", &["arm64_mac"])], None),
            (&[], None),
        ];
        for (list, expected) in cases {
            assert_eq!(common_architecture(&types(list)).ok(), expected, "{list:?}");
        }
        let mixed = common_architecture(&types(&[
            ("m7i.large", &["x86_64"]),
            ("m7g.large", &["arm64"]),
        ]))
        .unwrap_err();
        assert!(
            mixed.contains("m7i.large: x86_64, m7g.large: arm64") && mixed.contains("EC2_AMI_ID"),
            "{mixed}"
        );
        assert_eq!(
            amazon_linux_2023(Architecture::Arm64),
            "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
        );
    }
}
