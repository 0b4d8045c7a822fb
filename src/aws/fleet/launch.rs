//! Launching: CreateFleet `instant`, spot first across every instance type × subnet
//! (`price-capacity-optimized`), then the unfulfilled remainder on-demand when spot reported
//! capacity errors and failover is on. Partial fulfilment is normal: the outcome lists the
//! instances that exist and the error codes for the rest.

use aws_sdk_ec2::types::{
    DefaultTargetCapacityType, FleetLaunchTemplateConfigRequest,
    FleetLaunchTemplateOverridesRequest, FleetLaunchTemplateSpecificationRequest,
    FleetOnDemandAllocationStrategy, FleetType, InstanceType, OnDemandOptionsRequest, ResourceType,
    SpotAllocationStrategy, SpotOptionsRequest, TagSpecification,
    TargetCapacitySpecificationRequest,
};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::operation::create_fleet::builders::CreateFleetFluentBuilder;
use tokio::sync::Mutex;

use crate::aws::error::{Detail, from_sdk};
use crate::aws::identity::InstanceArns;
use crate::aws::image;
use crate::aws::launch_plan::{
    client_token, is_capacity_error, on_demand_token, overrides, template_name,
};
use crate::aws::launch_template;
use crate::aws::template_spec::{TemplateRef, TemplateSpec, scale_set_tags};
use crate::aws::user_data::{self, UserDataParams};
use crate::config::{Config, Ec2Settings};
use crate::ports::{LaunchError, LaunchOutcome, PortError};

