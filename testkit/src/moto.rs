//! Shared moto_server setup for the AWS adapter tests. moto keeps state per account and
//! region, so each test takes its own region (and unique names), and tests run in parallel.
//! Start moto with `scripts/with-moto.sh cargo test --test aws_state` (it sets
//! `AWS_ENDPOINT_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification,
};
use ghaec2::aws::schema::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};

/// An SSM public AMI parameter that moto serves, naming an AMI its DescribeImages knows.
pub const AMI_PARAMETER: &str =
    "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

/// moto's default account.
pub const ACCOUNT_ID: &str = "123456789012";

/// moto's URL; fails the test with instructions when unset.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "AWS_ENDPOINT_URL is not set: these tests need moto_server. \
             Run them as `scripts/with-moto.sh cargo test --test <name>`."
            )
        })
}

/// SDK configuration for moto in `region`: dummy credentials, and one attempt only, since
/// moto answers what it does not implement with a 500 that would otherwise be retried.
pub async fn sdk_config(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// A unique suffix for names.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// A fresh state table in `region`, created through the production schema.
pub async fn table(dynamodb: &aws_sdk_dynamodb::Client) -> String {
    let name = format!("ghaec2-test-{}", unique());
    create_table(dynamodb, &name).await;
    name
}

/// Creates the state table `name` as `template.yaml` declares it (the key schema of
/// `ghaec2::aws::schema`, on-demand billing, TTL on its TTL attribute) unless it exists, and
/// waits until it is active. Panics, naming the call, on any other failure.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    let attribute = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition")
    };
    let element = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key schema element")
    };
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(PARTITION_KEY))
        .attribute_definitions(attribute(SORT_KEY))
        .key_schema(element(PARTITION_KEY, KeyType::Hash))
        .key_schema(element(SORT_KEY, KeyType::Range))
        .send()
        .await;
    if let Err(e) = created {
        let exists = e
            .as_service_error()
            .is_some_and(|s| s.is_resource_in_use_exception());
        assert!(exists, "CreateTable {name}: {e:?}");
    }
    wait_active(client, name).await;
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(TTL_ATTRIBUTE)
        .build()
        .expect("ttl specification");
    let enabled = client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await;
    if let Err(e) = enabled {
        // Enabling TTL twice is a ValidationException ("already enabled"): fine here.
        let again = e
            .as_service_error()
            .and_then(|s| s.meta().message())
            .is_some_and(|m| m.contains("already enabled"));
        assert!(again, "UpdateTimeToLive {name}: {e:?}");
    }
}

async fn wait_active(client: &aws_sdk_dynamodb::Client, name: &str) {
    const POLLS: u32 = 60;
    for _ in 0..POLLS {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeTable {name}: {e:?}"));
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    panic!("table {name} not active after {POLLS} polls");
}

/// A VPC with two subnets and a security group.
#[derive(Debug, Clone)]
pub struct Network {
    /// Two subnets.
    pub subnet_ids: Vec<String>,
    /// One security group.
    pub security_group_id: String,
}

/// Creates [`Network`] in the client's region.
pub async fn network(ec2: &aws_sdk_ec2::Client) -> Network {
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("create vpc");
    let vpc_id = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_owned();
    let mut subnet_ids = Vec::new();
    for cidr in ["10.0.1.0/24", "10.0.2.0/24"] {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(cidr)
            .send()
            .await
            .expect("create subnet");
        subnet_ids.push(
            subnet
                .subnet()
                .and_then(|s| s.subnet_id())
                .expect("subnet id")
                .to_owned(),
        );
    }
    let group = ec2
        .create_security_group()
        .vpc_id(&vpc_id)
        .group_name(format!("runners-{}", unique()))
        .description("ghaec2 test runners")
        .send()
        .await
        .expect("create security group");
    Network {
        subnet_ids,
        security_group_id: group.group_id().expect("group id").to_owned(),
    }
}

/// An AMI moto knows, from the public SSM parameter.
pub async fn ami(ssm: &aws_sdk_ssm::Client) -> String {
    let got = ssm
        .get_parameter()
        .name(AMI_PARAMETER)
        .send()
        .await
        .expect("ami parameter");
    got.parameter()
        .and_then(|p| p.value())
        .expect("ami id")
        .to_owned()
}

/// Calls moto's IAM query API directly (no IAM SDK crate in the project): a form POST whose
/// fake SigV4 header only tells moto which service is meant.
async fn iam(params: &[(&str, &str)]) -> String {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().chain(&[("Version", "2010-05-08")]))
        .finish();
    let response = reqwest::Client::new()
        .post(endpoint())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/iam/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .body(body)
        .send()
        .await
        .expect("iam call");
    let status = response.status();
    let text = response.text().await.expect("iam body");
    assert!(status.is_success(), "IAM {params:?}: {status} {text}");
    text
}

/// Creates an instance profile with a role in moto (IAM is global), returns its name.
pub async fn instance_profile() -> String {
    let name = format!("ghaec2-runner-{}", unique());
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam(&[
        ("Action", "CreateRole"),
        ("RoleName", &name),
        ("AssumeRolePolicyDocument", trust),
    ])
    .await;
    iam(&[
        ("Action", "CreateInstanceProfile"),
        ("InstanceProfileName", &name),
    ])
    .await;
    iam(&[
        ("Action", "AddRoleToInstanceProfile"),
        ("InstanceProfileName", &name),
        ("RoleName", &name),
    ])
    .await;
    name
}
