//! EC2's two-minute spot interruption warning (`events/spot-interruption.json`), as the Lambda
//! handler routes it to `Listener::run_interrupted`, against moto_server and the fake: an idle
//! runner is removed, its instance terminated and replaced within the invocation; a busy one is
//! marked, its job's failure put down to the interruption, and replaced once EC2 has taken the
//! instance; the listener the warning preempted stops without another write. Run with
//! `scripts/with-moto.sh cargo test --test spot_interruptions`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ghaec2::cycle::{CycleError, EndReason, Handling, Pass, Ports, Reconciler};
use ghaec2::ports::{Fleet, RunnerState};
use ghaec2::ports::{LeaseOutcome, PortErrorKind, StateStore};
use ghaec2_fake::{FakeOptions, Job, JobSpec, Mode};
use support::cycle::{Harness, REGION, SCALE_SET, harness_on, harness_with, isolated, stop};
use support::faulty::{DELETE_RERUN, Faulty, When};

const WINDOW: Duration = Duration::from_millis(2000);

/// The live instances' ids.
async fn live(h: &support::cycle::Harness) -> Vec<String> {
    let mut ids: Vec<String> = h.instances().await.into_iter().map(|i| i.id).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn an_idle_runner_is_removed_terminated_and_replaced_at_once() {
    let h = isolated(Mode::Dotcom, 1, 5).await;
    let first = h.cycle(WINDOW).await.unwrap();
    assert_eq!(first.launched, 1, "{first:?}");
    let [interrupted] = <[String; 1]>::try_from(live(&h).await).unwrap();
    assert_eq!(h.boot_all().await, 1);

    let summary = h.interrupted(WINDOW, &interrupted).await.unwrap();

    let interruption = summary
        .interruption
        .clone()
        .expect("the warning is reported");
    assert_eq!(interruption.instance_id, interrupted);
    assert_eq!(interruption.handled, Handling::Removed, "{summary:?}");
    assert!(interruption.instance_type.is_some(), "{interruption:?}");
    assert_eq!(interruption.job_id, None);
    // Its replacement came in the same invocation: MIN_RUNNERS is 1.
    assert_eq!(
        (summary.launched, summary.terminated),
        (1, 1),
        "{summary:?}"
    );
    assert_eq!(summary.reason, EndReason::WindowOver);
    let now_live = live(&h).await;
    assert_eq!(now_live.len(), 1, "{now_live:?}");
    assert_ne!(now_live[0], interrupted, "terminated, and replaced");
    // Registration first: the runner is gone from the service and from the ledger.
    let runner = &interruption.runner;
    let fake = h.fake.state();
    assert!(
        !fake.runners.iter().any(|r| &r.runner.name == runner),
        "{fake:?}"
    );
    assert!(!h.ledger().await.iter().any(|r| &r.name == runner));

    let logs = h.logs.text();
    assert!(
        logs.contains(&format!(
            "Spot interruption warning for runner {runner}'s instance {interrupted}."
        )),
        "{logs}"
    );
    let metric = logs
        .lines()
        .find(|l| l.contains("\"SpotInterruptions\""))
        .expect("SpotInterruptions counted");
    assert!(
        metric.contains(&format!("\"ScaleSet\":\"{SCALE_SET}\"")),
        "{metric}"
    );
    let instance_type = interruption.instance_type.unwrap();
    assert!(
        metric.contains(&format!("\"InstanceType\":\"{instance_type}\"")),
        "{metric}"
    );
}

/// A job running on the scale set's one runner, known busy to the ledger; the instance id.
async fn busy_runner(h: &Harness) -> (Job, String) {
    let job = h
        .fake
        .enqueue_job(JobSpec {
            duration_ms: Some(600_000),
            ..JobSpec::with_labels([SCALE_SET])
        })
        .unwrap();
    assert_eq!(h.cycle(WINDOW).await.unwrap().launched, 1);
    let [busy] = <[String; 1]>::try_from(live(h).await).unwrap();
    assert_eq!(h.boot_all().await, 1);
    // JobStarted reaches the ledger.
    h.cycle(WINDOW).await.unwrap();
    let record = h.ledger().await.pop().unwrap();
    assert_eq!(record.state, RunnerState::Busy, "{record:?}");
    (job, busy)
}

#[tokio::test]
async fn a_busy_runner_is_marked_its_failure_attributed_and_replaced_once_its_instance_is_gone() {
    let h = isolated(Mode::Dotcom, 0, 5).await;
    let (job, busy) = busy_runner(&h).await;
    let record = h.ledger().await.pop().unwrap();

    let summary = h.interrupted(WINDOW, &busy).await.unwrap();

    let interruption = summary.interruption.clone().unwrap();
    assert_eq!(interruption.handled, Handling::MarkedBusy, "{summary:?}");
    assert_eq!(interruption.job_id, record.job_id);
    // Nothing taken from under the job, and nothing launched yet: the instance still runs it.
    assert_eq!(
        (summary.launched, summary.terminated),
        (0, 0),
        "{summary:?}"
    );
    assert_eq!(live(&h).await, vec![busy.clone()]);
    let marked = h.ledger().await.pop().unwrap();
    assert!(marked.interrupted_at.is_some(), "{marked:?}");
    assert_eq!(marked.state, RunnerState::Busy);

    // Two minutes later EC2 takes the instance; the service has not noticed yet.
    h.fleet
        .terminate(std::slice::from_ref(&busy))
        .await
        .unwrap();
    let after = h.cycle(WINDOW).await.unwrap();
    assert_eq!(
        after.launched, 1,
        "the replacement, for the job still assigned: {after:?}"
    );
    assert_eq!(after.terminated, 0, "{after:?}");
    let waiting = h.ledger().await;
    assert!(
        waiting.iter().any(|r| r.instance_id == busy),
        "kept for the job's end: {waiting:?}"
    );

    // Then the job fails, and its end is put down to the interruption.
    h.fake
        .complete_job(job.runner_request_id, "failed")
        .unwrap();
    h.cycle(WINDOW).await.unwrap();
    let logs = h.logs.text();
    let runner = &interruption.runner;
    assert!(
        logs.contains(&format!(
            "ended failed on runner {runner}, whose spot instance EC2 interrupted."
        )),
        "{logs}"
    );
    assert!(!h.ledger().await.iter().any(|r| &r.name == runner));
}

#[tokio::test]
async fn a_warning_for_an_instance_the_ledger_does_not_hold_changes_nothing() {
    let h = isolated(Mode::Dotcom, 1, 5).await;
    h.cycle(WINDOW).await.unwrap();
    let before = live(&h).await;

    let summary = h.interrupted(WINDOW, "i-0123456789abcdef0").await.unwrap();

    assert_eq!(summary.interruption, None, "{summary:?}");
    assert_eq!(
        (summary.launched, summary.terminated),
        (0, 0),
        "{summary:?}"
    );
    assert_eq!(live(&h).await, before);
    assert!(
        h.logs
            .text()
            .contains("Spot interruption warning for an instance the ledger does not hold")
    );
}

/// The warning cannot wait for the listener's window: it takes the lease while the listener
/// waits in a long poll, and the listener stops at its next fenced write, having taken down
/// nothing of the new holder's.
#[tokio::test]
async fn the_warning_preempts_the_listener_which_stops_without_another_write() {
    let options = FakeOptions::for_tests()
        .with_mode(Mode::Dotcom)
        .with_poll_hold(Duration::from_secs(3));
    let h = harness_on(options, REGION, 1, 5, &[]).await;
    h.cycle(WINDOW).await.unwrap();
    let [interrupted] = <[String; 1]>::try_from(live(&h).await).unwrap();
    h.boot_all().await;

    let listening = stop(Duration::from_secs(6));
    let listener = h.services();
    let (preempted, summary) = tokio::join!(listener.run(&listening), async {
        // The listener's first pass, then its poll.
        while !h.logs.text().contains("Reconciled.") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        h.interrupted(Duration::from_millis(500), &interrupted)
            .await
    });

    let summary = summary.unwrap();
    assert_eq!(
        summary.interruption.map(|i| i.handled),
        Some(Handling::Removed)
    );
    assert!(
        matches!(preempted, Err(CycleError::Fenced(_))),
        "{preempted:?}"
    );
    // One runner: the replacement, neither taken down nor doubled by the stale listener.
    let live_now = live(&h).await;
    assert_eq!(live_now.len(), 1, "{live_now:?}");
    assert!(
        h.ledger()
            .await
            .iter()
            .any(|r| r.instance_id == live_now[0])
    );
    // The next cycle takes the lease the preempting invocation released, and converges.
    let next = h.cycle(WINDOW).await.unwrap();
    assert_eq!(next.reason, EndReason::WindowOver, "{next:?}");
    assert_eq!((next.launched, next.terminated), (0, 0), "{next:?}");
    assert_eq!(live(&h).await, live_now);
}

/// With `RERUN_INTERRUPTED_JOBS`, the interrupted job's run has its failed jobs re-run once it
/// completes, exactly once: a crash between the re-run and forgetting it (the record's delete
/// fails after the call) does not re-run it again, because the run's attempt moved on.
#[tokio::test]
async fn an_interrupted_jobs_run_is_rerun_once_it_completes_exactly_once() {
    let rerun = [("RERUN_INTERRUPTED_JOBS", "true".to_owned())];
    let h = harness_with(REGION, Mode::Dotcom, 0, 5, &rerun).await;
    let (job, busy) = busy_runner(&h).await;
    h.interrupted(WINDOW, &busy).await.unwrap();
    h.fleet
        .terminate(std::slice::from_ref(&busy))
        .await
        .unwrap();
    h.fake
        .complete_job(job.runner_request_id, "failed")
        .unwrap();
    h.cycle(WINDOW).await.unwrap();
    // Recorded with the attempt the job ran in; the run has not completed yet.
    let pending = h.store.reruns(SCALE_SET).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].run_id as u64, job.workflow_run_id);
    assert_eq!(pending[0].attempt, Some(1), "{pending:?}");
    assert_eq!(h.fake.workflow_run(job.workflow_run_id).unwrap().reruns, 0);

    h.fake.complete_run(job.workflow_run_id, "failure").unwrap();
    let store =
        Faulty::new(&h.store).fail_with(DELETE_RERUN, 1, When::After, PortErrorKind::Retryable);
    h.run(h.with_ports(&store, &h.fleet, &h.jit), &stop(WINDOW))
        .await
        .unwrap();
    h.cycle(WINDOW).await.unwrap();

    let run = h.fake.workflow_run(job.workflow_run_id).unwrap();
    assert_eq!((run.reruns, run.run_attempt), (1, 2), "{run:?}");
    assert!(h.store.reruns(SCALE_SET).await.unwrap().is_empty());
    let logs = h.logs.text();
    assert!(
        logs.contains(&format!(
            "Re-ran the failed jobs of run {}",
            job.workflow_run_id
        )),
        "{logs}"
    );
}

