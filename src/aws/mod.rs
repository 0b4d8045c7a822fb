//! The AWS adapters of the ports ([`crate::ports`]): DynamoDB for the lease, state, runner
//! ledger and JIT delivery; EC2 for the runner instances.
//!
//! Build the SDK clients once (in `main`) and hand them in:
//!
//! - [`DynamoStateStore::new`]`(dynamodb, table)`;
//! - [`InstanceArns::discover`]`(&sts, region)` once (or [`InstanceArns::of_caller`] with the
//!   Lambda function's ARN), then
//!   [`DynamoJitStore::new`]`(dynamodb, table, scale set name, arns.clone())` and
//!   [`Ec2Fleet::new`]`(ec2, ssm, `[`LaunchSettings::from_config`]`(&config, arns))`.
//!
//! # Layout
//!
//! - `schema`: the table's key schema, item layout and TTLs, once.
//! - `error`: SDK errors → [`PortError`](crate::ports::PortError) (fenced, retryable, fatal).
//! - `state`: [`DynamoStateStore`], lease with fencing, state record, ledger.
//! - `state_item`: items ↔ state and ledger records (pure).
//! - `identity`: [`InstanceArns`], the instance ARN scheme JIT keys and IAM share.
//! - `jit_store`: [`DynamoJitStore`], JIT configs keyed by instance ARN (why not SSM: there).
//! - `user_data` + `user_data.sh`: the runner bootstrap script, rendered without secrets.
//! - `runner_release`: the runner release (version, SHA-256s) the script installs if needed.
//! - `image`: the image to launch (the configured AMI, else Amazon Linux 2023 for the instance
//!   types' architecture) and its root device name.
//! - `template_spec`: [`TemplateSpec`], what the launch template holds, and the tags (pure).
//! - `launch_template`: the versioned per-scale-set template in EC2, and its requests.
//! - `launch_plan`: overrides matrix, capacity errors, client tokens, hashing (pure).
//! - `fleet`: [`Ec2Fleet`], instances, tagging, patience with unknown instance ids; its
//!   [`Launcher`] (CreateFleet spot launch with on-demand failover), its [`Terminator`]
//!   (TerminateInstances, an unknown id confirmed by DescribeInstances) and the dry run of a
//!   launch for `--dry-run`.
//! - `cleanup`: [`TableCleanup`], every item of a scale set, for `--teardown`.

mod cleanup;
mod error;
mod fleet;
mod identity;
mod image;
mod jit_store;
mod launch_plan;
mod launch_template;
pub mod runner_release;
pub mod schema;
mod state;
mod state_item;
mod template_spec;
pub mod user_data;

pub use cleanup::TableCleanup;
pub use fleet::{Ec2Fleet, LaunchSettings, Launcher, Patience, Terminator};
pub use identity::InstanceArns;
pub use jit_store::DynamoJitStore;
pub use launch_plan::template_name;
pub use launch_template::delete as delete_launch_template;
pub use state::DynamoStateStore;
pub use template_spec::{
    FINGERPRINT_PREFIX, MANAGED_BY, TAG_MANAGED_BY, TAG_NAME, TAG_RUNNER_NAME, TAG_SCALE_SET_ID,
    scale_set_tags,
};
pub use user_data::UserDataParams;
