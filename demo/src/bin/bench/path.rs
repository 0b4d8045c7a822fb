//! Two paths call by call, through the proxy in front of moto (which records every AWS call
//! with its times) and the fake (which records every Actions Service call):
//! - **the critical path**: a job queued into a listening ghaec2 (github.com mode, where no
//!   `acquirejobs` is needed), every call from the queueing to CreateFleet, and CreateFleet's
//!   own time; one job at a time, so that each path stands alone.
//! - **spot interruption replacement**: `ghaec2 --once --event` with EC2's warning for the idle
//!   runner of a listening ghaec2 (`MIN_RUNNERS` 1), as the Lambda handler gets it: spawn →
//!   the replacement launched.

use std::fmt::Write as _;
use std::time::Duration;

use aws_sdk_ec2::types::Filter;
use chrono::{DateTime, Utc};
use ghaec2_demo::stand_ins::Result;
use ghaec2_demo::stats::Distribution;
use ghaec2_demo::{LogLine, StandIns, StandInsOptions};
use ghaec2_fake::{FakeOptions, JobSpec, Mode};
use ghaec2_testkit::aws_proxy::ProxyCall;

use crate::burst::{self, AwsSide};
use crate::markdown::{distribution, ms};
use crate::pairing::{self, LAUNCHED, RECONCILED};
use crate::run::{self, Ctx, Running};

/// Jobs on the critical path, one at a time.
const PATH_JOBS: usize = 20;
/// Spot warnings, one at a time.
const WARNINGS: usize = 5;

/// One call on the way from a queued job to its CreateFleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// `ec2 DescribeInstances`, `actions acquirejobs`, …
    pub call: String,
    /// Its duration, as the proxy or the fake saw it.
    pub took: Duration,
}

/// The critical path, measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CriticalPath {
    /// Jobs measured.
    pub jobs: usize,
    /// The calls each job's path made before CreateFleet, in order, by job.
    pub before_launch: Vec<Vec<Step>>,
    /// Queued → CreateFleet received by the proxy.
    pub to_create_fleet: Option<Distribution>,
    /// CreateFleet received → answered (moto's time, and the proxy's).
    pub create_fleet: Option<Distribution>,
    /// Queued → "Launched instances." (ghaec2's log time).
    pub to_launched: Option<Distribution>,
}

/// Spot interruption replacement, measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpotReplacement {
    pub warnings: usize,
    /// Spawn of the warning's invocation → "Spot interruption warning …" logged.
    pub to_warning: Option<Distribution>,
    /// Spawn → the interrupted runner removed (registration, then its instance terminated).
    pub to_removed: Option<Distribution>,
    /// Spawn → its replacement launched.
    pub to_replaced: Option<Distribution>,
}

/// Both paths, from one listening ghaec2 behind the proxy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Paths {
    pub critical: CriticalPath,
    pub spot: SpotReplacement,
}

pub async fn run(ctx: &Ctx) -> Result<Paths> {
    let region = "sa-east-1";
    let fake_options = FakeOptions::default().with_mode(Mode::Dotcom);
    let stand_ins = StandIns::start(StandInsOptions {
        fake: fake_options,
        region: region.to_owned(),
    })
    .await?;
    let aws = burst::aws_side(region).await?;
    let name = "bench-path";
    let mut listener_env = run::env(name, &aws.env);
    listener_env.push(("MIN_RUNNERS".to_owned(), "1".to_owned()));
    let log = ctx.log("path");
    let mut ghaec2 = Running::start(ctx, &stand_ins, &[], &listener_env, &log).await?;
    let polling = |lines: &[LogLine]| lines.iter().any(|l| l.msg() == Some(RECONCILED));
    if !ghaec2.until(Duration::from_secs(60), polling).await {
        return Err("ghaec2 did not start polling within 60 s".into());
    }
    let critical = critical_path(&stand_ins, &aws, &mut ghaec2, name).await?;
    let spot = spot_replacement(ctx, &stand_ins, &aws, &listener_env).await?;
    let exited = ghaec2.stop().await?;
    crate::trickle::check_exit(&exited, "paths")?;
    stand_ins.fake.shutdown().await;
    Ok(Paths { critical, spot })
}

