//! The session store seen by the rest of the gateway: any [`SessionStore`] plus an
//! index from token hashes to the sessions that hold them, so that revoking a token
//! also ends the sessions carrying it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::secret::TokenHash;
use crate::session::{Session, SessionStore};

/// Wraps a store and indexes each session's access and refresh tokens on `put`.
pub struct IndexedSessionStore {
    inner: Arc<dyn SessionStore>,
    /// SHA-256 of a token → hash of the session id holding it. Entries live as long as
    /// a session can, and stale ones only cost a failed lookup.
    by_token: moka::future::Cache<TokenHash, TokenHash>,
}

// === impl IndexedSessionStore ===

impl IndexedSessionStore {
    pub fn new(inner: Arc<dyn SessionStore>, capacity: u64, lifetime: Duration) -> Self {
        let by_token = moka::future::Cache::builder()
            // Two tokens per session.
            .max_capacity(capacity.saturating_mul(2))
            .time_to_live(lifetime)
            .build();
        Self { inner, by_token }
    }

    /// Returns the hash of the session id holding the token with this SHA-256, if any.
    pub async fn session_holding(&self, token_hash: &TokenHash) -> Option<TokenHash> {
        self.by_token.get(token_hash).await
    }
}

impl SessionStore for IndexedSessionStore {
    fn get(&self, id: TokenHash) -> BoxFuture<'_, Option<Arc<Session>>> {
        self.inner.get(id)
    }

    fn put(&self, id: TokenHash, session: Session) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.by_token.insert(session.access_token.hash(), id).await;
            if let Some(refresh_token) = &session.refresh_token {
                self.by_token.insert(refresh_token.hash(), id).await;
            }
            self.inner.put(id, session).await
        })
    }

    fn remove(&self, id: TokenHash) -> BoxFuture<'_, Option<Arc<Session>>> {
        Box::pin(async move {
            let removed = self.inner.remove(id).await;
            if let Some(session) = &removed {
                self.by_token.invalidate(&session.access_token.hash()).await;
                if let Some(refresh_token) = &session.refresh_token {
                    self.by_token.invalidate(&refresh_token.hash()).await;
                }
            }
            removed
        })
    }
}
