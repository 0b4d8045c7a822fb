//! Finding the scale set and the message session. A stored session is reused, refreshed at
//! the start of each invocation (for current statistics) and on 401; a new one is created only
//! when none is stored or the stored one is gone (a 404, an expired or invalid session, a queue
//! call refused for it). A 409 that is our own lost create is cleared at once; any other 409
//! (another live session) is waited out with bounded backoff, never crash-looped.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use tokio::time::Instant;
use uuid::Uuid;

use super::{CycleError, Run, Services, Stop};
use crate::actions::auth::AdminConnection;
use crate::actions::error::exception;
use crate::actions::wire::RunnerScaleSet;
use crate::actions::{ActionsError, Session};
use crate::ports::{
    Fleet, InstanceState, JitStore, Lease, ScaleSetState, StateStore, StoredAdmin, StoredSession,
};

/// Longest wait between two session creations while another session is live.
const MAX_CONFLICT_WAIT: Duration = Duration::from_secs(30);

/// A session as the state store keeps it.
pub(super) fn stored(session: &Session) -> StoredSession {
    StoredSession {
        id: session.id,
        queue_url: session.queue_url.to_string(),
        queue_token: session.queue_token().clone(),
    }
}

/// An admin connection as the state store keeps it.
pub(super) fn stored_admin(admin: &AdminConnection) -> StoredAdmin {
    StoredAdmin {
        service_url: admin.service_url.to_string(),
        token: admin.token().clone(),
    }
}