async fn critical_path(
    stand_ins: &StandIns,
    aws: &AwsSide,
    ghaec2: &mut Running,
    name: &str,
) -> Result<CriticalPath> {
    let fake = stand_ins.fake.fake();
    let mut path = CriticalPath {
        jobs: PATH_JOBS,
        ..CriticalPath::default()
    };
    let (mut to_fleet, mut fleet, mut to_launched) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PATH_JOBS {
        // Let the listener settle into its next long poll.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let launched_before = pairing::total(&pairing::events(&ghaec2.lines, LAUNCHED));
        fake.reset_calls();
        let aws_before = aws.proxy.calls().len();
        let queued = Utc::now();
        fake.enqueue_job(JobSpec::with_labels([name]))
            .map_err(|e| format!("enqueue: {e:?}"))?;
        let launched =
            |lines: &[LogLine]| pairing::total(&pairing::events(lines, LAUNCHED)) > launched_before;
        if !ghaec2.until(Duration::from_secs(30), launched).await {
            return Err("a job got no instance within 30 s".into());
        }
        let calls = aws.proxy.calls().split_off(aws_before);
        let Some(create) = calls.iter().find(|c| c.action == "CreateFleet") else {
            return Err("no CreateFleet for the job".into());
        };
        let sent: DateTime<Utc> = create.received_at.into();
        let mut steps: Vec<(DateTime<Utc>, Step)> = calls
            .iter()
            .take_while(|c| c.action != "CreateFleet")
            .map(|c| (c.received_at.into(), aws_step(c)))
            .collect();
        // Actions Service calls are logged as they are answered: those answered before the
        // launch, but the long poll that delivered the job.
        steps.extend(
            fake.calls()
                .into_iter()
                .filter(|c| c.endpoint != "messages.get" && c.time < sent)
                .map(|c| {
                    let step = Step {
                        call: format!("actions {}", c.endpoint),
                        took: Duration::ZERO,
                    };
                    (c.time, step)
                }),
        );
        steps.sort_by_key(|(at, _)| *at);
        path.before_launch
            .push(steps.into_iter().map(|(_, s)| s).collect());
        to_fleet.extend(run::elapsed(queued, sent));
        fleet.push(aws_step(create).took);
        let at = pairing::events(&ghaec2.lines, LAUNCHED)
            .last()
            .map(|e| e.at);
        to_launched.extend(at.and_then(|at| run::elapsed(queued, at)));
    }
    path.to_create_fleet = Distribution::of(&to_fleet);
    path.create_fleet = Distribution::of(&fleet);
    path.to_launched = Distribution::of(&to_launched);
    Ok(path)
}

fn aws_step(call: &ProxyCall) -> Step {
    let answered = call
        .upstream
        .map_or(call.received_at, |(_, answered)| answered);
    Step {
        call: format!("{} {}", call.service, call.action),
        took: answered
            .duration_since(call.received_at)
            .unwrap_or_default(),
    }
}

async fn spot_replacement(
    ctx: &Ctx,
    stand_ins: &StandIns,
    aws: &AwsSide,
    env: &[(String, String)],
) -> Result<SpotReplacement> {
    let ec2 = aws_sdk_ec2::Client::new(&aws.sdk);
    let mut spot = SpotReplacement {
        warnings: WARNINGS,
        ..SpotReplacement::default()
    };
    let (mut warned, mut removed, mut replaced) = (Vec::new(), Vec::new(), Vec::new());
    // Finish the critical path's jobs: their runners go, the MIN_RUNNERS one stays.
    for job in stand_ins.fake.fake().state().jobs {
        let _ = stand_ins.fake.fake().cancel_job(job.runner_request_id);
    }
    for n in 0..WARNINGS {
        // The one idle runner of MIN_RUNNERS, once the rest went down.
        let instance = sole_live(&ec2).await?;
        let event = ctx.work.join(format!("spot-{n}.json"));
        std::fs::write(&event, warning(&instance))?;
        let mut once_env = env.to_vec();
        once_env.push(("DRAIN_WINDOW_SECONDS".to_owned(), "2".to_owned()));
        let event_arg = event.to_string_lossy().into_owned();
        let args = ["--once", "--event", event_arg.as_str()];
        let log = ctx.log(&format!("spot-{n}"));
        let warning_run = Running::start(ctx, stand_ins, &args, &once_env, &log).await?;
        let spawned = warning_run.spawned_at;
        let exited = warning_run.exit().await?;
        let at = |msg: &str| {
            exited
                .lines
                .iter()
                .find(|l| l.msg().is_some_and(|m| m.starts_with(msg)))
                .map(pairing::log_time)
        };
        let replacement = pairing::events(&exited.lines, LAUNCHED)
            .first()
            .map(|e| e.at);
        warned.extend(at("Spot interruption warning").and_then(|t| run::elapsed(spawned, t)));
        removed.extend(at("Removed runner.").and_then(|t| run::elapsed(spawned, t)));
        match replacement.and_then(|t| run::elapsed(spawned, t)) {
            Some(took) => replaced.push(took),
            None => return Err(format!("spot warning {n}: no replacement launched").into()),
        }
    }
    spot.to_warning = Distribution::of(&warned);
    spot.to_removed = Distribution::of(&removed);
    spot.to_replaced = Distribution::of(&replaced);
    Ok(spot)
}

