//! From ghaec2's log lines to per-job latencies. ghaec2 logs launches as counts (its decision
//! records), not per job: with `MIN_RUNNERS=0`, a boot timeout longer than the run and no job
//! finishing, every assigned job adds exactly one instance, so the k-th instance launched
//! belongs to the k-th job queued (FIFO pairing); a pairing that breaks is counted, not hidden.
//! The log line's own `time` (nanoseconds, written by ghaec2) is used, not the time this
//! process read it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ghaec2_demo::LogLine;
use ghaec2_demo::stats::Distribution;
use serde_json::Value;

use crate::report::Latency;

/// ghaec2's line after CreateFleet returned: `launched`, `instance_ids`.
pub const LAUNCHED: &str = "Launched instances.";
/// ghaec2's decision record, after the launched instances have their JIT config: `launched`,
/// `current`, `desired`.
pub const RECONCILED: &str = "Reconciled.";
/// ghaec2's line after TerminateInstances: `instance_ids`.
pub const TERMINATED: &str = "Terminated instances.";
/// ghaec2's line before its first poll of a cycle.
pub const POLLING: &str = "Starting Actions Service message polling";
/// An invocation stopped listening (before persisting and releasing its lease).
pub const STOPPED: &str = "Stopped listening.";

/// One log line with a count of instances.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub count: u32,
    pub instance_ids: Vec<String>,
    /// The line's `scale_set_id`, when it has one.
    pub scale_set_id: Option<u64>,
}

/// When ghaec2 wrote the line (its `time` field), else when it was read.
pub fn log_time(line: &LogLine) -> DateTime<Utc> {
    line.json
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(line.at, |t| t.with_timezone(&Utc))
}

/// A numeric field of a line.
pub fn field_u64(line: &LogLine, name: &str) -> Option<u64> {
    line.json.get(name).and_then(Value::as_u64)
}

/// Lines with `msg`, as events counting their `launched` field (0 when absent).
pub fn events(lines: &[LogLine], msg: &str) -> Vec<Event> {
    lines
        .iter()
        .filter(|l| l.msg() == Some(msg))
        .map(|l| Event {
            at: log_time(l),
            count: u32::try_from(field_u64(l, "launched").unwrap_or(0)).unwrap_or(u32::MAX),
            instance_ids: l
                .json
                .get("instance_ids")
                .map(instance_ids)
                .unwrap_or_default(),
            scale_set_id: field_u64(l, "scale_set_id"),
        })
        .collect()
}

/// Instance ids of a field logged either as a JSON array or as Rust's `Debug` of a list
/// (`["i-1", "i-2"]` as one string).
pub fn instance_ids(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Value::String(text) => text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|t| t.starts_with("i-"))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Sum of the events' counts.
pub fn total(events: &[Event]) -> u32 {
    events.iter().map(|e| e.count).sum()
}

/// Pairs queued jobs (any order) with launches in FIFO order: the i-th oldest job with the
/// i-th instance launched. Each job comes out, oldest first, with its instance's launch time,
/// or `None` when no instance was launched for it.
pub fn pair_fifo(queued: &[DateTime<Utc>], events: &[Event]) -> Vec<Pair> {
    let mut jobs = queued.to_vec();
    jobs.sort_unstable();
    let mut launches: Vec<DateTime<Utc>> = events
        .iter()
        .flat_map(|e| std::iter::repeat_n(e.at, e.count as usize))
        .collect();
    launches.sort_unstable();
    jobs.iter()
        .enumerate()
        .map(|(i, queued_at)| (*queued_at, launches.get(i).copied()))
        .collect()
}

/// [`pair_fifo`] within each scale set: the jobs routed to a scale set (its id, the time it
/// was queued) with the launches logged for it; a job without a scale set pairs with nothing.
/// Pairs of every scale set, by id.
pub fn pair_per_scale_set(
    jobs: &[(Option<u64>, DateTime<Utc>)],
    events: &[Event],
) -> BTreeMap<Option<u64>, Vec<Pair>> {
    let mut queued: BTreeMap<Option<u64>, Vec<DateTime<Utc>>> = BTreeMap::new();
    for (id, at) in jobs {
        queued.entry(*id).or_default().push(*at);
    }
    queued
        .into_iter()
        .map(|(id, queued)| {
            let own: Vec<Event> = events
                .iter()
                .filter(|e| id.is_some() && e.scale_set_id == id)
                .cloned()
                .collect();
            (id, pair_fifo(&queued, &own))
        })
        .collect()
}

/// A start and, if it came, its end.
pub type Pair = (DateTime<Utc>, Option<DateTime<Utc>>);

