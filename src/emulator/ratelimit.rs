//! Org-wide rate limits per endpoint family and the `X-Rate-Limit-*` headers Okta
//! puts on every response.

use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, HeaderValue};

use super::state::Inner;

/// Length of one rate-limit window.
const WINDOW: Duration = Duration::from_secs(60);

/// The numbers behind the `X-Rate-Limit-*` headers of one response.
#[derive(Clone, Copy, Debug)]
pub struct RateLimitStatus {
    pub limit: u32,
    pub remaining: u32,
    /// UTC epoch second at which the window resets.
    pub reset: u64,
    /// Whether this request went over the limit.
    pub exceeded: bool,
}

/// Counts one request of `family`; the discovery documents and keys are never limited.
pub fn count(inner: &mut Inner, family: &'static str, now: Instant) -> RateLimitStatus {
    let limit = inner.settings.org_rate_limit_per_minute;
    let unlimited = limit == 0 || matches!(family, "discovery" | "keys" | "hooks");
    let (start, used) = inner.limits.buckets.entry(family).or_insert((now, 0));
    if now.duration_since(*start) >= WINDOW {
        *start = now;
        *used = 0;
    }
    *used = used.saturating_add(1);
    let elapsed = now.duration_since(*start);
    let reset = SystemTime::now()
        .checked_add(WINDOW.saturating_sub(elapsed))
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let shown_limit = if limit == 0 { u32::MAX } else { limit };
    RateLimitStatus {
        limit: shown_limit,
        remaining: shown_limit.saturating_sub(*used),
        reset,
        exceeded: !unlimited && *used > limit,
    }
}

/// Writes the three `X-Rate-Limit-*` headers.
pub fn apply_headers(headers: &mut HeaderMap, status: RateLimitStatus) {
    headers.insert("x-rate-limit-limit", HeaderValue::from(status.limit));
    headers.insert(
        "x-rate-limit-remaining",
        HeaderValue::from(status.remaining),
    );
    headers.insert("x-rate-limit-reset", HeaderValue::from(status.reset));
}
