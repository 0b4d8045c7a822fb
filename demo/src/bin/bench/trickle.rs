//! Steady trickle: jobs arriving one by one at seeded random (Poisson) intervals.
//!
//! * **listening**: ghaec2 continuous, as a workstation or an always-on deployment runs it;
//!   then a few of the jobs finish, to time scale-down.
//! * **gaps**: `--once` started on a simulated schedule (the template's period and window),
//!   as EventBridge starts the Lambda, each on time whether or not the previous one still
//!   runs; jobs keep arriving across the hand-overs (and the gaps, with a window shorter than
//!   the period).
//!
//! Both in GHES mode, so that queued → acquired is ghaec2's own `acquirejobs` call (on
//! github.com the service assigns the job itself before ghaec2 hears of it), and with the
//! fake holding an empty poll for 50 s, as the real service does.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use ghaec2::aws::InstanceArns;
use ghaec2_demo::stand_ins::Result;
use ghaec2_demo::{LogLine, StandIns, StandInsOptions};
use ghaec2_fake::{Fake, FakeOptions, Job, JobSpec, Mode};
use tokio::time::Instant;

use crate::calls;
use crate::pairing::{self, LAUNCHED, POLLING, Pair, RECONCILED, STOPPED, TERMINATED};
use crate::recoveries::Recoveries;
use crate::report::{Configured, Gaps, Latency, Setup, Trickle};
use crate::rng;
use crate::run::{self, Ctx, Exited, Running};

/// Listening: about 40 jobs over a minute.
const LISTENING_SEED: u64 = 0x6861_6563_3201;
const LISTENING_MEAN: Duration = Duration::from_millis(1500);
const LISTENING_SPAN: Duration = Duration::from_secs(60);
/// Jobs finished after the trickle, to time scale-down.
const SCALE_DOWN_JOBS: usize = 5;

/// Gaps: jobs over the first two periods (gaps included), a third invocation picks up the
/// last gap's.
const GAPS_SEED: u64 = 0x6861_6563_3202;
const GAPS_MEAN: Duration = Duration::from_secs(4);
const GAPS_INVOCATIONS: u32 = 3;

/// When an invocation polled first and when it stopped listening, as its log says.
type Listening = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// How long the launches may trail the last arrival before the bench gives up waiting.
const SETTLE: Duration = Duration::from_secs(60);

fn options(region: &str) -> StandInsOptions {
    StandInsOptions {
        fake: FakeOptions::default().with_mode(Mode::Ghes),
        region: region.to_owned(),
    }
}

/// What the report says of the set-up.
fn setup(options: &StandInsOptions, window: Option<Duration>) -> Setup {
    Setup {
        poll_hold: options.fake.poll_hold,
        window,
        max_runners: run::MAX_RUNNERS,
    }
}

/// ghaec2's recoveries in `lines`, and the fake's error answers.
pub fn recoveries<'a>(lines: impl IntoIterator<Item = &'a LogLine>, fake: &Fake) -> Recoveries {
    let answers = calls::totals(&calls::by_endpoint(&fake.calls(), DateTime::<Utc>::MIN_UTC));
    Recoveries {
        actions_errors: answers.throttled + answers.server_errors,
        ..Recoveries::from_lines(lines)
    }
}

/// Enqueues one job per offset from `start`.
async fn enqueue_at(
    fake: Fake,
    labels: String,
    start: Instant,
    offsets: Vec<Duration>,
) -> Result<()> {
    for offset in offsets {
        tokio::time::sleep_until(start + offset).await;
        fake.enqueue_job(JobSpec::with_labels([labels.as_str()]))
            .map_err(|e| format!("enqueue: {e:?}"))?;
    }
    Ok(())
}

/// The latency figures of one trickle, from the fake's jobs and ghaec2's lines.
fn measure(
    jobs: &[Job],
    lines: &[LogLine],
    setup: Setup,
    mean: Duration,
    span: Duration,
) -> Trickle {
    let queued: Vec<DateTime<Utc>> = jobs.iter().map(|j| j.queue_time).collect();
    let paired = |msg| pairing::latency(pairing::pair_fifo(&queued, &pairing::events(lines, msg)));
    Trickle {
        setup,
        jobs: jobs.len(),
        mean_interval: mean,
        span,
        to_acquired: pairing::latency(jobs.iter().map(|j| (j.queue_time, j.scale_set_assign_time))),
        to_launched: paired(LAUNCHED),
        to_ready: paired(RECONCILED),
        scale_down: Latency::default(),
        recoveries: Recoveries::default(),
    }
}