impl<S: StateStore + Sync, F: Fleet + Sync, J: JitStore + Sync> Services<'_, S, F, J> {
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
        let scale_set_id = match state.scale_set_id {
            Some(id) => {
                self.align_stored_scale_set(id).await;
                id
            }
            None => self.find_or_create_scale_set().await?,
        };
        let stored = state.session.as_ref().and_then(|s| {
            let url = Url::parse(&s.queue_url).ok()?;
            Some(Session::new(s.id, scale_set_id, url, s.queue_token.clone()))
        });
        let mut scale_set_id = scale_set_id;
        let (session, statistics, created) = match stored {
            Some(session) => (session, state.statistics.unwrap_or_default(), false),
            None => match self.create_session(lease, &mut scale_set_id, stop).await? {
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
            keep_session: true,
            statistics,
            statistics_fresh: created,
            summary: Default::default(),
            launches: 0,
            replacements: 0,
        };
        if created {
            // Stored at once, so a crash leaves a session the next invocation reuses.
            self.persist(&mut run).await?;
        } else if !self.refresh_statistics(&mut run, stop).await? {
            return Ok(None);
        }
        run.summary.session_id = Some(run.session.id.to_string());
        Ok(Some(run))
    }

    /// Refreshes a reused session for the service's current statistics. Without them the
    /// first pass could not scale down, and on a quiet queue no later pass comes: the service
    /// holds every empty poll (~50 s) past a window of that length, so idle runners would stay
    /// until the next message. A gone session is replaced; any other failure leaves the
    /// restored statistics (no scale-down) and the first poll to meet it. `Ok(false)` when
    /// another live session blocked the replacement until `stop`.
    async fn refresh_statistics(&self, run: &mut Run, stop: &Stop) -> Result<bool, CycleError> {
        match self.actions.refresh_session(&mut run.session).await {
            // The new queue token is persisted with the rest at the end of the invocation.
            // A refresh without statistics is normal: the new token is kept, and the
            // statistics stay the last known ones until a message brings fresh ones.
            Ok(()) => {
                if let Some(statistics) = run.session.statistics {
                    run.statistics = statistics;
                    run.statistics_fresh = true;
                }
                Ok(true)
            }
            Err(e) => match self.recover(run, e, stop).await {
                Ok(replaced) => {
                    run.statistics_fresh = replaced && run.session.statistics.is_some();
                    Ok(replaced)
                }
                Err(CycleError::Actions(e)) => {
                    tracing::info!(error = %e, "Could not refresh the session; keeping the stored statistics.");
                    Ok(true)
                }
                Err(e) => Err(e),
            },
        }
    }

    /// Recovers from a failed queue call (poll, acquisition, acknowledgement): a gone session
    /// is replaced (the old one deleted, best effort), a deleted scale set is created again;
    /// anything else goes back to the caller. `Ok(false)` when another live session blocked us
    /// until `stop`. A replacement that follows another with no successful poll in between
    /// waits first, longer each time: a service refusing every new session is not hammered.
    pub(super) async fn recover(
        &self,
        run: &mut Run,
        error: ActionsError,
        stop: &Stop,
    ) -> Result<bool, CycleError> {
        let scale_set_gone = error.is_exception(exception::SCALE_SET_NOT_FOUND);
        let session_gone =
            error.is_session_gone() || matches!(error, ActionsError::QueueTokenExpired(_));
        if !scale_set_gone && !session_gone {
            return Err(error.into());
        }
        tracing::warn!(session_id = %run.session.id, error = %error, "Message session is gone; creating a new one.");
        if run.replacements > 0 {
            let wait = (Duration::from_secs(1) * 2u32.saturating_pow(run.replacements - 1))
                .min(MAX_CONFLICT_WAIT);
            let left = stop.listen_until.saturating_duration_since(Instant::now());
            tracing::info!(
                replacements = run.replacements,
                wait_ms = wait.as_millis() as u64,
                "The last new session failed too; waiting before the next."
            );
            tokio::time::sleep(wait.min(left)).await;
        }
        run.replacements += 1;
        if scale_set_gone {
            run.scale_set_id = self.replace_scale_set(&run.lease, run.scale_set_id).await?;
        } else if let Err(e) = self.actions.delete_session(&run.session).await {
            // The service may still hold what it reported as missing; a failure here only
            // means the create below may meet a 409 and wait.
            tracing::info!(error = %e, "Could not delete the old session.");
        }
        match self
            .create_session(&run.lease, &mut run.scale_set_id, stop)
            .await?
        {
            Some(session) => {
                if let Some(statistics) = session.statistics {
                    run.statistics = statistics;
                }
                run.session = session;
                run.keep_session = true;
                self.persist(run).await?;
                Ok(true)
            }
            None => {
                run.keep_session = false;
                Ok(false)
            }
        }
    }

    /// Creates a session, waiting out 409s until `stop`; a deleted scale set is created again.
    /// Each create proposes a fresh session id, so that a 409 met by our own session (a create
    /// whose answer was lost, then retried) can be cleared at once instead of waited out.
    async fn create_session(
        &self,
        lease: &Lease,
        scale_set_id: &mut i64,
        stop: &Stop,
    ) -> Result<Option<Session>, CycleError> {
        let mut wait = Duration::from_secs(1);
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
                    let left = stop.listen_until.saturating_duration_since(Instant::now());
                    if left.is_zero() || *stop.shutdown.borrow() {
                        tracing::warn!(scale_set_id = *scale_set_id, error = %e, "Another session stayed live for the whole window; giving up until the next invocation.");
                        return Ok(None);
                    }
                    tracing::info!(
                        scale_set_id = *scale_set_id,
                        wait_ms = wait.as_millis() as u64,
                        "Another session is live; waiting it out."
                    );
                    tokio::time::sleep(wait.min(left)).await;
                    wait = (wait * 2).min(MAX_CONFLICT_WAIT);
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
        let name = self.settings.scale_set_name.as_str();
        let instances: Vec<String> = self
            .fleet
            .instances(old_id)
            .await?
            .into_iter()
            .filter(|i| i.state != InstanceState::Terminated)
            .map(|i| i.id)
            .collect();
        self.fleet.terminate(&instances).await?;
        for record in self.store.runners(name).await? {
            self.jit.delete(&record.instance_id).await?;
            self.store.delete_runner(name, lease, &record.name).await?;
        }
        self.find_or_create_scale_set().await
    }

    /// The scale set by name in its runner group, created when missing (docs/design.md §3).
    async fn find_or_create_scale_set(&self) -> Result<i64, CycleError> {
        let settings = self.settings;
        let group = self.actions.runner_group_id(&settings.runner_group).await?;
        let set = match self
            .actions
            .scale_set_by_name(group, &settings.scale_set_name)
            .await?
        {
            Some(set) => {
                self.align_scale_set(&set, group).await?;
                set
            }
            None => {
                let set = self
                    .actions
                    .create_scale_set(group, &settings.scale_set_name, &settings.labels)
                    .await?;
                tracing::info!(
                    scale_set_id = set.id,
                    name = settings.scale_set_name,
                    "Created runner scale set."
                );
                set
            }
        };
        match settings.scale_set_id {
            Some(expected) if expected != set.id => Err(CycleError::ScaleSetIdMismatch {
                name: settings.scale_set_name.clone(),
                expected,
                actual: set.id,
            }),
            _ => Ok(set.id),
        }
    }

    /// Brings the stored scale set's labels and runner group in line with the configuration,
    /// which a redeploy may have changed. A failure here only costs the alignment: a scale set
    /// that is gone is replaced when its session fails, as before.
    async fn align_stored_scale_set(&self, id: i64) {
        let checked = async {
            let group = self
                .actions
                .runner_group_id(&self.settings.runner_group)
                .await?;
            let set = self.actions.scale_set(id).await?;
            self.align_scale_set(&set, group).await
        };
        if let Err(e) = checked.await {
            tracing::warn!(scale_set_id = id, error = %e, "Could not check the scale set against the configuration.");
        }
    }

    /// Updates `set` when its labels or runner group differ from the configuration.
    async fn align_scale_set(&self, set: &RunnerScaleSet, group: i64) -> Result<(), CycleError> {
        let settings = self.settings;
        let Some(change) = scale_set_drift(set, group, &settings.labels) else {
            return Ok(());
        };
        self.actions
            .update_scale_set(set.id, group, &settings.scale_set_name, &settings.labels)
            .await?;
        tracing::info!(
            scale_set_id = set.id,
            change,
            "Updated the scale set to the configuration."
        );
        Ok(())
    }
}

