//! The response body of the public listener: streamed from the upstream, or produced
//! by the gateway itself.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

pin_project_lite::pin_project! {
    /// Either an upstream body, passed through frame by frame without buffering, or a
    /// body built by the gateway (errors, its own routes). An enum rather than a boxed
    /// body, so forwarding allocates nothing for the body.
    #[project = GatewayBodyProjection]
    pub enum GatewayBody {
        Upstream { #[pin] body: Incoming },
        Local { #[pin] body: axum::body::Body },
    }
}

impl GatewayBody {
    pub fn upstream(body: Incoming) -> Self {
        GatewayBody::Upstream { body }
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
            GatewayBodyProjection::Upstream { body } => {
                body.poll_frame(cx).map_err(axum::Error::new)
            }
            GatewayBodyProjection::Local { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GatewayBody::Upstream { body } => body.is_end_stream(),
            GatewayBody::Local { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GatewayBody::Upstream { body } => body.size_hint(),
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
