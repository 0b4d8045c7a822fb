//! The token chain (docs/protocol.md §1): credential ⇒ registration token ⇒ admin token;
//! session ⇒ message queue token.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Fail, State, after};
use crate::tokens::{Issued, Scope, TokenError, TokenKind};

/// Which token kinds to expire (control API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExpireTokens {
    /// Admin tokens.
    pub admin: bool,
    /// Message queue tokens.
    pub message_queue: bool,
    /// Registration tokens.
    pub registration: bool,
    /// Installation tokens.
    pub installation: bool,
}

/// The message queue identity a valid MQ token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqIdentity {
    /// Tenant.
    pub tenant: u64,
    /// Scale set.
    pub scale_set_id: u64,
    /// Session.
    pub session_id: Uuid,
}

impl State {
    /// The tenant serving `scope`, created on first use.
    pub fn tenant_for(&mut self, scope: &Scope) -> u64 {
        let key = scope.tenant_key();
        let index = match self.tenants.iter().position(|t| *t == key) {
            Some(i) => i,
            None => {
                self.tenants.push(key);
                self.tenants.len() - 1
            }
        };
        index as u64 + 1
    }

    /// Whether `token` is a configured PAT or a live installation token: the
    /// credentials accepted on the registration-token endpoint (docs/protocol.md §3).
    pub fn is_github_credential(&self, token: &str, now: DateTime<Utc>) -> bool {
        self.cfg.options.pats.iter().any(|p| p == token)
            || self
                .tokens
                .check(token, now, |k| matches!(k, TokenKind::Installation))
                .is_ok()
    }

    /// Mints a registration token for `scope` (docs/protocol.md §3.1).
    pub fn mint_registration_token(
        &mut self,
        scope: Scope,
        now: DateTime<Utc>,
    ) -> Result<Issued, Fail> {
        let expires = after(now, self.cfg.options.registration_token_ttl);
        Ok(self
            .tokens
            .mint(TokenKind::Registration(scope), now, expires)?)
    }

    /// Mints an App installation token (docs/protocol.md §3.3).
    pub fn mint_installation_token(&mut self, now: DateTime<Utc>) -> Result<Issued, Fail> {
        let expires = after(now, self.cfg.options.installation_token_ttl);
        Ok(self.tokens.mint(TokenKind::Installation, now, expires)?)
    }

    /// runner-registration (docs/protocol.md §4): a registration token we issued, still
    /// live, for the scope of `config_url`, buys the tenant URL and an admin token.
    pub fn register(
        &mut self,
        registration_token: &str,
        config_url: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, Issued), Fail> {
        let kind = self
            .tokens
            .check(registration_token, now, |k| {
                matches!(k, TokenKind::Registration(_))
            })
            .map_err(|e| Fail::Unauthorized(format!("registration token {}", describe(e))))?;
        let scope = Scope::from_config_url(config_url)
            .ok_or_else(|| Fail::BadRequest(format!("{config_url:?}: invalid config URL, should point to an enterprise, org, or repository")))?;
        if let TokenKind::Registration(issued_for) = kind
            && !issued_for.same_as(&scope)
        {
            return Err(Fail::Unauthorized(format!(
                "registration token was issued for {issued_for:?}, not for {config_url}"
            )));
        }
        let tenant = self.tenant_for(&scope);
        let expires = after(now, self.cfg.options.admin_token_ttl);
        let admin = self
            .tokens
            .mint(TokenKind::Admin { tenant }, now, expires)?;
        Ok((self.tenant_url(tenant), admin))
    }

    /// Checks an admin bearer for `tenant` (docs/protocol.md §15: 401 when expired/unknown).
    pub fn check_admin(&self, token: &str, tenant: u64, now: DateTime<Utc>) -> Result<(), Fail> {
        self.tokens
            .check(token, now, |k| *k == TokenKind::Admin { tenant })
            .map(|_| ())
            .map_err(|e| Fail::Unauthorized(format!("admin token {}", describe(e))))
    }

    /// Checks a message queue bearer. A token whose session is gone is refused too:
    /// the client then refreshes (404) and recreates the session (docs/protocol.md §8.2).
    pub fn check_mq(&self, token: &str, now: DateTime<Utc>) -> Result<MqIdentity, Fail> {
        let kind = self
            .tokens
            .check(token, now, |k| matches!(k, TokenKind::MessageQueue { .. }))
            .map_err(|e| Fail::Unauthorized(format!("message queue token {}", describe(e))))?;
        let TokenKind::MessageQueue {
            tenant,
            scale_set_id,
            session_id,
        } = kind
        else {
            return Err(Fail::Unauthorized(
                "message queue token is unknown".to_owned(),
            ));
        };
        if !self
            .sessions
            .get(&session_id)
            .is_some_and(|s| s.is_live(now))
        {
            return Err(Fail::Unauthorized(format!(
                "the session {session_id} of this message queue token has expired"
            )));
        }
        Ok(MqIdentity {
            tenant,
            scale_set_id,
            session_id,
        })
    }

    /// Mints a message queue token for a session.
    pub(super) fn mint_mq_token(
        &mut self,
        tenant: u64,
        scale_set_id: u64,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Issued, Fail> {
        let expires = after(now, self.cfg.options.mq_token_ttl);
        Ok(self.tokens.mint(
            TokenKind::MessageQueue {
                tenant,
                scale_set_id,
                session_id,
            },
            now,
            expires,
        )?)
    }

    /// Expires the selected token kinds now; returns how many were live.
    pub fn expire_tokens(&mut self, which: ExpireTokens, now: DateTime<Utc>) -> usize {
        self.tokens.expire_now(now, |k| match k {
            TokenKind::Admin { .. } => which.admin,
            TokenKind::MessageQueue { .. } => which.message_queue,
            TokenKind::Registration(_) => which.registration,
            TokenKind::Installation => which.installation,
        })
    }
}

fn describe(e: TokenError) -> &'static str {
    match e {
        TokenError::Unknown => "is unknown",
        TokenError::Expired => "has expired",
    }
}
