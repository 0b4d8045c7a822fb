//! DynamoStateStore against moto_server: lease, fencing, state and ledger round trips.
//! Each test uses its own table; run with `scripts/with-moto.sh cargo test --test aws_state`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, TimeZone, Utc};
use ghaec2::aws::{DynamoStateStore, schema};
use ghaec2::ports::{
    Lease, LeaseOutcome, PortErrorKind, RerunRecord, RunnerRecord, RunnerState, ScaleSetState,
    StateStore,
};
use support::moto;
use support::records::{full_state, runner};

const REGION: &str = "eu-west-1";

async fn store() -> (DynamoStateStore, aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(&moto::sdk_config(REGION).await);
    let table = moto::table(&client).await;
    (
        DynamoStateStore::new(client.clone(), table.clone()),
        client,
        table,
    )
}

fn acquired(outcome: LeaseOutcome) -> (Lease, ScaleSetState) {
    match outcome {
        LeaseOutcome::Acquired(lease, state) => (lease, state),
        held => panic!("expected the lease, got {held:?}"),
    }
}

#[tokio::test]
async fn lease_is_taken_held_retaken_by_its_owner_and_taken_over_after_expiry() {
    let (store, _, _) = store().await;
    let now = Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap();
    let expires = now + Duration::seconds(80);

    let (lease, state) = acquired(store.acquire("set-a", "inv-1", expires, now).await.unwrap());
    assert_eq!(
        lease,
        Lease {
            owner: "inv-1".into(),
            fence: 1,
            expires_at: expires
        }
    );
    assert_eq!(state, ScaleSetState::default());

    let held = store
        .acquire(
            "set-a",
            "inv-2",
            now + Duration::seconds(90),
            now + Duration::seconds(10),
        )
        .await
        .unwrap();
    assert_eq!(
        held,
        LeaseOutcome::Held {
            owner: "inv-1".into(),
            expires_at: expires
        }
    );

    let (again, _) = acquired(
        store
            .acquire("set-a", "inv-1", expires, now + Duration::seconds(5))
            .await
            .unwrap(),
    );
    assert_eq!(
        again.fence, 2,
        "a retried acquire by the owner moves the fence too"
    );

    let later = expires + Duration::milliseconds(1);
    let (taken, _) = acquired(
        store
            .acquire("set-a", "inv-2", later + Duration::seconds(80), later)
            .await
            .unwrap(),
    );
    assert_eq!((taken.owner.as_str(), taken.fence), ("inv-2", 3));

    // Scale sets do not share leases.
    let (other, _) = acquired(store.acquire("set-b", "inv-9", expires, now).await.unwrap());
    assert_eq!(other.fence, 1);
}

#[tokio::test]
async fn a_stale_owner_is_fenced_after_a_takeover() {
    let (store, _, _) = store().await;
    let now = Utc::now();
    let (stale, _) = acquired(
        store
            .acquire("set", "old", now + Duration::seconds(1), now)
            .await
            .unwrap(),
    );
    store
        .put_runner("set", &stale, &runner("r-1"))
        .await
        .unwrap();
    let later = now + Duration::seconds(5);
    let (fresh, _) = acquired(
        store
            .acquire("set", "new", later + Duration::seconds(60), later)
            .await
            .unwrap(),
    );

    let fenced = [
        store.save("set", &stale, &full_state()).await.unwrap_err(),
        store
            .put_runner("set", &stale, &runner("r-2"))
            .await
            .unwrap_err(),
        store.delete_runner("set", &stale, "r-1").await.unwrap_err(),
        store.release("set", &stale).await.unwrap_err(),
    ];
    for error in &fenced {
        assert_eq!(error.kind, PortErrorKind::Fenced, "{error}");
        assert!(!error.message.contains("token-value"), "{error}");
    }
    // Nothing of the stale owner's late writes landed.
    let names: Vec<_> = store
        .runners("set")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["r-1"]);

    store.save("set", &fresh, &full_state()).await.unwrap();
    store.delete_runner("set", &fresh, "r-1").await.unwrap();
    store.release("set", &fresh).await.unwrap();
}

#[tokio::test]
async fn state_round_trips_and_an_ended_session_leaves_no_token() {
    let (store, client, table) = store().await;
    let now = Utc::now();
    let (lease, _) = acquired(
        store
            .acquire("set", "inv-1", now + Duration::seconds(60), now)
            .await
            .unwrap(),
    );
    let saved = full_state();
    store.save("set", &lease, &saved).await.unwrap();
    store.release("set", &lease).await.unwrap();

    let (lease, state) = acquired(
        store
            .acquire("set", "inv-2", now + Duration::seconds(60), now)
            .await
            .unwrap(),
    );
    assert_eq!(state, saved);
    assert_eq!(lease.fence, 2);

    let cleared = ScaleSetState {
        session: None,
        admin: None,
        ..state.clone()
    };
    store.save("set", &lease, &cleared).await.unwrap();
    let item = client
        .get_item()
        .table_name(&table)
        .set_key(Some(schema::state_key("set")))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(
        !item.contains_key(schema::state::QUEUE_TOKEN)
            && !item.contains_key(schema::state::ADMIN_TOKEN)
    );
    assert_eq!(
        item.get(schema::state::LAST_MESSAGE_ID),
        Some(&AttributeValue::N("77".into()))
    );
}

