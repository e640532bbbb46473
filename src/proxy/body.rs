//! The response body of the public listener: streamed from the upstream, or produced
//! by the gateway itself.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::pool::Pooled;

pin_project_lite::pin_project! {
    /// Either an upstream body, passed through frame by frame without buffering, or a
    /// body built by the gateway (errors, its own routes). An enum rather than a boxed
    /// body, so forwarding allocates nothing for the body.
    ///
    /// An upstream body carries its connection's checkout and returns the connection
    /// to the pool as soon as the body has ended.
    #[project = GatewayBodyProjection]
    pub enum GatewayBody {
        Upstream { #[pin] body: Incoming, connection: Pooled },
        Local { #[pin] body: axum::body::Body },
    }
}

impl GatewayBody {
    /// Wraps an upstream body. An already complete body (`204`, `Content-Length: 0`,
    /// a `HEAD` response) releases the connection at once, because the server may
    /// never poll it.
    pub fn upstream(body: Incoming, mut connection: Pooled) -> Self {
        if body.is_end_stream() {
            connection.release();
        }
        GatewayBody::Upstream { body, connection }
    }

    pub fn local(body: axum::body::Body) -> Self {
        GatewayBody::Local { body }
    }

    pub fn empty() -> Self {
        Self::local(axum::body::Body::empty())
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project() {
            GatewayBodyProjection::Upstream {
                mut body,
                connection,
            } => {
                let frame = body.as_mut().poll_frame(cx);
                // hyper's server stops polling once `is_end_stream` is true, so the
                // end is checked after each frame, not only at `Ready(None)`.
                if matches!(frame, Poll::Ready(None))
                    || (matches!(frame, Poll::Ready(Some(Ok(_)))) && body.is_end_stream())
                {
                    connection.release();
                }
                frame.map_err(axum::Error::new)
            }
            GatewayBodyProjection::Local { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GatewayBody::Upstream { body, .. } => body.is_end_stream(),
            GatewayBody::Local { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GatewayBody::Upstream { body, .. } => body.size_hint(),
            GatewayBody::Local { body } => body.size_hint(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request body on its way upstream that reports when it has been sent in full,
    /// so the response timeout can start then instead of while a large upload runs.
    pub struct RequestBody {
        #[pin]
        body: Incoming,
        sent: Option<tokio::sync::oneshot::Sender<()>>,
    }
}

impl RequestBody {
    /// Wraps a body. The receiver completes once the body has ended, failed or been
    /// dropped. It is `None` for a body that is already complete, like a `GET`'s.
    pub fn new(body: Incoming) -> (RequestBody, Option<tokio::sync::oneshot::Receiver<()>>) {
        if body.is_end_stream() {
            return (RequestBody { body, sent: None }, None);
        }
        let (sent, receiver) = tokio::sync::oneshot::channel();
        (
            RequestBody {
                body,
                sent: Some(sent),
            },
            Some(receiver),
        )
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let frame = this.body.poll_frame(cx);
        if matches!(frame, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            if let Some(sent) = this.sent.take() {
                let _ = sent.send(());
            }
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
