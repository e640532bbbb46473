//! The gateway's shared state, built once from the configuration.

use std::sync::Arc;

use crate::config::Config;
use crate::login::Login;
use crate::metrics::Metrics;
use crate::okta::OktaClient;
use crate::session::SessionStore;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    pub config: Arc<Config>,
    pub okta: OktaClient,
    pub metrics: Metrics,
    /// Sessions created at login; in memory by default.
    pub sessions: Arc<dyn SessionStore>,
    /// Pending login transactions and the login rate limits.
    pub login: Arc<Login>,
    // The login flow's transactions, the credential caches and the upstream client are
    // added here by their modules.
}
