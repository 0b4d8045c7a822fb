//! Credentials: config-URL scopes, the registry of issued tokens, JWT minting and
//! App JWT verification. Pure: callers pass `now`.
//!
//! Admin and message queue tokens are JWT-shaped (HS256, with `exp`) because clients
//! parse the admin token's `exp` without verifying it (docs/protocol.md §4.3). The fake's
//! own validity check uses the registry, which keeps millisecond-precise expiries
//! (JWT `exp` only has seconds) and lets tests expire tokens on demand.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The owner a registration token or config URL points at (docs/protocol.md §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Scope {
    /// `https://host/org`.
    Org {
        /// Organization.
        org: String,
    },
    /// `https://host/owner/repo`.
    Repo {
        /// Owner.
        owner: String,
        /// Repository.
        repo: String,
    },
    /// `https://host/enterprises/slug`.
    Enterprise {
        /// Enterprise slug.
        enterprise: String,
    },
}

impl Scope {
    /// Parses a config URL the way the reference clients do (docs/protocol.md §2 steps 1–2).
    pub fn from_config_url(config_url: &str) -> Option<Scope> {
        let url = url::Url::parse(config_url.trim_matches('/')).ok()?;
        let segments: Vec<&str> = url.path().trim_matches('/').split('/').collect();
        match segments.as_slice() {
            [org] if !org.is_empty() => Some(Scope::Org {
                org: (*org).to_owned(),
            }),
            [first, second] if !first.is_empty() && !second.is_empty() => {
                if first.eq_ignore_ascii_case("enterprises") {
                    Some(Scope::Enterprise {
                        enterprise: (*second).to_owned(),
                    })
                } else {
                    Some(Scope::Repo {
                        owner: (*first).to_owned(),
                        repo: (*second).to_owned(),
                    })
                }
            }
            _ => None,
        }
    }

    /// Case-insensitive equality (GitHub logins are case-insensitive).
    pub fn same_as(&self, other: &Scope) -> bool {
        self.tenant_key() == other.tenant_key()
            && match (self, other) {
                (Scope::Repo { repo: a, .. }, Scope::Repo { repo: b, .. }) => {
                    a.eq_ignore_ascii_case(b)
                }
                (Scope::Org { .. }, Scope::Org { .. }) => true,
                (Scope::Enterprise { .. }, Scope::Enterprise { .. }) => true,
                _ => false,
            }
    }

    /// The account whose Actions tenant serves this scope: org and repo scopes of the
    /// same owner share a tenant; an enterprise has its own.
    pub fn tenant_key(&self) -> String {
        match self {
            Scope::Org { org } => org.to_lowercase(),
            Scope::Repo { owner, .. } => owner.to_lowercase(),
            Scope::Enterprise { enterprise } => {
                format!("enterprises/{}", enterprise.to_lowercase())
            }
        }
    }
}

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// Registration token (GitHub API) for a scope.
    Registration(Scope),
    /// GitHub App installation token.
    Installation,
    /// Actions service admin token for a tenant.
    Admin {
        /// Tenant number.
        tenant: u64,
    },
    /// Message queue token of a session.
    MessageQueue {
        /// Tenant number.
        tenant: u64,
        /// Scale set of the session.
        scale_set_id: u64,
        /// Session the token belongs to.
        session_id: Uuid,
    },
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Never issued (or of another kind).
    Unknown,
    /// Issued but past its expiry.
    Expired,
}

/// A minted token.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The token string.
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: TokenKind,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct ServiceClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: String,
    scp: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
}

/// Every token the fake has issued, with its kind and precise expiry.
#[derive(Debug)]
pub struct TokenRegistry {
    secret: Vec<u8>,
    entries: HashMap<String, Entry>,
}

impl TokenRegistry {
    /// A registry signing its JWTs with a random per-instance secret.
    pub fn new() -> Self {
        let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()).into_bytes();
        Self {
            secret,
            entries: HashMap::new(),
        }
    }

    /// Mints a token of `kind` valid until `expires_at`.
    pub fn mint(
        &mut self,
        kind: TokenKind,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Issued, jsonwebtoken::errors::Error> {
        self.prune(now);
        let token = match &kind {
            // GitHub registration tokens are 29 upper-case alphanumerics (docs/protocol.md §17 S2).
            TokenKind::Registration(_) => {
                Uuid::new_v4().simple().to_string().to_uppercase()[..29].to_owned()
            }
            TokenKind::Installation => {
                format!("ghs_{}", &Uuid::new_v4().simple().to_string()[..30])
            }
            TokenKind::Admin { tenant } => {
                self.jwt(format!("tenant/{tenant}"), "ActionsAdmin", now, expires_at)?
            }
            TokenKind::MessageQueue { session_id, .. } => self.jwt(
                format!("session/{session_id}"),
                "MessageQueue",
                now,
                expires_at,
            )?,
        };
        self.entries
            .insert(token.clone(), Entry { kind, expires_at });
        Ok(Issued { token, expires_at })
    }

    fn jwt(
        &self,
        sub: String,
        scp: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        // `exp` is rounded up so a client never sees a token expire before the fake does.
        let exp = expires_at.timestamp() + i64::from(expires_at.timestamp_subsec_millis() > 0);
        let claims = ServiceClaims {
            iss: "ghaec2-fake",
            aud: "actions",
            sub,
            scp,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp,
            jti: Uuid::new_v4().to_string(),
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.secret),
        )
    }

    /// Looks `token` up; it must be live and satisfy `accept`.
    pub fn check(
        &self,
        token: &str,
        now: DateTime<Utc>,
        accept: impl Fn(&TokenKind) -> bool,
    ) -> Result<TokenKind, TokenError> {
        let entry = self
            .entries
            .get(token)
            .filter(|e| accept(&e.kind))
            .ok_or(TokenError::Unknown)?;
        if now >= entry.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(entry.kind.clone())
    }

    /// Makes every live token matching `select` expire at `now`.
    pub fn expire_now(&mut self, now: DateTime<Utc>, select: impl Fn(&TokenKind) -> bool) -> usize {
        let mut count = 0;
        for entry in self
            .entries
            .values_mut()
            .filter(|e| select(&e.kind) && e.expires_at > now)
        {
            entry.expires_at = now;
            count += 1;
        }
        count
    }

    /// Every token string issued and not yet pruned, live or expired.
    pub fn issued(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// Drops tokens that expired more than an hour ago, so a long-running fake stays small.
    fn prune(&mut self, now: DateTime<Utc>) {
        let horizon = now - chrono::TimeDelta::hours(1);
        self.entries.retain(|_, e| e.expires_at > horizon);
    }
}