/// The latency of pairs. A pair whose end is missing, or came before its start (the pairing
/// assumption broke), is counted as broken and left out of the distribution: never clamped
/// to zero.
pub fn latency(pairs: impl IntoIterator<Item = Pair>) -> Latency {
    let (mut samples, mut missing, mut out_of_order) = (Vec::new(), 0, 0);
    for (from, to) in pairs {
        match to.map(|to| (to - from).to_std()) {
            Some(Ok(d)) => samples.push(d),
            Some(Err(_)) => out_of_order += 1,
            None => missing += 1,
        }
    }
    Latency {
        dist: Distribution::of(&samples),
        missing,
        out_of_order,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ghaec2_demo::stand_ins::Stream;
    use serde_json::json;
    use std::time::Duration;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn line(json: Value) -> LogLine {
        LogLine {
            stream: Stream::Stderr,
            at: t(999_999),
            json,
        }
    }

    fn event(ms: i64, count: u32) -> Event {
        Event {
            at: t(ms),
            count,
            instance_ids: Vec::new(),
            scale_set_id: None,
        }
    }

    #[test]
    fn each_scale_set_pairs_with_its_own_launches() {
        let on = |id, ms, count| Event {
            scale_set_id: Some(id),
            ..event(ms, count)
        };
        // Scale set 2's launch comes first, but belongs to its own job only.
        let jobs = [
            (Some(1), t(0)),
            (Some(2), t(10)),
            (Some(1), t(20)),
            (None, t(30)),
        ];
        let launches = [on(2, 15, 1), on(1, 40, 2), event(50, 1)];
        let pairs = pair_per_scale_set(&jobs, &launches);
        assert_eq!(pairs[&Some(1)], [(t(0), Some(t(40))), (t(20), Some(t(40)))]);
        assert_eq!(pairs[&Some(2)], [(t(10), Some(t(15)))]);
        // A job routed nowhere pairs with nothing, not with the unattributed launch.
        assert_eq!(pairs[&None], [(t(30), None)]);
        let lines = vec![line(
            json!({"msg": LAUNCHED, "launched": 1, "scale_set_id": 7}),
        )];
        assert_eq!(events(&lines, LAUNCHED)[0].scale_set_id, Some(7));
    }

    #[test]
    fn events_from_log_lines_use_the_logged_time() {
        let lines = vec![
            line(
                json!({"msg": LAUNCHED, "time": t(120).to_rfc3339(), "launched": 2,
                        "instance_ids": "[\"i-0abc\", \"i-0def\"]"}),
            ),
            line(json!({"msg": RECONCILED, "time": t(150).to_rfc3339(), "launched": 2})),
            line(json!({"msg": LAUNCHED, "launched": 1, "instance_ids": ["i-1"]})),
            line(Value::String("not json".into())),
        ];
        let launched = events(&lines, LAUNCHED);
        assert_eq!(launched.len(), 2);
        assert_eq!(launched[0].at, t(120));
        assert_eq!(launched[0].instance_ids, ["i-0abc", "i-0def"]);
        // No `time` field: the read time.
        assert_eq!(launched[1].at, t(999_999));
        assert_eq!(launched[1].instance_ids, ["i-1"]);
        assert_eq!(total(&launched), 3);
        assert_eq!(events(&lines, RECONCILED)[0].count, 2);
    }

    #[test]
    fn fifo_pairing_expands_counts_and_sorts_jobs() {
        let queued = [t(300), t(0), t(100)];
        let launches = [event(50, 1), event(400, 2)];
        let pairs = pair_fifo(&queued, &launches);
        assert_eq!(
            pairs,
            [
                (t(0), Some(t(50))),
                (t(100), Some(t(400))),
                (t(300), Some(t(400)))
            ]
        );
        let l = latency(pairs);
        assert_eq!((l.missing, l.out_of_order), (0, 0));
        assert_eq!(l.dist.unwrap().max, Duration::from_millis(300));
    }

    #[test]
    fn broken_pairings_are_counted_not_clamped() {
        // One launch for two jobs, logged before either was queued.
        let l = latency(pair_fifo(&[t(100), t(200)], &[event(50, 1)]));
        assert_eq!((l.missing, l.out_of_order), (1, 1));
        assert_eq!(
            l.dist, None,
            "no zero-length sample stands in for the broken pair"
        );
        let l = latency([(t(0), Some(t(10))), (t(20), Some(t(5)))]);
        assert_eq!(l.dist.unwrap().count, 1);
        assert_eq!(l.out_of_order, 1);
    }
}
