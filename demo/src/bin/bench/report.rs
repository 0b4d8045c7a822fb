//! The results of a bench run and their markdown. Rendering is pure: the same results give
//! the same BENCHMARKS.md, and every figure in it comes from [`Results`].

use std::fmt::Write as _;
use std::time::Duration;

use ghaec2_demo::cost::LambdaCost;
use ghaec2_demo::stats::{Distribution, seconds};

use crate::gnu_time::mib;
use crate::machine::Machine;

/// The pickup bar of issue 5: p50 queued → launched while listening.
pub const PICKUP_BAR: Duration = Duration::from_millis(500);

/// Published figures the measurements stand beside.
pub mod anchors {
    pub const LAMBDA_PERF: &str = "https://maxday.github.io/lambda-perf/";
    pub const RUST_ARM64_INIT: &str = "≈ 15 ms";
    pub const RUST_ARM64_MEMORY: &str = "≈ 15 MB";
    pub const NODE24_INIT: &str = "≈ 116–121 ms";
    pub const NODE24_MEMORY: &str = "≈ 75–79 MB";
    pub const TAGR: &str =
        "https://github.com/github-aws-runners/terraform-aws-github-runner/blob/main/variables.tf";
    pub const TAGR_DELAY: &str = "`delay_webhook_event` default 30 s: the webhook's SQS message stays invisible 30 s before scale-up sees it";
    pub const TAGR_SCALE_DOWN: &str = "`scale_down_schedule_expression` default `cron(*/5 * * * ? *)`: idle runners are looked for every 5 minutes";
    pub const ARC: &str = "https://github.com/actions/actions-runner-controller";
    pub const ARC_LISTENER: &str = "real-time: its listener long-polls the same message queue, in a pod that is always on (one per scale set)";
}

/// What the deployment template configures, read from template.yaml's parameter defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Configured {
    /// `ScheduleExpression` (a `rate(…)`).
    pub schedule: Duration,
    /// `DrainWindowSeconds`.
    pub window: Duration,
    /// `FunctionMemorySize`.
    pub memory_mb: u32,
}

impl Configured {
    pub fn from_template(yaml: &str) -> Result<Self, String> {
        let schedule = default_of(yaml, "ScheduleExpression")?;
        Ok(Self {
            schedule: rate(&schedule)
                .ok_or(format!("ScheduleExpression {schedule} is not a rate(…)"))?,
            window: Duration::from_secs(number(yaml, "DrainWindowSeconds")?),
            memory_mb: u32::try_from(number(yaml, "FunctionMemorySize")?)
                .map_err(|e| e.to_string())?,
        })
    }
}

/// The `Default:` of a top-level template parameter (`  Name:` then `    Default: v`).
fn default_of(yaml: &str, parameter: &str) -> Result<String, String> {
    let header = format!("  {parameter}:");
    let mut lines = yaml.lines().skip_while(|l| l.trim_end() != header);
    lines
        .next()
        .ok_or(format!("template.yaml has no parameter {parameter}"))?;
    lines
        .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
        .find_map(|l| l.trim().strip_prefix("Default:"))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .ok_or(format!("parameter {parameter} has no Default"))
}

fn number(yaml: &str, parameter: &str) -> Result<u64, String> {
    let v = default_of(yaml, parameter)?;
    v.parse()
        .map_err(|_| format!("{parameter} default {v} is not a number"))
}

/// `rate(1 minute)`, `rate(5 minutes)`, `rate(2 hours)`.
fn rate(expression: &str) -> Option<Duration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let unit_secs = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n * unit_secs))
}

/// One steady trickle.
#[derive(Debug, Clone, PartialEq)]
pub struct Trickle {
    pub jobs: usize,
    pub mean_interval: Duration,
    pub span: Duration,
    /// Queued → acquired (`acquirejobs`), the fake's timestamps.
    pub to_acquired: Option<Distribution>,
    /// Queued → CreateFleet returned ("Launched instances.").
    pub to_launched: Option<Distribution>,
    /// Queued → decision record after the runner's JIT config was stored ("Reconciled.").
    pub to_ready: Option<Distribution>,
    pub not_launched: usize,
    /// Launches logged before their FIFO partner was queued (should be 0).
    pub pairing_broken: usize,
    /// Job finished → its instance terminated.
    pub scale_down: Option<Distribution>,
}

