//! The gateway's shared state, built once from the configuration.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::login::Login;
use crate::metrics::Metrics;
use crate::okta::OktaClient;
use crate::proxy::Upstream;
use crate::session::SessionStore;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    pub config: Arc<Config>,
    pub okta: OktaClient,
    pub metrics: Metrics,
    /// Sessions created at login; in memory by default. Every `put` also indexes the
    /// session's tokens, so revoking a token ends the sessions holding it.
    pub sessions: Arc<dyn SessionStore>,
    /// Credential checks and the credential, userinfo and refresh caches.
    pub auth: Authenticator,
    /// The pooled upstream client and the header rules for forwarded requests.
    pub upstream: Arc<Upstream>,
    /// Pending login transactions and the login rate limits.
    pub login: Arc<Login>,
}
