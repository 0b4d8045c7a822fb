//! One invocation (docs/design.md §1): lease → restore → drain → persist, for one scale set.
//!
//! Read in this order, from a poll to a launched instance:
//! - [`listener`]: the [`Listener`], the protocol loop: the lease, the drain loop and each
//!   message in protocol order (acquire, runner states, reconcile, persist, acknowledge).
//! - [`lease`]: the lease, and the hand-over from an invocation that ends first.
//! - [`keeper`]: the message session and the scale set, restored, refreshed and replaced.
//! - [`reconciler`]: the [`Reconciler`], the fleet policy: observe the ledger and EC2, ask
//!   [`crate::scaling::plan`], launch and remove; a spot interruption warning's runner.
//! - [`known`]: what the reconciler knows under the lease (the ledger, EC2's last view), so a
//!   message goes straight to CreateFleet.
//! - [`reruns`]: the runs of interrupted jobs, re-run once they complete.
//! - [`summary`]: the JSON summary and why the cycle ended.
//! - [`error`]: why a cycle failed.

mod error;
mod keeper;
mod known;
mod lease;
mod listener;
mod reconciler;
mod reruns;
mod scale_set;
mod summary;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

pub use error::CycleError;
pub use listener::Listener;
pub use reconciler::{Outcome, Pass, Reconciler};
pub use summary::{EndReason, Handling, Interruption, Summary};

use crate::actions::Session;
use crate::actions::wire::Statistics;
use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::event::SpotInterruption;
use crate::ports::{Lease, ScaleSetState};
use crate::scaling;

/// Persisting and releasing come after the window, within this margin (docs/design.md §3).
pub const SAFETY_MARGIN: Duration = Duration::from_secs(5);
/// A lease outlives its invocation by at most this much (docs/design.md §3).
pub const LEASE_OVERHANG: Duration = Duration::from_secs(30);

/// What the cycle needs to know, taken from the configuration once, and the clock it reads.
#[derive(Debug, Clone)]
pub struct CycleSettings {
    /// Scale set name; also the key of its state record.
    pub scale_set_name: String,
    /// Expected scale set id (`RUNNER_SCALE_SET_ID`), checked when set.
    pub scale_set_id: Option<i64>,
    /// Runner group name.
    pub runner_group: String,
    /// Scale set labels, the name first.
    pub labels: Vec<String>,
    /// Minimum runners.
    pub min_runners: u32,
    /// Maximum runners; also sent as `X-ScaleSetMaxCapacity`.
    pub max_runners: u32,
    /// A runner not online this long after launch is an orphan.
    pub boot_timeout: Duration,
    /// How long a launched instance may be missing from DescribeInstances
    /// ([`crate::scaling::DESCRIBE_GRACE`]).
    pub describe_grace: Duration,
    /// Runner work folder.
    pub work_folder: String,
    /// This invocation's identity: lease owner and session owner.
    pub owner: String,
    /// Delete the session when the cycle ends on shutdown (the local loop).
    pub delete_session_on_shutdown: bool,
    /// Re-run the failed jobs of a run whose job a spot interruption took, once
    /// (`RERUN_INTERRUPTED_JOBS`).
    pub rerun_interrupted_jobs: bool,
    /// The wall clock: lease expiry, launch times, boot timeouts.
    pub clock: Arc<dyn Clock>,
}

/// The AWS ports a cycle runs on, borrowed for one cycle (real adapters, or wrappers that
/// inject faults).
#[derive(Debug)]
pub struct Ports<'a, S, F, J> {
    /// Lease, state record and ledger.
    pub store: &'a S,
    /// EC2.
    pub fleet: &'a F,
    /// JIT material.
    pub jit: &'a J,
}

impl<S, F, J> Clone for Ports<'_, S, F, J> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S, F, J> Copy for Ports<'_, S, F, J> {}

