//! Bursts: N jobs queued at once while ghaec2 listens (continuous, GHES mode). Measured: time
//! from the first enqueue until every job has an instance, the Actions Service calls that
//! took, and, with throttling injected, the throttled answers ghaec2 rode out and whether every
//! job still got exactly one instance. Actions Service throttling comes from the fake's
//! faults; AWS throttling from the fault-injecting proxy in front of moto
//! (`testkit/src/aws_proxy.rs`), in an account of its own.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types::Filter;
use chrono::Utc;
use ghaec2_demo::stand_ins::Result;
use ghaec2_demo::{LogLine, StandIns, StandInsOptions};
use ghaec2_fake::{FakeOptions, Fault, JobSpec, Mode};
use ghaec2_testkit::aws_proxy::{AwsProxy, ProxyCall};
use ghaec2_testkit::moto;

use crate::calls;
use crate::cgroup::CpuLimit;
use crate::moto_time::{self, Timed};
use crate::pairing::{self, LAUNCHED, RECONCILED};
use crate::report::{Burst, Setup, Side, Throttling};
use crate::run::{self, Ctx, Running};
use crate::trickle::{self, check_exit};

/// Bursts larger than this report the time to each multiple of it.
const MILESTONE: u32 = 100;

/// Retry-After of the injected 429s, in seconds.
const RETRY_AFTER_SECS: u64 = 1;

/// An AWS error the proxy answers instead of moto: service, action, times, code.
pub type AwsFault = (&'static str, &'static str, u32, &'static str);

/// One burst to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub label: &'static str,
    pub jobs: u32,
    pub region: &'static str,
    /// Fake faults armed just before the burst.
    pub actions_faults: Vec<Fault>,
    /// Proxy faults armed just before the burst; non-empty puts ghaec2 behind the proxy.
    pub aws_faults: Vec<AwsFault>,
    pub timeout: Duration,
}

/// The bursts of the report: 100 and 500 clean, then 100 with each side throttling.
pub fn plans() -> Vec<Plan> {
    vec![
        plan("100 jobs", 100, "us-west-2", 180),
        plan("500 jobs", 500, "eu-central-1", 240),
        Plan {
            actions_faults: actions_throttling(),
            ..plan(
                "100 jobs, Actions Service throttling (429 + Retry-After)",
                100,
                "ap-southeast-1",
                180,
            )
        },
        Plan {
            aws_faults: aws_throttling(),
            ..plan(
                "100 jobs, AWS throttling (RequestLimitExceeded, ProvisionedThroughputExceeded)",
                100,
                "ap-northeast-1",
                180,
            )
        },
    ]
}

/// A clean burst.
pub fn plan(label: &'static str, jobs: u32, region: &'static str, timeout_secs: u64) -> Plan {
    Plan {
        label,
        jobs,
        region,
        actions_faults: Vec::new(),
        aws_faults: Vec::new(),
        timeout: Duration::from_secs(timeout_secs),
    }
}

/// 429 with Retry-After on the calls a burst leans on: the runner JIT configs (one per job),
/// the acquire, and the poll.
fn actions_throttling() -> Vec<Fault> {
    vec![
        Fault::too_many_requests("generatejitconfig", 20, RETRY_AFTER_SECS),
        Fault::too_many_requests("acquirejobs", 2, RETRY_AFTER_SECS),
        Fault::too_many_requests("messages.get", 1, RETRY_AFTER_SECS),
    ]
}

/// AWS throttling on the calls a burst leans on: more RequestLimitExceeded on CreateFleet
/// than the SDK's 3 attempts absorb (one launch fails and is retried by ghaec2), some on
/// DescribeInstances, and ProvisionedThroughputExceeded on the ledger and JIT writes (some
/// runner set-ups fail and are undone).
fn aws_throttling() -> Vec<AwsFault> {
    vec![
        ("ec2", "CreateFleet", 4, "RequestLimitExceeded"),
        ("ec2", "DescribeInstances", 2, "RequestLimitExceeded"),
        (
            "dynamodb",
            "TransactWriteItems",
            6,
            "ProvisionedThroughputExceededException",
        ),
        (
            "dynamodb",
            "PutItem",
            3,
            "ProvisionedThroughputExceededException",
        ),
    ]
}

