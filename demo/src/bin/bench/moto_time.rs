//! How much of a span was moto's: from the proxy's timings of each AWS call ghaec2 made, the
//! time during which at least one call was being answered by moto, the time during which
//! ghaec2 had a call outstanding at all (moto, or the proxy's DynamoDB queue in front of it),
//! and per action how long moto took, early and late in the span (moto's cost per call grows
//! with its tables; DynamoDB's does not).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghaec2_demo::stats::Distribution;

/// One AWS call as the proxy timed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timed {
    pub action: String,
    pub received: DateTime<Utc>,
    /// Sent to moto, moto's answer read; `None` when the proxy answered itself.
    pub upstream: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// One action's share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionTime {
    pub action: String,
    pub calls: usize,
    /// Sum of moto's answer times.
    pub in_moto: Duration,
    /// Moto's answer time over the first and the last quarter of the calls (4 calls or more).
    pub first_quarter: Option<Distribution>,
    pub last_quarter: Option<Distribution>,
}

/// The span and moto's part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotoTime {
    pub span: Duration,
    /// At least one call being answered by moto.
    pub in_moto: Duration,
    /// At least one call outstanding (queued in the proxy or in moto).
    pub waiting_on_aws: Duration,
    /// Busiest (most moto time) first.
    pub by_action: Vec<ActionTime>,
}

/// Moto's part of `from..to`, from the calls received in it.
pub fn measure(calls: &[Timed], from: DateTime<Utc>, to: DateTime<Utc>) -> MotoTime {
    let inside: Vec<&Timed> = calls
        .iter()
        .filter(|c| c.received >= from && c.received <= to)
        .collect();
    let in_moto = union(inside.iter().filter_map(|c| c.upstream), from, to);
    let waiting = union(
        inside
            .iter()
            .filter_map(|c| c.upstream.map(|(_, answered)| (c.received, answered))),
        from,
        to,
    );
    let mut per_action: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for call in &inside {
        if let Some((sent, answered)) = call.upstream {
            per_action
                .entry(&call.action)
                .or_default()
                .push((answered - sent).to_std().unwrap_or_default());
        }
    }
    let mut by_action: Vec<ActionTime> = per_action
        .into_iter()
        .map(|(action, times)| {
            let quarter = times.len() / 4;
            let (first, last) = if quarter == 0 {
                (None, None)
            } else {
                (
                    Distribution::of(&times[..quarter]),
                    Distribution::of(&times[times.len() - quarter..]),
                )
            };
            ActionTime {
                action: action.to_owned(),
                calls: times.len(),
                in_moto: times.iter().sum(),
                first_quarter: first,
                last_quarter: last,
            }
        })
        .collect();
    by_action.sort_by(|a, b| b.in_moto.cmp(&a.in_moto).then(a.action.cmp(&b.action)));
    MotoTime {
        span: (to - from).to_std().unwrap_or_default(),
        in_moto,
        waiting_on_aws: waiting,
        by_action,
    }
}

/// The length of the union of `intervals`, clipped to `from..to`.
fn union(
    intervals: impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Duration {
    let mut clipped: Vec<(DateTime<Utc>, DateTime<Utc>)> = intervals
        .map(|(a, b)| (a.max(from), b.min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    clipped.sort_unstable();
    let mut total = chrono::TimeDelta::zero();
    let mut current: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for (a, b) in clipped {
        current = match current {
            Some((start, end)) if a <= end => Some((start, end.max(b))),
            Some((start, end)) => {
                total += end - start;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((start, end)) = current {
        total += end - start;
    }
    total.to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn call(action: &str, received: i64, sent: i64, answered: i64) -> Timed {
        Timed {
            action: action.to_owned(),
            received: t(received),
            upstream: Some((t(sent), t(answered))),
        }
    }

    #[test]
    fn overlapping_calls_count_once_and_the_span_clips() {
        let calls = [
            // Waits 10 ms in the queue, 20 ms in moto.
            call("PutItem", 0, 10, 30),
            // Overlaps the first in moto: 20..40 adds 10 ms.
            call("CreateFleet", 20, 20, 40),
            call("PutItem", 100, 100, 150),
            // Runs past the span's end (200): clipped to 20 ms.
            call("PutItem", 180, 180, 260),
            // Received before the span: not counted.
            call("PutItem", -50, -50, 5),
            Timed {
                action: "DescribeInstances".into(),
                received: t(60),
                upstream: None,
            },
        ];
        let m = measure(&calls, t(0), t(200));
        assert_eq!(m.span, Duration::from_millis(200));
        assert_eq!(m.in_moto, Duration::from_millis(30 + 50 + 20));
        assert_eq!(m.waiting_on_aws, Duration::from_millis(40 + 50 + 20));
        assert_eq!(m.by_action[0].action, "PutItem");
        assert_eq!(m.by_action[0].calls, 3);
        assert_eq!(m.by_action[0].in_moto, Duration::from_millis(20 + 50 + 80));
        assert_eq!(
            m.by_action.len(),
            2,
            "the proxy's own answer costs moto nothing"
        );
    }

    #[test]
    fn quarters_show_a_growing_cost() {
        let calls: Vec<Timed> = (0..8)
            .map(|i| {
                call(
                    "TransactWriteItems",
                    i * 100,
                    i * 100,
                    i * 100 + 10 * (i + 1),
                )
            })
            .collect();
        let m = measure(&calls, t(0), t(1_000));
        let a = &m.by_action[0];
        assert_eq!(a.first_quarter.unwrap().max, Duration::from_millis(20));
        assert_eq!(a.last_quarter.unwrap().p50, Duration::from_millis(70));
        let few = measure(&calls[..3], t(0), t(1_000));
        assert_eq!(few.by_action[0].first_quarter, None);
    }
}
