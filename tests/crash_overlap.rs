//! Killed invocations, up to five overlapping ones, and session churn, in whole cycles on the
//! ports in memory; the overlap also runs on moto_server, where DynamoDB's conditional writes
//! hold the lease.
//!
//! - Kills: tests/cycle_faults.rs fails a step at each crash point (an error returned after
//!   acquire, after launch, before persist, before acknowledge, between remove-runner and
//!   terminate). Here the invocation dies instead: the step never returns and the cycle's
//!   future is dropped, leaving its lease held, as when Lambda kills the process. The lease
//!   then lapses ([`Harness::lapse_lease`]) and the next invocation must converge without
//!   shrinking the fleet.
//! - Overlap: five invocations of one scale set at once.
//! - Session churn: tokens expiring mid-poll and between calls, and a crashed predecessor's
//!   session reused at once (no 409, no waiting out its TTL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use futures::future::join_all;
use ghaec2::cycle::{CycleError, CycleSettings, EndReason, Summary};
use ghaec2_fake::Mode;
use support::cycle::{Harness, Memory, StandIn, isolated, memory, stop};
use support::faulty::{Faulty, LAUNCH, PUT_RUNNER, RUNNERS, SAVE, TERMINATE, When};
use support::invariants::{assert_converged, assert_kept, id_of, live, polling_sessions};

/// A cycle long enough for a message and a few empty polls.
const SHORT: Duration = Duration::from_millis(1000);
/// A cycle that only needs to set things up (scale set, session) or to end.
const BRIEF: Duration = Duration::from_millis(600);
/// [`SHORT`] and [`BRIEF`] on moto, whose calls are slower.
const MOTO_SHORT: Duration = Duration::from_millis(2500);
const MOTO_BRIEF: Duration = Duration::from_millis(1200);

/// Runs a cycle whose state store and fleet are `store` and `fleet`, and drops it once either
/// wrapper reached its kill point. Panics if the cycle ended by itself.
async fn killed<S, F>(h: &Harness<Memory>, store: &Faulty<'_, S>, fleet: &Faulty<'_, F>)
where
    S: ghaec2::ports::StateStore + Sync,
    F: ghaec2::ports::Fleet + Sync,
{
    let window = stop(SHORT);
    let run = h.run(h.with_ports(store, fleet, &h.jit), &window);
    tokio::select! {
        ended = run => panic!("the cycle ended before its kill point: {ended:?}"),
        () = store.killed() => {}
        () = fleet.killed() => {}
    }
}

/// Waits until the fake saw a message poll (the cycle is draining).
async fn polling<A: StandIn>(h: &Harness<A>) {
    h.fake
        .wait_for(Duration::from_secs(10), |_| {
            (!h.fake.calls_to("messages.get").is_empty()).then_some(())
        })
        .await
        .expect("the cycle polls");
}

// ---------------------------------------------------------------------------------------------
// Kills
// ---------------------------------------------------------------------------------------------

/// A kill at `point` (`op`, call number, before or after it) of a cycle serving 2 new jobs
/// on a scale set that already has its session; then the lease lapses and the next cycle
/// must converge on 2 runners without terminating any instance the killed one left running.
async fn kill_then_converge(mode: Mode, op: &'static str, nth: u32, when: When) {
    let h = memory(mode, 0, 10).await;
    let id = id_of(&h.cycle(BRIEF).await.unwrap());
    h.enqueue(2);
    let what = format!("killed at {op} #{nth} ({when:?})");
    let store = match op {
        RUNNERS | SAVE | PUT_RUNNER => Faulty::new(&h.store).kill(op, nth, when),
        _ => Faulty::new(&h.store),
    };
    let fleet = match op {
        LAUNCH | TERMINATE => Faulty::new(&h.fleet).kill(op, nth, when),
        _ => Faulty::new(&h.fleet),
    };
    killed(&h, &store, &fleet).await;
    if mode == Mode::Ghes {
        let acquired = h.fake.calls_to("acquirejobs");
        assert!(
            acquired.iter().any(|c| c.status == 200),
            "{what}: the kill came after the acquire: {acquired:?}"
        );
    }
    let left = live(&h, id).await;
    h.lapse_lease().await;
    let clean = h.cycle(SHORT).await.unwrap();
    assert_eq!(clean.reason, EndReason::WindowOver, "{what}: {clean:?}");
    // Instances whose set-up the kill interrupted have no runner; only those with a ledger
    // entry must survive.
    let adopted: Vec<String> = h
        .ledger()
        .await
        .into_iter()
        .map(|r| r.instance_id)
        .filter(|i| left.contains(i))
        .collect();
    assert_kept(&h, id, &adopted, &what).await;
    assert_converged(&h, id, 2, &what).await;
}

