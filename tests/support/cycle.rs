//! A harness that runs whole cycles against moto_server and the in-process fake. Each harness
//! reaches moto through its own [`AwsProxy`], which makes it a separate AWS account (so tests
//! are isolated whatever region they use) and lets tests inject AWS errors. Every cycle run
//! through [`Harness::run`] (and [`Harness::cycle`]) has its logs captured and is checked for
//! leaked secrets.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use chrono::Utc;
use ghaec2::actions::ActionsClient;
use ghaec2::aws::{
    DynamoJitStore, DynamoStateStore, Ec2Fleet, InstanceArns, LaunchSettings, schema,
};
use ghaec2::config::Config;
use ghaec2::cycle::{CycleError, CycleSettings, Listener, Ports, Stop, Summary};
use ghaec2::ports::{Fleet, Instance, JitStore, LeaseOutcome, StateStore};
use ghaec2_fake::{FakeOptions, FakeServer, JobSpec, Mode};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::instrument::WithSubscriber;

use super::aws_proxy::AwsProxy;
use super::secrets::{Leak, Logs, find_leaks, pem_secrets};
use super::{fake, moto};

/// Scale set name used by every harness.
pub const SCALE_SET: &str = "cycle-set";

/// Region of harnesses that need no region of their own (the proxy's account isolates them).
pub const REGION: &str = "us-east-1";

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
    pub ssm: aws_sdk_ssm::Client,
    pub network: moto::Network,
    /// The proxy every AWS call of the harness goes through.
    pub proxy: AwsProxy,
    /// Logs of the cycles run so far.
    pub logs: Logs,
}

/// SDK configuration for the proxy: production's standard retries (3 attempts), with short
/// waits.
pub async fn proxied_sdk_config(region: &str, proxy: &AwsProxy) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(proxy.url())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5))
                .with_max_backoff(Duration::from_millis(50)),
        )
        .load()
        .await
}

/// A harness in its own account, for tests that need no region of their own.
pub async fn isolated(mode: Mode, min: u32, max: u32) -> Harness {
    harness_with(REGION, mode, min, max, &[]).await
}

/// A harness in `region` with the fake in `mode` and `min`..=`max` runners.
pub async fn harness(region: &str, mode: Mode, min: u32, max: u32) -> Harness {
    harness_with(region, mode, min, max, &[]).await
}

/// The shapes the fake answers in: complete, or sparse as a .NET data contract service may
/// send them (defaults left out, nulls, no statistics on refresh, unknown job messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shapes {
    Full,
    Sparse,
}

impl Shapes {
    /// A harness in `region` with the fake in `mode`, answering in these shapes.
    pub async fn harness(self, region: &str, mode: Mode, min: u32, max: u32) -> Harness {
        let options = FakeOptions::for_tests()
            .with_mode(mode)
            .with_sparse(self == Shapes::Sparse);
        harness_on(options, region, min, max, &[]).await
    }

    /// [`Shapes::harness`] in its own account.
    pub async fn isolated(self, mode: Mode, min: u32, max: u32) -> Harness {
        self.harness(REGION, mode, min, max).await
    }
}

