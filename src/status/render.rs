//! The status as an operator reads it (text) and as a script reads it (JSON).

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::StatusError;
use super::view::{LeaseView, Mismatch, MismatchKind, Next, Phase, RunnerLine, ScaleSetStatus};
use crate::actions::wire::Statistics;
use crate::ports::{Decision, Lifecycle};

/// Every scale set's status, or why it could not be read, as one JSON document:
/// `{"scaleSets": [status, …, {"scaleSetName": …, "error": …}]}`.
pub fn json(results: &[Result<ScaleSetStatus, StatusError>]) -> Value {
    let scale_sets: Vec<Value> = results
        .iter()
        .map(|result| match result {
            Ok(status) => serde_json::to_value(status).unwrap_or_else(
                |e| json!({"scaleSetName": status.scale_set_name, "error": e.to_string()}),
            ),
            Err(e) => json!({"scaleSetName": e.scale_set, "error": e.to_string()}),
        })
        .collect();
    json!({ "scaleSets": scale_sets })
}

/// One scale set's status as text: a few header lines, the runners as a table, the
/// mismatches with what the next reconcile does.
pub fn text(status: &ScaleSetStatus) -> String {
    let now = status.read_at;
    let mut out = String::new();
    let id = status
        .scale_set_id
        .map_or_else(|| "not created yet".to_owned(), |id| format!("id {id}"));
    let _ = writeln!(out, "scale set {} ({id})", status.scale_set_name);
    let _ = writeln!(out, "  lease:      {}", lease(&status.lease, now));
    let session = status.session_id.map_or_else(
        || "none".to_owned(),
        |id| {
            let created = when(status.session_created_at, now);
            let refreshed = when(status.session_refreshed_at, now);
            format!("{id}, created {created}, refreshed {refreshed}")
        },
    );
    let _ = writeln!(out, "  session:    {session}");
    let _ = writeln!(
        out,
        "  cursor:     message {}, handled {}",
        status.last_message_id,
        when(status.last_message_at, now)
    );
    let statistics = status
        .statistics
        .as_ref()
        .map_or_else(|| "none yet".to_owned(), statistics);
    let _ = writeln!(out, "  statistics: {statistics}");
    let _ = writeln!(
        out,
        "  decisions:  {}{}",
        status.decisions.len(),
        if status.decisions.is_empty() {
            ""
        } else {
            ", newest first"
        }
    );
    if !status.decisions.is_empty() {
        let header = [
            "AT",
            "DESIRED",
            "CURRENT",
            "BOOTING",
            "LAUNCHED",
            "TERMINATED",
            "CAPPED BY",
        ];
        let rows = status.decisions.iter().map(|d| decision_row(d, now));
        out.push_str(&table(header.map(str::to_owned).into_iter(), rows));
    }
    let _ = writeln!(out, "  runners:    {}", status.runners.len());
    if !status.runners.is_empty() {
        let header = [
            "NAME",
            "INSTANCE",
            "EC2",
            "TYPE",
            "ZONE",
            "LIFECYCLE",
            "STATE",
            "AGE",
            "JOB",
        ];
        let rows = status.runners.iter().map(runner_row);
        out.push_str(&table(header.map(str::to_owned).into_iter(), rows));
    }
    let _ = writeln!(out, "  mismatches: {}", status.mismatches.len());
    for mismatch in &status.mismatches {
        let _ = writeln!(
            out,
            "    - {}; the next reconcile {}",
            what(mismatch),
            next(mismatch)
        );
    }
    out
}

fn lease(lease: &LeaseView, now: DateTime<Utc>) -> String {
    let (Some(holder), Some(expires_at)) = (&lease.holder, lease.expires_at) else {
        return "never taken: nobody listening".to_owned();
    };
    if lease.listening {
        let left = age((expires_at - now).num_seconds().max(0).unsigned_abs());
        let fence = lease.fence.unwrap_or_default();
        return format!(
            "held by {holder} until {} (in {left}, fence {fence}): listening now",
            time(expires_at)
        );
    }
    match lease.released_at {
        Some(at) if expires_at <= at => {
            format!(
                "free, released by {holder} at {}: nobody listening",
                time(at)
            )
        }
        _ => format!(
            "free, {holder}'s lapsed at {} without a release: nobody listening",
            time(expires_at)
        ),
    }
}