/// GHES: killed after acquiring the jobs, before reconciling: the message's first AWS call
/// is CreateFleet (the ledger and EC2's view are known from the first pass).
#[tokio::test]
async fn killed_after_acquire() {
    kill_then_converge(Mode::Ghes, LAUNCH, 1, When::Before).await;
}

/// Killed when CreateFleet returned, before any ledger entry.
#[tokio::test]
async fn killed_after_launch() {
    kill_then_converge(Mode::Dotcom, LAUNCH, 1, When::After).await;
}

/// Killed after the first runner's ledger entry, before its JIT material.
#[tokio::test]
async fn killed_after_a_ledger_write() {
    kill_then_converge(Mode::Dotcom, PUT_RUNNER, 1, When::After).await;
}

/// Killed after persisting the cursor, before acknowledging the message.
#[tokio::test]
async fn killed_after_persist_before_ack() {
    kill_then_converge(Mode::Dotcom, SAVE, 1, When::After).await;
}

/// Killed between removing a runner's registration and terminating its instance.
#[tokio::test]
async fn killed_between_remove_runner_and_terminate() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let jobs = h.enqueue(2);
    let id = id_of(&h.cycle(SHORT).await.unwrap());
    for job in jobs {
        h.fake.cancel_job(job).unwrap();
    }
    let store = Faulty::new(&h.store);
    let fleet = Faulty::new(&h.fleet).kill(TERMINATE, 1, When::Before);
    killed(&h, &store, &fleet).await;
    let removed = h.fake.calls_to("agents.delete");
    assert_eq!(removed.iter().filter(|c| c.status == 204).count(), 1);
    assert_eq!(live(&h, id).await.len(), 2, "nothing terminated yet");
    h.lapse_lease().await;
    let clean = h.cycle(SHORT).await.unwrap();
    assert_eq!(clean.terminated, 2, "{clean:?}");
    assert_converged(&h, id, 0, "killed between remove and terminate").await;
}

// ---------------------------------------------------------------------------------------------
// Overlap
// ---------------------------------------------------------------------------------------------

fn owners<A: StandIn>(h: &Harness<A>, n: usize) -> Vec<CycleSettings> {
    (0..n)
        .map(|i| CycleSettings {
            owner: format!("invocation-{i}"),
            ..h.settings.clone()
        })
        .collect()
}

fn reasons(results: &[Result<Summary, CycleError>]) -> Vec<EndReason> {
    results
        .iter()
        .map(|r| r.as_ref().expect("no overlapping cycle fails").reason)
        .collect()
}

/// Five invocations start at the same instant, then four more while the winner drains.
/// Exactly one holds the lease and polls each time; the others return "lease held" at once;
/// nothing is launched twice, and the next owner takes the same session over.
///
/// What this proves and what it does not: the lease is a conditional UpdateItem, and DynamoDB
/// serializes conditional writes on one item. moto does not (two simultaneous UpdateItems can
/// both pass their condition), so the test's proxy forwards DynamoDB calls one at a time, as
/// DynamoDB applies them. The test thus proves that ghaec2's lease and fencing give one owner
/// given DynamoDB's per-item serialization, not that serialization itself. On the ports in
/// memory, a lock serializes the writes.
async fn five_overlapping_invocations<A: StandIn>(h: Harness<A>, short: Duration, brief: Duration) {
    let setup = h.cycle(brief).await.unwrap();
    let id = id_of(&setup);
    h.enqueue(3);
    h.fake.reset_calls();
    let settings = owners(&h, 9);

    let window = stop(short);
    let results = join_all(
        settings[..5]
            .iter()
            .map(|s| h.run(h.with_settings(s), &window)),
    )
    .await;
    let ran = reasons(&results);
    assert_eq!(
        ran.iter().filter(|r| **r == EndReason::LeaseHeld).count(),
        4,
        "{ran:?}"
    );
    assert_eq!(
        ran.iter().filter(|r| **r == EndReason::WindowOver).count(),
        1,
        "{ran:?}"
    );
    let winner = results
        .iter()
        .flatten()
        .find(|s| s.reason == EndReason::WindowOver)
        .unwrap();
    assert_eq!(winner.launched, 3, "{winner:?}");
    assert_eq!(polling_sessions(&h).len(), 1);
    assert!(
        h.fake.calls_to("sessions.create").is_empty(),
        "the stored session served"
    );
    assert_converged(&h, id, 3, "after five simultaneous invocations").await;

    // Four more while one drains.
    h.enqueue(1);
    let window = stop(short);
    let brief = stop(brief);
    let (first, late) = tokio::join!(h.run(h.with_settings(&settings[5]), &window), async {
        polling(&h).await;
        join_all(
            settings[6..]
                .iter()
                .map(|s| h.run(h.with_settings(s), &brief)),
        )
        .await
    });
    let first = first.unwrap();
    assert_eq!(first.reason, EndReason::WindowOver, "{first:?}");
    assert_eq!(reasons(&late), vec![EndReason::LeaseHeld; 3]);
    assert_eq!(first.launched, 1, "{first:?}");
    assert_eq!(
        first.session_id, winner.session_id,
        "one session throughout"
    );
    assert_eq!(polling_sessions(&h).len(), 1);
    assert_converged(&h, id, 4, "after invocations overlapping a drain").await;
}

