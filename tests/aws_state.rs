//! DynamoStateStore against moto_server: lease, fencing, state and ledger round trips.
//! Each test uses its own table; run with `scripts/with-moto.sh cargo test --test aws_state`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, TimeZone, Utc};
use ghaec2::actions::wire::Statistics;
use ghaec2::aws::{DynamoStateStore, schema};
use ghaec2::ports::{
    Decision, Decisions, Lease, LeaseOutcome, PortErrorKind, RerunRecord, RunnerRecord,
    RunnerState, ScaleSetState, StateStore, StoredAdmin, StoredSession,
};
use secrecy::SecretString;
use support::moto;
use support::records::{full_state, runner};

const REGION: &str = "eu-west-1";

type Item = std::collections::HashMap<String, AttributeValue>;

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

/// The state item as stored, read back raw.
async fn raw_item(client: &aws_sdk_dynamodb::Client, table: &str, key: schema::Key) -> Item {
    client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

#[tokio::test]
async fn state_round_trips_and_an_ended_session_leaves_nothing_behind() {
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
    store
        .put_admin("set", saved.admin.as_ref().unwrap())
        .await
        .unwrap();
    store.put_decisions("set", &saved.decisions).await.unwrap();
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
        ..state.clone()
    };
    store.save("set", &lease, &cleared).await.unwrap();
    let item = raw_item(&client, &table, schema::state_key("set")).await;
    assert!(!item.contains_key(schema::state::SESSION_ID));
    assert!(!item.contains_key(schema::state::QUEUE_URL));
    assert_eq!(
        item.get(schema::state::LAST_MESSAGE_ID),
        Some(&AttributeValue::N("77".into()))
    );
}

/// A state item an older version wrote, with the queue token and the admin connection in it:
/// the first save removes them, and the admin connection is then read from its own item only.
#[tokio::test]
async fn the_first_save_removes_what_an_older_layout_kept_in_the_state_item() {
    let (store, client, table) = store().await;
    let mut old = schema::state_key("set");
    for (attribute, value) in schema::state::RETIRED.iter().zip(["q", "https://x/", "a"]) {
        old.insert((*attribute).to_owned(), AttributeValue::S(value.to_owned()));
    }
    old.insert(
        schema::state::LAST_MESSAGE_ID.to_owned(),
        AttributeValue::N("5".into()),
    );
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(old))
        .send()
        .await
        .unwrap();
    let now = Utc::now();
    let (lease, state) = acquired(
        store
            .acquire("set", "inv-1", now + Duration::seconds(60), now)
            .await
            .unwrap(),
    );
    assert_eq!(state.last_message_id, 5);
    assert_eq!(state.admin, None, "the old attributes are not read");
    store.save_and_release("set", &lease, &state).await.unwrap();
    let item = raw_item(&client, &table, schema::state_key("set")).await;
    for attribute in schema::state::RETIRED {
        assert!(!item.contains_key(attribute), "{attribute}: {item:?}");
    }
}

/// An item's size by DynamoDB's rules ("DynamoDB item sizes and formats", Amazon DynamoDB
/// Developer Guide): the sum of the attribute names' UTF-8 bytes and the values' sizes; a
/// string is its UTF-8 bytes, a number 1 byte per two significant digits (leading and
/// trailing zeroes trimmed) plus 1 byte.
fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(text) => text.len(),
                    AttributeValue::N(number) => {
                        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
                        let significant = digits.trim_start_matches('0').trim_end_matches('0');
                        significant.len().div_ceil(2) + 1
                    }
                    other => panic!("the state item holds no {other:?}"),
                }
        })
        .sum()
}