fn statistics(s: &Statistics) -> String {
    format!(
        "jobs assigned {}, running {}, available {}, acquired {}; runners registered {}, busy {}, idle {}",
        s.total_assigned_jobs,
        s.total_running_jobs,
        s.total_available_jobs,
        s.total_acquired_jobs,
        s.total_registered_runners,
        s.total_busy_runners,
        s.total_idle_runners
    )
}

fn runner_row(runner: &RunnerLine) -> [String; 9] {
    let instance = runner.instance.as_ref();
    let field = |value: Option<&String>| value.cloned().unwrap_or_else(|| "-".to_owned());
    let phase = match runner.phase {
        Phase::Booting => "booting",
        Phase::Idle => "idle",
        Phase::Busy if runner.interrupted_at.is_some() => "busy (spot interrupted)",
        Phase::Busy => "busy",
        Phase::Finishing => "finishing",
    };
    [
        runner.name.clone(),
        runner.instance_id.clone(),
        instance.map_or("not listed", |i| i.state).to_owned(),
        field(instance.and_then(|i| i.instance_type.as_ref())),
        field(instance.and_then(|i| i.zone.as_ref())),
        instance.map_or_else(|| "-".to_owned(), |i| lifecycle_name(i.lifecycle)),
        phase.to_owned(),
        age(runner.age_seconds),
        field(runner.job_id.as_ref()),
    ]
}

fn decision_row(decision: &Decision, now: DateTime<Utc>) -> [String; 7] {
    let capped_by = match decision.capped_by.as_slice() {
        [] => "-".to_owned(),
        caps => caps.join(", "),
    };
    [
        when(Some(decision.at), now),
        decision.desired.to_string(),
        decision.current.to_string(),
        decision.booting.to_string(),
        decision.launched.to_string(),
        decision.terminated.to_string(),
        capped_by,
    ]
}

fn lifecycle_name(lifecycle: Lifecycle) -> String {
    match lifecycle {
        Lifecycle::Spot => "spot",
        Lifecycle::OnDemand => "on-demand",
    }
    .to_owned()
}

/// Rows under a header, each column as wide as its widest cell, indented under the runners
/// line.
fn table<const N: usize>(
    header: impl Iterator<Item = String>,
    rows: impl Iterator<Item = [String; N]>,
) -> String {
    let header: Vec<String> = header.collect();
    let rows: Vec<Vec<String>> = std::iter::once(header).chain(rows.map(Vec::from)).collect();
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        let _ = writeln!(out, "    {}", cells.join("  ").trim_end());
    }
    out
}

fn what(m: &Mismatch) -> String {
    let id = &m.instance_id;
    let runner = m.runner.as_deref().unwrap_or("?");
    match m.kind {
        MismatchKind::Orphan => {
            format!("orphan: instance {id} of the scale set has no ledger entry")
        }
        MismatchKind::InstanceGone => {
            format!(
                "instance gone: runner {runner}'s instance {id} is on its way out, terminated or not listed"
            )
        }
        MismatchKind::BootTimeout => {
            format!("boot timeout: runner {runner} on {id} is not online past the boot timeout")
        }
        MismatchKind::Untagged => {
            format!("untagged: instance {id} lacks runner {runner}'s name tag")
        }
        MismatchKind::UnclaimedJit => {
            format!("unclaimed JIT config: instance {id} no longer exists to read it")
        }
        MismatchKind::BootFailure => format!(
            "boot failure: instance {id} reported its runner could not start: {}",
            m.reason.as_deref().unwrap_or("no reason given")
        ),
    }
}

