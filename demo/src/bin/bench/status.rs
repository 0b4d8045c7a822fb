//! `ghaec2 --status` timed as an operator runs it. The stand-ins hold one scale set with
//! [`RUNNERS`] runners in the ledger ([`BUSY`] of them on a job, the others booting), an orphan
//! instance (launched for the scale set, never in the ledger) and a lease another invocation
//! holds. ghaec2 makes the runners itself (a continuous run, a burst, some runners played up to
//! their job), then stops; nothing else calls AWS while `ghaec2 --status` and `--status --json`
//! each run [`RUNS`] times, one after the other, timed from just before the spawn to the exit.
//! The proxy counts their AWS calls, the fake their Actions Service calls (there should be
//! none). The text runs are then repeated at the CPU share of a small Lambda
//! ([`crate::cgroup`]), though operators run it on their laptop.

use std::path::Path;
use std::time::Duration;

use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use chrono::Utc;
use ghaec2::aws::{DynamoStateStore, InstanceArns, TAG_RUNNER_NAME, scale_set_tags};
use ghaec2::ports::{LeaseOutcome, StateStore};
use ghaec2_demo::stand_ins::Result;
use ghaec2_demo::status::{self, Shown};
use ghaec2_demo::{LogLine, StandIns, StandInsOptions};
use ghaec2_fake::{FakeOptions, JobSpec, Mode};

use crate::burst::{self, AwsSide, aws_side};
use crate::cgroup::{self, CpuLimit};
use crate::pairing::RECONCILED;
use crate::report::{StatusAtShare, StatusRuns, StatusTimes};
use crate::run::{self, Ctx, Running};
use crate::trickle::{check_exit, jit_config};

const SCALE_SET: &str = "bench-status";
/// Runners in the ledger, and how many of them run a job.
const RUNNERS: u32 = 20;
const BUSY: usize = 8;
/// Runs of each command.
const RUNS: usize = 20;
const REGION: &str = "ap-southeast-2";
/// The invocation that holds the lease while the status runs.
const HOLDER: &str = "bench-other-invocation";
/// The Lambda memory size whose CPU share the text runs are repeated at: the smallest.
const SHARE_MB: u32 = 128;
/// How long the fake holds an empty poll: short, so that ghaec2 stops soon after SIGTERM.
const POLL_HOLD: Duration = Duration::from_secs(2);
/// How long the set-up may take at each step.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn run(ctx: &Ctx) -> Result<StatusRuns> {
    let stand_ins = StandIns::start(StandInsOptions {
        fake: FakeOptions::default()
            .with_mode(Mode::Ghes)
            .with_poll_hold(POLL_HOLD),
        region: REGION.to_owned(),
    })
    .await?;
    let aws = aws_side(REGION).await?;
    let env = run::env(SCALE_SET, &aws.env);
    set_up(ctx, &stand_ins, &aws, &env).await?;
    let expected = Shown {
        scale_sets: 1,
        errors: 0,
        runners: RUNNERS as usize,
        busy: BUSY,
        orphans: 1,
        listening: 1,
    };
    let measure = Measure {
        ghaec2: &ctx.ghaec2,
        stand_ins: &stand_ins,
        aws: &aws,
        env: &env,
        expected,
    };
    let text = measure.times(&["--status"], None).await?;
    let json = measure.times(&["--status", "--json"], None).await?;
    let at_share = match CpuLimit::create(SHARE_MB) {
        Ok(limit) => {
            let before = limit.stat();
            let times = measure.times(&["--status"], Some(&limit)).await?;
            Ok(StatusAtShare {
                memory_mb: SHARE_MB,
                quota_us: limit.quota_us,
                times,
                throttled: limit.stat().since(&before),
            })
        }
        Err(why) => Err(why),
    };
    stand_ins.fake.shutdown().await;
    Ok(StatusRuns {
        runners: expected.runners,
        busy: expected.busy,
        orphans: expected.orphans,
        text,
        json,
        at_share,
    })
}

