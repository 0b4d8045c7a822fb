//! Whole cycles against the fake and the ports in memory: the invariants of docs/design.md §2.
//! Each scenario runs twice, against the fake's full answers and against its sparse ones; the
//! first also runs on moto_server, end to end through the AWS adapters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ghaec2::cycle::EndReason;
use ghaec2::ports::{Fleet, LeaseOutcome, RunnerState, StateStore};
use ghaec2_fake::{Fault, Mode};
use support::cycle::{Harness, SCALE_SET, Shapes, StandIn, memory};
use support::invariants::{assert_converged, id_of};

/// A window long enough for the set-up, a message and a few empty polls on the ports in
/// memory; moto's slower calls need [`MOTO_SHORT`].
const SHORT: Duration = Duration::from_millis(1000);
const MOTO_SHORT: Duration = Duration::from_millis(2500);

/// Three jobs get three runners, tagged with their names, each with its JIT config and a
/// ledger entry; the next cycle reuses the session and the admin connection.
async fn three_jobs_launch_three_tagged_runners<A: StandIn>(h: Harness<A>, window: Duration) {
    h.enqueue(3);
    let first = h.cycle(window).await.unwrap();
    assert_eq!(first.launched, 3, "{first:?}");
    assert_eq!((first.desired, first.current), (3, 3));
    assert_eq!(first.reason, EndReason::WindowOver);
    assert!(first.messages_processed >= 1);
    let instances = h.instances().await;
    assert_eq!(instances.len(), 3);
    assert!(instances.iter().all(|i| {
        i.runner_name
            .as_deref()
            .is_some_and(|n| n.starts_with(SCALE_SET))
    }));
    assert_eq!(h.jit_left().await.len(), 3);
    assert!(
        h.ledger()
            .await
            .iter()
            .all(|r| r.state == RunnerState::Booting && r.runner_id.is_some())
    );

    let second = h.cycle(window).await.unwrap();
    assert_eq!(second.launched, 0, "{second:?}");
    assert_eq!(second.session_id, first.session_id);
    assert_eq!(h.fake.calls_to("sessions.create").len(), 1);
    assert_eq!(
        h.fake.calls_to("runner-registration").len(),
        1,
        "admin connection reused"
    );
    assert_eq!(h.instances().await.len(), 3);
}

/// The first scenario end to end: through the AWS adapters, on moto.
#[tokio::test]
async fn three_jobs_launch_three_tagged_runners_on_moto() {
    three_jobs_launch_three_tagged_runners(
        Shapes::Full.harness("us-west-1", Mode::Dotcom, 0, 10).await,
        MOTO_SHORT,
    )
    .await;
}

