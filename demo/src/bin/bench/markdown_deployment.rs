//! BENCHMARKS.md's sections on the deployment as a whole, from [`Results`]: several scale sets
//! polled together, ghaec2 at Lambda's CPU share, and the cost of 1 and several scale sets.
//! Pure, like [`crate::markdown`].

use std::fmt::Write as _;

use ghaec2_demo::cost::{
    ARM64_USD_PER_GB_SECOND, CLOUDWATCH_PRICES, DAYS_PER_MONTH, DYNAMODB_PRICES, DeploymentCost,
    InvocationUsage, LAMBDA_PRICES, USD_PER_LOG_GB, USD_PER_METRIC_MONTH, USD_PER_REQUEST,
    USD_PER_RRU, USD_PER_WRU,
};
use ghaec2_demo::stats::seconds;

use crate::cgroup::{MB_PER_VCPU, PERIOD_US, Throttled};
use crate::markdown::{dist, latency_rows, ms, opt_rss, or_timeout, p50};
use crate::report::{BURST_BAR, CpuRuns, CpuShare, Results, Several, Usage, memory_choice};

/// The cost goal of a whole deployment, USD per month.
pub const GOAL_USD: f64 = 5.0;

/// Summary rows: (figure, measured).
pub fn summary_rows(r: &Results) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    if let Some(s) = &r.several {
        let single = r.listening.as_ref().map_or(String::new(), |t| {
            format!(" (one scale set: {})", p50(&t.to_launched))
        });
        rows.push((
            format!(
                "several scale sets polled together ({}): queued → launched",
                s.per_scale_set.iter().filter(|(n, _)| n.is_some()).count()
            ),
            format!("{}{single}", p50(&s.overall)),
        ));
    }
    match &r.cpu {
        Some(CpuRuns::Measured(shares)) => {
            for s in shares {
                rows.push((
                    format!(
                        "at {} MB's CPU share: burst of {} all launched",
                        s.memory_mb, s.burst.jobs
                    ),
                    format!(
                        "{}; App-key start to ready {}, PAT {}",
                        or_timeout(s.burst.all_launched),
                        p50(&s.app.to_ready),
                        p50(&s.pat.to_ready)
                    ),
                ));
            }
        }
        Some(CpuRuns::NotMeasured(why)) => {
            rows.push((
                "at Lambda's CPU share".to_owned(),
                format!("not measured: {why}"),
            ));
        }
        None => {}
    }
    for (usage, cost) in costs(r) {
        rows.push((
            format!(
                "whole deployment per month, {} ({} MB, {} s window, gapless)",
                scale_sets(usage.scale_sets),
                r.configured.memory_mb,
                r.configured.window.as_secs()
            ),
            format!("${:.2} ({})", cost.total_usd(), verdict(&cost)),
        ));
    }
    rows
}

fn scale_sets(n: usize) -> String {
    if n == 1 {
        "1 scale set".to_owned()
    } else {
        format!("{n} scale sets")
    }
}

