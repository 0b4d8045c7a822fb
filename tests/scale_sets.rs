//! Several scale sets from one deployment (`SCALE_SETS`): one `ghaec2 --once` serves every
//! listed scale set at the same time, each with its own lease, session and launches, and one
//! scale set's failure never stops the others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ghaec2_fake::{FakeOptions, JobSpec, Mode};
use serde_json::Value;

/// Two shapes, as the README's quick start has them.
const TWO_SHAPES: &str = r#"[
  {"RUNNER_SCALE_SET_NAME": "linux-x64", "RUNNER_LABELS": "x64", "EC2_INSTANCE_TYPE": "t3.micro", "MAX_RUNNERS": 5},
  {"RUNNER_SCALE_SET_NAME": "linux-arm64", "RUNNER_LABELS": "arm64", "EC2_INSTANCE_TYPE": "t4g.micro", "MAX_RUNNERS": "5"}
]"#;

fn scale_set<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["scaleSets"]
        .as_array()
        .and_then(|sets| sets.iter().find(|s| s["scaleSetName"] == name))
        .unwrap_or_else(|| panic!("no scale set {name} in {summary}"))
}

fn enqueue(fake: &ghaec2_fake::FakeServer, label: &str, n: usize) {
    for _ in 0..n {
        fake.enqueue_job(JobSpec::with_labels([label])).unwrap();
    }
}

#[tokio::test]
async fn one_run_serves_every_scale_set_with_its_own_session_and_launches() {
    let fake = support::fake::start(FakeOptions::for_tests().with_mode(Mode::Dotcom)).await;
    let site = support::cli::Site::new("eu-south-1").await;
    enqueue(&fake, "linux-x64", 2);
    enqueue(&fake, "linux-arm64", 1);

    let ran = site
        .run(
            &fake,
            "unused-top-level-name",
            &["--once"],
            &[("SCALE_SETS", TWO_SHAPES), ("DRAIN_WINDOW_SECONDS", "3")],
        )
        .await;
    assert!(ran.success, "{}\n{}", ran.stdout, ran.stderr);
    let summary: Value = serde_json::from_str(ran.stdout.trim()).expect(&ran.stdout);
    assert_eq!(
        summary["scaleSets"].as_array().map(Vec::len),
        Some(2),
        "{summary}"
    );
    let x64 = scale_set(&summary, "linux-x64");
    let arm64 = scale_set(&summary, "linux-arm64");
    assert_eq!(
        (x64["launched"].as_u64(), arm64["launched"].as_u64()),
        (Some(2), Some(1)),
        "{summary}"
    );
    assert_ne!(
        x64["sessionId"], arm64["sessionId"],
        "each scale set has its own session"
    );
    assert_ne!(x64["scaleSetId"], arm64["scaleSetId"]);
    assert_eq!(fake.calls_to("sessions.create").len(), 2);
    // No scale set was made for the top-level name every element overrides.
    assert!(
        !ran.stderr.contains("unused-top-level-name"),
        "{}",
        ran.stderr
    ); // Every line of a cycle names its scale set: the launches and the metric lines.
    let lines: Vec<Value> = ran
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let launches_of = |name: &str| {
        lines
            .iter()
            .filter(|l| l["msg"] == "Launched instances." && l["scale_set"] == name)
            .count()
    };
    assert!(launches_of("linux-x64") >= 1 && launches_of("linux-arm64") >= 1);
    let metrics: Vec<&Value> = lines.iter().filter(|l| l["msg"] == "metric").collect();
    assert!(
        metrics.iter().any(|l| l["Launches"].is_number()),
        "{}",
        ran.stderr
    );
    assert!(
        metrics.iter().all(|l| l["scale_set"].is_string()),
        "{}",
        ran.stderr
    );
    // METRICS is `default`: no launch is published to CloudWatch.
    assert!(
        metrics
            .iter()
            .filter(|l| l["Launches"].is_number())
            .all(|l| l.get("_aws").is_none()),
        "{}",
        ran.stderr
    );
}

#[tokio::test]
async fn a_failing_scale_set_does_not_stop_the_others() {
    let fake = support::fake::start(FakeOptions::for_tests().with_mode(Mode::Dotcom)).await;
    let site = support::cli::Site::new("eu-central-2").await;
    enqueue(&fake, "healthy", 1);
    let sets = r#"[
      {"RUNNER_SCALE_SET_NAME": "healthy"},
      {"RUNNER_SCALE_SET_NAME": "misconfigured", "RUNNER_SCALE_SET_ID": "999"}
    ]"#;

    let ran = site
        .run(
            &fake,
            "unused",
            &["--once"],
            &[("SCALE_SETS", sets), ("DRAIN_WINDOW_SECONDS", "2")],
        )
        .await;
    assert!(
        !ran.success,
        "a failed scale set fails the run:\n{}",
        ran.stdout
    );
    let summary: Value = serde_json::from_str(ran.stdout.trim()).expect(&ran.stdout);
    assert_eq!(
        scale_set(&summary, "healthy")["launched"].as_u64(),
        Some(1),
        "{summary}"
    );
    let failed = scale_set(&summary, "misconfigured");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("RUNNER_SCALE_SET_ID=999"), "{summary}");
    assert!(
        ran.stderr
            .contains("misconfigured: RUNNER_SCALE_SET_ID=999"),
        "stderr names the failed scale set:\n{}",
        ran.stderr
    );
}

