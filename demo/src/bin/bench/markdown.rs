//! BENCHMARKS.md from [`Results`]. Rendering is pure: the same results give the same report.
//! Every number and every claim about a measurement comes from the results; the fixed prose
//! only says what was measured and how, and the anchors say how they differ (the tests render
//! two runs whose every figure differs and find no fixed fragment with a number in both).

use std::fmt::Write as _;
use std::time::Duration;

use ghaec2_demo::stats::{Distribution, seconds};

use crate::anchors::{self, Anchor};
use crate::gnu_time::mib;
use crate::recoveries::{KINDS, Recoveries};
use crate::report::{Burst, Cold, CpuRuns, Gaps, Latency, PICKUP_BAR, Results, Side, Trickle};
use crate::{markdown_cost, markdown_deployment, markdown_status};

pub fn ms(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        seconds(d)
    }
}

pub fn dist(l: &Latency) -> String {
    distribution(l.dist)
}

/// p50, p95, max and count, or "no samples".
pub fn distribution(d: Option<Distribution>) -> String {
    d.map_or_else(
        || "no samples".to_owned(),
        |d| {
            format!(
                "p50 {} · p95 {} · max {} (n = {})",
                ms(d.p50),
                ms(d.p95),
                ms(d.max),
                d.count
            )
        },
    )
}

pub fn p50(l: &Latency) -> String {
    l.dist
        .map_or_else(|| "no samples".to_owned(), |d| format!("p50 {}", ms(d.p50)))
}

