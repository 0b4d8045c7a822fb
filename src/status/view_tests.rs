use chrono::TimeZone;

use super::*;
use crate::ports::{Decisions, Lease, ScaleSetState, StoredSession};
use crate::scaling::DESCRIBE_GRACE;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap()
}

fn ago(seconds: i64) -> DateTime<Utc> {
    now() - chrono::Duration::seconds(seconds)
}

fn rules() -> Rules {
    Rules {
        scale_set_name: "linux".to_owned(),
        min_runners: 0,
        max_runners: 10,
        timeouts: Timeouts {
            boot: Duration::from_secs(300),
            describe_grace: DESCRIBE_GRACE,
        },
    }
}

fn entry(name: &str, instance_id: &str, state: RunnerState, age_s: i64) -> RunnerRecord {
    RunnerRecord {
        name: name.into(),
        instance_id: instance_id.into(),
        runner_id: Some(7),
        launched_at: ago(age_s),
        state,
        job_id: (state == RunnerState::Busy).then(|| "job-1".to_owned()),
        interrupted_at: None,
    }
}

/// A live instance tagged with `name` (untagged when `None`).
fn instance(id: &str, name: Option<&str>) -> Instance {
    Instance {
        id: id.into(),
        state: InstanceState::Running,
        launched_at: ago(60),
        runner_name: name.map(Into::into),
        instance_type: Some("t3.micro".into()),
        zone: Some("eu-west-1b".into()),
        lifecycle: Lifecycle::Spot,
    }
}

fn observed(ledger: Vec<RunnerRecord>, instances: Vec<Instance>) -> Observed {
    Observed {
        scale_set_id: Some(3),
        ledger,
        instances,
        ..Observed::default()
    }
}

fn kinds(status: &ScaleSetStatus) -> Vec<(MismatchKind, &str, &Next)> {
    status
        .mismatches
        .iter()
        .map(|m| (m.kind, m.instance_id.as_str(), &m.next))
        .collect()
}

/// The ledger joined with EC2, oldest first: each runner with its instance's state, type,
/// zone and lifecycle, its phase, age and job; a runner whose instance EC2 does not list has
/// none. A healthy fleet has no mismatch.
#[test]
fn runners_join_the_ledger_with_their_instances() {
    let mut on_demand = instance("i-2", Some("linux-2"));
    on_demand.lifecycle = Lifecycle::OnDemand;
    on_demand.zone = Some("eu-west-1c".into());
    let status = status(
        &rules(),
        observed(
            vec![
                entry("linux-2", "i-2", RunnerState::Idle, 120),
                entry("linux-1", "i-1", RunnerState::Busy, 600),
                entry("linux-3", "i-3", RunnerState::Booting, 30),
                entry("linux-4", "i-4", RunnerState::Terminating, 900),
            ],
            vec![
                instance("i-1", Some("linux-1")),
                on_demand,
                instance("i-4", Some("linux-4")),
            ],
        ),
        now(),
    );
    let lines: Vec<(&str, Phase, u64, Option<&str>)> = status
        .runners
        .iter()
        .map(|r| (r.name.as_str(), r.phase, r.age_seconds, r.job_id.as_deref()))
        .collect();
    assert_eq!(
        lines,
        [
            ("linux-4", Phase::Finishing, 900, None),
            ("linux-1", Phase::Busy, 600, Some("job-1")),
            ("linux-2", Phase::Idle, 120, None),
            ("linux-3", Phase::Booting, 30, None),
        ]
    );
    let idle = status.runners[2].instance.as_ref().unwrap();
    assert_eq!(
        (idle.state, idle.zone.as_deref(), idle.lifecycle),
        ("running", Some("eu-west-1c"), Lifecycle::OnDemand)
    );
    assert_eq!(idle.instance_type.as_deref(), Some("t3.micro"));
    // Launched a moment ago: EC2 may not list it yet, and that is no mismatch.
    assert_eq!(status.runners[3].instance, None);
    assert_eq!(kinds(&status), []);
}

