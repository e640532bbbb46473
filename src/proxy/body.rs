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
