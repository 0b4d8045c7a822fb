//! Whole cycles under AWS faults, injected by the proxy in front of moto_server
//! ([`support::aws_proxy`]): spot capacity errors by instance type and by subnet, on-demand
//! failover, partial fulfilment, EC2 request limits, DynamoDB conditional-check failures and
//! throughput limits, SSM throttling. Each scenario ends with the shared invariant check of
//! docs/design.md §2 ([`support::invariants::assert_converged`]); every cycle is checked for
//! leaked secrets by the harness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use ghaec2::config::{Config, Credential, SecretError};
use ghaec2::cycle::{CycleError, EndReason};
use ghaec2::ports::{Fleet, PortErrorKind};
use ghaec2_fake::Mode;
use secrecy::ExposeSecret;
use support::aws_proxy::{Answer, AwsProxy, Capacity, ICE, rewrite_fleet, transaction_canceled};
use support::cycle::{Harness, REGION, isolated};
use support::invariants::{assert_converged, id_of, live};
use support::secrets::{Leak, find_leaks};
use support::stand_in::proxied_sdk_config;

/// A cycle long enough for a message, a retry after a transient failure, and a few empty polls.
const SHORT: Duration = Duration::from_millis(2500);
/// Long enough for the cycle's own retry of a failed step (it waits 1 s first).
const WITH_RETRY: Duration = Duration::from_millis(4000);
/// A cycle that only needs to set things up (scale set, session) or to end.
const BRIEF: Duration = Duration::from_millis(1200);

/// Type, subnet and lifecycle (`spot` or none) of instances, from EC2.
async fn placement(h: &Harness, ids: &[String]) -> Vec<(String, String, Option<String>)> {
    let found = h
        .aws
        .ec2
        .describe_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .unwrap();
    found
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                i.instance_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                i.subnet_id().unwrap_or_default().to_owned(),
                i.instance_lifecycle().map(|l| l.as_str().to_owned()),
            )
        })
        .collect()
}

/// A scale set with its session, and `jobs` jobs queued after it.
async fn ready(h: &Harness, jobs: usize) -> i64 {
    let setup = h.cycle(BRIEF).await.unwrap();
    h.enqueue(jobs);
    id_of(&setup)
}

fn spot_capacity(types: &[&str], subnets: &[String]) -> Answer {
    Answer::Capacity(Capacity {
        capacity_type: Some("spot".into()),
        instance_types: types.iter().map(|t| (*t).to_owned()).collect(),
        subnets: subnets.to_vec(),
        at_most: None,
    })
}

// ---------------------------------------------------------------------------------------------
// The checkers themselves
// ---------------------------------------------------------------------------------------------