/// Where ghaec2's AWS calls go for one scenario.
pub struct AwsSide {
    /// The bench's SDK configuration for the proxy's account.
    pub sdk: SdkConfig,
    /// EC2 as ghaec2 sees it, to count the instances at the end.
    ec2: aws_sdk_ec2::Client,
    /// Settings that override the stand-ins'.
    pub env: Vec<(&'static str, String)>,
    pub proxy: AwsProxy,
}

/// Every burst goes through the proxy in front of moto, in an account of its own (so the
/// table, network and AMI are made again through it). Two reasons: AWS faults can be injected,
/// and the proxy forwards DynamoDB calls one at a time. Without that, moto's threaded server
/// races when a burst's concurrent runner set-ups write the table (TransactWriteItems
/// deep-copies the table while another request changes it) and answers HTTP 500, which real
/// DynamoDB never does: the bench would measure moto's bug, not ghaec2.
pub async fn aws_side(region: &str) -> Result<AwsSide> {
    let proxy = AwsProxy::start(&moto::endpoint()).await;
    let sdk = proxied(region, &proxy).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let network = moto::network(&ec2).await;
    let first = network.subnet_ids.first().ok_or("no subnet")?;
    let subnet = large_subnet(&ec2, first).await?;
    let ami = moto::ami(&aws_sdk_ssm::Client::new(&sdk)).await;
    let table = moto::table(&aws_sdk_dynamodb::Client::new(&sdk)).await;
    Ok(AwsSide {
        sdk,
        ec2,
        env: vec![
            ("AWS_ENDPOINT_URL", proxy.url().to_owned()),
            ("EC2_SUBNET_ID", subnet),
            ("EC2_SECURITY_GROUP_ID", network.security_group_id),
            ("EC2_AMI_ID", ami),
            ("STATE_TABLE_NAME", table),
        ],
        proxy,
    })
}

/// The bench's own SDK configuration for the proxy (set-up calls are never faulted).
async fn proxied(region: &str, proxy: &AwsProxy) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(proxy.url())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// One AWS call as [`moto_time`] reads it.
pub fn timed(call: &ProxyCall) -> Timed {
    Timed {
        action: call.action.clone(),
        received: call.received_at.into(),
        upstream: call
            .upstream
            .map(|(sent, answered)| (sent.into(), answered.into())),
    }
}

/// AWS answers that were errors to retry: 5xx, or injected by the proxy.
pub fn aws_errors(calls: &[ProxyCall]) -> usize {
    calls
        .iter()
        .filter(|c| c.status >= 500 || c.injected.is_some())
        .count()
}

/// Runs `plan` with ghaec2 in the CPU-limited group `limit`, if any.
pub async fn run(ctx: &Ctx, plan: &Plan, limit: Option<&CpuLimit>) -> Result<Burst> {
    let fake_options = FakeOptions::default().with_mode(Mode::Ghes);
    let setup = Setup {
        poll_hold: fake_options.poll_hold,
        window: None,
        max_runners: run::MAX_RUNNERS,
    };
    let stand_ins = StandIns::start(StandInsOptions {
        fake: fake_options,
        region: plan.region.to_owned(),
    })
    .await?;
    let name = format!("bench-burst-{}", plan.region);
    let aws = aws_side(plan.region).await?;
    let env = run::env(&name, &aws.env);
    let log = ctx.log(&format!("burst-{}-{}", plan.jobs, plan.region));
    let mut ghaec2 = Running::start_in(ctx, &stand_ins, limit, &[], &env, &log).await?;
    let polling = |lines: &[LogLine]| lines.iter().any(|l| l.msg() == Some(RECONCILED));
    if !ghaec2.until(Duration::from_secs(60), polling).await {
        return Err("ghaec2 did not start polling within 60 s".into());
    }
    // Let the first long poll reach the fake, so the burst lands on a listening ghaec2.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fake = stand_ins.fake.fake();
    for fault in &plan.actions_faults {
        fake.add_fault(fault.clone());
    }
    for (service, action, times, code) in &plan.aws_faults {
        aws.proxy.fail(service, action, *times, code);
    }
    // The call log records a call when it is answered: after this reset it holds the poll
    // in flight (which delivers the burst's first message) and everything after.
    fake.reset_calls();
    let aws_before = aws.proxy.calls().len();
    let t0 = Utc::now();
    for _ in 0..plan.jobs {
        fake.enqueue_job(JobSpec::with_labels([name.as_str()]))
            .map_err(|e| format!("enqueue: {e:?}"))?;
    }
    let n = plan.jobs;
    let done = |lines: &[LogLine]| all_current(lines, n).is_some();
    ghaec2.until(plan.timeout, done).await;
    let all_at = all_current(&ghaec2.lines, n);
    // The acknowledgement of the last message follows its reconcile.
    tokio::time::sleep(Duration::from_secs(1)).await;
    ghaec2.collect();
    let per_endpoint = calls::by_endpoint(&fake.calls(), chrono::DateTime::<Utc>::MIN_UTC);
    let proxied = aws.proxy.calls();
    let aws_calls = proxied.len().saturating_sub(aws_before);
    let state = fake.state();
    let scale_set_id = state.scale_sets.first().map(|s| s.scale_set.id);
    let acquired = state.jobs.iter().filter(|j| j.acquired).count();
    let last_acquired = state
        .jobs
        .iter()
        .map(|j| j.scale_set_assign_time)
        .collect::<Option<Vec<_>>>()
        .and_then(|times| times.into_iter().max());
    let instances = match scale_set_id {
        Some(id) => live_instances(&aws.ec2, id).await?,
        None => 0,
    };
    let launched = pairing::total(&pairing::events(&ghaec2.lines, LAUNCHED));
    let exited = ghaec2.stop().await?;
    check_exit(&exited, plan.label)?;
    let totals = calls::totals(&per_endpoint);
    let throttling = if !plan.aws_faults.is_empty() {
        Some(Throttling {
            side: Side::Aws,
            injected: plan
                .aws_faults
                .iter()
                .map(|(service, action, times, code)| {
                    format!("{code} on {service} {action} × {times}")
                })
                .collect::<Vec<_>>()
                .join(", "),
            throttled_answers: proxied.iter().filter(|c| c.injected.is_some()).count(),
            shortest_wait: None,
        })
    } else {
        (!plan.actions_faults.is_empty()).then(|| Throttling {
            side: Side::Actions,
            injected: plan
                .actions_faults
                .iter()
                .map(|f| {
                    format!(
                        "429 with `Retry-After: {RETRY_AFTER_SECS}` on {} × {}",
                        f.endpoint, f.times
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            throttled_answers: totals.throttled,
            shortest_wait: calls::shortest_wait_after_throttle(&fake.calls())
                .map(|waited| (waited, Duration::from_secs(RETRY_AFTER_SECS))),
        })
    };
    let ghaec2_calls = &proxied[aws_before.min(proxied.len())..];
    let recoveries = crate::recoveries::Recoveries {
        aws_errors: Some(aws_errors(ghaec2_calls)),
        ..trickle::recoveries(&exited.lines, &fake)
    };
    let moto = all_at.map(|at| {
        let timed: Vec<Timed> = ghaec2_calls.iter().map(timed).collect();
        moto_time::measure(&timed, t0, at)
    });
    stand_ins.fake.shutdown().await;
    // Each timing is a pairing of the first enqueue with a later event; one logged before the
    // enqueue is broken, and counted.
    let mut out_of_order = 0;
    let mut timing = |at: Option<chrono::DateTime<Utc>>| {
        let elapsed = at.map(|at| run::elapsed(t0, at));
        out_of_order += usize::from(matches!(elapsed, Some(None)));
        elapsed.flatten()
    };
    let all_launched = timing(all_at);
    let all_acquired = timing(last_acquired);
    let milestones = (1..n / MILESTONE)
        .map(|k| k * MILESTONE)
        .filter_map(|k| Some((k, timing(all_current(&exited.lines, k))?)))
        .collect();
    Ok(Burst {
        label: plan.label.to_owned(),
        jobs: plan.jobs,
        setup,
        all_launched,
        all_acquired,
        milestones,
        out_of_order,
        calls: totals.calls,
        aws_calls,
        breakdown: calls::breakdown(&per_endpoint),
        acquired,
        instances,
        launches: launched,
        throttling,
        recoveries,
        moto,
        peak_rss_kb: exited.time.map(|t| t.max_rss_kb),
        cpu: exited.time.map(|t| t.cpu()),
    })
}

/// When a decision record first counted `n` current instances (launched, not terminated, JIT
/// config stored).
pub fn all_current(lines: &[LogLine], n: u32) -> Option<chrono::DateTime<Utc>> {
    lines
        .iter()
        .filter(|l| l.msg() == Some(RECONCILED))
        .find(|l| pairing::field_u64(l, "current").is_some_and(|c| c >= u64::from(n)))
        .map(pairing::log_time)
}

/// A /20 subnet (4,091 addresses) in the VPC of `beside`. The shared test network's two /24
/// subnets hold about 250 instances, and moto places a fleet in the first subnet of its
/// overrides; past that it fails with HTTP 500 (an empty address pool) where EC2 would say
/// InsufficientFreeAddressesInSubnet, which would measure moto rather than ghaec2.
async fn large_subnet(ec2: &aws_sdk_ec2::Client, beside: &str) -> Result<String> {
    let described = ec2.describe_subnets().subnet_ids(beside).send().await?;
    let vpc = described
        .subnets()
        .first()
        .and_then(|s| s.vpc_id())
        .ok_or("subnet without a VPC")?;
    let created = ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block("10.0.16.0/20")
        .send()
        .await?;
    Ok(created
        .subnet()
        .and_then(|s| s.subnet_id())
        .ok_or("create subnet returned no id")?
        .to_owned())
}

/// Pending or running instances of the scale set, in moto.
async fn live_instances(ec2: &aws_sdk_ec2::Client, scale_set_id: u64) -> Result<usize> {
    let mut pages = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:ghaec2:scale-set-id")
                .values(scale_set_id.to_string())
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .build(),
        )
        .into_paginator()
        .send();
    let mut count = 0;
    while let Some(page) = pages.next().await {
        count += page?
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum::<usize>();
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ghaec2_demo::stand_ins::Stream;
    use serde_json::json;

    #[test]
    fn all_current_is_the_first_record_at_n() {
        let line = |current: u64, s: u32| LogLine {
            stream: Stream::Stderr,
            at: Utc::now(),
            json: json!({"msg": RECONCILED, "current": current,
                         "time": format!("2027-01-15T08:00:0{s}Z")}),
        };
        let lines = [line(40, 1), line(100, 2), line(100, 3)];
        assert_eq!(
            all_current(&lines, 100).map(|t| t.to_rfc3339()),
            Some("2027-01-15T08:00:02+00:00".to_owned())
        );
        assert_eq!(all_current(&lines, 101), None);
    }

    #[test]
    fn every_throttled_plan_has_faults_on_one_side() {
        let plans = plans();
        assert!(plans.iter().any(|p| !p.actions_faults.is_empty()));
        assert!(plans.iter().any(|p| !p.aws_faults.is_empty()));
        assert!(
            plans
                .iter()
                .all(|p| p.actions_faults.is_empty() || p.aws_faults.is_empty())
        );
        let regions: std::collections::BTreeSet<_> = plans.iter().map(|p| p.region).collect();
        assert_eq!(regions.len(), plans.len(), "a region each");
    }

    #[test]
    fn throttling_plan_targets_real_endpoints() {
        let names = [
            ghaec2_fake::endpoints::GENERATE_JIT_CONFIG,
            ghaec2_fake::endpoints::ACQUIRE_JOBS,
            ghaec2_fake::endpoints::MESSAGES_GET,
        ];
        for fault in actions_throttling() {
            assert!(
                names.contains(&fault.endpoint.as_str()),
                "{}",
                fault.endpoint
            );
        }
    }
}
