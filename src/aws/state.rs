//! [`DynamoStateStore`]: the lease, the state record, the admin connection, the runner ledger and
//! the pending reruns of each scale set in the state table ([`super::schema`]).
//!
//! A read is one consistent Query of the state item, the admin connection's item and the
//! decisions' item (one read unit while they weigh under 4 KB together); `acquire` runs the same
//! Query beside its write, for the other two. The admin connection and the decisions are written
//! by a plain PutItem, outside the fence.
//!
//! Fencing: `acquire` increments `fence` in the same conditional write that takes the lease;
//! every later write is conditional on `fence = :fence AND lease_owner = :owner`, so once a
//! successor has taken over, a stale owner's late write fails with [`PortErrorKind::Fenced`].
//! Ledger and rerun writes live in other items, so they go through a transaction whose
//! ConditionCheck tests the state item's fence.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use chrono::{DateTime, Utc};

use super::error::{Detail, build_error, classify, from_sdk, malformed};
use super::schema::{self, state as s};
use super::state_item::{
    Item, decode_decisions, decode_lease, decode_record, decode_rerun, decode_runner, decode_state,
    encode_admin, encode_decisions, encode_rerun, encode_runner, encode_state, millis, n,
};
use crate::ports::{
    Decisions, Lease, LeaseOutcome, PortError, PortErrorKind, RerunRecord, RunnerRecord,
    ScaleSetState, StateRecord, StateStore, StoredAdmin,
};

/// The fencing condition every write after `acquire` carries.
const FENCE_CONDITION: &str = "#fence = :fence AND #owner = :owner";

/// [`StateStore`] over DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: Client,
    table: String,
}

impl DynamoStateStore {
    /// A store over `table` (created by `template.yaml`).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Reads the lease holder when a conditional acquire failed without returning the item.
    async fn holder(&self, scale_set: &str) -> Result<Item, PortError> {
        const OP: &str = "dynamodb read lease";
        self.get(OP, schema::state_key(scale_set))
            .await?
            .ok_or_else(|| malformed(OP, "the state record vanished while held"))
    }

    /// One consistent GetItem; `None` when there is no such item.
    async fn get(
        &self,
        operation: &'static str,
        key: schema::Key,
    ) -> Result<Option<Item>, PortError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| from_sdk(operation, &e, Detail::Full))?;
        Ok(got.item)
    }

    /// The items the state Query finds: the state item and the items beside it.
    async fn state_items(
        &self,
        operation: &'static str,
        scale_set: &str,
    ) -> Result<StateItems, PortError> {
        let page = schema::state_query(&self.client, &self.table, scale_set)
            .send()
            .await
            .map_err(|e| from_sdk(operation, &e, Detail::Full))?;
        // Three small items: one page holds them.
        let item = |sort_key: &str| {
            page.items()
                .iter()
                .find(|item| {
                    matches!(item.get(schema::SORT_KEY), Some(AttributeValue::S(sk)) if sk == sort_key)
                })
                .cloned()
        };
        Ok(StateItems {
            state: item(schema::STATE_SORT_KEY),
            admin: item(schema::ADMIN_SORT_KEY),
            decisions: item(schema::DECISIONS_SORT_KEY),
        })
    }
}

/// The state item and the items read with it.
#[derive(Debug, Default)]
struct StateItems {
    state: Option<Item>,
    admin: Option<Item>,
    decisions: Option<Item>,
}

/// The decisions, or none when their item is unreadable: they only inform operators, and the
/// next write replaces them.
fn decisions_or_none(scale_set: &str, item: Option<&Item>) -> Decisions {
    item.map(decode_decisions)
        .transpose()
        .unwrap_or_else(|e| {
            tracing::warn!(scale_set, error = %e, "Skipped the unreadable decisions.");
            None
        })
        .unwrap_or_default()
}

impl DynamoStateStore {
    /// Writes an item no fence guards: what any invocation may overwrite, the last writer's
    /// standing (the admin connection, the decisions).
    async fn put_unfenced(
        &self,
        operation: &'static str,
        item: Item,
        detail: Detail,
    ) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| from_sdk(operation, &e, detail))?;
        Ok(())
    }
}

