//! The environment variable names, once. Templates, scripts and tests share them, so they are
//! part of the interface (`docs/design.md` §3).

/// Full config URL; wins over [`GITHUB_ENTERPRISE_URL`] + [`ORGANIZATION_NAME`].
pub const GITHUB_CONFIG_URL: &str = "GITHUB_CONFIG_URL";
/// GitHub Enterprise Server base URL; unset means github.com.
pub const GITHUB_ENTERPRISE_URL: &str = "GITHUB_ENTERPRISE_URL";
/// Organization served when [`GITHUB_CONFIG_URL`] is unset.
pub const ORGANIZATION_NAME: &str = "ORGANIZATION_NAME";
/// Presence (any value) forces GitHub Enterprise Server API routing, as in ARC.
pub const GITHUB_ACTIONS_FORCE_GHES: &str = "GITHUB_ACTIONS_FORCE_GHES";
/// Personal access token.
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
/// SSM parameter holding the personal access token.
pub const GITHUB_TOKEN_SSM_PARAMETER: &str = "GITHUB_TOKEN_SSM_PARAMETER";
/// GitHub App id or client id.
pub const GITHUB_APP_ID: &str = "GITHUB_APP_ID";
/// GitHub App installation id.
pub const GITHUB_APP_INSTALLATION_ID: &str = "GITHUB_APP_INSTALLATION_ID";
/// GitHub App private key (PEM).
pub const GITHUB_APP_PRIVATE_KEY: &str = "GITHUB_APP_PRIVATE_KEY";
/// SSM parameter holding the GitHub App private key.
pub const GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER: &str = "GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER";
/// PEM file of extra CA certificates trusted for GitHub and the Actions Service.
pub const GITHUB_CA_BUNDLE: &str = "GITHUB_CA_BUNDLE";
/// SSM parameter holding extra CA certificates (PEM).
pub const GITHUB_CA_BUNDLE_SSM_PARAMETER: &str = "GITHUB_CA_BUNDLE_SSM_PARAMETER";
/// Runner group of the scale set.
pub const RUNNER_GROUP: &str = "RUNNER_GROUP";
/// Scale set name.
pub const RUNNER_SCALE_SET_NAME: &str = "RUNNER_SCALE_SET_NAME";
/// Id of an existing scale set.
pub const RUNNER_SCALE_SET_ID: &str = "RUNNER_SCALE_SET_ID";
/// Extra scale set labels, comma-separated.
pub const RUNNER_LABELS: &str = "RUNNER_LABELS";
/// Runners kept even without jobs.
pub const MIN_RUNNERS: &str = "MIN_RUNNERS";
/// Upper bound of the fleet.
pub const MAX_RUNNERS: &str = "MAX_RUNNERS";
/// AWS region.
pub const AWS_REGION: &str = "AWS_REGION";
/// AWS region, read when [`AWS_REGION`] is unset.
pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// Subnets, comma-separated.
pub const EC2_SUBNET_ID: &str = "EC2_SUBNET_ID";
/// Security groups, comma-separated.
pub const EC2_SECURITY_GROUP_ID: &str = "EC2_SECURITY_GROUP_ID";
/// EC2 key pair for SSH.
pub const EC2_KEY_PAIR_NAME: &str = "EC2_KEY_PAIR_NAME";
/// Instance types, comma-separated, in order of preference.
pub const EC2_INSTANCE_TYPE: &str = "EC2_INSTANCE_TYPE";
/// AMI id or `resolve:ssm:` parameter.
pub const EC2_AMI_ID: &str = "EC2_AMI_ID";
/// KMS key ARN for the encrypted root volume.
pub const EC2_EBS_KMS_KEY_ID: &str = "EC2_EBS_KMS_KEY_ID";
/// KMS key ARNs the deployment's IAM lets the function use for root volumes, comma-separated;
/// when set (even blank: none), every scale set's [`EC2_EBS_KMS_KEY_ID`] must be one of them.
pub const EC2_EBS_KMS_KEY_ARNS_ALLOWED: &str = "EC2_EBS_KMS_KEY_ARNS_ALLOWED";
/// Maximum spot price per instance hour.
pub const EC2_SPOT_PRICE: &str = "EC2_SPOT_PRICE";
/// Instance profile name or ARN.
pub const EC2_INSTANCE_PROFILE: &str = "EC2_INSTANCE_PROFILE";
/// Whether instances get a public IPv4 address.
pub const EC2_ASSOCIATE_PUBLIC_IP: &str = "EC2_ASSOCIATE_PUBLIC_IP";
/// Root volume size in GiB.
pub const EC2_ROOT_VOLUME_SIZE_GIB: &str = "EC2_ROOT_VOLUME_SIZE_GIB";
/// Whether to fall back to on-demand on spot capacity errors.
pub const EC2_ON_DEMAND_FAILOVER: &str = "EC2_ON_DEMAND_FAILOVER";
/// DynamoDB state table.
pub const STATE_TABLE_NAME: &str = "STATE_TABLE_NAME";
/// Listening time per invocation, in seconds.
pub const DRAIN_WINDOW_SECONDS: &str = "DRAIN_WINDOW_SECONDS";
/// Time a launched runner has to come online, in seconds.
pub const RUNNER_BOOT_TIMEOUT_SECONDS: &str = "RUNNER_BOOT_TIMEOUT_SECONDS";
/// The runner's work folder.
pub const RUNNER_WORK_FOLDER: &str = "RUNNER_WORK_FOLDER";
/// Oldest runner version an instance may start.
pub const RUNNER_MIN_VERSION: &str = "RUNNER_MIN_VERSION";
/// Whether the failed jobs of a workflow run are re-run once when a spot interruption
/// failed one of its jobs.
pub const RERUN_INTERRUPTED_JOBS: &str = "RERUN_INTERRUPTED_JOBS";
/// Which metrics CloudWatch publishes.
pub const METRICS: &str = "METRICS";
/// The scale sets of the deployment: a JSON array of objects of per-scale-set variables.
pub const SCALE_SETS: &str = "SCALE_SETS";
/// SSM parameter holding the text of [`SCALE_SETS`].
pub const SCALE_SETS_SSM_PARAMETER: &str = "SCALE_SETS_SSM_PARAMETER";

