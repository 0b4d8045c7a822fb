//! [`TemplateSpec`]: everything ghaec2's launch template holds, derived from configuration
//! (pure), with the tags of the scale set's instances, volumes and template. Its fingerprint goes
//! into the version description, so [`super::launch_template::ensure`] can tell whether the
//! default version still matches the settings.

use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType,
    ShutdownBehavior, Tag, TagSpecification, VolumeType,
};

use super::launch_plan::fnv1a64;
use crate::config::InstanceProfile;

/// Tag: the decimal scale set id.
pub const TAG_SCALE_SET_ID: &str = "ghaec2:scale-set-id";
/// Tag: who manages the instance.
pub const TAG_MANAGED_BY: &str = "ghaec2:managed-by";
/// Value of [`TAG_MANAGED_BY`].
pub const MANAGED_BY: &str = "ghaec2";
/// Tag: the runner's name, once known.
pub const TAG_RUNNER_NAME: &str = "ghaec2:runner-name";
/// Tag: the console name.
pub const TAG_NAME: &str = "Name";
/// Version descriptions start with this, followed by the settings fingerprint.
pub const FINGERPRINT_PREFIX: &str = "ghaec2 settings ";
/// Root device name when DescribeImages cannot tell (Amazon Linux's).
pub const FALLBACK_ROOT_DEVICE: &str = "/dev/xvda";
/// IMDS hop limit: 2, so job containers on the runner reach IMDS like the runner's own steps
/// do (limit 1 would only break containers, not protect anything from job code on the host).
pub const METADATA_HOP_LIMIT: i32 = 2;

/// Everything a template version holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSpec {
    /// `ghaec2-<scale set name>`.
    pub name: String,
    /// Scale set id, for the tags.
    pub scale_set_id: i64,
    /// `ami-…` or `resolve:ssm:…`, as configured (EC2 resolves the latter at launch).
    pub image_id: String,
    /// The AMI's root device name.
    pub root_device_name: String,
    /// Root volume size in GiB.
    pub root_volume_gib: u32,
    /// KMS key of the root volume; none: the account's default EBS key (or the snapshot's).
    pub ebs_kms_key_id: Option<String>,
    /// Security groups.
    pub security_group_ids: Vec<String>,
    /// Key pair.
    pub key_pair_name: Option<String>,
    /// Instance profile.
    pub instance_profile: Option<InstanceProfile>,
    /// Whether the instance gets a public IPv4 address.
    pub associate_public_ip: bool,
    /// User-data, base64.
    pub user_data_base64: String,
}

/// Where a launch points: template id and the version to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    /// Launch template id.
    pub id: String,
    /// Version number.
    pub version: i64,
}

