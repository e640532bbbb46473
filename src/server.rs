//! Building the gateway from its configuration and serving it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::login::Login;
use crate::metrics::Metrics;
use crate::okta::OktaClient;
use crate::secret::Secret;
use crate::session::MemorySessionStore;

/// A running gateway: its public and admin addresses and its serving task.
pub struct RunningGateway {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub gateway: Gateway,
    task: JoinHandle<()>,
}

impl RunningGateway {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn shutdown(self) {
        self.task.abort();
    }
}

impl Gateway {
    /// Builds the shared state. `client_secret` is the resolved client secret.
    pub fn build(config: Config, client_secret: Option<Secret<String>>) -> anyhow::Result<Gateway> {
        let metrics = Metrics::new();
        let okta = OktaClient::new(&config.okta, client_secret, metrics.clone())
            .context("failed to build the HTTP client for Okta")?;
        let sessions = Arc::new(MemorySessionStore::new(&config.session));
        let login = Arc::new(Login::new(&config));
        Ok(Gateway {
            login,
            config: Arc::new(config),
            okta,
            metrics,
            sessions,
        })
    }
}

/// Serves the gateway on already-bound listeners (tests bind port 0).
pub async fn start(
    gateway: Gateway,
    listener: TcpListener,
    admin: TcpListener,
) -> anyhow::Result<RunningGateway> {
    let addr = listener.local_addr()?;
    let admin_addr = admin.local_addr()?;
    // Discovery failures are not fatal at start: calls retry it until it succeeds.
    if let Err(error) = gateway.okta.discover().await {
        tracing::warn!(%error, "discovery failed at start; retrying on first use");
    }
    let app =
        crate::routes::router(gateway.clone()).fallback(|| async { ApiError::unauthenticated() });
    let task = tokio::spawn(async move {
        drop(admin);
        if let Err(error) = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        {
            tracing::error!(%error, "gateway listener stopped");
        }
    });
    Ok(RunningGateway {
        addr,
        admin_addr,
        gateway,
        task,
    })
}
