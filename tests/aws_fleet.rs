//! Ec2Fleet against moto_server: launch template lifecycle, launches, tags, instance listing,
//! naming, termination and the dry run. moto's CreateFleet applies the template's tags,
//! user-data and image but not its metadata options, block devices or shutdown behaviour, so
//! those are checked on the template version. Each test has its own region.
//! Run with `scripts/with-moto.sh cargo test --test aws_fleet`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use aws_sdk_ec2::types::{Filter, LaunchTemplateHttpTokensState, ShutdownBehavior, VolumeType};
use base64::Engine;
use ghaec2::aws::{
    Ec2Fleet, FINGERPRINT_PREFIX, InstanceArns, LaunchSettings, MANAGED_BY, Patience,
    TAG_MANAGED_BY, TAG_NAME, TAG_RUNNER_NAME, TAG_SCALE_SET_ID, UserDataParams,
};
use ghaec2::config::{Ec2Settings, InstanceProfile};
use ghaec2::ports::{Fleet, InstanceState};
use support::moto;

struct Setup {
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
    settings: LaunchSettings,
}

async fn setup(region: &str) -> Setup {
    let config = moto::sdk_config(region).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let ssm = aws_sdk_ssm::Client::new(&config);
    let network = moto::network(&ec2).await;
    let ami = moto::ami(&ssm).await;
    let settings = LaunchSettings {
        scale_set_name: format!("linux-{}", moto::unique()),
        ec2: Ec2Settings {
            region: Some(region.to_owned()),
            subnet_ids: network.subnet_ids.clone(),
            security_group_ids: vec![network.security_group_id.clone()],
            key_pair_name: None,
            instance_types: vec!["m5.large".into(), "c5.large".into()],
            ami_id: Some(ami),
            ebs_kms_key_id: None,
            spot_max_price: Some("0.08".into()),
            instance_profile: None,
            associate_public_ip: false,
            root_volume_size_gib: 40,
            on_demand_failover: true,
        },
        user_data: UserDataParams::new(
            "ghaec2-state",
            "fleet-set",
            InstanceArns::new(region, moto::ACCOUNT_ID),
        ),
    };
    Setup { ec2, ssm, settings }
}

impl Setup {
    fn fleet(&self) -> Ec2Fleet {
        Ec2Fleet::new(self.ec2.clone(), self.ssm.clone(), self.settings.clone())
    }
}

fn scale_set_id() -> i64 {
    i64::from(uuid::Uuid::new_v4().as_u128() as u32)
}

#[tokio::test]
async fn launch_template_is_created_once_and_versioned_when_settings_change() {
    let s = setup("us-west-1").await;
    let id = scale_set_id();
    let first = s.fleet().template(id).await.unwrap();
    assert_eq!(first.version, 1);
    // A new process with the same settings reuses the version.
    assert_eq!(s.fleet().template(id).await.unwrap(), first);

    let mut changed = s.settings.clone();
    changed.ec2.root_volume_size_gib = 64;
    let fleet = Ec2Fleet::new(s.ec2.clone(), s.ssm.clone(), changed);
    let second = fleet.template(id).await.unwrap();
    assert_eq!((second.id.as_str(), second.version), (first.id.as_str(), 2));

    let templates = s
        .ec2
        .describe_launch_templates()
        .launch_template_ids(&first.id)
        .send()
        .await
        .unwrap();
    let template = &templates.launch_templates()[0];
    assert_eq!(
        template.launch_template_name(),
        Some(fleet.template_name().as_str())
    );
    assert_eq!(template.default_version_number(), Some(2));
    // IAM scopes version changes to templates carrying this tag.
    assert!(
        template
            .tags()
            .iter()
            .any(|t| t.key() == Some(TAG_MANAGED_BY) && t.value() == Some(MANAGED_BY)),
        "template tags: {:?}",
        template.tags()
    );
    let versions = s
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(&first.id)
        .send()
        .await
        .unwrap();
    let descriptions: Vec<_> = versions
        .launch_template_versions()
        .iter()
        .filter_map(|v| v.version_description())
        .collect();
    assert_eq!(descriptions.len(), 2);
    assert!(
        descriptions
            .iter()
            .all(|d| d.starts_with(FINGERPRINT_PREFIX))
    );
    assert_ne!(descriptions[0], descriptions[1]);
}

#[tokio::test]
async fn launch_returns_tagged_spot_instances_from_a_hardened_template() {
    let s = setup("us-west-2").await;
    let fleet = s.fleet();
    let id = scale_set_id();
    let outcome = fleet.launch(id, 3, "ghaec2-test-launch-1").await.unwrap();
    assert_eq!(outcome.instance_ids.len(), 3, "{outcome:?}");
    assert!(outcome.errors.is_empty());

    let described = s
        .ec2
        .describe_instances()
        .set_instance_ids(Some(outcome.instance_ids.clone()))
        .send()
        .await
        .unwrap();
    let instances: Vec<_> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(instances.len(), 3);
    for instance in &instances {
        let tag = |key: &str| {
            instance
                .tags()
                .iter()
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value())
        };
        assert_eq!(tag(TAG_SCALE_SET_ID), Some(id.to_string().as_str()));
        assert_eq!(tag(TAG_MANAGED_BY), Some(MANAGED_BY));
        assert_eq!(tag(TAG_NAME), Some(fleet.template_name().as_str()));
        assert_eq!(
            instance.instance_lifecycle().map(|l| l.as_str()),
            Some("spot")
        );

        let attribute = s
            .ec2
            .describe_instance_attribute()
            .instance_id(instance.instance_id().unwrap())
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .unwrap();
        let encoded = attribute.user_data().and_then(|u| u.value()).unwrap();
        let script = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap(),
        )
        .unwrap();
        assert!(script.starts_with("#!/bin/bash"));
        assert!(script.contains("TABLE='ghaec2-state'"));
        assert!(!script.contains("@@") && !script.contains("token-value"));
    }

    // What moto does not apply to instances, checked where ghaec2 puts it.
    let template = fleet.template(id).await.unwrap();
    let versions = s
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(&template.id)
        .versions(template.version.to_string())
        .send()
        .await
        .unwrap();
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .unwrap();
    assert_eq!(
        data.metadata_options().and_then(|m| m.http_tokens()),
        Some(&LaunchTemplateHttpTokensState::Required)
    );
    let ebs = data.block_device_mappings()[0].ebs().unwrap();
    assert_eq!(
        (ebs.encrypted(), ebs.volume_type(), ebs.volume_size()),
        (Some(true), Some(&VolumeType::Gp3), Some(40))
    );
    assert_eq!(
        data.instance_initiated_shutdown_behavior(),
        Some(&ShutdownBehavior::Terminate)
    );
    assert_eq!(
        data.network_interfaces()[0].associate_public_ip_address(),
        Some(false)
    );
}

