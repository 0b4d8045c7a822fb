//! The [`SessionKeeper`]: the listener's message session and scale set, restored from the
//! state record and kept durable there. A stored session is reused, refreshed at the start of
//! each invocation (for current statistics, and a queue token: none is stored) and on 401; a
//! new one is opened only when none is stored or the stored one is gone (a 404, an expired or
//! invalid session, a queue call refused for it). A 409 that is our own lost create is cleared at once; any other 409
//! (another live session) is waited out with bounded backoff, never crash-looped.

use std::time::Duration;

use reqwest::{StatusCode, Url};
use uuid::Uuid;

use super::summary::{EndReason, Tally};
use super::{CycleError, CycleSettings, Reconciler, Run, SessionStatus, Stop, scale_set};
use crate::actions::auth::AdminConnection;
use crate::actions::error::exception;
use crate::actions::{ActionsClient, ActionsError, Session};
use crate::backoff::Backoff;
use crate::ports::{
    Decisions, Fleet, JitStore, Lease, ScaleSetState, StateStore, StoredAdmin, StoredSession,
};

/// Waits while another session is live, and between replacements that keep failing: 1 s
/// doubling to 30 s.
const SESSION_WAIT: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));

/// Keeps the listener's session: restores, refreshes, replaces and persists it.
#[derive(Debug)]
pub(super) struct SessionKeeper<'a, S, F, J> {
    actions: &'a ActionsClient,
    store: &'a S,
    settings: &'a CycleSettings,
    /// Clears a deleted scale set's instances and ledger before it is created again.
    reconciler: &'a Reconciler<'a, S, F, J>,
}

impl<'a, S: StateStore + Sync, F: Fleet + Sync, J: JitStore + Sync> SessionKeeper<'a, S, F, J> {
    pub(super) fn new(
        actions: &'a ActionsClient,
        store: &'a S,
        settings: &'a CycleSettings,
        reconciler: &'a Reconciler<'a, S, F, J>,
    ) -> Self {
        SessionKeeper {
            actions,
            store,
            settings,
            reconciler,
        }
    }

    /// Restores the run from the state record; `None` when a foreign session blocked us for
    /// the whole window.
    pub(super) async fn restore(
        &self,
        lease: &Lease,
        state: ScaleSetState,
        stop: &Stop,
    ) -> Result<Option<Run>, CycleError> {
        if let Some(admin) = &state.admin
            && let Ok(admin) = AdminConnection::new(&admin.service_url, admin.token.clone())
        {
            self.actions.set_admin_connection(admin).await;
        }
        let mut scale_set_id = match state.scale_set_id {
            Some(id) => {
                scale_set::align_stored(self.actions, self.settings, id).await;
                id
            }
            None => scale_set::find_or_create(self.actions, self.settings).await?,
        };
        let stored = state.session.as_ref().and_then(|s| {
            let url = Url::parse(&s.queue_url).ok()?;
            Some(Session::restored(s.id, scale_set_id, url))
        });
        let (session, statistics, created) = match stored {
            Some(session) => (session, state.statistics.unwrap_or_default(), false),
            None => match self.open(lease, &mut scale_set_id, stop).await? {
                // A session without statistics keeps the stored ones, which may not scale down.
                Some(session) => match session.statistics {
                    Some(statistics) => (session, statistics, true),
                    None => (session, state.statistics.unwrap_or_default(), false),
                },
                None => return Ok(None),
            },
        };
        let mut run = Run {
            lease: lease.clone(),
            state,
            scale_set_id,
            session,
            status: SessionStatus::Live,
            statistics,
            statistics_fresh: created,
            tally: Tally::default(),
            passes: 0,
            replacements: SESSION_WAIT,
            warning: None,
            interruption: None,
        };
        if created {
            // Stored at once, so a crash leaves a session the next invocation reuses.
            self.persist(&mut run).await?;
        } else if self.refresh_statistics(&mut run, stop).await? == SessionStatus::Blocked {
            return Ok(None);
        }
        Ok(Some(run))
    }

