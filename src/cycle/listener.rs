//! The [`Listener`]: one invocation's protocol loop, top to bottom. It takes the lease,
//! restores the session ([`super::keeper`]), reconciles once, then polls until listening ends.
//! Each message goes in protocol order: acquire `JobAvailable` jobs, record busy and finished
//! runners, take the statistics, reconcile, persist the cursor, and only then acknowledge. A
//! crash anywhere before the acknowledgement redelivers the message, and every step is
//! idempotent, so the next cycle converges.

use std::time::Duration;

use super::keeper::SessionKeeper;
use super::lease;
use super::reruns::Reruns;
use super::summary::{EndReason, Summary};
use super::{
    CycleError, CycleSettings, Outcome, Ports, Reconciler, Run, SAFETY_MARGIN, SessionStatus, Stop,
    shutdown_requested,
};
use crate::actions::messages;
use crate::actions::session::LONG_POLL;
use crate::actions::wire::Envelope;
use crate::actions::{ActionsClient, ActionsError};
use crate::backoff::Backoff;
use crate::event::SpotInterruption;
use crate::metrics;
use crate::ports::{Fleet, JitStore, Lease, ScaleSetState, StateStore};

/// Waits between attempts after a transient failure: 1 s doubling to 8 s.
const RETRY: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));

/// One step of the drain loop.
enum Step {
    /// The invocation's first reconcile, before any poll.
    FirstPass,
    /// What a poll brought: a message, an empty poll, or an error.
    Polled(Result<Option<Envelope>, ActionsError>),
}

/// The protocol loop of one scale set: the lease, the session, the drain loop and each
/// message. The fleet is the [`Reconciler`]'s; the listener uses the state store only for the
/// lease and the state record.
#[derive(Debug)]
pub struct Listener<'a, S, F, J> {
    actions: &'a ActionsClient,
    store: &'a S,
    settings: &'a CycleSettings,
    reconciler: Reconciler<'a, S, F, J>,
}

impl<'a, S: StateStore + Sync, F: Fleet + Sync, J: JitStore + Sync> Listener<'a, S, F, J> {
    /// A listener over `ports`, with its reconciler.
    pub fn new(
        actions: &'a ActionsClient,
        ports: Ports<'a, S, F, J>,
        settings: &'a CycleSettings,
    ) -> Self {
        Listener {
            actions,
            store: ports.store,
            settings,
            reconciler: Reconciler::new(actions, ports, settings),
        }
    }

    /// Runs one cycle. `Ok` covers every orderly end, "lease held" and "session conflict"
    /// included; the summary says which.
    pub async fn run(&self, stop: &Stop) -> Result<Summary, CycleError> {
        let Some((lease, state)) = lease::take(self.store, self.settings, stop).await? else {
            return Ok(Summary::ended(EndReason::LeaseHeld));
        };
        self.hold(&lease, state, stop, None).await
    }

    /// Runs one cycle for a spot interruption warning about one of the scale set's instances:
    /// preempts the lease (two minutes do not wait for the listener's window), deals with the
    /// runner, and listens on as any cycle does. The preempted listener stops at its next
    /// fenced write.
    pub async fn run_interrupted(
        &self,
        stop: &Stop,
        warning: &SpotInterruption,
    ) -> Result<Summary, CycleError> {
        let (lease, state) = lease::preempt(self.store, self.settings, stop).await?;
        self.hold(&lease, state, stop, Some(warning)).await
    }

    /// Listens under a lease taken; the lease is given up with the last write, or after a
    /// failure (not when another invocation took it).
    async fn hold(
        &self,
        lease: &Lease,
        state: ScaleSetState,
        stop: &Stop,
        warning: Option<&SpotInterruption>,
    ) -> Result<Summary, CycleError> {
        let name = self.settings.scale_set_name.as_str();
        match self.listen(lease, state, stop, warning).await {
            Err(e @ CycleError::Fenced(_)) => Err(e),
            Err(e) => {
                self.store.release(name, lease).await?;
                Err(e)
            }
            Ok(summary) => Ok(summary),
        }
    }

    /// Restore, drain, persist and release, under a lease already taken.
    async fn listen(
        &self,
        lease: &Lease,
        state: ScaleSetState,
        stop: &Stop,
        warning: Option<&SpotInterruption>,
    ) -> Result<Summary, CycleError> {
        let keeper = self.keeper();
        let Some(mut run) = keeper.restore(lease, state, stop).await? else {
            let name = self.settings.scale_set_name.as_str();
            self.store.release(name, lease).await?;
            return Ok(Summary::ended(EndReason::SessionConflict));
        };
        run.warning = warning.cloned();
        tracing::info!(
            scale_set_id = run.scale_set_id,
            session_id = %run.session.id,
            messagePollingInterval = format!("{}s", LONG_POLL.as_secs()),
            "Starting Actions Service message polling"
        );
        let restored = run.state.decisions.clone();
        let reason = self.drain(&mut run, stop).await?;
        tracing::info!(?reason, "Stopped listening.");
        keeper.close(&mut run, reason, &restored).await?;
        Ok(run.summary(reason))
    }

