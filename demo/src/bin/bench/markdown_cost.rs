//! BENCHMARKS.md's Cost section, from [`Results`]: the whole deployment's month for 1 and
//! several scale sets at the template's defaults, each line with what it rests on. Pure, like
//! [`crate::markdown`].

use std::fmt::Write as _;

use ghaec2_demo::cost::{
    ARM64_USD_PER_GB_SECOND, CLOUDWATCH_PRICES, DAYS_PER_MONTH, DYNAMODB_PRICES, DeploymentCost,
    InvocationUsage, LAMBDA_PRICES, USD_PER_LOG_GB, USD_PER_METRIC_MONTH, USD_PER_REQUEST,
    USD_PER_RRU, USD_PER_WRU,
};
use ghaec2_demo::stats::seconds;

use crate::markdown_deployment::{list_or_none, scale_sets};
use crate::report::{Results, Usage};

/// The cost goal of a whole deployment, USD per month.
pub const GOAL_USD: f64 = 5.0;

/// The cost of each measured deployment at the template's defaults.
pub fn costs(r: &Results) -> Vec<(&Usage, DeploymentCost)> {
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

pub fn verdict(c: &DeploymentCost) -> String {
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
            "the metrics CloudWatch published (METRICS at its default: the failures and spot \
             interruptions, written only when they happen), each billed as if published every \
             hour of the month (CloudWatch prorates by the hour): {}{}",
            list_or_none(&all_metrics),
            if r.several.is_some() {
                " (in the idle invocations and the several-scale-sets run, with jobs)"
            } else {
                " (in the idle invocations only: the several-scale-sets run did not run)"
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
                "a custom metric costs for every hour in which it is published; the idle \
                 invocations published {}: METRICS chooses which are",
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
