//! Table-driven tests of the scaling decisions.

use super::*;
use chrono::TimeZone;

use crate::ports::Lifecycle;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn record(name: &str, instance: &str, state: RunnerState, age_s: i64) -> RunnerRecord {
    RunnerRecord {
        name: name.into(),
        instance_id: instance.into(),
        runner_id: Some(name.len() as i64),
        launched_at: now() - chrono::Duration::seconds(age_s),
        state,
        job_id: None,
        interrupted_at: None,
    }
}

fn instance(id: &str, state: InstanceState) -> Instance {
    Instance {
        id: id.into(),
        state,
        launched_at: now(),
        runner_name: None,
        instance_type: None,
        zone: None,
        lifecycle: Lifecycle::Spot,
    }
}

const BOOT: Timeouts = Timeouts {
    boot: Duration::from_secs(300),
    describe_grace: DESCRIBE_GRACE,
};

#[test]
fn desired_is_min_plus_assigned_capped_by_max() {
    for (min, max, assigned, want) in [
        (0, 10, 0, 0),
        (0, 10, 3, 3),
        (2, 10, 3, 5),
        (2, 4, 3, 4),
        (0, 0, 5, 0),
        (1, 10, -4, 1),
        (0, 1000, i64::MAX, 1000),
    ] {
        assert_eq!(
            desired_runners(min, max, assigned),
            want,
            "min {min} max {max} assigned {assigned}"
        );
    }
}

#[test]
fn runner_names_derive_from_instance_ids() {
    assert_eq!(runner_name("linux", "i-0abc123"), "linux-0abc123");
    let longest = runner_name(&"n".repeat(45), "i-0123456789abcdef0");
    assert!(longest.len() <= 64, "{longest}");
}

#[test]
fn launches_the_difference() {
    let observation = Observation {
        ledger: vec![record("a", "i-1", RunnerState::Busy, 10)],
        instances: vec![instance("i-1", InstanceState::Running)],
        jit_instance_ids: vec![],
    };
    let plan = plan(3, true, &observation, BOOT, "set", now());
    assert_eq!((plan.current, plan.launch), (1, 2));
    assert!(plan.remove.is_empty());
}

#[test]
fn scales_down_oldest_idle_first_and_never_busy() {
    let observation = Observation {
        ledger: vec![
            record("busy-old", "i-1", RunnerState::Busy, 900),
            record("idle-new", "i-2", RunnerState::Idle, 60),
            record("idle-old", "i-3", RunnerState::Idle, 600),
            record("booting", "i-4", RunnerState::Booting, 30),
        ],
        instances: ["i-1", "i-2", "i-3", "i-4"]
            .map(|i| instance(i, InstanceState::Running))
            .to_vec(),
        jit_instance_ids: vec![],
    };
    let plan = plan(1, true, &observation, BOOT, "set", now());
    let removed: Vec<&str> = plan.remove.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(removed, vec!["idle-old", "idle-new", "booting"]);
    assert!(
        plan.remove
            .iter()
            .all(|r| r.reason == RemovalReason::ScaleDown)
    );
    assert_eq!(plan.launch, 0);

    let all_busy = Observation {
        ledger: vec![
            record("b1", "i-1", RunnerState::Busy, 10),
            record("b2", "i-2", RunnerState::Busy, 10),
        ],
        instances: ["i-1", "i-2"]
            .map(|i| instance(i, InstanceState::Running))
            .to_vec(),
        jit_instance_ids: vec![],
    };
    assert!(
        super::plan(0, true, &all_busy, BOOT, "set", now())
            .remove
            .is_empty()
    );
}

#[test]
fn finished_runners_go_without_registration_removal() {
    let observation = Observation {
        ledger: vec![record("done", "i-1", RunnerState::Terminating, 100)],
        instances: vec![instance("i-1", InstanceState::Running)],
        jit_instance_ids: vec![],
    };
    let plan = plan(1, true, &observation, BOOT, "set", now());
    assert_eq!((plan.current, plan.launch), (0, 1));
    assert_eq!(plan.remove[0].reason, RemovalReason::Finished);
    assert_eq!(plan.remove[0].registration(), Registration::Skip);
    assert_eq!(plan.remove[0].instance_id.as_deref(), Some("i-1"));
}

