//! [`DynamoJitStore`]: JIT configs delivered to their instances through the state table.
//!
//! Why DynamoDB and not SSM SecureString: SSM `PutParameter` is throttled at a few
//! transactions per second per account and region (shared with everything else in the
//! account), so a burst of 100 launches would take tens of seconds and hit throttling while
//! the instances wait; on-demand DynamoDB takes such a burst without a ceiling. Both encrypt at
//! rest. (A later measurement should confirm the numbers.)
//!
//! Item: pk `jit#<instance ARN>`, sk `jit`, the config in `jit_config`, plus `instance_id`,
//! `scale_set_name` and a TTL of [`schema::JIT_TTL`] so forgotten material expires anyway.
//! An instance whose runner cannot start writes sk `boot-failure` in the same partition
//! (`reason`, `instance_id`, `scale_set_name`, TTL [`schema::BOOT_FAILURE_TTL`]); one Scan
//! lists both.
//!
//! Why the key holds the instance ARN and not the bare id: the instance role must read and
//! delete its own item and no other runner's (a job on one runner must not register as
//! another). IAM can scope DynamoDB access only by partition key (`dynamodb:LeadingKeys`), and
//! the only request variable naming the calling instance is `${ec2:SourceInstanceARN}`; there
//! is no variable for the bare id. So the runner role's policy is:
//!
//! ```json
//! { "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:DeleteItem"],
//!   "Resource": "arn:aws:dynamodb:<region>:<account>:table/<table>",
//!   "Condition": { "ForAllValues:StringEquals":
//!     { "dynamodb:LeadingKeys": ["jit#${ec2:SourceInstanceARN}"] } } }
//! ```
//!
//! plus `dynamodb:PutItem` of the boot-failure record, under the same condition and limited to
//! its attributes (`template.yaml`). The key scheme is [`InstanceArns::jit_pk`]; the user-data script gets the ARN prefix rendered
//! in and appends the instance id it reads from IMDS.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::{ExposeSecret, SecretString};

use super::error::{Detail, from_sdk};
use super::identity::InstanceArns;
use super::schema::{self, boot_failure, jit};
use crate::ports::{BootFailure, JitListing, JitStore, PortError};

/// [`JitStore`] over the state table, for the instances of one scale set.
#[derive(Debug, Clone)]
pub struct DynamoJitStore {
    client: Client,
    table: String,
    scale_set: String,
    arns: InstanceArns,
}

impl DynamoJitStore {
    /// A store in `table` for the instances of `scale_set`, keyed by the ARNs `arns` builds.
    /// Scale sets may share a table: [`JitStore::listing`] lists this scale set's only.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        scale_set: impl Into<String>,
        arns: InstanceArns,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            scale_set: scale_set.into(),
            arns,
        }
    }
}

/// Longest reason kept from a boot-failure record: the instance writes it, and a job on the
/// instance could write anything there.
const REASON_MAX: usize = 200;

impl DynamoJitStore {
    /// Files one scanned item: JIT material by its instance id, a boot failure with its reason.
    fn add_to(&self, listing: &mut JitListing, item: &HashMap<String, AttributeValue>) {
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(value)) => Some(value.as_str()),
            _ => None,
        };
        let Some(instance_id) = text(jit::INSTANCE_ID)
            .map(str::to_owned)
            .or_else(|| text(schema::PARTITION_KEY).and_then(|pk| self.arns.instance_id_of(pk)))
        else {
            return;
        };
        match text(schema::SORT_KEY) {
            Some(schema::JIT_SORT_KEY) => listing.instance_ids.push(instance_id),
            Some(schema::BOOT_FAILURE_SORT_KEY) => listing.boot_failures.push(BootFailure {
                instance_id,
                reason: text(boot_failure::REASON)
                    .unwrap_or("no reason given")
                    .chars()
                    .take(REASON_MAX)
                    .collect(),
            }),
            _ => {}
        }
    }
}

impl JitStore for DynamoJitStore {
    async fn put(&self, instance_id: &str, config: &SecretString) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                schema::jit_key(self.arns.jit_pk(instance_id))
                    .into_iter()
                    .chain([
                        (
                            jit::CONFIG.to_owned(),
                            AttributeValue::S(config.expose_secret().to_owned()),
                        ),
                        (
                            jit::INSTANCE_ID.to_owned(),
                            AttributeValue::S(instance_id.to_owned()),
                        ),
                        (
                            jit::SCALE_SET_NAME.to_owned(),
                            AttributeValue::S(self.scale_set.clone()),
                        ),
                        (
                            schema::TTL_ATTRIBUTE.to_owned(),
                            schema::expiry_epoch(schema::JIT_TTL),
                        ),
                    ])
                    .collect(),
            ))
            .send()
            .await
            // The request carries the JIT config: keep AWS's message out.
            .map_err(|e| from_sdk("dynamodb put jit config", &e, Detail::CodeOnly))?;
        tracing::debug!(instance_id, "Stored JIT config.");
        Ok(())
    }

    async fn delete(&self, instance_id: &str) -> Result<(), PortError> {
        // Unconditional: the instance deletes its own item after reading it.
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(schema::jit_key(self.arns.jit_pk(instance_id))))
            .send()
            .await
            .map_err(|e| from_sdk("dynamodb delete jit config", &e, Detail::Full))?;
        Ok(())
    }

    async fn listing(&self) -> Result<JitListing, PortError> {
        const OP: &str = "dynamodb list jit configs";
        // A Scan, because JIT items have a partition per instance (for IAM). The table holds a
        // state record, a ledger entry per runner and a JIT item (or boot-failure record) per
        // booting instance, so it stays small. Keys, ids and reasons are read, never configs.
        let mut pages = schema::instance_items_scan(&self.client, &self.table, &self.scale_set)
            .projection_expression("#pk, #sk, #id, #reason")
            .expression_attribute_names("#id", jit::INSTANCE_ID)
            .expression_attribute_names("#reason", boot_failure::REASON)
            .into_paginator()
            .send();
        let mut listing = JitListing::default();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(OP, &e, Detail::Full))?;
            for item in page.items() {
                self.add_to(&mut listing, item);
            }
        }
        Ok(listing)
    }

    async fn delete_boot_failure(&self, instance_id: &str) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(schema::boot_failure_key(
                self.arns.jit_pk(instance_id),
            )))
            .send()
            .await
            .map_err(|e| from_sdk("dynamodb delete boot failure", &e, Detail::Full))?;
        Ok(())
    }
}