/// How `set` differs from the configured runner group and labels, for the log; `None` when it
/// does not. Labels compare as sets, ignoring case, as the service matches `runs-on`.
fn scale_set_drift(set: &RunnerScaleSet, group: i64, labels: &[String]) -> Option<String> {
    let normalized = |names: &mut dyn Iterator<Item = &str>| -> BTreeSet<String> {
        names.map(str::to_lowercase).collect()
    };
    let have = normalized(&mut set.labels.iter().map(|l| l.name.as_str()));
    let want = normalized(&mut labels.iter().map(String::as_str));
    let mut changes = Vec::new();
    if set.runner_group_id != group {
        changes.push(format!("runner group {} -> {group}", set.runner_group_id));
    }
    if have != want {
        let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
        changes.push(format!("labels {} -> {}", list(&have), list(&want)));
    }
    (!changes.is_empty()).then(|| changes.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::wire::{Label, RunnerSetting};

    fn set(group: i64, labels: &[&str]) -> RunnerScaleSet {
        RunnerScaleSet {
            id: 7,
            name: "linux".into(),
            runner_group_id: group,
            runner_group_name: String::new(),
            labels: labels.iter().map(|l| Label::system(l)).collect(),
            runner_setting: RunnerSetting::default(),
            statistics: None,
        }
    }

    #[test]
    fn drift_is_what_the_configuration_changed() {
        let want: Vec<String> = ["linux", "x64"].map(String::from).to_vec();
        assert_eq!(scale_set_drift(&set(1, &["linux", "x64"]), 1, &want), None);
        assert_eq!(scale_set_drift(&set(1, &["X64", "Linux"]), 1, &want), None);
        assert_eq!(
            scale_set_drift(&set(1, &["linux", "gpu"]), 1, &want).as_deref(),
            Some("labels gpu,linux -> linux,x64")
        );
        assert_eq!(
            scale_set_drift(&set(3, &["linux", "x64"]), 1, &want).as_deref(),
            Some("runner group 3 -> 1")
        );
        assert_eq!(
            scale_set_drift(&set(3, &["linux"]), 1, &want).as_deref(),
            Some("runner group 3 -> 1; labels linux -> linux,x64")
        );
    }
}
