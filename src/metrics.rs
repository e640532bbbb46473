//! Prometheus metrics. Labels carry route classes, endpoints, statuses and cache names,
//! never a path, user or credential.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointErrorLabels {
    endpoint: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EvictionLabels {
    cache: &'static str,
    cause: &'static str,
}

/// The gateway's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    okta_calls: Family<EndpointLabels, Counter>,
    okta_errors: Family<EndpointErrorLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RequestLabels, Histogram>,
    cache_hits: Family<CacheLabels, Counter>,
    cache_misses: Family<CacheLabels, Counter>,
    cache_evictions: Family<EvictionLabels, Counter>,
    /// The series of the hot path, looked up once: a `Family` lookup takes a lock and
    /// hashes the labels.
    forward_ok: Counter,
    forward_ok_duration: Histogram,
    introspection_hits: Counter,
    session_hits: Counter,
}

/// The route class and status of the hot path, whose series are looked up once.
const FORWARD_OK: RequestLabels = RequestLabels {
    route: "forward",
    status: 200,
};

/// Upper bounds of the request latency buckets, in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0,
];

// === impl Metrics ===

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let okta_calls = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "okta_calls",
            "Calls to Okta per endpoint",
            okta_calls.clone(),
        );
        let okta_errors = Family::<EndpointErrorLabels, Counter>::default();
        registry.register(
            "okta_errors",
            "Failed calls to Okta per endpoint and kind (transport, server_error, rate_limited, rejected)",
            okta_errors.clone(),
        );

        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests served per route class and response status",
            requests.clone(),
        );
        let request_duration = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS.iter().copied())
        });
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to sending its response headers, per route class and status",
            request_duration.clone(),
        );

        let cache_hits = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_hits",
            "Lookups answered from a cache",
            cache_hits.clone(),
        );
        let cache_misses = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_misses",
            "Lookups not answered from a cache",
            cache_misses.clone(),
        );
        let cache_evictions = Family::<EvictionLabels, Counter>::default();
        registry.register(
            "cache_evictions",
            "Entries removed from a cache, per cause (expired, explicit, replaced, size)",
            cache_evictions.clone(),
        );

        let forward_ok = requests.get_or_create(&FORWARD_OK).clone();
        let forward_ok_duration = request_duration.get_or_create(&FORWARD_OK).clone();
        let introspection_hits = cache_hits
            .get_or_create(&CacheLabels {
                cache: "introspection",
            })
            .clone();
        let session_hits = cache_hits
            .get_or_create(&CacheLabels { cache: "sessions" })
            .clone();
        Self {
            inner: Arc::new(Inner {
                forward_ok,
                forward_ok_duration,
                introspection_hits,
                session_hits,
                registry,
                okta_calls,
                okta_errors,
                requests,
                request_duration,
                cache_hits,
                cache_misses,
                cache_evictions,
            }),
        }
    }

    pub fn okta_call(&self, endpoint: &'static str) {
        self.inner
            .okta_calls
            .get_or_create(&EndpointLabels { endpoint })
            .inc();
    }

    pub fn okta_error(&self, endpoint: &'static str, kind: &'static str) {
        self.inner
            .okta_errors
            .get_or_create(&EndpointErrorLabels { endpoint, kind })
            .inc();
    }

    /// Records one served request of a route class (`forward`, `login`, `revoke`, ...).
    pub fn request(&self, route: &'static str, status: u16, elapsed: Duration) {
        let labels = RequestLabels { route, status };
        if labels == FORWARD_OK {
            self.inner.forward_ok.inc();
            self.inner
                .forward_ok_duration
                .observe(elapsed.as_secs_f64());
            return;
        }
        self.inner.requests.get_or_create(&labels).inc();
        self.inner
            .request_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    pub fn cache_hit(&self, cache: &'static str) {
        let counter = match cache {
            "introspection" => &self.inner.introspection_hits,
            "sessions" => &self.inner.session_hits,
            _ => {
                self.inner
                    .cache_hits
                    .get_or_create(&CacheLabels { cache })
                    .inc();
                return;
            }
        };
        counter.inc();
    }

    pub fn cache_miss(&self, cache: &'static str) {
        self.inner
            .cache_misses
            .get_or_create(&CacheLabels { cache })
            .inc();
    }

    pub fn cache_eviction(&self, cache: &'static str, cause: moka::notification::RemovalCause) {
        use moka::notification::RemovalCause;

        let cause = match cause {
            RemovalCause::Expired => "expired",
            RemovalCause::Explicit => "explicit",
            RemovalCause::Replaced => "replaced",
            RemovalCause::Size => "size",
        };
        self.inner
            .cache_evictions
            .get_or_create(&EvictionLabels { cache, cause })
            .inc();
    }

    /// Renders every metric in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.inner.registry).is_err() {
            tracing::warn!("failed to encode metrics");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_path_series_land_in_the_families() {
        let metrics = Metrics::new();
        metrics.request("forward", 200, Duration::from_micros(150));
        metrics.request("forward", 200, Duration::from_micros(150));
        metrics.request("forward", 502, Duration::from_micros(150));
        metrics.cache_hit("introspection");
        metrics.cache_hit("sessions");
        metrics.cache_hit("sessions");
        metrics.cache_hit("jwks");
        let text = metrics.encode();
        for line in [
            "portcullis_http_requests_total{route=\"forward\",status=\"200\"} 2",
            "portcullis_http_requests_total{route=\"forward\",status=\"502\"} 1",
            "portcullis_http_request_duration_seconds_count{route=\"forward\",status=\"200\"} 2",
            "portcullis_cache_hits_total{cache=\"introspection\"} 1",
            "portcullis_cache_hits_total{cache=\"sessions\"} 2",
            "portcullis_cache_hits_total{cache=\"jwks\"} 1",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
