//! EC2's eventual consistency, which moto does not have, played by the proxy in front of it
//! ([`support::aws_proxy`]): `InvalidInstanceID.NotFound` for an instance that exists, on
//! CreateTags right after the launch and on TerminateInstances and DescribeInstances later;
//! instances EC2 lists on the way out; tags a crash left unset. No runner may be lost to any of
//! them. Each scenario ends with the shared invariant check of docs/design.md §2
//! ([`support::invariants::assert_converged`]); every cycle is checked for leaked secrets by
//! the harness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use ghaec2::aws::{Ec2Fleet, LaunchSettings, Patience, TAG_NAME, TAG_RUNNER_NAME};
use ghaec2::cycle::Summary;
use ghaec2::ports::Fleet;
use ghaec2_fake::Mode;
use support::aws_proxy::{INSTANCE_NOT_FOUND, Naming};
use support::cycle::{Harness, isolated, stop};
use support::faulty::{Faulty, JIT_PUT, NAME_RUNNER, When};
use support::invariants::{assert_converged, id_of, live};

/// A cycle long enough for a message, a few waits on an unknown id, and a few empty polls.
const SHORT: Duration = Duration::from_millis(2500);
/// Long enough for the waits of a termination confirmed by DescribeInstances.
const WITH_RETRY: Duration = Duration::from_millis(4000);
/// A cycle that only needs to set things up (scale set, session) or to end.
const BRIEF: Duration = Duration::from_millis(1200);

/// A patience that runs out fast, for the scenarios where EC2 never catches up.
const IMPATIENT: Patience = Patience {
    first: Duration::from_millis(50),
    total: Duration::from_millis(150),
};

/// A scale set with its session, and `jobs` jobs queued after it.
async fn ready(h: &Harness, jobs: usize) -> i64 {
    let setup = h.cycle(BRIEF).await.unwrap();
    h.enqueue(jobs);
    id_of(&setup)
}

/// The harness's fleet with another patience.
fn fleet_with(h: &Harness, patience: Patience) -> Ec2Fleet {
    Ec2Fleet::new(
        h.aws.ec2.clone(),
        h.aws.ssm.clone(),
        LaunchSettings::from_config(&h.config, h.aws.arns.clone()),
    )
    .with_patience(patience)
}

/// A cycle over `fleet` instead of the harness's own.
async fn cycle_with(h: &Harness, fleet: &Ec2Fleet, window: Duration) -> Summary {
    h.run(h.with_ports(&h.store, fleet, &h.jit), &stop(window))
        .await
        .unwrap()
}

/// State and tags of an instance, from a DescribeInstances that names no id (so that no
/// naming rule of the proxy answers it).
async fn ec2_view(h: &Harness, id: &str) -> (String, BTreeMap<String, String>) {
    let all = h.aws.ec2.describe_instances().send().await.unwrap();
    let instance = all
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| i.instance_id() == Some(id))
        .unwrap_or_else(|| panic!("{id} is in the account"));
    let state = instance
        .state()
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    let tags = instance
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (state, tags)
}

/// Every live instance carries its ledger entry's runner name in `ghaec2:runner-name` and
/// `Name`.
async fn assert_tagged(h: &Harness, scale_set_id: i64, what: &str) {
    let ledger = h.ledger().await;
    for id in live(h, scale_set_id).await {
        let name = ledger
            .iter()
            .find(|r| r.instance_id == id)
            .map(|r| r.name.clone());
        let (_, tags) = ec2_view(h, &id).await;
        assert_eq!(
            tags.get(TAG_RUNNER_NAME),
            name.as_ref(),
            "{what}: {id} {tags:?}"
        );
        assert_eq!(tags.get(TAG_NAME), name.as_ref(), "{what}: {id} {tags:?}");
    }
}

/// The `Reconciled.` decision records logged so far.
fn reconciles(h: &Harness) -> Vec<serde_json::Value> {
    h.logs
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["msg"] == "Reconciled.")
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The proxy's own rule
// ---------------------------------------------------------------------------------------------