    /// Writes the state record: cursor, session (while live) and statistics; and the admin
    /// connection when it changed.
    pub(super) async fn persist(&self, run: &mut Run) -> Result<(), CycleError> {
        self.take_in(run).await;
        self.store
            .save(&self.settings.scale_set_name, &run.lease, &run.state)
            .await?;
        Ok(())
    }

    /// Brings the state record up to date with the run, and writes the admin connection when
    /// it is not the one stored (about once an hour, as its token expires). A session not
    /// stored yet was created in this invocation: now.
    async fn take_in(&self, run: &mut Run) {
        run.state.scale_set_id = Some(run.scale_set_id);
        run.state.statistics = Some(run.statistics);
        let now = self.settings.clock.now();
        let known = run
            .state
            .session
            .as_ref()
            .filter(|s| s.id == run.session.id);
        let (created_at, refreshed_at) =
            known.map_or((Some(now), Some(now)), |s| (s.created_at, s.refreshed_at));
        run.state.session = (run.status == SessionStatus::Live).then(|| StoredSession {
            id: run.session.id,
            queue_url: run.session.queue_url.to_string(),
            created_at,
            refreshed_at,
        });
        let Some(admin) = self.actions.cached_admin_connection().await else {
            return;
        };
        let admin = stored_admin(&admin);
        if run.state.admin.as_ref() == Some(&admin) {
            return;
        }
        let name = &self.settings.scale_set_name;
        match self.store.put_admin(name, &admin).await {
            Ok(()) => run.state.admin = Some(admin),
            // Only the token chain is saved by it: the next invocation makes a new one.
            Err(e) => {
                tracing::warn!(error = %e, "Could not store the admin connection; trying again at the next write.")
            }
        }
    }

    /// Moves the cursor past `message_id`, handled now, once persisted: after a failed persist
    /// the cycle retries, and its next poll must get this message again so that it is
    /// acknowledged.
    pub(super) async fn advance(&self, run: &mut Run, message_id: i64) -> Result<(), CycleError> {
        let previous = (run.state.last_message_id, run.state.last_message_at);
        run.state.last_message_id = message_id;
        run.state.last_message_at = Some(self.settings.clock.now());
        let persisted = self.persist(run).await;
        if persisted.is_err() {
            (run.state.last_message_id, run.state.last_message_at) = previous;
        }
        persisted
    }

    /// Ends the run: the session deleted when the cycle ends on shutdown and the settings ask
    /// for it (the local loop), the decisions written when they changed from those `restored`,
    /// then the state record written and the lease given up, in one write.
    pub(super) async fn close(
        &self,
        run: &mut Run,
        reason: EndReason,
        restored: &Decisions,
    ) -> Result<(), CycleError> {
        if reason == EndReason::Shutdown && self.settings.delete_session_on_shutdown {
            self.actions.delete_session(&run.session).await?;
            run.status = SessionStatus::Deleted;
            tracing::info!(session_id = %run.session.id, "Deleted message session on shutdown.");
        }
        self.take_in(run).await;
        let name = &self.settings.scale_set_name;
        // Unfenced and best effort: the decisions only inform operators, so the last writer's
        // stand. Written before the release, while no other invocation but a preempting one
        // writes its own; an idle invocation repeats the restored ones and writes nothing.
        if run.state.decisions != *restored
            && let Err(e) = self.store.put_decisions(name, &run.state.decisions).await
        {
            tracing::warn!(error = %e, "Could not store the decisions; --status shows older ones.");
        }
        self.store
            .save_and_release(name, &run.lease, &run.state)
            .await?;
        Ok(())
    }

