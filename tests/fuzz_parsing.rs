//! Fuzzing (proptest) of everything ghaec2 parses from outside: the message envelope and its
//! body, the session response, the JIT config response, the other wire types, and the
//! configuration from arbitrary environment values.
//!
//! Two kinds of input per parser: arbitrary bytes or strings (and byte-level mutations of
//! valid documents), and structure-aware ones: valid JSON shapes with BOMs, PascalCase keys,
//! odd unicode and extreme integers, or with one field deleted or replaced by a value of any
//! type, or with members set to `null`. Properties: nothing panics; valid input parses to
//! exactly what was generated; `null` reads as absent; invalid input gives a typed error naming
//! the field, and a bad job message costs only itself; no error or `Debug` shows a secret.
//!
//! `PROPTEST_CASES` is the case count of each `fuzz_*` target (default 256, a few seconds in
//! CI); `make fuzz` runs one million in total. Each target prints `fuzz-cases <target> <n>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use ghaec2::actions::http::{Response, parse_retry_after};
use ghaec2::actions::messages::{self, JOB_MESSAGES_TYPE, JobInfo, JobMessage, RunnerRef};
use ghaec2::actions::session::Session;
use ghaec2::actions::wire::{
    self, Envelope, ErrorBody, JitConfigResponse, ListResponse, RunnerGroup, RunnerReference,
    RunnerRegistrationResponse, RunnerScaleSet, SessionResponse, Statistics, TokenResponse,
};
use ghaec2::config::{Config, GitHubCredential, Problem, Secret, vars};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use reqwest::{Method, StatusCode, Url};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

/// Every generated secret contains this; no other generator can produce it.
const MARK: &str = "SeKrEt";

// --- Harness ---------------------------------------------------------------------------------

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Runs `property` on `cases()` inputs of `strategy`; a failure panics with the shrunk input.
fn fuzz<S>(name: &str, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let config = ProptestConfig {
        cases: cases(),
        // Failures are reported with their input; no files are written into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let count = AtomicU64::new(0);
    let result = TestRunner::new(config).run(&strategy, |input| {
        count.fetch_add(1, Ordering::Relaxed);
        property(input)
    });
    eprintln!("fuzz-cases {name} {}", count.load(Ordering::Relaxed));
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

// --- Generators ------------------------------------------------------------------------------

/// Strings a parser should survive: arbitrary unicode, control characters, RTL marks, BOMs,
/// lookalikes of numbers and times, long runs.
fn odd_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => text(any::<char>(), 0..16),
        2 => text(prop::char::range(' ', '~'), 0..24),
        1 => chars_of("\u{0}\u{1}\u{1f}\u{7f}\u{feff}\u{202e}\u{200b}\u{fffd}é日本🦀\\\"\n\t", 0..8),
        1 => prop::sample::select(vec![
            "", " ", "\u{feff}", "null", "true", "-0", "1e309", "NaN",
            "9223372036854775808", "0001-01-01T00:00:00Z", "2026-13-45T99:99:99Z",
            "RunnerScaleSetJobMessages", "JobAssigned", "{", "[]", "\"", "\\",
        ])
        .prop_map(str::to_owned),
        1 => (1usize..5000).prop_map(|n| "x".repeat(n)),
    ]
    .boxed()
}

/// Strings of `chars` (cheaper than regex strategies, which dominate a debug build's time).
fn text(
    chars: impl Strategy<Value = char> + 'static,
    len: std::ops::Range<usize>,
) -> BoxedStrategy<String> {
    prop::collection::vec(chars, len)
        .prop_map(String::from_iter)
        .boxed()
}

/// Strings of the characters of `set`.
fn chars_of(set: &str, len: std::ops::Range<usize>) -> BoxedStrategy<String> {
    text(prop::sample::select(set.chars().collect::<Vec<_>>()), len)
}

const TOKEN_CHARS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

/// A secret value: printable, no spaces, marked.
fn secret() -> impl Strategy<Value = String> {
    chars_of(TOKEN_CHARS, 0..40).prop_map(|s| format!("{MARK}{s}"))
}

/// Integer literals beyond what the fields hold, as JSON text.
const HUGE: [&str; 8] = [
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    "-9223372036854775809",
    "18446744073709551616",
    "1.5",
    "-0.0",
    "1E2",
];

/// A string value that [`render`] turns into `HUGE[i]`, unquoted.
fn huge_placeholder(i: usize) -> Value {
    Value::String(format!("\u{0}HUGE{i}"))
}

/// JSON text of `value`, with huge-number placeholders spliced in.
fn render(value: &Value) -> String {
    let mut text = serde_json::to_string(value).unwrap();
    for (i, literal) in HUGE.iter().enumerate() {
        text = text.replace(&format!("\"\\u0000HUGE{i}\""), literal);
    }
    text
}

/// A JSON value of any type, nested a little.
fn any_json() -> BoxedStrategy<Value> {
    json_of_any_type(0..HUGE.len())
}

/// [`any_json`] with only the huge numbers that serde_json can read (as floats): a document
/// with 1e400 anywhere is not JSON serde_json accepts, whatever the field.
fn readable_json() -> BoxedStrategy<Value> {
    json_of_any_type(2..HUGE.len())
}