pub fn several(out: &mut String, s: &Several, single: Option<&crate::report::Trickle>) {
    let _ = write!(
        out,
        "## Several scale sets polled together\n\n\
         One continuous ghaec2 serving {} scale sets (`SCALE_SETS`; one fake, one moto region), \
         GHES mode, `MAX_RUNNERS` {} each, the fake holding an empty poll {}. {} jobs arrived \
         over {} at seeded random intervals (Poisson, mean {}), each for a scale set drawn at \
         random. Each scale set's launches (\"Launched instances.\" with its `scale_set_id`) \
         are paired with its own jobs, FIFO within the scale set.\n\n",
        s.per_scale_set.iter().filter(|(n, _)| n.is_some()).count(),
        s.setup.max_runners,
        ms(s.setup.poll_hold),
        s.jobs,
        ms(s.span),
        ms(s.mean_interval),
    );
    let names: Vec<String> = s
        .per_scale_set
        .iter()
        .map(|(name, _)| {
            name.as_ref()
                .map_or("jobs routed to no scale set → launched".to_owned(), |n| {
                    format!("`{n}`: queued → launched")
                })
        })
        .collect();
    let mut rows: Vec<(&str, &crate::report::Latency)> = s
        .per_scale_set
        .iter()
        .zip(&names)
        .map(|((_, l), name)| (name.as_str(), l))
        .collect();
    rows.push(("every scale set: queued → launched", &s.overall));
    if let Some(t) = single {
        rows.push((
            "one scale set while listening (above): queued → launched",
            &t.to_launched,
        ));
    }
    latency_rows(out, &rows);
    let _ = write!(
        out,
        "| the process | |\n|---|---|\n\
         | CPU time (user + system), whole run | {} |\n\
         | peak RSS | {} |\n\
         | EMF metrics published | {} |\n\n",
        s.cpu.map_or("–".to_owned(), seconds),
        opt_rss(s.peak_rss_kb),
        list_or_none(&s.metrics),
    );
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn throttled(t: &Throttled) -> String {
    format!(
        "{} of {} periods, {}",
        t.throttled,
        t.periods,
        seconds(t.time)
    )
}

pub fn cpu(out: &mut String, runs: &CpuRuns, r: &Results) {
    out.push_str("## At Lambda's CPU share\n\n");
    let shares = match runs {
        CpuRuns::NotMeasured(why) => {
            let _ = write!(out, "Not measured: {why}.\n\n");
            return;
        }
        CpuRuns::Measured(shares) => shares,
    };
    let quotas: Vec<String> = shares
        .iter()
        .map(|s| format!("{} MB: {} µs", s.memory_mb, s.quota_us))
        .collect();
    let _ = write!(
        out,
        "Lambda gives a function memory/{MB_PER_VCPU} of a vCPU. ghaec2 ran in a cgroup with \
         that CPU quota in every {} µs period ({}), from its first instruction (a wrapper \
         writes its PID to the group, then `exec`s it). Only ghaec2 is limited: moto and the \
         fake run unlimited, as AWS and GitHub are not on a function's CPU either. *Throttled* \
         is the group's `cpu.stat`: periods in which ghaec2 used up its quota and was stopped, \
         and the time it waited. The idle window is an empty `--once` with a {} window, \
         ready when its first long poll reaches the fake. Start-up runs are empty `--once` runs \
         with a {} window, each for a new scale set: a start with a stored session makes no \
         credential call at all, one without opens the admin connection. With a GitHub App key \
         ghaec2 then signs an RS256 JWT and exchanges it for an installation token before its \
         first other call, so spawn → first call at the fake is, with the App, start-up plus \
         parsing the key and signing; with a PAT, start-up alone.\n\n\
         | | {} |\n|---|{}\n",
        PERIOD_US,
        quotas.join(", "),
        shares.first().map_or(String::new(), |s| ms(s.idle.window)),
        shares.first().map_or(String::new(), |s| ms(s.pat.window)),
        shares
            .iter()
            .map(|s| format!("{} MB", s.memory_mb))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(shares.len()),
    );
    let mut row = |what: &str, cell: &dyn Fn(&CpuShare) -> String| {
        let cells: Vec<String> = shares.iter().map(cell).collect();
        let _ = writeln!(out, "| {what} | {} |", cells.join(" | "));
    };
    row("idle window: spawn → ready (first long poll)", &|s| {
        s.idle.to_ready.map_or("never".to_owned(), ms)
    });
    row("idle window: spawn → exit", &|s| seconds(s.idle.wall));
    row("idle window: CPU time", &|s| {
        s.idle.cpu.map_or("–".to_owned(), seconds)
    });
    row("idle window: throttled", &|s| throttled(&s.idle.throttled));
    row("idle window: ended cleanly", &|s| {
        if s.idle.clean {
            "yes".to_owned()
        } else {
            "**no**".to_owned()
        }
    });
    row("PAT: spawn → registration-token call", &|s| {
        dist(&s.pat.to_first_call)
    });
    row("App key: spawn → token exchange call", &|s| {
        dist(&s.app.to_first_call)
    });
    row(
        "App key − PAT, p50s: parsing the key and signing",
        &|s| match (s.app.to_first_call.dist, s.pat.to_first_call.dist) {
            (Some(a), Some(p)) => ms(a.p50.saturating_sub(p.p50)),
            _ => "–".to_owned(),
        },
    );
    row("PAT: spawn → ready", &|s| dist(&s.pat.to_ready));
    row("App key: spawn → ready", &|s| dist(&s.app.to_ready));
    row(
        "App key − PAT, p50s of ready: signing and the token exchange",
        &|s| match (s.app.to_ready.dist, s.pat.to_ready.dist) {
            (Some(a), Some(p)) => ms(a.p50.saturating_sub(p.p50)),
            _ => "–".to_owned(),
        },
    );
    row("start-up runs: throttled, all", &|s| {
        format!(
            "PAT {}; App {}",
            throttled(&s.pat.throttled),
            throttled(&s.app.throttled)
        )
    });
    let unlimited = r
        .bursts
        .iter()
        .find(|b| b.throttling.is_none() && shares.iter().any(|s| s.burst.jobs == b.jobs));
    row("burst: first enqueue → all launched", &|s| {
        or_timeout(s.burst.all_launched)
    });
    if let Some(b) = unlimited {
        row("the same burst unlimited (Bursts above)", &|_| {
            or_timeout(b.all_launched)
        });
    }
    row("burst: nothing lost", &|s| {
        if s.burst.nothing_lost() {
            "yes".to_owned()
        } else {
            "**no**".to_owned()
        }
    });
    row("burst: CPU time, throttled", &|s| {
        format!(
            "{}; {}",
            s.burst.cpu.map_or("–".to_owned(), seconds),
            throttled(&s.burst_throttled)
        )
    });
    row("burst: peak RSS", &|s| opt_rss(s.burst.peak_rss_kb));
    let chosen = memory_choice(shares);
    let _ = write!(
        out,
        "\n**Default memory.** The smallest size whose burst of {} had every job launched \
         within {}: {}. The template's `FunctionMemorySize` default is {} MB{}.\n\n",
        shares.first().map_or(0, |s| s.burst.jobs),
        seconds(BURST_BAR),
        chosen.map_or("none measured".to_owned(), |mb| format!("{mb} MB")),
        r.configured.memory_mb,
        match chosen {
            Some(mb) if mb == r.configured.memory_mb => ", as the figures call for".to_owned(),
            Some(_) => ": **not what the figures call for**".to_owned(),
            None => String::new(),
        },
    );
}

/// The cost of each measured deployment at the template's defaults.
fn costs(r: &Results) -> Vec<(&Usage, DeploymentCost)> {
    let metrics = metrics(r).len();
    r.cost
        .iter()
        .map(|u| {
            let usage = InvocationUsage {
                write_units: u.write_units,
                read_units: u.read_units,
                log_bytes: u.log_bytes,
            };
            let c = DeploymentCost::monthly(
                r.configured.schedule,
                u.invocation,
                r.configured.memory_mb,
                usage,
                metrics,
            );
            (u, c)
        })
        .collect()
}

/// The distinct metrics the idle invocations published.
fn metrics_of(usages: &[Usage]) -> Vec<String> {
    let mut all: Vec<String> = usages
        .iter()
        .flat_map(|u| u.metrics.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The custom metrics a deployment publishes: the idle invocations', and those of the run
/// with jobs (several scale sets), when it ran.
fn metrics(r: &Results) -> Vec<String> {
    let mut all: Vec<String> = r
        .cost
        .iter()
        .flat_map(|u| u.metrics.iter().cloned())
        .chain(r.several.iter().flat_map(|s| s.metrics.iter().cloned()))
        .collect();
    all.sort();
    all.dedup();
    all
}

fn verdict(c: &DeploymentCost) -> String {
    if c.total_usd() <= GOAL_USD {
        format!("goal ≤ ${GOAL_USD:.2}: met")
    } else {
        format!("goal ≤ ${GOAL_USD:.2}: **not met**")
    }
}

fn calls(list: &[(String, usize)]) -> String {
    if list.is_empty() {
        return "none".to_owned();
    }
    list.iter()
        .map(|(a, n)| format!("{a} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn cost(out: &mut String, r: &Results) {
    let costs = costs(r);
    let Some((_, first)) = costs.first() else {
        return;
    };
    let c = &r.configured;
    let header: Vec<String> = costs
        .iter()
        .map(|(u, _)| scale_sets(u.scale_sets))
        .collect();
    let _ = write!(
        out,
        "## Cost\n\n\
         The whole deployment at the template's defaults: an invocation every {} s, {} s \
         window (gapless: each invocation waits for its predecessor's lease and takes over), \
         {} MB, arm64, us-east-1 list prices, {DAYS_PER_MONTH} days: {:.0} invocations a month. \
         Per invocation, measured on a steady-state idle one (started while its predecessor \
         listened, as each tick is; its AWS calls through the proxy, which counts them): its \
         spawn → exit is the billed duration; its DynamoDB calls, less its predecessor's \
         end-of-window calls that fall in the same span (measured on a warm-up invocation); \
         the bytes of its JSON log lines. One invocation serves every scale set, so Lambda's \
         line does not grow with them. Prices: Lambda ${ARM64_USD_PER_GB_SECOND} per GB-s and \
         ${:.2} per million requests ({LAMBDA_PRICES}); DynamoDB on-demand ${:.3} per million \
         write and ${:.3} per million read request units ({DYNAMODB_PRICES}); CloudWatch Logs \
         ingestion ${USD_PER_LOG_GB:.2} per GB and custom metrics ${USD_PER_METRIC_MONTH:.2} \
         per metric-month ({CLOUDWATCH_PRICES}). Request units: a write 1 unit, a read 1 unit \
         (items under 1 KB, reads under 4 KB), a transaction 2 units per item, ghaec2's \
         transactions holding two items.\n\n\
         | line | {} | rests on |\n|---|{}---|\n",
        c.schedule.as_secs(),
        c.window.as_secs(),
        c.memory_mb,
        first.lambda.invocations,
        USD_PER_REQUEST * 1e6,
        USD_PER_WRU * 1e6,
        USD_PER_RRU * 1e6,
        header.join(" | "),
        "---|".repeat(costs.len()),
    );
    let per = |f: &dyn Fn(&Usage, &DeploymentCost) -> String| {
        costs
            .iter()
            .map(|(u, c)| format!("{}: {}", scale_sets(u.scale_sets), f(u, c)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut row = |line: &str, usd: &dyn Fn(&DeploymentCost) -> f64, rests: String| {
        let cells: Vec<String> = costs
            .iter()
            .map(|(_, c)| format!("${:.2}", usd(c)))
            .collect();
        let _ = writeln!(out, "| {line} | {} | {rests} |", cells.join(" | "));
    };
    row(
        "Lambda compute",
        &|c| c.lambda.compute_usd,
        per(&|u, c| {
            format!(
                "{} billed × {:.0} GB-s a month",
                seconds(u.invocation),
                c.lambda.gb_seconds
            )
        }),
    );
    row(
        "Lambda requests",
        &|c| c.lambda.requests_usd,
        "one request an invocation".to_owned(),
    );
    row(
        "DynamoDB",
        &|c| c.dynamodb_usd,
        per(&|u, _| {
            format!(
                "{} ({:.0} write, {:.0} read units; predecessor's tail taken off: {})",
                calls(&u.dynamodb),
                u.write_units,
                u.read_units,
                calls(&u.predecessor_tail)
            )
        }),
    );
    row(
        "CloudWatch Logs",
        &|c| c.logs_usd,
        per(&|u, c| {
            format!(
                "{} lines, {} bytes an invocation, {:.3} GB a month",
                u.log_lines, u.log_bytes, c.log_gb
            )
        }),
    );
    let all_metrics = metrics(r);
    row(
        "custom metrics",
        &|c| c.metrics_usd,
        format!(
            "{} metrics, each as if published every hour of the month (CloudWatch prorates by \
             the hour): {}{}",
            all_metrics.len(),
            list_or_none(&all_metrics),
            if r.several.is_some() {
                " (the idle invocations' and the several-scale-sets run's, with jobs)"
            } else {
                " (the idle invocations' only: the several-scale-sets run did not run)"
            }
        ),
    );
    let totals: Vec<String> = costs
        .iter()
        .map(|(_, c)| format!("**${:.2}**", c.total_usd()))
        .collect();
    let verdicts: Vec<String> = costs.iter().map(|(_, c)| verdict(c)).collect();
    let _ = writeln!(
        out,
        "| total | {} | {} |",
        totals.join(" | "),
        verdicts.join("; ")
    );
    let worst = costs
        .iter()
        .max_by(|a, b| a.1.total_usd().total_cmp(&b.1.total_usd()))
        .map(|(_, c)| c);
    if let Some(c) = worst.filter(|c| c.total_usd() > GOAL_USD) {
        let idle: Vec<String> = metrics_of(&r.cost);
        let _ = write!(out, "\n{}", over_goal(c, &idle));
    }
    let clean: Vec<String> = costs
        .iter()
        .filter(|(u, _)| !u.clean)
        .map(|(u, _)| scale_sets(u.scale_sets))
        .collect();
    if !clean.is_empty() {
        let _ = write!(
            out,
            "\n**The measured invocation did not listen for every scale set or failed:** {}.\n",
            clean.join(", ")
        );
    }
    out.push_str(
        "\nNot included: the runner instances (the real cost), a NAT gateway if the runners use \
         one, Lambda's own START/END/REPORT log lines, storage of a table of a few kilobytes, \
         and the free tier.\n",
    );
}

/// A total over the goal: its lines, largest first, and what would bring each down.
fn over_goal(c: &DeploymentCost, idle_metrics: &[String]) -> String {
    let mut lines = [
        ("Lambda compute", c.lambda.compute_usd),
        ("custom metrics", c.metrics_usd),
        ("DynamoDB", c.dynamodb_usd),
        ("CloudWatch Logs", c.logs_usd),
    ];
    lines.sort_by(|a, b| b.1.total_cmp(&a.1));
    let listed: Vec<String> = lines
        .iter()
        .map(|(line, usd)| format!("{line} ${usd:.2}"))
        .collect();
    let remedies: Vec<String> = lines
        .iter()
        .map(|(line, _)| match *line {
            "Lambda compute" => "Lambda compute is memory × every second of the month, the \
                price of listening without gaps: only a smaller memory size or a window shorter \
                than the period (a gap) lowers it"
                .to_owned(),
            "custom metrics" => format!(
                "a custom metric costs for every hour in which it is published; an idle \
                 invocation publishes {}, so those are billed all month: not publishing them \
                 from idle invocations (or counting from the log lines instead) leaves only the \
                 hours with jobs",
                list_or_none(idle_metrics)
            ),
            "DynamoDB" => "DynamoDB grows with the scale sets: each takes, saves and releases \
                its own lease every invocation"
                .to_owned(),
            _ => "CloudWatch Logs grows with the lines of each scale set's cycle".to_owned(),
        })
        .collect();
    format!(
        "**Over the goal** by ${:.2} (${:.2} a month). The lines, largest first: {}. {}.\n",
        c.total_usd() - GOAL_USD,
        c.total_usd(),
        listed.join(", "),
        remedies.join("; ")
    )
}