/// The capacity rewrite drops the overrides without capacity, renumbers the rest, and reports
/// an `errorSet` item for each; a cap lowers the target and reports the shortfall.
#[test]
fn the_capacity_rewrite_drops_overrides_and_caps_the_target() {
    let params: Vec<(String, String)> = [
        ("Action", "CreateFleet"),
        (
            "LaunchTemplateConfigs.1.LaunchTemplateSpecification.LaunchTemplateId",
            "lt-1",
        ),
        (
            "LaunchTemplateConfigs.1.Overrides.1.InstanceType",
            "t3.micro",
        ),
        ("LaunchTemplateConfigs.1.Overrides.1.SubnetId", "subnet-a"),
        (
            "LaunchTemplateConfigs.1.Overrides.2.InstanceType",
            "t3.small",
        ),
        ("LaunchTemplateConfigs.1.Overrides.2.SubnetId", "subnet-a"),
        (
            "LaunchTemplateConfigs.1.Overrides.3.InstanceType",
            "t3.small",
        ),
        ("LaunchTemplateConfigs.1.Overrides.3.SubnetId", "subnet-b"),
        ("TargetCapacitySpecification.TotalTargetCapacity", "3"),
        (
            "TargetCapacitySpecification.DefaultTargetCapacityType",
            "spot",
        ),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let capacity = Capacity {
        capacity_type: Some("spot".into()),
        instance_types: vec!["t3.micro".into()],
        subnets: vec!["subnet-b".into()],
        at_most: Some(2),
    };
    let out = rewrite_fleet(&params, &capacity).expect("applies to spot");
    let get = |k: &str| {
        out.params
            .iter()
            .find(|(p, _)| p == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        get("LaunchTemplateConfigs.1.Overrides.1.InstanceType"),
        Some("t3.small")
    );
    assert_eq!(
        get("LaunchTemplateConfigs.1.Overrides.1.SubnetId"),
        Some("subnet-a")
    );
    assert_eq!(
        get("LaunchTemplateConfigs.1.Overrides.2.InstanceType"),
        None
    );
    assert_eq!(
        get("TargetCapacitySpecification.TotalTargetCapacity"),
        Some("2")
    );
    assert_eq!(out.target, 2);
    assert_eq!(out.errors.len(), 3, "two overrides dropped, one shortfall");
    assert!(
        out.errors
            .iter()
            .all(|e| e.contains(ICE) && e.contains("<lifecycle>spot<"))
    );

    let on_demand: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| match k.as_str() {
            "TargetCapacitySpecification.DefaultTargetCapacityType" => {
                (k.clone(), "on-demand".to_owned())
            }
            _ => (k.clone(), v.clone()),
        })
        .collect();
    assert!(rewrite_fleet(&on_demand, &capacity).is_none(), "spot only");
}

/// The secret checker finds a planted secret in any place, ignores too-short values, and
/// reports only a prefix.
#[test]
fn the_secret_checker_finds_planted_secrets() {
    let secret = "ghs_0123456789abcdefghijklmnopqrstuv".to_owned();
    let places = vec![
        (
            "logs".to_owned(),
            format!("{{\"msg\":\"x\",\"token\":\"{secret}\"}}"),
        ),
        ("tags".to_owned(), "[Tag { key: \"Name\" }]".to_owned()),
    ];
    let leaks = find_leaks(&places, &[secret.clone(), "short".to_owned()]);
    assert_eq!(
        leaks,
        [Leak {
            place: "logs".into(),
            secret_prefix: "ghs_01".into()
        }]
    );
    assert!(find_leaks(&places[1..], &[secret]).is_empty());
}

/// The harness's check fails when a cycle's logs carry a token the fake issued: a planted log
/// line with the live message queue token is reported.
#[tokio::test]
async fn the_harness_reports_a_token_planted_in_the_logs() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    h.cycle(BRIEF).await.unwrap();
    assert!(h.leaks("").await.is_empty(), "a clean cycle leaks nothing");
    let issued = h.fake.issued_secrets();
    let token = issued
        .iter()
        .find(|s| s.starts_with("eyJ"))
        .expect("a JWT was issued")
        .clone();
    h.captured(async { tracing::info!(token = %token, "planted") })
        .await;
    let leaks = h.leaks("").await;
    assert!(
        leaks.iter().any(|l| l.place == "logs"),
        "planted token found: {leaks:?}"
    );
    assert!(!h.leaks(&format!("error: {token}")).await.is_empty());
}

/// The invariant check fails on an instance launched behind the ledger's back (a duplicate
/// launch as a crash could leave one).
#[tokio::test]
#[should_panic(expected = "live instances")]
async fn the_invariant_check_catches_an_unknown_instance() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 1).await;
    h.cycle(SHORT).await.unwrap();
    assert_converged(&h, id, 1, "before").await;
    h.fleet.launch(id, 1, "planted-duplicate").await.unwrap();
    assert_converged(&h, id, 1, "with a planted instance").await;
}

// ---------------------------------------------------------------------------------------------
// Spot capacity
// ---------------------------------------------------------------------------------------------

