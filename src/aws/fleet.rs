//! [`Ec2Fleet`]: the EC2 side of a scale set. Instances are found by the
//! `ghaec2:scale-set-id` tag, launched through CreateFleet `instant` from ghaec2's own launch
//! template ([`super::launch_template`]; launching lives in `fleet_launch`), named with tags,
//! and terminated in batches (`fleet_terminate`). EC2 is eventually consistent: an instance id
//! CreateFleet just returned may be unknown to the next calls for a while ([`Patience`]).

use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, InstanceStateName, Tag};
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::error::{Detail, INSTANCE_NOT_FOUND, code_of, from_sdk};
use super::identity::InstanceArns;
use super::image;
use super::launch_plan::template_name;
use super::launch_template;
use super::template_spec::{
    TAG_NAME, TAG_RUNNER_NAME, TAG_SCALE_SET_ID, TemplateRef, TemplateSpec,
};
use super::user_data::{self, UserDataParams};
use crate::config::{Config, Ec2Settings};
use crate::ports::{Fleet, Instance, InstanceState, LaunchOutcome, PortError};

/// How long a call naming an instance id EC2 does not know yet is retried, and how often.
///
/// AWS advises retrying with exponential backoff "starting with a couple of seconds of wait
/// time, and increasing gradually up to a few minutes" ("Eventual consistency in the Amazon
/// EC2 API", <https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>).
/// Minutes do not fit in one reconcile of a 50-second window, so one call waits at most
/// [`Patience::DEFAULT`]'s 15 s (under a third of the window, leaving the rest to serve the
/// queue), and the rest of the advice is kept across reconciles: tags converge at the next
/// one, and an instance that surfaces late is met as unknown and terminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// The first wait; each next one doubles.
    pub first: Duration,
    /// The waits add up to at most this.
    pub total: Duration,
}

impl Patience {
    /// Half a second first, 15 s in all: 0.5, 1, 2, 4, 7.5 s.
    pub const DEFAULT: Patience = Patience {
        first: Duration::from_millis(500),
        total: Duration::from_secs(15),
    };

    /// The waits between attempts (pure): doubling from `first`, the last one cut so that
    /// they add up to `total`.
    pub fn waits(self) -> impl Iterator<Item = Duration> {
        let mut left = self.total;
        let mut next = self.first;
        std::iter::from_fn(move || {
            let wait = next.min(left);
            if wait.is_zero() {
                return None;
            }
            left -= wait;
            next = next.saturating_mul(2);
            Some(wait)
        })
    }
}

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
    /// How long an instance id EC2 does not know yet is retried.
    pub(super) patience: Patience,
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
            patience: Patience::DEFAULT,
        }
    }

    /// The same fleet retrying unknown instance ids with `patience` instead of
    /// [`Patience::DEFAULT`].
    pub fn with_patience(self, patience: Patience) -> Self {
        Self { patience, ..self }
    }

    /// The launch template's name: `ghaec2-<scale set name>`.
    pub fn template_name(&self) -> String {
        template_name(&self.settings.scale_set_name)
    }

    /// The template spec for `scale_set_id`, from settings and the AMI's root device.
    pub async fn template_spec(&self, scale_set_id: i64) -> Result<TemplateSpec, PortError> {
        let ec2 = &self.settings.ec2;
        let image_id =
            image::image_for(&self.ec2, ec2.ami_id.as_deref(), &ec2.instance_types).await?;
        Ok(TemplateSpec {
            name: self.template_name(),
            scale_set_id,
            root_device_name: image::root_device_name(&self.ec2, &self.ssm, &image_id).await?,
            image_id,
            root_volume_gib: ec2.root_volume_size_gib,
            ebs_kms_key_id: ec2.ebs_kms_key_id.clone(),
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
        // Every state, terminated included: an instance EC2 still lists as terminated is known
        // gone at once, not only after the describe grace. Only a tag filter, which moto knows
        // too (it answers unknown filters with a 500).
        let mut pages = self
            .ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name(format!("tag:{TAG_SCALE_SET_ID}"))
                    .values(scale_set_id.to_string())
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
        let mut waits = self.patience.waits();
        loop {
            let tagged = self
                .ec2
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
                .await;
            let error = match tagged {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            // A launch still propagating: wait, within the patience.
            if code_of(&error) == Some(INSTANCE_NOT_FOUND)
                && let Some(wait) = waits.next()
            {
                tracing::debug!(
                    instance_id,
                    wait_ms = wait.as_millis() as u64,
                    "EC2 does not know the instance yet; tagging again."
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(from_sdk("ec2 tag runner name", &error, Detail::Full));
        }
    }

    async fn terminate(&self, instance_ids: &[String]) -> Result<(), PortError> {
        self.terminate_instances(instance_ids).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_doubles_its_waits_up_to_the_total() {
        let ms = Duration::from_millis;
        let cases = [
            (Patience::DEFAULT, vec![500, 1000, 2000, 4000, 7500]),
            (
                Patience {
                    first: ms(100),
                    total: ms(700),
                },
                vec![100, 200, 400],
            ),
            (
                Patience {
                    first: ms(100),
                    total: ms(50),
                },
                vec![50],
            ),
            (
                Patience {
                    first: ms(100),
                    total: Duration::ZERO,
                },
                vec![],
            ),
            (
                Patience {
                    first: Duration::ZERO,
                    total: ms(100),
                },
                vec![],
            ),
        ];
        for (patience, want) in cases {
            let waits: Vec<u128> = patience.waits().map(|w| w.as_millis()).collect();
            assert_eq!(waits, want, "{patience:?}");
        }
    }

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