/// When to stop listening.
#[derive(Debug, Clone)]
pub struct Stop {
    /// End of listening: the window, or the Lambda deadline minus the margin.
    pub listen_until: Instant,
    /// Whether `listen_until` is the Lambda deadline rather than the window.
    pub deadline_bound: bool,
    /// Flips to true on SIGINT/SIGTERM.
    pub shutdown: watch::Receiver<bool>,
}

impl Stop {
    /// Listening time left.
    fn left(&self) -> Duration {
        self.listen_until.saturating_duration_since(Instant::now())
    }

    /// How long a lease taken now must last: listening, the safety margin, and the overhang.
    fn lease_span(&self) -> chrono::Duration {
        let span = self.left() + SAFETY_MARGIN + LEASE_OVERHANG;
        chrono::Duration::from_std(span).unwrap_or_default()
    }

    /// Why listening ended when its time ran out.
    fn time_up(&self) -> EndReason {
        if self.deadline_bound {
            EndReason::Deadline
        } else {
            EndReason::WindowOver
        }
    }

    /// Sleeps for `wait`, but not past the end of listening or a shutdown request.
    async fn pause(&self, wait: Duration) {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tokio::time::sleep_until(self.listen_until) => {}
            _ = shutdown_requested(&mut shutdown) => {}
        }
    }

    /// Whether shutdown was requested.
    fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// Resolves once shutdown is requested; never, when nobody can request it (Lambda, tests).
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Whether the listener still has a session to listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionStatus {
    /// Live: polled, and stored at the end.
    Live,
    /// Another live session kept ours out until listening ended; none is stored.
    Blocked,
    /// Deleted on shutdown; none is stored, the next cycle creates one.
    Deleted,
}

/// What the listener keeps while it listens: the lease, the session, the cursor and what
/// the cycle did so far.
struct Run {
    lease: Lease,
    state: ScaleSetState,
    scale_set_id: i64,
    session: Session,
    status: SessionStatus,
    statistics: Statistics,
    /// The statistics came from the service in this invocation (a session created or
    /// refreshed, or a message), not from the state record.
    statistics_fresh: bool,
    tally: summary::Tally,
    /// Reconcile passes so far; each names its launch's client token.
    passes: u64,
    /// Sessions replaced since the last successful poll, each waiting longer before the next.
    replacements: Backoff,
    /// The spot interruption warning the invocation was started for, until dealt with.
    warning: Option<SpotInterruption>,
    /// What dealing with it did, for the summary.
    interruption: Option<Interruption>,
}

impl Run {
    /// The summary of the run, ended for `reason`.
    fn summary(&self, reason: EndReason) -> Summary {
        let session_id = Some(self.session.id.to_string());
        let cursor = self.state.last_message_id;
        let summary = self
            .tally
            .summary(Some(self.scale_set_id), session_id, cursor, reason);
        Summary {
            interruption: self.interruption.clone(),
            ..summary
        }
    }

    /// Takes a message's statistics; without any the last ones stand, and the next message
    /// brings fresh ones.
    fn take_statistics(&mut self, statistics: Option<Statistics>) {
        if let Some(statistics) = statistics {
            self.statistics = statistics;
            self.statistics_fresh = true;
        }
    }

    /// The next reconcile pass, towards the latest statistics; `first` marks the
    /// invocation's first pass, `observe` one that lists EC2 before it plans.
    fn next_pass(&mut self, settings: &CycleSettings, first: bool, observe: bool) -> Pass<'_> {
        let (min, max) = (settings.min_runners, settings.max_runners);
        let assigned = self.statistics.total_assigned_jobs;
        self.passes += 1;
        Pass {
            lease: &self.lease,
            scale_set_id: self.scale_set_id,
            desired: scaling::desired_runners(min, max, assigned),
            wanted: scaling::desired_runners(min, u32::MAX, assigned),
            first,
            observe,
            scale_down: !first || self.statistics_fresh,
            seq: self.passes,
        }
    }
}