/// No spot capacity for the first instance type: CreateFleet launches the whole request on the
/// other type, in the same call; nothing goes on-demand.
#[tokio::test]
async fn insufficient_capacity_on_one_type_launches_the_other() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 3).await;
    h.aws
        .proxy
        .add("ec2", "CreateFleet", 1, spot_capacity(&["t3.micro"], &[]));
    let summary = h.cycle(SHORT).await.unwrap();
    assert_eq!(summary.launched, 3, "{summary:?}");
    let fleets = h.aws.proxy.calls_to("CreateFleet");
    assert_eq!(fleets.len(), 1, "no on-demand failover needed: {fleets:?}");
    assert_eq!(fleets[0].injected.as_deref(), Some(ICE));
    let placed = placement(&h, &live(&h, id).await).await;
    assert!(
        placed
            .iter()
            .all(|(t, _, l)| t == "t3.small" && l.as_deref() == Some("spot")),
        "{placed:?}"
    );
    assert_converged(&h, id, 3, "after a capacity error on one type").await;
}

/// No spot capacity in the first subnet (its zone): everything lands in the other subnet.
#[tokio::test]
async fn insufficient_capacity_in_one_zone_launches_in_the_other() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 2).await;
    let short = h.aws.network.subnet_ids[0].clone();
    h.aws.proxy.add(
        "ec2",
        "CreateFleet",
        1,
        spot_capacity(&[], std::slice::from_ref(&short)),
    );
    let summary = h.cycle(SHORT).await.unwrap();
    assert_eq!(summary.launched, 2, "{summary:?}");
    let placed = placement(&h, &live(&h, id).await).await;
    assert!(
        placed
            .iter()
            .all(|(_, s, _)| *s == h.aws.network.subnet_ids[1]),
        "{placed:?}"
    );
    assert_converged(&h, id, 2, "after a capacity error in one zone").await;
}

/// No spot capacity anywhere: the spot request launches nothing, and the same reconcile
/// launches the whole request on-demand (docs/design.md §3), with a token of its own.
#[tokio::test]
async fn no_spot_capacity_fails_over_to_on_demand() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 2).await;
    h.aws.proxy.add(
        "ec2",
        "CreateFleet",
        1,
        spot_capacity(&["t3.micro", "t3.small"], &[]),
    );
    let summary = h.cycle(SHORT).await.unwrap();
    assert_eq!(summary.launched, 2, "{summary:?}");
    let fleets = h.aws.proxy.calls_to("CreateFleet");
    assert_eq!(fleets.len(), 2, "{fleets:?}");
    assert!(!fleets[0].forwarded, "spot launched nothing");
    let kinds: Vec<Option<&str>> = fleets
        .iter()
        .map(|c| c.param("TargetCapacitySpecification.DefaultTargetCapacityType"))
        .collect();
    assert_eq!(kinds, [Some("spot"), Some("on-demand")]);
    assert_ne!(
        fleets[0].param("ClientToken"),
        fleets[1].param("ClientToken")
    );
    let placed = placement(&h, &live(&h, id).await).await;
    assert!(placed.iter().all(|(_, _, l)| l.is_none()), "{placed:?}");
    assert_converged(&h, id, 2, "after the on-demand failover").await;
}

/// Partial fulfilment: spot and on-demand each give one instance of three. The reconcile keeps
/// the two it got, and the next one (the following empty poll) launches the last; no
/// instance is launched that the ledger does not know.
#[tokio::test]
async fn partial_fulfilment_launches_the_rest_at_the_next_reconcile() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 3).await;
    let one = Answer::Capacity(Capacity {
        at_most: Some(1),
        ..Capacity::default()
    });
    h.aws.proxy.add("ec2", "CreateFleet", 2, one);
    let summary = h.cycle(SHORT).await.unwrap();
    assert_eq!(summary.launched, 3, "{summary:?}");
    let fleets = h.aws.proxy.calls_to("CreateFleet");
    let targets: Vec<Option<&str>> = fleets
        .iter()
        .map(|c| c.param("TargetCapacitySpecification.TotalTargetCapacity"))
        .collect();
    assert_eq!(
        targets,
        [Some("1"), Some("1"), Some("1")],
        "spot 1 of 3, on-demand 1 of 2, then the last one at the next reconcile: {fleets:?}"
    );
    assert_converged(&h, id, 3, "after partial fulfilment").await;
}