/// How many instances the on-demand failover should launch (pure): the unfulfilled part,
/// when failover is on and spot said "no capacity" rather than "not allowed".
pub fn on_demand_remainder(requested: u32, spot: &LaunchOutcome, failover: bool) -> u32 {
    let launched = u32::try_from(spot.instance_ids.len()).unwrap_or(u32::MAX);
    let remainder = requested.saturating_sub(launched);
    let capacity_short = spot.errors.iter().any(|e| is_capacity_error(&e.code));
    if failover && capacity_short {
        remainder
    } else {
        0
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

/// Launches a scale set's instances from its launch template, which it keeps current.
#[derive(Debug)]
pub struct Launcher {
    ec2: Client,
    ssm: aws_sdk_ssm::Client,
    settings: LaunchSettings,
    /// The template version checked in this process, per scale set id: settings only change
    /// with a new deployment, so one check per process is enough.
    template: Mutex<Option<(i64, TemplateRef)>>,
}

impl Launcher {
    /// A launcher with `settings`; `ssm` resolves `resolve:ssm:` AMIs for DescribeImages.
    pub fn new(ec2: Client, ssm: aws_sdk_ssm::Client, settings: LaunchSettings) -> Self {
        Launcher {
            ec2,
            ssm,
            settings,
            template: Mutex::new(None),
        }
    }

    /// The EC2 client (the dry run sends its checks with it).
    pub fn ec2(&self) -> &Client {
        &self.ec2
    }

    /// What it launches.
    pub fn settings(&self) -> &LaunchSettings {
        &self.settings
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

    /// Launches up to `count` instances: spot first, then on-demand for the rest when spot
    /// was short of capacity and failover is on.
    pub async fn launch(
        &self,
        scale_set_id: i64,
        count: u32,
        token: &str,
    ) -> Result<LaunchOutcome, PortError> {
        if count == 0 {
            return Ok(LaunchOutcome::default());
        }
        let template = self.template(scale_set_id).await?;
        let spot_token = client_token(token);
        let mut outcome = self
            .create_fleet(&template, scale_set_id, count, true, &spot_token)
            .await?;
        let remainder = on_demand_remainder(count, &outcome, self.settings.ec2.on_demand_failover);
        if remainder > 0 {
            tracing::info!(
                scale_set_id,
                remainder,
                "Spot capacity short; launching the rest on-demand."
            );
            let on_demand = self
                .create_fleet(
                    &template,
                    scale_set_id,
                    remainder,
                    false,
                    &on_demand_token(&spot_token),
                )
                .await?;
            outcome.instance_ids.extend(on_demand.instance_ids);
            outcome.errors.extend(on_demand.errors);
        }
        let codes: Vec<&str> = outcome.errors.iter().map(|e| e.code.as_str()).collect();
        tracing::info!(
            scale_set_id,
            requested = count,
            launched = outcome.instance_ids.len(),
            instance_ids = ?outcome.instance_ids,
            error_codes = ?codes,
            "Launched instances."
        );
        Ok(outcome)
    }

    /// The CreateFleet request without its client token (shared with `--dry-run`, so IAM
    /// judges exactly the tags and resources of a real launch).
    pub fn fleet_request(
        &self,
        template: &TemplateRef,
        scale_set_id: i64,
        count: u32,
        spot: bool,
    ) -> CreateFleetFluentBuilder {
        let ec2 = &self.settings.ec2;
        let max_price = if spot {
            ec2.spot_max_price.as_deref()
        } else {
            None
        };
        let overrides = overrides(&ec2.instance_types, &ec2.subnet_ids, max_price)
            .into_iter()
            .map(|o| {
                FleetLaunchTemplateOverridesRequest::builder()
                    .instance_type(InstanceType::from(o.instance_type.as_str()))
                    .subnet_id(o.subnet_id)
                    .set_max_price(o.max_price)
                    .build()
            })
            .collect();
        let config = FleetLaunchTemplateConfigRequest::builder()
            .launch_template_specification(
                FleetLaunchTemplateSpecificationRequest::builder()
                    .launch_template_id(&template.id)
                    .version(template.version.to_string())
                    .build(),
            )
            .set_overrides(Some(overrides))
            .build();
        let capacity_type = if spot {
            DefaultTargetCapacityType::Spot
        } else {
            DefaultTargetCapacityType::OnDemand
        };
        let total = i32::try_from(count).unwrap_or(i32::MAX);
        self.ec2
            .create_fleet()
            .r#type(FleetType::Instant)
            .launch_template_configs(config)
            .target_capacity_specification(
                TargetCapacitySpecificationRequest::builder()
                    .total_target_capacity(total)
                    .default_target_capacity_type(capacity_type)
                    .build(),
            )
            .spot_options(
                SpotOptionsRequest::builder()
                    .allocation_strategy(SpotAllocationStrategy::PriceCapacityOptimized)
                    .build(),
            )
            .on_demand_options(
                OnDemandOptionsRequest::builder()
                    .allocation_strategy(FleetOnDemandAllocationStrategy::LowestPrice)
                    .build(),
            )
            // On the instances themselves (the template tags them too), so they are found by
            // the scale set even if the template's tags were edited by hand.
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(scale_set_tags(scale_set_id, &self.template_name())))
                    .build(),
            )
    }

    async fn create_fleet(
        &self,
        template: &TemplateRef,
        scale_set_id: i64,
        count: u32,
        spot: bool,
        token: &str,
    ) -> Result<LaunchOutcome, PortError> {
        let sent = self
            .fleet_request(template, scale_set_id, count, spot)
            .client_token(token)
            .send()
            .await
            .map_err(|e| from_sdk("ec2 create fleet", &e, Detail::Full))?;
        Ok(LaunchOutcome {
            instance_ids: sent
                .instances()
                .iter()
                .flat_map(|i| i.instance_ids())
                .cloned()
                .collect(),
            errors: sent
                .errors()
                .iter()
                .map(|e| LaunchError {
                    code: e.error_code().unwrap_or("Unknown").to_owned(),
                    message: e.error_message().unwrap_or_default().to_owned(),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(ids: usize, codes: &[&str]) -> LaunchOutcome {
        LaunchOutcome {
            instance_ids: (0..ids).map(|i| format!("i-{i}")).collect(),
            errors: codes
                .iter()
                .map(|c| LaunchError {
                    code: (*c).into(),
                    message: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn fails_over_only_for_capacity_errors_and_only_the_rest() {
        assert_eq!(
            on_demand_remainder(5, &outcome(2, &["InsufficientInstanceCapacity"]), true),
            3
        );
        assert_eq!(
            on_demand_remainder(5, &outcome(2, &["InsufficientInstanceCapacity"]), false),
            0
        );
        assert_eq!(
            on_demand_remainder(5, &outcome(2, &["UnauthorizedOperation"]), true),
            0
        );
        assert_eq!(
            on_demand_remainder(5, &outcome(5, &["InsufficientInstanceCapacity"]), true),
            0
        );
        assert_eq!(on_demand_remainder(5, &outcome(0, &[]), true), 0);
        assert_eq!(
            on_demand_remainder(
                3,
                &outcome(0, &["UnauthorizedOperation", "SpotMaxPriceTooLow"]),
                true
            ),
            3
        );
    }
}
