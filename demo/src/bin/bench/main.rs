//! `make bench`: runs the measured scenarios against the stand-ins (fake Actions Service in
//! this process, AWS in the moto_server of `AWS_ENDPOINT_URL`) with the ghaec2 binary given
//! by `--ghaec2`, and writes `BENCHMARKS.md` from the results. Nothing in the report is typed
//! by hand: every figure comes from this run, every anchor (with how it differs) from
//! [`anchors`].
//!
//! ```text
//! bench --ghaec2 <path> [--out BENCHMARKS.md] [--work target/bench] [--only <scenario>,…]
//! ```
//!
//! Scenarios (one machine, one run, each in its own moto region and fake):
//! `listening`, `gaps`, `bursts`, `cold`, `several`, `cpu`, `cost`, `paths`, `status`.
//! `--only` is for development; the cost section needs `cost` (and counts the metrics
//! `several` saw), the CPU section sets its bursts beside `bursts`' unlimited one, and
//! `several` beside `listening`.
//!
//! | module | responsibility |
//! |---|---|
//! | `aws_proxy` | the tests' fault-injecting proxy in front of moto (AWS throttling, call timings) |
//! | `run` | ghaec2 under `/usr/bin/time -v`: spawn, watch its log lines, SIGTERM, exit |
//! | `gnu_time` | parsing `/usr/bin/time -v` |
//! | `rng` | the seeded arrival times |
//! | `pairing` | launches from log lines, FIFO pairing with queued jobs, latencies with broken pairings counted |
//! | `calls` | Actions Service calls per endpoint, throttled responses |
//! | `recoveries` | ghaec2's recoveries, counted from its log lines |
//! | `moto_time` | how much of a span was moto's, from the proxy's timings |
//! | `trickle` | steady trickle: listening (continuous), across invocation gaps (`--once`) |
//! | `burst` | bursts of 100 and 500 jobs, clean and throttled |
//! | `cold` | process start to ready, empty `--once`, binary size, peak RSS |
//! | `several` | several scale sets polled together by one process, pickup per scale set |
//! | `cgroup` | Lambda's CPU share as a cgroup quota around one process |
//! | `cpu` | idle window, App-key and PAT start-up, 100-job burst at 128 and 256 MB's CPU share |
//! | `usage` | what a steady-state idle invocation uses (duration, DynamoDB, logs, metrics), for the cost |
//! | `path` | the critical path call by call, and the spot interruption replacement |
//! | `status` | `ghaec2 --status` timed against a scale set with busy and booting runners, an orphan and a held lease |
//! | `machine` | where and what was measured |
//! | `report` | the results |
//! | `anchors` | published figures of other systems, each with how it differs |
//! | `markdown` | BENCHMARKS.md from the results |
//! | `markdown_deployment` | its sections on several scale sets and the CPU share |
//! | `markdown_cost` | its Cost section: the whole deployment, 1 and several scale sets |
//! | `markdown_status` | its section on `ghaec2 --status` |

mod anchors;
mod burst;
mod calls;
mod cgroup;
mod cold;
mod cpu;
mod gnu_time;
mod machine;
mod markdown;
mod markdown_cost;
mod markdown_deployment;
mod markdown_status;
mod moto_time;
mod pairing;
mod path;
mod recoveries;
mod report;
mod rng;
mod run;
mod several;
mod status;
mod trickle;
mod usage;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ghaec2_demo::stand_ins::Result;

use report::{Configured, Results};

/// Command-line options.
#[derive(Debug)]
struct Args {
    ghaec2: PathBuf,
    out: PathBuf,
    work: PathBuf,
    only: Option<Vec<String>>,
}

const SCENARIOS: [&str; 9] = [
    "listening",
    "gaps",
    "bursts",
    "cold",
    "several",
    "cpu",
    "cost",
    "paths",
    "status",
];

/// The cost scenario's deployments: scale sets, moto region.
const COST_DEPLOYMENTS: [(usize, &str); 2] = [(1, "ap-south-1"), (5, "ap-northeast-2")];

