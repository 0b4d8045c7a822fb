//! The invariants of docs/design.md §2, checked against the AWS side (moto or memory), the
//! ledger and the fake after a scenario has run: one shared check for every fault test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};

use ghaec2::cycle::Summary;
use ghaec2::ports::{Fleet, InstanceState, RunnerRecord};

use super::cycle::{Harness, StandIn};

/// Live (pending or running) instances of a scale set, straight from EC2.
pub async fn live_instances<A: StandIn>(
    h: &Harness<A>,
    scale_set_id: i64,
) -> Vec<ghaec2::ports::Instance> {
    h.fleet
        .instances(scale_set_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| matches!(i.state, InstanceState::Pending | InstanceState::Running))
        .collect()
}

/// Live instance ids of a scale set.
pub async fn live<A: StandIn>(h: &Harness<A>, scale_set_id: i64) -> Vec<String> {
    live_instances(h, scale_set_id)
        .await
        .into_iter()
        .map(|i| i.id)
        .collect()
}

/// The desired count the service's statistics call for right now.
pub fn wanted<A: StandIn>(h: &Harness<A>, scale_set_id: i64) -> usize {
    let statistics = h.fake.statistics(scale_set_id as u64);
    ghaec2::scaling::desired_runners(
        h.settings.min_runners,
        h.settings.max_runners,
        statistics.total_assigned_jobs as i64,
    ) as usize
}

/// The scale set id of a summary.
pub fn id_of(summary: &Summary) -> i64 {
    summary.scale_set_id.expect("scale set id in the summary")
}

/// The fleet has converged on `expected` runners:
/// - the statistics call for `expected` (no demand signal lost, no job without a runner
///   while below max);
/// - exactly `expected` live instances, each with exactly one ledger entry and no two with the
///   same runner (no duplicate launch), and no ledger entry without a live instance;
/// - JIT material only for live instances;
/// - every runner registration of the scale set belongs to a ledger entry (no orphan);
/// - every runner the service sees running a job still has its instance (no busy runner
///   terminated);
/// - no CreateFleet client token reached EC2 twice (moto does not deduplicate them as EC2
///   does, so a repeated token would be a duplicate launch there).
pub async fn assert_converged<A: StandIn>(
    h: &Harness<A>,
    scale_set_id: i64,
    expected: usize,
    what: &str,
) {
    let tokens = h.aws.repeated_launch_tokens();
    assert!(
        tokens.is_empty(),
        "{what}: a client token sent to EC2 twice: {tokens:?}"
    );
    assert_eq!(
        wanted(h, scale_set_id),
        expected,
        "{what}: statistics want {} runners",
        wanted(h, scale_set_id)
    );
    let instances = live_instances(h, scale_set_id).await;
    let live: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
    let ledger: Vec<RunnerRecord> = h.ledger().await;
    assert_eq!(
        live.len(),
        expected,
        "{what}: live instances {live:?}, ledger {ledger:?}"
    );
    for id in &live {
        let entries = ledger.iter().filter(|r| r.instance_id == *id).count();
        assert_eq!(
            entries, 1,
            "{what}: instance {id} has {entries} ledger entries: {ledger:?}"
        );
    }
    let mut per_runner: HashMap<&str, usize> = HashMap::new();
    for name in instances.iter().filter_map(|i| i.runner_name.as_deref()) {
        *per_runner.entry(name).or_default() += 1;
    }
    assert!(
        per_runner.values().all(|n| *n == 1),
        "{what}: a runner on two live instances: {per_runner:?}"
    );
    assert_eq!(
        ledger.len(),
        expected,
        "{what}: ledger entries without a live instance: {ledger:?} (live {live:?})"
    );
    let jit = h.jit_left().await;
    assert!(
        jit.iter().all(|id| live.contains(id)),
        "{what}: JIT material of dead instances: {jit:?} (live {live:?})"
    );
    let known: HashSet<i64> = ledger.iter().filter_map(|r| r.runner_id).collect();
    let registered: Vec<(u64, String, bool)> = h
        .fake
        .state()
        .runners
        .into_iter()
        .filter(|r| r.runner.runner_scale_set_id == scale_set_id as u64)
        .map(|r| (r.runner.id, r.runner.name, r.busy))
        .collect();
    let orphans: Vec<&(u64, String, bool)> = registered
        .iter()
        .filter(|(id, _, _)| !known.contains(&(*id as i64)))
        .collect();
    assert!(
        orphans.is_empty(),
        "{what}: runner registrations without a ledger entry (nothing will ever remove them): \
         {orphans:?}; ledger {ledger:?}"
    );
    for (id, name, _) in registered.iter().filter(|(_, _, busy)| *busy) {
        let instance = ledger
            .iter()
            .find(|r| r.runner_id == Some(*id as i64))
            .map(|r| r.instance_id.clone());
        assert!(
            instance.as_ref().is_some_and(|i| live.contains(i)),
            "{what}: busy runner {name} lost its instance ({instance:?}; live {live:?})"
        );
    }
}

/// The fleet was not shrunk: every instance of `before` is still live, unless the statistics
/// now want fewer runners than there were.
pub async fn assert_kept<A: StandIn>(
    h: &Harness<A>,
    scale_set_id: i64,
    before: &[String],
    what: &str,
) {
    let now = live(h, scale_set_id).await;
    if wanted(h, scale_set_id) < before.len() {
        return;
    }
    let gone: Vec<&String> = before.iter().filter(|i| !now.contains(i)).collect();
    assert!(
        gone.is_empty(),
        "{what}: instances terminated although still wanted: {gone:?} (before {before:?}, \
         now {now:?})"
    );
}

/// Distinct session ids of the message polls the fake saw.
pub fn polling_sessions<A: StandIn>(h: &Harness<A>) -> HashSet<String> {
    h.fake
        .calls_to("messages.get")
        .iter()
        .map(|c| c.path.split('/').nth(3).unwrap_or_default().to_owned())
        .collect()
}
