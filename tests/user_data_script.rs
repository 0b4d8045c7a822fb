//! The user-data script, run: the real `src/aws/user_data.sh` as `user_data::render` renders
//! it, with the AWS CLI against moto (through the fault-injecting proxy), a stand-in IMDSv2,
//! a stub runner release and stubs for power-off and users (tests/support/runner_boot.rs).
//! Every boot must power off; every failure must leave a reason ghaec2 can see: a boot-failure
//! record, or (without network) the JIT config left unread. Run with
//! `scripts/with-moto.sh cargo test --test user_data_script`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use ghaec2::aws::{DynamoJitStore, InstanceArns, UserDataParams, schema};
use ghaec2::ports::JitStore;
use secrecy::SecretString;
use support::aws_proxy::AwsProxy;
use support::runner_boot::{Boot, Image, tarball_name};
use support::{moto, stand_in};

const REGION: &str = "us-east-1";
const SCALE_SET: &str = "boot_set";
const MINE: &str = "i-0aaaaaaaaaaaaaaa1";
const OTHER: &str = "i-0bbbbbbbbbbbbbbb2";

/// A table in an account of its own, reached through the proxy.
struct Aws {
    proxy: AwsProxy,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    arns: InstanceArns,
    jit: DynamoJitStore,
}

async fn aws() -> Aws {
    let proxy = AwsProxy::start(&moto::endpoint()).await;
    let dynamodb =
        aws_sdk_dynamodb::Client::new(&stand_in::proxied_sdk_config(REGION, &proxy).await);
    let table = moto::table(&dynamodb).await;
    let arns = InstanceArns::new(REGION, proxy.account_id());
    let jit = DynamoJitStore::new(dynamodb.clone(), &table, SCALE_SET, arns.clone());
    Aws {
        proxy,
        dynamodb,
        table,
        arns,
        jit,
    }
}

impl Aws {
    /// A stock-image boot against this account.
    fn boot(&self) -> Boot {
        let params = UserDataParams::new(&self.table, SCALE_SET, self.arns.clone());
        Boot::new(params, self.proxy.url())
    }

    async fn put_jit(&self, instance_id: &str) {
        let config = SecretString::from(format!("jit-config-of-{instance_id}"));
        self.jit.put(instance_id, &config).await.unwrap();
    }

    async fn unread(&self) -> Vec<String> {
        let mut ids = self.jit.listing().await.unwrap().instance_ids;
        ids.sort();
        ids
    }

    /// The boot-failure record of `instance_id`, as stored.
    async fn boot_failure(&self, instance_id: &str) -> Option<HashMap<String, AttributeValue>> {
        self.dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(schema::boot_failure_key(
                self.arns.jit_pk(instance_id),
            )))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    /// The reason of the boot-failure record, after checking the record has exactly the
    /// attributes the runner role may write and expires in about a day.
    async fn reason(&self, instance_id: &str) -> String {
        let item = self
            .boot_failure(instance_id)
            .await
            .unwrap_or_else(|| panic!("no boot-failure record for {instance_id}"));
        let attributes: BTreeSet<&str> = item.keys().map(String::as_str).collect();
        assert_eq!(
            attributes,
            BTreeSet::from([
                schema::PARTITION_KEY,
                schema::SORT_KEY,
                schema::boot_failure::REASON,
                schema::boot_failure::INSTANCE_ID,
                schema::boot_failure::SCALE_SET_NAME,
                schema::TTL_ATTRIBUTE,
            ])
        );
        assert_eq!(
            item[schema::boot_failure::INSTANCE_ID].as_s().unwrap(),
            instance_id
        );
        assert_eq!(
            item[schema::boot_failure::SCALE_SET_NAME].as_s().unwrap(),
            SCALE_SET
        );
        let expires: i64 = item[schema::TTL_ATTRIBUTE].as_n().unwrap().parse().unwrap();
        let day = Utc::now().timestamp() + 86_400;
        assert!((day - 600..=day + 600).contains(&expires), "{expires}");
        item[schema::boot_failure::REASON].as_s().unwrap().clone()
    }
}

#[tokio::test]
async fn a_stock_image_downloads_the_runner_and_runs_it_once_with_its_own_jit_config() {
    let aws = aws().await;
    aws.put_jit(MINE).await;
    aws.put_jit(OTHER).await;

    let booted = aws.boot().run(MINE).await;
    eprintln!("download path: the script ran {:?}", booted.elapsed);

    assert_eq!(booted.exit_status, Some(0), "{}", booted.output);
    assert!(booted.powered_off(), "{}", booted.output);
    assert_eq!(booted.runs, [format!("jit-config-of-{MINE}")]);
    assert_eq!(booted.downloads, [tarball_name("2.329.0")]);
    assert_eq!(booted.dependency_installs, 1);
    assert_eq!(
        aws.unread().await,
        [OTHER],
        "its own item deleted, the other untouched"
    );
    assert!(aws.boot_failure(MINE).await.is_none());
    assert!(
        !booted.output.contains("jit-config-of"),
        "{}",
        booted.output
    );
}