    /// Refreshes a reused session for the service's current statistics. Without them the
    /// first pass could not scale down, and on a quiet queue no later pass comes: the service
    /// holds every empty poll (~50 s) past a window of that length, so idle runners would stay
    /// until the next message. A gone session is replaced; any other failure leaves the
    /// restored statistics (no scale-down) and the first poll to meet it.
    async fn refresh_statistics(
        &self,
        run: &mut Run,
        stop: &Stop,
    ) -> Result<SessionStatus, CycleError> {
        match self.actions.refresh_session(&mut run.session).await {
            // The new queue token serves this invocation only (it is never stored). A refresh
            // without statistics is normal: the statistics stay the last known ones until a
            // message brings fresh ones.
            Ok(()) => {
                run.take_statistics(run.session.statistics);
                let now = self.settings.clock.now();
                if let Some(stored) = run
                    .state
                    .session
                    .as_mut()
                    .filter(|s| s.id == run.session.id)
                {
                    stored.refreshed_at = Some(now);
                }
                Ok(SessionStatus::Live)
            }
            Err(e) => match self.replace(run, e, stop).await {
                Ok(status) => {
                    run.statistics_fresh =
                        status == SessionStatus::Live && run.session.statistics.is_some();
                    Ok(status)
                }
                Err(CycleError::Actions(e)) => {
                    tracing::info!(error = %e, "Could not refresh the session; keeping the stored statistics.");
                    Ok(SessionStatus::Live)
                }
                Err(e) => Err(e),
            },
        }
    }

    /// Recovers from a failed queue call (refresh, poll, acquisition, acknowledgement): a gone
    /// session is replaced (the old one deleted, best effort), a deleted scale set is created
    /// again; anything else goes back to the caller. A replacement that follows another with
    /// no successful poll in between waits first, longer each time: a service refusing every
    /// new session is not hammered.
    pub(super) async fn replace(
        &self,
        run: &mut Run,
        error: ActionsError,
        stop: &Stop,
    ) -> Result<SessionStatus, CycleError> {
        let scale_set_gone = error.is_exception(exception::SCALE_SET_NOT_FOUND);
        let session_gone =
            error.is_session_gone() || matches!(error, ActionsError::QueueTokenExpired(_));
        if !scale_set_gone && !session_gone {
            return Err(error.into());
        }
        tracing::warn!(session_id = %run.session.id, error = %error, "Message session is gone; creating a new one.");
        if run.replacements.failures() > 0 {
            let wait = run.replacements.wait(run.replacements.failures() - 1);
            tracing::info!(
                replacements = run.replacements.failures(),
                wait_ms = wait.as_millis() as u64,
                "The last new session failed too; waiting before the next."
            );
            stop.pause(wait).await;
        }
        run.replacements.fail();
        if scale_set_gone {
            run.scale_set_id = self.replace_scale_set(&run.lease, run.scale_set_id).await?;
        } else if let Err(e) = self.actions.delete_session(&run.session).await {
            // The service may still hold what it reported as missing; a failure here only
            // means the create below may meet a 409 and wait.
            tracing::info!(error = %e, "Could not delete the old session.");
        }
        match self.open(&run.lease, &mut run.scale_set_id, stop).await? {
            Some(session) => {
                if let Some(statistics) = session.statistics {
                    run.statistics = statistics;
                }
                run.session = session;
                run.status = SessionStatus::Live;
                self.persist(run).await?;
                Ok(SessionStatus::Live)
            }
            None => {
                run.status = SessionStatus::Blocked;
                Ok(SessionStatus::Blocked)
            }
        }
    }