/// EC2's warning for `instance`, as EventBridge delivers it (events/spot-interruption.json).
fn warning(instance: &str) -> String {
    serde_json::json!({
        "version": "0",
        "id": "1e5527d7-bb36-4607-3370-4164db56a40e",
        "detail-type": ghaec2::event::SPOT_INTERRUPTION_WARNING,
        "source": ghaec2::event::EC2_SOURCE,
        "account": "123456789012",
        "time": Utc::now().to_rfc3339(),
        "region": "sa-east-1",
        "resources": [format!("arn:aws:ec2:sa-east-1a:instance/{instance}")],
        "detail": {"instance-id": instance, "instance-action": "terminate"},
    })
    .to_string()
}

/// ghaec2's one live instance, waited for (up to a minute) while others go down.
async fn sole_live(ec2: &aws_sdk_ec2::Client) -> Result<String> {
    for _ in 0..120 {
        let described = ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .build(),
            )
            .send()
            .await?;
        let live: Vec<&str> = described
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| i.instance_id())
            .collect();
        if let [one] = live.as_slice() {
            return Ok((*one).to_owned());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err("ghaec2 did not come down to its one MIN_RUNNERS instance within a minute".into())
}

/// BENCHMARKS.md's sections for both paths.
pub fn render(paths: &Paths, out: &mut String) {
    let c = &paths.critical;
    let _ = writeln!(out, "## Critical path: a job's message to CreateFleet\n");
    let _ = writeln!(
        out,
        "ghaec2 continuous, github.com mode (no `acquirejobs`), `MIN_RUNNERS` 1, behind the tests' proxy in front of moto, which records every AWS call with its times; {} jobs queued one at a time into the listening ghaec2, each after the previous one launched. *Before CreateFleet* lists every call made between the job's queueing and the CreateFleet request (the long poll that delivered it aside): the ledger and EC2's view are known under the lease (src/cycle/known.rs), and the launch template was made ready at the first pass.\n",
        c.jobs
    );
    let mut calls: std::collections::BTreeMap<&str, (usize, Vec<Duration>)> = Default::default();
    for step in c.before_launch.iter().flatten() {
        let entry = calls.entry(step.call.as_str()).or_default();
        entry.0 += 1;
        entry.1.push(step.took);
    }
    let before = if calls.is_empty() {
        "none, in every job's path".to_owned()
    } else {
        calls
            .iter()
            .map(|(call, (n, took))| {
                let p50 = Distribution::of(took)
                    .map_or(String::new(), |d| format!(", p50 {}", ms(d.p50)));
                format!("{call} × {n}{p50}")
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| calls before CreateFleet | {before} |");
    for (label, d) in [
        ("queued → CreateFleet sent", c.to_create_fleet),
        ("CreateFleet in moto (sent → answered)", c.create_fleet),
        ("queued → \"Launched instances.\"", c.to_launched),
    ] {
        let _ = writeln!(out, "| {label} | {} |", distribution(d));
    }
    let s = &paths.spot;
    let _ = writeln!(out, "\n## Spot interruption replacement\n");
    let _ = writeln!(
        out,
        "The same listening ghaec2 (`MIN_RUNNERS` 1); {} times, EC2's warning for its one live instance (an idle runner) is handed to `ghaec2 --once --event FILE`, the Lambda handler's path for it, started then. It preempts the listener's lease, removes the runner (registration first, then TerminateInstances), launches the replacement in its first pass, and listens 2 s. Times are from the warning invocation's spawn, so they include a process start, which a warm Lambda does not pay. The preempted listener notices at its next fenced write, at the latest when its window ends, and takes the lease again (docs/deploy.md, Spot interruptions).\n",
        s.warnings
    );
    let _ = writeln!(out, "| from the warning's spawn | latency |\n|---|---|");
    for (label, d) in [
        (
            "→ warning logged (runner, job, instance type)",
            s.to_warning,
        ),
        (
            "→ interrupted runner removed, instance terminated",
            s.to_removed,
        ),
        ("→ replacement launched", s.to_replaced),
    ] {
        let _ = writeln!(out, "| {label} | {} |", distribution(d));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_path_says_none_and_a_call_is_counted() {
        let mut paths = Paths::default();
        let mut out = String::new();
        render(&paths, &mut out);
        assert!(
            out.contains("| calls before CreateFleet | none, in every job's path |"),
            "{out}"
        );
        paths.critical.before_launch = vec![vec![Step {
            call: "ec2 DescribeInstances".into(),
            took: Duration::from_millis(12),
        }]];
        let mut out = String::new();
        render(&paths, &mut out);
        assert!(
            out.contains("ec2 DescribeInstances × 1, p50 12 ms"),
            "{out}"
        );
    }
}
