//! ghaec2 at Lambda's CPU share for 128 and 256 MB: memory/1769 of one CPU, enforced with a
//! cgroup quota around the ghaec2 process only ([`crate::cgroup`]). moto and the fake run
//! unlimited, as AWS and GitHub are not on a function's CPU either. For each size:
//!
//! * an idle window: an empty `--once` with a 10 s window;
//! * start-up with a PAT and with a GitHub App key (an RS256 JWT signed at start, exchanged for
//!   an installation token), each a few 1 s `--once` runs, each for a new scale set (a start
//!   with a stored session makes no credential call at all): spawn → first call at the fake
//!   (App: the token exchange, after parsing the key and signing; PAT: the registration token)
//!   and spawn → first long poll;
//! * a 100-job burst into a listening ghaec2 ([`crate::burst`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use ghaec2_demo::stand_ins::Result;
use ghaec2_demo::{LogLine, StandIns, StandInsOptions};
use ghaec2_fake::endpoints::{ACCESS_TOKEN, MESSAGES_GET, REGISTRATION_TOKEN};
use ghaec2_fake::{AppOptions, DEFAULT_PAT, Fake, FakeOptions, Mode};

use crate::burst;
use crate::cgroup::{CpuLimit, Throttled};
use crate::pairing::{self, Pair, STOPPED};
use crate::report::{CpuRuns, CpuShare, IdleWindow, Start};
use crate::run::{self, Ctx, Running};

/// The Lambda memory sizes measured.
pub const MEMORY_MB: [u32; 2] = [128, 256];

const IDLE_WINDOW: Duration = Duration::from_secs(10);
const START_WINDOW: Duration = Duration::from_secs(1);
/// Start-up runs per credential and size.
const STARTS: usize = 3;
/// The fake answers an empty poll after this, so that the polls of a short window end in it.
const POLL_HOLD: Duration = Duration::from_millis(200);
const REGION: &str = "ca-central-1";
/// One region per size for the bursts, each in an account of its own behind the proxy.
const BURST_REGIONS: [&str; 2] = ["eu-west-2", "eu-west-3"];
const BURST_JOBS: u32 = 100;

/// The fake's GitHub App, with the test key pair of `fake/tests/fixtures/`.
const APP_ID: &str = "12345";
const INSTALLATION_ID: u64 = 777;
const APP_PUBLIC_KEY: &str =
    include_str!("../../../../fake/tests/fixtures/test_app_public_key.pem");
const APP_PRIVATE_KEY: &str =
    include_str!("../../../../fake/tests/fixtures/test_app_private_key.pem");

/// Both sizes, or why they could not be measured here.
pub async fn run(ctx: &Ctx) -> Result<CpuRuns> {
    let mut shares = Vec::new();
    for (memory_mb, region) in MEMORY_MB.into_iter().zip(BURST_REGIONS) {
        let limit = match CpuLimit::create(memory_mb) {
            Ok(limit) => limit,
            Err(why) => return Ok(CpuRuns::NotMeasured(why)),
        };
        shares.push(share(ctx, &limit, region).await?);
    }
    Ok(CpuRuns::Measured(shares))
}