#[test]
fn orphans_both_ways() {
    let observation = Observation {
        ledger: vec![
            // Instance gone (spot interruption) long ago: its registration goes.
            record("gone", "i-gone", RunnerState::Idle, 600),
            // Just launched, not yet visible in DescribeInstances: kept.
            record("fresh", "i-fresh", RunnerState::Booting, 5),
            // Never came online within the boot timeout.
            record("stuck", "i-stuck", RunnerState::Booting, 301),
        ],
        instances: vec![
            instance("i-stuck", InstanceState::Running),
            // Ours by tag, but no ledger entry: a crash between launch and ledger write.
            instance("i-unknown", InstanceState::Pending),
            instance("i-stopping", InstanceState::Stopping),
        ],
        jit_instance_ids: vec!["i-gone".into(), "i-fresh".into(), "i-stuck".into()],
    };
    let plan = plan(1, true, &observation, BOOT, "set", now());
    let reasons: Vec<(&str, RemovalReason, Option<&str>)> = plan
        .remove
        .iter()
        .map(|r| (r.name.as_str(), r.reason, r.instance_id.as_deref()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("gone", RemovalReason::InstanceGone, None),
            ("stuck", RemovalReason::BootTimeout, Some("i-stuck")),
            ("set-unknown", RemovalReason::Unknown, Some("i-unknown")),
        ]
    );
    assert_eq!(plan.remove[2].registration(), Registration::ByName);
    assert_eq!((plan.current, plan.launch), (1, 0));
    assert_eq!(plan.stale_jit, vec!["i-gone".to_owned()]);
}

#[test]
fn overdue_booting_lists_only_booting_past_the_timeout() {
    let ledger = vec![
        record("young", "i-1", RunnerState::Booting, 10),
        record("old", "i-2", RunnerState::Booting, 400),
        record("idle", "i-3", RunnerState::Idle, 400),
    ];
    let names: Vec<&str> = overdue_booting(&ledger, BOOT.boot, now())
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, vec!["old"]);
}

/// EC2's view of a ledger entry's instance decides at once whether the runner is gone; the
/// describe grace only covers an instance EC2 does not list at all.
#[test]
fn instances_on_the_way_out_are_gone_at_once_and_unlisted_ones_after_the_grace() {
    use InstanceState::{Pending, Running, Stopping, Terminated};
    let young = 5;
    let old = 200; // past the grace (120 s), within the boot timeout (300 s)
    // (EC2's state, or None when not listed; age; removed as gone?; instance to terminate?)
    let cases: [(Option<InstanceState>, i64, bool, bool); 10] = [
        (Some(Pending), young, false, false),
        (Some(Running), young, false, false),
        (Some(Running), old, false, false),
        (Some(Stopping), young, true, true),
        (Some(Stopping), old, true, true),
        (Some(Terminated), young, true, false),
        (Some(Terminated), old, true, false),
        (None, young, false, false),
        (None, old, true, false),
        (Some(Pending), old, false, false),
    ];
    for (state, age_s, gone, terminate) in cases {
        let observation = Observation {
            ledger: vec![record("r", "i-1", RunnerState::Idle, age_s)],
            instances: state.map(|s| instance("i-1", s)).into_iter().collect(),
            jit_instance_ids: vec!["i-1".into()],
        };
        let plan = plan(1, true, &observation, BOOT, "set", now());
        let what = format!("{state:?}, {age_s} s old");
        if gone {
            assert_eq!(plan.remove.len(), 1, "{what}: {plan:?}");
            assert_eq!(plan.remove[0].reason, RemovalReason::InstanceGone, "{what}");
            assert_eq!(plan.remove[0].registration(), Registration::Id(1), "{what}");
            assert_eq!(
                plan.remove[0].instance_id.is_some(),
                terminate,
                "{what}: {plan:?}"
            );
            // Replaced in the same reconcile.
            assert_eq!((plan.current, plan.launch), (0, 1), "{what}");
            assert_eq!(plan.stale_jit, vec!["i-1".to_owned()], "{what}");
        } else {
            assert!(plan.remove.is_empty(), "{what}: {plan:?}");
            assert_eq!((plan.current, plan.launch), (1, 0), "{what}");
            assert!(plan.stale_jit.is_empty(), "{what}");
        }
    }
}

