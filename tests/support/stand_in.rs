//! The AWS side a harness runs against: moto_server behind a fault-injecting proxy ([`Moto`]),
//! or the ports in memory ([`Memory`], `testkit/src/memory/`). Both give the cycle its three
//! ports and do what happens to them outside ghaec2: an instance reads its JIT config or
//! reports that its runner could not start, and a leak check reads what EC2 shows (tags,
//! user-data).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use ghaec2::aws::{
    DynamoJitStore, DynamoStateStore, Ec2Fleet, InstanceArns, LaunchSettings, schema,
};
use ghaec2::config::Config;
use ghaec2::ports::{Fleet, JitStore, StateStore};
use ghaec2_testkit::memory::{MemoryFleet, MemoryJitStore, MemoryStateStore};
use secrecy::ExposeSecret;

use super::aws_proxy::AwsProxy;
use super::cycle::SCALE_SET;
use super::moto;

/// An AWS side for the cycle's ports.
pub trait StandIn: Sized + Send + Sync {
    /// The state store.
    type Store: StateStore + Send + Sync;
    /// The fleet.
    type Fleet: Fleet + Send + Sync;
    /// The JIT store.
    type Jit: JitStore + Send + Sync;

    /// Sets up the AWS side for `region`; returns it with the configuration variables that
    /// name its resources (subnets, security group, AMI, state table).
    fn start(region: &str) -> impl Future<Output = (Self, Vec<(&'static str, String)>)>;

    /// The ports for `config`, over this AWS side.
    fn ports(&self, config: &Config) -> (Self::Store, Self::Fleet, Self::Jit);

    /// Reads and deletes an instance's JIT config, as its user-data script does.
    fn take_jit(&self, instance_id: &str) -> impl Future<Output = Option<String>>;

    /// Reports that an instance's runner of [`SCALE_SET`] could not start, as its user-data
    /// script does.
    fn report_boot_failure(&self, instance_id: &str, reason: &str) -> impl Future<Output = ()>;

    /// What EC2 shows that a secret must never reach, by place: tags and user-data.
    fn exposed(&self) -> impl Future<Output = Vec<(String, String)>>;

    /// CreateFleet client tokens that reached EC2 more than once, with how often.
    fn repeated_launch_tokens(&self) -> HashMap<String, usize>;
}

/// moto_server, reached through an [`AwsProxy`] that makes it an account of its own and
/// injects AWS errors.
#[derive(Debug)]
pub struct Moto {
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub arns: InstanceArns,
    pub network: moto::Network,
    /// The proxy every AWS call goes through.
    pub proxy: AwsProxy,
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

impl StandIn for Moto {
    type Store = DynamoStateStore;
    type Fleet = Ec2Fleet;
    type Jit = DynamoJitStore;

    async fn start(region: &str) -> (Self, Vec<(&'static str, String)>) {
        let proxy = AwsProxy::start(&moto::endpoint()).await;
        let sdk = proxied_sdk_config(region, &proxy).await;
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let network = moto::network(&ec2).await;
        let ami = moto::ami(&ssm).await;
        let table = moto::table(&dynamodb).await;
        let vars = vec![
            ("EC2_SUBNET_ID", network.subnet_ids.join(",")),
            ("EC2_SECURITY_GROUP_ID", network.security_group_id.clone()),
            ("EC2_AMI_ID", ami),
            ("STATE_TABLE_NAME", table.clone()),
        ];
        let moto = Moto {
            arns: InstanceArns::new(region, proxy.account_id()),
            ec2,
            ssm,
            dynamodb,
            table,
            network,
            proxy,
        };
        (moto, vars)
    }

    fn ports(&self, config: &Config) -> (DynamoStateStore, Ec2Fleet, DynamoJitStore) {
        (
            DynamoStateStore::new(self.dynamodb.clone(), self.table.clone()),
            Ec2Fleet::new(
                self.ec2.clone(),
                self.ssm.clone(),
                LaunchSettings::from_config(config, self.arns.clone()),
            ),
            DynamoJitStore::new(
                self.dynamodb.clone(),
                self.table.clone(),
                config.github.scale_set_name.clone(),
                self.arns.clone(),
            ),
        )
    }

    async fn take_jit(&self, instance_id: &str) -> Option<String> {
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

    async fn report_boot_failure(&self, instance_id: &str, reason: &str) {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                schema::boot_failure_key(self.arns.jit_pk(instance_id))
                    .into_iter()
                    .chain([
                        (schema::boot_failure::REASON.to_owned(), s(reason)),
                        (schema::boot_failure::INSTANCE_ID.to_owned(), s(instance_id)),
                        (
                            schema::boot_failure::SCALE_SET_NAME.to_owned(),
                            s(SCALE_SET),
                        ),
                    ])
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
    }

    /// The tags and every version's user-data of each launch template of the account, and the
    /// tags of each instance.
    async fn exposed(&self) -> Vec<(String, String)> {
        let mut places = Vec::new();
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
        places
    }

    /// moto does not deduplicate client tokens as EC2 does, so here a repeated token is a
    /// duplicate launch; the proxy saw every call.
    fn repeated_launch_tokens(&self) -> HashMap<String, usize> {
        let mut tokens: HashMap<String, usize> = HashMap::new();
        for call in self
            .proxy
            .calls_to("CreateFleet")
            .iter()
            .filter(|c| c.forwarded)
        {
            *tokens
                .entry(call.param("ClientToken").unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        tokens.retain(|_, n| *n > 1);
        tokens
    }
}

/// The ports in memory: handles sharing the harness's ports' data.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    pub store: MemoryStateStore,
    pub fleet: MemoryFleet,
    pub jit: MemoryJitStore,
}

impl StandIn for Memory {
    type Store = MemoryStateStore;
    type Fleet = MemoryFleet;
    type Jit = MemoryJitStore;

    /// Placeholders where moto has resources: nothing resolves them.
    async fn start(_region: &str) -> (Self, Vec<(&'static str, String)>) {
        let vars = vec![
            ("EC2_SUBNET_ID", "subnet-0123456789abcdef0".to_owned()),
            ("EC2_SECURITY_GROUP_ID", "sg-0123456789abcdef0".to_owned()),
            ("EC2_AMI_ID", "ami-0123456789abcdef0".to_owned()),
            ("STATE_TABLE_NAME", "ghaec2-memory".to_owned()),
        ];
        (Memory::default(), vars)
    }

    fn ports(&self, _config: &Config) -> (MemoryStateStore, MemoryFleet, MemoryJitStore) {
        (self.store.clone(), self.fleet.clone(), self.jit.clone())
    }

    async fn take_jit(&self, instance_id: &str) -> Option<String> {
        self.jit
            .take(instance_id)
            .map(|config| config.expose_secret().to_owned())
    }

    async fn report_boot_failure(&self, instance_id: &str, reason: &str) {
        self.jit.report_boot_failure(instance_id, reason);
    }

    /// The tags of each instance: the memory fleet has no launch template, so no user-data.
    async fn exposed(&self) -> Vec<(String, String)> {
        self.fleet
            .described()
            .into_iter()
            .map(|i| (format!("tags of {}", i.id), format!("{:?}", i.tags)))
            .collect()
    }

    /// None: the memory fleet answers a repeated token with the first launch's instances, as
    /// EC2 does.
    fn repeated_launch_tokens(&self) -> HashMap<String, usize> {
        HashMap::new()
    }
}