/// The broken pairings of a latency: `missing / out of order`, bold when any.
pub fn broken(l: &Latency) -> String {
    let text = format!("{} / {}", l.missing, l.out_of_order);
    if l.broken() > 0 {
        format!("**{text}**")
    } else {
        text
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn opt_rss(kb: Option<u64>) -> String {
    kb.map_or_else(|| "not reported".to_owned(), mib)
}

fn load(l: Option<f64>) -> String {
    l.map_or_else(|| "unknown".to_owned(), |l| format!("{l:.2}"))
}

fn share(part: Duration, whole: Duration) -> String {
    if whole.is_zero() {
        return "–".to_owned();
    }
    format!(
        "{} ({:.0} %)",
        seconds(part),
        100.0 * part.as_secs_f64() / whole.as_secs_f64()
    )
}

pub fn or_timeout(d: Option<Duration>) -> String {
    d.map_or("not within the timeout".to_owned(), seconds)
}

/// BENCHMARKS.md.
pub fn render(r: &Results) -> String {
    let mut out = String::new();
    header(&mut out, r);
    summary(&mut out, r);
    if let Some(t) = &r.listening {
        listening(&mut out, t);
    }
    if let Some(g) = &r.gaps {
        gaps(&mut out, g);
    }
    if !r.bursts.is_empty() {
        bursts(&mut out, &r.bursts);
    }
    if let Some(c) = &r.cold {
        cold(&mut out, c);
    }
    if let Some(s) = &r.several {
        markdown_deployment::several(&mut out, s, r.listening.as_ref());
    }
    if let Some(c) = &r.cpu {
        markdown_deployment::cpu(&mut out, c, r);
    }
    if let Some(p) = &r.paths {
        crate::path::render(p, &mut out);
    }
    if let Some(s) = &r.status {
        markdown_status::status(&mut out, s);
    }
    recoveries(&mut out, r);
    markdown_cost::cost(&mut out, r);
    out
}

fn header(out: &mut String, r: &Results) {
    let m = &r.machine;
    let _ = write!(
        out,
        "# Benchmarks\n\n\
         Written by `make bench` from the measurements of one run; do not edit by hand, run it \
         again. Every scenario ran on this machine against the local stand-ins: the fake \
         Actions Service (in the bench process) and moto_server for EC2, DynamoDB and SSM. \
         **These are local figures, not Lambda figures**: AWS is moto on the same machine, \
         not EC2 and DynamoDB across a network, and Lambda's CPU share depends on its memory \
         size. Where moto's own time matters it is measured, not assumed (see Bursts). The \
         anchors are published figures of other systems; each says how it differs from what \
         stands beside it. `make bench-check` fails when `src/cycle` or `src/aws` changed after \
         the commit below.\n\n\
         | | |\n|---|---|\n\
         | date | {} |\n\
         | machine | {} × {} ({}), Linux {}; 1-minute load average {} at the start, {} at the end |\n\
         | code | commit `{}` |\n\
         | working tree | {} |\n\
         | toolchain | {}; moto {} |\n\
         | command | `{}` |\n\
         | wall time of the scenarios | {:.0} s |\n\n",
        m.date.format("%Y-%m-%d %H:%M UTC"),
        m.cpus,
        m.cpu_model,
        m.arch,
        m.kernel,
        load(m.load_before),
        load(r.load_after),
        m.commit,
        if m.dirty_files > 0 {
            format!("{} files with uncommitted changes", m.dirty_files)
        } else {
            "clean".to_owned()
        },
        m.rustc,
        m.moto,
        m.argv,
        r.wall.as_secs_f64(),
    );
}

fn summary(out: &mut String, r: &Results) {
    out.push_str(
        "## Summary\n\n| figure | measured | anchor | how they differ | anchor's source |\n\
         |---|---|---|---|---|\n",
    );
    let mut row = |figure: &str, measured: String, anchor: Option<Anchor>| {
        let (a, differs, source) = anchor.map_or((String::new(), "", String::new()), |a| {
            (a.figure.to_owned(), a.differs, a.link())
        });
        let _ = writeln!(
            out,
            "| {figure} | {measured} | {a} | {differs} | {source} |"
        );
    };
    if let Some(t) = &r.listening {
        row(
            "pickup while listening: job queued → instance launched",
            format!("{} ({})", p50(&t.to_launched), verdict(t)),
            Some(anchors::ARC_LISTENER),
        );
        row("", String::new(), Some(anchors::TAGR_DELAY));
    }
    if let Some(g) = &r.gaps {
        row(
            &format!(
                "pickup on the Lambda schedule ({} s period, {} window): queued → launched",
                g.period.as_secs(),
                g.trickle.setup.window.map_or("default".to_owned(), ms)
            ),
            format!(
                "{}; max {}",
                p50(&g.trickle.to_launched),
                g.trickle
                    .to_launched
                    .dist
                    .map_or("–".to_owned(), |d| ms(d.max))
            ),
            Some(anchors::TAGR_DELAY),
        );
    }
    if let Some(t) = &r.listening {
        row(
            "scale-down: job finished → its instance terminated",
            p50(&t.scale_down),
            Some(anchors::TAGR_SCALE_DOWN),
        );
    }
    for b in r.bursts.iter().filter(|b| b.throttling.is_none()) {
        let moto = b.moto.as_ref().map_or(String::new(), |m| {
            format!("; a call in moto during {}", share(m.in_moto, m.span))
        });
        row(
            &format!("burst of {}: all launched", b.jobs),
            format!(
                "{}, {:.2} Actions calls per job{moto}",
                or_timeout(b.all_launched),
                b.calls_per_job()
            ),
            None,
        );
    }
    if let Some(c) = &r.cold {
        row(
            "cold start: spawn → first log line (process up)",
            p50(&c.to_first_log),
            None,
        );
        row(
            "cold start: spawn → GitHub credential read from SSM (what Lambda's init does)",
            p50(&c.to_credential),
            Some(anchors::LAMBDA_INIT),
        );
        row(
            "cold start: spawn → first long poll at the service (ready)",
            p50(&c.to_first_poll),
            None,
        );
        row(
            "peak RSS (`/usr/bin/time -v`), idle `--once`",
            opt_rss(c.peak_rss_kb),
            Some(anchors::LAMBDA_MEMORY),
        );
        row("ghaec2 binary size", mb(c.binary_bytes), None);
    }
    if let Some(max) = r.bursts.iter().filter_map(|b| b.peak_rss_kb).max() {
        row("peak RSS, largest burst", mib(max), None);
    }
    for (figure, measured) in markdown_deployment::summary_rows(r)
        .into_iter()
        .chain(markdown_status::summary_rows(r))
    {
        row(&figure, measured, None);
    }
    out.push('\n');
}

/// The bar, met or not.
fn verdict(t: &Trickle) -> String {
    match t.to_launched.dist {
        Some(d) if d.p50 <= PICKUP_BAR => format!("bar ≤ {}: met", ms(PICKUP_BAR)),
        Some(_) => format!("bar ≤ {}: **not met**, see below", ms(PICKUP_BAR)),
        None => "no samples".to_owned(),
    }
}

pub fn latency_rows(out: &mut String, rows: &[(&str, &Latency)]) {
    out.push_str("| | latency | broken pairings: missing / out of order |\n|---|---|---|\n");
    for (what, l) in rows {
        let _ = writeln!(out, "| {what} | {} | {} |", dist(l), broken(l));
    }
    out.push('\n');
}

const PAIRING: &str = "How launches are matched to jobs: ghaec2 logs launches as counts. With \
    `MIN_RUNNERS` 0, a boot timeout longer than the run and no job finishing during the \
    trickle, each acquired job adds one instance, so the k-th instance launched is paired with \
    the k-th job queued; both timestamps are clock readings on this machine (the fake's queue \
    time, ghaec2's log `time`). A pairing breaks when a job gets no instance (missing) or its \
    instance is logged before it was queued (out of order): broken pairings are counted in \
    their column and left out of the latency, never counted as zero.";

fn listening(out: &mut String, t: &Trickle) {
    let _ = write!(
        out,
        "## Steady trickle while listening\n\n\
         ghaec2 continuous (`ghaec2`, `MIN_RUNNERS` 0, `MAX_RUNNERS` {}), GHES mode (ghaec2 \
         acquires each job itself), the fake holding an empty poll {}. {} jobs arrived over {} \
         at seeded random intervals (Poisson, mean {}).\n\n",
        t.setup.max_runners,
        ms(t.setup.poll_hold),
        t.jobs,
        ms(t.span),
        ms(t.mean_interval),
    );
    latency_rows(
        out,
        &[
            (
                "queued → acquired (`acquirejobs` answered; the fake's timestamps)",
                &t.to_acquired,
            ),
            (
                "queued → instance launched (\"Launched instances.\", CreateFleet returned)",
                &t.to_launched,
            ),
            (
                "queued → runner ready to boot (\"Reconciled.\", JIT config stored)",
                &t.to_ready,
            ),
            ("job finished → its instance terminated", &t.scale_down),
        ],
    );
    let _ = write!(
        out,
        "{PAIRING} Scale-down was timed afterwards by playing the runner of {} instances: read \
         its JIT config from the table as the user-data script does, connect it to the fake \
         (the job starts), complete the job.\n\n**The pickup bar (p50 ≤ {}):** {}\n\n",
        t.scale_down.dist.map_or(0, |d| d.count) + t.scale_down.broken(),
        ms(PICKUP_BAR),
        bar_note(t),
    );
}

/// Why the bar was met or not, from the stage figures.
fn bar_note(t: &Trickle) -> String {
    let (Some(launched), Some(acquired)) = (t.to_launched.dist, t.to_acquired.dist) else {
        return "not measured (no samples).".to_owned();
    };
    let stages = format!(
        "Of the p50 {}, the p50 of queued → acquired is {} (the held poll answers, ghaec2 calls \
         `acquirejobs`); the difference of the two p50s, {}, is the typical acquired → \
         launched (the next poll brings \
         `JobAssigned` and the statistics that count the job, then the reconcile: ledger, \
         DescribeInstances, CreateFleet against moto).",
        ms(launched.p50),
        ms(acquired.p50),
        ms(launched.p50.saturating_sub(acquired.p50))
    );
    if launched.p50 <= PICKUP_BAR {
        format!("met, p50 {}. {stages}", ms(launched.p50))
    } else {
        format!(
            "**not met**, p50 {}. {stages} What would get there: launch on `JobAvailable` \
             (or right after the acquire) instead of waiting for the statistics of the next \
             message, and keep the reconcile's reads (ledger, DescribeInstances) off the \
             launch path.",
            ms(launched.p50)
        )
    }
}

fn gaps(out: &mut String, g: &Gaps) {
    let list = |ds: &[Duration]| {
        ds.iter()
            .map(|d| seconds(*d))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let t = &g.trickle;
    let _ = write!(
        out,
        "## Steady trickle across invocation gaps\n\n\
         `ghaec2 --once` started every {} (the template's `ScheduleExpression`), each on time \
         whether or not the previous one still runs, as EventBridge starts the Lambda, with \
         `DRAIN_WINDOW_SECONDS` {} (its `DrainWindowSeconds`), {} invocations after one warm-up \
         invocation (a deployed function has run before: the scale set and the session exist). \
         {} jobs arrived over the first {} at seeded random intervals (Poisson, mean {}), gaps \
         included; GHES mode, the fake holding an empty poll {}. A job is *in a gap* when it was \
         queued while no invocation was listening (before one's first poll, or after it \
         stopped listening).\n\n",
        ms(g.period),
        t.setup
            .window
            .map_or("default".to_owned(), |w| w.as_secs().to_string()),
        g.invocations.len(),
        t.jobs,
        ms(t.span),
        ms(t.mean_interval),
        ms(t.setup.poll_hold),
    );
    let in_gap = format!(
        "queued in a gap ({} jobs) → launched",
        g.in_gap_to_launched.dist.map_or(0, |d| d.count) + g.in_gap_to_launched.broken()
    );
    latency_rows(
        out,
        &[
            ("queued → acquired", &t.to_acquired),
            ("queued → instance launched", &t.to_launched),
            ("queued → runner ready to boot", &t.to_ready),
            (
                "queued while listening → launched",
                &g.in_window_to_launched,
            ),
            (&in_gap, &g.in_gap_to_launched),
            (
                "hand-over: an invocation stops listening → the next one's first poll",
                &g.gap_lengths,
            ),
        ],
    );
    let _ = write!(
        out,
        "| each invocation | |\n|---|---|\n\
         | spawn → exit | {} |\n\
         | CPU time (user + system) | {} |\n\
         | peak RSS | {} |\n\n",
        list(&g.invocations),
        list(&g.cpu),
        opt_rss(g.peak_rss_kb),
    );
}

fn bursts(out: &mut String, bursts: &[Burst]) {
    let first = &bursts[0].setup;
    let _ = write!(
        out,
        "## Bursts\n\n\
         N jobs queued at once into a listening ghaec2 (continuous, GHES mode, `MAX_RUNNERS` \
         {}, one /20 subnet). ghaec2's AWS calls go through the tests' fault-injecting proxy in \
         front of moto (`testkit/src/aws_proxy.rs`), which forwards DynamoDB calls one at a \
         time: DynamoDB serializes conditional writes per item, moto does not. *All launched* \
         is the time from the first enqueue to the decision record (\"Reconciled.\") that \
         counts N current instances, each with its JIT config stored. Calls are every request \
         answered from the first enqueue until then (the long poll that was waiting included). \
         *Nothing lost* means: every job acquired, and exactly N live instances in EC2 at the \
         end. Recoveries are in their own section below.\n\n\
         | burst | all acquired | all launched | Actions calls | per job | AWS calls | per job | jobs acquired / live instances / launched | nothing lost | timings out of order | peak RSS | CPU |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        first.max_runners,
    );
    for b in bursts {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {} | {:.2} | {} / {} / {} | {} | {} | {} | {} |",
            b.label,
            b.all_acquired.map_or("–".to_owned(), seconds),
            or_timeout(b.all_launched),
            b.calls,
            b.calls_per_job(),
            b.aws_calls,
            b.aws_calls as f64 / f64::from(b.jobs.max(1)),
            b.acquired,
            b.instances,
            b.launches,
            if b.nothing_lost() { "yes" } else { "**no**" },
            if b.out_of_order > 0 {
                format!("**{}**", b.out_of_order)
            } else {
                "0".to_owned()
            },
            opt_rss(b.peak_rss_kb),
            b.cpu.map_or("–".to_owned(), seconds),
        );
    }
    out.push_str("\nCalls by endpoint:\n\n");
    for b in bursts {
        let _ = writeln!(out, "- {}: {}", b.label, b.breakdown);
    }
    moto_share(out, bursts);
    for b in bursts {
        throttling(out, b);
    }
    if !bursts
        .iter()
        .any(|b| b.throttling.as_ref().is_some_and(|t| t.side == Side::Aws))
    {
        out.push_str("AWS-side throttling was not measured in this run.\n\n");
    }
}

/// How much of each burst was moto's, from the proxy's timings.
fn moto_share(out: &mut String, bursts: &[Burst]) {
    out.push_str(
        "\nHow much of each burst was moto's, from the proxy's timing of every AWS call \
         ghaec2 made between the first enqueue and all launched: the time during which moto \
         was answering at least one call, the time during which at least one call was \
         outstanding (the proxy's DynamoDB queue included), and ghaec2's CPU time (its whole \
         run). Per action: the calls, moto's total answer time, and its p50 over the first and \
         the last quarter of the calls.\n\n\
         | burst | first enqueue → all launched | moto answering | a call outstanding | ghaec2's CPU | slowest actions in moto |\n\
         |---|---|---|---|---|---|\n",
    );
    for b in bursts {
        let Some(m) = &b.moto else {
            let _ = writeln!(out, "| {} | not measured | | | | |", b.label);
            continue;
        };
        let actions: Vec<String> = m
            .by_action
            .iter()
            .take(3)
            .map(|a| {
                let quarters = match (a.first_quarter, a.last_quarter) {
                    (Some(f), Some(l)) => format!(", p50 {} → {}", ms(f.p50), ms(l.p50)),
                    _ => String::new(),
                };
                format!(
                    "{} × {}: {}{quarters}",
                    a.action,
                    a.calls,
                    seconds(a.in_moto)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            b.label,
            seconds(m.span),
            share(m.in_moto, m.span),
            share(m.waiting_on_aws, m.span),
            b.cpu.map_or("–".to_owned(), seconds),
            actions.join("; "),
        );
    }
    out.push('\n');
}

fn throttling(out: &mut String, b: &Burst) {
    let Some(t) = &b.throttling else { return };
    let waited = match t.shortest_wait {
        Some((waited, asked)) => format!(
            " The shortest time from a 429 to the next call to its endpoint: {} (Retry-After \
             asked {}).",
            ms(waited),
            ms(asked)
        ),
        None if t.side == Side::Actions => " No call followed a 429 to its endpoint.".to_owned(),
        None => String::new(),
    };
    let _ = write!(
        out,
        "**{}.** Injected just before the burst: {}. {} throttled answers were given.{waited} \
         Every job acquired with exactly one live instance: {}. All launched {} after the \
         first enqueue.\n\n",
        b.label,
        t.injected,
        t.throttled_answers,
        if b.nothing_lost() { "yes" } else { "**no**" },
        or_timeout(b.all_launched),
    );
}

fn cold(out: &mut String, c: &Cold) {
    let _ = write!(
        out,
        "## Cold start\n\n\
         {} fresh `ghaec2 --once` processes with a {} window, one after the other, each timed \
         from just before the spawn. As the template deploys it, the GitHub credential is an \
         SSM parameter (`GITHUB_TOKEN_SSM_PARAMETER`), read at start; AWS calls go through the \
         proxy, which times them. The first log line means the process is up (runtime, \
         logging, configuration); SSM's answer ends what Lambda's init would do; \"Starting \
         Actions Service message polling\" comes after the registration token, the admin \
         connection, the scale set, the lease and the session; the first long poll reaching \
         the fake is *ready*. The fake answered empty polls after {}.\n\n",
        c.runs,
        ms(c.setup.window.unwrap_or_default()),
        ms(c.setup.poll_hold),
    );
    latency_rows(
        out,
        &[
            ("spawn → first log line", &c.to_first_log),
            ("spawn → SSM answered the credential", &c.to_credential),
            (
                "spawn → \"Starting Actions Service message polling\"",
                &c.to_polling,
            ),
            (
                "spawn → first long poll at the service (ready)",
                &c.to_first_poll,
            ),
            ("spawn → exit, empty `--once`", &c.once_exit),
        ],
    );
    let calls: Vec<String> = c
        .calls_before_ready
        .iter()
        .map(|(call, n)| format!("{call} {n}"))
        .collect();
    let _ = write!(
        out,
        "| | |\n|---|---|\n\
         | AWS calls from spawn to ready, all runs | {} |\n\
         | moto answering, of spawn → ready summed over the runs | {} |\n\
         | CPU time (user + system) of an empty `--once` | {} |\n\
         | peak RSS (`/usr/bin/time -v`) | {} |\n\
         | ghaec2 binary size | {} ({} bytes) |\n\n",
        if calls.is_empty() {
            "none".to_owned()
        } else {
            calls.join(", ")
        },
        share(c.moto_before_ready, c.before_ready),
        c.cpu.map_or("no samples".to_owned(), |d| {
            format!("p50 {} · max {} (n = {})", ms(d.p50), ms(d.max), d.count)
        }),
        opt_rss(c.peak_rss_kb),
        mb(c.binary_bytes),
        c.binary_bytes,
    );
}

fn recoveries(out: &mut String, r: &Results) {
    let mut rows: Vec<(String, &Recoveries)> = Vec::new();
    if let Some(t) = &r.listening {
        rows.push(("steady trickle while listening".to_owned(), &t.recoveries));
    }
    if let Some(g) = &r.gaps {
        rows.push(("across invocation gaps".to_owned(), &g.trickle.recoveries));
    }
    for b in &r.bursts {
        rows.push((format!("burst: {}", b.label), &b.recoveries));
    }
    if let Some(c) = &r.cold {
        rows.push(("cold start".to_owned(), &c.recoveries));
    }
    if let Some(s) = &r.several {
        rows.push(("several scale sets".to_owned(), &s.recoveries));
    }
    if let Some(CpuRuns::Measured(shares)) = &r.cpu {
        for s in shares {
            let label = format!(
                "burst of {} at {} MB's CPU share",
                s.burst.jobs, s.memory_mb
            );
            rows.push((label, &s.burst.recoveries));
        }
    }
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "## Recoveries\n\n\
         Counted in every scenario from ghaec2's log lines by message, and from the answers \
         the fake and the proxy gave: Actions Service answers 429 or 5xx, AWS answers 5xx or \
         injected by the proxy (each one retried by a client, the SDK or ghaec2). *Other \
         warnings* lists every other WARN or ERROR line by message, so that none goes \
         uncounted.\n\n| scenario |",
    );
    for kind in KINDS {
        let _ = write!(out, " {} |", kind.label);
    }
    out.push_str(" Actions 429/5xx answers | AWS error answers | other warnings |\n|---|");
    out.push_str(&"---|".repeat(KINDS.len() + 3));
    out.push('\n');
    for (scenario, rec) in rows {
        let _ = write!(out, "| {scenario} |");
        for n in rec.by_kind {
            let _ = write!(out, " {n} |");
        }
        let other: Vec<String> = rec
            .other
            .iter()
            .map(|(msg, n)| format!("{msg} × {n}"))
            .collect();
        let _ = writeln!(
            out,
            " {} | {} | {} |",
            rec.actions_errors,
            rec.aws_errors
                .map_or("not through the proxy".to_owned(), |n| n.to_string()),
            if other.is_empty() {
                "none".to_owned()
            } else {
                other.join("; ")
            },
        );
    }
    out.push('\n');
}

#[cfg(test)]
#[path = "markdown_tests.rs"]
mod tests;
