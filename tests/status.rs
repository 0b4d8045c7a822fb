//! `ghaec2 --status` as an operator runs it, against moto (through the harness's proxy, which
//! sees every AWS call) and the fake: the runners in each phase, an orphan instance and a held
//! lease are shown as they are, with only reads; the session's and the last message's times and
//! the last decisions; and while a cycle runs, every status reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghaec2::ports::{Fleet, LeaseOutcome, StateStore};
use ghaec2_fake::Mode;
use serde_json::{Value, json};
use support::cycle::{Harness, REGION, SCALE_SET, isolated};

/// A window long enough for moto's calls, a message and a few empty polls.
const WINDOW: Duration = Duration::from_millis(2500);

/// The AWS actions a status may make: reads only.
const READS: [&str; 5] = [
    "GetItem",
    "Query",
    "Scan",
    "DescribeInstances",
    "GetCallerIdentity",
];

/// What a run of the binary left.
struct Ran {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `ghaec2 args…` with the harness's configuration, its AWS calls through the harness's
/// proxy; `extra` variables on top.
async fn ghaec2(h: &Harness, args: &[&str], extra: &[(&str, &str)]) -> Ran {
    let config = &h.config;
    let mut command = Command::new(env!("CARGO_BIN_EXE_ghaec2"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_CONFIG_URL", h.fake.config_url("my-org"))
        .env("GITHUB_TOKEN", ghaec2_fake::DEFAULT_PAT)
        .env("RUNNER_SCALE_SET_NAME", SCALE_SET)
        .env("MIN_RUNNERS", config.scaling.min_runners.to_string())
        .env("MAX_RUNNERS", config.scaling.max_runners.to_string())
        .env("EC2_INSTANCE_TYPE", config.ec2.instance_types.join(","))
        .env("EC2_SUBNET_ID", config.ec2.subnet_ids.join(","))
        .env(
            "EC2_SECURITY_GROUP_ID",
            config.ec2.security_group_ids.join(","),
        )
        .env("EC2_AMI_ID", config.ec2.ami_id.clone().unwrap_or_default())
        .env("STATE_TABLE_NAME", &config.runtime.state_table_name)
        .env("AWS_REGION", REGION)
        .env("AWS_ENDPOINT_URL", h.aws.proxy.url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    for (key, value) in extra {
        command.env(key, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joins")
        .expect("runs ghaec2");
    Ran {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `ghaec2 --status --json`, its one scale set's status.
async fn status_json(h: &Harness) -> Value {
    let ran = ghaec2(h, &["--status", "--json"], &[]).await;
    assert!(ran.success, "{}\n{}", ran.stdout, ran.stderr);
    let document: Value = serde_json::from_str(&ran.stdout).expect(&ran.stdout);
    let scale_sets = document["scaleSets"].as_array().expect("scaleSets");
    assert_eq!(scale_sets.len(), 1, "{document}");
    assert_eq!(scale_sets[0]["scaleSetName"], SCALE_SET, "{document}");
    scale_sets[0].clone()
}

/// The runner in `phase`.
fn runner<'a>(status: &'a Value, phase: &str) -> &'a Value {
    let runners = status["runners"].as_array().expect("runners");
    let mut found = runners.iter().filter(|r| r["phase"] == phase);
    let first = found
        .next()
        .unwrap_or_else(|| panic!("no {phase} runner: {status}"));
    assert!(found.next().is_none(), "one {phase} runner: {status}");
    first
}

/// A busy runner (it took the job), an idle one (online after the job was taken) and a
/// booting one (launched when MIN_RUNNERS went up), an orphan instance (launched for the scale
/// set, never in the ledger) and a lease another invocation holds: `--status` shows each as it
/// is, in text and in JSON, reading only and calling no Actions Service endpoint.
#[tokio::test]
async fn status_shows_each_runner_the_orphan_and_the_held_lease_with_reads_only() {
    let mut h = isolated(Mode::Dotcom, 1, 10).await;
    // One job and MIN_RUNNERS 1: two runners; the first online takes the job.
    h.enqueue(1);
    h.cycle(WINDOW).await.unwrap();
    let first = h.instances().await.remove(0);
    let jit = h.take_jit(&first.id).await.expect("jit config");
    h.fake.connect_runner(&jit).unwrap();
    h.cycle(WINDOW).await.unwrap();
    // The second comes online with no job left; asked about at once, it is recorded idle.
    assert_eq!(h.boot_all().await, 1);
    h.settings.boot_timeout = Duration::ZERO;
    h.cycle(WINDOW).await.unwrap();
    // One more warm runner wanted: launched, it stays booting.
    h.settings.boot_timeout = h.config.runtime.runner_boot_timeout;
    h.settings.min_runners = 2;
    h.cycle(WINDOW).await.unwrap();
    let scale_set_id = h.scale_set_id().await;
    let orphan = h
        .fleet
        .launch(scale_set_id, 1, "status-orphan")
        .await
        .unwrap()
        .instance_ids
        .remove(0);
    let now = Utc::now();
    let held = h
        .store
        .acquire(
            SCALE_SET,
            "other-invocation",
            now + chrono::Duration::minutes(10),
            now,
        )
        .await
        .unwrap();
    assert!(matches!(held, LeaseOutcome::Acquired(..)), "{held:?}");
    let stored = h.store.read(SCALE_SET).await.unwrap().state;
    let busy_job = h
        .ledger()
        .await
        .into_iter()
        .find_map(|r| r.job_id)
        .expect("a busy runner");

    let calls_before = h.aws.proxy.calls().len();
    let fake_calls_before = h.fake.calls().len();
    let status = status_json(&h).await;
    let text = ghaec2(&h, &["--status"], &[]).await;

    let actions: BTreeSet<String> = h.aws.proxy.calls()[calls_before..]
        .iter()
        .map(|c| c.action.clone())
        .collect();
    assert!(
        actions.iter().all(|a| READS.contains(&a.as_str())),
        "{actions:?}"
    );
    assert!(actions.contains("DescribeInstances"), "{actions:?}");
    assert_eq!(h.fake.calls().len(), fake_calls_before, "no Actions call");

    let lease = &status["lease"];
    assert_eq!(lease["holder"], "other-invocation", "{status}");
    assert_eq!(lease["listening"], true, "{status}");
    assert_eq!(status["scaleSetId"], scale_set_id, "{status}");
    let session = stored.session.expect("a session").id.to_string();
    assert_eq!(status["sessionId"], session.as_str(), "{status}");
    assert_eq!(status["lastMessageId"], stored.last_message_id, "{status}");
    assert_eq!(status["statistics"]["totalAssignedJobs"], 1, "{status}");

    assert_eq!(status["runners"].as_array().map(Vec::len), Some(3));
    let busy = runner(&status, "busy");
    assert_eq!(busy["jobId"], busy_job.as_str(), "{status}");
    assert_eq!(runner(&status, "idle")["jobId"], Value::Null, "{status}");
    assert_eq!(runner(&status, "booting")["jobId"], Value::Null);
    let types = &h.config.ec2.instance_types;
    for phase in ["busy", "idle", "booting"] {
        let instance = &runner(&status, phase)["instance"];
        assert!(
            matches!(instance["state"].as_str(), Some("pending" | "running")),
            "{status}"
        );
        let instance_type = instance["instanceType"].as_str().unwrap_or_default();
        assert!(types.iter().any(|t| t == instance_type), "{status}");
        assert!(
            instance["zone"]
                .as_str()
                .is_some_and(|z| z.starts_with(REGION)),
            "{status}"
        );
        assert_eq!(instance["lifecycle"], "spot", "{status}");
    }

    let mismatches = status["mismatches"].as_array().expect("mismatches");
    assert_eq!(mismatches.len(), 1, "{status}");
    let found = &mismatches[0];
    assert_eq!(found["kind"], "orphan", "{status}");
    assert_eq!(found["instanceId"], orphan.as_str());
    assert_eq!(found["next"]["action"], "remove", "{status}");
    assert_eq!(found["next"]["terminate"], orphan.as_str(), "{status}");

    assert!(text.success, "{}\n{}", text.stdout, text.stderr);
    let out = &text.stdout;
    assert!(out.contains("held by other-invocation until"), "{out}");
    assert!(out.contains("listening now"), "{out}");
    assert!(out.contains(&format!("session:    {session}")), "{out}");
    for phase in [" busy ", " idle ", " booting "] {
        assert!(out.contains(phase), "{phase}: {out}");
    }
    assert!(out.contains(&busy_job), "{out}");
    assert!(
        out.contains(&format!(
            "orphan: instance {orphan} of the scale set has no ledger entry; the next reconcile \
             removes the registration (looked up by name) and terminates {orphan}"
        )),
        "{out}"
    );
}

/// A time of the status document.
fn time(status: &Value, key: &str) -> DateTime<Utc> {
    status[key]
        .as_str()
        .and_then(|at| at.parse().ok())
        .unwrap_or_else(|| panic!("{key} is not a time: {status}"))
}

/// After a cycle that took more jobs than MAX_RUNNERS allows runners, `--status` shows when the
/// session was created and last refreshed, when the cursor's message was handled, and the
/// decisions newest first, the launch capped by `max`. A second invocation with nothing new
/// repeats the last decision and writes no decisions.
#[tokio::test]
async fn status_shows_the_session_and_message_times_and_the_decisions() {
    let h = isolated(Mode::Dotcom, 0, 1).await;
    let before = Utc::now();
    h.enqueue(2);
    h.cycle(WINDOW).await.unwrap();

    let status = status_json(&h).await;
    let created = time(&status, "sessionCreatedAt");
    let refreshed = time(&status, "sessionRefreshedAt");
    let handled = time(&status, "lastMessageAt");
    assert!(before <= created, "{status}");
    assert!(created <= refreshed && created <= handled, "{status}");
    assert!(status["lastMessageId"].as_i64() > Some(0), "{status}");
    let decisions = status["decisions"].as_array().expect("decisions");
    assert!(!decisions.is_empty() && decisions.len() <= 5, "{status}");
    let times: Vec<DateTime<Utc>> = decisions
        .iter()
        .map(|d| d["at"].as_str().and_then(|at| at.parse().ok()).expect("at"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {status}"
    );
    assert!(times.iter().all(|at| *at >= before), "{status}");
    let launch = decisions
        .iter()
        .find(|d| d["launched"] == 1)
        .unwrap_or_else(|| panic!("no launch decision: {status}"));
    assert_eq!(launch["desired"], 1, "{status}");
    assert_eq!(launch["cappedBy"], json!(["max"]), "{status}");
    let newest = &decisions[0];
    assert_eq!(
        (&newest["desired"], &newest["current"]),
        (&json!(1), &json!(1))
    );
    assert!(
        decisions.iter().all(|d| d["cappedBy"].is_array()),
        "{status}"
    );

    let text = ghaec2(&h, &["--status"], &[]).await;
    assert!(text.success, "{}\n{}", text.stdout, text.stderr);
    let out = &text.stdout;
    let session = status["sessionId"].as_str().expect("a session");
    assert!(
        out.contains(&format!("session:    {session}, created 20")),
        "{out}"
    );
    assert!(out.contains(", refreshed 20"), "{out}");
    let cursor = format!(
        "cursor:     message {}, handled 20",
        status["lastMessageId"]
    );
    assert!(out.contains(&cursor), "{out}");
    assert!(
        out.contains(&format!("decisions:  {}, newest first", decisions.len())),
        "{out}"
    );
    assert!(out.contains("CAPPED BY"), "{out}");
    assert!(out.lines().any(|l| l.trim_end().ends_with(" max")), "{out}");

    // Nothing new: the next invocation decides as the last did, and writes no decisions.
    let calls_before = h.aws.proxy.calls().len();
    h.cycle(WINDOW).await.unwrap();
    let puts = h.aws.proxy.calls()[calls_before..]
        .iter()
        .filter(|c| c.action == "PutItem")
        .count();
    assert_eq!(puts, 0, "an invocation with nothing new put an item");
    let again = status_json(&h).await;
    assert_eq!(again["decisions"], status["decisions"], "{again}");
    assert!(time(&again, "sessionRefreshedAt") > refreshed, "{again}");
    assert_eq!(time(&again, "sessionCreatedAt"), created, "{again}");
}

/// An idle scale set (no job, no runner) records one decision, desired 0 and current 0, once:
/// the invocations after it write no decisions.
#[tokio::test]
async fn an_idle_scale_set_writes_its_decision_once() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    h.cycle(WINDOW).await.unwrap();
    let first = status_json(&h).await;
    let decisions = first["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 1, "{first}");
    assert_eq!(
        (&decisions[0]["desired"], &decisions[0]["current"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(decisions[0]["cappedBy"], json!([]), "{first}");

    let calls_before = h.aws.proxy.calls().len();
    h.cycle(WINDOW).await.unwrap();
    h.cycle(WINDOW).await.unwrap();
    let puts = h.aws.proxy.calls()[calls_before..]
        .iter()
        .filter(|c| c.action == "PutItem")
        .count();
    assert_eq!(puts, 0, "an idle invocation put an item");
    assert_eq!(status_json(&h).await["decisions"], first["decisions"]);
}

/// While `ghaec2 --once` listens in the background, every `--status` reads what is there
/// (exit 0); one finds the cycle's lease held and listening; once the cycle ended, the lease
/// is free and its runners are shown booting.
#[tokio::test]
async fn status_reads_while_a_cycle_runs() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    h.enqueue(2);
    let running = std::sync::atomic::AtomicBool::new(true);
    let cycle = async {
        let ran = ghaec2(&h, &["--once"], &[("DRAIN_WINDOW_SECONDS", "4")]).await;
        running.store(false, std::sync::atomic::Ordering::SeqCst);
        ran
    };
    let statuses = async {
        let mut seen = Vec::new();
        while running.load(std::sync::atomic::Ordering::SeqCst) {
            seen.push(status_json(&h).await);
            // An operator's pace, not a load test of moto.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        seen
    };
    let (cycle, seen) = tokio::join!(cycle, statuses);
    assert!(cycle.success, "{}\n{}", cycle.stdout, cycle.stderr);
    let summary: Value = serde_json::from_str(&cycle.stdout).expect(&cycle.stdout);
    let listened: Vec<&Value> = seen
        .iter()
        .filter(|s| s["lease"]["listening"] == true)
        .collect();
    assert!(
        !listened.is_empty(),
        "no status found the cycle listening: {seen:?}"
    );
    assert!(
        listened
            .iter()
            .all(|s| s["lease"]["holder"].as_str().is_some_and(|h| !h.is_empty()))
    );

    let after = status_json(&h).await;
    assert_eq!(after["lease"]["listening"], false, "{after}");
    assert_eq!(after["sessionId"], summary["sessionId"], "{after}");
    assert_eq!(after["lastMessageId"], summary["lastMessageId"], "{after}");
    let runners = after["runners"].as_array().expect("runners");
    assert_eq!(runners.len(), 2, "{after}");
    assert!(runners.iter().all(|r| r["phase"] == "booting"), "{after}");
    assert_eq!(after["mismatches"], serde_json::json!([]), "{after}");
}

/// A read that fails is named, with AWS's error code, on stderr and in the JSON document, and
/// the exit is 1.
#[tokio::test]
async fn a_failed_read_is_named_and_exits_non_zero() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    h.cycle(WINDOW).await.unwrap();
    h.aws
        .proxy
        .fail("ec2", "DescribeInstances", 10, "UnauthorizedOperation");
    let ran = ghaec2(&h, &["--status", "--json"], &[]).await;
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    let failed = "status: scale set cycle-set: ec2 describe instances: UnauthorizedOperation";
    assert!(ran.stderr.contains(failed), "{}", ran.stderr);
    let document: Value = serde_json::from_str(&ran.stdout).expect(&ran.stdout);
    let error = document["scaleSets"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("ec2 describe instances"), "{document}");
}

/// `--json` goes with `--status` only, and `--status` with no other mode.
#[test]
fn status_flags_go_alone() {
    for args in [
        &["--json"][..],
        &["--status", "--once"],
        &["--status", "--dry-run"],
        &["--status", "--teardown"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_ghaec2"))
            .args(args)
            .env_clear()
            .output()
            .expect("runs ghaec2");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--status"), "{args:?}: {stderr}");
    }
}