// ---------------------------------------------------------------------------------------------
// EC2 request limits
// ---------------------------------------------------------------------------------------------

/// `RequestLimitExceeded` twice: the SDK's own retries absorb it within the same launch.
#[tokio::test]
async fn request_limit_exceeded_is_retried_by_the_sdk() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 2).await;
    h.aws
        .proxy
        .fail("ec2", "CreateFleet", 2, "RequestLimitExceeded");
    let summary = h.cycle(SHORT).await.unwrap();
    assert_eq!(summary.launched, 2, "{summary:?}");
    let fleets = h.aws.proxy.calls_to("CreateFleet");
    let forwarded = fleets.iter().filter(|c| c.forwarded).count();
    assert_eq!((fleets.len(), forwarded), (3, 1), "{fleets:?}");
    assert_converged(&h, id, 2, "after throttled launches").await;
}

/// `RequestLimitExceeded` beyond the SDK's attempts: the launch fails as retryable and the
/// cycle retries it after its backoff, within the window. The demand is served once, by one
/// CreateFleet reaching EC2.
#[tokio::test]
async fn request_limit_exceeded_beyond_the_sdk_is_retried_by_the_cycle() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 2).await;
    h.aws
        .proxy
        .fail("ec2", "CreateFleet", 3, "RequestLimitExceeded");
    let first = h.cycle(WITH_RETRY).await.unwrap();
    assert_eq!(first.launched, 2, "{first:?}");
    let next = h.cycle(SHORT).await.unwrap();
    assert_eq!(next.launched, 0, "{next:?}");
    let forwarded = h
        .aws
        .proxy
        .calls_to("CreateFleet")
        .iter()
        .filter(|c| c.forwarded)
        .count();
    assert_eq!(forwarded, 1, "launched once");
    assert_eq!(h.aws.proxy.armed(), 0);
    assert_converged(&h, id, 2, "after the throttled launch").await;
}

/// Scale-down meets a throttled TerminateInstances after the registration was removed: the
/// termination is retried by the cycle within its window, and the runners are gone for good,
/// instances, ledger and JIT material too.
#[tokio::test]
async fn throttled_terminate_during_scale_down_converges() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let ids = h.enqueue(2);
    let first = h.cycle(SHORT).await.unwrap();
    let id = id_of(&first);
    assert_eq!(first.launched, 2, "{first:?}");
    for job in ids {
        h.fake.cancel_job(job).unwrap();
    }
    h.aws
        .proxy
        .fail("ec2", "TerminateInstances", 3, "RequestLimitExceeded");
    let second = h.cycle(WITH_RETRY).await.unwrap();
    assert_eq!(second.terminated, 2, "{second:?}");
    assert_eq!(h.aws.proxy.armed(), 0);
    assert_converged(&h, id, 0, "after throttled terminations").await;
}

/// DescribeInstances throttled beyond the SDK's attempts at the start of a cycle: its first
/// reconcile cannot observe the fleet, acts on nothing, and is retried within the window like
/// every other step, so the same cycle serves the jobs.
#[tokio::test]
async fn throttled_describe_instances_is_retried_within_the_cycle() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 2).await;
    h.aws
        .proxy
        .fail("ec2", "DescribeInstances", 3, "RequestLimitExceeded");
    let served = h.cycle(SHORT).await.unwrap();
    assert_eq!(h.aws.proxy.armed(), 0, "every throttled answer was met");
    assert_eq!(served.reason, EndReason::WindowOver, "{served:?}");
    assert_eq!(served.launched, 2, "{served:?}");
    assert_converged(&h, id, 2, "after throttled DescribeInstances").await;
}

// ---------------------------------------------------------------------------------------------
// DynamoDB
// ---------------------------------------------------------------------------------------------

