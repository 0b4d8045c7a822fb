//! The state table's key schema and item layout, in one place. `template.yaml` declares the
//! table with these keys and TTL attribute (tests/template.rs checks it); the local stand-ins
//! create it from them (`testkit/src/moto.rs`).
//!
//! One table, on-demand billing, encrypted at rest (DynamoDB always is), TTL on
//! [`TTL_ATTRIBUTE`]. Keys are strings:
//!
//! | item | `pk` | `sk` | TTL |
//! |---|---|---|---|
//! | scale set state (lease, session, cursor, statistics) | `scaleset#<name>` | `state` | none |
//! | admin connection (service URL, admin token) | `scaleset#<name>` | `state#admin` | none |
//! | the last reconcile decisions (for `--status`) | `scaleset#<name>` | `state#decisions` | none |
//! | runner ledger entry | `scaleset#<name>` | `runner#<runner name>` | [`RUNNER_TTL`] after the last write |
//! | pending rerun of an interrupted job's workflow run | `scaleset#<name>` | `rerun#<run id>` | [`RERUN_TTL`] after the last write |
//! | JIT material of one instance | `jit#<instance ARN>` | `jit` | [`JIT_TTL`] after the write |
//! | why an instance's runner did not start (written by the instance) | `jit#<instance ARN>` | `boot-failure` | [`BOOT_FAILURE_TTL`] after the write |
//!
//! The state item stays under 1 KB, one write unit, whatever GitHub's tokens weigh: it holds no
//! token. The admin token, written about once an hour, has an item of its own; the queue token
//! is not stored at all (docs/design.md §1.2).
//!
//! The state record, the ledger and the pending reruns share a partition so one Query reads the
//! whole ledger (or every rerun) and a transaction can check the state item's fence next to a
//! write; the admin connection and the decisions live there too, their sort keys beginning with
//! the state's, so that one Query reads all three ([`state_query`]). The ledger's Query and the teardown's key listing select `runner#` sort keys only, and
//! the instance items' Scan `jit#` partition keys only, so neither meets a `rerun#` item. JIT material gets a
//! partition per instance because IAM can only scope an instance role to its own items through
//! the partition key (`dynamodb:LeadingKeys`, see [`super::jit_store`]); the boot-failure record
//! shares that partition for the same reason.
//!
//! DynamoDB deletes expired items lazily (within days), so TTLs here are a backstop for
//! forgotten items, never a mechanism the cycle relies on.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

/// Partition key attribute (type S).
pub const PARTITION_KEY: &str = "pk";
/// Sort key attribute (type S).
pub const SORT_KEY: &str = "sk";
/// TTL attribute: epoch seconds (type N) after which DynamoDB may delete the item.
pub const TTL_ATTRIBUTE: &str = "expires_at_epoch";
/// DynamoDB attribute type of both keys.
pub const KEY_ATTRIBUTE_TYPE: &str = "S";

/// Partition key prefix of a scale set's items.
pub const SCALE_SET_PREFIX: &str = "scaleset#";
/// Sort key of the scale set state record.
pub const STATE_SORT_KEY: &str = "state";
/// Sort key of the scale set's admin connection: it begins with [`STATE_SORT_KEY`], as only the
/// items read with the state do, so that one Query reads them all ([`state_query`]).
pub const ADMIN_SORT_KEY: &str = "state#admin";
/// Sort key of the scale set's last decisions: it begins with [`STATE_SORT_KEY`] too.
pub const DECISIONS_SORT_KEY: &str = "state#decisions";
/// Sort key prefix of runner ledger entries.
pub const RUNNER_PREFIX: &str = "runner#";
/// Sort key prefix of pending reruns.
pub const RERUN_PREFIX: &str = "rerun#";
/// Partition key prefix of JIT material.
pub const JIT_PREFIX: &str = "jit#";
/// Sort key of JIT material.
pub const JIT_SORT_KEY: &str = "jit";
/// Sort key of the record an instance leaves when its runner could not start.
pub const BOOT_FAILURE_SORT_KEY: &str = "boot-failure";

/// How long a ledger entry outlives its last write: longer than a self-hosted job may run
/// (5 days), so the TTL never removes a live runner's entry.
pub const RUNNER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a pending rerun outlives its last write: a day past the point where the cycle gives
/// up on it ([`crate::rerun::GIVE_UP_AFTER`]).
pub const RERUN_TTL: Duration =
    Duration::from_secs(crate::rerun::GIVE_UP_AFTER.as_secs() + 24 * 3600);