/// Names and values of the fencing condition.
fn fence_names() -> HashMap<String, String> {
    HashMap::from([
        ("#fence".to_owned(), s::FENCE.to_owned()),
        ("#owner".to_owned(), s::LEASE_OWNER.to_owned()),
    ])
}

fn fence_values(lease: &Lease) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":fence".to_owned(), n(lease.fence)),
        (":owner".to_owned(), AttributeValue::S(lease.owner.clone())),
    ])
}

/// `Held` from the holder's item.
fn held(item: &Item, operation: &'static str) -> Result<LeaseOutcome, PortError> {
    let lease = decode_lease(item).map_err(|e| malformed(operation, &e.to_string()))?;
    match (lease.owner, lease.expires_at) {
        (Some(owner), Some(expires_at)) => Ok(LeaseOutcome::Held { owner, expires_at }),
        _ => Err(malformed(
            operation,
            "condition failed on a record without a lease",
        )),
    }
}

/// Maps a failed ledger transaction: a failed ConditionCheck means the fence moved.
fn transaction_error(
    operation: &'static str,
    err: &SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> PortError {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return from_sdk(operation, err, Detail::Full);
    };
    let codes: Vec<&str> = cancelled
        .cancellation_reasons()
        .iter()
        .filter_map(|r| r.code())
        .filter(|c| *c != "None")
        .collect();
    // The most telling reason wins: a moved fence, then anything retryable, then the rest.
    let kind = [PortErrorKind::Fenced, PortErrorKind::Retryable]
        .into_iter()
        .find(|k| codes.iter().any(|c| classify(Some(c), None) == *k))
        .unwrap_or(PortErrorKind::Fatal);
    PortError {
        operation,
        kind,
        message: format!(
            "TransactionCanceledException: reasons [{}]",
            codes.join(", ")
        ),
    }
}

impl StateStore for DynamoStateStore {
    async fn read(&self, scale_set: &str) -> Result<StateRecord, PortError> {
        const OP: &str = "dynamodb read state";
        let items = self.state_items(OP, scale_set).await?;
        let mut record = decode_record(&items.state.unwrap_or_default(), items.admin.as_ref())
            .map_err(|e| malformed(OP, &e.to_string()))?;
        record.state.decisions = decisions_or_none(scale_set, items.decisions.as_ref());
        Ok(record)
    }

    async fn put_admin(&self, scale_set: &str, admin: &StoredAdmin) -> Result<(), PortError> {
        let mut item = encode_admin(admin);
        item.extend(schema::admin_key(scale_set));
        // The item carries the admin token: keep AWS's message out.
        self.put_unfenced("dynamodb put admin connection", item, Detail::CodeOnly)
            .await
    }

    async fn put_decisions(&self, scale_set: &str, decisions: &Decisions) -> Result<(), PortError> {
        let mut item = encode_decisions(decisions);
        item.extend(schema::decisions_key(scale_set));
        self.put_unfenced("dynamodb put decisions", item, Detail::Full)
            .await
    }