/// The tags of the scale set's instances and volumes.
pub fn scale_set_tags(scale_set_id: i64, name: &str) -> Vec<Tag> {
    [
        (TAG_SCALE_SET_ID, scale_set_id.to_string()),
        (TAG_MANAGED_BY, MANAGED_BY.to_owned()),
        (TAG_NAME, name.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| Tag::builder().key(k).value(v).build())
    .collect()
}

impl TemplateSpec {
    /// Every field, one per line, in a fixed order: the input of the fingerprint.
    pub fn canonical(&self) -> String {
        let profile = match &self.instance_profile {
            Some(InstanceProfile::Name(n)) => format!("name:{n}"),
            Some(InstanceProfile::Arn(a)) => format!("arn:{a}"),
            None => String::new(),
        };
        [
            format!("name={}", self.name),
            format!("scale_set_id={}", self.scale_set_id),
            format!("image_id={}", self.image_id),
            format!("root_device_name={}", self.root_device_name),
            format!("root_volume_gib={}", self.root_volume_gib),
            format!(
                "ebs_kms_key_id={}",
                self.ebs_kms_key_id.as_deref().unwrap_or("")
            ),
            format!("security_group_ids={}", self.security_group_ids.join(",")),
            format!(
                "key_pair_name={}",
                self.key_pair_name.as_deref().unwrap_or("")
            ),
            format!("instance_profile={profile}"),
            format!("associate_public_ip={}", self.associate_public_ip),
            format!("user_data_fnv={:016x}", fnv1a64(&self.user_data_base64)),
            format!("metadata=required,hops:{METADATA_HOP_LIMIT}"),
        ]
        .join("\n")
    }

    /// The settings fingerprint: 16 hex digits.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", fnv1a64(&self.canonical()))
    }

    /// The version description that records the fingerprint.
    pub fn description(&self) -> String {
        format!("{FINGERPRINT_PREFIX}{}", self.fingerprint())
    }

    /// The template data.
    pub fn data(&self) -> RequestLaunchTemplateData {
        let profile = self.instance_profile.as_ref().map(|p| match p {
            InstanceProfile::Name(n) => {
                LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                    .name(n)
                    .build()
            }
            InstanceProfile::Arn(a) => {
                LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                    .arn(a)
                    .build()
            }
        });
        let tags = |resource| {
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(resource)
                .set_tags(Some(scale_set_tags(self.scale_set_id, &self.name)))
                .build()
        };
        RequestLaunchTemplateData::builder()
            .image_id(&self.image_id)
            .set_key_name(self.key_pair_name.clone())
            .set_iam_instance_profile(profile)
            // The subnet comes from each CreateFleet override; the interface carries the
            // security groups and says explicitly whether a public address is wanted, so a
            // subnet that maps public IPs by default does not decide it.
            .network_interfaces(
                LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                    .device_index(0)
                    .associate_public_ip_address(self.associate_public_ip)
                    .delete_on_termination(true)
                    .set_groups(Some(self.security_group_ids.clone()))
                    .build(),
            )
            .metadata_options(
                LaunchTemplateInstanceMetadataOptionsRequest::builder()
                    .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                    .http_tokens(LaunchTemplateHttpTokensState::Required)
                    .http_put_response_hop_limit(METADATA_HOP_LIMIT)
                    .build(),
            )
            .block_device_mappings(
                LaunchTemplateBlockDeviceMappingRequest::builder()
                    .device_name(&self.root_device_name)
                    .ebs(
                        LaunchTemplateEbsBlockDeviceRequest::builder()
                            .encrypted(true)
                            .set_kms_key_id(self.ebs_kms_key_id.clone())
                            .volume_type(VolumeType::Gp3)
                            .volume_size(i32::try_from(self.root_volume_gib).unwrap_or(i32::MAX))
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            )
            // A runner that exits powers off; terminate then, never keep a stopped instance.
            .instance_initiated_shutdown_behavior(ShutdownBehavior::Terminate)
            .user_data(&self.user_data_base64)
            .tag_specifications(tags(ResourceType::Instance))
            .tag_specifications(tags(ResourceType::Volume))
            .build()
    }
}

impl TemplateSpec {
    /// Tags of the template itself: IAM lets ghaec2 add versions only to launch templates
    /// tagged `ghaec2:managed-by` (template.yaml, `OwnLaunchTemplates`).
    pub fn template_tags(&self) -> TagSpecification {
        TagSpecification::builder()
            .resource_type(ResourceType::LaunchTemplate)
            .set_tags(Some(scale_set_tags(self.scale_set_id, &self.name)))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TemplateSpec {
        TemplateSpec {
            name: "ghaec2-linux".into(),
            scale_set_id: 7,
            image_id: "ami-0123456789abcdef0".into(),
            root_device_name: "/dev/xvda".into(),
            root_volume_gib: 30,
            ebs_kms_key_id: None,
            security_group_ids: vec!["sg-01234567".into()],
            key_pair_name: None,
            instance_profile: Some(InstanceProfile::Name("runner".into())),
            associate_public_ip: false,
            user_data_base64: "IyEvYmluL2Jhc2g=".into(),
        }
    }

    #[test]
    fn fingerprint_is_stable_and_follows_every_setting() {
        let base = spec();
        assert_eq!(base.fingerprint(), spec().fingerprint());
        assert_eq!(base.fingerprint().len(), 16);
        let changes: [fn(&mut TemplateSpec); 10] = [
            |s| s.ebs_kms_key_id = Some("arn:aws:kms:eu-west-1:123456789012:key/k".into()),
            |s| s.image_id = "ami-0fedcba9876543210".into(),
            |s| s.root_volume_gib = 31,
            |s| s.security_group_ids.push("sg-89abcdef".into()),
            |s| s.key_pair_name = Some("ops".into()),
            |s| s.instance_profile = Some(InstanceProfile::Arn("runner".into())),
            |s| s.associate_public_ip = true,
            |s| s.user_data_base64.push('A'),
            |s| s.scale_set_id = 8,
            |s| s.root_device_name = "/dev/sda1".into(),
        ];
        for change in changes {
            let mut changed = spec();
            change(&mut changed);
            assert_ne!(
                changed.fingerprint(),
                base.fingerprint(),
                "{}",
                changed.canonical()
            );
        }
        assert!(base.description().starts_with(FINGERPRINT_PREFIX));
    }

    #[test]
    fn data_requires_imdsv2_encrypts_and_terminates() {
        let data = spec().data();
        let metadata = data.metadata_options().unwrap();
        assert_eq!(
            metadata.http_tokens(),
            Some(&LaunchTemplateHttpTokensState::Required)
        );
        let ebs = data.block_device_mappings()[0].ebs().unwrap();
        assert_eq!(
            (ebs.encrypted(), ebs.volume_type(), ebs.volume_size()),
            (Some(true), Some(&VolumeType::Gp3), Some(30))
        );
        assert_eq!(
            data.instance_initiated_shutdown_behavior(),
            Some(&ShutdownBehavior::Terminate)
        );
        assert_eq!(
            data.network_interfaces()[0].associate_public_ip_address(),
            Some(false)
        );
        assert!(
            data.security_group_ids().is_empty(),
            "groups go on the interface"
        );
        let tags = data.tag_specifications()[0].tags();
        assert!(
            tags.iter()
                .any(|t| t.key() == Some(TAG_SCALE_SET_ID) && t.value() == Some("7"))
        );
    }
}
