//! Runs against the fake answering in sparse shapes (defaults left out, nulls for empty values,
//! no statistics on refresh, an unknown job message in every message; see fake/src/sparse.rs):
//! no job is lost, sessions are kept across `--once` invocations, and no message is polled
//! more than twice. Cycles run on the ports in memory; the `--once` runs are the binary on
//! moto_server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ghaec2_fake::{FakeOptions, Mode};
use support::cycle::Shapes;

const SHORT: Duration = Duration::from_millis(1000);

#[tokio::test]
async fn a_ghes_run_acquires_and_launches_every_job() {
    let h = Shapes::Sparse.memory(Mode::Ghes, 0, 20).await;
    let mut acquired = 0;
    let mut launched = 0;
    for batch in [3, 4] {
        h.enqueue(batch);
        let summary = h.cycle(SHORT).await.unwrap();
        acquired += summary.jobs_acquired;
        launched += summary.launched;
    }
    assert_eq!((acquired, launched), (7, 7), "{}", h.logs.text());
    assert_eq!(h.instances().await.len(), 7);
    let jobs = h.fake.state().jobs;
    assert!(jobs.iter().all(|j| j.acquired), "{jobs:?}");
    // Every message opened with a job message of a kind nobody knows; it cost nothing else.
    assert!(
        h.logs
            .text()
            .contains(ghaec2_fake::sparse::UNKNOWN_JOB_MESSAGE)
    );
}

#[tokio::test]
async fn no_message_is_polled_more_than_twice() {
    let h = Shapes::Sparse.memory(Mode::Ghes, 0, 10).await;
    let ids = h.enqueue(3);
    h.cycle(SHORT).await.unwrap();
    assert_eq!(h.boot_all().await, 3);
    h.cycle(SHORT).await.unwrap();
    for id in ids {
        h.fake.succeed_job(id).unwrap();
    }
    let done = h.cycle(SHORT).await.unwrap();
    assert_eq!((done.desired, done.current), (0, 0), "{done:?}");

    let state = h.fake.state();
    let deliveries = &state.scale_sets[0].queue.deliveries;
    // JobAvailable, JobAssigned, JobStarted and JobCompleted came in separate messages.
    assert!(deliveries.len() >= 4, "{deliveries:?}");
    assert!(deliveries.values().all(|&n| n <= 2), "{deliveries:?}");
}

#[tokio::test]
async fn once_runs_reuse_their_session_when_refreshes_carry_no_statistics() {
    let fake = support::fake::start(
        FakeOptions::for_tests()
            .with_mode(Mode::Ghes)
            .with_sparse(true),
    )
    .await;
    let site = support::cli::Site::new("sa-east-1").await;
    let once = || {
        site.run(
            &fake,
            "reuse",
            &["--once"],
            &[("DRAIN_WINDOW_SECONDS", "1")],
        )
    };

    let first = once().await;
    assert!(first.success, "{}", first.stderr);
    assert_eq!(fake.calls_to("sessions.create").len(), 1);

    let second = once().await;
    assert!(second.success, "{}", second.stderr);
    assert_eq!(
        fake.calls_to("sessions.create").len(),
        1,
        "the second run creates no session:\n{}",
        second.stderr
    );
    let refreshes = fake.calls_to("sessions.refresh");
    assert!(
        !refreshes.is_empty() && refreshes.iter().all(|c| c.status == 200),
        "{refreshes:?}"
    );
    assert!(
        !second.stderr.contains("Could not refresh the session"),
        "{}",
        second.stderr
    );
}
