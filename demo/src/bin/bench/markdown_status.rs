//! BENCHMARKS.md's section on `ghaec2 --status`, and its summary row, from [`StatusRuns`].
//! Pure, like [`crate::markdown`].

use std::fmt::Write as _;

use crate::cgroup::PERIOD_US;
use crate::markdown::{distribution, ms};
use crate::report::{Results, STATUS_BAR, StatusRuns, StatusTimes};

/// Summary rows: (figure, measured).
pub fn summary_rows(r: &Results) -> Vec<(String, String)> {
    let Some(s) = &r.status else {
        return Vec::new();
    };
    let share = match &s.at_share {
        Ok(a) => format!(
            "; at {} MB's CPU share {}",
            a.memory_mb,
            percentiles(&a.times)
        ),
        Err(_) => String::new(),
    };
    vec![(
        format!("`{}`, {} runners: spawn → exit", s.text.command, s.runners),
        format!("{} ({}){share}", percentiles(&s.text), verdict(&s.text)),
    )]
}

/// p50 and p95 of the runs.
fn percentiles(t: &StatusTimes) -> String {
    t.wall.map_or_else(
        || "no samples".to_owned(),
        |d| format!("p50 {} · p95 {}", ms(d.p50), ms(d.p95)),
    )
}

/// Well under a second, or not: the p95 of the runs against the bar, every run exiting 0.
pub fn verdict(t: &StatusTimes) -> String {
    match t.wall {
        Some(d) if d.p95 <= STATUS_BAR && t.failed == 0 => {
            format!("bar p95 ≤ {}: met", ms(STATUS_BAR))
        }
        Some(_) => format!("bar p95 ≤ {}: **not met**", ms(STATUS_BAR)),
        None => "no samples".to_owned(),
    }
}

pub fn status(out: &mut String, s: &StatusRuns) {
    let _ = write!(
        out,
        "## `ghaec2 --status`\n\n\
         What an operator runs on call, timed against one scale set with {} runners in its \
         ledger ({} on a job, the others booting), orphan instances: {} (launched for the \
         scale set, never in the ledger), and a lease another invocation holds. ghaec2 made \
         the runners itself and then stopped, so nothing else called AWS while each command \
         ran {} times, one run after the other, each timed from just before the spawn to its \
         exit: process start, configuration, STS GetCallerIdentity, the reads (state item, JIT \
         listing, EC2, ledger) and the rendering. The AWS calls went through the proxy in \
         front of moto, which counts them; the Actions Service calls are the fake's count. \
         *Showed the set-up* counts the JSON documents that showed every runner, the busy ones, \
         the orphan and the held lease.\n\n\
         | command | spawn → exit | AWS calls per run | AWS calls of all runs, by action | Actions Service calls | failed runs | showed the set-up |\n\
         |---|---|---|---|---|---|---|\n",
        s.runners, s.busy, s.orphans, s.text.runs,
    );
    row(out, &format!("`{}`", s.text.command), &s.text);
    row(out, &format!("`{}`", s.json.command), &s.json);
    if let Ok(a) = &s.at_share {
        let label = format!(
            "`{}` at {} MB's CPU share ({} µs of every {PERIOD_US} µs)",
            a.times.command, a.memory_mb, a.quota_us
        );
        row(out, &label, &a.times);
    }
    let _ = write!(
        out,
        "\n**Without a CPU limit, as operators run it:** {}.",
        verdict(&s.text)
    );
    match &s.at_share {
        Ok(a) => {
            let _ = write!(
                out,
                " At {} MB's CPU share the runs were held back in {} of {} scheduler periods, \
                 {} in all.",
                a.memory_mb,
                a.throttled.throttled,
                a.throttled.periods,
                ms(a.throttled.time)
            );
        }
        Err(why) => {
            let _ = write!(out, " Lambda's CPU share: not measured: {why}.");
        }
    }
    for t in [&s.text, &s.json] {
        if let Some(why) = &t.first_failure {
            let _ = write!(out, " The first failed run of `{}`: {why}.", t.command);
        }
    }
    out.push_str("\n\n");
}

fn row(out: &mut String, label: &str, t: &StatusTimes) {
    let (fewest, most) = t.aws_calls;
    let per_run = if fewest == most {
        fewest.to_string()
    } else {
        format!("{fewest}–{most}")
    };
    let by_action: Vec<String> = t
        .by_action
        .iter()
        .map(|(action, n)| format!("{action} {n}"))
        .collect();
    let failed = if t.failed > 0 {
        format!("**{}**", t.failed)
    } else {
        "0".to_owned()
    };
    let _ = writeln!(
        out,
        "| {label} | {} | {per_run} | {} | {} | {failed} of {} | {} |",
        distribution(t.wall),
        by_action.join(", "),
        t.actions_calls,
        t.runs,
        t.showed_setup
            .map_or_else(|| "–".to_owned(), |n| format!("{n} of {}", t.runs)),
    );
}
