//! [`Ec2Fleet`]: the EC2 side of a scale set. Instances are found by the
//! `ghaec2:scale-set-id` tag, launched through CreateFleet `instant` from ghaec2's own launch
//! template ([`super::launch_template`]; launching lives in `fleet_launch`), named with tags,
//! and terminated in batches.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, InstanceStateName, Tag};
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::error::{Detail, code_of, from_sdk};
use super::identity::InstanceArns;
use super::image;
use super::launch_plan::template_name;
use super::launch_template::{
    self, TAG_NAME, TAG_RUNNER_NAME, TAG_SCALE_SET_ID, TemplateRef, TemplateSpec,
};
use super::user_data::{self, UserDataParams};
use crate::config::{Config, Ec2Settings};
use crate::ports::{Fleet, Instance, InstanceState, LaunchOutcome, PortError};

/// Instance states asked for: everything but `terminated`.
pub const LIVE_STATES: &[&str] = &["pending", "running", "shutting-down", "stopping", "stopped"];

/// TerminateInstances batch size.
const TERMINATE_BATCH: usize = 500;

/// Error code of an instance id EC2 does not know (any more).
const NOT_FOUND: &str = "InvalidInstanceID.NotFound";

/// What the fleet launches, derived from configuration.
#[derive(Debug, Clone)]
pub struct LaunchSettings {
    /// Scale set name (template name, `Name` tag).
    pub scale_set_name: String,
    /// The `EC2_*` settings.
    pub ec2: Ec2Settings,
    /// What the user-data script is rendered with.
    pub user_data: UserDataParams,
}

impl LaunchSettings {
    /// From the validated configuration and the account's instance ARNs
    /// ([`InstanceArns::discover`]).
    pub fn from_config(config: &Config, arns: InstanceArns) -> Self {
        Self {
            scale_set_name: config.github.scale_set_name.clone(),
            ec2: config.ec2.clone(),
            user_data: UserDataParams {
                min_runner_version: Some(config.runtime.runner_min_version.clone())
                    .filter(|v| v != "0.0.0"),
                ..UserDataParams::new(
                    config.runtime.state_table_name.clone(),
                    config.github.scale_set_name.clone(),
                    arns,
                )
            },
        }
    }
}

/// [`Fleet`] over EC2.
#[derive(Debug)]
pub struct Ec2Fleet {
    pub(super) ec2: Client,
    ssm: aws_sdk_ssm::Client,
    pub(super) settings: LaunchSettings,
    /// The template version checked in this process, per scale set id: settings only change
    /// with a new deployment, so one check per process is enough.
    template: Mutex<Option<(i64, TemplateRef)>>,
}

impl Ec2Fleet {
    /// A fleet launching with `settings`; `ssm` resolves `resolve:ssm:` AMIs for
    /// DescribeImages.
    pub fn new(ec2: Client, ssm: aws_sdk_ssm::Client, settings: LaunchSettings) -> Self {
        Self {
            ec2,
            ssm,
            settings,
            template: Mutex::new(None),
        }
    }

    /// The launch template's name: `ghaec2-<scale set name>`.
    pub fn template_name(&self) -> String {
        template_name(&self.settings.scale_set_name)
    }

    /// The template spec for `scale_set_id`, from settings and the AMI's root device.
    pub async fn template_spec(&self, scale_set_id: i64) -> Result<TemplateSpec, PortError> {
        let ec2 = &self.settings.ec2;
        Ok(TemplateSpec {
            name: self.template_name(),
            scale_set_id,
            image_id: ec2.ami_id.clone(),
            root_device_name: image::root_device_name(&self.ec2, &self.ssm, &ec2.ami_id).await?,
            root_volume_gib: ec2.root_volume_size_gib,
            security_group_ids: ec2.security_group_ids.clone(),
            key_pair_name: ec2.key_pair_name.clone(),
            instance_profile: ec2.instance_profile.clone(),
            associate_public_ip: ec2.associate_public_ip,
            user_data_base64: user_data::render_base64(&self.settings.user_data)?,
        })
    }

    /// The template version to launch, ensured once per process and scale set id.
    pub async fn template(&self, scale_set_id: i64) -> Result<TemplateRef, PortError> {
        // Held across the calls on purpose: concurrent launches wait for one check.
        let mut cached = self.template.lock().await;
        if let Some((id, template)) = cached.as_ref()
            && *id == scale_set_id
        {
            return Ok(template.clone());
        }
        let spec = self.template_spec(scale_set_id).await?;
        let template = launch_template::ensure(&self.ec2, &spec).await?;
        *cached = Some((scale_set_id, template.clone()));
        Ok(template)
    }
}

