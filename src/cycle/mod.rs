//! One invocation (docs/design.md §1): lease → restore → drain → persist, for one scale set.
//!
//! - [`mod@self`]: the cycle and the drain loop, generic over the AWS ports.
//! - [`session`]: finding the scale set and the message session, reused across invocations.
//! - [`handle`]: one message in protocol order: acquire, runner states, desired, reconcile,
//!   persist, acknowledge.
//! - [`reconcile`]: carrying a [`crate::scaling::Plan`] out against EC2 and the service.
//! - [`summary`]: the JSON summary.

mod handle;
mod reconcile;
mod session;
mod summary;

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::time::Instant;

pub use summary::{EndReason, Summary};

use crate::actions::wire::{Envelope, Statistics};
use crate::actions::{ActionsClient, ActionsError, Session};
use crate::ports::{
    Fleet, JitStore, Lease, LeaseOutcome, PortError, PortErrorKind, ScaleSetState, StateStore,
};
use crate::scaling;

/// Persisting and releasing come after the window, within this margin (docs/design.md §3).
pub const SAFETY_MARGIN: Duration = Duration::from_secs(5);
/// A lease outlives its invocation by at most this much (docs/design.md §3).
pub const LEASE_OVERHANG: Duration = Duration::from_secs(30);
/// The service holds an empty poll about this long (docs/protocol.md §9.1).
const LONG_POLL: Duration = Duration::from_secs(50);
/// A poll attempt waits this long for its answer: the hold plus a margin of at least 10 s,
/// so that a held poll answered a little late is read, not cut and retried.
const POLL_TIMEOUT: Duration = LONG_POLL.saturating_add(Duration::from_secs(10));
/// Longest wait between attempts after a transient failure.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// What the cycle needs to know, taken from the configuration once.
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
    /// ([`scaling::DESCRIBE_GRACE`]).
    pub describe_grace: Duration,
    /// Runner work folder.
    pub work_folder: String,
    /// This invocation's identity: lease owner and session owner.
    pub owner: String,
    /// Delete the session when the cycle ends on shutdown (the local loop).
    pub delete_session_on_shutdown: bool,
}

/// Why a cycle failed.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// GitHub or the Actions Service.
    #[error(transparent)]
    Actions(#[from] ActionsError),
    /// AWS.
    #[error(transparent)]
    Port(PortError),
    /// Another invocation took the lease; this one must stop writing.
    #[error("lease lost to another invocation: {0}")]
    Fenced(PortError),
    /// The scale set exists with another id than `RUNNER_SCALE_SET_ID`.
    #[error("RUNNER_SCALE_SET_ID={expected}, but scale set {name:?} has id {actual}")]
    ScaleSetIdMismatch {
        /// Scale set name.
        name: String,
        /// Configured id.
        expected: i64,
        /// Id the service reports.
        actual: i64,
    },
}

impl From<PortError> for CycleError {
    fn from(e: PortError) -> Self {
        match e.kind {
            PortErrorKind::Fenced => CycleError::Fenced(e),
            _ => CycleError::Port(e),
        }
    }
}