fn json_of_any_type(huge: std::ops::Range<usize>) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        huge.prop_map(huge_placeholder),
        odd_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(chars_of("abcdefghABCDEFGH", 1..8), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Keys with their first letter upper-cased, as the .NET service may send them.
fn pascal_case(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut chars = k.chars();
                    let key = match chars.next() {
                        Some(first) => first.to_uppercase().chain(chars).collect(),
                        None => k,
                    };
                    (key, pascal_case(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(pascal_case).collect()),
        other => other,
    }
}

/// How a document goes on the wire: maybe PascalCase, maybe behind a BOM.
#[derive(Debug, Clone, Copy)]
struct Dress {
    pascal: bool,
    bom: bool,
}

fn dress() -> impl Strategy<Value = Dress> {
    (any::<bool>(), any::<bool>()).prop_map(|(pascal, bom)| Dress { pascal, bom })
}

impl Dress {
    fn value(self, value: Value) -> Value {
        if self.pascal {
            pascal_case(value)
        } else {
            value
        }
    }

    fn bytes(self, value: Value) -> Vec<u8> {
        let text = render(&self.value(value));
        let mut bytes = if self.bom {
            b"\xEF\xBB\xBF".to_vec()
        } else {
            Vec::new()
        };
        bytes.extend_from_slice(text.as_bytes());
        bytes
    }
}

fn statistics() -> impl Strategy<Value = Statistics> {
    prop::array::uniform7(any::<i64>()).prop_map(|n| Statistics {
        total_available_jobs: n[0],
        total_acquired_jobs: n[1],
        total_assigned_jobs: n[2],
        total_running_jobs: n[3],
        total_registered_runners: n[4],
        total_busy_runners: n[5],
        total_idle_runners: n[6],
    })
}

/// Statistics, missing with probability `missing`.
fn maybe_statistics(missing: f64) -> BoxedStrategy<Option<Statistics>> {
    if missing > 0.0 {
        prop::option::weighted(1.0 - missing, statistics()).boxed()
    } else {
        statistics().prop_map(Some).boxed()
    }
}

fn statistics_json(s: &Statistics) -> Value {
    serde_json::to_value(s).unwrap()
}

/// A message time as sent, and what parsing must make of it: RFC 3339 after the epoch is
/// kept; anything else (zero time, garbage, wrong type) is absent.
fn time() -> impl Strategy<Value = (Value, Option<DateTime<Utc>>)> {
    prop_oneof![
        4 => (1i64..253_402_000_000, 0u32..1000, any::<bool>()).prop_map(|(secs, ms, utc)| {
            let t = DateTime::from_timestamp(secs, ms * 1_000_000).unwrap();
            let text = if utc {
                t.to_rfc3339_opts(SecondsFormat::Millis, true)
            } else {
                t.with_timezone(&chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap())
                    .to_rfc3339()
            };
            (Value::from(text), Some(t))
        }),
        1 => Just((Value::from("0001-01-01T00:00:00Z"), None)),
        1 => Just((Value::Null, None)),
        1 => any::<i64>().prop_map(|n| (Value::from(n), None)),
        1 => readable_json().prop_map(|v| {
            // A string that happens to be a valid time after the epoch would be kept.
            let kept = v
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| t.timestamp() > 0);
            (v, kept)
        }),
    ]
}

fn job_info() -> impl Strategy<Value = (Map<String, Value>, JobInfo)> {
    (
        (any::<i64>(), odd_string(), odd_string(), odd_string()),
        (odd_string(), odd_string(), any::<i64>(), odd_string()),
        prop::collection::vec(odd_string(), 0..4),
        (time(), time(), time(), time()),
    )
        .prop_map(
            |(
                (request_id, job_id, repository, owner),
                (workflow_ref, display_name, run_id, event),
                labels,
                (queue, assign, runner_assign, finish),
            )| {
                let json = json!({
                    "runnerRequestId": request_id, "jobId": job_id,
                    "repositoryName": repository, "ownerName": owner,
                    "jobWorkflowRef": workflow_ref, "jobDisplayName": display_name,
                    "workflowRunId": run_id, "eventName": event, "requestLabels": labels,
                    "queueTime": queue.0, "scaleSetAssignTime": assign.0,
                    "runnerAssignTime": runner_assign.0, "finishTime": finish.0,
                });
                let info = JobInfo {
                    runner_request_id: request_id,
                    job_id,
                    repository_name: repository,
                    owner_name: owner,
                    job_workflow_ref: workflow_ref,
                    job_display_name: display_name,
                    workflow_run_id: run_id,
                    event_name: event,
                    request_labels: labels,
                    queue_time: queue.1,
                    scale_set_assign_time: assign.1,
                    runner_assign_time: runner_assign.1,
                    finish_time: finish.1,
                };
                (json.as_object().unwrap().clone(), info)
            },
        )
}

/// A job message as JSON, and what parsing must give (`None`: an unknown type, dropped).
fn job_message() -> impl Strategy<Value = (Value, Option<JobMessage>)> {
    let known = ["JobAvailable", "JobAssigned", "JobStarted", "JobCompleted"];
    let unknown =
        odd_string().prop_filter("not a known type", move |t| !known.contains(&t.as_str()));
    (
        prop_oneof![
            4 => prop::sample::select(known.to_vec()).prop_map(str::to_owned),
            1 => unknown,
        ],
        job_info(),
        (any::<i64>(), odd_string(), odd_string(), odd_string()),
    )
        .prop_map(
            |(kind, (mut json, job), (runner_id, runner_name, result, url))| {
                json.insert("messageType".into(), Value::from(kind.clone()));
                let request_id = job.runner_request_id;
                let runner = RunnerRef {
                    runner_id,
                    runner_name: runner_name.clone(),
                };
                let expected = match kind.as_str() {
                    "JobAvailable" => {
                        json.insert("acquireJobUrl".into(), Value::from(url.clone()));
                        // Without a request id there is nothing to acquire: passed over.
                        Some(JobMessage::JobAvailable {
                            job,
                            acquire_job_url: url,
                        })
                        .filter(|_| request_id > 0)
                    }
                    "JobAssigned" => Some(JobMessage::JobAssigned { job }),
                    "JobStarted" | "JobCompleted" => {
                        json.insert("runnerId".into(), Value::from(runner_id));
                        json.insert("runnerName".into(), Value::from(runner_name));
                        if kind == "JobStarted" {
                            Some(JobMessage::JobStarted { job, runner })
                        } else {
                            json.insert("result".into(), Value::from(result.clone()));
                            Some(JobMessage::JobCompleted {
                                job,
                                runner,
                                result,
                            })
                        }
                    }
                    _ => None,
                };
                (Value::Object(json), expected)
            },
        )
}

/// A valid envelope: (dress, envelope JSON, body JSON before dressing, what parsing gives).
#[derive(Debug, Clone)]
struct EnvelopeCase {
    dress: Dress,
    id: i64,
    message_type: String,
    statistics: Option<Statistics>,
    body: Vec<Value>,
    expected: Vec<JobMessage>,
    /// The body as "", "  " or "[]"-equivalent when there are no events.
    empty_body: Option<&'static str>,
}

impl EnvelopeCase {
    fn body_text(&self) -> String {
        match (self.body.is_empty(), self.empty_body) {
            (true, Some(text)) => text.to_owned(),
            _ => render(&self.dress.value(Value::Array(self.body.clone()))),
        }
    }

    fn json(&self) -> Value {
        let mut envelope = json!({
            "messageId": self.id, "messageType": self.message_type, "body": self.body_text(),
        });
        if let Some(s) = &self.statistics {
            envelope["statistics"] = statistics_json(s);
        }
        envelope
    }
}

