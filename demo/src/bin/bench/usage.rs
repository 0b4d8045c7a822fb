//! What a steady-state idle invocation of a gapless deployment uses, for the cost: its billed
//! duration, its DynamoDB calls (through the proxy, which counts them by action), the bytes of
//! its log lines and the EMF metrics among them. With 1 and with several scale sets.
//!
//! Steady state means: it starts while its predecessor still listens, waits for the lease and
//! takes over, as each tick of the template's schedule does. So three `--once` runs: a warm-up
//! (the first run of a deployment creates the scale sets and sessions; its calls after it
//! stopped listening are an invocation's end-of-window calls, its *tail*), a predecessor with a
//! short window, and the measured one with the template's window, started while the
//! predecessor listens. The proxy cannot tell the two processes apart: the calls from the
//! measured one's spawn to its exit are its own plus its predecessor's tail, which is taken off
//! as the warm-up measured it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghaec2_demo::stand_ins::{Result, Stream};
use ghaec2_demo::{LogLine, StandIns, StandInsOptions};
use ghaec2_fake::{FakeOptions, Mode};
use ghaec2_testkit::aws_proxy::ProxyCall;
use serde_json::{Value, json};

use crate::burst::aws_side;
use crate::pairing::{self, POLLING, STOPPED};
use crate::report::{Configured, Usage};
use crate::run::{self, Ctx, Exited, Running};
use crate::trickle::check_exit;

/// The predecessor's window, and when the measured invocation starts after it.
const PREDECESSOR_WINDOW: Duration = Duration::from_secs(5);
const STARTED_AFTER: Duration = Duration::from_secs(3);

/// DynamoDB request units of one call of `action`: (write, read). Items are under 1 KB and
/// reads under 4 KB, read strongly consistent: 1 unit a call. A transaction costs 2 write
/// units per item, and ghaec2's hold two (the fence's condition check and the write,
/// `src/aws/state.rs`).
pub fn units(action: &str) -> (f64, f64) {
    match action {
        "PutItem" | "UpdateItem" | "DeleteItem" => (1.0, 0.0),
        "TransactWriteItems" => (4.0, 0.0),
        "GetItem" | "Query" | "Scan" => (0.0, 1.0),
        _ => (0.0, 0.0),
    }
}