/// A naming rule answers NotFound only to calls naming its id (or a launched one), as often
/// as armed, and lets every other call through.
#[tokio::test]
async fn the_proxy_answers_not_found_only_for_the_named_ids() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 0).await;
    let launched = h.fleet.launch(id, 2, "naming-check").await.unwrap();
    let (a, b) = (&launched.instance_ids[0], &launched.instance_ids[1]);
    let mut listed = h.aws.proxy.launched();
    listed.sort();
    let mut want = launched.instance_ids.clone();
    want.sort();
    assert_eq!(listed, want, "the proxy saw the launch");

    h.aws
        .proxy
        .not_found("CreateTags", Naming::Id(a.clone()), 1);
    let tag = |id: &str| {
        h.aws
            .ec2
            .create_tags()
            .resources(id)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("k")
                    .value("v")
                    .build(),
            )
            .send()
    };
    tag(b).await.expect("another id goes through");
    let refused = tag(a).await.expect_err("the named id is not found");
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&refused),
        Some(INSTANCE_NOT_FOUND)
    );
    tag(a).await.expect("armed once");

    h.aws
        .proxy
        .not_found("TerminateInstances", Naming::Launched, 1);
    let refused = h
        .aws
        .ec2
        .terminate_instances()
        .instance_ids(b)
        .send()
        .await
        .expect_err("a launched id is not found");
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&refused),
        Some(INSTANCE_NOT_FOUND)
    );
    assert_eq!(h.aws.proxy.armed(), 0);
}

// ---------------------------------------------------------------------------------------------
// Tagging right after the launch
// ---------------------------------------------------------------------------------------------

/// CreateTags does not know the instance CreateFleet just returned, twice: the fleet waits and
/// tags again, within the same set-up. Nothing is torn down.
#[tokio::test]
async fn create_tags_not_found_right_after_the_launch_is_retried() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 1).await;
    h.aws.proxy.not_found("CreateTags", Naming::Launched, 2);
    let summary = h.cycle(SHORT).await.unwrap();
    assert_eq!(
        (summary.launched, summary.terminated),
        (1, 0),
        "{summary:?}"
    );
    assert_eq!(h.aws.proxy.armed(), 0);
    let tags: Vec<Option<String>> = h
        .aws
        .proxy
        .calls_to("CreateTags")
        .into_iter()
        .map(|c| c.injected)
        .collect();
    assert_eq!(
        tags,
        [
            Some(INSTANCE_NOT_FOUND.to_owned()),
            Some(INSTANCE_NOT_FOUND.to_owned()),
            None
        ],
        "tagged on the third try, once"
    );
    assert_tagged(&h, id, "after NotFound on CreateTags").await;
    assert_converged(&h, id, 1, "after NotFound on CreateTags").await;
}

/// CreateTags does not know the instance for longer than the fleet's patience: the runner is
/// kept (untagged, it still serves), and the next reconcile after EC2 caught up tags it.
#[tokio::test]
async fn create_tags_not_found_past_the_patience_keeps_the_runner_and_tags_it_later() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 1).await;
    let fleet = fleet_with(&h, IMPATIENT);
    h.aws.proxy.not_found("CreateTags", Naming::Launched, 1_000);
    let summary = cycle_with(&h, &fleet, SHORT).await;
    assert_eq!(
        (summary.launched, summary.terminated),
        (1, 0),
        "{summary:?}"
    );
    let runner = &live(&h, id).await[0];
    let (_, tags) = ec2_view(&h, runner).await;
    assert!(
        !tags.contains_key(TAG_RUNNER_NAME),
        "not tagged yet: {tags:?}"
    );
    assert!(
        h.logs.text().contains("Could not tag the instance"),
        "the failure is logged"
    );
    assert_converged(&h, id, 1, "untagged, but kept").await;

    h.aws.proxy.clear();
    let next = h.cycle(BRIEF).await.unwrap();
    assert_eq!((next.launched, next.terminated), (0, 0), "{next:?}");
    assert_tagged(&h, id, "once EC2 caught up").await;
    assert_converged(&h, id, 1, "once EC2 caught up").await;
}