/// Envelopes, all valid if `valid`, else some with a wrong type or without statistics.
fn envelope_case(valid: bool) -> impl Strategy<Value = EnvelopeCase> {
    let (wrong, missing) = if valid { (0, 0.0) } else { (1, 0.1) };
    (
        dress(),
        any::<i64>(),
        prop_oneof![
            8 => Just(JOB_MESSAGES_TYPE.to_owned()),
            wrong => Just(JOB_MESSAGES_TYPE.to_lowercase()),
            wrong => odd_string(),
        ],
        maybe_statistics(missing),
        prop::collection::vec(job_message(), 0..5),
        prop::option::of(prop::sample::select(vec!["", "  ", "\n"])),
    )
        .prop_map(
            |(dress, id, message_type, statistics, events, empty_body)| {
                let (body, expected): (Vec<Value>, Vec<Option<JobMessage>>) =
                    events.into_iter().unzip();
                EnvelopeCase {
                    dress,
                    id,
                    message_type,
                    statistics,
                    body,
                    expected: expected.into_iter().flatten().collect(),
                    empty_body,
                }
            },
        )
}

/// Replaces the value at `path` (keys, or `#n` for an array index) with `new`, or deletes
/// it when `new` is `None`. Returns false when the path does not exist.
fn mutate(value: &mut Value, path: &[String], new: Option<Value>) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut at = value;
    for key in parents {
        at = match (key.strip_prefix('#'), at) {
            (Some(i), Value::Array(items)) => match items.get_mut(i.parse::<usize>().unwrap()) {
                Some(item) => item,
                None => return false,
            },
            (None, Value::Object(map)) => match map.get_mut(key) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    let Value::Object(map) = at else {
        return false;
    };
    match new {
        Some(v) => {
            map.insert(last.clone(), v);
        }
        None => {
            map.remove(last);
        }
    }
    true
}

/// Leaf paths of a JSON document's objects (for choosing what to mutate).
fn paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(k.clone());
                out.push(prefix.clone());
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(format!("#{i}"));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// Byte-level damage: flips, insertions, deletions, truncation.
#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Flip(i, b)),
            (
                any::<usize>(),
                prop::sample::select(b"{}[]\",:\\0-eE.+ \xEF\xBB\xBF\xff".to_vec())
            )
                .prop_map(|(i, b)| Damage::Insert(i, b)),
            any::<usize>().prop_map(Damage::Delete),
            any::<usize>().prop_map(Damage::Truncate),
        ],
        1..4,
    )
}

fn apply(bytes: &mut Vec<u8>, damage: &[Damage]) {
    for d in damage {
        let len = bytes.len().max(1);
        match *d {
            Damage::Flip(i, b) if !bytes.is_empty() => bytes[i % len] ^= b,
            Damage::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Damage::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % len);
            }
            Damage::Truncate(i) => bytes.truncate(i % (bytes.len() + 1)),
            _ => {}
        }
    }
}

// --- Wire documents --------------------------------------------------------------------------

/// A valid session response: (JSON, token, queue URL, statistics present, session id).
#[derive(Debug, Clone)]
struct SessionCase {
    dress: Dress,
    json: Value,
    token: String,
    url: String,
    statistics: Option<Statistics>,
    id: uuid::Uuid,
}

/// Queue URLs; when not `valid`, also empty ones and arbitrary strings.
fn queue_url(valid: bool) -> BoxedStrategy<String> {
    let invalid = u32::from(!valid);
    prop_oneof![
        4 => (
            chars_of("abcdefghijklmnopqrstuvwxyz", 1..12),
            chars_of("abcdefghijklmnopqrstuvwxyz0123456789/", 0..20),
            chars_of("abcdefghijklmnopqrstuvwxyz0123456789=&", 0..12),
        )
            .prop_map(|(host, path, query)| format!("https://{host}.actions.example/{path}?{query}")),
        invalid => Just(String::new()),
        invalid => odd_string(),
    ]
    .boxed()
}

/// Session responses, all valid if `valid`, else some without URL, token or statistics.
fn session_case(valid: bool) -> impl Strategy<Value = SessionCase> {
    let invalid = u32::from(!valid);
    (
        dress(),
        any::<[u8; 16]>(),
        odd_string(),
        queue_url(valid),
        prop_oneof![4 => secret(), invalid => Just(String::new())],
        maybe_statistics(if valid { 0.0 } else { 0.1 }),
        prop::option::of((any::<i64>(), odd_string())),
    )
        .prop_map(|(dress, id, owner, url, token, statistics, scale_set)| {
            let id = uuid::Uuid::from_bytes(id);
            let mut json = json!({
                "sessionId": id.to_string(), "ownerName": owner, "messageQueueUrl": url,
                "messageQueueAccessToken": token,
            });
            if let Some(s) = &statistics {
                json["statistics"] = statistics_json(s);
            }
            if let Some((set_id, name)) = scale_set {
                json["runnerScaleSet"] = json!({"id": set_id, "name": name});
            }
            SessionCase {
                dress,
                json,
                token,
                url,
                statistics,
                id,
            }
        })
}

/// A valid JIT config response: (JSON, runner, encoded config).
fn jit_case() -> impl Strategy<Value = (Dress, Value, RunnerReference, String)> {
    (
        dress(),
        (any::<i64>(), odd_string(), any::<i64>()),
        (
            prop::option::of(odd_string()),
            prop::option::of(any::<bool>()),
        ),
        secret(),
    )
        .prop_map(|(dress, (id, name, set_id), (status, busy), config)| {
            let mut runner = json!({"id": id, "name": name, "runnerScaleSetId": set_id});
            if let Some(s) = &status {
                runner["status"] = Value::from(s.clone());
            }
            if let Some(b) = busy {
                runner["busy"] = Value::from(b);
            }
            let json = json!({"runner": runner, "encodedJITConfig": config});
            let expected = RunnerReference {
                id,
                name,
                runner_scale_set_id: set_id,
                status,
                busy,
            };
            (dress, json, expected, config)
        })
}