#[tokio::test]
async fn a_baked_runner_skips_the_download() {
    let aws = aws().await;
    aws.put_jit(MINE).await;
    let mut boot = aws.boot();
    boot.image = Image::Baked;

    let booted = boot.run(MINE).await;
    eprintln!("baked runner: the script ran {:?}", booted.elapsed);

    assert_eq!(booted.exit_status, Some(0), "{}", booted.output);
    assert!(booted.powered_off());
    assert!(booted.downloads.is_empty(), "{:?}", booted.downloads);
    assert_eq!(booted.dependency_installs, 0);
    assert_eq!(booted.runs, [format!("jit-config-of-{MINE}")]);
    assert!(aws.unread().await.is_empty());
}

#[tokio::test]
async fn without_a_jit_config_it_gives_up_after_the_wait() {
    let aws = aws().await;
    aws.put_jit(OTHER).await;

    let booted = aws.boot().run(MINE).await;

    assert_ne!(booted.exit_status, Some(0));
    assert!(booted.powered_off(), "{}", booted.output);
    assert!(booted.runs.is_empty());
    assert_eq!(aws.reason(MINE).await, "no JIT config after 4 s");
    assert_eq!(aws.unread().await, [OTHER]);
}

#[tokio::test]
async fn access_denied_ends_the_wait_at_once() {
    let aws = aws().await;
    aws.put_jit(MINE).await;
    aws.proxy
        .fail("dynamodb", "GetItem", 1, "AccessDeniedException");

    let booted = aws.boot().run(MINE).await;

    assert!(booted.powered_off(), "{}", booted.output);
    assert!(booted.runs.is_empty());
    assert_eq!(aws.proxy.calls_to("GetItem").len(), 1, "no second try");
    assert_eq!(
        aws.reason(MINE).await,
        "AccessDeniedException reading its JIT config"
    );
}

#[tokio::test]
async fn a_runner_that_fails_leaves_its_exit_status() {
    let aws = aws().await;
    aws.put_jit(MINE).await;
    let mut boot = aws.boot();
    boot.runner.exit_status = 3;

    let booted = boot.run(MINE).await;

    assert!(booted.powered_off(), "{}", booted.output);
    assert_eq!(booted.runs.len(), 1, "started once");
    assert_eq!(aws.reason(MINE).await, "runner exited with status 3");
    assert!(aws.unread().await.is_empty());
}

#[tokio::test]
async fn a_download_that_does_not_match_the_pinned_hash_is_never_unpacked() {
    let aws = aws().await;
    aws.put_jit(MINE).await;
    let mut boot = aws.boot();
    boot.image = Image::TamperedDownload;

    let booted = boot.run(MINE).await;

    assert!(booted.powered_off(), "{}", booted.output);
    assert!(booted.runs.is_empty());
    assert_eq!(booted.dependency_installs, 0, "nothing of it ran");
    assert_eq!(
        aws.reason(MINE).await,
        "runner 2.329.0 download does not match its SHA-256"
    );
    assert_eq!(aws.unread().await, [MINE], "the JIT config was never taken");
}

#[tokio::test]
async fn a_runner_below_the_minimum_version_is_refused() {
    let aws = aws().await;
    aws.put_jit(MINE).await;
    let mut boot = aws.boot();
    boot.image = Image::Baked;
    boot.runner.version = "2.328.0".into();

    let booted = boot.run(MINE).await;

    assert!(booted.powered_off(), "{}", booted.output);
    assert!(booted.runs.is_empty());
    assert_eq!(
        aws.reason(MINE).await,
        "runner version 2.328.0 is below 2.329.0"
    );
    assert_eq!(aws.unread().await, [MINE]);
}

#[tokio::test]
async fn without_network_the_jit_config_stays_unread() {
    let aws = aws().await;
    aws.put_jit(MINE).await;
    let mut boot = aws.boot();
    // Nothing listens on port 1: every AWS call fails to connect.
    boot.aws_endpoint = "http://127.0.0.1:1".into();

    let booted = boot.run(MINE).await;

    assert!(booted.powered_off(), "{}", booted.output);
    assert!(booted.runs.is_empty());
    assert!(
        aws.boot_failure(MINE).await.is_none(),
        "nothing could be recorded"
    );
    assert_eq!(aws.unread().await, [MINE], "what ghaec2 sees instead");
}
