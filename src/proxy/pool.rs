//! Kept-alive HTTP/1.1 connections to the upstream.
//!
//! Each connection is a `hyper::client::conn::http1` handshake whose connection task
//! is spawned once. A request checks out an idle `SendRequest` from a LIFO stack, or
//! connects when the stack is empty. The response body carries the checkout
//! ([`Pooled`]) and pushes the sender back onto the stack when the body ends. Reuse
//! therefore costs no task per request, and a connection is never handed to a second
//! request while the first one's response is still being read.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use http::uri::Authority;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::RequestBody;

/// The idle connections to one upstream address and the settings to open new ones.
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    host: Box<str>,
    port: u16,
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle: usize,
    /// Idle senders, oldest at the bottom. Checkout pops the newest, whose connection
    /// is the least likely to have been closed by the upstream.
    idle: Mutex<Vec<Idle>>,
    reaper_started: AtomicBool,
}

struct Idle {
    sender: SendRequest<RequestBody>,
    since: Instant,
}

/// A connection checked out for one request. [`Pooled::release`] returns it to the
/// pool, and dropping it without a release closes the connection once the upstream
/// finishes the current response.
pub struct Pooled {
    sender: Option<SendRequest<RequestBody>>,
    pool: Weak<Inner>,
    /// Completes when the request body has been sent. `None` when it was already sent
    /// by the time the response head arrived.
    upload: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// A failed upstream request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to connect to the upstream")]
    Connect(#[source] io::Error),
    #[error("HTTP/1.1 handshake with the upstream failed")]
    Handshake(#[source] hyper::Error),
    #[error("upstream request failed")]
    Request(#[source] hyper::Error),
}

impl Error {
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect(_))
    }
}

// === impl Pool ===

impl Pool {
    /// Creates an empty pool for `authority` (port 80 when it has none).
    pub fn new(
        authority: &Authority,
        connect_timeout: Duration,
        idle_timeout: Duration,
        max_idle: usize,
    ) -> Pool {
        // `Authority::host` keeps the brackets of an IPv6 literal.
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        Pool {
            inner: Arc::new(Inner {
                host: host.into(),
                port: authority.port_u16().unwrap_or(80),
                connect_timeout,
                idle_timeout,
                max_idle,
                idle: Mutex::new(Vec::new()),
                reaper_started: AtomicBool::new(false),
            }),
        }
    }

    /// Sends `request` on an idle connection, or on a new one when none is idle, and
    /// returns the response head with the checkout that the response body must carry.
    ///
    /// A request that an idle connection rejects before writing any of it (because
    /// the upstream closed that connection meanwhile) is retried on another
    /// connection. A new connection is not retried.
    ///
    /// NOTE: a request already written when the upstream closes that connection (its
    /// keep-alive timeout firing just then) fails, even a `GET`. Keeping
    /// `upstream.pool_idle_timeout` below the upstream's keep-alive timeout avoids this.
    pub async fn send(
        &self,
        mut request: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Pooled), Error> {
        loop {
            let (mut sender, reused) = match self.checkout_idle().await {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let pooled = Pooled {
                        sender: Some(sender),
                        pool: Arc::downgrade(&self.inner),
                        upload: None,
                    };
                    return Ok((response, pooled));
                }
                Err(mut error) => match error.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(Error::Request(error.into_error())),
                },
            }
        }
    }

    /// Pops idle senders until one is ready, dropping closed and expired ones.
    async fn checkout_idle(&self) -> Option<SendRequest<RequestBody>> {
        loop {
            let idle = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()?;
            if idle.since.elapsed() >= self.inner.idle_timeout || idle.sender.is_closed() {
                continue;
            }
            let mut sender = idle.sender;
            // The connection task may not have seen the end of the previous response
            // yet. It becomes ready then, or fails if the upstream closed the connection.
            match sender.ready().await {
                Ok(()) => return Some(sender),
                Err(error) => {
                    tracing::debug!(%error, "idle upstream connection was closed, trying another one");
                }
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<RequestBody>, Error> {
        let inner = &self.inner;
        let address = (&*inner.host, inner.port);
        let stream =
            match tokio::time::timeout(inner.connect_timeout, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => return Err(Error::Connect(error)),
                Err(_) => {
                    return Err(Error::Connect(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "connect timed out after {} ms",
                            inner.connect_timeout.as_millis()
                        ),
                    )))
                }
            };
        stream.set_nodelay(true).map_err(Error::Connect)?;

        let (sender, connection) = Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(Error::Handshake)?;
        tokio::spawn(async move {
            // Upgrades hand the socket to a WebSocket tunnel after a `101`.
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(error = %error, "upstream connection closed with an error");
            }
        });
        self.start_reaper();
        Ok(sender)
    }

    /// Spawns, once, the task that closes connections idle for longer than the idle
    /// timeout. It ends when the pool is dropped.
    fn start_reaper(&self) {
        if self.inner.reaper_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let pool = Arc::downgrade(&self.inner);
        let period = self.inner.idle_timeout.max(Duration::from_millis(100));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(inner) = pool.upgrade() else {
                    return;
                };
                let mut idle = inner.idle.lock().unwrap_or_else(PoisonError::into_inner);
                idle.retain(|idle| {
                    idle.since.elapsed() < inner.idle_timeout && !idle.sender.is_closed()
                });
            }
        });
    }
}

// === impl Pooled ===

impl Pooled {
    /// Ties reuse to the end of the request body: `upload` completes when it has been
    /// sent in full. `None` (no check) when it needs none.
    pub fn set_upload(&mut self, upload: Option<tokio::sync::oneshot::Receiver<()>>) {
        self.upload = upload;
    }

    /// Returns the connection to the pool, unless it is closed, the pool is full, or
    /// the request body is still being sent. Call it once the response body has
    /// ended. Later calls do nothing. A connection not returned closes once the
    /// upstream has finished with it.
    pub fn release(&mut self) {
        let Some(sender) = self.sender.take() else {
            return;
        };
        let Some(inner) = self.pool.upgrade() else {
            return;
        };
        if sender.is_closed() {
            return;
        }
        if let Some(mut upload) = self.upload.take() {
            if upload.try_recv().is_err() {
                return;
            }
        }
        let mut idle = inner.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() >= inner.max_idle {
            return;
        }
        idle.push(Idle {
            sender,
            since: Instant::now(),
        });
    }
}
