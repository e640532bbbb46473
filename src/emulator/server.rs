//! The accept loop and the outer request layer: stats, injected faults, org rate
//! limits and the headers Okta puts on every response.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower::ServiceExt;

use super::errors::ApiError;
use super::hooks::ENDPOINTS;
use super::ratelimit;
use super::state::{random_token, FaultKind, Shared};

/// How long shutdown waits for open connections to finish.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// Returned by the service to make hyper close the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
pub struct DropConnection;

/// Accepts connections until `shutdown` fires, then drains them for at most [`DRAIN_GRACE`].
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    router: Router,
    mut shutdown: oneshot::Receiver<()>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(%err, "emulator failed to accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let shared = shared.clone();
                let router = router.clone();
                let service = hyper::service::service_fn(move |request| {
                    handle(shared.clone(), router.clone(), request)
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    // Errors here are client disconnects and injected drops.
                    let _ = connection.await;
                });
            }
        }
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN_GRACE) => {
            tracing::warn!(grace = ?DRAIN_GRACE, "emulator shutdown left connections open after the grace period");
        }
    }
}

/// Maps a path to its endpoint family (`token`, `discovery`, `apps`, `hooks`, …).
pub fn classify(path: &str) -> &'static str {
    if path.starts_with("/__emulator/") {
        return "hooks";
    }
    if path.contains("/.well-known/") || path.starts_with("/.well-known") {
        return "discovery";
    }
    if path.starts_with("/api/v1/apps") {
        return "apps";
    }
    if path.starts_with("/oauth2/") {
        if let Some((_, last)) = path.rsplit_once("/v1/") {
            if let Some(family) = ENDPOINTS.iter().find(|e| **e == last) {
                return family;
            }
        }
    }
    "other"
}

async fn handle(
    shared: Arc<Shared>,
    router: Router,
    request: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let family = classify(request.uri().path());

    let (fault, limit) = {
        let mut inner = shared.lock();
        if ENDPOINTS.contains(&family) {
            *inner.stats.entry(family.to_string()).or_insert(0) += 1;
        }
        let fault = inner
            .faults
            .iter_mut()
            .find(|f| f.endpoint == family && f.remaining > 0)
            .map(|f| {
                f.remaining -= 1;
                f.kind.clone()
            });
        inner.faults.retain(|f| f.remaining > 0);
        let limit = ratelimit::count(&mut inner, family, Instant::now());
        (fault, limit)
    };

    let mut response = match fault {
        Some(FaultKind::Drop) => return Err(DropConnection),
        Some(FaultKind::Status(status)) => fault_response(status),
        Some(FaultKind::Delay(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            route(router, request).await
        }
        None if limit.exceeded => ApiError::rate_limited().into_response(),
        None => route(router, request).await,
    };

    let headers = response.headers_mut();
    ratelimit::apply_headers(headers, limit);
    if let Ok(id) = HeaderValue::from_str(&random_token(24)) {
        headers.insert("x-okta-request-id", id);
    }
    Ok(response)
}

async fn route(router: Router, request: Request<Incoming>) -> Response<Body> {
    match router.oneshot(request.map(Body::new)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Builds the response of an injected error status, in Okta's management shape.
fn fault_response(status: u16) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (code, summary) = match status.as_u16() {
        429 => (
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        ),
        400..=499 => ("E0000001", "Api validation failed: injected fault"),
        _ => ("E0000009", "Internal Server Error"),
    };
    ApiError::new(status, code, summary).into_response()
}
