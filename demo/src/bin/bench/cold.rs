//! Cold start: a fresh ghaec2 process each time, timed from just before the spawn to
//!
//! * its first log line (the process is up: runtime, logging, configuration),
//! * its "Starting Actions Service message polling" line (tokens, scale set, lease, session),
//! * its first long poll arriving at the fake (listening: the definition of ready),
//! * its exit, for an empty `--once` with a 1 s window (minus the window: the fixed cost of
//!   an invocation).
//!
//! The fake answers an empty poll after 200 ms here, so that the polls of a 1 s window are
//! answered (and recorded) within it.

use std::time::Duration;

use ghaec2_demo::stand_ins::Result;
use ghaec2_demo::stats::Distribution;
use ghaec2_demo::{StandIns, StandInsOptions};
use ghaec2_fake::{FakeOptions, Mode};

use crate::pairing::{self, POLLING};
use crate::report::Cold;
use crate::run::{self, Ctx, Running};
use crate::trickle::check_exit;

const RUNS: usize = 10;
const WINDOW: Duration = Duration::from_secs(1);

pub async fn run(ctx: &Ctx) -> Result<Cold> {
    let stand_ins = StandIns::start(StandInsOptions {
        fake: FakeOptions::default()
            .with_mode(Mode::Ghes)
            .with_poll_hold(Duration::from_millis(200)),
        region: "eu-west-1".to_owned(),
    })
    .await?;
    let fake = stand_ins.fake.fake();
    let env = run::env(
        "bench-cold",
        &[("DRAIN_WINDOW_SECONDS", WINDOW.as_secs().to_string())],
    );
    let (mut first_log, mut polling, mut first_poll, mut exit) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut rss, mut cpu) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        fake.reset_calls();
        let log = ctx.log(&format!("cold-{}", i + 1));
        let exited = Running::start(ctx, &stand_ins, &["--once"], &env, &log)
            .await?
            .exit()
            .await?;
        check_exit(&exited, "cold start")?;
        let logged = |line: &ghaec2_demo::LogLine| line.json.get("msg").is_some();
        let first = exited
            .lines
            .iter()
            .find(|l| logged(l))
            .ok_or("no log line")?;
        first_log.push(run::since(exited.spawned_at, pairing::log_time(first)));
        let start = exited
            .lines
            .iter()
            .find(|l| l.msg() == Some(POLLING))
            .ok_or("no polling line")?;
        polling.push(run::since(exited.spawned_at, pairing::log_time(start)));
        let poll = fake
            .calls_to(ghaec2_fake::endpoints::MESSAGES_GET)
            .into_iter()
            .map(|c| c.time)
            .min()
            .ok_or("no poll reached the fake")?;
        first_poll.push(run::since(exited.spawned_at, poll));
        exit.push(exited.wall());
        if let Some(time) = exited.time {
            rss.push(time.max_rss_kb);
            cpu.push(time.cpu());
        }
    }
    stand_ins.fake.shutdown().await;
    let none = || "no samples".to_owned();
    Ok(Cold {
        runs: RUNS,
        window: WINDOW,
        to_first_log: Distribution::of(&first_log).ok_or_else(none)?,
        to_polling: Distribution::of(&polling).ok_or_else(none)?,
        to_first_poll: Distribution::of(&first_poll).ok_or_else(none)?,
        once_exit: Distribution::of(&exit).ok_or_else(none)?,
        binary_bytes: std::fs::metadata(&ctx.ghaec2)?.len(),
        peak_rss_kb: rss.iter().copied().max(),
        cpu: Distribution::of(&cpu),
    })
}
