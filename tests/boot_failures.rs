//! A runner that cannot start says why in the function's log: the user-data script (run for
//! real, tests/support/runner_boot.rs) leaves a boot-failure record or its JIT config unread,
//! and the next cycle logs it, counts it and cleans it up. Run with
//! `scripts/with-moto.sh cargo test --test boot_failures`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use ghaec2::aws::{DynamoJitStore, InstanceArns, UserDataParams, schema};
use ghaec2::ports::{BootFailure, JitStore};
use ghaec2_fake::Mode;
use secrecy::SecretString;
use support::cycle::{Harness, SCALE_SET, isolated};
use support::moto;
use support::runner_boot::{Boot, Booted};

const SHORT: Duration = Duration::from_millis(1500);

/// A harness whose first cycle launched one runner: its instance id and runner name.
async fn one_runner() -> (Harness, String, String) {
    let h = isolated(Mode::Dotcom, 1, 1).await;
    let summary = h.cycle(SHORT).await.unwrap();
    assert_eq!(summary.launched, 1, "{summary:?}");
    let record = h.ledger().await.pop().unwrap();
    (h, record.instance_id, record.name)
}

/// Boots `instance_id` with the script, then ends the instance as its power-off does
/// (shutdown behaviour `terminate`).
async fn boot_and_end(h: &Harness, instance_id: &str, aws_endpoint: &str) -> Booted {
    let params = UserDataParams::new(&h.aws.table, SCALE_SET, h.aws.arns.clone());
    let booted = Boot::new(params, aws_endpoint).run(instance_id).await;
    assert!(booted.powered_off(), "{}", booted.output);
    assert!(booted.runs.is_empty(), "the runner never started");
    h.aws
        .ec2
        .terminate_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .unwrap();
    booted
}

#[tokio::test]
async fn the_next_cycle_logs_counts_and_deletes_a_boot_failure() {
    let (h, instance_id, runner) = one_runner().await;
    h.aws
        .proxy
        .fail("dynamodb", "GetItem", 1, "AccessDeniedException");
    boot_and_end(&h, &instance_id, h.aws.proxy.url()).await;
    assert_eq!(h.jit.listing().await.unwrap().boot_failures.len(), 1);

    h.cycle(SHORT).await.unwrap();

    let logs = h.logs.text();
    assert!(
        logs.contains(&format!(
            "Runner {runner} on {instance_id} failed to start: \
             AccessDeniedException reading its JIT config"
        )),
        "{logs}"
    );
    assert!(logs.contains("\"RunnerStartFailures\""), "{logs}");
    assert!(h.jit.listing().await.unwrap().boot_failures.is_empty());
    let ledger = h.ledger().await;
    assert!(
        ledger.iter().all(|r| r.instance_id != instance_id),
        "{ledger:?}"
    );
}

#[tokio::test]
async fn jit_config_an_ended_instance_never_read_is_logged_and_deleted() {
    let (h, instance_id, _) = one_runner().await;
    // No network: nothing reaches DynamoDB, so nothing but the unread JIT config tells.
    boot_and_end(&h, &instance_id, "http://127.0.0.1:1").await;
    assert_eq!(h.jit_left().await, [instance_id.as_str()]);

    h.cycle(SHORT).await.unwrap();

    let logs = h.logs.text();
    assert!(
        logs.contains(&format!(
            "Instance {instance_id} ended without reading its JIT config."
        )),
        "{logs}"
    );
    assert!(!logs.contains("RunnerStartFailures"), "{logs}");
    assert!(!h.jit_left().await.contains(&instance_id));
}

/// Writes a boot-failure record as the script does.
async fn put_boot_failure(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    arns: &InstanceArns,
    scale_set: &str,
    instance_id: &str,
    reason: &str,
) {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(
            schema::boot_failure_key(arns.jit_pk(instance_id))
                .into_iter()
                .chain([
                    (schema::boot_failure::REASON.to_owned(), s(reason)),
                    (schema::boot_failure::INSTANCE_ID.to_owned(), s(instance_id)),
                    (
                        schema::boot_failure::SCALE_SET_NAME.to_owned(),
                        s(scale_set),
                    ),
                    (
                        schema::TTL_ATTRIBUTE.to_owned(),
                        AttributeValue::N("1".into()),
                    ),
                ])
                .collect(),
        ))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn one_listing_keeps_boot_failures_apart_from_jit_material() {
    let region = "eu-north-1";
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto::sdk_config(region).await);
    let table = moto::table(&dynamodb).await;
    let arns = InstanceArns::new(region, moto::ACCOUNT_ID);
    let linux = DynamoJitStore::new(dynamodb.clone(), &table, "linux", arns.clone());
    let windows = DynamoJitStore::new(dynamodb.clone(), &table, "windows", arns.clone());
    let (a, b) = ("i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2");
    linux.put(a, &SecretString::from("jit-a")).await.unwrap();
    put_boot_failure(
        &dynamodb,
        &table,
        &arns,
        "linux",
        a,
        "runner exited with status 1",
    )
    .await;
    put_boot_failure(
        &dynamodb,
        &table,
        &arns,
        "windows",
        b,
        "no JIT config after 60 s",
    )
    .await;

    let listing = linux.listing().await.unwrap();
    assert_eq!(
        listing.instance_ids,
        [a],
        "the boot failure is no JIT material"
    );
    assert_eq!(
        listing.boot_failures,
        [BootFailure {
            instance_id: a.to_owned(),
            reason: "runner exited with status 1".to_owned(),
        }]
    );
    assert_eq!(windows.listing().await.unwrap().boot_failures.len(), 1);

    linux.delete_boot_failure(a).await.unwrap();
    let listing = linux.listing().await.unwrap();
    assert!(listing.boot_failures.is_empty());
    assert_eq!(listing.instance_ids, [a], "the JIT config stays");
    assert_eq!(windows.listing().await.unwrap().boot_failures.len(), 1);
}