/// The trickle across invocation gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaps {
    pub trickle: Trickle,
    pub window: Duration,
    pub period: Duration,
    /// Spawn → exit of each `--once`.
    pub invocations: Vec<Duration>,
    /// Jobs queued while no invocation was listening.
    pub in_gap: usize,
    pub in_gap_to_launched: Option<Distribution>,
    pub peak_rss_kb: Option<u64>,
    pub cpu: Vec<Duration>,
}

/// Which side throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The fake Actions Service (429 + Retry-After).
    Actions,
    /// AWS, through the proxy in front of moto.
    Aws,
}

/// Throttling injected into a burst, and what ghaec2 did about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttling {
    pub side: Side,
    pub injected: String,
    /// Throttled answers given (each one retried by ghaec2 or its SDK).
    pub throttled_answers: usize,
}

/// One burst.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    pub label: String,
    pub jobs: u32,
    /// First enqueue → the decision record that counted every job's instance.
    pub all_launched: Option<Duration>,
    /// First enqueue → the last job acquired.
    pub all_acquired: Option<Duration>,
    /// First enqueue → k instances current, for k = 100, 200, … below N.
    pub milestones: Vec<(u32, Duration)>,
    /// Actions Service calls answered from the first enqueue until all were launched.
    pub calls: usize,
    /// AWS calls (through the proxy) in the same span.
    pub aws_calls: usize,
    pub breakdown: String,
    /// Jobs acquired, instances live in EC2, instances launched (CreateFleet) at the end.
    pub acquired: usize,
    pub instances: usize,
    pub launches: u32,
    pub throttling: Option<Throttling>,
    /// "Transient failure; retrying." (a whole message handling retried).
    pub cycle_retries: usize,
    /// "Runner set-up failed; removing it." (instance removed, launched again later).
    pub setup_failures: usize,
    /// ghaec2 errors that were moto answering HTTP 500.
    pub aws_500s: usize,
    pub peak_rss_kb: Option<u64>,
    pub cpu: Option<Duration>,
}

impl Burst {
    pub fn calls_per_job(&self) -> f64 {
        self.calls as f64 / f64::from(self.jobs.max(1))
    }

    /// Every job acquired and given exactly one live instance.
    pub fn nothing_lost(&self) -> bool {
        let n = self.jobs as usize;
        self.acquired == n && self.instances == n
    }
}

/// Cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct Cold {
    pub runs: usize,
    pub window: Duration,
    pub to_first_log: Distribution,
    pub to_polling: Distribution,
    pub to_first_poll: Distribution,
    pub once_exit: Distribution,
    pub binary_bytes: u64,
    pub peak_rss_kb: Option<u64>,
    pub cpu: Option<Distribution>,
}

/// Monthly cost at the measured `--once` duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub measured: Duration,
    pub lambda: LambdaCost,
}

/// Everything one bench run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    pub machine: Machine,
    pub configured: Configured,
    pub listening: Option<Trickle>,
    pub gaps: Option<Gaps>,
    pub bursts: Vec<Burst>,
    pub cold: Option<Cold>,
    pub cost: Option<Cost>,
    pub wall: Duration,
}

fn ms(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        seconds(d)
    }
}