fn instance_state(name: Option<&InstanceStateName>) -> InstanceState {
    match name {
        Some(InstanceStateName::Pending) => InstanceState::Pending,
        Some(InstanceStateName::Running) => InstanceState::Running,
        Some(InstanceStateName::Terminated) => InstanceState::Terminated,
        // shutting-down, stopping, stopped, and anything new: on the way out.
        _ => InstanceState::Stopping,
    }
}

fn to_chrono(at: &aws_sdk_ec2::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.secs(), at.subsec_nanos())
}

impl Fleet for Ec2Fleet {
    async fn instances(&self, scale_set_id: i64) -> Result<Vec<Instance>, PortError> {
        const OP: &str = "ec2 describe instances";
        // Only filters moto knows too (tag and state); moto answers unknown ones with a 500.
        let mut pages = self
            .ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name(format!("tag:{TAG_SCALE_SET_ID}"))
                    .values(scale_set_id.to_string())
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .set_values(Some(LIVE_STATES.iter().map(|s| (*s).to_owned()).collect()))
                    .build(),
            )
            .into_paginator()
            .send();
        let mut instances = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(OP, &e, Detail::Full))?;
            for found in page.reservations().iter().flat_map(|r| r.instances()) {
                let Some(id) = found.instance_id() else {
                    continue;
                };
                let launched_at = found.launch_time().and_then(to_chrono).unwrap_or_else(|| {
                    // EC2 always sends it; "now" keeps such an instance from looking overdue.
                    tracing::warn!(instance_id = id, "Instance without launch time.");
                    Utc::now()
                });
                let runner_name = found
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(TAG_RUNNER_NAME))
                    .and_then(|t| t.value())
                    .map(str::to_owned);
                instances.push(Instance {
                    id: id.to_owned(),
                    state: instance_state(found.state().and_then(|s| s.name())),
                    launched_at,
                    runner_name,
                });
            }
        }
        Ok(instances)
    }

    async fn launch(
        &self,
        scale_set_id: i64,
        count: u32,
        client_token: &str,
    ) -> Result<LaunchOutcome, PortError> {
        self.launch_instances(scale_set_id, count, client_token)
            .await
    }

    async fn name_runner(&self, instance_id: &str, runner_name: &str) -> Result<(), PortError> {
        self.ec2
            .create_tags()
            .resources(instance_id)
            .tags(
                Tag::builder()
                    .key(TAG_RUNNER_NAME)
                    .value(runner_name)
                    .build(),
            )
            .tags(Tag::builder().key(TAG_NAME).value(runner_name).build())
            .send()
            .await
            .map_err(|e| from_sdk("ec2 tag runner name", &e, Detail::Full))?;
        Ok(())
    }

    async fn terminate(&self, instance_ids: &[String]) -> Result<(), PortError> {
        for batch in instance_ids.chunks(TERMINATE_BATCH) {
            // EC2 refuses the whole batch for one unknown id: then one by one, so the others
            // still go and the unknown (already gone) ones are skipped.
            if !self.terminate_batch(batch).await? && batch.len() > 1 {
                for id in batch {
                    self.terminate_batch(std::slice::from_ref(id)).await?;
                }
            }
        }
        if !instance_ids.is_empty() {
            tracing::info!(count = instance_ids.len(), instance_ids = ?instance_ids, "Terminated instances.");
        }
        Ok(())
    }
}

impl Ec2Fleet {
    /// Terminates a batch; `Ok(false)` when EC2 does not know one of the ids (any more).
    async fn terminate_batch(&self, ids: &[String]) -> Result<bool, PortError> {
        let result = self
            .ec2
            .terminate_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if code_of(&e) == Some(NOT_FOUND) => Ok(false),
            Err(e) => Err(from_sdk("ec2 terminate instances", &e, Detail::Full)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_the_ports_view() {
        let cases = [
            (Some(InstanceStateName::Pending), InstanceState::Pending),
            (Some(InstanceStateName::Running), InstanceState::Running),
            (
                Some(InstanceStateName::ShuttingDown),
                InstanceState::Stopping,
            ),
            (Some(InstanceStateName::Stopped), InstanceState::Stopping),
            (
                Some(InstanceStateName::Terminated),
                InstanceState::Terminated,
            ),
            (None, InstanceState::Stopping),
        ];
        for (name, state) in cases {
            assert_eq!(instance_state(name.as_ref()), state, "{name:?}");
        }
    }
}