/// Every decoder and checker that reads service bytes; none may panic.
fn parse_everything(bytes: &[u8]) {
    if let Ok(envelope) = messages::decode_envelope(bytes) {
        let _ = messages::parse(&envelope);
    }
    let _ = messages::parse_body(&String::from_utf8_lossy(bytes));
    if let Ok(session) = wire::decode::<SessionResponse>(bytes) {
        let _ = Session::from_response(1, session);
    }
    let _ = wire::decode::<JitConfigResponse>(bytes);
    let _ = wire::decode::<RunnerRegistrationResponse>(bytes);
    let _ = wire::decode::<TokenResponse>(bytes);
    let _ = wire::decode::<ErrorBody>(bytes);
    let _ = wire::decode::<Statistics>(bytes);
    let _ = wire::decode::<ListResponse<RunnerScaleSet>>(bytes);
    let _ = wire::decode::<ListResponse<i64>>(bytes);
    let text = String::from_utf8_lossy(bytes);
    let _ = ghaec2::actions::auth::jwt_expiry(&text);
    let _ = parse_retry_after(&text, Utc::now());
    let response = Response {
        status: StatusCode::BAD_REQUEST,
        headers: Default::default(),
        body: bytes.to_vec(),
    };
    let _ = response.is_html();
    let url = Url::parse("https://broker.actions.example/_apis/x").unwrap();
    let error = response.error(&Method::GET, &url);
    // Error text is bounded: 512 characters of body and an ellipsis.
    assert!(error.message.chars().count() <= 513, "{}", error.message);
}

// --- Targets: service responses ---------------------------------------------------------------

#[test]
fn fuzz_wire_arbitrary_bytes() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        (
            any::<bool>(),
            chars_of("[]{}\",:0123456789aezAEZ \\.+-tnulrfs", 0..200)
        )
            .prop_map(|(bom, s)| {
                let mut b = if bom {
                    b"\xEF\xBB\xBF".to_vec()
                } else {
                    Vec::new()
                };
                b.extend_from_slice(s.as_bytes());
                b
            }),
    ];
    fuzz("wire_arbitrary_bytes", bytes, |bytes| {
        parse_everything(&bytes);
        Ok(())
    });
}

#[test]
fn fuzz_wire_damaged_documents() {
    let document = prop_oneof![
        envelope_case(false).prop_map(|c| c.dress.bytes(c.json())),
        session_case(false).prop_map(|c| c.dress.bytes(c.json)),
        jit_case().prop_map(|(dress, json, _, _)| dress.bytes(json)),
    ];
    fuzz(
        "wire_damaged_documents",
        (document, damage()),
        |(mut bytes, damage)| {
            apply(&mut bytes, &damage);
            parse_everything(&bytes);
            Ok(())
        },
    );
}

#[test]
fn fuzz_envelope_and_body_round_trip() {
    fuzz(
        "envelope_and_body_round_trip",
        envelope_case(false),
        |case| {
            let bytes = case.dress.bytes(case.json());
            let envelope: Envelope = wire::decode(&bytes)
                .map_err(|e| TestCaseError::fail(format!("valid envelope refused: {e}")))?;
            prop_assert_eq!(envelope.message_id, case.id);
            prop_assert_eq!(&envelope.message_type, &case.message_type);
            prop_assert_eq!(envelope.statistics, case.statistics);
            // Missing statistics leave the events to be handled; only the type is checked.
            match messages::parse(&envelope) {
                Ok(message) if case.message_type == JOB_MESSAGES_TYPE => {
                    prop_assert_eq!(message.id, case.id);
                    prop_assert_eq!(message.statistics, case.statistics);
                    prop_assert_eq!(&message.events, &case.expected);
                    prop_assert_eq!(message.skipped.len(), case.body.len() - case.expected.len());
                }
                Err(e) if case.message_type != JOB_MESSAGES_TYPE => {
                    prop_assert_eq!(e.id, case.id);
                    prop_assert!(e.reason.contains("messageType"), "{}", e);
                }
                outcome => prop_assert!(false, "unexpected outcome {:?}", outcome),
            }
            // The body alone, as the cycle parses it.
            let events = messages::parse_body(&case.body_text())
                .map_err(|e| TestCaseError::fail(format!("valid body refused: {e}")))?
                .events;
            prop_assert_eq!(&events, &case.expected);
            prop_assert_eq!(
                messages::acquirable_ids(&events).len(),
                case.expected
                    .iter()
                    .filter(|e| matches!(e, JobMessage::JobAvailable { .. }))
                    .count()
            );
            Ok(())
        },
    );
}

/// A field of a valid document deleted or given a value of any type: parsing either still
/// succeeds (an optional field, a lenient time, a string for a string) or fails with an error
/// that names the field.
fn check_mutated<T: Debug>(
    what: &str,
    json: &Value,
    path: &[String],
    decoded: Result<T, String>,
) -> Result<(), TestCaseError> {
    if let Err(error) = decoded {
        // A number serde_json cannot hold fails the whole document; it gives the position.
        if error.contains("number out of range at line ") {
            return Ok(());
        }
        let field = path
            .iter()
            .rev()
            .find(|k| !k.starts_with('#'))
            .expect("paths end in a key");
        prop_assert!(
            error.contains(field.as_str()),
            "{} with {:?} changed: the error does not name {:?}: {}\n{}",
            what,
            path,
            field,
            error,
            json
        );
    }
    Ok(())
}

/// Chooses a path of `json` and a replacement (`None`: delete).
fn mutation_of(json: &Value) -> impl Strategy<Value = (Vec<String>, Option<Value>)> + use<> {
    let mut all = Vec::new();
    paths(json, &mut Vec::new(), &mut all);
    (
        prop::sample::select(all),
        prop::option::weighted(0.85, any_json()),
    )
}