/// A preempted listener's copy of the ledger has never seen what the preempting invocation
/// recorded (here a runner its first pass launched): when its next plan meets that instance,
/// the table decides, and the instance stays. Played at the reconciler, pass by pass, for
/// the order to be certain.
#[tokio::test]
async fn a_preempted_listeners_stale_copy_takes_down_nothing_of_the_new_holders() {
    let h = isolated(Mode::Dotcom, 1, 5).await;
    h.cycle(WINDOW).await.unwrap();
    let scale_set_id = h.scale_set_id().await;
    let now = chrono::Utc::now();
    let until = now + chrono::Duration::seconds(60);
    let LeaseOutcome::Acquired(lease, _) = h
        .store
        .acquire(SCALE_SET, "listener", until, now)
        .await
        .unwrap()
    else {
        panic!("the lease is free between cycles");
    };
    let ports = Ports {
        store: &h.store,
        fleet: &h.fleet,
        jit: &h.jit,
    };
    let stale = Reconciler::new(&h.actions, ports, &h.settings);
    let pass = Pass {
        lease: &lease,
        scale_set_id,
        desired: 0,
        wanted: 0,
        first: true,
        observe: true,
        scale_down: true,
        seq: 1,
    };
    // Its copy: no runner (the one the first cycle launched goes down with desired 0).
    stale.reconcile(&pass).await.unwrap();
    assert!(h.ledger().await.is_empty());

    let preempting = h.interrupted(WINDOW, "i-0123456789abcdef0").await.unwrap();
    assert_eq!(preempting.launched, 1, "{preempting:?}");
    let recorded = live(&h).await;

    let next = Pass {
        desired: 1,
        wanted: 1,
        first: false,
        seq: 2,
        ..pass
    };
    let again = stale.reconcile(&next).await;
    assert!(
        matches!(again, Ok(_) | Err(CycleError::Fenced(_))),
        "{again:?}"
    );
    assert_eq!(
        live(&h).await,
        recorded,
        "taken down nothing, launched nothing"
    );
}