pub async fn listening(ctx: &Ctx) -> Result<Trickle> {
    let options = options("us-east-2");
    let setup = setup(&options, None);
    let stand_ins = StandIns::start(options).await?;
    let name = "bench-listening";
    let env = run::env(name, &[]);
    let mut ghaec2 = Running::start(ctx, &stand_ins, &[], &env, &ctx.log("listening")).await?;
    let polling = |lines: &[LogLine]| lines.iter().any(|l| l.msg() == Some(RECONCILED));
    if !ghaec2.until(Duration::from_secs(60), polling).await {
        return Err("ghaec2 did not start polling within 60 s".into());
    }
    let offsets = rng::arrivals(LISTENING_SEED, LISTENING_MEAN, LISTENING_SPAN);
    let count = offsets.len();
    let start = Instant::now();
    enqueue_at(stand_ins.fake.fake(), name.to_owned(), start, offsets).await?;
    let all = u32::try_from(count)?;
    ghaec2
        .until(SETTLE, |lines| {
            pairing::total(&pairing::events(lines, RECONCILED)) >= all
        })
        .await;
    let jobs = stand_ins.fake.fake().state().jobs;
    let mut trickle = measure(&jobs, &ghaec2.lines, setup, LISTENING_MEAN, LISTENING_SPAN);
    let instances: Vec<String> = pairing::events(&ghaec2.lines, LAUNCHED)
        .into_iter()
        .flat_map(|e| e.instance_ids)
        .collect();
    let downs = scale_down(&stand_ins, &mut ghaec2, &instances).await?;
    trickle.scale_down = pairing::latency(downs);
    let exited = ghaec2.stop().await?;
    check_exit(&exited, "listening")?;
    trickle.recoveries = recoveries(&exited.lines, &stand_ins.fake.fake());
    stand_ins.fake.shutdown().await;
    Ok(trickle)
}

/// Plays the runner of a few instances: reads the instance's JIT config as its user-data
/// would, connects it (the fake starts a job on it), completes the job, and times job
/// finished → instance terminated by ghaec2.
async fn scale_down(
    stand_ins: &StandIns,
    ghaec2: &mut Running,
    instances: &[String],
) -> Result<Vec<Pair>> {
    let fake = stand_ins.fake.fake();
    let mut out = Vec::new();
    for instance_id in instances.iter().take(SCALE_DOWN_JOBS) {
        let config = jit_config(
            &stand_ins.dynamodb,
            &stand_ins.table,
            &stand_ins.arns,
            instance_id,
        )
        .await?;
        let runner = fake
            .connect_runner(&config)
            .map_err(|e| format!("connect runner: {e:?}"))?;
        let job = runner
            .runner
            .job
            .ok_or("the connected runner took no job")?;
        // Let ghaec2 hear JobStarted first, as it would with a real job that runs a while.
        let busy = |lines: &[LogLine]| {
            lines.iter().any(|l| {
                l.msg() == Some("Runner state changed.")
                    && l.json.get("runner").and_then(|v| v.as_str()) == Some(&runner.runner.name)
            })
        };
        ghaec2.until(Duration::from_secs(30), busy).await;
        let finished = fake
            .succeed_job(job)
            .map_err(|e| format!("complete job: {e:?}"))?
            .finish_time
            .unwrap_or_else(Utc::now);
        let terminated = |lines: &[LogLine]| {
            pairing::events(lines, TERMINATED)
                .iter()
                .any(|e| e.instance_ids.contains(instance_id))
        };
        if !ghaec2.until(Duration::from_secs(60), terminated).await {
            return Err(
                format!("{instance_id} was not terminated within 60 s of its job's end").into(),
            );
        }
        let at = pairing::events(&ghaec2.lines, TERMINATED)
            .into_iter()
            .find(|e| e.instance_ids.contains(instance_id))
            .map(|e| e.at);
        out.push((finished, at));
    }
    Ok(out)
}

/// The instance's JIT config from the state table `table` (the item the user-data script
/// reads), `arns` naming the account.
pub async fn jit_config(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    arns: &InstanceArns,
    instance_id: &str,
) -> Result<String> {
    let item = dynamodb
        .get_item()
        .table_name(table)
        .set_key(Some(ghaec2::aws::schema::jit_key(arns.jit_pk(instance_id))))
        .consistent_read(true)
        .send()
        .await?;
    match item
        .item()
        .and_then(|i| i.get(ghaec2::aws::schema::jit::CONFIG))
    {
        Some(AttributeValue::S(config)) => Ok(config.clone()),
        _ => Err(format!("no JIT config for {instance_id}").into()),
    }
}

