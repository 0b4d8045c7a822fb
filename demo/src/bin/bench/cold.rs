//! Cold start: a fresh ghaec2 process each time, configured as the template deploys it (the
//! GitHub token in an SSM SecureString) with its AWS calls through the proxy, timed from just
//! before the spawn to
//!
//! * its first log line (the process is up: runtime, logging, configuration),
//! * SSM's answer with the credential (the end of what Lambda's init does),
//! * its "Starting Actions Service message polling" line (tokens, scale set, lease, session),
//! * its first long poll arriving at the fake (listening: the definition of ready),
//! * its exit, for an empty `--once` with a 1 s window.
//!
//! The fake answers an empty poll after 200 ms here, so that the polls of a 1 s window are
//! answered (and recorded) within it.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use chrono::{DateTime, Utc};
use ghaec2_demo::stand_ins::Result;
use ghaec2_demo::{LogLine, StandIns, StandInsOptions};
use ghaec2_fake::{DEFAULT_PAT, FakeOptions, Mode};

use crate::burst::{self, aws_side};
use crate::moto_time::{self, Timed};
use crate::pairing::{self, POLLING, Pair};
use crate::recoveries::Recoveries;
use crate::report::{Cold, Setup};
use crate::run::{self, Ctx, Running};
use crate::trickle::{self, check_exit};

const RUNS: usize = 10;
const WINDOW: Duration = Duration::from_secs(1);
const POLL_HOLD: Duration = Duration::from_millis(200);
const REGION: &str = "eu-west-1";
/// Where the token lives, as `GITHUB_TOKEN_SSM_PARAMETER` names it.
const TOKEN_PARAMETER: &str = "/ghaec2/bench/github-token";

pub async fn run(ctx: &Ctx) -> Result<Cold> {
    let fake = FakeOptions::default()
        .with_mode(Mode::Ghes)
        .with_poll_hold(POLL_HOLD);
    let setup = Setup {
        poll_hold: fake.poll_hold,
        window: Some(WINDOW),
        max_runners: run::MAX_RUNNERS,
    };
    let mut stand_ins = StandIns::start(StandInsOptions {
        fake,
        region: REGION.to_owned(),
    })
    .await?;
    stand_ins.unset_env("GITHUB_TOKEN");
    let aws = aws_side(REGION).await?;
    aws_sdk_ssm::Client::new(&aws.sdk)
        .put_parameter()
        .name(TOKEN_PARAMETER)
        .value(DEFAULT_PAT)
        .r#type(ParameterType::SecureString)
        .send()
        .await?;
    let extra = [
        ("DRAIN_WINDOW_SECONDS", WINDOW.as_secs().to_string()),
        ("GITHUB_TOKEN_SSM_PARAMETER", TOKEN_PARAMETER.to_owned()),
    ];
    let env = run::env(
        "bench-cold",
        &aws.env.iter().cloned().chain(extra).collect::<Vec<_>>(),
    );
    let fake = stand_ins.fake.fake();
    let mut pairs: [Vec<Pair>; 5] = Default::default();
    let (mut rss, mut cpu, mut recoveries) = (Vec::new(), Vec::new(), Recoveries::default());
    let mut calls_before_ready: BTreeMap<String, usize> = BTreeMap::new();
    let (mut moto_before_ready, mut before_ready) = (Duration::ZERO, Duration::ZERO);
    for i in 0..RUNS {
        fake.reset_calls();
        let aws_before = aws.proxy.calls().len();
        let log = ctx.log(&format!("cold-{}", i + 1));
        let exited = Running::start(ctx, &stand_ins, &["--once"], &env, &log)
            .await?
            .exit()
            .await?;
        check_exit(&exited, "cold start")?;
        let spawned = exited.spawned_at;
        let proxied = aws.proxy.calls();
        let calls = &proxied[aws_before.min(proxied.len())..];
        let logged = |msg: Option<&str>| {
            exited
                .lines
                .iter()
                .find(|l: &&LogLine| msg.map_or(l.msg().is_some(), |m| l.msg() == Some(m)))
                .map(pairing::log_time)
        };
        let credential = calls
            .iter()
            .find(|c| c.action == "GetParameter")
            .and_then(|c| c.upstream)
            .map(|(_, answered)| DateTime::<Utc>::from(answered));
        let first_poll = fake
            .calls_to(ghaec2_fake::endpoints::MESSAGES_GET)
            .into_iter()
            .map(|c| c.time)
            .min();
        let ends = [logged(None), credential, logged(Some(POLLING)), first_poll];
        for (list, end) in pairs.iter_mut().zip(ends) {
            list.push((spawned, end));
        }
        pairs[4].push((spawned, Some(exited.exited_at)));
        if let Some(ready) = first_poll {
            let timed: Vec<Timed> = calls.iter().map(burst::timed).collect();
            let m = moto_time::measure(&timed, spawned, ready);
            moto_before_ready += m.in_moto;
            before_ready += m.span;
            for call in calls
                .iter()
                .filter(|c| DateTime::<Utc>::from(c.received_at) <= ready)
            {
                *calls_before_ready
                    .entry(format!("{} {}", call.service, call.action))
                    .or_default() += 1;
            }
        }
        let run_recoveries = Recoveries {
            aws_errors: Some(burst::aws_errors(calls)),
            ..trickle::recoveries(&exited.lines, &fake)
        };
        recoveries = recoveries.add(&run_recoveries);
        if let Some(time) = exited.time {
            rss.push(time.max_rss_kb);
            cpu.push(time.cpu());
        }
    }
    stand_ins.fake.shutdown().await;
    let [first_log, credential, polling, first_poll, exit] = pairs.map(pairing::latency);
    let mut calls_before_ready: Vec<(String, usize)> = calls_before_ready.into_iter().collect();
    calls_before_ready.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Cold {
        runs: RUNS,
        setup,
        to_first_log: first_log,
        to_credential: credential,
        to_polling: polling,
        to_first_poll: first_poll,
        once_exit: exit,
        calls_before_ready,
        moto_before_ready,
        before_ready,
        binary_bytes: std::fs::metadata(&ctx.ghaec2)?.len(),
        peak_rss_kb: rss.iter().copied().max(),
        cpu: ghaec2_demo::stats::Distribution::of(&cpu),
        recoveries,
    })
}
