//! The dashboard and alarms of `template.yaml`: the dashboard is on by default and off by
//! parameter; the alarms exist only with a topic, each on its metric, threshold and period, each
//! pointing at a Troubleshooting section of the README that exists; and
//! `scripts/check-dashboard.py` (part of `make validate`) passes the real template and fails
//! each mutant of its dashboard or alarms with the expected finding. What METRICS becomes
//! with and without alarms is resolved in tests/template.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/template_script.rs"]
mod template_script;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use template_script::{dump, run_script};

fn template() -> &'static Value {
    &dump()["template"]
}

fn resource(name: &str) -> &'static Value {
    let r = &template()["Resources"][name];
    assert!(r.is_object(), "template.yaml has no resource {name}");
    r
}

fn of_type(kind: &str) -> BTreeSet<&'static str> {
    template()["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, _)| name.as_str())
        .collect()
}

fn parameter(name: &str) -> &'static Value {
    let p = &template()["Parameters"][name];
    assert!(p.is_object(), "template.yaml has no parameter {name}");
    p
}

fn function_dimension() -> Value {
    json!([{"Name": "FunctionName", "Value": {"Ref": "ScalerFunction"}}])
}

#[test]
fn dashboard_is_on_by_default_and_off_by_parameter() {
    assert_eq!(parameter("Dashboard")["Default"], "true");
    assert_eq!(
        parameter("Dashboard")["AllowedValues"],
        json!(["true", "false"])
    );
    assert_eq!(
        template()["Conditions"]["HasDashboard"],
        json!({"Fn::Equals": [{"Ref": "Dashboard"}, "true"]})
    );
    assert_eq!(
        of_type("AWS::CloudWatch::Dashboard"),
        BTreeSet::from(["ScalerDashboard"])
    );
    assert_eq!(resource("ScalerDashboard")["Condition"], "HasDashboard");
    assert_eq!(
        template()["Outputs"]["DashboardName"]["Condition"],
        "HasDashboard"
    );
    // Written once: one Fn::Sub of a JSON text, naming the log group and region by reference.
    let body = resource("ScalerDashboard")["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("DashboardBody is one Fn::Sub of a string");
    assert!(body.contains("SOURCE '${ScalerLogGroup}'"));
    assert!(body.contains(r#""region": "${AWS::Region}""#));
}

#[test]
fn alarms_exist_only_with_a_topic_and_tell_it() {
    assert_eq!(parameter("AlarmTopicArn")["Default"], "");
    assert_eq!(
        template()["Conditions"]["HasAlarms"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]})
    );
    let alarms = of_type("AWS::CloudWatch::Alarm");
    assert_eq!(
        alarms,
        BTreeSet::from([
            "LaunchFailuresAlarm",
            "ListenerDeadAlarm",
            "PickupLatencyAlarm"
        ])
    );
    for name in alarms {
        let alarm = resource(name);
        assert_eq!(alarm["Condition"], "HasAlarms", "{name}");
        let topic = json!([{"Ref": "AlarmTopicArn"}]);
        assert_eq!(alarm["Properties"]["AlarmActions"], topic, "{name}");
        assert_eq!(alarm["Properties"]["OKActions"], topic, "{name}");
    }
}

#[test]
fn listener_alarm_fires_after_minutes_without_a_successful_invocation() {
    let alarm = &resource("ListenerDeadAlarm")["Properties"];
    let metrics = alarm["Metrics"].as_array().unwrap();
    let by_id = |id: &str| metrics.iter().find(|m| m["Id"] == id).unwrap();
    assert_eq!(
        by_id("succeeded")["Expression"],
        "FILL(invocations, 0) - FILL(errors, 0)"
    );
    assert_eq!(by_id("succeeded")["ReturnData"], true);
    for (id, name) in [("invocations", "Invocations"), ("errors", "Errors")] {
        let stat = &by_id(id)["MetricStat"];
        assert_eq!(by_id(id)["ReturnData"], false);
        assert_eq!(stat["Metric"]["Namespace"], "AWS/Lambda");
        assert_eq!(stat["Metric"]["MetricName"], name);
        assert_eq!(stat["Metric"]["Dimensions"], function_dimension());
        assert_eq!(stat["Period"], 60);
        assert_eq!(stat["Stat"], "Sum");
    }
    assert_eq!(alarm["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(alarm["Threshold"], 1);
    let minutes = json!({"Ref": "ListenerDeadMinutes"});
    assert_eq!(alarm["EvaluationPeriods"], minutes);
    assert_eq!(alarm["DatapointsToAlarm"], minutes);
    assert_eq!(parameter("ListenerDeadMinutes")["Default"], 5);
    // No invocation at all reports no data, which must alarm too.
    assert_eq!(alarm["TreatMissingData"], "breaching");
}

/// A single-metric alarm on ghaec2's `metric`: (statistic key, value), threshold parameter.
fn assert_ghaec2_alarm(name: &str, metric: &str, statistic: (&str, &str), threshold: &str) {
    let alarm = &resource(name)["Properties"];
    assert_eq!(alarm["Namespace"], "ghaec2", "{name}");
    assert_eq!(alarm["MetricName"], metric, "{name}");
    // Dimensionless: every error code and scale set together.
    assert!(alarm.get("Dimensions").is_none(), "{name}");
    assert_eq!(alarm[statistic.0], statistic.1, "{name}");
    // Above the threshold in two consecutive 5-minute periods: for 10 minutes.
    assert_eq!(alarm["Period"], 300, "{name}");
    assert_eq!(alarm["EvaluationPeriods"], 2, "{name}");
    assert_eq!(alarm["DatapointsToAlarm"], 2, "{name}");
    assert_eq!(
        alarm["ComparisonOperator"], "GreaterThanThreshold",
        "{name}"
    );
    assert_eq!(alarm["Threshold"], json!({"Ref": threshold}), "{name}");
    // Published only when it happens: no data is nothing wrong.
    assert_eq!(alarm["TreatMissingData"], "notBreaching", "{name}");
}

#[test]
fn launch_failures_alarm_counts_failures_for_ten_minutes() {
    assert_ghaec2_alarm(
        "LaunchFailuresAlarm",
        "LaunchFailures",
        ("Statistic", "Sum"),
        "LaunchFailuresThreshold",
    );
    assert_eq!(parameter("LaunchFailuresThreshold")["Default"], 5);
}

#[test]
fn pickup_latency_alarm_watches_the_95th_percentile() {
    assert_ghaec2_alarm(
        "PickupLatencyAlarm",
        "JobPickupLatency",
        ("ExtendedStatistic", "p95"),
        "PickupLatencyP95ThresholdMs",
    );
    assert_eq!(parameter("PickupLatencyP95ThresholdMs")["Default"], 300000);
    // The ghaec2 metrics the alarms read are the ones the function adds to METRICS with
    // alarms, after the operator's list (scripts/check-dashboard.py checks each alarm's).
    let metrics = &resource("ScalerFunction")["Properties"]["Environment"]["Variables"]["METRICS"];
    assert_eq!(
        metrics,
        &json!({"Fn::If": [
            "HasAlarms",
            {"Fn::Sub": "${Metrics},LaunchFailures,JobPickupLatency"},
            {"Ref": "Metrics"}
        ]})
    );
}

/// The `### ` headings of the README's "## Troubleshooting" section.
fn troubleshooting_sections() -> BTreeSet<String> {
    let readme = include_str!("../README.md");
    let section = readme
        .split_once("\n## Troubleshooting\n")
        .expect("README has a Troubleshooting section")
        .1;
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| line.strip_prefix("### "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_alarm_says_which_troubleshooting_section_to_read_first() {
    let sections = troubleshooting_sections();
    for name in of_type("AWS::CloudWatch::Alarm") {
        let description = resource(name)["Properties"]["AlarmDescription"]["Fn::Sub"]
            .as_str()
            .unwrap();
        assert!(description.len() <= 1024, "{name}: too long for CloudWatch");
        assert!(
            description.contains(r#"README "Troubleshooting""#),
            "{name}"
        );
        // The quoted names after "Troubleshooting" are its sections.
        let quoted: Vec<&str> = description.split('"').skip(1).step_by(2).collect();
        let named = &quoted[quoted.iter().position(|q| *q == "Troubleshooting").unwrap() + 1..];
        assert!(!named.is_empty(), "{name} names no section");
        for section in named {
            assert!(
                sections.contains(*section),
                "{name} points at {section:?}, not a section of README Troubleshooting: {sections:?}"
            );
        }
    }
}

// --- scripts/check-dashboard.py -------------------------------------------------------------

/// The check of `template`: (passed, stderr).
fn check(template: &Value) -> (bool, String) {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "ghaec2-dashboard-{}-{}.json",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, serde_json::to_vec(template).unwrap()).unwrap();
    let out = run_script(
        "scripts/check-dashboard.py",
        &["--template", path.to_str().unwrap()],
    );
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => (true, stderr),
        Some(1) => (false, stderr),
        other => panic!("check crashed ({other:?}) instead of reporting:\n{stderr}"),
    }
}

/// The real template with the dashboard body's first `from` replaced by `to`.
fn with_body_edit(from: &str, to: &str) -> Value {
    let mut template = template().clone();
    let body =
        &mut template["Resources"]["ScalerDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"];
    let text = body.as_str().unwrap();
    assert!(
        text.contains(from),
        "the dashboard body no longer has {from:?}"
    );
    *body = Value::String(text.replacen(from, to, 1));
    template
}

fn assert_finds(template: &Value, expected: &str) {
    let (passed, stderr) = check(template);
    assert!(!passed, "the check passed, expected {expected:?}");
    assert!(
        stderr.contains(expected),
        "expected a finding with {expected:?}, got:\n{stderr}"
    );
}

#[test]
fn the_real_template_passes_the_dashboard_check() {
    let out = run_script("scripts/check-dashboard.py", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (passed, stderr) = check(template());
    assert!(passed, "the JSON round trip fails the check:\n{stderr}");
}

#[test]
fn a_body_that_is_not_json_or_names_unknown_values_fails() {
    assert_finds(
        &with_body_edit(r#""widgets": ["#, r#""widgets": [["#),
        "DashboardBody is not JSON after substitution",
    );
    assert_finds(
        &with_body_edit("${AWS::Region}", "${Region}"),
        "DashboardBody names ${Region}",
    );
    assert_finds(
        &with_body_edit(r#""region": "${AWS::Region}""#, r#""region": "eu-west-1""#),
        "region 'eu-west-1', not ${AWS::Region}",
    );
}

#[test]
fn metric_widgets_must_name_what_src_emits() {
    assert_finds(
        &with_body_edit(
            r#"["ghaec2", "TaggingFailures""#,
            r#"["ghaec2", "TagFailures""#,
        ),
        "metric TagFailures is not emitted in src/",
    );
    assert_finds(
        &with_body_edit("{ghaec2,ErrorCode}", "{ghaec2,ErrorCode,ScaleSet}"),
        "LaunchFailures has no dimension ['ScaleSet'] in src/",
    );
    assert_finds(
        &with_body_edit("{ghaec2,ErrorCode}", "{ghaec,ErrorCode}"),
        "SEARCH in namespace ghaec, not ghaec2",
    );
    assert_finds(
        &with_body_edit(
            r#"MetricName=\"LaunchFailures\"', 'Sum', 300)"#,
            r#"MetricName=\"LaunchFailures\"')"#,
        ),
        "is not a SEARCH(",
    );
    assert_finds(
        &with_body_edit(
            r#""FunctionName", "${ScalerFunction}""#,
            r#""FunctionName", "someone-else""#,
        ),
        "AWS/Lambda Invocations not of the function alone",
    );
}

#[test]
fn log_widgets_must_read_the_function_log_group_and_fields_src_writes() {
    assert_finds(
        &with_body_edit("SOURCE '${ScalerLogGroup}'", "SOURCE '/aws/lambda/other'"),
        "not the function's log group alone",
    );
    assert_finds(
        &with_body_edit(
            "SOURCE '${ScalerLogGroup}' |",
            "SOURCE '${ScalerLogGroup}' | SOURCE '/aws/lambda/other' |",
        ),
        "not the function's log group alone",
    );
    assert_finds(
        &with_body_edit("by scale_set, bin(5m)", "by scale_set_name, bin(5m)"),
        "query field scale_set_name is not written by src/",
    );
    assert_finds(
        &with_body_edit("msg = 'metric'", "msg = 'metrics'"),
        "msg = 'metrics' is not a message src/ logs",
    );
}

#[test]
fn alarms_on_metrics_src_does_not_emit_or_metrics_may_not_publish_fail() {
    let mut mutant = template().clone();
    mutant["Resources"]["PickupLatencyAlarm"]["Properties"]["MetricName"] = json!("PickupLatency");
    assert_finds(&mutant, "metric PickupLatency is not emitted in src/");

    let mut mutant = template().clone();
    mutant["Resources"]["ScalerFunction"]["Properties"]["Environment"]["Variables"]["METRICS"]["Fn::If"]
        [1] = json!({"Fn::Sub": "${Metrics},JobPickupLatency"});
    assert_finds(
        &mutant,
        "LaunchFailuresAlarm: LaunchFailures is not added to the function's METRICS",
    );
}
