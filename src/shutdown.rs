//! Waiting for the signals that stop the gateway.

/// Completes on the first SIGTERM or SIGINT (Ctrl-C elsewhere than Unix).
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};

        let mut terminate = match signal(SignalKind::terminate()) {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "failed to listen for SIGTERM; only SIGINT stops the gateway");
                wait_ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = terminate.recv() => tracing::info!("received SIGTERM"),
            _ = wait_ctrl_c() => tracing::info!("received SIGINT"),
        }
    }
    #[cfg(not(unix))]
    wait_ctrl_c().await;
}

async fn wait_ctrl_c() {
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::warn!(%error, "failed to listen for SIGINT");
        std::future::pending::<()>().await;
    }
}