/// However long GitHub's tokens are, the state item stays under 1 KB, one write unit
/// ("Read/write capacity mode": a write costs 1 unit per KB of the item, rounded up): the
/// writes of an invocation (acquire, a save after each message, save and release) with the
/// longest scale set name the configuration allows (45), a long queue URL, a Lambda request id
/// as owner and large numbers, then the raw item measured. No attribute holds a token.
#[tokio::test]
async fn the_state_item_stays_under_one_kilobyte_and_holds_no_token() {
    let (store, client, table) = store().await;
    let name = "n".repeat(45);
    let owner = uuid::Uuid::new_v4().to_string();
    let queue_url = format!(
        "https://pipelinesghubeus26.actions.githubusercontent.com/{}/_apis/runtime/runnerscalesets/2147483647/messages?sessionId={}&tenant={}",
        "x".repeat(64),
        uuid::Uuid::new_v4(),
        "t".repeat(80),
    );
    assert!(queue_url.len() > 300, "{}", queue_url.len());
    // The queue token has no place in the stored session; the admin token is put beside.
    let admin_token = "a".repeat(2048);
    let now = Utc::now();
    let (lease, _) = acquired(
        store
            .acquire(&name, &owner, now + Duration::seconds(95), now)
            .await
            .unwrap(),
    );
    let big = i64::from(i32::MAX);
    let state = ScaleSetState {
        scale_set_id: Some(big),
        session: Some(StoredSession {
            id: uuid::Uuid::new_v4(),
            queue_url,
            created_at: Some(now),
            refreshed_at: Some(now),
        }),
        last_message_id: i64::MAX,
        last_message_at: Some(now),
        admin: Some(StoredAdmin {
            service_url: "https://pipelinesghubeus26.actions.githubusercontent.com/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN/".into(),
            token: SecretString::from(admin_token.clone()),
        }),
        statistics: Some(Statistics {
            total_available_jobs: big,
            total_acquired_jobs: big,
            total_assigned_jobs: big,
            total_running_jobs: big,
            total_registered_runners: big,
            total_busy_runners: big,
            total_idle_runners: big,
        }),
        decisions: longest_decisions(now),
    };
    store
        .put_admin(&name, state.admin.as_ref().unwrap())
        .await
        .unwrap();
    store.save(&name, &lease, &state).await.unwrap();
    store.save_and_release(&name, &lease, &state).await.unwrap();

    let item = raw_item(&client, &table, schema::state_key(&name)).await;
    let size = item_size(&item);
    assert!(size < 1024, "the state item weighs {size} bytes: {item:?}");
    for (attribute, value) in &item {
        let text = value.as_s().map_or("", String::as_str);
        assert!(
            !text.contains(&admin_token[..32]),
            "{attribute} holds the admin token"
        );
        assert!(
            !schema::state::RETIRED.contains(&attribute.as_str()),
            "{attribute}"
        );
    }
    let admin = raw_item(&client, &table, schema::admin_key(&name)).await;
    assert!(
        item_size(&admin) > 2048,
        "the admin token went to its own item"
    );
    // The decisions' item: one write unit, and the state Query still one read unit.
    store.put_decisions(&name, &state.decisions).await.unwrap();
    let decisions = raw_item(&client, &table, schema::decisions_key(&name)).await;
    let decisions_size = item_size(&decisions);
    assert!(
        decisions_size < 1024,
        "the decisions weigh {decisions_size} bytes"
    );
    let read = size + item_size(&admin) + decisions_size;
    assert!(read < 4096, "the state Query reads {read} bytes");
    assert_eq!(
        store.read(&name).await.unwrap().state.decisions,
        state.decisions
    );
}

/// As many decisions as are kept, each with the largest counts and every CreateFleet capacity
/// code beside `max`, at `now` to the millisecond (as the table keeps it).
fn longest_decisions(now: chrono::DateTime<Utc>) -> Decisions {
    let now = Utc.timestamp_millis_opt(now.timestamp_millis()).unwrap();
    let caps = [
        "max",
        "InsufficientInstanceCapacity",
        "MaxSpotInstanceCountExceeded",
        "VcpuLimitExceeded",
    ];
    Decisions::new(
        (0..Decisions::KEPT)
            .map(|_| Decision {
                at: now,
                desired: u32::MAX,
                current: u32::MAX,
                booting: u32::MAX,
                launched: u32::MAX,
                terminated: u32::MAX,
                capped_by: caps.map(str::to_owned).to_vec(),
            })
            .collect(),
    )
}

/// An unreadable decisions' item (hand-edited) fails neither a read nor an acquisition: the
/// decisions only inform, and the next write replaces them.
#[tokio::test]
async fn unreadable_decisions_are_passed_over() {
    let (store, client, table) = store().await;
    let mut garbled = schema::decisions_key("set");
    garbled.insert(
        schema::decisions::RECORDS.to_owned(),
        AttributeValue::S("{not a list".into()),
    );
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(garbled))
        .send()
        .await
        .unwrap();
    assert_eq!(
        store.read("set").await.unwrap().state.decisions,
        Decisions::default()
    );
    let now = Utc::now();
    let (_, state) = acquired(
        store
            .acquire("set", "inv-1", now + Duration::seconds(60), now)
            .await
            .unwrap(),
    );
    assert_eq!(state.decisions, Decisions::default());
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