/// ghaec2 launches [`RUNNERS`] instances for a burst; [`BUSY`] of their runners take a job,
/// and ghaec2 records them busy; it stops. Then an orphan instance, and the lease taken by
/// [`HOLDER`].
async fn set_up(
    ctx: &Ctx,
    stand_ins: &StandIns,
    aws: &AwsSide,
    env: &[(String, String)],
) -> Result<()> {
    let mut ghaec2 = Running::start(ctx, stand_ins, &[], env, &ctx.log("status")).await?;
    let polling = |lines: &[LogLine]| lines.iter().any(|l| l.msg() == Some(RECONCILED));
    if !ghaec2.until(STEP_TIMEOUT, polling).await {
        return Err("ghaec2 did not start polling".into());
    }
    let fake = stand_ins.fake.fake();
    for _ in 0..RUNNERS {
        fake.enqueue_job(JobSpec::with_labels([SCALE_SET]))
            .map_err(|e| format!("enqueue: {e:?}"))?;
    }
    let launched = |lines: &[LogLine]| burst::all_current(lines, RUNNERS).is_some();
    if !ghaec2.until(STEP_TIMEOUT, launched).await {
        return Err(format!("ghaec2 did not launch {RUNNERS} runners").into());
    }
    let table = setting(&aws.env, "STATE_TABLE_NAME")?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws.sdk);
    let arns = InstanceArns::new(REGION, aws.proxy.account_id());
    for instance_id in aws.proxy.launched().iter().take(BUSY) {
        let config = jit_config(&dynamodb, table, &arns, instance_id).await?;
        fake.connect_runner(&config)
            .map_err(|e| format!("connect runner: {e:?}"))?;
    }
    if !ghaec2
        .until(STEP_TIMEOUT, |lines| busy(lines) >= BUSY)
        .await
    {
        return Err(format!("ghaec2 did not record {BUSY} runners busy").into());
    }
    check_exit(&ghaec2.stop().await?, "status set-up")?;

    let scale_set_id = fake
        .scale_set_id(SCALE_SET)
        .ok_or("the fake has no scale set bench-status")?;
    let mut tags = scale_set_tags(i64::try_from(scale_set_id)?, SCALE_SET);
    tags.push(
        Tag::builder()
            .key(TAG_RUNNER_NAME)
            .value("bench-status-orphan")
            .build(),
    );
    aws_sdk_ec2::Client::new(&aws.sdk)
        .run_instances()
        .image_id(setting(&aws.env, "EC2_AMI_ID")?)
        .subnet_id(setting(&aws.env, "EC2_SUBNET_ID")?)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(tags))
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("launching the orphan: {e:?}"))?;
    let now = Utc::now();
    let held = DynamoStateStore::new(dynamodb, table)
        .acquire(SCALE_SET, HOLDER, now + chrono::Duration::hours(1), now)
        .await?;
    match held {
        LeaseOutcome::Acquired(..) => Ok(()),
        other => Err(format!("taking the lease for {HOLDER}: {other:?}").into()),
    }
}

/// Runners ghaec2 recorded busy.
fn busy(lines: &[LogLine]) -> usize {
    lines
        .iter()
        .filter(|l| {
            l.msg() == Some("Runner state changed.")
                && l.json.get("state").and_then(|v| v.as_str()) == Some("Busy")
        })
        .count()
}

/// A setting of the proxied account.
fn setting<'a>(env: &'a [(&str, String)], name: &str) -> Result<&'a str> {
    env.iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| format!("the proxied account has no {name}").into())
}

/// Runs of `ghaec2 --status` against the set-up.
struct Measure<'a> {
    ghaec2: &'a Path,
    stand_ins: &'a StandIns,
    aws: &'a AwsSide,
    env: &'a [(String, String)],
    expected: Shown,
}

impl Measure<'_> {
    /// [`RUNS`] runs of `ghaec2 args…`, one after the other, in the CPU-limited group
    /// `limit` if given; with `--json`, each document is checked against the set-up.
    async fn times(&self, args: &[&str], limit: Option<&CpuLimit>) -> Result<StatusTimes> {
        let json = args.contains(&"--json");
        let mut argv = limit
            .map(|l| cgroup::wrapper(&l.procs()))
            .unwrap_or_default();
        argv.push(self.ghaec2.to_string_lossy().into_owned());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let (program, rest) = argv.split_first().ok_or("an empty command")?;
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        let fake = self.stand_ins.fake.fake();
        let (mut walls, mut failures, mut per_run) = (Vec::new(), Vec::new(), Vec::new());
        let mut by_action = std::collections::BTreeMap::<String, usize>::new();
        let (mut actions_calls, mut showed) = (0, 0);
        for _ in 0..RUNS {
            let (aws_before, fake_before) = (self.aws.proxy.calls().len(), fake.calls().len());
            let command = self.stand_ins.command(Path::new(program), &rest, self.env);
            let ran = status::run(command).await?;
            let calls = self.aws.proxy.calls();
            let own = calls.get(aws_before..).unwrap_or_default();
            per_run.push(own.len());
            for call in own {
                *by_action.entry(call.action.clone()).or_default() += 1;
            }
            actions_calls += fake.calls().len().saturating_sub(fake_before);
            match ran.failure() {
                Some(why) => failures.push(why),
                None => {
                    walls.push(ran.took);
                    showed += usize::from(json && status::shown(&ran.stdout) == Ok(self.expected));
                }
            }
        }
        Ok(StatusTimes {
            command: format!("ghaec2 {}", args.join(" ")),
            runs: RUNS,
            wall: ghaec2_demo::stats::Distribution::of(&walls),
            failed: failures.len(),
            first_failure: failures.into_iter().next(),
            aws_calls: (
                per_run.iter().copied().min().unwrap_or(0),
                per_run.iter().copied().max().unwrap_or(0),
            ),
            by_action: by_action.into_iter().collect(),
            actions_calls,
            showed_setup: json.then_some(showed),
        })
    }
}
