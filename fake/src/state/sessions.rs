//! Message sessions (docs/protocol.md §8): one live session per scale set, idle TTL,
//! refresh keeps the id and issues a new message queue token.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Fail, ScaleSet, Session, State, Statistics};

/// A session as the protocol returns it (create and refresh, docs/protocol.md §8.1).
#[derive(Debug, Clone)]
pub struct SessionGrant {
    /// The session.
    pub session: Session,
    /// Its scale set.
    pub scale_set: ScaleSet,
    /// Message queue URL.
    pub message_queue_url: String,
    /// Message queue token.
    pub message_queue_access_token: String,
    /// Statistics now.
    pub statistics: Statistics,
}

impl State {
    /// Creates a session (docs/protocol.md §8.1, §8.4): 404 for an unknown scale set, 409
    /// while another session is live.
    pub fn create_session(
        &mut self,
        tenant: u64,
        scale_set_id: u64,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<SessionGrant, Fail> {
        self.create_session_with_id(tenant, scale_set_id, owner, None, now)
    }

    /// [`State::create_session`] keeping the client's `proposed` id, when given (see
    /// `sessions.rs`); 400 when that id names another session.
    pub fn create_session_with_id(
        &mut self,
        tenant: u64,
        scale_set_id: u64,
        owner: &str,
        proposed: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<SessionGrant, Fail> {
        self.scale_set(tenant, scale_set_id)?;
        let ttl = self.cfg.options.session_idle_ttl;
        self.open_session(scale_set_id, owner, proposed, ttl, now)
    }

    /// The owner of the scale set's live session.
    pub fn live_session_owner(&self, scale_set_id: u64, now: DateTime<Utc>) -> Option<String> {
        self.sessions
            .values()
            .find(|s| s.scale_set_id == scale_set_id && s.is_live(now))
            .map(|s| s.owner_name.clone())
    }

    /// A session left behind by "someone else" (a crashed listener): it blocks creates
    /// with 409 until deleted or until `ttl` (default: the idle TTL) passes unused.
    pub fn create_stale_session(
        &mut self,
        scale_set_id: u64,
        owner: &str,
        ttl: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Result<SessionGrant, Fail> {
        if !self.scale_sets.contains_key(&scale_set_id) {
            return Err(Fail::ScaleSetNotFound(scale_set_id));
        }
        let ttl = ttl.unwrap_or(self.cfg.options.session_idle_ttl);
        self.open_session(scale_set_id, owner, None, ttl, now)
    }

    fn open_session(
        &mut self,
        scale_set_id: u64,
        owner: &str,
        proposed: Option<Uuid>,
        idle_ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<SessionGrant, Fail> {
        self.sessions.retain(|_, s| s.is_live(now));
        if self
            .sessions
            .values()
            .any(|s| s.scale_set_id == scale_set_id)
        {
            let name = self
                .scale_sets
                .get(&scale_set_id)
                .map(|s| s.name.clone())
                .unwrap_or_default();
            return Err(Fail::SessionConflict(name));
        }
        let session_id = proposed.unwrap_or_else(Uuid::new_v4);
        if self.sessions.contains_key(&session_id) {
            return Err(Fail::BadRequest(format!(
                "The session identifier {session_id} is taken."
            )));
        }
        let tenant = self.scale_sets.get(&scale_set_id).map_or(0, |s| s.tenant);
        let token = self.mint_mq_token(tenant, scale_set_id, session_id, now)?;
        let session = Session {
            session_id,
            scale_set_id,
            owner_name: owner.to_owned(),
            created_at: now,
            last_active_at: now,
            idle_ttl,
            mq_token: token.token,
        };
        self.sessions.insert(session_id, session);
        self.grant(session_id)
    }

    /// PATCH refresh (docs/protocol.md §8.2): same id, new token; unknown/expired ⇒ 404
    /// `RunnerAdminException`; scale set gone ⇒ 404 `RunnerScaleSetNotFoundException`.
    pub fn refresh_session(
        &mut self,
        tenant: u64,
        scale_set_id: u64,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<SessionGrant, Fail> {
        self.scale_set(tenant, scale_set_id)?;
        self.live_session(scale_set_id, session_id, now)
            .ok_or(Fail::SessionNotFound(session_id))?;
        let token = self.mint_mq_token(tenant, scale_set_id, session_id, now)?;
        if let Some(session) = self.sessions.get_mut(&session_id) {
            session.mq_token = token.token;
            session.last_active_at = now;
        }
        self.grant(session_id)
    }

    /// DELETE (docs/protocol.md §8.3): 204, or 400 `RunnerScaleSetSessionExpiredException`
    /// for an unknown/expired session.
    pub fn delete_session(
        &mut self,
        tenant: u64,
        scale_set_id: u64,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), Fail> {
        self.scale_set(tenant, scale_set_id)?;
        self.live_session(scale_set_id, session_id, now)
            .ok_or(Fail::SessionExpired(session_id))?;
        self.sessions.remove(&session_id);
        Ok(())
    }

    /// Marks use of a session (polls, acks and acquires keep it alive).
    pub fn touch_session(&mut self, session_id: Uuid, now: DateTime<Utc>) {
        if let Some(session) = self
            .sessions
            .get_mut(&session_id)
            .filter(|s| s.is_live(now))
        {
            session.last_active_at = now;
        }
    }

    /// The session's message queue URL: an opaque path with an extra query
    /// parameter, so clients prove they use it verbatim (docs/protocol.md §15).
    pub fn message_queue_url(&self, session: &Session) -> String {
        let tenant = self
            .scale_sets
            .get(&session.scale_set_id)
            .map_or(0, |s| s.tenant);
        format!(
            "{}/queue/{}/{}/messages?tenant={tenant}",
            self.cfg.base_url, session.scale_set_id, session.session_id
        )
    }

    fn live_session(
        &self,
        scale_set_id: u64,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Option<&Session> {
        self.sessions
            .get(&session_id)
            .filter(|s| s.scale_set_id == scale_set_id && s.is_live(now))
    }

    fn grant(&self, session_id: Uuid) -> Result<SessionGrant, Fail> {
        let session = self
            .sessions
            .get(&session_id)
            .cloned()
            .ok_or(Fail::SessionNotFound(session_id))?;
        let scale_set = self
            .scale_sets
            .get(&session.scale_set_id)
            .cloned()
            .ok_or(Fail::ScaleSetNotFound(session.scale_set_id))?;
        Ok(SessionGrant {
            message_queue_url: self.message_queue_url(&session),
            message_queue_access_token: session.mq_token.clone(),
            statistics: self.statistics(scale_set.id),
            scale_set,
            session,
        })
    }
}