    /// Opens a session, waiting out 409s until `stop`; a deleted scale set is created again.
    /// Each create proposes a fresh session id, so that a 409 met by our own session (a create
    /// whose answer was lost, then retried) can be cleared at once instead of waited out.
    /// `None` when another live session blocked us until `stop`.
    async fn open(
        &self,
        lease: &Lease,
        scale_set_id: &mut i64,
        stop: &Stop,
    ) -> Result<Option<Session>, CycleError> {
        let mut conflicts = SESSION_WAIT;
        let mut propose = true;
        let mut cleared_once = false;
        loop {
            let proposed = propose.then(Uuid::new_v4);
            match self
                .actions
                .create_session_with_id(*scale_set_id, &self.settings.owner, proposed)
                .await
            {
                Ok(session) => {
                    tracing::info!(scale_set_id = *scale_set_id, session_id = %session.id, "Created message session.");
                    crate::metrics::count("SessionsCreated", 1, &[]);
                    return Ok(Some(session));
                }
                Err(e) if e.is_exception(exception::SCALE_SET_NOT_FOUND) => {
                    *scale_set_id = self.replace_scale_set(lease, *scale_set_id).await?;
                }
                Err(e) if e.has_status(StatusCode::CONFLICT) => {
                    let cleared = match proposed {
                        Some(id) => self.clear_own_session(*scale_set_id, id, &e).await,
                        None => false,
                    };
                    // Once only: a service that kept answering 409 to sessions it created
                    // would otherwise be hammered.
                    if cleared && !cleared_once {
                        cleared_once = true;
                        continue;
                    }
                    if stop.left().is_zero() || stop.shutting_down() {
                        tracing::warn!(scale_set_id = *scale_set_id, error = %e, "Another session stayed live for the whole window; giving up until the next invocation.");
                        return Ok(None);
                    }
                    let wait = conflicts.fail();
                    tracing::info!(
                        scale_set_id = *scale_set_id,
                        wait_ms = wait.as_millis() as u64,
                        "Another session is live; waiting it out."
                    );
                    stop.pause(wait).await;
                }
                // No upstream client proposes an id (scaleset sends a nil one, docs/protocol.md
                // §8.1): should the service refuse one, create as they do.
                Err(e) if proposed.is_some() && e.has_status(StatusCode::BAD_REQUEST) => {
                    tracing::warn!(error = %e, "Session create refused with a proposed session id; creating again without one.");
                    propose = false;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// After a 409, deletes the session we proposed as `proposed`: a create whose answer was
    /// lost and then retried meets its own session, which no other call can name
    /// (docs/protocol.md §8.4). Skipped when the conflict names another owner; `true` when
    /// the session was ours and is deleted. Whether the service keeps a proposed id is not
    /// documented: when it does not, the delete finds nothing and the conflict is waited out.
    async fn clear_own_session(
        &self,
        scale_set_id: i64,
        proposed: Uuid,
        conflict: &ActionsError,
    ) -> bool {
        let owner = conflict.api().and_then(|e| e.conflict_owner());
        let ours = match owner {
            Some(owner) if owner != self.settings.owner => return false,
            Some(_) => true,
            None => false,
        };
        match self.actions.delete_session_id(scale_set_id, proposed).await {
            Ok(()) => {
                tracing::warn!(scale_set_id, session_id = %proposed, "Deleted our own session, whose create answer was lost; creating it again.");
                true
            }
            Err(e) if ours => {
                tracing::warn!(scale_set_id, error = %e, "The live session is our own, but not under the id we proposed; waiting it out.");
                false
            }
            Err(e) => {
                tracing::debug!(scale_set_id, error = %e, "The live session is not the one we proposed.");
                false
            }
        }
    }

    /// The service deleted the scale set (e.g. after 7 dormant days): its runners went with
    /// it, so its instances, JIT material and ledger go too, and the set is created again.
    async fn replace_scale_set(&self, lease: &Lease, old_id: i64) -> Result<i64, CycleError> {
        tracing::warn!(
            scale_set_id = old_id,
            "Scale set was deleted by the service; creating it again."
        );
        self.reconciler.forget_scale_set(lease, old_id).await?;
        scale_set::find_or_create(self.actions, self.settings).await
    }
}

/// An admin connection as the state store keeps it.
fn stored_admin(admin: &AdminConnection) -> StoredAdmin {
    StoredAdmin {
        service_url: admin.service_url.to_string(),
        token: admin.token().clone(),
    }
}