/// In Lambda a failed cycle is an invocation error whose message is the error's text (the
/// wording of docs/design.md §5 included) and whose type says whether the next run may fix it.
impl From<CycleError> for lambda_runtime::Diagnostic {
    fn from(error: CycleError) -> Self {
        let error_type = match &error {
            CycleError::ScaleSetIdMismatch { .. } => "Config",
            e if e.is_transient() || matches!(e, CycleError::Fenced(_)) => "Retryable",
            _ => "Fatal",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

impl CycleError {
    /// Worth trying again within the window.
    fn is_transient(&self) -> bool {
        match self {
            CycleError::Actions(e) => e.is_retryable(),
            CycleError::Port(e) => e.kind == PortErrorKind::Retryable,
            _ => false,
        }
    }
}

/// The ports and the client, borrowed for one cycle.
#[derive(Debug)]
pub struct Services<'a, S, F, J> {
    /// GitHub + Actions Service.
    pub actions: &'a ActionsClient,
    /// Lease, state record and ledger.
    pub store: &'a S,
    /// EC2.
    pub fleet: &'a F,
    /// JIT material.
    pub jit: &'a J,
    /// Settings.
    pub settings: &'a CycleSettings,
}

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

/// Resolves once shutdown is requested; never, when nobody can request it (Lambda, tests).
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// One step of the drain loop.
enum Step {
    /// The invocation's first reconcile, before any poll.
    FirstPass,
    /// What a poll brought: a message, an empty poll, or an error.
    Polled(Result<Option<Envelope>, ActionsError>),
}

/// Mutable state of a running cycle.
struct Run {
    lease: Lease,
    state: ScaleSetState,
    scale_set_id: i64,
    session: Session,
    /// False once the session was deleted on shutdown: the next cycle creates a new one.
    keep_session: bool,
    statistics: Statistics,
    /// The statistics came from the service in this invocation (a session created or
    /// refreshed, or a message), not from the state record.
    statistics_fresh: bool,
    summary: Summary,
    launches: u64,
    /// Sessions replaced since the last successful poll (see `Services::recover`).
    replacements: u32,
}

impl<S: StateStore + Sync, F: Fleet + Sync, J: JitStore + Sync> Services<'_, S, F, J> {
    /// Runs one cycle. `Ok` covers every orderly end, "lease held" and "session conflict"
    /// included; the summary says which.
    pub async fn run(&self, stop: &Stop) -> Result<Summary, CycleError> {
        let lease_until = Utc::now()
            + chrono::Duration::from_std(
                stop.listen_until.saturating_duration_since(Instant::now())
                    + SAFETY_MARGIN
                    + LEASE_OVERHANG,
            )
            .unwrap_or_default();
        let name = self.settings.scale_set_name.as_str();
        let (lease, state) = match self
            .store
            .acquire(name, &self.settings.owner, lease_until, Utc::now())
            .await?
        {
            LeaseOutcome::Acquired(lease, state) => (lease, state),
            LeaseOutcome::Held { owner, expires_at } => {
                tracing::info!(scale_set = name, holder = owner, %expires_at, "Lease held by another invocation.");
                return Ok(Summary {
                    reason: Some(EndReason::LeaseHeld),
                    ..Summary::default()
                });
            }
        };
        match self.listen(&lease, state, stop).await {
            Err(CycleError::Fenced(e)) => Err(CycleError::Fenced(e)),
            other => {
                self.store.release(name, &lease).await?;
                other
            }
        }
    }

    /// Restore, drain and persist, under a lease already taken.
    async fn listen(
        &self,
        lease: &Lease,
        state: ScaleSetState,
        stop: &Stop,
    ) -> Result<Summary, CycleError> {
        let Some(mut run) = self.restore(lease, state, stop).await? else {
            return Ok(Summary {
                reason: Some(EndReason::SessionConflict),
                ..Summary::default()
            });
        };
        tracing::info!(
            scale_set_id = run.scale_set_id,
            session_id = %run.session.id,
            messagePollingInterval = format!("{}s", LONG_POLL.as_secs()),
            "Starting Actions Service message polling"
        );
        let reason = self.drain(&mut run, stop).await?;
        run.summary.reason = Some(reason);
        if reason == EndReason::Shutdown && self.settings.delete_session_on_shutdown {
            self.actions.delete_session(&run.session).await?;
            run.keep_session = false;
            tracing::info!(session_id = %run.session.id, "Deleted message session on shutdown.");
        }
        self.persist(&mut run).await?;
        Ok(run.summary)
    }

    /// Reconciles once, then polls until the window ends, handling each message and
    /// reconciling on empty polls. Every step, the first reconcile included, is retried on a
    /// transient failure within the window.
    async fn drain(&self, run: &mut Run, stop: &Stop) -> Result<EndReason, CycleError> {
        let mut shutdown = stop.shutdown.clone();
        let mut failures: u32 = 0;
        let mut first_pass = true;
        loop {
            if *shutdown.borrow() {
                return Ok(EndReason::Shutdown);
            }
            let remaining = stop.listen_until.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(if stop.deadline_bound {
                    EndReason::Deadline
                } else {
                    EndReason::WindowOver
                });
            }
            let step = if first_pass {
                Step::FirstPass
            } else {
                let poll = self.actions.get_message(
                    &mut run.session,
                    run.state.last_message_id,
                    self.settings.max_runners,
                    remaining.min(POLL_TIMEOUT),
                );
                // The poll is cut at the window's end or on shutdown; an unacknowledged
                // message is simply delivered again.
                tokio::select! {
                    polled = poll => Step::Polled(polled),
                    _ = tokio::time::sleep_until(stop.listen_until) => continue,
                    _ = shutdown_requested(&mut shutdown) => continue,
                }
            };
            if matches!(step, Step::Polled(Ok(_))) {
                run.replacements = 0;
            }
            let work = async {
                match step {
                    Step::FirstPass => self.reconcile_now(run, true).await.map(|()| true),
                    Step::Polled(Ok(Some(envelope))) => match self.handle(run, envelope).await {
                        // An acquisition or acknowledgement refused for the session: the
                        // message was not acknowledged, so the new session gets it again.
                        Err(CycleError::Actions(
                            e @ (ActionsError::SessionInvalid(_)
                            | ActionsError::QueueTokenExpired(_)),
                        )) => self.recover(run, e, stop).await,
                        handled => handled.map(|()| true),
                    },
                    Step::Polled(Ok(None)) => self.reconcile_now(run, false).await.map(|()| true),
                    Step::Polled(Err(e)) => self.recover(run, e, stop).await,
                }
            };
            // A step that hangs (a held response, a slow AWS call) is cut short a little after
            // listening ends, so that persisting and releasing still fit in the safety margin
            // before the Lambda deadline. A cut step is a crash at that point, which the next
            // invocation converges from.
            let outcome = match tokio::time::timeout_at(stop.listen_until + SAFETY_MARGIN / 2, work)
                .await
            {
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => return Ok(EndReason::SessionConflict),
                Ok(Err(e)) => Err(e),
                Err(_) => {
                    tracing::warn!("A step was still running after the window; ending the cycle.");
                    return Ok(if stop.deadline_bound {
                        EndReason::Deadline
                    } else {
                        EndReason::WindowOver
                    });
                }
            };
            match outcome {
                Ok(()) => {
                    failures = 0;
                    first_pass = false;
                }
                Err(e) if e.is_transient() => {
                    failures += 1;
                    let wait = (Duration::from_secs(1) * 2u32.saturating_pow(failures - 1))
                        .min(MAX_BACKOFF);
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "Transient failure; retrying.");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = tokio::time::sleep_until(stop.listen_until) => {}
                        _ = shutdown_requested(&mut shutdown) => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reconciles towards the latest statistics; `first` marks the invocation's first pass.
    async fn reconcile_now(&self, run: &mut Run, first: bool) -> Result<(), CycleError> {
        let (min, max) = (self.settings.min_runners, self.settings.max_runners);
        let assigned = run.statistics.total_assigned_jobs;
        run.launches += 1;
        let pass = reconcile::Pass {
            desired: scaling::desired_runners(min, max, assigned),
            wanted: scaling::desired_runners(min, u32::MAX, assigned),
            first,
            scale_down: !first || run.statistics_fresh,
            seq: run.launches,
        };
        let outcome = self.reconcile(&run.lease, run.scale_set_id, pass).await?;
        run.summary.desired = outcome.desired;
        run.summary.current = outcome.current;
        run.summary.launched += outcome.launched;
        run.summary.terminated += outcome.terminated;
        Ok(())
    }

    /// Writes the state record: cursor, session, statistics and admin connection.
    async fn persist(&self, run: &mut Run) -> Result<(), CycleError> {
        run.state.scale_set_id = Some(run.scale_set_id);
        run.state.statistics = Some(run.statistics);
        run.state.session = run.keep_session.then(|| session::stored(&run.session));
        run.state.admin = self
            .actions
            .cached_admin_connection()
            .await
            .map(|a| session::stored_admin(&a));
        self.store
            .save(&self.settings.scale_set_name, &run.lease, &run.state)
            .await?;
        run.summary.scale_set_id = Some(run.scale_set_id);
        run.summary.session_id = Some(run.session.id.to_string());
        run.summary.last_message_id = run.state.last_message_id;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_timeout_keeps_ten_seconds_over_the_service_hold() {
        assert_eq!(
            LONG_POLL,
            Duration::from_secs(50),
            "the hold docs/protocol.md §9.1 names"
        );
        assert!(
            POLL_TIMEOUT >= LONG_POLL + Duration::from_secs(10),
            "a poll timeout of {POLL_TIMEOUT:?} leaves less than 10 s over the {LONG_POLL:?} hold"
        );
    }
}
