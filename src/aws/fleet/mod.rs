//! [`Ec2Fleet`]: the EC2 side of a scale set. Instances are found by the
//! `ghaec2:scale-set-id` tag and named with tags here; the other parts are types of their own:
//! - `launch`: the [`Launcher`], CreateFleet `instant` from ghaec2's own launch template
//!   (spot first, on-demand failover);
//! - `terminate`: the [`Terminator`], TerminateInstances in batches, an unknown id
//!   confirmed by DescribeInstances;
//! - `dry_run`: the launch's calls with `DryRun=true`, for `--dry-run`.
//!
//! EC2 is eventually consistent: an instance id CreateFleet just returned may be unknown to
//! the next calls for a while ([`Patience`]).

mod dry_run;
mod launch;
mod terminate;

use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, InstanceLifecycleType, InstanceStateName, Tag};
use chrono::{DateTime, Utc};

pub use launch::{LaunchSettings, Launcher};
pub use terminate::Terminator;

use super::error::{Detail, INSTANCE_NOT_FOUND, code_of, from_sdk};
use super::template_spec::{TAG_NAME, TAG_RUNNER_NAME, TAG_SCALE_SET_ID, TemplateRef};
use crate::backoff::Backoff;
use crate::ports::{Fleet, Instance, InstanceState, LaunchOutcome, Lifecycle, PortError};

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
        let mut backoff = Backoff::new(self.first, self.total);
        let mut left = self.total;
        std::iter::from_fn(move || {
            let wait = backoff.fail().min(left);
            if wait.is_zero() {
                return None;
            }
            left -= wait;
            Some(wait)
        })
    }
}

/// [`Fleet`] over EC2: lists and tags instances itself, launches through its [`Launcher`] and
/// terminates through its [`Terminator`].
#[derive(Debug)]
pub struct Ec2Fleet {
    ec2: Client,
    launcher: Launcher,
    terminator: Terminator,
    /// How long an instance id EC2 does not know yet is retried.
    patience: Patience,
}

impl Ec2Fleet {
    /// A fleet launching with `settings`; `ssm` resolves `resolve:ssm:` AMIs for
    /// DescribeImages.
    pub fn new(ec2: Client, ssm: aws_sdk_ssm::Client, settings: LaunchSettings) -> Self {
        Self {
            launcher: Launcher::new(ec2.clone(), ssm, settings),
            terminator: Terminator::new(ec2.clone(), Patience::DEFAULT),
            ec2,
            patience: Patience::DEFAULT,
        }
    }

    /// The same fleet retrying unknown instance ids with `patience` instead of
    /// [`Patience::DEFAULT`].
    pub fn with_patience(self, patience: Patience) -> Self {
        Self {
            terminator: Terminator::new(self.ec2.clone(), patience),
            patience,
            ..self
        }
    }

    /// The launch template's name: `ghaec2-<scale set name>`.
    pub fn template_name(&self) -> String {
        self.launcher.template_name()
    }

    /// The template version to launch, ensured once per process and scale set id.
    pub async fn template(&self, scale_set_id: i64) -> Result<TemplateRef, PortError> {
        self.launcher.template(scale_set_id).await
    }

    /// Checks, without changing anything, that this role may make the EC2 calls of a
    /// launch; says what it checked (`--dry-run`).
    pub async fn dry_run_launch(&self, scale_set_id: Option<i64>) -> Result<String, PortError> {
        dry_run::check_launch(&self.launcher, scale_set_id).await
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

/// EC2 names spot instances in `InstanceLifecycle` and leaves it out for on-demand ones (its
/// other values, scheduled and capacity-block, are never launched by ghaec2).
fn lifecycle(kind: Option<&InstanceLifecycleType>) -> Lifecycle {
    match kind {
        Some(InstanceLifecycleType::Spot) => Lifecycle::Spot,
        _ => Lifecycle::OnDemand,
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
                    instance_type: found.instance_type().map(|t| t.as_str().to_owned()),
                    zone: found
                        .placement()
                        .and_then(|p| p.availability_zone())
                        .map(str::to_owned),
                    lifecycle: lifecycle(found.instance_lifecycle()),
                });
            }
        }
        Ok(instances)
    }

    async fn prepare(&self, scale_set_id: i64) -> Result<(), PortError> {
        self.launcher.template(scale_set_id).await.map(|_| ())
    }

    async fn launch(
        &self,
        scale_set_id: i64,
        count: u32,
        client_token: &str,
    ) -> Result<LaunchOutcome, PortError> {
        self.launcher
            .launch(scale_set_id, count, client_token)
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
        self.terminator.terminate(instance_ids).await
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
    fn only_spot_instances_are_spot() {
        let cases = [
            (Some(InstanceLifecycleType::Spot), Lifecycle::Spot),
            (None, Lifecycle::OnDemand),
            (
                Some(InstanceLifecycleType::CapacityBlock),
                Lifecycle::OnDemand,
            ),
        ];
        for (kind, want) in cases {
            assert_eq!(lifecycle(kind.as_ref()), want, "{kind:?}");
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