#[tokio::test]
async fn instances_lists_the_scale_set_names_runners_and_terminates() {
    let s = setup("ca-central-1").await;
    // Short waits for the unknown id below, which no wait will make known.
    let fleet = s.fleet().with_patience(Patience {
        first: Duration::from_millis(10),
        total: Duration::from_millis(30),
    });
    let (mine, theirs) = (scale_set_id(), scale_set_id());
    let launched = fleet
        .launch(mine, 2, "ghaec2-test-mine")
        .await
        .unwrap()
        .instance_ids;
    fleet.launch(theirs, 1, "ghaec2-test-theirs").await.unwrap();

    let mut listed = fleet.instances(mine).await.unwrap();
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = launched.clone();
    expected.sort();
    assert_eq!(
        listed.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(
        listed
            .iter()
            .all(|i| matches!(i.state, InstanceState::Pending | InstanceState::Running))
    );
    assert!(listed.iter().all(|i| i.runner_name.is_none()));

    fleet.name_runner(&launched[0], "runner-abc").await.unwrap();
    let named = fleet.instances(mine).await.unwrap();
    let named = named.iter().find(|i| i.id == launched[0]).unwrap();
    assert_eq!(named.runner_name.as_deref(), Some("runner-abc"));
    let tags = s
        .ec2
        .describe_tags()
        .filters(
            Filter::builder()
                .name("resource-id")
                .values(&launched[0])
                .build(),
        )
        .send()
        .await
        .unwrap();
    let tag = |key: &str| {
        tags.tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
            .map(str::to_owned)
    };
    assert_eq!(
        (tag(TAG_RUNNER_NAME), tag(TAG_NAME)),
        (Some("runner-abc".into()), Some("runner-abc".into()))
    );

    // An id EC2 does not know must not stop the others from going.
    fleet
        .terminate(&[launched[0].clone(), "i-0000000000000dead".into()])
        .await
        .unwrap();
    let live = |listed: Vec<ghaec2::ports::Instance>| -> Vec<String> {
        listed
            .into_iter()
            .filter(|i| i.state.is_live())
            .map(|i| i.id)
            .collect()
    };
    assert_eq!(
        live(fleet.instances(mine).await.unwrap()),
        [launched[1].clone()]
    );
    fleet.terminate(&launched).await.unwrap();
    // Terminated instances stay listed (EC2 lists them for about an hour), as terminated.
    let listed = fleet.instances(mine).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.iter().all(|i| i.state == InstanceState::Terminated),
        "{listed:?}"
    );
    assert_eq!(live(fleet.instances(theirs).await.unwrap()).len(), 1);
    fleet.terminate(&[]).await.unwrap();
}

#[tokio::test]
async fn launching_nothing_calls_nothing() {
    let s = setup("eu-north-1").await;
    let outcome = s
        .fleet()
        .launch(scale_set_id(), 0, "ghaec2-test-zero")
        .await
        .unwrap();
    assert!(outcome.instance_ids.is_empty() && outcome.errors.is_empty());
    let templates = s.ec2.describe_launch_templates().send().await.unwrap();
    assert!(templates.launch_templates().is_empty());
}

#[tokio::test]
async fn dry_run_passes_and_creates_nothing() {
    let mut s = setup("ap-southeast-2").await;
    s.settings.ec2.instance_profile = Some(InstanceProfile::Name(moto::instance_profile().await));
    s.fleet().dry_run_launch(None).await.unwrap();
    let templates = s.ec2.describe_launch_templates().send().await.unwrap();
    assert!(templates.launch_templates().is_empty());
    let instances = s.ec2.describe_instances().send().await.unwrap();
    assert!(instances.reservations().is_empty());

    // moto checks that the instance profile exists, as IAM would.
    s.settings.ec2.instance_profile = Some(InstanceProfile::Name("missing-profile".into()));
    assert!(s.fleet().dry_run_launch(None).await.is_err());
}

#[tokio::test]
async fn resolve_ssm_amis_stay_in_the_template() {
    let mut s = setup("ap-northeast-1").await;
    s.settings.ec2.ami_id = Some(format!("resolve:ssm:{}", moto::AMI_PARAMETER));
    let fleet = s.fleet();
    let template = fleet.template(scale_set_id()).await.unwrap();
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
    assert_eq!(data.image_id(), s.settings.ec2.ami_id.as_deref());
    // The root device was read from the resolved AMI (Amazon Linux 2023: /dev/xvda).
    assert_eq!(
        data.block_device_mappings()[0].device_name(),
        Some("/dev/xvda")
    );
}