    #[tracing::instrument(level = "debug", skip(self, expires_at, now), fields(table = %self.table))]
    async fn acquire(
        &self,
        scale_set: &str,
        owner: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, PortError> {
        const OP: &str = "dynamodb acquire lease";
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(schema::state_key(scale_set)))
            .update_expression(
                "SET #owner = :owner, #expires = :expires, #name = :name, \
                 #fence = if_not_exists(#fence, :zero) + :one",
            )
            // Free when never taken, lapsed, or already ours (a retried acquire).
            .condition_expression(
                "attribute_not_exists(#owner) OR #expires < :now OR #owner = :owner",
            )
            .expression_attribute_names("#owner", s::LEASE_OWNER)
            .expression_attribute_names("#expires", s::LEASE_EXPIRES_AT)
            .expression_attribute_names("#name", s::SCALE_SET_NAME)
            .expression_attribute_names("#fence", s::FENCE)
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":expires", millis(expires_at))
            .expression_attribute_values(":name", AttributeValue::S(scale_set.to_owned()))
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        let (result, beside) = tokio::join!(update, self.state_items(OP, scale_set));
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                let fence = decode_lease(&item)
                    .map_err(|e| malformed(OP, &e.to_string()))?
                    .fence;
                // The admin connection only spares the token chain, the decisions only inform:
                // failing the acquire over them would leave the lease taken and unused until it
                // lapses.
                let beside = beside.unwrap_or_else(|e| {
                    tracing::warn!(scale_set, error = %e, "Could not read the admin connection and decisions; a new admin connection will be made.");
                    StateItems::default()
                });
                let mut state = decode_state(&item, beside.admin.as_ref())
                    .map_err(|e| malformed(OP, &e.to_string()))?;
                state.decisions = decisions_or_none(scale_set, beside.decisions.as_ref());
                tracing::debug!(scale_set, owner, fence, "Lease acquired.");
                // The expiry we asked for, not the millisecond value read back.
                Ok(LeaseOutcome::Acquired(
                    Lease {
                        owner: owner.to_owned(),
                        fence,
                        expires_at,
                    },
                    state,
                ))
            }
            Err(e) => {
                let Some(failed) = e.as_service_error().and_then(|s| match s {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => Some(c),
                    _ => None,
                }) else {
                    return Err(from_sdk(OP, &e, Detail::Full));
                };
                let item = match failed.item() {
                    Some(item) => item.clone(),
                    None => self.holder(scale_set).await?,
                };
                held(&item, OP)
            }
        }
    }

    async fn save(
        &self,
        scale_set: &str,
        lease: &Lease,
        state: &ScaleSetState,
    ) -> Result<(), PortError> {
        self.update_state("dynamodb save state", scale_set, lease, Some(state), false)
            .await
    }

    async fn release(&self, scale_set: &str, lease: &Lease) -> Result<(), PortError> {
        self.release_with(scale_set, lease, None).await
    }

    async fn save_and_release(
        &self,
        scale_set: &str,
        lease: &Lease,
        state: &ScaleSetState,
    ) -> Result<(), PortError> {
        self.release_with(scale_set, lease, Some(state)).await
    }

    async fn runners(&self, scale_set: &str) -> Result<Vec<RunnerRecord>, PortError> {
        const OP: &str = "dynamodb read ledger";
        let mut pages = schema::ledger_query(&self.client, &self.table, scale_set)
            .into_paginator()
            .send();
        let mut runners = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(OP, &e, Detail::Full))?;
            for item in page.items() {
                match decode_runner(item) {
                    Ok(runner) => runners.push(runner),
                    // One hand-edited entry must not stop every cycle; the instance, if any,
                    // is still seen through EC2.
                    Err(e) => {
                        tracing::warn!(scale_set, error = %e, "Skipped an unreadable ledger entry.")
                    }
                }
            }
        }
        Ok(runners)
    }

    async fn put_runner(
        &self,
        scale_set: &str,
        lease: &Lease,
        runner: &RunnerRecord,
    ) -> Result<(), PortError> {
        let item = encode_runner(runner);
        let key = schema::runner_key(scale_set, &runner.name);
        self.fenced_put(
            "dynamodb put runner",
            scale_set,
            lease,
            item,
            key,
            schema::RUNNER_TTL,
        )
        .await
    }

    async fn delete_runner(
        &self,
        scale_set: &str,
        lease: &Lease,
        name: &str,
    ) -> Result<(), PortError> {
        // An unconditional delete: a missing entry is fine.
        let key = schema::runner_key(scale_set, name);
        self.fenced_delete("dynamodb delete runner", scale_set, lease, key)
            .await
    }

    async fn reruns(&self, scale_set: &str) -> Result<Vec<RerunRecord>, PortError> {
        const OP: &str = "dynamodb read reruns";
        let mut pages = schema::reruns_query(&self.client, &self.table, scale_set)
            .into_paginator()
            .send();
        let mut reruns = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(OP, &e, Detail::Full))?;
            for item in page.items() {
                match decode_rerun(item) {
                    Ok(rerun) => reruns.push(rerun),
                    // One hand-edited record must not stop every cycle; its TTL removes it.
                    Err(e) => {
                        tracing::warn!(scale_set, error = %e, "Skipped an unreadable rerun record.")
                    }
                }
            }
        }
        Ok(reruns)
    }

    async fn put_rerun(
        &self,
        scale_set: &str,
        lease: &Lease,
        rerun: &RerunRecord,
    ) -> Result<(), PortError> {
        let item = encode_rerun(rerun);
        let key = schema::rerun_key(scale_set, rerun.run_id);
        self.fenced_put(
            "dynamodb put rerun",
            scale_set,
            lease,
            item,
            key,
            schema::RERUN_TTL,
        )
        .await
    }

    async fn delete_rerun(
        &self,
        scale_set: &str,
        lease: &Lease,
        run_id: i64,
    ) -> Result<(), PortError> {
        let key = schema::rerun_key(scale_set, run_id);
        self.fenced_delete("dynamodb delete rerun", scale_set, lease, key)
            .await
    }
}