/// The variables each element of [`SCALE_SETS`] may set: what differs between runner shapes.
pub const SCALE_SET_VARIABLES: [&str; 20] = [
    RUNNER_SCALE_SET_NAME,
    RUNNER_SCALE_SET_ID,
    RUNNER_GROUP,
    RUNNER_LABELS,
    MIN_RUNNERS,
    MAX_RUNNERS,
    EC2_SUBNET_ID,
    EC2_SECURITY_GROUP_ID,
    EC2_KEY_PAIR_NAME,
    EC2_INSTANCE_TYPE,
    EC2_AMI_ID,
    EC2_EBS_KMS_KEY_ID,
    EC2_SPOT_PRICE,
    EC2_INSTANCE_PROFILE,
    EC2_ASSOCIATE_PUBLIC_IP,
    EC2_ROOT_VOLUME_SIZE_GIB,
    EC2_ON_DEMAND_FAILOVER,
    RUNNER_BOOT_TIMEOUT_SECONDS,
    RUNNER_WORK_FOLDER,
    RUNNER_MIN_VERSION,
];

/// The variables of the deployment as a whole, shared by every scale set: one GitHub location
/// and credential, one region, one state table, one invocation.
pub const DEPLOYMENT_VARIABLES: [&str; 21] = [
    GITHUB_CONFIG_URL,
    GITHUB_ENTERPRISE_URL,
    ORGANIZATION_NAME,
    GITHUB_ACTIONS_FORCE_GHES,
    GITHUB_TOKEN,
    GITHUB_TOKEN_SSM_PARAMETER,
    GITHUB_APP_ID,
    GITHUB_APP_INSTALLATION_ID,
    GITHUB_APP_PRIVATE_KEY,
    GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER,
    GITHUB_CA_BUNDLE,
    GITHUB_CA_BUNDLE_SSM_PARAMETER,
    AWS_REGION,
    AWS_DEFAULT_REGION,
    STATE_TABLE_NAME,
    DRAIN_WINDOW_SECONDS,
    RERUN_INTERRUPTED_JOBS,
    METRICS,
    SCALE_SETS,
    SCALE_SETS_SSM_PARAMETER,
    EC2_EBS_KMS_KEY_ARNS_ALLOWED,
];