#[tokio::test]
async fn a_bad_element_is_refused_at_start_naming_its_index_and_variable() {
    let fake = support::fake::start(FakeOptions::for_tests()).await;
    let site = support::cli::Site::new("eu-west-3").await;
    let sets = r#"[{"RUNNER_SCALE_SET_NAME": "a"}, {"RUNNER_SCALE_SET_NAME": "b", "MAX_RUNNERS": "many"}]"#;
    let ran = site
        .run(&fake, "unused", &["--once"], &[("SCALE_SETS", sets)])
        .await;
    assert!(!ran.success);
    assert!(
        ran.stderr.contains("SCALE_SETS[1] MAX_RUNNERS"),
        "{}",
        ran.stderr
    );
    assert!(fake.calls_to("sessions.create").is_empty(), "nothing ran");
}

#[tokio::test]
async fn the_dry_run_checks_each_scale_set_and_the_shared_parts_once() {
    let fake = support::fake::start(FakeOptions::for_tests()).await;
    let site = support::cli::Site::new("eu-south-2").await;
    let ran = site
        .run(
            &fake,
            "unused",
            &["--dry-run"],
            &[("SCALE_SETS", TWO_SHAPES)],
        )
        .await;
    assert!(ran.success, "{}\n{}", ran.stdout, ran.stderr);
    let lines = |name: &str| ran.stdout.lines().filter(|l| l.contains(name)).count();
    assert_eq!(lines("] credentials:"), 1, "{}", ran.stdout);
    assert_eq!(lines("] scale set:"), 2, "{}", ran.stdout);
    for name in ["linux-x64", "linux-arm64"] {
        assert!(
            ran.stdout.contains(&format!("] ec2 launch: {name}: ")),
            "{}",
            ran.stdout
        );
        assert!(
            ran.stdout.contains(&format!("{name:?} does not exist")),
            "{}",
            ran.stdout
        );
    }
    assert!(
        fake.calls_to("scale-sets.create").is_empty(),
        "dry-run creates nothing"
    );
}

#[tokio::test]
async fn teardown_removes_every_scale_set() {
    let fake = support::fake::start(FakeOptions::for_tests().with_mode(Mode::Dotcom)).await;
    let site = support::cli::Site::new("eu-north-1").await;
    enqueue(&fake, "linux-x64", 1);
    enqueue(&fake, "linux-arm64", 1);
    let env = [("SCALE_SETS", TWO_SHAPES), ("DRAIN_WINDOW_SECONDS", "2")];
    let served = site.run(&fake, "unused", &["--once"], &env).await;
    assert!(served.success, "{}\n{}", served.stdout, served.stderr);

    let torn = site.run(&fake, "unused", &["--teardown"], &env).await;
    assert!(torn.success, "{}\n{}", torn.stdout, torn.stderr);
    for name in ["linux-x64", "linux-arm64"] {
        assert!(
            torn.stdout.contains(&format!("scale set {name:?}:")),
            "{}",
            torn.stdout
        );
    }
    assert_eq!(
        fake.calls_to("scale-sets.delete").len(),
        2,
        "both scale sets deleted:\n{}",
        torn.stdout
    );
}

/// A spot interruption warning (`--once --event`, as the Lambda handler gets it) runs only
/// the scale set whose ledger holds the instance, named as in any run of several; a warning
/// for an instance no ledger holds runs none.
#[tokio::test]
async fn a_spot_warning_runs_only_the_scale_set_that_holds_the_instance() {
    let fake = support::fake::start(FakeOptions::for_tests().with_mode(Mode::Dotcom)).await;
    let site = support::cli::Site::new("ap-south-1").await;
    enqueue(&fake, "linux-arm64", 1);
    let env = [("SCALE_SETS", TWO_SHAPES), ("DRAIN_WINDOW_SECONDS", "2")];
    let served = site.run(&fake, "unused", &["--once"], &env).await;
    assert!(served.success, "{}\n{}", served.stdout, served.stderr);
    let [(arm64, kind)] = <[_; 1]>::try_from(site.live_instances().await).unwrap();
    assert_eq!(kind, "t4g.micro");

    let event = |instance: &str| {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/events/spot-interruption.json"
        ))
        .unwrap();
        let name = format!("ghaec2-spot-{}-{instance}.json", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, text.replace("i-0123456789abcdef0", instance)).unwrap();
        path.to_string_lossy().into_owned()
    };
    let warned = site
        .run(
            &fake,
            "unused",
            &["--once", "--event", &event(&arm64)],
            &env,
        )
        .await;
    assert!(warned.success, "{}\n{}", warned.stdout, warned.stderr);
    let summary: Value = serde_json::from_str(warned.stdout.trim()).expect(&warned.stdout);
    let sets = summary["scaleSets"].as_array().unwrap();
    assert_eq!(
        sets.len(),
        1,
        "only the scale set that holds it ran: {summary}"
    );
    let ran = scale_set(&summary, "linux-arm64");
    assert_eq!(
        ran["interruption"]["instanceId"],
        arm64.as_str(),
        "{summary}"
    );
    assert_eq!(ran["interruption"]["handled"], "removed", "{summary}");
    assert_eq!(
        (ran["launched"].as_u64(), ran["terminated"].as_u64()),
        (Some(1), Some(1)),
        "{summary}"
    );

    let ignored = site
        .run(
            &fake,
            "unused",
            &["--once", "--event", &event("i-0fedcba9876543210")],
            &env,
        )
        .await;
    assert!(ignored.success, "{}\n{}", ignored.stdout, ignored.stderr);
    assert_eq!(ignored.stdout.trim(), r#"{"scaleSets":[]}"#);
    assert!(
        ignored.stderr.contains("not a ghaec2 runner's; ignored"),
        "{}",
        ignored.stderr
    );
}
