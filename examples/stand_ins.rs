//! Prepares the AWS side in moto_server for a local run: the state table (production schema),
//! a VPC with two subnets, a security group, an AMI and a runner instance profile. Prints the
//! matching environment as `export` lines. Used by `scripts/stand-ins.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use ghaec2_testkit::moto;

#[tokio::main]
async fn main() {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    let sdk = moto::sdk_config(&region).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let network = moto::network(&ec2).await;
    let ami = moto::ami(&aws_sdk_ssm::Client::new(&sdk)).await;
    let table = moto::table(&aws_sdk_dynamodb::Client::new(&sdk)).await;
    let profile = moto::instance_profile().await;
    println!("export STATE_TABLE_NAME={table}");
    println!("export EC2_SUBNET_ID={}", network.subnet_ids.join(","));
    println!("export EC2_SECURITY_GROUP_ID={}", network.security_group_id);
    println!("export EC2_AMI_ID={ami}");
    println!("export EC2_INSTANCE_PROFILE={profile}");
}
