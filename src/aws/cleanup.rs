//! [`TableCleanup`]: finds and deletes every item a scale set has in the state table, for
//! `ghaec2 --teardown` ([`crate::teardown`]).
//!
//! Items are found by key and by the `scale_set_name` attribute, never by decoding them, so an
//! item of a newer layout (or a hand-edited one) goes too: the ledger is the `runner#` sort keys
//! of the scale set's partition, and every `jit#` item (JIT material and the boot-failure record
//! an instance writes beside it) carries the scale set's name.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::error::{Detail, from_sdk};
use super::schema::{self, Key, state as s};
use crate::ports::{Lease, PortError};

/// Deletes a scale set's items in the state table.
#[derive(Debug, Clone)]
pub struct TableCleanup {
    client: Client,
    table: String,
}

impl TableCleanup {
    /// Cleanup in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Names of the scale set's ledger entries (the sort keys after `runner#`).
    pub async fn ledger_names(&self, scale_set: &str) -> Result<Vec<String>, PortError> {
        const OP: &str = "dynamodb list ledger keys";
        let mut pages = schema::ledger_query(&self.client, &self.table, scale_set)
            .projection_expression("#sk")
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(OP, &e, Detail::Full))?;
            names.extend(
                page.items()
                    .iter()
                    .filter_map(|item| match item.get(schema::SORT_KEY) {
                        Some(AttributeValue::S(sk)) => {
                            sk.strip_prefix(schema::RUNNER_PREFIX).map(str::to_owned)
                        }
                        _ => None,
                    }),
            );
        }
        Ok(names)
    }

    /// Keys of every `jit#` item of the scale set: JIT material and boot-failure records.
    pub async fn instance_item_keys(&self, scale_set: &str) -> Result<Vec<Key>, PortError> {
        const OP: &str = "dynamodb list instance items";
        // Keys only: the JIT configs themselves are never read.
        let mut pages = schema::instance_items_scan(&self.client, &self.table, scale_set)
            .projection_expression("#pk, #sk")
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(OP, &e, Detail::Full))?;
            keys.extend(page.items().iter().cloned());
        }
        Ok(keys)
    }

    /// Deletes one item by key; a missing one is fine.
    pub async fn delete(&self, key: Key) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .send()
            .await
            .map_err(|e| from_sdk("dynamodb delete item", &e, Detail::Full))?;
        Ok(())
    }

    /// Deletes the scale set's state record under the lease's fence: the last write of a
    /// teardown, which releases the lease with the record.
    pub async fn delete_state(&self, scale_set: &str, lease: &Lease) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(schema::state_key(scale_set)))
            .condition_expression("#fence = :fence AND #owner = :owner")
            .expression_attribute_names("#fence", s::FENCE)
            .expression_attribute_names("#owner", s::LEASE_OWNER)
            .expression_attribute_values(":fence", AttributeValue::N(lease.fence.to_string()))
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .send()
            .await
            .map_err(|e| from_sdk("dynamodb delete state", &e, Detail::Full))?;
        Ok(())
    }
}