/// A crash between the ledger write and CreateTags leaves a runner whose instance lacks its
/// name tags: the next reconcile tags it.
#[tokio::test]
async fn tags_a_crash_left_unset_converge_at_the_next_reconcile() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 1).await;
    let fleet = Faulty::new(&h.fleet).kill(NAME_RUNNER, 1, When::Before);
    let window = stop(SHORT);
    tokio::select! {
        ended = h.run(h.with_ports(&h.store, &fleet, &h.jit), &window) => {
            panic!("the cycle ended before its kill point: {ended:?}")
        }
        () = fleet.killed() => {}
    }
    let left = live(&h, id).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(h.ledger().await.len(), 1, "the ledger entry was written");
    let (_, tags) = ec2_view(&h, &left[0]).await;
    assert!(!tags.contains_key(TAG_RUNNER_NAME), "{tags:?}");

    h.lapse_lease().await;
    let next = h.cycle(SHORT).await.unwrap();
    assert_eq!((next.launched, next.terminated), (0, 0), "{next:?}");
    assert_eq!(live(&h, id).await, left, "the same runner");
    assert_tagged(&h, id, "after the crash").await;
    assert_converged(&h, id, 1, "after the crash").await;
}

// ---------------------------------------------------------------------------------------------
// Terminating
// ---------------------------------------------------------------------------------------------

/// Scale-down meets TerminateInstances that does not know the instance (twice) and a
/// DescribeInstances that does not either (once), then lists it running: the fleet waits and
/// terminates it for real. NotFound alone never counts as gone.
#[tokio::test]
async fn terminate_not_found_is_confirmed_by_describe_and_terminated_for_real() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let jobs = h.enqueue(1);
    let id = id_of(&h.cycle(SHORT).await.unwrap());
    let instance = live(&h, id).await[0].clone();
    for job in jobs {
        h.fake.cancel_job(job).unwrap();
    }
    let named = Naming::Id(instance.clone());
    h.aws
        .proxy
        .not_found("TerminateInstances", named.clone(), 2);
    h.aws.proxy.not_found("DescribeInstances", named, 1);
    let summary = h.cycle(WITH_RETRY).await.unwrap();
    assert_eq!(summary.terminated, 1, "{summary:?}");
    assert_eq!(h.aws.proxy.armed(), 0);
    let naming = |action: &str| -> Vec<(Option<String>, bool)> {
        h.aws
            .proxy
            .calls_to(action)
            .into_iter()
            .filter(|c| c.params.iter().any(|(_, v)| *v == instance))
            .map(|c| (c.injected, c.forwarded))
            .collect()
    };
    let not_found = || (Some(INSTANCE_NOT_FOUND.to_owned()), false);
    assert_eq!(
        naming("TerminateInstances"),
        [not_found(), not_found(), (None, true)]
    );
    assert_eq!(
        naming("DescribeInstances"),
        [not_found(), (None, true)],
        "confirmed: unlisted, then listed running"
    );
    assert_eq!(ec2_view(&h, &instance).await.0, "terminated");
    assert_converged(&h, id, 0, "after NotFound on terminate").await;
}

/// A runner whose set-up fails right after the launch is taken down at once, while EC2 does
/// not know its instance yet to TerminateInstances or DescribeInstances: the termination is
/// waited out, not skipped, and a replacement serves the job.
#[tokio::test]
async fn a_just_launched_instance_unknown_to_terminate_is_terminated_for_real() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let id = ready(&h, 1).await;
    let jit = Faulty::new(&h.jit).fail(JIT_PUT, 1);
    h.aws
        .proxy
        .not_found("TerminateInstances", Naming::Launched, 1);
    h.aws
        .proxy
        .not_found("DescribeInstances", Naming::Launched, 1);
    let summary = h
        .run(h.with_ports(&h.store, &h.fleet, &jit), &stop(WITH_RETRY))
        .await
        .unwrap();
    assert_eq!(h.aws.proxy.armed(), 0, "both NotFound answers were met");
    assert_eq!(summary.terminated, 1, "{summary:?}");
    let launched = h.aws.proxy.launched();
    assert_eq!(launched.len(), 2, "the failed one and its replacement");
    let states: Vec<String> = futures::future::join_all(launched.iter().map(|i| ec2_view(&h, i)))
        .await
        .into_iter()
        .map(|(state, _)| state)
        .collect();
    assert!(
        states.contains(&"terminated".to_owned()) && states.contains(&"running".to_owned()),
        "{states:?}"
    );
    assert_converged(
        &h,
        id,
        1,
        "after NotFound on a fresh instance's termination",
    )
    .await;
}

