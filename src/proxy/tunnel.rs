//! Byte tunnels for upgraded connections (WebSockets), and their part in shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Counts open tunnels, so shutdown can wait for them, and closes them when the
/// shutdown grace period is over.
#[derive(Clone, Default)]
pub struct Tunnels {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    open: AtomicUsize,
    /// Notified each time a tunnel closes.
    closed: Notify,
    /// Cancelled to close every open tunnel.
    closing: CancellationToken,
}

/// Decrements the open count when a tunnel task ends, however it ends.
struct OpenGuard(Arc<Inner>);

// === impl Tunnels ===

impl Tunnels {
    /// Spawns a task that copies bytes both ways once both sides have upgraded.
    pub fn spawn(&self, client: OnUpgrade, upstream: OnUpgrade) {
        self.inner.open.fetch_add(1, Ordering::AcqRel);
        let guard = OpenGuard(self.inner.clone());
        tokio::spawn(async move {
            let closing = guard.0.closing.clone();
            tokio::select! {
                () = tunnel(client, upstream) => {}
                () = closing.cancelled() => {
                    tracing::debug!("closing an upgraded connection at shutdown");
                }
            }
            drop(guard);
        });
    }

    pub fn open(&self) -> usize {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Completes once no tunnel is open.
    pub async fn wait_closed(&self) {
        loop {
            let closed = self.inner.closed.notified();
            if self.open() == 0 {
                return;
            }
            closed.await;
        }
    }

    /// Closes every open tunnel and any opened later.
    pub fn close_all(&self) {
        self.inner.closing.cancel();
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.closed.notify_waiters();
    }
}

async fn tunnel(client: OnUpgrade, upstream: OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(%error, "protocol upgrade failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((sent, received)) => {
            tracing::debug!(sent, received, "upgraded connection closed");
        }
        Err(error) => tracing::debug!(%error, "upgraded connection failed"),
    }
}
