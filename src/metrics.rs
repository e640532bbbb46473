//! Prometheus metrics. Labels carry route classes, endpoints and cache names, never a
//! path, user or credential.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

/// The gateway's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    okta_calls: Family<EndpointLabels, Counter>,
    okta_errors: Family<EndpointErrorLabels, Counter>,
}

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
        Self {
            inner: Arc::new(Inner {
                registry,
                okta_calls,
                okta_errors,
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
