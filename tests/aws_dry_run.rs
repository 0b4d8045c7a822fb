//! `--dry-run` asks EC2 exactly what a real launch will ask: each dry-run request, as the
//! fault-injecting proxy saw it, is compared with its real counterpart. The deployed role's
//! least-privilege statements judge tags and resources, so a dry run that sends less (a
//! missing tag, another resource shape) would pass where the real call is denied, or the
//! reverse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use ghaec2::aws::{Ec2Fleet, InstanceArns, LaunchSettings, UserDataParams};
use ghaec2::config::Ec2Settings;
use ghaec2::ports::Fleet;
use support::aws_proxy::{AwsProxy, ProxyCall};
use support::moto;
use support::stand_in::proxied_sdk_config;

const REGION: &str = "eu-north-1";
const KMS_KEY: &str =
    "arn:aws:kms:eu-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

struct Setup {
    proxy: AwsProxy,
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
    settings: LaunchSettings,
}

async fn setup() -> Setup {
    let proxy = AwsProxy::start(&moto::endpoint()).await;
    let sdk = proxied_sdk_config(REGION, &proxy).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let network = moto::network(&ec2).await;
    let scale_set_name = format!("dry-{}", moto::unique());
    let settings = LaunchSettings {
        scale_set_name: scale_set_name.clone(),
        ec2: Ec2Settings {
            region: Some(REGION.to_owned()),
            subnet_ids: network.subnet_ids.clone(),
            security_group_ids: vec![network.security_group_id.clone()],
            key_pair_name: None,
            instance_types: vec!["m7g.large".into(), "c7g.large".into()],
            // No AMI: the default image, whose architecture follows the instance types.
            ami_id: None,
            ebs_kms_key_id: Some(KMS_KEY.to_owned()),
            spot_max_price: None,
            instance_profile: None,
            associate_public_ip: false,
            root_volume_size_gib: 40,
            on_demand_failover: true,
        },
        user_data: UserDataParams::new(
            "ghaec2-state",
            scale_set_name,
            InstanceArns::new(REGION, proxy.account_id()),
        ),
    };
    Setup {
        proxy,
        ec2,
        ssm,
        settings,
    }
}

impl Setup {
    fn fleet(&self) -> Ec2Fleet {
        Ec2Fleet::new(self.ec2.clone(), self.ssm.clone(), self.settings.clone())
    }

    /// The calls of `action`, split into dry-run ones and real ones.
    fn calls(&self, action: &str) -> (Vec<ProxyCall>, Vec<ProxyCall>) {
        self.proxy
            .calls_to(action)
            .into_iter()
            .partition(|c| c.param("DryRun") == Some("true"))
    }
}

/// A call's parameters without those that differ by nature between a dry run and a real call
/// (the SDK makes up a client token for each call that has one).
fn comparable(call: &ProxyCall, ignore: &[&str]) -> BTreeMap<String, String> {
    call.params
        .iter()
        .filter(|(k, _)| !["Action", "Version", "DryRun", "ClientToken"].contains(&k.as_str()))
        .filter(|(k, _)| !ignore.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// The parameters under `prefix`, with the prefix taken off.
fn under(call: &ProxyCall, prefix: &str) -> BTreeMap<String, String> {
    call.params
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_owned(), v.clone())))
        .collect()
}