/// The fence check of a ledger write fails (another owner moved the fence): the cycle ends
/// `Fenced` and writes nothing more; the next owner terminates the instance whose ledger
/// entry was never written and launches what the statistics want.
#[tokio::test]
async fn a_conditional_check_failure_fences_the_cycle() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 1).await;
    h.aws.proxy.add(
        "dynamodb",
        "TransactWriteItems",
        1,
        transaction_canceled(&["ConditionalCheckFailed", "None"]),
    );
    let fenced = h.cycle(SHORT).await;
    assert!(matches!(fenced, Err(CycleError::Fenced(_))), "{fenced:?}");
    let calls = h.aws.proxy.calls();
    let at = calls
        .iter()
        .position(|c| c.injected.is_some())
        .expect("the fault fired");
    let later_writes: Vec<&str> = calls[at + 1..]
        .iter()
        .filter(|c| c.service == "dynamodb" && c.forwarded)
        .filter(|c| {
            matches!(
                c.action.as_str(),
                "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems"
            )
        })
        .map(|c| c.action.as_str())
        .collect();
    assert!(
        later_writes.is_empty(),
        "a fenced cycle writes nothing more: {later_writes:?}"
    );
    // The owner that moved the fence holds the lease; here it has lapsed, so the next one runs.
    h.lapse_lease().await;
    let clean = h.cycle(SHORT).await.unwrap();
    assert_eq!(clean.reason, EndReason::WindowOver);
    assert_converged(&h, id, 1, "after the fenced cycle").await;
}

/// `ProvisionedThroughputExceeded` on a ledger write, beyond the SDK's retries: the runner's
/// set-up fails, so the instance and its registration are taken down at once, and the next
/// reconcile launches a replacement.
#[tokio::test]
async fn throughput_exceeded_on_a_ledger_write_converges() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 1).await;
    h.aws.proxy.fail(
        "dynamodb",
        "TransactWriteItems",
        3,
        "ProvisionedThroughputExceededException",
    );
    let summary = h.cycle(WITH_RETRY).await.unwrap();
    assert_eq!(h.aws.proxy.armed(), 0);
    assert!(summary.launched >= 1, "{summary:?}");
    assert_converged(&h, id, 1, "after a throttled ledger write").await;
}

/// `ProvisionedThroughputExceeded` on the persist after a message: the cycle does not
/// acknowledge, retries after its backoff, and neither loses the demand nor launches twice.
#[tokio::test]
async fn throughput_exceeded_on_the_persist_converges() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 2).await;
    // UpdateItem 1 is the lease; 2 is the persist after the first message.
    h.aws.proxy.add_after(
        "dynamodb",
        "UpdateItem",
        1,
        3,
        Answer::Error {
            status: 400,
            code: "ProvisionedThroughputExceededException".into(),
            message: "The level of configured provisioned throughput for the table was exceeded."
                .into(),
        },
    );
    let summary = h.cycle(WITH_RETRY).await.unwrap();
    assert_eq!(h.aws.proxy.armed(), 0);
    assert_eq!(summary.launched, 2, "launched once: {summary:?}");
    assert!(summary.messages_processed >= 1, "{summary:?}");
    let next = h.cycle(BRIEF).await.unwrap();
    assert_eq!((next.launched, next.terminated), (0, 0), "{next:?}");
    assert_converged(&h, id, 2, "after a throttled persist").await;
}

/// A throttled lease acquisition fails the cycle before it did anything; the next converges.
#[tokio::test]
async fn a_throttled_lease_fails_the_cycle_without_loss() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 2).await;
    h.aws.proxy.fail(
        "dynamodb",
        "UpdateItem",
        3,
        "ProvisionedThroughputExceededException",
    );
    let failed = h.cycle(SHORT).await;
    match failed {
        Err(CycleError::Port(e)) => assert_eq!(e.kind, PortErrorKind::Retryable, "{e:?}"),
        other => panic!("a retryable AWS error: {other:?}"),
    }
    assert!(live(&h, id).await.is_empty());
    let clean = h.cycle(SHORT).await.unwrap();
    assert_eq!(clean.launched, 2, "{clean:?}");
    assert_converged(&h, id, 2, "after the throttled lease").await;
}