impl Default for TokenRegistry {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Deserialize)]
struct AppClaims {
    iss: serde_json::Value,
    iat: Option<i64>,
    exp: Option<i64>,
}

/// The longest App JWT lifetime GitHub accepts (docs/protocol.md §18.2: ≤ 10 min).
const MAX_APP_JWT_LIFETIME_SECS: i64 = 600;
/// Tolerated clock skew for a future `iat`.
const IAT_SKEW_SECS: i64 = 60;

/// Verifies an App JWT: RS256 signature, `iss` equal to one of `issuers`, `iat` and
/// `exp` present, not expired, `iat` not in the future, `exp − iat ≤ 10 min`
/// (docs/protocol.md §3.3). Returns GitHub's wording on failure.
pub fn verify_app_jwt(
    token: &str,
    public_key_pem: &str,
    issuers: &[&str],
    now: DateTime<Utc>,
) -> Result<(), String> {
    let key = DecodingKey::from_rsa_pem(public_key_pem.as_bytes())
        .map_err(|e| format!("fake misconfigured: App public key: {e}"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    // Expiry and issuer are checked below with GitHub's messages and no leeway games.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<AppClaims>(token, &key, &validation)
        .map_err(|_| "A JSON web token could not be decoded".to_owned())?;
    let claims = data.claims;
    let iss = match &claims.iss {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if !issuers.contains(&iss.as_str()) {
        return Err("'Issuer' claim ('iss') does not name a known GitHub App".to_owned());
    }
    let (Some(iat), Some(exp)) = (claims.iat, claims.exp) else {
        return Err("Missing 'issued at' or 'expiration time' claim ('iat'/'exp')".to_owned());
    };
    let now = now.timestamp();
    if iat > now + IAT_SKEW_SECS {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past"
                .to_owned(),
        );
    }
    if exp <= now {
        return Err("'Expiration time' claim ('exp') is in the past".to_owned());
    }
    if exp - iat > MAX_APP_JWT_LIFETIME_SECS {
        return Err("'Expiration time' claim ('exp') is too far in the future".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_like_the_reference_clients() {
        assert_eq!(
            Scope::from_config_url("http://h/my-org/"),
            Some(Scope::Org {
                org: "my-org".into()
            })
        );
        assert_eq!(
            Scope::from_config_url("http://h/o/r"),
            Some(Scope::Repo {
                owner: "o".into(),
                repo: "r".into()
            })
        );
        assert_eq!(
            Scope::from_config_url("http://h/Enterprises/e"),
            Some(Scope::Enterprise {
                enterprise: "e".into()
            })
        );
        assert_eq!(Scope::from_config_url("http://h/"), None);
        assert_eq!(Scope::from_config_url("http://h/a/b/c"), None);
        let a = Scope::Org {
            org: "My-Org".into(),
        };
        assert!(a.same_as(&Scope::Org {
            org: "my-org".into()
        }));
        assert!(!a.same_as(&Scope::Repo {
            owner: "my-org".into(),
            repo: "x".into()
        }));
    }

    #[test]
    fn tokens_expire_and_are_kind_checked() {
        let mut reg = TokenRegistry::new();
        let now = Utc::now();
        let t = reg
            .mint(
                TokenKind::Admin { tenant: 1 },
                now,
                now + chrono::TimeDelta::milliseconds(500),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.token.split('.').count(), 3, "admin token is JWT-shaped");
        assert!(
            reg.check(&t.token, now, |k| matches!(k, TokenKind::Admin { .. }))
                .is_ok()
        );
        assert_eq!(
            reg.check(&t.token, now, |k| matches!(k, TokenKind::Installation)),
            Err(TokenError::Unknown)
        );
        assert_eq!(
            reg.check(&t.token, now + chrono::TimeDelta::seconds(1), |_| true),
            Err(TokenError::Expired)
        );
        assert_eq!(reg.expire_now(now, |_| true), 1);
        assert_eq!(reg.check(&t.token, now, |_| true), Err(TokenError::Expired));
        assert_eq!(reg.check("nope", now, |_| true), Err(TokenError::Unknown));
    }
}
