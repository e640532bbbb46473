//! Server-side sessions created at login.
//!
//! The cookie carries a random 256-bit id. The store keys sessions by the SHA-256 of that
//! id, so a dump of the store cannot be replayed as cookies. The refresh token never leaves
//! the gateway. [`SessionStore`] is the interface a shared store (Redis) can implement later.

use std::time::SystemTime;

use futures_util::future::BoxFuture;

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
}

/// Storage for sessions, keyed by the hash of the session id.
pub trait SessionStore: Send + Sync + 'static {
    fn get(&self, id: TokenHash) -> BoxFuture<'_, Option<Session>>;
    fn put(&self, id: TokenHash, session: Session) -> BoxFuture<'_, ()>;
    fn remove(&self, id: TokenHash) -> BoxFuture<'_, Option<Session>>;
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
    cache: moka::future::Cache<TokenHash, Session>,
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
    fn get(&self, id: TokenHash) -> BoxFuture<'_, Option<Session>> {
        Box::pin(async move { self.cache.get(&id).await })
    }

    fn put(&self, id: TokenHash, session: Session) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.cache.insert(id, session).await })
    }

    fn remove(&self, id: TokenHash) -> BoxFuture<'_, Option<Session>> {
        Box::pin(async move { self.cache.remove(&id).await })
    }
}