// ---------------------------------------------------------------------------------------------
// SSM
// ---------------------------------------------------------------------------------------------

/// `GITHUB_TOKEN_SSM_PARAMETER` while SSM throttles: two throttled reads are absorbed by the
/// SDK's retries (production's standard retry mode); three fail start-up with an error that
/// names the variable and the parameter and never holds the secret.
#[tokio::test]
async fn ssm_throttling_at_start_is_retried_then_reported_without_the_secret() {
    let proxy = AwsProxy::start(&support::moto::endpoint()).await;
    let sdk = proxied_sdk_config(REGION, &proxy).await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let secret = "ghp_ssmThrottledSecret0123456789";
    ssm.put_parameter()
        .name("/ghaec2/token")
        .value(secret)
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let env: HashMap<&str, &str> = HashMap::from([
        ("GITHUB_CONFIG_URL", "https://github.com/my-org"),
        ("GITHUB_TOKEN_SSM_PARAMETER", "/ghaec2/token"),
        ("RUNNER_SCALE_SET_NAME", "linux"),
        ("EC2_SUBNET_ID", "subnet-0123abcd"),
        ("EC2_SECURITY_GROUP_ID", "sg-0123abcd"),
        ("EC2_AMI_ID", "ami-0123abcd"),
    ]);
    let config = Config::from_lookup(|name| env.get(name).map(|v| (*v).to_owned())).unwrap();

    proxy.fail("ssm", "GetParameter", 2, "ThrottlingException");
    let resolved = config.github.credential.resolve(&ssm).await.unwrap();
    match resolved {
        Credential::Token(token) => assert_eq!(token.expose_secret(), secret),
        other => panic!("a token: {other:?}"),
    }
    assert_eq!(proxy.calls_to("GetParameter").len(), 3);

    proxy.fail("ssm", "GetParameter", 3, "ThrottlingException");
    let error = config.github.credential.resolve(&ssm).await.unwrap_err();
    assert!(matches!(error, SecretError::Ssm { .. }), "{error:?}");
    let text = format!("{error}\n{error:?}");
    assert!(
        text.contains("GITHUB_TOKEN_SSM_PARAMETER") && text.contains("/ghaec2/token"),
        "{text}"
    );
    assert!(text.contains("ThrottlingException"), "{text}");
    assert!(!text.contains(secret), "{text}");
}

/// EC2 refuses, for good, to terminate instances (`UnauthorizedOperation`, as when someone
/// removed the tag the IAM policy needs): their runners are removed, the instances are left and
/// reported, and the scale set goes on serving jobs. Once EC2 lets go, they are cleaned up.
#[tokio::test]
async fn instances_ec2_will_not_terminate_do_not_block_the_scale_set() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let ids = h.enqueue(2);
    let first = h.cycle(SHORT).await.unwrap();
    let id = id_of(&first);
    assert_eq!(first.launched, 2, "{first:?}");
    for job in ids {
        h.fake.cancel_job(job).unwrap();
    }
    h.aws
        .proxy
        .fail("ec2", "TerminateInstances", 1_000, "UnauthorizedOperation");
    let refused = h.cycle(SHORT).await.unwrap();
    assert_eq!((refused.desired, refused.terminated), (0, 0), "{refused:?}");
    assert_eq!(
        live(&h, id).await.len(),
        2,
        "the refused instances are still there"
    );
    // A new job gets a runner of its own; the refused instances are met again as unknown.
    h.enqueue(1);
    let serving = h.cycle(SHORT).await.unwrap();
    assert_eq!(
        (serving.launched, serving.terminated),
        (1, 0),
        "{serving:?}"
    );
    h.aws.proxy.clear();
    let cleaned = h.cycle(SHORT).await.unwrap();
    assert_eq!(cleaned.terminated, 2, "{cleaned:?}");
    assert_converged(&h, id, 1, "after EC2 let go").await;
}