/// Neither TerminateInstances nor DescribeInstances knows the instance for the whole
/// patience: it counts as gone (its runner is removed), and once EC2 lists it after all, the
/// next reconcile meets it as unknown and terminates it.
#[tokio::test]
async fn an_instance_unknown_to_terminate_and_describe_is_terminated_once_it_surfaces() {
    let h = isolated(Mode::Dotcom, 0, 10).await;
    let jobs = h.enqueue(1);
    let id = id_of(&h.cycle(SHORT).await.unwrap());
    let instance = live(&h, id).await[0].clone();
    for job in jobs {
        h.fake.cancel_job(job).unwrap();
    }
    let fleet = fleet_with(&h, IMPATIENT);
    let named = Naming::Id(instance.clone());
    h.aws
        .proxy
        .not_found("TerminateInstances", named.clone(), 1_000);
    h.aws.proxy.not_found("DescribeInstances", named, 1_000);
    let gone = cycle_with(&h, &fleet, SHORT).await;
    assert_eq!(gone.desired, 0, "{gone:?}");
    assert!(h.ledger().await.is_empty(), "its runner is removed");
    assert!(
        h.logs.text().contains("counting it as gone"),
        "the verdict is logged"
    );
    assert_eq!(
        ec2_view(&h, &instance).await.0,
        "running",
        "EC2 never heard"
    );

    h.aws.proxy.clear();
    let swept = h.cycle(SHORT).await.unwrap();
    assert_eq!(swept.terminated, 1, "{swept:?}");
    assert_eq!(ec2_view(&h, &instance).await.0, "terminated");
    assert_converged(&h, id, 0, "after the instance surfaced").await;
}

// ---------------------------------------------------------------------------------------------
// Instances on the way out
// ---------------------------------------------------------------------------------------------

/// A runner whose instance EC2 lists as stopped or terminated (by hand, a spot interruption,
/// powered off) is gone at once, however young and however long the describe grace: its
/// runner is removed and replaced in the same reconcile, and a stopped instance is terminated.
async fn an_instance_leaving_is_replaced_in_the_same_reconcile(stopped: bool) {
    let mut h = isolated(Mode::Dotcom, 0, 10).await;
    h.settings.describe_grace = Duration::from_secs(3600);
    h.enqueue(1);
    let id = id_of(&h.cycle(SHORT).await.unwrap());
    let old = live(&h, id).await[0].clone();
    if stopped {
        h.aws
            .ec2
            .stop_instances()
            .instance_ids(&old)
            .send()
            .await
            .unwrap();
    } else {
        h.aws
            .ec2
            .terminate_instances()
            .instance_ids(&old)
            .send()
            .await
            .unwrap();
    }
    let before = reconciles(&h).len();
    let summary = h.cycle(SHORT).await.unwrap();
    assert_eq!(summary.launched, 1, "replaced: {summary:?}");
    let first = &reconciles(&h)[before];
    assert_eq!(first["launched"], 1, "in the first reconcile: {first}");
    assert_eq!(
        first["terminated"],
        u32::from(stopped),
        "a stopped instance is terminated: {first}"
    );
    assert_eq!(ec2_view(&h, &old).await.0, "terminated");
    assert!(!live(&h, id).await.contains(&old));
    assert_converged(&h, id, 1, "after the instance left").await;
}

#[tokio::test]
async fn a_stopped_instance_is_replaced_in_the_same_reconcile() {
    an_instance_leaving_is_replaced_in_the_same_reconcile(true).await;
}

#[tokio::test]
async fn a_terminated_instance_is_replaced_in_the_same_reconcile() {
    an_instance_leaving_is_replaced_in_the_same_reconcile(false).await;
}