/// Declares each `async fn name(shapes: Shapes) { … }` scenario as a module `name` with two
/// tests, `full` and `sparse`, that run it against the fake in each of the [`Shapes`].
#[macro_export]
macro_rules! in_both_shapes {
    ($($(#[$doc:meta])* async fn $name:ident($shapes:ident: Shapes $(,)?) $body:block)*) => {$(
        $(#[$doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($shapes: $crate::support::cycle::Shapes) $body

            #[tokio::test]
            async fn full() {
                scenario($crate::support::cycle::Shapes::Full).await
            }

            #[tokio::test]
            async fn sparse() {
                scenario($crate::support::cycle::Shapes::Sparse).await
            }
        }
    )*};
}

/// A harness with extra or overriding configuration variables.
pub async fn harness_with(
    region: &str,
    mode: Mode,
    min: u32,
    max: u32,
    extra: &[(&str, String)],
) -> Harness {
    harness_on(
        FakeOptions::for_tests().with_mode(mode),
        region,
        min,
        max,
        extra,
    )
    .await
}

/// A harness with the fake started from `options`.
pub async fn harness_on(
    options: FakeOptions,
    region: &str,
    min: u32,
    max: u32,
    extra: &[(&str, String)],
) -> Harness {
    let fake = fake::start(options).await;
    let proxy = AwsProxy::start(&moto::endpoint()).await;
    let sdk = proxied_sdk_config(region, &proxy).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let network = moto::network(&ec2).await;
    let ami = moto::ami(&ssm).await;
    let table = moto::table(&dynamodb).await;
    let mut vars: HashMap<&str, String> = HashMap::from([
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
    vars.extend(extra.iter().cloned());
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("valid config");
    let arns = InstanceArns::new(region, proxy.account_id());
    let actions = fake::client(&fake, &fake::pat());
    let mut settings =
        ghaec2::app::cycle_settings(&config, format!("test-{}", moto::unique()), false);
    settings.describe_grace = Duration::ZERO;
    Harness {
        store: DynamoStateStore::new(dynamodb.clone(), table.clone()),
        jit: DynamoJitStore::new(dynamodb.clone(), table.clone(), SCALE_SET, arns.clone()),
        fleet: Ec2Fleet::new(
            ec2.clone(),
            ssm.clone(),
            LaunchSettings::from_config(&config, arns.clone()),
        ),
        ssm,
        network,
        proxy,
        logs: Logs::default(),
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
    /// A listener over the harness's own ports.
    pub fn services(&self) -> Listener<'_, DynamoStateStore, Ec2Fleet, DynamoJitStore> {
        self.with_ports(&self.store, &self.fleet, &self.jit)
    }

    /// A listener over the harness's own ports, with other settings (another owner, other
    /// labels).
    pub fn with_settings<'a>(
        &'a self,
        settings: &'a CycleSettings,
    ) -> Listener<'a, DynamoStateStore, Ec2Fleet, DynamoJitStore> {
        let ports = Ports {
            store: &self.store,
            fleet: &self.fleet,
            jit: &self.jit,
        };
        Listener::new(&self.actions, ports, settings)
    }

    /// A listener over other ports (fault-injecting wrappers).
    pub fn with_ports<'a, S, F, J>(
        &'a self,
        store: &'a S,
        fleet: &'a F,
        jit: &'a J,
    ) -> Listener<'a, S, F, J>
    where
        S: StateStore + Sync,
        F: Fleet + Sync,
        J: JitStore + Sync,
    {
        let ports = Ports { store, fleet, jit };
        Listener::new(&self.actions, ports, &self.settings)
    }

    /// One cycle listening for `window`.
    pub async fn cycle(&self, window: Duration) -> Result<Summary, CycleError> {
        self.run(self.services(), &stop(window)).await
    }

    /// Runs a cycle over `services` with its logs captured, then asserts that no secret
    /// leaked into its logs, its result, or what it left in EC2.
    pub async fn run<S, F, J>(
        &self,
        services: Listener<'_, S, F, J>,
        stop: &Stop,
    ) -> Result<Summary, CycleError>
    where
        S: StateStore + Sync,
        F: Fleet + Sync,
        J: JitStore + Sync,
    {
        let result = self.captured(services.run(stop)).await;
        let leaks = self.leaks(&describe(&result)).await;
        assert!(
            leaks.is_empty(),
            "secrets leaked: {leaks:?} (result: {result:?})"
        );
        result
    }

    /// Runs `future` with its logs captured into [`Harness::logs`].
    pub async fn captured<T>(&self, future: impl Future<Output = T>) -> T {
        future.with_subscriber(self.logs.dispatch()).await
    }

    /// Every secret the run knows of: what the fake issued, the PAT, the fixture App keys.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = self.fake.issued_secrets();
        secrets.push(ghaec2_fake::DEFAULT_PAT.to_owned());
        for which in ["pkcs1", "pkcs8"] {
            let path = format!(
                "{}/fake/tests/fixtures/test_app_{which}_key.pem",
                env!("CARGO_MANIFEST_DIR")
            );
            if let Ok(pem) = std::fs::read_to_string(path) {
                secrets.extend(pem_secrets(&pem));
            }
        }
        secrets
    }

    /// Secrets found in the captured logs, in `result` (a cycle's summary or error, as text),
    /// in the user-data of every launch template version and in the tags of every launch
    /// template and instance of the account.
    pub async fn leaks(&self, result: &str) -> Vec<Leak> {
        let mut places = vec![
            ("logs".to_owned(), self.logs.text()),
            ("result".to_owned(), result.to_owned()),
        ];
        let templates = self.ec2.describe_launch_templates().send().await.unwrap();
        for template in templates.launch_templates() {
            let id = template.launch_template_id().unwrap_or_default();
            places.push((format!("tags of {id}"), format!("{:?}", template.tags())));
            let versions = self
                .ec2
                .describe_launch_template_versions()
                .launch_template_id(id)
                .send()
                .await
                .unwrap();
            for version in versions.launch_template_versions() {
                let data = version.launch_template_data();
                let encoded = data.and_then(|d| d.user_data()).unwrap_or_default();
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                places.push((
                    format!("user-data of {id} v{:?}", version.version_number()),
                    format!("{decoded}\n{encoded}\n{data:?}"),
                ));
            }
        }
        let reservations = self.ec2.describe_instances().send().await.unwrap();
        for instance in reservations
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
        {
            places.push((
                format!("tags of {}", instance.instance_id().unwrap_or_default()),
                format!("{:?}", instance.tags()),
            ));
        }
        find_leaks(&places, &self.secrets())
    }

    /// Plays a killed invocation's lease running out: another owner takes it over as if it had
    /// lapsed, with a lease that has itself lapsed already, so the next cycle gets it at once.
    pub async fn lapse_lease(&self) {
        let now = Utc::now();
        let outcome = self
            .store
            .acquire(
                SCALE_SET,
                "lease-reaper",
                now - chrono::Duration::seconds(1),
                now + chrono::Duration::days(1),
            )
            .await
            .unwrap();
        assert!(matches!(outcome, LeaseOutcome::Acquired(..)), "{outcome:?}");
    }

    /// The scale set's live instances.
    pub async fn instances(&self) -> Vec<Instance> {
        let id = self.scale_set_id().await;
        let listed = self.fleet.instances(id).await.unwrap();
        listed.into_iter().filter(|i| i.state.is_live()).collect()
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

    /// Ids of the messages the fake still holds, unacknowledged, for scale set `id`.
    pub fn unacknowledged(&self, id: i64) -> Vec<u64> {
        self.fake
            .state()
            .scale_sets
            .iter()
            .filter(|s| s.scale_set.id == id as u64)
            .flat_map(|s| s.queue.messages.keys().copied().collect::<Vec<_>>())
            .collect()
    }

    /// The ledger entries.
    pub async fn ledger(&self) -> Vec<ghaec2::ports::RunnerRecord> {
        self.store.runners(SCALE_SET).await.unwrap()
    }

    /// JIT material left.
    pub async fn jit_left(&self) -> Vec<String> {
        self.jit.listing().await.unwrap().instance_ids
    }
}

/// A cycle's result as text, the way an operator would see it: summary JSON or error text.
pub fn describe(result: &Result<Summary, CycleError>) -> String {
    match result {
        Ok(summary) => format!(
            "{}\n{summary:?}",
            serde_json::to_string(summary).unwrap_or_default()
        ),
        Err(e) => format!("{e}\n{e:?}"),
    }
}
