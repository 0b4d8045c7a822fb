//! Several scale sets polled together: one continuous ghaec2 serving five scale sets
//! (`SCALE_SETS`, one fake, one moto region), a trickle of jobs at seeded random intervals,
//! each for a scale set drawn at random. Each scale set's launches ("Launched instances." with
//! its `scale_set_id`) pair with its own jobs (the fake's routing), FIFO within the scale set.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ghaec2_demo::stand_ins::Result;
use ghaec2_demo::workload::SplitMix64;
use ghaec2_demo::{LogLine, StandIns, StandInsOptions};
use ghaec2_fake::{FakeOptions, JobSpec, Mode};
use serde_json::json;
use tokio::time::Instant;

use crate::pairing::{self, LAUNCHED, POLLING};
use crate::report::{Setup, Several};
use crate::rng;
use crate::run::{self, Ctx, Running};
use crate::trickle::{self, check_exit};
use crate::usage;

const SCALE_SETS: u64 = 5;
const SEED: u64 = 0x6861_6563_3203;
const MEAN: Duration = Duration::from_millis(750);
const SPAN: Duration = Duration::from_secs(30);
const REGION: &str = "eu-north-1";
/// How long the launches may trail the last arrival before the bench gives up waiting.
const SETTLE: Duration = Duration::from_secs(30);

/// The scale set names.
fn names() -> Vec<String> {
    (1..=SCALE_SETS)
        .map(|k| format!("bench-several-{k}"))
        .collect()
}

pub async fn run(ctx: &Ctx) -> Result<Several> {
    let options = StandInsOptions {
        fake: FakeOptions::default().with_mode(Mode::Ghes),
        region: REGION.to_owned(),
    };
    let setup = Setup {
        poll_hold: options.fake.poll_hold,
        window: None,
        max_runners: run::MAX_RUNNERS,
    };
    let stand_ins = StandIns::start(options).await?;
    let names = names();
    let list: Vec<_> = names
        .iter()
        .map(|n| json!({ "RUNNER_SCALE_SET_NAME": n }))
        .collect();
    let env = run::env(
        "bench-several",
        &[("SCALE_SETS", serde_json::to_string(&list)?)],
    );
    let mut ghaec2 = Running::start(ctx, &stand_ins, &[], &env, &ctx.log("several")).await?;
    let all_polling = |lines: &[LogLine]| {
        lines.iter().filter(|l| l.msg() == Some(POLLING)).count() >= names.len()
    };
    if !ghaec2.until(Duration::from_secs(60), all_polling).await {
        return Err("ghaec2 did not poll for every scale set within 60 s".into());
    }
    // Let the first long polls reach the fake.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let offsets = rng::arrivals(SEED, MEAN, SPAN);
    let mut pick = SplitMix64::new(SEED);
    let fake = stand_ins.fake.fake();
    let start = Instant::now();
    for offset in &offsets {
        let name = &names[usize::try_from(pick.below(SCALE_SETS))?];
        tokio::time::sleep_until(start + *offset).await;
        fake.enqueue_job(JobSpec::with_labels([name.as_str()]))
            .map_err(|e| format!("enqueue: {e:?}"))?;
    }
    let all = u32::try_from(offsets.len())?;
    ghaec2
        .until(SETTLE, |lines| {
            pairing::total(&pairing::events(lines, LAUNCHED)) >= all
        })
        .await;
    let state = fake.state();
    let exited = ghaec2.stop().await?;
    check_exit(&exited, "several scale sets")?;
    let jobs: Vec<(Option<u64>, DateTime<Utc>)> = state
        .jobs
        .iter()
        .map(|j| (j.scale_set_id, j.queue_time))
        .collect();
    let pairs = pairing::pair_per_scale_set(&jobs, &pairing::events(&exited.lines, LAUNCHED));
    let name_of = |id: Option<u64>| {
        state
            .scale_sets
            .iter()
            .find(|s| Some(s.scale_set.id) == id)
            .map(|s| s.scale_set.name.clone())
    };
    let overall = pairing::latency(pairs.values().flatten().copied());
    let per_scale_set = pairs
        .into_iter()
        .map(|(id, pairs)| (name_of(id), pairing::latency(pairs)))
        .collect();
    let recoveries = trickle::recoveries(&exited.lines, &fake);
    stand_ins.fake.shutdown().await;
    Ok(Several {
        setup,
        jobs: offsets.len(),
        mean_interval: MEAN,
        span: SPAN,
        per_scale_set,
        overall,
        cpu: exited.time.map(|t| t.cpu()),
        peak_rss_kb: exited.time.map(|t| t.max_rss_kb),
        metrics: usage::metric_sets(&exited.lines),
        recoveries,
    })
}