#[tokio::test]
async fn release_frees_the_lease_at_once() {
    let (store, _, _) = store().await;
    let now = Utc::now();
    let (lease, _) = acquired(
        store
            .acquire("set", "inv-1", now + Duration::seconds(600), now)
            .await
            .unwrap(),
    );
    store.release("set", &lease).await.unwrap();
    let (next, _) = acquired(
        store
            .acquire("set", "inv-2", now + Duration::seconds(60), now)
            .await
            .unwrap(),
    );
    assert_eq!((next.owner.as_str(), next.fence), ("inv-2", 2));
}

#[tokio::test]
async fn ledger_round_trips_with_a_ttl() {
    let (store, client, table) = store().await;
    let now = Utc::now();
    let (lease, _) = acquired(
        store
            .acquire("set", "inv-1", now + Duration::seconds(60), now)
            .await
            .unwrap(),
    );
    let busy = RunnerRecord {
        runner_id: Some(31),
        state: RunnerState::Busy,
        job_id: Some("job-7".into()),
        ..runner("r-busy")
    };
    let boot = runner("r-boot");
    store.put_runner("set", &lease, &boot).await.unwrap();
    store.put_runner("set", &lease, &busy).await.unwrap();
    let mut read = store.runners("set").await.unwrap();
    read.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(read, [boot, busy.clone()]);
    assert!(store.runners("other-set").await.unwrap().is_empty());

    let idle = RunnerRecord {
        state: RunnerState::Idle,
        job_id: None,
        ..busy.clone()
    };
    store.put_runner("set", &lease, &idle).await.unwrap();
    store.delete_runner("set", &lease, "r-boot").await.unwrap();
    store
        .delete_runner("set", &lease, "never-existed")
        .await
        .unwrap();
    assert_eq!(store.runners("set").await.unwrap(), [idle]);

    let item = client
        .get_item()
        .table_name(&table)
        .set_key(Some(schema::runner_key("set", "r-busy")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let ttl: i64 = item[schema::TTL_ATTRIBUTE].as_n().unwrap().parse().unwrap();
    assert!(
        ttl > Utc::now().timestamp() + 86_400,
        "ledger entries carry a TTL days ahead"
    );
}

#[tokio::test]
async fn reruns_round_trip_with_a_ttl_under_the_fence() {
    let (store, client, table) = store().await;
    let now = Utc::now();
    let (lease, _) = acquired(
        store
            .acquire("set", "inv-1", now + Duration::seconds(60), now)
            .await
            .unwrap(),
    );
    let rerun = RerunRecord {
        run_id: 30_433_642,
        owner: "octo-org".into(),
        repository: "octo-repo".into(),
        job_id: "job-7".into(),
        runner_name: "set-r1".into(),
        attempt: Some(1),
        recorded_at: now,
    };
    store.put_rerun("set", &lease, &rerun).await.unwrap();
    store
        .put_runner("set", &lease, &runner("r-1"))
        .await
        .unwrap();
    assert_eq!(
        store.reruns("set").await.unwrap(),
        std::slice::from_ref(&rerun)
    );
    assert_eq!(store.runners("set").await.unwrap().len(), 1);

    let key = schema::rerun_key("set", rerun.run_id);
    assert_eq!(
        key[schema::SORT_KEY].as_s().unwrap(),
        "rerun#30433642",
        "outside the ledger's runner# prefix"
    );
    let item = client
        .get_item()
        .table_name(&table)
        .set_key(Some(key))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let ttl: i64 = item[schema::TTL_ATTRIBUTE].as_n().unwrap().parse().unwrap();
    assert!(
        ttl > Utc::now().timestamp() + 7 * 86_400,
        "a rerun outlives the 7 days the cycle watches it"
    );

    let later = now + Duration::seconds(120);
    let (fresh, _) = acquired(
        store
            .acquire("set", "inv-2", later + Duration::seconds(60), later)
            .await
            .unwrap(),
    );
    let stale = store
        .delete_rerun("set", &lease, rerun.run_id)
        .await
        .unwrap_err();
    assert_eq!(stale.kind, PortErrorKind::Fenced, "{stale}");
    assert_eq!(
        store.reruns("set").await.unwrap(),
        std::slice::from_ref(&rerun)
    );
    store
        .delete_rerun("set", &fresh, rerun.run_id)
        .await
        .unwrap();
    assert!(store.reruns("set").await.unwrap().is_empty());
    assert_eq!(store.runners("set").await.unwrap().len(), 1);
}

#[tokio::test]
async fn create_table_is_idempotent_and_enables_ttl() {
    let (_, client, table) = store().await;
    moto::create_table(&client, &table).await;
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = described
        .table()
        .unwrap()
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            (schema::PARTITION_KEY.to_owned(), "HASH".to_owned()),
            (schema::SORT_KEY.to_owned(), "RANGE".to_owned())
        ]
    );
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some(schema::TTL_ATTRIBUTE));
}