async fn share(ctx: &Ctx, limit: &CpuLimit, burst_region: &'static str) -> Result<CpuShare> {
    let fake = FakeOptions::default()
        .with_mode(Mode::Ghes)
        .with_poll_hold(POLL_HOLD)
        .with_app(AppOptions {
            app_id: APP_ID.to_owned(),
            client_id: None,
            installation_id: INSTALLATION_ID,
            public_key_pem: APP_PUBLIC_KEY.to_owned(),
        });
    let mut stand_ins = StandIns::start(StandInsOptions {
        fake,
        region: REGION.to_owned(),
    })
    .await?;
    // Each run names its credential.
    stand_ins.unset_env("GITHUB_TOKEN");
    let mb = limit.memory_mb;
    let name = format!("bench-cpu-{mb}");
    let pat = [("GITHUB_TOKEN", DEFAULT_PAT.to_owned())];
    let app = [
        ("GITHUB_APP_ID", APP_ID.to_owned()),
        ("GITHUB_APP_INSTALLATION_ID", INSTALLATION_ID.to_string()),
        ("GITHUB_APP_PRIVATE_KEY", APP_PRIVATE_KEY.to_owned()),
    ];
    let with = |name: &str, credential: &[(&str, String)], window: Duration| {
        let mut extra = credential.to_vec();
        extra.push(("DRAIN_WINDOW_SECONDS", window.as_secs().to_string()));
        run::env(name, &extra)
    };
    let once = |env: Vec<(String, String)>, log: String| {
        let stand_ins = &stand_ins;
        async move {
            let fake = stand_ins.fake.fake();
            fake.reset_calls();
            let before = limit.stat();
            let exited = Running::start_in(
                ctx,
                stand_ins,
                Some(limit),
                &["--once"],
                &env,
                &ctx.log(&log),
            )
            .await?
            .exit()
            .await?;
            Result::Ok((exited, limit.stat().since(&before), fake))
        }
    };
    let (idle, throttled, fake) =
        once(with(&name, &pat, IDLE_WINDOW), format!("cpu-{mb}-idle")).await?;
    let idle = IdleWindow {
        window: IDLE_WINDOW,
        to_ready: first_call(&fake, MESSAGES_GET).and_then(|at| run::elapsed(idle.spawned_at, at)),
        wall: idle.wall(),
        cpu: idle.time.map(|t| t.cpu()),
        throttled,
        clean: idle.status.success() && stopped(&idle.lines),
    };
    let mut starts = Vec::new();
    for (credential, first, label) in [
        (&pat[..], REGISTRATION_TOKEN, "pat"),
        (&app[..], ACCESS_TOKEN, "app"),
    ] {
        let (mut to_first, mut to_ready): (Vec<Pair>, Vec<Pair>) = (Vec::new(), Vec::new());
        let mut throttled = Throttled::default();
        for i in 0..STARTS {
            // A new scale set each time: the start then opens the admin connection (with the
            // App: signs and exchanges), as a start without a stored session does.
            let log = format!("cpu-{mb}-{label}-{}", i + 1);
            let env = with(&format!("bench-{log}"), credential, START_WINDOW);
            let (exited, run_throttled, fake) = once(env, log).await?;
            crate::trickle::check_exit(&exited, &format!("{label} start at {mb} MB"))?;
            to_first.push((exited.spawned_at, first_call(&fake, first)));
            to_ready.push((exited.spawned_at, first_call(&fake, MESSAGES_GET)));
            throttled = add(throttled, run_throttled);
        }
        starts.push(Start {
            window: START_WINDOW,
            to_first_call: pairing::latency(to_first),
            to_ready: pairing::latency(to_ready),
            throttled,
        });
    }
    stand_ins.fake.shutdown().await;
    let (Some(app_start), Some(pat_start)) = (starts.pop(), starts.pop()) else {
        return Err("a credential's start-up runs are missing".into());
    };
    let plan = burst::plan("100 jobs", BURST_JOBS, burst_region, 120);
    let before = limit.stat();
    let burst = burst::run(ctx, &plan, Some(limit)).await?;
    Ok(CpuShare {
        memory_mb: mb,
        quota_us: limit.quota_us,
        idle,
        pat: pat_start,
        app: app_start,
        burst,
        burst_throttled: limit.stat().since(&before),
    })
}

/// When the first call to `endpoint` arrived at the fake.
fn first_call(fake: &Fake, endpoint: &str) -> Option<DateTime<Utc>> {
    fake.calls_to(endpoint).into_iter().map(|c| c.time).min()
}

/// It stopped listening at its window's end rather than failing before.
fn stopped(lines: &[LogLine]) -> bool {
    lines.iter().any(|l| l.msg() == Some(STOPPED))
}

fn add(a: Throttled, b: Throttled) -> Throttled {
    Throttled {
        periods: a.periods + b.periods,
        throttled: a.throttled + b.throttled,
        time: a.time + b.time,
    }
}