#[test]
fn fuzz_envelope_fields_of_any_type() {
    // The envelope's own fields, its statistics, and (in the body) each job message's.
    let case = envelope_case(true).prop_flat_map(|case| {
        let mut json = case.json();
        json["body"] = Value::Array(case.body.clone());
        let mutation = mutation_of(&json);
        (Just(case), Just(json), mutation)
    });
    fuzz(
        "envelope_fields_of_any_type",
        case,
        |(case, mut json, (path, new))| {
            prop_assume!(mutate(&mut json, &path, new));
            // The body travels as a string.
            let body = json.get("body").cloned().unwrap_or(Value::Null);
            if let Value::Array(_) = body {
                json["body"] = Value::from(render(&case.dress.value(body)));
            }
            let decoded = messages::decode_envelope(&case.dress.bytes(json.clone()))
                .map_err(|e| e.to_string())
                .and_then(|envelope| messages::parse(&envelope).map_err(|e| e.to_string()));
            // A changed job message costs only itself: it is passed over by its index. (A
            // number serde_json cannot hold still fails the whole body, as check_mutated says.)
            let out_of_range = decoded
                .as_ref()
                .is_err_and(|e| e.contains("number out of range at line "));
            if let [body, index, _, ..] = path.as_slice()
                && body == "body"
                && let Some(i) = index.strip_prefix('#')
                && !out_of_range
            {
                let message = decoded.map_err(TestCaseError::fail)?;
                let at = format!("body[{i}]: ");
                let kept = message.events.len() == case.expected.len();
                let skipped = message.skipped.iter().any(|s| s.starts_with(&at));
                prop_assert!(kept || skipped, "{:?} after changing {:?}", message, path);
                return Ok(());
            }
            check_mutated("envelope", &json, &path, decoded)
        },
    );
}

