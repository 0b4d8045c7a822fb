//! DynamoJitStore against moto_server: put, list, delete, the item key the user-data script
//! and IAM rely on, and account discovery. Run with
//! `scripts/with-moto.sh cargo test --test aws_jit`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use ghaec2::aws::{DynamoJitStore, InstanceArns, schema};
use ghaec2::ports::JitStore;
use secrecy::SecretString;
use support::moto;

const REGION: &str = "eu-west-2";

#[tokio::test]
async fn put_list_delete_and_delete_again() {
    let client = aws_sdk_dynamodb::Client::new(&moto::sdk_config(REGION).await);
    let table = moto::table(&client).await;
    let arns = InstanceArns::new(REGION, moto::ACCOUNT_ID);
    let store = DynamoJitStore::new(client.clone(), &table, "linux", arns.clone());
    let neighbour = DynamoJitStore::new(client.clone(), &table, "windows", arns.clone());

    store
        .put("i-0aaaaaaaaaaaaaaa1", &SecretString::from("jit-one"))
        .await
        .unwrap();
    store
        .put("i-0aaaaaaaaaaaaaaa2", &SecretString::from("jit-two"))
        .await
        .unwrap();
    neighbour
        .put("i-0bbbbbbbbbbbbbbb1", &SecretString::from("jit-three"))
        .await
        .unwrap();

    let mut ids = store.listing().await.unwrap().instance_ids;
    ids.sort();
    assert_eq!(
        ids,
        ["i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2"],
        "only this scale set's material"
    );
    assert_eq!(
        neighbour.listing().await.unwrap().instance_ids,
        ["i-0bbbbbbbbbbbbbbb1"]
    );

    // The key is what the user-data script and the IAM policy compute: jit#<instance ARN>.
    let key = schema::jit_key(arns.jit_pk("i-0aaaaaaaaaaaaaaa1"));
    assert_eq!(
        key[schema::PARTITION_KEY],
        AttributeValue::S(format!(
            "jit#arn:aws:ec2:{REGION}:123456789012:instance/i-0aaaaaaaaaaaaaaa1"
        ))
    );
    let item = client
        .get_item()
        .table_name(&table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let item = item.item.unwrap();
    assert_eq!(
        item[schema::jit::CONFIG],
        AttributeValue::S("jit-one".into())
    );
    let ttl: i64 = item[schema::TTL_ATTRIBUTE].as_n().unwrap().parse().unwrap();
    let now = Utc::now().timestamp();
    assert!(
        ttl > now + 3_600 && ttl <= now + 2 * 86_400,
        "JIT material expires within a day or so"
    );

    store.delete("i-0aaaaaaaaaaaaaaa1").await.unwrap();
    store.delete("i-0aaaaaaaaaaaaaaa1").await.unwrap();
    store.delete("i-0never0existed00").await.unwrap();
    assert_eq!(
        store.listing().await.unwrap().instance_ids,
        ["i-0aaaaaaaaaaaaaaa2"]
    );
}

#[tokio::test]
async fn partition_and_account_are_discovered_from_the_caller_identity() {
    let config = moto::sdk_config("eu-west-3").await;
    let sts = aws_sdk_sts::Client::new(&config);
    let arns = InstanceArns::discover(&sts, "eu-west-3").await.unwrap();
    assert_eq!(arns, InstanceArns::new("eu-west-3", moto::ACCOUNT_ID));
    assert_eq!(
        arns.prefix(),
        "arn:aws:ec2:eu-west-3:123456789012:instance/"
    );
}
