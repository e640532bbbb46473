//! The credential cache: validation results keyed by a hash of the token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;
use sha2::{Digest, Sha256};

use super::identity::{now_unix, Identity};
use crate::metrics::Metrics;
use crate::secret::TokenHash;

/// A cached validation result.
#[derive(Clone, Debug)]
pub enum Validated {
    Active(Arc<Identity>),
    /// Okta reported the token inactive, or local verification rejected it.
    Inactive,
}

/// Validation results per token, each kept at most `min(max_ttl, exp − now)`; inactive
/// results are kept `negative_ttl`. Errors are never stored.
#[derive(Clone)]
pub struct CredentialCache {
    cache: Cache<TokenHash, Validated>,
    /// A SHA-256 state already fed with the issuer and client id, so a key binds the
    /// token to the authorization server and client that validated it.
    key_prefix: Sha256,
}

struct ValidatedExpiry {
    max_ttl: Duration,
    negative_ttl: Duration,
}

// === impl CredentialCache ===

impl CredentialCache {
    pub fn new(
        issuer: &str,
        client_id: &str,
        capacity: u64,
        max_ttl: Duration,
        negative_ttl: Duration,
        metrics: Metrics,
    ) -> Self {
        let cache = Cache::builder()
            .name("introspection")
            .max_capacity(capacity)
            .expire_after(ValidatedExpiry {
                max_ttl,
                negative_ttl,
            })
            .eviction_listener(move |_key, _value, cause| {
                metrics.cache_eviction("introspection", cause)
            })
            .build();
        let mut key_prefix = Sha256::new();
        key_prefix.update(issuer.as_bytes());
        key_prefix.update([0]);
        key_prefix.update(client_id.as_bytes());
        key_prefix.update([0]);
        Self { cache, key_prefix }
    }

    /// Returns the cache key of a token.
    pub fn key(&self, token: &str) -> TokenHash {
        let mut hasher = self.key_prefix.clone();
        hasher.update(token.as_bytes());
        hasher.finalize().into()
    }

    pub async fn get(&self, key: &TokenHash) -> Option<Validated> {
        self.cache.get(key).await
    }

    /// Returns the cached result, or runs `validate` once for all concurrent callers
    /// of the same key and caches its result. Errors reach every waiting caller and
    /// are not cached.
    pub async fn get_or_validate<E, F>(
        &self,
        key: TokenHash,
        validate: F,
    ) -> Result<Validated, Arc<E>>
    where
        F: std::future::Future<Output = Result<Validated, E>>,
        E: Send + Sync + 'static,
    {
        self.cache.try_get_with(key, validate).await
    }

    pub async fn invalidate(&self, key: &TokenHash) -> Option<Validated> {
        self.cache.remove(key).await
    }

    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }
}

// === impl ValidatedExpiry ===

impl Expiry<TokenHash, Validated> for ValidatedExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenHash,
        value: &Validated,
        _created_at: Instant,
    ) -> Option<Duration> {
        match value {
            Validated::Inactive => Some(self.negative_ttl),
            Validated::Active(identity) => {
                let remaining = identity.expires_at.saturating_sub(now_unix());
                Some(self.max_ttl.min(Duration::from_secs(remaining)))
            }
        }
    }
}

/// A cached value that must not outlive a token's expiry.
#[derive(Clone, Debug)]
pub struct Expiring<T> {
    pub value: T,
    /// Expiry of the token the value belongs to, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Keeps an [`Expiring`] entry until its token expires, and at most `max_ttl`.
pub struct UntilTokenExpiry {
    pub max_ttl: Duration,
}

impl<K, T> Expiry<K, Expiring<T>> for UntilTokenExpiry {
    fn expire_after_create(
        &self,
        _key: &K,
        value: &Expiring<T>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let remaining = value.expires_at.saturating_sub(now_unix());
        Some(self.max_ttl.min(Duration::from_secs(remaining)))
    }
}