/// Each mismatch the reconciler's plan finds, with what it does: an orphan instance is
/// terminated; a runner whose instance is gone loses its registration and entry; an overdue
/// booting runner is asked about first (or removed, without a registration id); an untagged
/// instance is tagged; JIT material of an instance that no longer exists is deleted; a boot
/// failure report is logged. A terminated instance without an entry, and JIT material of a
/// booting runner, are not mismatches.
#[test]
fn mismatches_say_what_the_next_reconcile_does() {
    let mut gone = instance("i-gone", Some("linux-gone"));
    gone.state = InstanceState::Terminated;
    let mut old_orphan = instance("i-old", None);
    old_orphan.state = InstanceState::Terminated;
    let mut overdue_unregistered = entry("linux-bare", "i-bare", RunnerState::Booting, 400);
    overdue_unregistered.runner_id = None;
    let mut observed = observed(
        vec![
            entry("linux-gone", "i-gone", RunnerState::Idle, 500),
            entry("linux-slow", "i-slow", RunnerState::Booting, 400),
            overdue_unregistered,
            entry("linux-plain", "i-plain", RunnerState::Idle, 100),
            entry("linux-new", "i-new", RunnerState::Booting, 10),
        ],
        vec![
            gone,
            old_orphan,
            instance("i-orphan", None),
            instance("i-slow", Some("linux-slow")),
            instance("i-bare", Some("linux-bare")),
            instance("i-plain", None),
            instance("i-new", Some("linux-new")),
        ],
    );
    observed.jit = JitListing {
        instance_ids: vec!["i-new".into(), "i-vanished".into()],
        boot_failures: vec![BootFailure {
            instance_id: "i-new".into(),
            reason: "runner version too old".into(),
        }],
    };
    let status = status(&rules(), observed, now());
    let remove = |runner_id, terminate: Option<&str>| Next::Remove {
        runner_id,
        terminate: terminate.map(Into::into),
    };
    assert_eq!(
        kinds(&status),
        [
            (MismatchKind::InstanceGone, "i-gone", &remove(Some(7), None)),
            (
                MismatchKind::BootTimeout,
                "i-slow",
                &Next::ConfirmOnline { runner_id: 7 }
            ),
            (
                MismatchKind::BootTimeout,
                "i-bare",
                &remove(None, Some("i-bare"))
            ),
            (
                MismatchKind::Orphan,
                "i-orphan",
                &remove(None, Some("i-orphan"))
            ),
            (MismatchKind::Untagged, "i-plain", &Next::Tag),
            (MismatchKind::UnclaimedJit, "i-vanished", &Next::DeleteJit),
            (MismatchKind::BootFailure, "i-new", &Next::LogReport),
        ]
    );
    let orphan = &status.mismatches[3];
    assert_eq!(orphan.runner.as_deref(), Some("linux-orphan"));
    assert_eq!(
        status.mismatches[6].reason.as_deref(),
        Some("runner version too old")
    );
}

/// The lease is listened under while it has not lapsed; a released one (its expiry the epoch)
/// or a lapsed one is not, and its last holder is still shown.
#[test]
fn an_invocation_listens_while_its_lease_has_not_lapsed() {
    let lease = |expires_at| Lease {
        owner: "request-1".into(),
        fence: 4,
        expires_at,
    };
    let cases = [
        (Some(lease(now() + chrono::Duration::seconds(30))), true),
        (Some(lease(now())), true),
        (Some(lease(ago(1))), false),
        (Some(lease(DateTime::UNIX_EPOCH)), false),
        (None, false),
    ];
    for (lease, listening) in cases {
        let mut observed = Observed::default();
        observed.record.lease = lease.clone();
        let view = status(&rules(), observed, now()).lease;
        assert_eq!(view.listening, listening, "{lease:?}");
        assert_eq!(view.holder, lease.as_ref().map(|l| l.owner.clone()));
        assert_eq!(view.fence, lease.as_ref().map(|l| l.fence));
    }
}

/// The session id and times, the cursor and its time, the statistics and the decisions are
/// shown as stored; the session's queue URL is not.
#[test]
fn session_cursor_statistics_and_decisions_come_from_the_state_item() {
    let id = uuid::Uuid::new_v4();
    let statistics = Statistics {
        total_assigned_jobs: 2,
        total_busy_runners: 1,
        ..Statistics::default()
    };
    let mut observed = Observed::default();
    observed.record.state = ScaleSetState {
        scale_set_id: Some(3),
        session: Some(StoredSession {
            id,
            queue_url: "https://queue.example/q".into(),
            created_at: Some(ago(3600)),
            refreshed_at: Some(ago(60)),
        }),
        last_message_id: 41,
        last_message_at: Some(ago(30)),
        statistics: Some(statistics),
        decisions: Decisions::new(vec![decision(ago(30), 2), decision(ago(600), 1)]),
        ..ScaleSetState::default()
    };
    let status = status(&rules(), observed, now());
    assert_eq!(status.session_id, Some(id));
    assert_eq!(status.session_created_at, Some(ago(3600)));
    assert_eq!(status.session_refreshed_at, Some(ago(60)));
    assert_eq!(status.last_message_id, 41);
    assert_eq!(status.last_message_at, Some(ago(30)));
    assert_eq!(status.statistics, Some(statistics));
    assert_eq!(
        status.decisions,
        vec![decision(ago(30), 2), decision(ago(600), 1)]
    );
    let json = serde_json::to_string(&status).unwrap();
    assert!(!json.contains("queue.example"), "{json}");
}

fn decision(at: DateTime<Utc>, desired: u32) -> Decision {
    Decision {
        at,
        desired,
        current: desired,
        capped_by: vec!["max".into()],
        ..Decision::default()
    }
}