#[tokio::test]
async fn every_dry_run_request_matches_its_real_counterpart() {
    let s = setup().await;
    let scale_set_id = 42;

    // No template yet: CreateLaunchTemplate, and RunInstances standing in for CreateFleet.
    let checked = s.fleet().dry_run_launch(Some(scale_set_id)).await.unwrap();
    assert_eq!(
        checked,
        "CreateLaunchTemplate and RunInstances (for CreateFleet)"
    );
    let templates = s.ec2.describe_launch_templates().send().await.unwrap();
    assert!(
        templates.launch_templates().is_empty(),
        "a dry run creates nothing"
    );

    let launched = s
        .fleet()
        .launch(scale_set_id, 1, "dry-run-parity-1")
        .await
        .unwrap();
    assert_eq!(launched.instance_ids.len(), 1);

    let (dry, real) = s.calls("CreateLaunchTemplate");
    assert_eq!((dry.len(), real.len()), (1, 1));
    assert_eq!(comparable(&dry[0], &[]), comparable(&real[0], &[]));
    // The tag IAM requires to create a template is in both (it was missing from the dry run).
    assert!(
        dry[0]
            .params
            .iter()
            .any(|(k, v)| k.starts_with("TagSpecification.1.Tag.") && v == "ghaec2:managed-by"),
        "{:?}",
        dry[0].params
    );

    // RunInstances carries the template's launch data and CreateFleet's instance tags.
    let (run, _) = s.calls("RunInstances");
    assert_eq!(run.len(), 1);
    let template_data = under(&real[0], "LaunchTemplateData.");
    let per_launch = [
        "MinCount",
        "MaxCount",
        "InstanceType",
        "NetworkInterface.1.SubnetId",
    ];
    assert_eq!(comparable(&run[0], &per_launch), template_data);
    let (_, fleets) = s.calls("CreateFleet");
    let fleet_instance_tags = under(&fleets[0], "TagSpecification.1.");
    let run_instance_tags = under(&run[0], "TagSpecification.1.");
    assert_eq!(
        fleet_instance_tags.get("ResourceType").map(String::as_str),
        Some("instance")
    );
    assert_eq!(run_instance_tags, fleet_instance_tags);
    // The default image: Amazon Linux 2023 for the Graviton types, and the KMS key.
    assert_eq!(
        template_data.get("ImageId").map(String::as_str),
        Some("resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64")
    );
    assert_eq!(
        template_data
            .get("BlockDeviceMapping.1.Ebs.KmsKeyId")
            .map(String::as_str),
        Some(KMS_KEY)
    );

    // With the template in place: a new version (settings changed) and CreateFleet from it.
    let mut settings = s.settings.clone();
    settings.ec2.root_volume_size_gib = 41;
    let changed = Ec2Fleet::new(s.ec2.clone(), s.ssm.clone(), settings);
    let checked = changed.dry_run_launch(Some(scale_set_id)).await.unwrap();
    assert_eq!(checked, "CreateLaunchTemplateVersion and CreateFleet");
    changed
        .launch(scale_set_id, 1, "dry-run-parity-2")
        .await
        .unwrap();

    let (dry, real) = s.calls("CreateLaunchTemplateVersion");
    assert_eq!((dry.len(), real.len()), (1, 1));
    assert_eq!(comparable(&dry[0], &[]), comparable(&real[0], &[]));
    let (dry, real) = s.calls("CreateFleet");
    assert_eq!((dry.len(), real.len()), (1, 2));
    // The dry run names the template version that was the default before the new one.
    let per_launch = [
        "TargetCapacitySpecification.TotalTargetCapacity",
        "LaunchTemplateConfigs.1.LaunchTemplateSpecification.Version",
    ];
    assert_eq!(
        comparable(&dry[0], &per_launch),
        comparable(&real[1], &per_launch)
    );
}

#[tokio::test]
async fn without_an_ami_the_instance_types_must_share_an_architecture() {
    let mut s = setup().await;
    s.settings.ec2.instance_types = vec!["m7i.large".into(), "m7g.large".into()];
    let error = s.fleet().template(7).await.unwrap_err().to_string();
    assert!(
        error.contains("m7i.large: x86_64, m7g.large: arm64") && error.contains("EC2_AMI_ID"),
        "{error}"
    );
    s.settings.ec2.instance_types = vec!["m7i.large".into()];
    let template = s.fleet().template(7).await.unwrap();
    let versions = s
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(&template.id)
        .send()
        .await
        .unwrap();
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .unwrap();
    assert_eq!(
        data.image_id(),
        Some("resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
    );
    assert_eq!(
        data.block_device_mappings()[0].device_name(),
        Some("/dev/xvda")
    );
}