#[test]
fn fuzz_session_response() {
    fuzz("session_response", session_case(false), |case| {
        let bytes = case.dress.bytes(case.json.clone());
        let response: SessionResponse = wire::decode(&bytes)
            .map_err(|e| TestCaseError::fail(format!("valid session refused: {e}")))?;
        let debug = format!("{response:?}");
        prop_assert!(!debug.contains(MARK), "{}", debug);
        let valid_url = Url::parse(&case.url).ok();
        match Session::from_response(7, response) {
            Ok(session) => {
                prop_assert_eq!(session.id, case.id);
                prop_assert_eq!(session.scale_set_id, 7);
                prop_assert_eq!(Some(&session.queue_url), valid_url.as_ref());
                prop_assert_eq!(
                    session.queue_token().map(|t| t.expose_secret()),
                    Some(case.token.as_str())
                );
                prop_assert_eq!(session.statistics, case.statistics);
                let debug = format!("{session:?}");
                prop_assert!(!debug.contains(MARK), "{}", debug);
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(
                    !text.contains(MARK) && !format!("{e:?}").contains(MARK),
                    "{}",
                    text
                );
                let named = if valid_url.is_none() {
                    "messageQueueUrl"
                } else if case.token.is_empty() {
                    "messageQueueAccessToken"
                } else {
                    return Err(TestCaseError::fail(format!(
                        "valid session refused: {text}"
                    )));
                };
                prop_assert!(text.contains(named), "{} not named: {}", named, text);
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_session_fields_of_any_type() {
    let case = session_case(true).prop_flat_map(|case| {
        let mutation = mutation_of(&case.json);
        (Just(case), mutation)
    });
    fuzz("session_fields_of_any_type", case, |(case, (path, new))| {
        let mut json = case.json.clone();
        prop_assume!(mutate(&mut json, &path, new));
        let decoded = wire::decode::<SessionResponse>(&case.dress.bytes(json.clone()))
            .map_err(|e| e.to_string())
            .and_then(|r| Session::from_response(1, r).map_err(|e| e.to_string()));
        if let Err(e) = &decoded {
            // The token is a secret even when another field is wrong.
            prop_assert!(!e.contains(MARK), "{}", e);
        }
        check_mutated("session", &json, &path, decoded)
    });
}

#[test]
fn fuzz_jit_config_response() {
    let case = jit_case().prop_flat_map(|(dress, json, runner, config)| {
        let mutation = prop::option::weighted(0.5, mutation_of(&json));
        (Just((dress, json, runner, config)), mutation)
    });
    fuzz(
        "jit_config_response",
        case,
        |((dress, mut json, runner, config), mutation)| {
            let path = match mutation {
                Some((path, new)) => {
                    prop_assume!(mutate(&mut json, &path, new));
                    Some(path)
                }
                None => None,
            };
            let decoded = wire::decode::<JitConfigResponse>(&dress.bytes(json.clone()));
            match (&decoded, path) {
                (Ok(jit), None) => {
                    prop_assert_eq!(&jit.runner, &runner);
                    prop_assert_eq!(&jit.encoded_jit_config, &config);
                }
                (Err(e), None) => prop_assert!(false, "valid JIT response refused: {}", e),
                (_, Some(path)) => {
                    if let Err(e) = &decoded {
                        prop_assert!(!e.to_string().contains(MARK), "{}", e);
                    }
                    let decoded = decoded.as_ref().map_err(|e| e.to_string());
                    check_mutated("jit config", &json, &path, decoded)?;
                }
            }
            if let Ok(jit) = &decoded {
                let debug = format!("{jit:?}");
                prop_assert!(!debug.contains(MARK), "{}", debug);
            }
            Ok(())
        },
    );
}

// --- Targets: configuration ------------------------------------------------------------------

/// Every variable ghaec2 reads.
const VARIABLES: [&str; 35] = [
    vars::GITHUB_CONFIG_URL,
    vars::GITHUB_ENTERPRISE_URL,
    vars::ORGANIZATION_NAME,
    vars::GITHUB_ACTIONS_FORCE_GHES,
    vars::GITHUB_TOKEN,
    vars::GITHUB_TOKEN_SSM_PARAMETER,
    vars::GITHUB_APP_ID,
    vars::GITHUB_APP_INSTALLATION_ID,
    vars::GITHUB_APP_PRIVATE_KEY,
    vars::GITHUB_APP_PRIVATE_KEY_SSM_PARAMETER,
    vars::RUNNER_GROUP,
    vars::RUNNER_SCALE_SET_NAME,
    vars::RUNNER_SCALE_SET_ID,
    vars::RUNNER_LABELS,
    vars::MIN_RUNNERS,
    vars::MAX_RUNNERS,
    vars::AWS_REGION,
    vars::AWS_DEFAULT_REGION,
    vars::EC2_SUBNET_ID,
    vars::EC2_SECURITY_GROUP_ID,
    vars::EC2_KEY_PAIR_NAME,
    vars::EC2_INSTANCE_TYPE,
    vars::EC2_AMI_ID,
    vars::EC2_SPOT_PRICE,
    vars::EC2_INSTANCE_PROFILE,
    vars::EC2_ASSOCIATE_PUBLIC_IP,
    vars::EC2_ROOT_VOLUME_SIZE_GIB,
    vars::EC2_ON_DEMAND_FAILOVER,
    vars::STATE_TABLE_NAME,
    vars::DRAIN_WINDOW_SECONDS,
    vars::RUNNER_BOOT_TIMEOUT_SECONDS,
    vars::RUNNER_WORK_FOLDER,
    vars::RUNNER_MIN_VERSION,
    // Twice the secrets: they get their own generators below.
    vars::GITHUB_TOKEN,
    vars::GITHUB_APP_PRIVATE_KEY,
];

/// Variables whose values are never shown.
const SECRET_VARIABLES: [&str; 2] = [vars::GITHUB_TOKEN, vars::GITHUB_APP_PRIVATE_KEY];

const KEY_BODY: &str = "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4DSmoEmo3qGy0t6z09AIJtH+5OeRV1be+N4cDYJKffGzDa88vQENZiRm0GRq6a+HPGQMd2kTQIhAKMSvzIBnni7ot/OSie2TmJLY4SwTQAevXysE2RbFDYdAiEBCUEaRQnMnbp79mxDXDf6AU0cN/RPBjb9qSHDcWZHGzUCIG2Es59z8ugGrDY+pxLQnwfotadxd+Uyv/Ow5T0q5gIJAiEAyS4RaI9YG8EWx/2w0T67ZUVAw8eOMB6BIUg0Xcu+3okCIBOs/5OiPgoTdSy7bcF9IGpSE8ZgGKzgYQVZeN97YE00";

/// Values for a variable: arbitrary, near-valid, numbers of every size, and for secrets and
/// URLs marked secrets (a token, a key, a password in user info).
fn env_value(variable: &'static str) -> BoxedStrategy<String> {
    let numbers = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..2000).prop_map(|n| n.to_string()),
        (0..HUGE.len()).prop_map(|i| HUGE[i].to_owned()),
        "[ +-]?[0-9]{1,25}",
    ];
    let general =
        prop_oneof![4 => odd_string(), 2 => numbers, 1 => "[a-z]{1,6}(,[a-z0-9 -]{0,8}){0,3}"];
    match variable {
        vars::GITHUB_TOKEN => prop_oneof![
            3 => secret(),
            1 => (secret(), odd_string()).prop_map(|(s, junk)| format!("{s} {junk}")),
        ]
        .boxed(),
        vars::GITHUB_APP_PRIVATE_KEY => (
            prop::sample::select(vec!["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"]),
            prop::sample::select(vec!["\n", "\\n", " ", "\r\n"]),
            "[A-Za-z0-9+/]{0,8}",
        )
            .prop_map(|(label, sep, extra)| {
                format!("-----BEGIN {label}-----{sep}{MARK}{extra}{KEY_BODY}{sep}-----END {label}-----")
            })
            .boxed(),
        vars::GITHUB_CONFIG_URL | vars::GITHUB_ENTERPRISE_URL => prop_oneof![
            2 => general,
            1 => ("[a-z]{1,8}", secret(), "[a-z]{1,8}")
                .prop_map(|(user, password, org)| format!("https://{user}:{password}@github.com/{org}")),
            1 => "https://[a-z.]{1,12}(/[a-z-]{1,8}){0,3}/?",
        ]
        .boxed(),
        _ => general.boxed(),
    }
}

/// The required variables of a valid configuration with a token.
fn minimal() -> BTreeMap<&'static str, String> {
    [
        (vars::GITHUB_CONFIG_URL, "https://github.com/my-org"),
        (vars::GITHUB_TOKEN, "ghp_SeKrEtT0k3n"),
        (vars::RUNNER_SCALE_SET_NAME, "linux-x64"),
        (vars::EC2_SUBNET_ID, "subnet-0123abcd"),
        (vars::EC2_SECURITY_GROUP_ID, "sg-0123abcd"),
        (vars::EC2_AMI_ID, "ami-0123456789abcdef0"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

fn load(env: &BTreeMap<&'static str, String>) -> Result<Config, ghaec2::config::ConfigError> {
    Config::from_lookup(|name| env.get(name).cloned())
}

/// What must hold for any environment: no secret in the error (text or `Debug`) or in the
/// configuration's `Debug`; a secret variable's problem shows no value; any other
/// problem shows the value as given (trimmed).
fn check_config(
    env: &BTreeMap<&'static str, String>,
    result: &Result<Config, ghaec2::config::ConfigError>,
) -> Result<(), TestCaseError> {
    match result {
        Ok(config) => {
            prop_assert!(!format!("{config:?}").contains(MARK), "{:?}", config);
            if let GitHubCredential::Token(Secret::Value(token)) = &config.github.credential {
                prop_assert_eq!(
                    token.expose_secret(),
                    env[vars::GITHUB_TOKEN].trim(),
                    "the token round-trips"
                );
            }
        }
        Err(error) => {
            let text = format!("{error}\n{error:?}");
            prop_assert!(!text.contains(MARK), "a secret in the error:\n{}", text);
            prop_assert!(!error.problems().is_empty());
            for problem in error.problems() {
                let variables = problem.variables();
                prop_assert!(!variables.is_empty());
                // The line starts with the variable it is about.
                prop_assert!(problem.to_string().starts_with(variables[0]), "{}", problem);
                if let Problem::Invalid {
                    variable, value, ..
                } = problem
                {
                    let given = env.get(variable).map(|v| v.trim());
                    match value {
                        None => {}
                        // MIN_RUNNERS above MAX_RUNNERS shows the number as read.
                        Some(v) if *variable == vars::MIN_RUNNERS => {
                            prop_assert_eq!(
                                given.and_then(|g| g.parse::<u32>().ok()),
                                v.parse().ok()
                            )
                        }
                        Some(v) => prop_assert_eq!(given, Some(v.as_str()), "{}", problem),
                    }
                    if SECRET_VARIABLES.contains(variable) {
                        prop_assert!(value.is_none(), "{}", problem);
                    }
                }
            }
        }
    }
    Ok(())
}

#[test]
fn fuzz_config_arbitrary_environment() {
    let env = prop::collection::vec(
        prop::sample::select(VARIABLES.to_vec())
            .prop_flat_map(|variable| (Just(variable), env_value(variable))),
        0..20,
    )
    .prop_map(|pairs| pairs.into_iter().collect::<BTreeMap<_, _>>());
    fuzz("config_arbitrary_environment", env, |env| {
        check_config(&env, &load(&env))
    });
}

/// A valid configuration with a few variables changed to arbitrary values: it stays valid, or
/// every problem names a changed variable.
#[test]
fn fuzz_config_mutated_valid_environment() {
    let changes =
        prop::collection::btree_map(prop::sample::select(VARIABLES.to_vec()), Just(()), 1..4)
            .prop_flat_map(|names| {
                names
                    .into_keys()
                    .map(|v| (Just(v), prop::option::weighted(0.9, env_value(v))))
                    .collect::<Vec<_>>()
            });
    fuzz("config_mutated_valid_environment", changes, |changes| {
        let mut env = minimal();
        let mut changed = BTreeSet::new();
        for (variable, value) in changes {
            changed.insert(variable);
            match value {
                Some(v) => env.insert(variable, v),
                None => env.remove(variable),
            };
        }
        let result = load(&env);
        check_config(&env, &result)?;
        if let Err(error) = &result {
            for problem in error.problems() {
                if let Problem::Missing { variable, .. } = problem {
                    // Removing or adding a setting can make another one required. A list of
                    // only commas and blanks is as good as unset (src/config/ec2.rs).
                    let unset = env
                        .get(variable)
                        .is_none_or(|v| v.split(',').all(|item| item.trim().is_empty()));
                    prop_assert!(unset, "{} but it is set", problem);
                    continue;
                }
                let names_a_change = problem.variables().iter().any(|v| changed.contains(v))
                    // GHES routing changes how the (unchanged) config URL is read.
                    || changed.contains(vars::GITHUB_ACTIONS_FORCE_GHES);
                prop_assert!(names_a_change, "{} (changed: {:?})", problem, changed);
            }
        }
        Ok(())
    });
}

/// Valid values of the numeric, boolean and list settings parse to what was given.
#[test]
fn fuzz_config_valid_values_round_trip() {
    let values = (
        (0u32..=1000, 0u32..=1000),
        (1u64..=840, 30u64..=3600, 8u32..=16384),
        (
            prop::sample::select(vec!["true", "1", "yes", "false", "0", "no"]),
            prop::sample::select(vec!["true", "1", "yes", "false", "0", "no"]),
            any::<[bool; 2]>(),
        ),
        prop::collection::vec("[a-zA-Z0-9._-]{1,20}", 0..5),
        "[ \t]{0,2}",
    );
    fuzz(
        "config_valid_values_round_trip",
        values,
        |((a, b), (window, boot, volume), (public_ip, failover, upper), labels, pad)| {
            let (min, max) = (a.min(b), a.max(b));
            let case = |s: &str, up: bool| if up { s.to_uppercase() } else { s.to_owned() };
            let mut env = minimal();
            for (variable, value) in [
                (vars::MIN_RUNNERS, min.to_string()),
                (vars::MAX_RUNNERS, max.to_string()),
                (vars::DRAIN_WINDOW_SECONDS, window.to_string()),
                (vars::RUNNER_BOOT_TIMEOUT_SECONDS, boot.to_string()),
                (vars::EC2_ROOT_VOLUME_SIZE_GIB, volume.to_string()),
                (vars::EC2_ASSOCIATE_PUBLIC_IP, case(public_ip, upper[0])),
                (vars::EC2_ON_DEMAND_FAILOVER, case(failover, upper[1])),
                (vars::RUNNER_LABELS, labels.join(" , ")),
            ] {
                env.insert(variable, format!("{pad}{value}{pad}"));
            }
            let result = load(&env);
            check_config(&env, &result)?;
            let config = result.map_err(|e| TestCaseError::fail(format!("refused:\n{e}")))?;
            let truthy = |s: &str| ["true", "1", "yes"].contains(&s);
            prop_assert_eq!(
                (config.scaling.min_runners, config.scaling.max_runners),
                (min, max)
            );
            prop_assert_eq!(config.runtime.drain_window.as_secs(), window);
            prop_assert_eq!(config.runtime.runner_boot_timeout.as_secs(), boot);
            prop_assert_eq!(config.ec2.root_volume_size_gib, volume);
            prop_assert_eq!(config.ec2.associate_public_ip, truthy(public_ip));
            prop_assert_eq!(config.ec2.on_demand_failover, truthy(failover));
            // The scale set name first, then each label once (ignoring case).
            let mut expected: Vec<String> = vec!["linux-x64".to_owned()];
            for label in labels {
                if !expected.iter().any(|l| l.eq_ignore_ascii_case(&label)) {
                    expected.push(label);
                }
            }
            prop_assert_eq!(&config.github.labels, &expected);
            Ok(())
        },
    );
}

// --- Nulls in every field ----------------------------------------------------------------------

/// Some members of `json` (any depth, each with probability 0.3), to be nulled.
fn some_members(json: &Value) -> impl Strategy<Value = Vec<Vec<String>>> + use<> {
    let mut all = Vec::new();
    paths(json, &mut Vec::new(), &mut all);
    let count = all.len();
    prop::collection::vec(prop::bool::weighted(0.3), count).prop_map(move |picks| {
        all.iter()
            .zip(picks)
            .filter(|(_, pick)| *pick)
            .map(|(path, _)| path.clone())
            .collect()
    })
}

/// `json` with every path in `chosen` set to `null` (`Some`) or removed (`None`); outer
/// members first, so that a nulled parent hides its children.
fn with_members(json: &Value, chosen: &[Vec<String>], null: bool) -> Value {
    let mut out = json.clone();
    for path in chosen.iter().rev() {
        mutate(&mut out, path, null.then_some(Value::Null));
    }
    out
}

/// `null` reads as absent everywhere, and fails only for a value that is truly needed, named
/// in the error: `decode` maps a document to its outcome, `needed` are the keys that may fail.
fn check_nulls(
    json: &Value,
    chosen: &[Vec<String>],
    needed: &[&str],
    decode: impl Fn(&Value) -> Result<String, String>,
) -> Result<(), TestCaseError> {
    let nulled = decode(&with_members(json, chosen, true));
    prop_assert_eq!(&nulled, &decode(&with_members(json, chosen, false)));
    if let Err(error) = nulled {
        let named = chosen
            .iter()
            .filter_map(|path| path.last())
            .any(|key| needed.contains(&key.as_str()) && error.contains(key.as_str()));
        prop_assert!(named, "{} after nulling {:?}", error, chosen);
    }
    Ok(())
}

/// [`check_nulls`] over members of `document` chosen at random, each choice sent in every
/// [`Dress`]; `needed` are the keys that may fail.
fn nulls_in<T: Debug>(
    name: &str,
    document: Value,
    needed: &[&str],
    decode: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
) {
    let cases = (dress(), some_members(&document));
    fuzz(&format!("nulls_in_{name}"), cases, |(dress, chosen)| {
        check_nulls(&document, &chosen, needed, |json| {
            decode(&dress.bytes(json.clone()))
                .map(|r| format!("{r:?}"))
                .map_err(|e| e.to_string())
        })
    });
}

#[test]
fn fuzz_nulls_in_every_field() {
    let envelope = envelope_case(true).prop_flat_map(|case| {
        let mut json = case.json();
        json["body"] = Value::Array(case.body.clone());
        let chosen = some_members(&json);
        (Just(case), Just(json), chosen)
    });
    fuzz("nulls_in_envelope", envelope, |(case, json, chosen)| {
        let as_sent = |json: &Value| {
            let mut json = json.clone();
            if let Some(body @ Value::Array(_)) = json.get("body").cloned() {
                json["body"] = Value::from(render(&body));
            }
            case.dress.bytes(json)
        };
        let outcome = |json: &Value| {
            messages::decode_envelope(&as_sent(json))
                .map_err(|e| e.to_string())
                .and_then(|envelope| messages::parse(&envelope).map_err(|e| e.to_string()))
        };
        check_nulls(&json, &chosen, &["messageId", "messageType"], |json| {
            outcome(json).map(|message| format!("{message:?}"))
        })?;
        // No job is lost: each JobAvailable whose type and request id are left is acquired.
        if let Ok(message) = outcome(&with_members(&json, &chosen, true)) {
            let lost = |i: usize, key: &str| {
                chosen.contains(&vec!["body".into(), format!("#{i}"), key.into()])
            };
            let acquirable = case
                .body
                .iter()
                .enumerate()
                .filter(|(i, event)| {
                    event["messageType"] == "JobAvailable"
                        && event["runnerRequestId"].as_i64().is_some_and(|id| id > 0)
                        && !lost(*i, "messageType")
                        && !lost(*i, "runnerRequestId")
                })
                .count();
            let body_gone = chosen.contains(&vec!["body".to_owned()]);
            prop_assert_eq!(
                messages::acquirable_ids(&message.events).len(),
                if body_gone { 0 } else { acquirable }
            );
        }
        Ok(())
    });

    let session = session_case(true).prop_flat_map(|case| {
        let chosen = some_members(&case.json);
        (Just(case), chosen)
    });
    fuzz("nulls_in_session", session, |(case, chosen)| {
        let needed = [
            "sessionId",
            "messageQueueUrl",
            "messageQueueAccessToken",
            "statistics",
            "id",
        ];
        check_nulls(&case.json, &chosen, &needed, |json| {
            wire::decode::<SessionResponse>(&case.dress.bytes(json.clone()))
                .map_err(|e| e.to_string())
                .and_then(|r| Session::from_response(1, r).map_err(|e| e.to_string()))
                .map(|session| format!("{session:?}"))
        })
    });

    let jit = jit_case().prop_flat_map(|(dress, json, _, _)| {
        let chosen = some_members(&json);
        (Just(dress), Just(json), chosen)
    });
    fuzz("nulls_in_jit_config", jit, |(dress, json, chosen)| {
        check_nulls(
            &json,
            &chosen,
            &["runner", "id", "encodedJITConfig"],
            |json| {
                wire::decode::<JitConfigResponse>(&dress.bytes(json.clone()))
                    .map(|r| format!("{:?}", r.runner))
                    .map_err(|e| e.to_string())
            },
        )
    });

    // The other answers the client decodes: null and absent read alike everywhere, and only
    // an id may be found missing.
    let statistics = statistics_json(&Statistics {
        total_available_jobs: 1,
        total_acquired_jobs: 2,
        total_assigned_jobs: 3,
        total_running_jobs: 4,
        total_registered_runners: 5,
        total_busy_runners: 6,
        total_idle_runners: 7,
    });
    let scale_set = json!({
        "id": 7, "name": "set", "runnerGroupId": 1, "runnerGroupName": "Default",
        "labels": [{"name": "set", "type": "System"}],
        "runnerSetting": {"ephemeral": true, "isElastic": true, "disableUpdate": true},
        "createdOn": "2026-01-01T00:00:00Z", "runnerJitConfigUrl": "https://x.example/jit",
        "statistics": statistics,
    });
    let runner =
        json!({"id": 3, "name": "r", "runnerScaleSetId": 7, "status": "online", "busy": true});
    nulls_in(
        "token",
        json!({"token": "t", "expires_at": "2026-01-01T00:00:00Z"}),
        &[],
        |b| wire::decode::<TokenResponse>(b).map(|r| r.token),
    );
    nulls_in(
        "registration",
        json!({"url": "https://x.example/", "token": "t", "token_schema": "OAuthAccessToken"}),
        &[],
        |b| wire::decode::<RunnerRegistrationResponse>(b).map(|r| format!("{} {}", r.url, r.token)),
    );
    nulls_in(
        "error_body",
        json!({
            "$id": "1", "innerException": null, "message": "m", "typeName": "T, A",
            "typeKey": "T", "errorCode": 0, "eventId": 3000,
        }),
        &[],
        |b| wire::decode::<ErrorBody>(b).map(|r| format!("{r:?}")),
    );
    nulls_in("statistics", statistics, &[], |b| {
        wire::decode::<Statistics>(b).map(|r| format!("{r:?}"))
    });
    nulls_in(
        "scale_sets",
        json!({"count": 1, "value": [scale_set]}),
        &["id"],
        |b| wire::decode::<ListResponse<RunnerScaleSet>>(b).map(|r| format!("{:?}", r.value)),
    );
    nulls_in(
        "runner_groups",
        json!({
            "count": 1,
            "value": [{"id": 1, "name": "Default", "size": 2, "isDefaultGroup": true}],
        }),
        &["id"],
        |b| wire::decode::<ListResponse<RunnerGroup>>(b).map(|r| format!("{:?}", r.value)),
    );
    nulls_in(
        "agents",
        json!({"count": 1, "value": [runner]}),
        &["id"],
        |b| wire::decode::<ListResponse<RunnerReference>>(b).map(|r| format!("{:?}", r.value)),
    );
    nulls_in("acquired", json!({"count": 2, "value": [4, 5]}), &[], |b| {
        wire::decode::<ListResponse<i64>>(b).map(|r| format!("{:?}", r.value))
    });
}
