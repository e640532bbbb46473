//! Server-side sessions created at login.
//!
//! The cookie carries a random 256-bit id. The store keys sessions by the SHA-256 of that
//! id, so a dump of the store cannot be replayed as cookies. The refresh token never leaves
//! the gateway. [`SessionStore`] is the interface a shared store (Redis) can implement later.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use futures_util::future::BoxFuture;

use crate::auth::identity::Identity;
use crate::secret::{Secret, TokenHash};

/// A logged-in user's session.
#[derive(Clone, Debug)]
pub struct Session {
    pub access_token: Secret<String>,
    pub id_token: Option<Secret<String>>,
    pub refresh_token: Option<Secret<String>>,
    /// Absolute expiry of the access token.
    pub access_expires_at: SystemTime,
    pub scope: String,
    /// The Okta login (`preferred_username`).
    pub username: String,
    /// The subject from the access token.
    pub subject: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    /// Authentication methods proven at login, e.g. `["pwd","sms","mfa"]`.
    pub amr: Vec<String>,
    pub created_at: SystemTime,
    /// The identity sent upstream, built from the fields above on first use so that
    /// requests with the cookie share it. Cloning a session leaves it empty, so a copy
    /// with changed fields builds its own. `IdentityMemo::default()` when creating one.
    pub identity: IdentityMemo,
}

/// A session's identity, built once by [`Session::identity`].
#[derive(Default)]
pub struct IdentityMemo(OnceLock<Arc<Identity>>);

impl Clone for IdentityMemo {
    fn clone(&self) -> Self {
        IdentityMemo::default()
    }
}

impl std::fmt::Debug for IdentityMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityMemo")
    }
}

impl Session {
    /// Returns the identity for the upstream headers, building it on the first call.
    pub fn identity(&self) -> Arc<Identity> {
        self.identity
            .0
            .get_or_init(|| Arc::new(Identity::from_session(self)))
            .clone()
    }
}

/// Storage for sessions, keyed by the hash of the session id. Sessions are shared, not
/// copied, on every request that carries the cookie.
pub trait SessionStore: Send + Sync + 'static {
    fn get(&self, id: TokenHash) -> BoxFuture<'_, Option<Arc<Session>>>;
    fn put(&self, id: TokenHash, session: Session) -> BoxFuture<'_, ()>;
    fn remove(&self, id: TokenHash) -> BoxFuture<'_, Option<Arc<Session>>>;
}

/// Generates a random 256-bit session id, base64url without padding.
pub fn new_session_id() -> Secret<String> {
    use base64::Engine;
    use rand::RngCore;

    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The in-process session store: a moka cache with absolute lifetime and idle timeout.
pub struct MemorySessionStore {
    cache: moka::future::Cache<TokenHash, Arc<Session>>,
}

impl MemorySessionStore {
    pub fn new(config: &crate::config::SessionConfig) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(config.capacity)
            .time_to_live(config.lifetime)
            .time_to_idle(config.idle_timeout)
            .build();
        Self { cache }
    }
}

impl SessionStore for MemorySessionStore {
    fn get(&self, id: TokenHash) -> BoxFuture<'_, Option<Arc<Session>>> {
        Box::pin(async move { self.cache.get(&id).await })
    }

    fn put(&self, id: TokenHash, session: Session) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.cache.insert(id, Arc::new(session)).await })
    }

    fn remove(&self, id: TokenHash) -> BoxFuture<'_, Option<Arc<Session>>> {
        Box::pin(async move { self.cache.remove(&id).await })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn session() -> Session {
        let now = SystemTime::now();
        Session {
            access_token: Secret::new("access".to_string()),
            id_token: None,
            refresh_token: None,
            access_expires_at: now + Duration::from_secs(600),
            scope: "openid".to_string(),
            username: "alice@example.com".to_string(),
            subject: "alice@example.com".to_string(),
            email: None,
            groups: vec!["admins".to_string()],
            amr: vec!["pwd".to_string(), "sms".to_string()],
            created_at: now,
            identity: IdentityMemo::default(),
        }
    }

    #[test]
    fn session_identity_built_once() {
        let session = session();
        let first = session.identity();
        assert!(Arc::ptr_eq(&first, &session.identity()));
        assert_eq!(&*first.subject, "alice@example.com");
    }

    #[test]
    fn session_clone_builds_own_identity() {
        let session = session();
        let old = session.identity();
        let mut refreshed = session.clone();
        refreshed.access_expires_at += Duration::from_secs(3600);
        let new = refreshed.identity();
        assert!(!Arc::ptr_eq(&old, &new));
        assert_eq!(new.expires_at, old.expires_at + 3600);
    }
}