in_both_shapes! {
    async fn three_jobs_launch_three_tagged_runners_and_the_session_is_reused(shapes: Shapes) {
        three_jobs_launch_three_tagged_runners(shapes.memory(Mode::Dotcom, 0, 10).await, SHORT).await;
    }

    async fn runners_finish_and_their_instances_terminate(shapes: Shapes) {
        let h = shapes.memory(Mode::Dotcom, 0, 10).await;
        let ids = h.enqueue(2);
        h.cycle(SHORT).await.unwrap();
        assert_eq!(h.boot_all().await, 2);
        let busy = h.cycle(SHORT).await.unwrap();
        assert_eq!(busy.launched, 0);
        assert!(
            h.ledger()
                .await
                .iter()
                .all(|r| r.state == RunnerState::Busy)
        );
        for id in ids {
            h.fake.succeed_job(id).unwrap();
        }
        let done = h.cycle(SHORT).await.unwrap();
        assert_eq!(done.terminated, 2, "{done:?}");
        assert_eq!((done.desired, done.current), (0, 0));
        assert!(h.instances().await.is_empty());
        assert!(h.ledger().await.is_empty());
        assert!(h.jit_left().await.is_empty());
    }

    async fn ghes_jobs_are_acquired_then_launched(shapes: Shapes) {
        let h = shapes.memory(Mode::Ghes, 0, 10).await;
        h.enqueue(2);
        let summary = h.cycle(SHORT).await.unwrap();
        assert_eq!(summary.jobs_acquired, 2, "{summary:?}");
        assert_eq!(summary.launched, 2);
    }

    async fn min_runners_stay_warm_and_max_caps(shapes: Shapes) {
        let h = shapes.memory(Mode::Dotcom, 1, 3).await;
        let idle = h.cycle(SHORT).await.unwrap();
        assert_eq!((idle.desired, idle.launched), (1, 1), "{idle:?}");
        h.enqueue(5);
        let capped = h.cycle(SHORT).await.unwrap();
        assert_eq!(capped.desired, 3, "{capped:?}");
        assert_eq!(h.instances().await.len(), 3);
        let polls = h.fake.calls_to("messages.get");
        assert!(polls.iter().all(|c| c.max_capacity.as_deref() == Some("3")));
    }

    async fn a_busy_runner_is_never_terminated(shapes: Shapes) {
        let mut h = shapes.memory(Mode::Dotcom, 0, 2).await;
        h.enqueue(2);
        h.cycle(SHORT).await.unwrap();
        assert_eq!(h.boot_all().await, 2);
        // The operator lowers MAX_RUNNERS to 0 while both runners run their jobs.
        h.settings.max_runners = 0;
        let summary = h.cycle(SHORT).await.unwrap();
        assert_eq!(summary.terminated, 0, "{summary:?}");
        assert!(
            h.ledger()
                .await
                .iter()
                .all(|r| r.state == RunnerState::Busy)
        );

        // Even when the ledger missed JobStarted (it says idle), the service refuses to remove a
        // busy runner, and its instance stays.
        let lease = match h
            .store
            .acquire(
                SCALE_SET,
                "operator",
                chrono::Utc::now() + chrono::Duration::seconds(30),
                chrono::Utc::now(),
            )
            .await
            .unwrap()
        {
            LeaseOutcome::Acquired(lease, _) => lease,
            held => panic!("{held:?}"),
        };
        for mut record in h.ledger().await {
            record.state = RunnerState::Idle;
            h.store
                .put_runner(SCALE_SET, &lease, &record)
                .await
                .unwrap();
        }
        h.store.release(SCALE_SET, &lease).await.unwrap();
        let summary = h.cycle(SHORT).await.unwrap();
        assert_eq!(summary.terminated, 0, "{summary:?}");
        assert_eq!(h.instances().await.len(), 2);
        let refused = h.fake.calls_to("agents.delete");
        assert!(
            !refused.is_empty() && refused.iter().all(|c| c.status == 400),
            "{refused:?}"
        );
    }

    async fn orphans_are_cleaned_up_both_ways(shapes: Shapes) {
        let mut h = shapes.memory(Mode::Dotcom, 0, 10).await;
        h.enqueue(2);
        h.cycle(SHORT).await.unwrap();
        let first: Vec<String> = h.instances().await.into_iter().map(|i| i.id).collect();
        // One instance vanishes (spot interruption); the other never brings its runner online.
        h.fleet.terminate(&first[..1]).await.unwrap();
        h.settings.boot_timeout = Duration::from_secs(1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // A window shorter than the boot timeout: the replacements are judged only next time.
        let summary = h.cycle(Duration::from_millis(700)).await.unwrap();
        let now: Vec<String> = h.instances().await.into_iter().map(|i| i.id).collect();
        assert!(
            now.iter().all(|id| !first.contains(id)),
            "both replaced: {first:?} {now:?}"
        );
        assert_eq!(summary.launched, 2, "{summary:?}");
        assert_eq!(
            h.jit_left().await.len(),
            2,
            "only the new runners' material is left"
        );
        let removed: Vec<u16> = h
            .fake
            .calls_to("agents.delete")
            .iter()
            .map(|c| c.status)
            .collect();
        assert_eq!(removed, vec![204, 204], "both registrations removed");
    }

    async fn changed_labels_and_runner_group_follow_the_configuration(shapes: Shapes) {
        let h = shapes.memory(Mode::Dotcom, 0, 10).await;
        let first = h.cycle(SHORT).await.unwrap();
        let id = first.scale_set_id.unwrap();
        let labels = |set: &ghaec2::actions::wire::RunnerScaleSet| {
            let mut names: Vec<String> = set.labels.iter().map(|l| l.name.clone()).collect();
            names.sort();
            names
        };
        assert_eq!(labels(&h.actions.scale_set(id).await.unwrap()), [SCALE_SET]);

        // A redeploy adds two labels: the stored scale set is updated by the next invocation.
        let mut added = h.settings.clone();
        added.labels = vec![SCALE_SET.to_owned(), "gpu".to_owned(), "x64".to_owned()];
        h.run(h.with_settings(&added), &support::cycle::stop(SHORT))
            .await
            .unwrap();
        assert_eq!(
            labels(&h.actions.scale_set(id).await.unwrap()),
            [SCALE_SET, "gpu", "x64"],
            "{}",
            h.logs.text()
        );
        assert!(
            h.logs
                .text()
                .contains("Updated the scale set to the configuration.")
        );

        // One is removed again: it goes away. Unchanged labels cost no update.
        let mut removed = added.clone();
        removed.labels.pop();
        h.run(h.with_settings(&removed), &support::cycle::stop(SHORT))
            .await
            .unwrap();
        h.run(h.with_settings(&removed), &support::cycle::stop(SHORT))
            .await
            .unwrap();
        assert_eq!(
            labels(&h.actions.scale_set(id).await.unwrap()),
            [SCALE_SET, "gpu"]
        );
        assert_eq!(h.fake.calls_to("scale-sets.update").len(), 2);
    }

    async fn a_refresh_without_statistics_keeps_the_session_and_the_last_statistics(
        shapes: Shapes,
    ) {
        let h = shapes.memory(Mode::Dotcom, 0, 10).await;
        h.enqueue(2);
        let first = h.cycle(SHORT).await.unwrap();
        assert_eq!((first.desired, first.launched), (2, 2), "{first:?}");

        // The next invocation refreshes the reused session; the answer leaves statistics out.
        h.fake.add_fault(Fault::session_without_statistics(1));
        let second = h.cycle(SHORT).await.unwrap();
        assert_eq!(second.session_id, first.session_id, "the session is kept");
        assert_eq!(h.fake.calls_to("sessions.create").len(), 1);
        assert_eq!(h.fake.calls_to("sessions.refresh").len(), 1);
        // The refresh counts: its new queue token is kept, not refused for the missing statistics.
        let logs = h.logs.text();
        assert!(logs.contains("Refreshed message session."), "{logs}");
        assert!(!logs.contains("Could not refresh the session"), "{logs}");
        // The last statistics stand: nothing scaled down, nothing launched twice.
        assert_eq!((second.desired, second.current, second.launched), (2, 2, 0));
        assert_eq!(h.instances().await.len(), 2);
    }
}

/// The service holds an empty poll (~50 s) past a window of that length, so a quiet
/// invocation sees neither a message nor an empty poll: its first pass alone must bring idle
/// runners down, on the statistics its session refresh fetched. Full shapes only: a sparse
/// refresh has no statistics, and then the last ones stand (the last scenario above).
#[tokio::test]
async fn a_quiet_invocation_scales_idle_runners_down() {
    let h = Shapes::Full.memory(Mode::Dotcom, 0, 10).await;
    let ids = h.enqueue(2);
    assert_eq!(h.cycle(SHORT).await.unwrap().launched, 2);
    for id in ids {
        h.fake.cancel_job(id).unwrap();
    }
    h.fake.add_fault(Fault::delay("messages.get", 100, 60_000));
    let quiet = h.cycle(SHORT).await.unwrap();
    assert_eq!(quiet.messages_processed, 0, "{quiet:?}");
    assert_eq!(quiet.terminated, 2, "{quiet:?}");
    assert_eq!((quiet.desired, quiet.current), (0, 0));
    assert!(h.instances().await.is_empty());
    assert!(h.ledger().await.is_empty());
    assert_eq!(
        h.fake.calls_to("sessions.create").len(),
        1,
        "session reused"
    );
}

/// The fast tier's checks fail as the moto tier's do (tests/aws_faults.rs): a secret planted
/// in an instance's tags is reported as a leak there.
#[tokio::test]
async fn the_leak_check_reads_the_memory_fleets_tags() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    let launched = h.fleet.launch(1, 1, "planted").await.unwrap();
    let id = &launched.instance_ids[0];
    assert!(h.leaks("").await.is_empty(), "nothing planted yet");
    h.fleet
        .name_runner(id, ghaec2_fake::DEFAULT_PAT)
        .await
        .unwrap();
    let leaks = h.leaks("").await;
    assert!(
        leaks.iter().any(|l| l.place == format!("tags of {id}")),
        "planted PAT found: {leaks:?}"
    );
}

/// ... and an instance launched behind the ledger's back fails the invariant check.
#[tokio::test]
#[should_panic(expected = "live instances")]
async fn the_invariant_check_catches_an_unknown_memory_instance() {
    let h = memory(Mode::Dotcom, 0, 10).await;
    h.enqueue(1);
    let id = id_of(&h.cycle(SHORT).await.unwrap());
    assert_converged(&h, id, 1, "before").await;
    h.fleet.launch(id, 1, "planted-duplicate").await.unwrap();
    assert_converged(&h, id, 1, "with a planted instance").await;
}