/// Calls by action, `minus` taken off (never below zero).
pub fn less(
    calls: &BTreeMap<String, usize>,
    minus: &BTreeMap<String, usize>,
) -> Vec<(String, usize)> {
    calls
        .iter()
        .map(|(action, n)| {
            (
                action.clone(),
                n.saturating_sub(minus.get(action).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The distinct metrics of the EMF lines: `Namespace/Name` and its dimensions' values, each
/// one custom metric to CloudWatch.
pub fn metric_sets(lines: &[LogLine]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for line in lines {
        let Some(declared) = line
            .json
            .pointer("/_aws/CloudWatchMetrics")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for set in declared {
            let namespace = set.get("Namespace").and_then(Value::as_str).unwrap_or("");
            let keys: Vec<&str> = set
                .pointer("/Dimensions/0")
                .and_then(Value::as_array)
                .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let dimensions: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{k}={}",
                        line.json.get(*k).and_then(Value::as_str).unwrap_or("")
                    )
                })
                .collect();
            let metrics = set.get("Metrics").and_then(Value::as_array);
            for name in metrics
                .into_iter()
                .flatten()
                .filter_map(|m| m.get("Name")?.as_str())
            {
                let dims = if dimensions.is_empty() {
                    String::new()
                } else {
                    format!(" {{{}}}", dimensions.join(", "))
                };
                out.insert(format!("{namespace}/{name}{dims}"));
            }
        }
    }
    out.into_iter().collect()
}

/// Bytes of the JSON log lines (stderr), each with its newline.
pub fn log_bytes(lines: &[LogLine]) -> (u64, usize) {
    let logged: Vec<&LogLine> = lines
        .iter()
        .filter(|l| l.stream == Stream::Stderr && l.json.is_object())
        .collect();
    let bytes = logged
        .iter()
        .map(|l| l.json.to_string().len() as u64 + 1)
        .sum();
    (bytes, logged.len())
}

/// DynamoDB calls by action received in `[from, to]`.
fn dynamodb_calls(
    calls: &[ProxyCall],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for call in calls.iter().filter(|c| c.service == "dynamodb") {
        let at = DateTime::<Utc>::from(call.received_at);
        if at >= from && at <= to {
            *out.entry(call.action.clone()).or_default() += 1;
        }
    }
    out
}

/// One deployment of `scale_sets` scale sets in `region`.
pub async fn run(
    ctx: &Ctx,
    configured: &Configured,
    scale_sets: usize,
    region: &str,
) -> Result<Usage> {
    let stand_ins = StandIns::start(StandInsOptions {
        fake: FakeOptions::default().with_mode(Mode::Ghes),
        region: region.to_owned(),
    })
    .await?;
    let aws = aws_side(region).await?;
    let name = format!("bench-cost-{scale_sets}");
    let mut extra = aws.env.clone();
    if scale_sets > 1 {
        let list: Vec<Value> = (1..=scale_sets)
            .map(|k| json!({ "RUNNER_SCALE_SET_NAME": format!("{name}-{k}") }))
            .collect();
        extra.push(("SCALE_SETS", serde_json::to_string(&list)?));
    }
    let env = |window: Duration| {
        let mut e = extra.clone();
        e.push(("DRAIN_WINDOW_SECONDS", window.as_secs().to_string()));
        run::env(&name, &e)
    };
    let once = |window: Duration, log: String| {
        let env = env(window);
        let stand_ins = &stand_ins;
        async move {
            let exited = Running::start(ctx, stand_ins, &["--once"], &env, &ctx.log(&log))
                .await?
                .exit()
                .await?;
            check_exit(&exited, &log)?;
            Result::Ok(exited)
        }
    };
    let warm = once(Duration::from_secs(1), format!("cost-{scale_sets}-warm-up")).await?;
    let stopped = warm
        .lines
        .iter()
        .filter(|l| l.msg() == Some(STOPPED))
        .map(pairing::log_time)
        .min()
        .ok_or("the warm-up never stopped listening")?;
    let tail = dynamodb_calls(&aws.proxy.calls(), stopped, warm.exited_at);
    let predecessor = once(PREDECESSOR_WINDOW, format!("cost-{scale_sets}-predecessor"));
    let measured = async {
        tokio::time::sleep(STARTED_AFTER).await;
        once(configured.window, format!("cost-{scale_sets}-measured")).await
    };
    let (_, measured): (Exited, Exited) = futures::try_join!(predecessor, measured)?;
    let calls = dynamodb_calls(&aws.proxy.calls(), measured.spawned_at, measured.exited_at);
    let dynamodb = less(&calls, &tail);
    let (write_units, read_units) = dynamodb.iter().fold((0.0, 0.0), |(w, r), (action, n)| {
        let (uw, ur) = units(action);
        (w + uw * *n as f64, r + ur * *n as f64)
    });
    let (log_bytes, log_lines) = log_bytes(&measured.lines);
    let polled = measured
        .lines
        .iter()
        .filter(|l| l.msg() == Some(POLLING))
        .count();
    stand_ins.fake.shutdown().await;
    Ok(Usage {
        scale_sets,
        invocation: measured.wall(),
        dynamodb,
        predecessor_tail: tail.into_iter().collect(),
        write_units,
        read_units,
        log_bytes,
        log_lines,
        metrics: metric_sets(&measured.lines),
        clean: measured.status.success() && polled >= scale_sets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(json: Value) -> LogLine {
        LogLine {
            stream: Stream::Stderr,
            at: Utc::now(),
            json,
        }
    }

    #[test]
    fn request_units_by_action() {
        assert_eq!(units("UpdateItem"), (1.0, 0.0));
        assert_eq!(units("TransactWriteItems"), (4.0, 0.0));
        assert_eq!(units("Query"), (0.0, 1.0));
        assert_eq!(units("DescribeTable"), (0.0, 0.0));
    }

    #[test]
    fn the_predecessors_tail_is_taken_off() {
        let calls = BTreeMap::from([("UpdateItem".to_owned(), 5), ("Query".to_owned(), 1)]);
        let tail = BTreeMap::from([("UpdateItem".to_owned(), 2), ("Query".to_owned(), 3)]);
        assert_eq!(less(&calls, &tail), [("UpdateItem".to_owned(), 3)]);
    }

    #[test]
    fn each_metric_and_dimension_value_is_one_metric() {
        let emf = |name: &str, dims: Value, extra: Value| {
            let mut v = json!({"_aws": {"CloudWatchMetrics": [{
                "Namespace": "ghaec2", "Dimensions": [dims], "Metrics": [{"Name": name}]}]}});
            if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            line(v)
        };
        let lines = [
            emf("Launches", json!([]), json!({})),
            emf("Launches", json!([]), json!({})),
            emf(
                "LaunchFailures",
                json!(["ErrorCode"]),
                json!({"ErrorCode": "A"}),
            ),
            emf(
                "LaunchFailures",
                json!(["ErrorCode"]),
                json!({"ErrorCode": "B"}),
            ),
            line(json!({"msg": "Reconciled."})),
        ];
        assert_eq!(
            metric_sets(&lines),
            [
                "ghaec2/LaunchFailures {ErrorCode=A}",
                "ghaec2/LaunchFailures {ErrorCode=B}",
                "ghaec2/Launches"
            ]
        );
        let (bytes, n) = log_bytes(&lines);
        assert_eq!(n, 5);
        assert_eq!(
            bytes,
            lines
                .iter()
                .map(|l| l.json.to_string().len() as u64 + 1)
                .sum::<u64>()
        );
        let time = LogLine {
            stream: Stream::Stderr,
            at: Utc::now(),
            json: Value::String("Maximum resident set size (kbytes): 1".into()),
        };
        assert_eq!(
            log_bytes(&[time]).1,
            0,
            "GNU time's report is not a log line"
        );
    }
}