/// A busy runner whose instance EC2 lists as shutting down (a spot interruption) is gone too:
/// the plan removes it (the service decides whether its registration may go) and replaces it.
#[test]
fn a_busy_runner_on_an_interrupted_instance_is_replaced() {
    let observation = Observation {
        ledger: vec![record("busy", "i-1", RunnerState::Busy, 30)],
        instances: vec![instance("i-1", InstanceState::Stopping)],
        jit_instance_ids: vec![],
    };
    let plan = plan(1, true, &observation, BOOT, "set", now());
    assert_eq!(plan.remove[0].reason, RemovalReason::InstanceGone);
    assert_eq!((plan.current, plan.launch), (0, 1));
}

/// Kept runners whose live instance lacks their name tag are tagged; runners being removed and
/// instances not (or no longer) live are not.
#[test]
fn untagged_instances_of_kept_runners_are_tagged() {
    let tagged = |id: &str, name: &str| Instance {
        runner_name: Some(name.into()),
        ..instance(id, InstanceState::Running)
    };
    let observation = Observation {
        ledger: vec![
            record("named", "i-1", RunnerState::Idle, 60),
            record("bare", "i-2", RunnerState::Booting, 60),
            record("renamed", "i-3", RunnerState::Busy, 60),
            record("unlisted", "i-4", RunnerState::Booting, 5),
            record("leaving", "i-5", RunnerState::Idle, 60),
            record("idle-excess", "i-6", RunnerState::Idle, 900),
        ],
        instances: vec![
            tagged("i-1", "named"),
            instance("i-2", InstanceState::Pending),
            tagged("i-3", "someone-else"),
            instance("i-5", InstanceState::Stopping),
            instance("i-6", InstanceState::Running),
        ],
        jit_instance_ids: vec![],
    };
    let plan = plan(5, true, &observation, BOOT, "set", now());
    assert_eq!(
        plan.remove
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        vec!["leaving"]
    );
    let untagged: Vec<(&str, &str)> = plan
        .untagged
        .iter()
        .map(|u| (u.instance_id.as_str(), u.name.as_str()))
        .collect();
    assert_eq!(
        untagged,
        vec![("i-2", "bare"), ("i-3", "renamed"), ("i-6", "idle-excess")]
    );
    let fewer = super::plan(4, true, &observation, BOOT, "set", now());
    assert!(
        fewer.untagged.iter().all(|u| u.name != "idle-excess"),
        "a runner scaled down is not tagged: {fewer:?}"
    );
}

/// A busy runner whose spot instance was interrupted: once EC2 has taken the instance it no
/// longer counts (its replacement is launched), but its entry waits for the job's end, up to
/// [`INTERRUPTED_JOB_WAIT`]; a busy runner gone without a warning goes at once.
#[test]
fn an_interrupted_busy_runner_waits_for_its_job_without_counting() {
    let interrupted = |minutes_ago: i64| RunnerRecord {
        interrupted_at: Some(now() - chrono::Duration::minutes(minutes_ago)),
        ..record("r-int", "i-int", RunnerState::Busy, 600)
    };
    let gone = vec![instance("i-int", InstanceState::Terminated)];
    for (ledger, live, removed) in [
        // Instance gone, warned 5 minutes ago: not current, not removed.
        (vec![interrupted(5)], gone.clone(), vec![]),
        // Still running its job on a live instance: counted, kept.
        (
            vec![interrupted(1)],
            vec![instance("i-int", InstanceState::Running)],
            vec![],
        ),
        // Waited long enough: removed as gone.
        (vec![interrupted(61)], gone.clone(), vec!["r-int"]),
        // Never warned: removed as gone at once.
        (
            vec![record("r-int", "i-int", RunnerState::Busy, 600)],
            gone.clone(),
            vec!["r-int"],
        ),
    ] {
        let counted = u32::from(live.iter().any(|i| i.state.is_live()));
        let observation = Observation {
            ledger,
            instances: live,
            jit_instance_ids: vec![],
        };
        let plan = plan(1, true, &observation, BOOT, "s", now());
        let names: Vec<&str> = plan.remove.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, removed, "{observation:?}");
        assert_eq!(plan.current, counted, "{observation:?}");
        assert_eq!(plan.launch, 1 - counted, "{observation:?}");
    }
}