pub async fn gaps(ctx: &Ctx, configured: &Configured) -> Result<Gaps> {
    let window = configured.window;
    let options = options("us-west-1");
    let setup = setup(&options, Some(window));
    let stand_ins = StandIns::start(options).await?;
    let name = "bench-gaps";
    let period = configured.schedule;
    let once_env = |seconds: u64| run::env(name, &[("DRAIN_WINDOW_SECONDS", seconds.to_string())]);
    // A deployed function has run before: the scale set and the session exist.
    let warm = Running::start(
        ctx,
        &stand_ins,
        &["--once"],
        &once_env(1),
        &ctx.log("gaps-warm-up"),
    )
    .await?
    .exit()
    .await?;
    check_exit(&warm, "gaps warm-up")?;
    let span = period * (GAPS_INVOCATIONS - 1);
    let offsets = rng::arrivals(GAPS_SEED, GAPS_MEAN, span);
    let start = Instant::now();
    let enqueuer = tokio::spawn(enqueue_at(
        stand_ins.fake.fake(),
        name.to_owned(),
        start,
        offsets,
    ));
    // Each started on schedule whether or not the previous one still runs, as EventBridge
    // starts the Lambda: with the window as long as the period, the next one waits for the
    // lease and takes over.
    let runs = (0..GAPS_INVOCATIONS).map(|i| {
        let env = once_env(window.as_secs());
        let log = ctx.log(&format!("gaps-{}", i + 1));
        let stand_ins = &stand_ins;
        async move {
            tokio::time::sleep_until(start + period * i).await;
            let exited = Running::start(ctx, stand_ins, &["--once"], &env, &log)
                .await?
                .exit()
                .await?;
            check_exit(&exited, "gaps invocation")?;
            Result::Ok(exited)
        }
    });
    let invocations: Vec<Exited> = futures::future::try_join_all(runs).await?;
    enqueuer.await??;
    let jobs = stand_ins.fake.fake().state().jobs;
    let lines: Vec<LogLine> = invocations
        .iter()
        .flat_map(|e| e.lines.iter().cloned())
        .collect();
    let mut trickle = measure(&jobs, &lines, setup, GAPS_MEAN, span);
    trickle.recoveries = recoveries(&lines, &stand_ins.fake.fake());
    // Listening: from an invocation's first poll until it stops listening; any other time is
    // a gap. The hand-over is from one's stop to the next one's first poll.
    let listening: Vec<Listening> = invocations
        .iter()
        .map(|e| {
            let at = |msg: &str| {
                e.lines
                    .iter()
                    .find(|l| l.msg() == Some(msg))
                    .map(pairing::log_time)
            };
            (at(POLLING), at(STOPPED))
        })
        .collect();
    let gap_lengths = pairing::latency(
        listening
            .windows(2)
            .filter_map(|pair| Some((pair[0].1?, pair[1].0))),
    );
    let queued: Vec<DateTime<Utc>> = jobs.iter().map(|j| j.queue_time).collect();
    let pairs = pairing::pair_fifo(&queued, &pairing::events(&lines, LAUNCHED));
    let in_window = |q: &DateTime<Utc>| {
        listening
            .iter()
            .any(|(from, to)| from.is_some_and(|from| *q >= from) && to.is_some_and(|to| *q < to))
    };
    let (listened, in_gap): (Vec<Pair>, Vec<Pair>) =
        pairs.into_iter().partition(|(q, _)| in_window(q));
    stand_ins.fake.shutdown().await;
    Ok(Gaps {
        trickle,
        period,
        invocations: invocations.iter().map(Exited::wall).collect(),
        gap_lengths,
        in_window_to_launched: pairing::latency(listened),
        in_gap_to_launched: pairing::latency(in_gap),
        peak_rss_kb: invocations
            .iter()
            .filter_map(|e| e.time)
            .map(|t| t.max_rss_kb)
            .max(),
        cpu: invocations
            .iter()
            .filter_map(|e| e.time)
            .map(|t| t.cpu())
            .collect(),
    })
}

/// A run that failed is not a measurement.
pub fn check_exit(exited: &Exited, what: &str) -> Result<()> {
    if exited.status.success() {
        Ok(())
    } else {
        Err(format!("ghaec2 ({what}) exited with {}", exited.status).into())
    }
}
