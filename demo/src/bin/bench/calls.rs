//! Accounting of the Actions Service calls the fake recorded: how many per endpoint, how many
//! it answered with a throttling status (each one a retry ghaec2 had to make), and how many
//! with a server error.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ghaec2_fake::Call;

/// Calls to one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointCalls {
    pub endpoint: String,
    pub calls: usize,
    /// Answered 429.
    pub throttled: usize,
    /// Answered 5xx.
    pub server_errors: usize,
}

/// Calls at or after `since`, per endpoint (control calls excluded), busiest first.
pub fn by_endpoint(calls: &[Call], since: DateTime<Utc>) -> Vec<EndpointCalls> {
    let mut map: BTreeMap<&str, EndpointCalls> = BTreeMap::new();
    for call in calls
        .iter()
        .filter(|c| c.time >= since && c.endpoint != ghaec2_fake::endpoints::CONTROL)
    {
        let entry = map.entry(&call.endpoint).or_insert_with(|| EndpointCalls {
            endpoint: call.endpoint.clone(),
            ..EndpointCalls::default()
        });
        entry.calls += 1;
        entry.throttled += usize::from(call.status == 429);
        entry.server_errors += usize::from(call.status >= 500);
    }
    let mut out: Vec<EndpointCalls> = map.into_values().collect();
    out.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.endpoint.cmp(&b.endpoint)));
    out
}

/// Sum over endpoints.
pub fn totals(per_endpoint: &[EndpointCalls]) -> EndpointCalls {
    per_endpoint
        .iter()
        .fold(EndpointCalls::default(), |acc, e| EndpointCalls {
            endpoint: "all".to_owned(),
            calls: acc.calls + e.calls,
            throttled: acc.throttled + e.throttled,
            server_errors: acc.server_errors + e.server_errors,
        })
}

/// `generatejitconfig 100, messages.get 4, …`
pub fn breakdown(per_endpoint: &[EndpointCalls]) -> String {
    per_endpoint
        .iter()
        .map(|e| format!("{} {}", e.endpoint, e.calls))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The shortest time from a 429 to the next call to the same endpoint: how long ghaec2
/// waited before retrying, at the least. `None` when no call followed a 429.
pub fn shortest_wait_after_throttle(calls: &[Call]) -> Option<std::time::Duration> {
    calls
        .iter()
        .filter(|c| c.status == 429)
        .filter_map(|throttled| {
            calls
                .iter()
                .filter(|c| c.endpoint == throttled.endpoint && c.time > throttled.time)
                .map(|c| c.time)
                .min()
                .and_then(|next| (next - throttled.time).to_std().ok())
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(ms: i64, endpoint: &str, status: u16) -> Call {
        Call {
            time: DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap(),
            method: "POST".into(),
            path: "/x".into(),
            query: None,
            endpoint: endpoint.into(),
            status,
            auth_scheme: None,
            max_capacity: None,
            accept: None,
            user_agent: None,
            content_type: None,
            fault: None,
        }
    }

    #[test]
    fn counts_per_endpoint_since_a_time() {
        let calls = [
            call(0, "sessions.create", 201),
            call(10, "generatejitconfig", 429),
            call(20, "generatejitconfig", 200),
            call(30, "generatejitconfig", 200),
            call(40, "messages.get", 503),
            call(50, "control", 200),
        ];
        let since = DateTime::from_timestamp_millis(1_800_000_000_010).unwrap();
        let per = by_endpoint(&calls, since);
        assert_eq!(per.len(), 2);
        assert_eq!(
            per[0],
            EndpointCalls {
                endpoint: "generatejitconfig".into(),
                calls: 3,
                throttled: 1,
                server_errors: 0
            }
        );
        assert_eq!(per[1].server_errors, 1);
        let all = totals(&per);
        assert_eq!((all.calls, all.throttled, all.server_errors), (4, 1, 1));
        assert_eq!(breakdown(&per), "generatejitconfig 3, messages.get 1");
        assert_eq!(
            shortest_wait_after_throttle(&calls),
            Some(std::time::Duration::from_millis(10))
        );
        assert_eq!(shortest_wait_after_throttle(&calls[2..]), None);
    }
}
