//! Token-bucket rate limits keyed by user, client address or a single global key.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::future::Cache;

/// Allows `limit` events per `window` per key, refilling continuously, so a burst of
/// `limit` is followed by one event every `window / limit`.
pub struct RateLimiter {
    limit: f64,
    window: Duration,
    buckets: Cache<String, Arc<Mutex<Bucket>>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

// === impl RateLimiter ===

impl RateLimiter {
    /// `capacity` bounds the number of keys tracked; the least recently used are dropped
    /// first, which can only make the limiter more lenient for those keys.
    pub fn new(limit: u32, window: Duration, capacity: u64) -> Self {
        Self {
            limit: f64::from(limit.max(1)),
            window,
            // A bucket untouched for a whole window is full again, so it can go.
            buckets: Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(window)
                .build(),
        }
    }

    /// Takes one event from `key`'s bucket, or returns how long until one is available.
    pub async fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now()).await
    }

    async fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let fresh = Bucket {
            tokens: self.limit,
            updated: now,
        };
        let bucket = self
            .buckets
            .get_with_by_ref(key, async { Arc::new(Mutex::new(fresh)) })
            .await;
        let mut bucket = bucket.lock().unwrap_or_else(|e| e.into_inner());
        let per_token = self.window.as_secs_f64() / self.limit;
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed / per_token).min(self.limit);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) * per_token;
            Err(Duration::from_secs_f64(wait))
        }
    }
}

/// Rounds a wait up to whole seconds for `Retry-After`, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limiter_allows_burst_then_waits() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60), 10);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("alice", start).await.is_ok());
        }
        let wait = limiter.check_at("alice", start).await.unwrap_err();
        assert!(wait > Duration::from_secs(19), "{wait:?}");
        assert!(wait <= Duration::from_secs(20), "{wait:?}");
        assert!(limiter.check_at("bob", start).await.is_ok());
        let later = start + Duration::from_secs(20);
        assert!(limiter.check_at("alice", later).await.is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }
}