    /// Reconciles once, then polls until listening ends, handling each message and
    /// reconciling on empty polls. Every step, the first reconcile included, is retried on a
    /// transient failure within the window.
    async fn drain(&self, run: &mut Run, stop: &Stop) -> Result<EndReason, CycleError> {
        let mut shutdown = stop.shutdown.clone();
        let mut retry = RETRY;
        let mut first_pass = true;
        loop {
            if stop.shutting_down() {
                return Ok(EndReason::Shutdown);
            }
            let left = stop.left();
            if left.is_zero() {
                return Ok(stop.time_up());
            }
            let step = if first_pass {
                Step::FirstPass
            } else {
                let (max, cursor) = (self.settings.max_runners, run.state.last_message_id);
                let poll = self
                    .actions
                    .get_message(&mut run.session, cursor, max, left);
                // The poll is cut at the window's end or on shutdown; an unacknowledged
                // message is simply delivered again.
                tokio::select! {
                    polled = poll => Step::Polled(polled),
                    _ = tokio::time::sleep_until(stop.listen_until) => continue,
                    _ = shutdown_requested(&mut shutdown) => continue,
                }
            };
            // A step that hangs (a held response, a slow AWS call) is cut short a little after
            // listening ends, so that persisting and releasing still fit in the safety margin
            // before the Lambda deadline. A cut step is a crash at that point, which the next
            // invocation converges from.
            let cut_at = stop.listen_until + SAFETY_MARGIN / 2;
            let Ok(outcome) = tokio::time::timeout_at(cut_at, self.take(run, step, stop)).await
            else {
                tracing::warn!("A step was still running after the window; ending the cycle.");
                return Ok(stop.time_up());
            };
            match outcome {
                Ok(SessionStatus::Live) => {
                    retry.reset();
                    first_pass = false;
                }
                Ok(_) => return Ok(EndReason::SessionConflict),
                Err(e) if e.is_transient() => {
                    let wait = retry.fail();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "Transient failure; retrying.");
                    stop.pause(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Carries one step out; the session's status after it. A poll that failed for the
    /// session gets a new one, and so does a message whose acquisition or acknowledgement was
    /// refused for it: that message was not acknowledged, so the new session gets it again.
    async fn take(
        &self,
        run: &mut Run,
        step: Step,
        stop: &Stop,
    ) -> Result<SessionStatus, CycleError> {
        let handled = match step {
            Step::FirstPass => self.first_pass(run).await,
            Step::Polled(Err(e)) => return self.keeper().replace(run, e, stop).await,
            Step::Polled(Ok(polled)) => {
                run.replacements.reset();
                match polled {
                    Some(envelope) => self.handle(run, envelope).await,
                    None => self.quiet(run).await,
                }
            }
        };
        match handled {
            Err(CycleError::Actions(e)) if e.needs_new_session() => {
                self.keeper().replace(run, e, stop).await
            }
            handled => handled.map(|()| SessionStatus::Live),
        }
    }

    /// Handles one message end to end.
    async fn handle(&self, run: &mut Run, envelope: Envelope) -> Result<(), CycleError> {
        match messages::parse(&envelope) {
            Err(malformed) => {
                // Skipped, not retried: a message that cannot be read never becomes readable.
                // Its jobs, if any, could not be read either.
                tracing::warn!(
                    message_id = malformed.id,
                    reason = malformed.reason,
                    "Skipping malformed message."
                );
            }
            Ok(message) => {
                let ids = messages::acquirable_ids(&message.events);
                if !ids.is_empty() {
                    let acquired = self.actions.acquire_jobs(&mut run.session, &ids).await?;
                    run.tally.jobs_acquired += u32::try_from(acquired.len()).unwrap_or(u32::MAX);
                    metrics::count("JobsAcquired", acquired.len() as u64, &[]);
                    tracing::info!(
                        requested = ids.len(),
                        acquired = acquired.len(),
                        "Acquired jobs."
                    );
                }
                self.reconciler
                    .record_job_events(&run.lease, &message.events)
                    .await?;
                for reason in &message.skipped {
                    tracing::warn!(
                        message_id = message.id,
                        reason,
                        "Skipped part of a message."
                    );
                }
                run.take_statistics(message.statistics);
                self.reconcile(run, false, false).await?;
            }
        }
        self.keeper().advance(run, envelope.message_id).await?;
        self.actions
            .delete_message(&mut run.session, envelope.message_id)
            .await?;
        run.tally.messages_processed += 1;
        metrics::count("Messages", 1, &[]);
        Ok(())
    }

    /// The spot interruption warning, if any, then the first reconcile (which launches the
    /// interrupted runner's replacement if one is still needed). A retried first pass does not
    /// deal with the warning twice.
    async fn first_pass(&self, run: &mut Run) -> Result<(), CycleError> {
        if let Some(warning) = &run.warning {
            let mut outcome = Outcome::default();
            let interruption = self
                .reconciler
                .interrupted(&run.lease, run.scale_set_id, warning, &mut outcome)
                .await?;
            run.tally.terminated += outcome.terminated;
            run.interruption = interruption;
            run.warning = None;
        }
        self.reconcile(run, true, true).await?;
        self.reruns().pass(&run.lease).await
    }

    /// An empty poll: a reconcile (an instance may have gone), and the pending reruns.
    async fn quiet(&self, run: &mut Run) -> Result<(), CycleError> {
        self.reconcile(run, false, true).await?;
        self.reruns().pass(&run.lease).await
    }

    /// Reconciles towards the latest statistics; `first` marks the invocation's first pass,
    /// `observe` one that lists EC2 first (the first pass and quiet polls, not messages).
    async fn reconcile(&self, run: &mut Run, first: bool, observe: bool) -> Result<(), CycleError> {
        let pass = run.next_pass(self.settings, first, observe);
        let outcome = self.reconciler.reconcile(&pass).await?;
        run.tally.add(&outcome);
        let at = self.settings.clock.now();
        run.state.decisions.record(outcome.decision(at));
        Ok(())
    }

    /// The pending reruns of interrupted jobs' runs.
    fn reruns(&self) -> Reruns<'_, S> {
        Reruns::new(self.actions, self.store, self.settings)
    }

    /// The keeper of this listener's session.
    fn keeper(&self) -> SessionKeeper<'_, S, F, J> {
        SessionKeeper::new(self.actions, self.store, self.settings, &self.reconciler)
    }
}