/// How long JIT material outlives its write when neither the instance nor the cleanup deletes
/// it.
pub const JIT_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a boot-failure record outlives its write when no cycle reports it.
pub const BOOT_FAILURE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Attribute names of the state record.
pub mod state {
    /// Scale set name, for operators reading the table.
    pub const SCALE_SET_NAME: &str = "scale_set_name";
    /// Invocation id holding the lease (S).
    pub const LEASE_OWNER: &str = "lease_owner";
    /// Lease expiry, epoch milliseconds (N).
    pub const LEASE_EXPIRES_AT: &str = "lease_expires_at";
    /// When the lease was last released, epoch milliseconds (N).
    pub const LEASE_RELEASED_AT: &str = "lease_released_at";
    /// Fencing counter (N), incremented on every acquisition.
    pub const FENCE: &str = "fence";
    /// Scale set id (N).
    pub const SCALE_SET_ID: &str = "scale_set_id";
    /// Session id (S, UUID).
    pub const SESSION_ID: &str = "session_id";
    /// Message queue URL (S).
    pub const QUEUE_URL: &str = "queue_url";
    /// Cursor (N).
    pub const LAST_MESSAGE_ID: &str = "last_message_id";
    /// Last statistics (S, the wire JSON).
    pub const STATISTICS: &str = "statistics";
    /// When the session was created, epoch milliseconds (N).
    pub const SESSION_CREATED_AT: &str = "session_created_at";
    /// When the session was last refreshed, epoch milliseconds (N).
    pub const SESSION_REFRESHED_AT: &str = "session_refreshed_at";
    /// When the cursor's message was handled, epoch milliseconds (N).
    pub const LAST_MESSAGE_AT: &str = "last_message_at";
    /// Attributes an older layout kept in the state item (the queue token and the admin
    /// connection), removed by the first save.
    pub const RETIRED: [&str; 3] = ["queue_token", "admin_service_url", "admin_token"];
}

/// Attribute names of the admin connection's item.
pub mod admin {
    /// Actions Service URL (S).
    pub const SERVICE_URL: &str = "service_url";
    /// Admin token (S, secret).
    pub const TOKEN: &str = "admin_token";
}

/// Attribute names of the decisions' item.
pub mod decisions {
    /// The last decisions, newest first (S, JSON: a list of `[at (epoch ms), desired,
    /// current, booting, launched, terminated, [capped by…]]`).
    pub const RECORDS: &str = "decisions";
}

/// Attribute names of a runner ledger entry.
pub mod runner {
    /// Runner name (S).
    pub const NAME: &str = "runner_name";
    /// EC2 instance id (S).
    pub const INSTANCE_ID: &str = "instance_id";
    /// Actions Service runner id (N).
    pub const RUNNER_ID: &str = "runner_id";
    /// Launch time (S, RFC 3339).
    pub const LAUNCHED_AT: &str = "launched_at";
    /// Lifecycle state (S, snake_case).
    pub const STATE: &str = "state";
    /// Job id while busy (S).
    pub const JOB_ID: &str = "job_id";
    /// When a spot interruption warning named its busy instance (S, RFC 3339).
    pub const INTERRUPTED_AT: &str = "interrupted_at";
}

/// Attribute names of a pending rerun.
pub mod rerun {
    /// Workflow run id (N).
    pub const RUN_ID: &str = "run_id";
    /// Repository owner (S).
    pub const OWNER: &str = "owner";
    /// Repository name (S).
    pub const REPOSITORY: &str = "repository";
    /// The interrupted job's id (S).
    pub const JOB_ID: &str = "job_id";
    /// The runner that ran it (S).
    pub const RUNNER_NAME: &str = "runner_name";
    /// The run attempt the job ran in, once read (N).
    pub const ATTEMPT: &str = "attempt";
    /// When the interruption was recorded (S, RFC 3339).
    pub const RECORDED_AT: &str = "recorded_at";
}

/// Attribute names of JIT material.
pub mod jit {
    /// The JIT config as the Actions Service returned it (S, secret).
    pub const CONFIG: &str = "jit_config";
    /// The instance id (S), so listing needs no key parsing.
    pub const INSTANCE_ID: &str = "instance_id";
    /// The scale set that launched the instance (S): tables may be shared by scale sets.
    pub const SCALE_SET_NAME: &str = "scale_set_name";
}

/// Attribute names of a boot-failure record, besides the keys and [`TTL_ATTRIBUTE`]. The
/// runner role may write exactly these (template.yaml), so the script writes no other.
pub mod boot_failure {
    /// Why the runner did not start (S, short text, never a secret).
    pub const REASON: &str = "reason";
    /// The instance id (S).
    pub const INSTANCE_ID: &str = "instance_id";
    /// The scale set that launched the instance (S).
    pub const SCALE_SET_NAME: &str = "scale_set_name";
}

/// A full primary key.
pub type Key = HashMap<String, AttributeValue>;

fn key(pk: String, sk: String) -> Key {
    HashMap::from([
        (PARTITION_KEY.to_owned(), AttributeValue::S(pk)),
        (SORT_KEY.to_owned(), AttributeValue::S(sk)),
    ])
}