fn next(m: &Mismatch) -> String {
    match &m.next {
        Next::Remove {
            runner_id,
            terminate,
        } => {
            let mut steps = vec![match runner_id {
                Some(id) => format!("removes the registration (id {id})"),
                None => "removes the registration (looked up by name)".to_owned(),
            }];
            if let Some(instance_id) = terminate {
                steps.push(format!("terminates {instance_id}"));
            }
            if m.kind != MismatchKind::Orphan {
                steps.push("deletes the ledger entry".to_owned());
            }
            join(&steps)
        }
        Next::ConfirmOnline { runner_id } => format!(
            "asks the service whether runner {runner_id} is online: idle if so, else removed and its instance terminated"
        ),
        Next::Tag => "tags it".to_owned(),
        Next::DeleteJit => "deletes it".to_owned(),
        Next::LogReport => {
            "logs the report and deletes it (the instance powers itself off)".to_owned()
        }
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join(steps: &[String]) -> String {
    match steps {
        [] => String::new(),
        [only] => only.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// `2026-12-07T08:00:00Z (45s ago)`, or `unknown` for a time not stored (an older layout).
fn when(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    at.map_or_else(
        || "unknown".to_owned(),
        |at| {
            let ago = age((now - at).num_seconds().max(0).unsigned_abs());
            format!("{} ({ago} ago)", time(at))
        },
    )
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `45s`, `5m03s`, `2h05m`, `3d04h`.
fn age(seconds: u64) -> String {
    let (m, s) = (seconds / 60, seconds % 60);
    let (h, d) = (m / 60, m / 60 / 24);
    match () {
        _ if d > 0 => format!("{d}d{:02}h", h % 24),
        _ if h > 0 => format!("{h}h{:02}m", m % 60),
        _ if m > 0 => format!("{m}m{s:02}s"),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_says_whether_anyone_listens() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let now = at("2026-12-07T08:00:00Z");
        let view = |expires_at: Option<&str>, released_at: Option<&str>| LeaseView {
            holder: expires_at.map(|_| "request-1".to_owned()),
            fence: expires_at.map(|_| 4),
            expires_at: expires_at.map(at),
            released_at: released_at.map(at),
            listening: expires_at.is_some_and(|e| at(e) >= now),
        };
        let cases = [
            (
                view(Some("2026-12-07T08:00:42Z"), None),
                "held by request-1 until 2026-12-07T08:00:42Z (in 42s, fence 4): listening now",
            ),
            (
                view(Some("1970-01-01T00:00:00Z"), Some("2026-12-07T07:59:00Z")),
                "free, released by request-1 at 2026-12-07T07:59:00Z: nobody listening",
            ),
            (
                view(Some("2026-12-07T07:58:00Z"), Some("2026-12-07T07:50:00Z")),
                "free, request-1's lapsed at 2026-12-07T07:58:00Z without a release: nobody listening",
            ),
            (view(None, None), "never taken: nobody listening"),
        ];
        for (view, want) in cases {
            assert_eq!(lease(&view, now), want);
        }
    }

    #[test]
    fn times_say_how_long_ago() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let now = at("2026-12-07T08:00:00Z");
        assert_eq!(
            when(Some(at("2026-12-07T07:58:57Z")), now),
            "2026-12-07T07:58:57Z (1m03s ago)"
        );
        assert_eq!(when(None, now), "unknown");
    }

    #[test]
    fn a_decision_row_names_what_capped_it() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T08:00:00Z")
            .unwrap()
            .to_utc();
        let decision = Decision {
            at,
            desired: 3,
            current: 2,
            booting: 1,
            launched: 1,
            terminated: 0,
            capped_by: vec!["max".into(), "InsufficientInstanceCapacity".into()],
        };
        assert_eq!(
            decision_row(&decision, at),
            [
                "2026-12-07T08:00:00Z (0s ago)",
                "3",
                "2",
                "1",
                "1",
                "0",
                "max, InsufficientInstanceCapacity"
            ]
            .map(str::to_owned)
        );
        let uncapped = Decision {
            capped_by: Vec::new(),
            ..decision
        };
        assert_eq!(decision_row(&uncapped, at)[6], "-");
    }

    #[test]
    fn ages_read_at_a_glance() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (303, "5m03s"),
            (7500, "2h05m"),
            (273_600, "3d04h"),
        ];
        for (seconds, want) in cases {
            assert_eq!(age(seconds), want, "{seconds}");
        }
    }

    #[test]
    fn steps_join_as_a_sentence() {
        let steps = |n: usize| -> Vec<String> {
            ["a", "b", "c"][..n].iter().map(|s| s.to_string()).collect()
        };
        assert_eq!(join(&steps(1)), "a");
        assert_eq!(join(&steps(2)), "a and b");
        assert_eq!(join(&steps(3)), "a, b and c");
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let header = ["A", "BBB"].map(str::to_owned).into_iter();
        let rows = [["xx".to_owned(), "y".to_owned()]].into_iter();
        assert_eq!(table(header, rows), "    A   BBB\n    xx  y\n");
    }
}