fn parse_args(mut argv: impl Iterator<Item = String>) -> std::result::Result<Args, String> {
    let (mut ghaec2, mut out, mut work, mut only) = (None, None, None, None);
    while let Some(arg) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--ghaec2" => ghaec2 = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--work" => work = Some(PathBuf::from(value()?)),
            "--only" => {
                let list: Vec<String> = value()?.split(',').map(str::to_owned).collect();
                if let Some(bad) = list.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
                    return Err(format!("unknown scenario {bad}; one of {SCENARIOS:?}"));
                }
                only = Some(list);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        ghaec2: ghaec2.ok_or("--ghaec2 <path> is required")?,
        out: out.unwrap_or_else(|| PathBuf::from("BENCHMARKS.md")),
        work: work.unwrap_or_else(|| PathBuf::from("target/bench")),
        only,
    })
}

impl Args {
    fn runs(&self, scenario: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|s| s == scenario))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = tokio::select! {
        outcome = bench(&args) => outcome,
        signal = interrupted() => {
            // The ghaec2 processes sit under /usr/bin/time, which a signal to this process
            // does not reach: stop them by PID, or they would outlive the bench.
            run::stop_all();
            Err(format!("interrupted by {signal}").into())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

async fn bench(args: &Args) -> Result<()> {
    let started = Instant::now();
    if !args.ghaec2.is_file() {
        return Err(format!("no ghaec2 binary at {}", args.ghaec2.display()).into());
    }
    std::fs::create_dir_all(&args.work)?;
    let configured = Configured::from_template(&std::fs::read_to_string("template.yaml")?)?;
    let mut results = Results {
        machine: machine::Machine::here()?,
        configured,
        listening: None,
        gaps: None,
        bursts: Vec::new(),
        cold: None,
        cpu: None,
        several: None,
        paths: None,
        status: None,
        cost: Vec::new(),
        wall: Duration::ZERO,
        load_after: None,
    };
    let ctx = run::Ctx {
        ghaec2: args.ghaec2.clone(),
        work: args.work.clone(),
    };
    if args.runs("listening") {
        progress("steady trickle while listening");
        results.listening = Some(trickle::listening(&ctx).await?);
    }
    if args.runs("gaps") {
        progress("steady trickle across invocation gaps");
        results.gaps = Some(trickle::gaps(&ctx, &results.configured).await?);
    }
    if args.runs("bursts") {
        for plan in burst::plans() {
            progress(&format!("burst: {}", plan.label));
            results.bursts.push(burst::run(&ctx, &plan, None).await?);
        }
    }
    if args.runs("cold") {
        progress("cold start");
        results.cold = Some(cold::run(&ctx).await?);
    }
    if args.runs("several") {
        progress("several scale sets polled together");
        results.several = Some(several::run(&ctx).await?);
    }
    if args.runs("cpu") {
        progress("at Lambda's CPU share");
        results.cpu = Some(cpu::run(&ctx).await?);
    }
    if args.runs("cost") {
        progress("idle gapless invocations, for the cost");
        let runs =
            COST_DEPLOYMENTS.map(|(n, region)| usage::run(&ctx, &results.configured, n, region));
        results.cost = futures::future::try_join_all(runs).await?;
    }
    if args.runs("paths") {
        progress("critical path and spot interruption replacement");
        results.paths = Some(path::run(&ctx).await?);
    }
    if args.runs("status") {
        progress("ghaec2 --status against busy and booting runners, an orphan, a held lease");
        results.status = Some(status::run(&ctx).await?);
    }
    results.wall = started.elapsed();
    results.load_after = machine::load_average();
    let markdown = markdown::render(&results);
    std::fs::write(&args.out, &markdown)?;
    progress(&format!(
        "wrote {} after {:.0} s",
        args.out.display(),
        results.wall.as_secs_f64()
    ));
    Ok(())
}

/// Progress goes to stderr; the report is the output.
fn progress(what: &str) {
    eprintln!("bench: {what}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> std::result::Result<Args, String> {
        parse_args(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn arguments() {
        let a = args(&["--ghaec2", "/x/ghaec2", "--only", "cold,bursts,cpu"]).unwrap();
        assert_eq!(a.ghaec2, PathBuf::from("/x/ghaec2"));
        assert_eq!(a.out, PathBuf::from("BENCHMARKS.md"));
        assert!(a.runs("cold") && a.runs("bursts") && a.runs("cpu") && !a.runs("gaps"));
        assert!(args(&["--only", "cold"]).is_err());
        assert!(args(&["--ghaec2", "g", "--only", "nope"]).is_err());
        assert!(args(&["--ghaec2"]).is_err());
    }
}