impl DynamoStateStore {
    /// Gives the lease up, writing `state` in the same write when given.
    async fn release_with(
        &self,
        scale_set: &str,
        lease: &Lease,
        state: Option<&ScaleSetState>,
    ) -> Result<(), PortError> {
        let operation = match state {
            Some(_) => "dynamodb save state and release lease",
            None => "dynamodb release lease",
        };
        self.update_state(operation, scale_set, lease, state, true)
            .await?;
        tracing::debug!(
            scale_set,
            owner = lease.owner,
            fence = lease.fence,
            "Lease released."
        );
        Ok(())
    }

    /// One conditional write of the state item under the fence: `state`'s attributes, and
    /// with `release` the lease's expiry set to the epoch (free whatever the next
    /// invocation's clock says) and the release time kept for operators.
    async fn update_state(
        &self,
        operation: &'static str,
        scale_set: &str,
        lease: &Lease,
        state: Option<&ScaleSetState>,
        release: bool,
    ) -> Result<(), PortError> {
        let mut names = fence_names();
        let mut values = fence_values(lease);
        let (mut set, mut remove) = (Vec::new(), Vec::new());
        for (i, (attribute, value)) in state
            .map(encode_state)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let name = format!("#a{i}");
            names.insert(name.clone(), attribute.to_owned());
            match value {
                Some(value) => {
                    values.insert(format!(":v{i}"), value);
                    set.push(format!("{name} = :v{i}"));
                }
                None => remove.push(name),
            }
        }
        if release {
            names.insert("#expires".to_owned(), s::LEASE_EXPIRES_AT.to_owned());
            names.insert("#released".to_owned(), s::LEASE_RELEASED_AT.to_owned());
            values.insert(":lapsed".to_owned(), n(0));
            values.insert(":released".to_owned(), millis(Utc::now()));
            set.push("#expires = :lapsed".to_owned());
            set.push("#released = :released".to_owned());
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(schema::state_key(scale_set)))
            .update_expression(expression)
            .condition_expression(FENCE_CONDITION)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(|e| from_sdk(operation, &e, Detail::Full))?;
        Ok(())
    }

    /// Puts `item` under `key`, expiring `ttl` after this write, under the fence.
    async fn fenced_put(
        &self,
        operation: &'static str,
        scale_set: &str,
        lease: &Lease,
        mut item: Item,
        key: schema::Key,
        ttl: std::time::Duration,
    ) -> Result<(), PortError> {
        item.extend(key);
        item.insert(schema::TTL_ATTRIBUTE.to_owned(), schema::expiry_epoch(ttl));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|e| build_error(operation, &e))?;
        let write = TransactWriteItem::builder().put(put).build();
        self.fenced_write(operation, scale_set, lease, write).await
    }

    /// Deletes the item under `key` under the fence; a missing one is fine.
    async fn fenced_delete(
        &self,
        operation: &'static str,
        scale_set: &str,
        lease: &Lease,
        key: schema::Key,
    ) -> Result<(), PortError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .build()
            .map_err(|e| build_error(operation, &e))?;
        let write = TransactWriteItem::builder().delete(delete).build();
        self.fenced_write(operation, scale_set, lease, write).await
    }

    /// Runs `write` in one transaction with a check of the state item's fence.
    async fn fenced_write(
        &self,
        operation: &'static str,
        scale_set: &str,
        lease: &Lease,
        write: TransactWriteItem,
    ) -> Result<(), PortError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(schema::state_key(scale_set)))
            .condition_expression(FENCE_CONDITION)
            .set_expression_attribute_names(Some(fence_names()))
            .set_expression_attribute_values(Some(fence_values(lease)))
            .build()
            .map_err(|e| build_error(operation, &e))?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .transact_items(write)
            .send()
            .await
            .map_err(|e| transaction_error(operation, &e))?;
        Ok(())
    }
}
