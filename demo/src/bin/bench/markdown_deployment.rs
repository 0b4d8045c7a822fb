//! BENCHMARKS.md's sections on the deployment as a whole, from [`Results`]: several scale sets
//! polled together and ghaec2 at Lambda's CPU share (the cost is [`crate::markdown_cost`]'s).
//! Pure, like [`crate::markdown`].

use std::fmt::Write as _;

use ghaec2_demo::stats::seconds;

use crate::cgroup::{MB_PER_VCPU, PERIOD_US, Throttled};
use crate::markdown::{dist, latency_rows, ms, opt_rss, or_timeout, p50};
use crate::markdown_cost::{costs, verdict};
use crate::report::{BURST_BAR, CpuRuns, CpuShare, Results, Several, memory_choice};

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

pub fn scale_sets(n: usize) -> String {
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

pub fn list_or_none(items: &[String]) -> String {
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