fn dist(d: Option<&Distribution>) -> String {
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

fn p50(d: Option<&Distribution>) -> String {
    d.map_or_else(|| "no samples".to_owned(), |d| format!("p50 {}", ms(d.p50)))
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn opt_rss(kb: Option<u64>) -> String {
    kb.map_or_else(|| "not reported".to_owned(), mib)
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
        gaps(&mut out, g, r.cost.as_ref(), &r.configured);
    }
    if !r.bursts.is_empty() {
        bursts(&mut out, &r.bursts);
    }
    if let Some(c) = &r.cold {
        cold(&mut out, c);
    }
    if let Some(c) = &r.cost {
        cost(&mut out, c, &r.configured);
    }
    out
}

fn header(out: &mut String, r: &Results) {
    let m = &r.machine;
    let _ = write!(
        out,
        "# Benchmarks\n\n\
         Written by `make bench` from the measurements of one run; do not edit by hand, run it \
         again. Every scenario ran on this machine against the local stand-ins: the fake \
         Actions Service (in the bench process) and moto_server for EC2 and DynamoDB. \
         **These are local figures, not Lambda figures**: moto answers in milliseconds where \
         EC2's CreateFleet takes about a second, there is no network between the parts, and \
         Lambda's CPU share depends on its memory size. They show what ghaec2 itself adds; \
         the anchors beside them are published figures of other systems.\n\n\
         | | |\n|---|---|\n\
         | date | {} |\n\
         | machine | {} × {} ({}), Linux {} — shared with other work while measuring |\n\
         | code | commit `{}`{} |\n\
         | toolchain | {}; moto {} |\n\
         | command | `make bench` (the release build; it ran `{}`) |\n\
         | wall time of the scenarios | {:.0} s |\n\n",
        m.date.format("%Y-%m-%d %H:%M UTC"),
        m.cpus,
        m.cpu_model,
        m.arch,
        m.kernel,
        m.commit,
        if m.dirty_files > 0 {
            format!(
                " ({} files of other work uncommitted in the working tree)",
                m.dirty_files
            )
        } else {
            String::new()
        },
        m.rustc,
        m.moto,
        m.argv,
        r.wall.as_secs_f64(),
    );
}

fn summary(out: &mut String, r: &Results) {
    out.push_str(
        "## Summary\n\n| figure | measured | anchor | anchor's source |\n|---|---|---|---|\n",
    );
    let tagr = format!("[terraform-aws-github-runner]({})", anchors::TAGR);
    let perf = format!("[lambda-perf]({})", anchors::LAMBDA_PERF);
    let arc = format!("[actions-runner-controller]({})", anchors::ARC);
    let mut row = |figure: &str, measured: String, anchor: &str, source: &str| {
        let _ = writeln!(out, "| {figure} | {measured} | {anchor} | {source} |");
    };
    if let Some(t) = &r.listening {
        row(
            "pickup while listening: job queued → instance launched",
            format!("{} ({})", p50(t.to_launched.as_ref()), verdict(t)),
            anchors::TAGR_DELAY,
            &tagr,
        );
        row("", String::new(), anchors::ARC_LISTENER, &arc);
    }
    if let Some(g) = &r.gaps {
        row(
            &format!(
                "pickup on the Lambda schedule ({} s period, {} s window): queued → launched",
                g.period.as_secs(),
                g.window.as_secs()
            ),
            format!(
                "{}; max {}",
                p50(g.trickle.to_launched.as_ref()),
                g.trickle.to_launched.map_or("–".to_owned(), |d| ms(d.max))
            ),
            anchors::TAGR_DELAY,
            &tagr,
        );
    }
    if let Some(t) = &r.listening {
        row(
            "scale-down: job finished → its instance terminated",
            p50(t.scale_down.as_ref()),
            anchors::TAGR_SCALE_DOWN,
            &tagr,
        );
    }
    for b in r.bursts.iter().filter(|b| b.throttling.is_none()) {
        row(
            &format!("burst of {}: all launched", b.jobs),
            format!(
                "{}, {:.2} Actions calls per job",
                b.all_launched
                    .map_or("not within the timeout".to_owned(), seconds),
                b.calls_per_job()
            ),
            "",
            "",
        );
    }
    if let Some(c) = &r.cold {
        row(
            "cold start: spawn → first log line (process up)",
            p50(Some(&c.to_first_log)),
            &format!(
                "Lambda init, hello world: Rust arm64 {}, Node.js 24 {}",
                anchors::RUST_ARM64_INIT,
                anchors::NODE24_INIT
            ),
            &perf,
        );
        row(
            "cold start: spawn → first long poll at the service (ready)",
            p50(Some(&c.to_first_poll)),
            "",
            "",
        );
        row(
            "peak RSS (`/usr/bin/time -v`), idle `--once`",
            opt_rss(c.peak_rss_kb),
            &format!(
                "Lambda memory used, hello world: Rust arm64 {}, Node.js 24 {}",
                anchors::RUST_ARM64_MEMORY,
                anchors::NODE24_MEMORY
            ),
            &perf,
        );
        row("release binary size", mb(c.binary_bytes), "", "");
    }
    if let Some(max) = r.bursts.iter().filter_map(|b| b.peak_rss_kb).max() {
        row("peak RSS, largest burst", mib(max), "", "");
    }
    if let Some(c) = &r.cost {
        row(
            &format!(
                "Lambda cost per scale set per month ({} MB, {} s window)",
                r.configured.memory_mb,
                r.configured.window.as_secs()
            ),
            format!("${:.2}", c.lambda.total_usd()),
            "",
            "",
        );
    }
    out.push('\n');
}

/// The bar, met or not.
fn verdict(t: &Trickle) -> String {
    match t.to_launched {
        Some(d) if d.p50 <= PICKUP_BAR => format!("bar ≤ {}: met", ms(PICKUP_BAR)),
        Some(_) => format!("bar ≤ {}: **not met**, see below", ms(PICKUP_BAR)),
        None => "no samples".to_owned(),
    }
}

fn listening(out: &mut String, t: &Trickle) {
    let _ = write!(
        out,
        "## Steady trickle while listening\n\n\
         ghaec2 continuous (`ghaec2`, `DRAIN_WINDOW_SECONDS` 50, `MIN_RUNNERS` 0), GHES mode \
         (ghaec2 acquires each job itself), the fake holding an empty poll 50 s like the real \
         service. {} jobs arrived over {} s at seeded random intervals (Poisson, mean {}).\n\n\
         | stage | latency |\n|---|---|\n\
         | queued → acquired (`acquirejobs` answered; the fake's timestamps) | {} |\n\
         | queued → instance launched (ghaec2's \"Launched instances.\", CreateFleet returned) | {} |\n\
         | queued → runner ready to boot (\"Reconciled.\", JIT config stored) | {} |\n\
         | job finished → its instance terminated (scale-down) | {} |\n\n\
         How launches are matched to jobs: ghaec2 logs launches as counts. With `MIN_RUNNERS` 0, \
         a boot timeout longer than the run and no job finishing during the trickle, each \
         acquired job adds exactly one instance, so the k-th instance launched is paired with \
         the k-th job queued; both timestamps are nanosecond clock readings on this machine \
         (the fake's queue time, ghaec2's log `time`). Jobs without an instance: {}; launches \
         logged before their job (pairing broken): {}. Scale-down was timed afterwards by \
         playing the runner of {} instances: read its JIT config from the table as the \
         user-data script does, connect it to the fake (the job starts), complete the job.\n\n",
        t.jobs,
        t.span.as_secs(),
        ms(t.mean_interval),
        dist(t.to_acquired.as_ref()),
        dist(t.to_launched.as_ref()),
        dist(t.to_ready.as_ref()),
        dist(t.scale_down.as_ref()),
        t.not_launched,
        t.pairing_broken,
        t.scale_down.map_or(0, |d| d.count),
    );
    let _ = write!(out, "**The pickup bar (p50 ≤ {}):** ", ms(PICKUP_BAR));
    out.push_str(&bar_note(t));
    out.push_str("\n\n");
}

/// Why the bar was met or not, from the stage figures.
fn bar_note(t: &Trickle) -> String {
    let (Some(launched), Some(acquired)) = (t.to_launched, t.to_acquired) else {
        return "not measured (no samples).".to_owned();
    };
    let after_acquire = launched.p50.saturating_sub(acquired.p50);
    let stages = format!(
        "Of the p50 {}, about {} is queued → acquired (the held poll answers, ghaec2 calls \
         `acquirejobs`) and about {} acquired → launched (the next poll brings `JobAssigned` \
         and the statistics that count the job, then the reconcile: ledger, DescribeInstances, \
         CreateFleet).",
        ms(launched.p50),
        ms(acquired.p50),
        ms(after_acquire)
    );
    if launched.p50 <= PICKUP_BAR {
        format!(
            "met, p50 {}. {stages} Against real EC2, CreateFleet alone takes on the order of a \
             second, which this local figure does not include.",
            ms(launched.p50)
        )
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

fn gaps(out: &mut String, g: &Gaps, cost: Option<&Cost>, configured: &Configured) {
    let invocations: Vec<String> = g.invocations.iter().map(|d| seconds(*d)).collect();
    let cpu: Vec<String> = g.cpu.iter().map(|d| seconds(*d)).collect();
    let _ = write!(
        out,
        "## Steady trickle across invocation gaps\n\n\
         `ghaec2 --once` started every {} s (the template's `ScheduleExpression`) with \
         `DRAIN_WINDOW_SECONDS` {} (its `DrainWindowSeconds`), {} invocations after one warm-up \
         invocation (a deployed function has run before: the scale set and the session exist). \
         {} jobs arrived over the first {} s at seeded random intervals (Poisson, mean {}), \
         gaps included; GHES mode, 50 s poll hold.\n\n\
         | | |\n|---|---|\n\
         | queued → acquired | {} |\n\
         | queued → instance launched | {} |\n\
         | queued → runner ready to boot | {} |\n\
         | jobs queued while no invocation was listening | {} |\n\
         | … their queued → launched | {} |\n\
         | each invocation, spawn → exit | {} |\n\
         | CPU time per invocation (user + system) | {} |\n\
         | peak RSS of an invocation | {} |\n\n\
         A job queued while an invocation listens is picked up as fast as in continuous mode; \
         one queued in the gap between two windows (after one invocation stopped polling, \
         before the next one's first poll) waits for the next invocation: at most the gap plus \
         its start-up. Jobs without an instance: {}.\n\n",
        g.period.as_secs(),
        g.window.as_secs(),
        g.invocations.len(),
        g.trickle.jobs,
        g.trickle.span.as_secs(),
        ms(g.trickle.mean_interval),
        dist(g.trickle.to_acquired.as_ref()),
        dist(g.trickle.to_launched.as_ref()),
        dist(g.trickle.to_ready.as_ref()),
        g.in_gap,
        dist(g.in_gap_to_launched.as_ref()),
        invocations.join(", "),
        cpu.join(", "),
        opt_rss(g.peak_rss_kb),
        g.trickle.not_launched,
    );
    let _ = (cost, configured);
}

fn bursts(out: &mut String, bursts: &[Burst]) {
    out.push_str(
        "## Bursts\n\n\
         N jobs queued at once into a listening ghaec2 (continuous, GHES mode, `MAX_RUNNERS` \
         1000, one /20 subnet). ghaec2's AWS calls go through the tests' fault-injecting \
         proxy in front of moto (`testkit/src/aws_proxy.rs`), which forwards DynamoDB calls \
         one at a time: moto's threaded server otherwise answers concurrent TransactWriteItems \
         on one table with HTTP 500 (it deep-copies the table while another request changes \
         it), which real DynamoDB does not do. *All launched* is the time from the first \
         enqueue to the decision record (\"Reconciled.\") that counts N current instances, \
         each with its JIT config stored. Calls are every request answered from the first \
         enqueue until then (the long poll that was waiting included). *Nothing lost* means: \
         every job acquired, and exactly N live instances in EC2 at the end. *Recoveries* are \
         ghaec2's own: messages handled again after a transient failure, and runner set-ups \
         undone (instance terminated, launched again at the next reconcile).\n\n\
         | burst | all acquired | all launched | Actions calls | per job | AWS calls | per job | jobs acquired / live instances / launched | nothing lost | recoveries: message retries / set-ups undone | peak RSS | CPU |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for b in bursts {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {} | {:.2} | {} / {} / {} | {} | {} / {} | {} | {} |",
            b.label,
            b.all_acquired.map_or("–".to_owned(), seconds),
            b.all_launched
                .map_or("not within the timeout".to_owned(), seconds),
            b.calls,
            b.calls_per_job(),
            b.aws_calls,
            b.aws_calls as f64 / f64::from(b.jobs.max(1)),
            b.acquired,
            b.instances,
            b.launches,
            if b.nothing_lost() { "yes" } else { "**no**" },
            b.cycle_retries,
            b.setup_failures,
            opt_rss(b.peak_rss_kb),
            b.cpu.map_or("–".to_owned(), seconds),
        );
    }
    out.push_str("\nCalls by endpoint:\n\n");
    for b in bursts {
        let _ = writeln!(out, "- {}: {}", b.label, b.breakdown);
    }
    out.push('\n');
    for b in bursts.iter().filter(|b| !b.milestones.is_empty()) {
        let steps: Vec<String> = b
            .milestones
            .iter()
            .map(|(k, d)| format!("{k} at {}", seconds(*d)))
            .chain(
                b.all_launched
                    .map(|d| format!("{} at {}", b.jobs, seconds(d))),
            )
            .collect();
        let _ = write!(
            out,
            "**{}**: {}. ghaec2 used {} of CPU in all; the rest of the time it waited on \
             moto. Each message's jobs are acquired, launched, persisted and acknowledged \
             before the next poll, so acquisition follows the launches. moto's \
             TransactWriteItems copies the whole table on every write, so each batch costs \
             more as the ledger grows: a property of the stand-in, not of DynamoDB.\n\n",
            b.label,
            steps.join(", "),
            b.cpu.map_or("–".to_owned(), seconds),
        );
    }
    let moto: usize = bursts.iter().map(|b| b.aws_500s).sum();
    if moto > 0 {
        let _ = write!(
            out,
            "moto still answered HTTP 500 {moto} times during the bursts (ghaec2's errors say \
             \"HTTP 500 without an error code\"); the recoveries above include ghaec2 riding \
             those out.\n\n"
        );
    }
    for b in bursts {
        let Some(t) = &b.throttling else { continue };
        let how = match t.side {
            Side::Actions => "ghaec2's Actions Service client waited out each Retry-After and \
                              retried"
                .to_owned(),
            Side::Aws => "the AWS SDK's standard retries (3 attempts) absorbed what they \
                          could, and ghaec2 retried the rest at its own level (the recoveries in \
                          the table)"
                .to_owned(),
        };
        let _ = write!(
            out,
            "**{}.** Injected just before the burst: {}. {} throttled answers were given; {how}. \
             Every job acquired with exactly one live instance: {}. All launched {} after the \
             first enqueue.\n\n",
            b.label,
            t.injected,
            t.throttled_answers,
            if b.nothing_lost() { "yes" } else { "**no**" },
            b.all_launched
                .map_or("not within the timeout".to_owned(), seconds),
        );
    }
    if !bursts
        .iter()
        .any(|b| b.throttling.as_ref().is_some_and(|t| t.side == Side::Aws))
    {
        out.push_str("AWS-side throttling was not measured in this run.\n\n");
    }
}

fn cold(out: &mut String, c: &Cold) {
    let _ = write!(
        out,
        "## Cold start\n\n\
         {} fresh `ghaec2 --once` processes with a {} s window, one after the other, each \
         timed from just before the spawn. The first log line means the process is up \
         (runtime, logging, configuration); \"Starting Actions Service message polling\" \
         comes after the registration token, the admin connection, the scale set, the lease \
         and the session; the first long poll reaching the fake is *ready*. The fake answered \
         empty polls after 200 ms here.\n\n\
         | | |\n|---|---|\n\
         | spawn → first log line | {} |\n\
         | spawn → \"Starting Actions Service message polling\" | {} |\n\
         | spawn → first long poll at the service (ready) | {} |\n\
         | spawn → exit, empty `--once`, {} s window | {} |\n\
         | CPU time (user + system) of an empty `--once` | {} |\n\
         | peak RSS (`/usr/bin/time -v`) | {} |\n\
         | release binary size | {} ({} bytes) |\n\n\
         Anchors ([lambda-perf]({})): Lambda init of a hello-world function, Rust on arm64 \
         {} using {}, Node.js 24 {} using {}. The process-start figure is the comparable one; \
         the rest of ghaec2's start talks to GitHub and DynamoDB, which a hello world does not.\n\n",
        c.runs,
        c.window.as_secs(),
        dist(Some(&c.to_first_log)),
        dist(Some(&c.to_polling)),
        dist(Some(&c.to_first_poll)),
        c.window.as_secs(),
        dist(Some(&c.once_exit)),
        dist(c.cpu.as_ref()),
        opt_rss(c.peak_rss_kb),
        mb(c.binary_bytes),
        c.binary_bytes,
        anchors::LAMBDA_PERF,
        anchors::RUST_ARM64_INIT,
        anchors::RUST_ARM64_MEMORY,
        anchors::NODE24_INIT,
        anchors::NODE24_MEMORY,
    );
}

fn cost(out: &mut String, c: &Cost, configured: &Configured) {
    let _ = write!(
        out,
        "## Cost\n\n\
         One scale set, the template's defaults: an invocation every {} s, {} s window, \
         {} MB. Billed duration = the measured spawn → exit of a `--once` with that window \
         (p50 of the invocations above): {}. Lambda arm64 list prices (us-east-1): \
         {:.0} invocations × {} × {:.2} GB = {:.0} GB-s = ${:.2} compute + ${:.2} requests = \
         **${:.2} per month** (30 days). Against a real GitHub the window is spent the same way \
         (long-polling), so the duration carries over; TLS and App-key signing add CPU, not \
         billed time to speak of.\n\n\
         Anchors: terraform-aws-github-runner runs Lambdas per webhook and a scale-down \
         Lambda every 5 minutes, plus API Gateway and SQS; actions-runner-controller needs a \
         Kubernetes cluster with an always-on listener pod per scale set.\n",
        configured.schedule.as_secs(),
        configured.window.as_secs(),
        configured.memory_mb,
        seconds(c.measured),
        c.lambda.invocations,
        seconds(c.measured),
        f64::from(configured.memory_mb) / 1024.0,
        c.lambda.gb_seconds,
        c.lambda.compute_usd,
        c.lambda.requests_usd,
        c.lambda.total_usd(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "Parameters:\n  ScheduleExpression:\n    Type: String\n    Default: rate(1 minute)\n    Description: x\n  DrainWindowSeconds:\n    Type: Number\n    Default: 50\n  FunctionMemorySize:\n    Type: Number\n    # a comment\n    Default: 256\n";

    #[test]
    fn configuration_from_the_template() {
        let c = Configured::from_template(TEMPLATE).unwrap();
        assert_eq!(c.schedule, Duration::from_secs(60));
        assert_eq!(c.window, Duration::from_secs(50));
        assert_eq!(c.memory_mb, 256);
        assert!(Configured::from_template("Parameters:\n").is_err());
        assert_eq!(rate("rate(5 minutes)"), Some(Duration::from_secs(300)));
        assert_eq!(rate("cron(* * * * ? *)"), None);
    }

    #[test]
    fn the_real_template_parses() {
        let yaml =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
                .unwrap();
        assert!(Configured::from_template(&yaml).is_ok());
    }

    fn d(ms: u64) -> Distribution {
        Distribution::of(&[Duration::from_millis(ms)]).unwrap()
    }

    fn trickle(launch_ms: u64) -> Trickle {
        Trickle {
            jobs: 40,
            mean_interval: Duration::from_millis(1500),
            span: Duration::from_secs(60),
            to_acquired: Some(d(80)),
            to_launched: Some(d(launch_ms)),
            to_ready: Some(d(launch_ms + 20)),
            not_launched: 0,
            pairing_broken: 0,
            scale_down: Some(d(300)),
        }
    }

    fn results(launch_ms: u64) -> Results {
        let configured = Configured {
            schedule: Duration::from_secs(60),
            window: Duration::from_secs(50),
            memory_mb: 256,
        };
        Results {
            machine: Machine {
                date: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
                cpus: 2,
                cpu_model: "Test CPU".into(),
                arch: "x86_64".into(),
                kernel: "6.1".into(),
                commit: "abc123".into(),
                dirty_files: 0,
                rustc: "rustc 1.90".into(),
                argv: "bench --ghaec2 ~/ghaec2".into(),
                moto: "5.2.5".into(),
            },
            configured,
            listening: Some(trickle(launch_ms)),
            gaps: Some(Gaps {
                trickle: trickle(4_000),
                window: configured.window,
                period: configured.schedule,
                invocations: vec![Duration::from_millis(50_700)],
                in_gap: 3,
                in_gap_to_launched: Some(d(7_000)),
                peak_rss_kb: Some(18_000),
                cpu: vec![Duration::from_millis(90)],
            }),
            bursts: vec![
                Burst {
                    label: "100 jobs".into(),
                    jobs: 100,
                    all_launched: Some(Duration::from_millis(5_900)),
                    all_acquired: Some(Duration::from_millis(400)),
                    milestones: vec![(50, Duration::from_millis(2_500))],
                    calls: 109,
                    aws_calls: 420,
                    breakdown: "generatejitconfig 100, messages.get 5".into(),
                    acquired: 100,
                    instances: 100,
                    launches: 100,
                    throttling: None,
                    cycle_retries: 0,
                    setup_failures: 0,
                    aws_500s: 0,
                    peak_rss_kb: Some(20_480),
                    cpu: Some(Duration::from_millis(500)),
                },
                Burst {
                    label: "100 jobs, throttled".into(),
                    jobs: 100,
                    all_launched: None,
                    all_acquired: None,
                    milestones: Vec::new(),
                    calls: 130,
                    aws_calls: 500,
                    breakdown: String::new(),
                    acquired: 100,
                    instances: 99,
                    launches: 101,
                    throttling: Some(Throttling {
                        side: Side::Aws,
                        injected: "RequestLimitExceeded on ec2 CreateFleet × 4".into(),
                        throttled_answers: 4,
                    }),
                    cycle_retries: 0,
                    setup_failures: 1,
                    aws_500s: 2,
                    peak_rss_kb: None,
                    cpu: None,
                },
            ],
            cold: Some(Cold {
                runs: 5,
                window: Duration::from_secs(1),
                to_first_log: d(3),
                to_polling: d(60),
                to_first_poll: d(90),
                once_exit: d(1_150),
                binary_bytes: 22_826_080,
                peak_rss_kb: Some(17_540),
                cpu: Some(d(40)),
            }),
            cost: Some(Cost {
                measured: Duration::from_millis(50_700),
                lambda: LambdaCost::monthly(
                    Duration::from_secs(60),
                    Duration::from_millis(50_700),
                    256,
                ),
            }),
            wall: Duration::from_secs(600),
        }
    }

    #[test]
    fn every_figure_lands_beside_its_anchor() {
        let md = render(&results(180));
        for needle in [
            "p50 180 ms (bar ≤ 500 ms: met)",
            "`delay_webhook_event` default 30 s",
            "cron(*/5 * * * ? *)",
            "always on",
            "p50 300 ms",
            "5.900 s, 1.09 Actions calls per job",
            "p50 3 ms",
            "Rust arm64 ≈ 15 ms, Node.js 24 ≈ 116–121 ms",
            "17.1 MiB",
            "21.8 MiB",
            "$7.31",
            "maxday.github.io/lambda-perf",
            "not Lambda figures",
            "RequestLimitExceeded on ec2 CreateFleet × 4. 4 throttled answers",
            "| 100 jobs | 0.400 s | 5.900 s | 109 | 1.09 | 420 | 4.20 |",
            "| 100 jobs, throttled | – | not within the timeout | 130 | 1.30 | 500 | 5.00 | 100 / 99 / 101 | **no** | 0 / 1 |",
            "moto still answered HTTP 500 2 times",
            "**100 jobs**: 50 at 2.500 s, 100 at 5.900 s. ghaec2 used 0.500 s of CPU",
            "commit `abc123`",
            "2 × Test CPU (x86_64)",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        assert!(!md.contains("NaN"));
    }

    #[test]
    fn a_missed_bar_says_why() {
        let md = render(&results(900));
        assert!(md.contains("bar ≤ 500 ms: **not met**"));
        assert!(md.contains("What would get there"));
        assert!(md.contains("about 80 ms is queued → acquired"));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(ms(Duration::from_millis(412)), "412 ms");
        assert_eq!(ms(Duration::from_millis(1412)), "1.412 s");
        assert_eq!(mb(22_826_080), "21.8 MiB");
    }
}
