//! A harness that runs whole cycles against moto_server and the in-process fake: each test
//! gets its own region (moto isolates state per region), table, network and fake.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use ghaec2::actions::ActionsClient;
use ghaec2::aws::{
    DynamoJitStore, DynamoStateStore, Ec2Fleet, InstanceArns, LaunchSettings, schema,
};
use ghaec2::config::Config;
use ghaec2::cycle::{CycleError, CycleSettings, Services, Stop, Summary};
use ghaec2::ports::{Fleet, Instance, JitStore, StateStore};
use ghaec2_fake::{FakeOptions, FakeServer, JobSpec, Mode};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{fake, moto};

/// Scale set name used by every harness.
pub const SCALE_SET: &str = "cycle-set";

/// Everything a cycle runs against.
pub struct Harness {
    pub fake: FakeServer,
    pub actions: ActionsClient,
    pub store: DynamoStateStore,
    pub fleet: Ec2Fleet,
    pub jit: DynamoJitStore,
    pub settings: CycleSettings,
    pub ec2: aws_sdk_ec2::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub arns: InstanceArns,
    pub config: Config,
}

/// A harness in `region` with the fake in `mode` and `min`..=`max` runners.
pub async fn harness(region: &str, mode: Mode, min: u32, max: u32) -> Harness {
    let fake = fake::start(FakeOptions::for_tests().with_mode(mode)).await;
    let sdk = moto::sdk_config(region).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let network = moto::network(&ec2).await;
    let ami = moto::ami(&ssm).await;
    let table = moto::table(&dynamodb).await;
    let vars: HashMap<&str, String> = HashMap::from([
        ("GITHUB_CONFIG_URL", fake.config_url("my-org")),
        ("GITHUB_TOKEN", ghaec2_fake::DEFAULT_PAT.to_owned()),
        ("RUNNER_SCALE_SET_NAME", SCALE_SET.to_owned()),
        ("MIN_RUNNERS", min.to_string()),
        ("MAX_RUNNERS", max.to_string()),
        ("AWS_REGION", region.to_owned()),
        ("EC2_SUBNET_ID", network.subnet_ids.join(",")),
        ("EC2_SECURITY_GROUP_ID", network.security_group_id.clone()),
        ("EC2_AMI_ID", ami),
        ("EC2_INSTANCE_TYPE", "t3.micro,t3.small".to_owned()),
        ("STATE_TABLE_NAME", table.clone()),
    ]);
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("valid config");
    let arns = InstanceArns::new(region, moto::ACCOUNT_ID);
    let actions = fake::client(&fake, &fake::pat());
    let mut settings =
        ghaec2::app::cycle_settings(&config, format!("test-{}", moto::unique()), false);
    settings.describe_grace = Duration::ZERO;
    Harness {
        store: DynamoStateStore::new(dynamodb.clone(), table.clone()),
        jit: DynamoJitStore::new(dynamodb.clone(), table.clone(), SCALE_SET, arns.clone()),
        fleet: Ec2Fleet::new(
            ec2.clone(),
            ssm,
            LaunchSettings::from_config(&config, arns.clone()),
        ),
        fake,
        actions,
        settings,
        ec2,
        dynamodb,
        table,
        arns,
        config,
    }
}

/// A stop that listens for `window` and is never shut down.
pub fn stop(window: Duration) -> Stop {
    Stop {
        listen_until: Instant::now() + window,
        deadline_bound: false,
        shutdown: watch::channel(false).1,
    }
}

impl Harness {
    /// Services over the harness's own ports.
    pub fn services(&self) -> Services<'_, DynamoStateStore, Ec2Fleet, DynamoJitStore> {
        self.with_ports(&self.store, &self.fleet, &self.jit)
    }

    /// Services over other ports (fault-injecting wrappers).
    pub fn with_ports<'a, S, F, J>(
        &'a self,
        store: &'a S,
        fleet: &'a F,
        jit: &'a J,
    ) -> Services<'a, S, F, J> {
        Services {
            actions: &self.actions,
            store,
            fleet,
            jit,
            settings: &self.settings,
        }
    }

    /// One cycle listening for `window`.
    pub async fn cycle(&self, window: Duration) -> Result<Summary, CycleError> {
        self.services().run(&stop(window)).await
    }

    /// The scale set's live instances.
    pub async fn instances(&self) -> Vec<Instance> {
        let id = self.scale_set_id().await;
        self.fleet.instances(id).await.unwrap()
    }

    /// The scale set id the fake assigned.
    pub async fn scale_set_id(&self) -> i64 {
        self.actions
            .scale_set_by_name(1, SCALE_SET)
            .await
            .unwrap()
            .expect("scale set exists")
            .id
    }

    /// Reads an instance's JIT config the way its user-data script does, and deletes it.
    pub async fn take_jit(&self, instance_id: &str) -> Option<String> {
        let key = schema::jit_key(self.arns.jit_pk(instance_id));
        let item = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        let config = match item.item().and_then(|i| i.get(schema::jit::CONFIG)) {
            Some(AttributeValue::S(config)) => config.clone(),
            _ => return None,
        };
        self.dynamodb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .send()
            .await
            .unwrap();
        Some(config)
    }

    /// Boots every launched instance's runner: fetches its JIT config and connects it.
    pub async fn boot_all(&self) -> usize {
        let mut booted = 0;
        for instance in self.instances().await {
            if let Some(config) = self.take_jit(&instance.id).await {
                self.fake.connect_runner(&config).unwrap();
                booted += 1;
            }
        }
        booted
    }

    /// Queues `n` jobs for the scale set; returns their request ids.
    pub fn enqueue(&self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                self.fake
                    .enqueue_job(JobSpec::with_labels([SCALE_SET]))
                    .unwrap()
                    .runner_request_id
            })
            .collect()
    }

    /// The ledger entries.
    pub async fn ledger(&self) -> Vec<ghaec2::ports::RunnerRecord> {
        self.store.runners(SCALE_SET).await.unwrap()
    }

    /// JIT material left.
    pub async fn jit_left(&self) -> Vec<String> {
        self.jit.instance_ids().await.unwrap()
    }
}