#[tokio::test]
async fn five_overlapping_invocations_have_one_poller_and_launch_once() {
    five_overlapping_invocations(memory(Mode::Dotcom, 0, 10).await, SHORT, BRIEF).await;
}

/// The same with the lease in DynamoDB, on moto.
#[tokio::test]
async fn five_overlapping_invocations_have_one_poller_and_launch_once_on_moto() {
    five_overlapping_invocations(isolated(Mode::Dotcom, 0, 10).await, MOTO_SHORT, MOTO_BRIEF).await;
}

// ---------------------------------------------------------------------------------------------
// Session churn
// ---------------------------------------------------------------------------------------------

/// Queue tokens expire while the cycle is polling: the next queue call gets 401, the session
/// is refreshed (same id) within the cycle, and the job that came meanwhile gets its runner.
#[tokio::test]
async fn queue_tokens_expiring_mid_poll_are_refreshed() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let setup = h.cycle(BRIEF).await.unwrap();
    let id = id_of(&setup);
    h.fake.reset_calls();
    let (summary, ()) = tokio::join!(h.cycle(SHORT), async {
        polling(&h).await;
        assert!(h.fake.expire_mq_tokens() >= 1);
        h.enqueue(1);
    });
    let summary = summary.unwrap();
    let refused: Vec<String> = h
        .fake
        .calls()
        .iter()
        .filter(|c| c.status == 401)
        .map(|c| c.endpoint.clone())
        .collect();
    assert!(!refused.is_empty(), "a queue call met the expired token");
    assert!(
        h.fake
            .calls_to("sessions.refresh")
            .iter()
            .any(|c| c.status == 200),
        "refreshed after 401 on {refused:?}"
    );
    assert_eq!(summary.session_id, setup.session_id);
    assert_eq!(summary.launched, 1, "{summary:?}");
    assert_converged(&h, id, 1, "after tokens expired mid-poll").await;
}

/// The admin token expires between two admin calls of one cycle (after the session's, before
/// the JIT configuration's): the client registers again and the job gets its runner.
#[tokio::test]
async fn an_admin_token_expiring_mid_cycle_is_renewed() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let id = id_of(&h.cycle(BRIEF).await.unwrap());
    h.fake.reset_calls();
    let (summary, ()) = tokio::join!(h.cycle(SHORT), async {
        polling(&h).await;
        assert!(h.fake.expire_admin_tokens() >= 1);
        h.enqueue(1);
    });
    let summary = summary.unwrap();
    let jit = h.fake.calls_to("generatejitconfig");
    assert_eq!(jit.first().map(|c| c.status), Some(401), "{jit:?}");
    assert!(!h.fake.calls_to("runner-registration").is_empty());
    assert_eq!(summary.launched, 1, "{summary:?}");
    assert_converged(&h, id, 1, "after the admin token expired mid-cycle").await;
}

/// A predecessor was killed right after creating and storing its session. Its session is still
/// live on the service (a create would meet 409 until it lapses), but its id is in our state
/// record, so the next invocation reuses it at once: no create, no 409, no wait.
#[tokio::test]
async fn a_killed_predecessors_session_is_reused_at_once() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    // Save 1 is the state write right after the session was created.
    let store = Faulty::new(&h.store).kill(SAVE, 1, When::After);
    let fleet = Faulty::new(&h.fleet);
    killed(&h, &store, &fleet).await;
    let id = h.scale_set_id().await;
    let stale = h.fake.live_session(id as u64).expect("its session is live");
    h.enqueue(1);
    h.lapse_lease().await;

    let next = h.cycle(SHORT).await.unwrap();
    assert_eq!(next.reason, EndReason::WindowOver, "{next:?}");
    assert_eq!(next.session_id, Some(stale.to_string()));
    let creates = h.fake.calls_to("sessions.create");
    assert_eq!(creates.len(), 1, "only the killed one created: {creates:?}");
    assert_eq!(next.launched, 1, "{next:?}");
    assert_converged(&h, id, 1, "after the predecessor was killed").await;
}