/// Partition key of a scale set's items.
pub fn scale_set_pk(scale_set: &str) -> String {
    format!("{SCALE_SET_PREFIX}{scale_set}")
}

/// Key of a scale set's state record.
pub fn state_key(scale_set: &str) -> Key {
    key(scale_set_pk(scale_set), STATE_SORT_KEY.to_owned())
}

/// Key of a scale set's admin connection.
pub fn admin_key(scale_set: &str) -> Key {
    key(scale_set_pk(scale_set), ADMIN_SORT_KEY.to_owned())
}

/// Key of a scale set's last decisions.
pub fn decisions_key(scale_set: &str) -> Key {
    key(scale_set_pk(scale_set), DECISIONS_SORT_KEY.to_owned())
}

/// Key of a runner's ledger entry.
pub fn runner_key(scale_set: &str, runner_name: &str) -> Key {
    key(
        scale_set_pk(scale_set),
        format!("{RUNNER_PREFIX}{runner_name}"),
    )
}

/// Key of a pending rerun.
pub fn rerun_key(scale_set: &str, run_id: i64) -> Key {
    key(scale_set_pk(scale_set), format!("{RERUN_PREFIX}{run_id}"))
}

/// The consistent Query of a scale set's ledger: the `runner#` sort keys of its partition
/// (`#pk` and `#sk` are named; add a projection or filter on top).
pub fn ledger_query(client: &Client, table: &str, scale_set: &str) -> QueryFluentBuilder {
    sort_key_query(client, table, scale_set, RUNNER_PREFIX)
}

/// The consistent Query of a scale set's state item, admin connection and decisions: the sort
/// keys of its partition that begin with [`STATE_SORT_KEY`].
pub fn state_query(client: &Client, table: &str, scale_set: &str) -> QueryFluentBuilder {
    sort_key_query(client, table, scale_set, STATE_SORT_KEY)
}

/// The consistent Query of a scale set's pending reruns: the `rerun#` sort keys of its
/// partition.
pub fn reruns_query(client: &Client, table: &str, scale_set: &str) -> QueryFluentBuilder {
    sort_key_query(client, table, scale_set, RERUN_PREFIX)
}

fn sort_key_query(
    client: &Client,
    table: &str,
    scale_set: &str,
    prefix: &str,
) -> QueryFluentBuilder {
    client
        .query()
        .table_name(table)
        .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
        .expression_attribute_names("#pk", PARTITION_KEY)
        .expression_attribute_names("#sk", SORT_KEY)
        .expression_attribute_values(":pk", AttributeValue::S(scale_set_pk(scale_set)))
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
        .consistent_read(true)
}

/// The consistent Scan of a scale set's instance items: JIT material and boot-failure records,
/// a partition per instance (for IAM), found by prefix and scale set name. `#pk`, `#sk` and
/// `#scale_set` are named; the caller chooses the projection, never the configs when it
/// needs keys only.
pub fn instance_items_scan(client: &Client, table: &str, scale_set: &str) -> ScanFluentBuilder {
    client
        .scan()
        .table_name(table)
        .filter_expression("begins_with(#pk, :prefix) AND #scale_set = :scale_set")
        .expression_attribute_names("#pk", PARTITION_KEY)
        .expression_attribute_names("#sk", SORT_KEY)
        .expression_attribute_names("#scale_set", jit::SCALE_SET_NAME)
        .expression_attribute_values(":prefix", AttributeValue::S(JIT_PREFIX.to_owned()))
        .expression_attribute_values(":scale_set", AttributeValue::S(scale_set.to_owned()))
        .consistent_read(true)
}

/// Key of JIT material, given its partition key (see [`super::InstanceArns::jit_pk`]).
pub fn jit_key(jit_pk: String) -> Key {
    key(jit_pk, JIT_SORT_KEY.to_owned())
}

/// Key of an instance's boot-failure record, given its JIT partition key.
pub fn boot_failure_key(jit_pk: String) -> Key {
    key(jit_pk, BOOT_FAILURE_SORT_KEY.to_owned())
}

/// Epoch seconds `ttl` from now, for [`TTL_ATTRIBUTE`].
pub fn expiry_epoch(ttl: Duration) -> AttributeValue {
    let at = chrono::Utc::now().timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    AttributeValue::N(at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_query_meets_the_state_admin_and_decisions_items_only() {
        for beside in [ADMIN_SORT_KEY, DECISIONS_SORT_KEY] {
            assert!(beside.starts_with(STATE_SORT_KEY), "{beside}");
            for prefix in [RUNNER_PREFIX, RERUN_PREFIX] {
                assert!(!beside.starts_with(prefix), "{beside} {prefix}");
            }
        }
        for prefix in [RUNNER_PREFIX, RERUN_PREFIX] {
            assert!(!prefix.starts_with(STATE_SORT_KEY) && !STATE_SORT_KEY.starts_with(prefix));
        }
    }
}
