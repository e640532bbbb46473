//! Building the gateway from its configuration, serving it, and draining it on shutdown.
//!
//! The public listener runs a plain hyper service rather than an axum router: paths
//! under the gateway prefix go to [`crate::routes::router`], and every other request is
//! authenticated and forwarded directly, so the hot path pays for no routing table.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::response::IntoResponse;
use axum::routing::get;
use http::{header, HeaderValue, Method, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::auth::{AuthError, Authenticator};
use crate::config::{Config, LoadedConfig};
use crate::error::{ApiError, RequestId, REQUEST_ID};
use crate::gateway::Gateway;
use crate::login::Login;
use crate::metrics::Metrics;
use crate::okta::OktaClient;
use crate::proxy::headers::{request_id, X_REQUEST_ID};
use crate::proxy::{GatewayBody, Upstream};
use crate::secret::Secret;
use crate::session::{MemorySessionStore, SessionStore};

/// A running gateway: its public and admin addresses, its shared state, and the
/// handles that stop it.
pub struct RunningGateway {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub gateway: Gateway,
    /// Cancelled to stop accepting and ask open connections to close once idle.
    stop: CancellationToken,
    /// Cancelled when the grace period is over, to drop connections still open.
    force: CancellationToken,
    /// Every accept loop and connection task owns a clone of this sender, so the
    /// receiver returns `None` once all of them have ended.
    alive: tokio::sync::mpsc::Sender<()>,
    ended: tokio::sync::mpsc::Receiver<()>,
    grace: Duration,
}

/// State shared by every connection of the public listener.
struct PublicState {
    gateway: Gateway,
    router: axum::Router,
    prefix: Box<str>,
}

// === impl RunningGateway ===

impl RunningGateway {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// Stops accepting connections, lets in-flight requests finish within
    /// `server.shutdown_grace`, then drops whatever is left. Returns `true` when every
    /// connection finished in time.
    pub async fn shutdown(self) -> bool {
        let RunningGateway {
            stop,
            force,
            alive,
            mut ended,
            grace,
            gateway,
            ..
        } = self;
        stop.cancel();
        drop(alive);
        let tunnels = gateway.upstream.tunnels();
        let drain = async {
            ended.recv().await;
            tunnels.wait_closed().await;
        };
        let drained = tokio::time::timeout(grace, drain).await.is_ok();
        if drained {
            tracing::info!("all connections drained");
        } else {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                upgraded = tunnels.open(),
                "connections still open after the shutdown grace period; closing them"
            );
            force.cancel();
            tunnels.close_all();
            // Connection tasks end as soon as they see the cancellation.
            let _ = tokio::time::timeout(Duration::from_secs(1), ended.recv()).await;
        }
        drained
    }
}

impl Gateway {
    /// Builds the shared state. `client_secret` is the resolved client secret.
    pub fn build(config: Config, client_secret: Option<Secret<String>>) -> anyhow::Result<Gateway> {
        let metrics = Metrics::new();
        let okta = OktaClient::new(&config.okta, client_secret, metrics.clone())
            .context("failed to build the HTTP client for Okta")?;
        let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(&config.session));
        let (auth, sessions) = Authenticator::new(&config, okta.clone(), store, metrics.clone());
        let upstream = Arc::new(Upstream::new(&config)?);
        let login = Arc::new(Login::new(&config));
        Ok(Gateway {
            login,
            config: Arc::new(config),
            okta,
            metrics,
            sessions,
            auth,
            upstream,
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

    let stop = CancellationToken::new();
    let force = CancellationToken::new();
    let (alive, ended) = tokio::sync::mpsc::channel(1);
    let server = &gateway.config.server;

    let router =
        crate::routes::router(gateway.clone()).layer(DefaultBodyLimit::max(server.max_body_bytes));
    let state = Arc::new(PublicState {
        router,
        prefix: server.prefix.trim_end_matches('/').into(),
        gateway: gateway.clone(),
    });
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout)
        .keep_alive(true);
    let grace = server.shutdown_grace;

    tokio::spawn(keep_timer_due(stop.clone()));
    tokio::spawn(accept_public(
        listener,
        state,
        http1,
        stop.clone(),
        force.clone(),
        alive.clone(),
    ));

    let admin_app = admin_router(gateway.clone());
    let admin_stop = stop.clone();
    let admin_alive = alive.clone();
    tokio::spawn(async move {
        let _alive = admin_alive;
        let serve = axum::serve(admin, admin_app)
            .with_graceful_shutdown(async move { admin_stop.cancelled().await });
        if let Err(error) = serve.await {
            tracing::error!(%error, "admin listener stopped");
        }
    });

    Ok(RunningGateway {
        addr,
        admin_addr,
        gateway,
        stop,
        force,
        alive,
        ended,
        grace,
    })
}

/// Keeps a timer due within a second pending until `stop` is cancelled.
///
/// tokio wakes its event loop with an eventfd `write` whenever a new timer is due sooner
/// than every pending one. hyper arms such a timer, the header read timeout, after each
/// response, so the tick saves one `write` per request for one wake-up per second.
async fn keep_timer_due(stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
    }
}

/// Binds the configured listeners, serves until SIGTERM or SIGINT, drains, and returns.
/// `loaded` is the output of [`Config::load`], which resolves the client secret.
pub async fn serve(loaded: LoadedConfig) -> anyhow::Result<()> {
    let LoadedConfig {
        config,
        client_secret,
    } = loaded;
    let listen = config.server.listen;
    let admin_listen = config.server.admin_listen;
    let gateway = Gateway::build(config, client_secret)?;

    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("failed to bind server.listen {listen}"))?;
    let admin = TcpListener::bind(admin_listen)
        .await
        .with_context(|| format!("failed to bind server.admin_listen {admin_listen}"))?;
    let running = start(gateway, listener, admin).await?;
    tracing::info!(addr = %running.addr, admin_addr = %running.admin_addr, "portcullis is serving");

    crate::shutdown::signal().await;
    tracing::info!("shutting down: no new connections; draining in-flight requests");
    running.shutdown().await;
    Ok(())
}

async fn accept_public(
    listener: TcpListener,
    state: Arc<PublicState>,
    http1: hyper::server::conn::http1::Builder,
    stop: CancellationToken,
    force: CancellationToken,
    alive: tokio::sync::mpsc::Sender<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let connection = serve_connection(
                    stream,
                    peer,
                    state.clone(),
                    http1.clone(),
                    stop.clone(),
                    force.clone(),
                );
                let alive = alive.clone();
                tokio::spawn(async move {
                    connection.await;
                    drop(alive);
                });
            }
            Err(error) => {
                // Usually out of file descriptors; back off instead of spinning.
                tracing::warn!(%error, "failed to accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    tracing::debug!("public listener closed");
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<PublicState>,
    http1: hyper::server::conn::http1::Builder,
    stop: CancellationToken,
    force: CancellationToken,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "failed to set TCP_NODELAY");
    }
    let service = hyper::service::service_fn(move |request| handle(state.clone(), peer, request));
    let connection = http1
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);

    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.cancelled() => {
            // Finish the request in flight, then close; idle connections close now.
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                result = connection.as_mut() => result,
                _ = force.cancelled() => return,
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, %peer, "connection ended with an error");
    }
}

/// Serves one request: sets the request id for its whole lifetime, dispatches it, and
/// records its metrics.
async fn handle(
    state: Arc<PublicState>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<GatewayBody>, Infallible> {
    let started = Instant::now();
    let id = request_id(request.headers());
    // The access log is at debug level; the path (never the query) is copied only then.
    let access_log = tracing::enabled!(tracing::Level::DEBUG)
        .then(|| (request.method().clone(), request.uri().path().to_owned()));

    let (route, mut response) = REQUEST_ID
        .scope(RequestId(id.clone()), dispatch(&state, peer, request, &id))
        .await;

    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Some((method, path)) = access_log {
        tracing::debug!(
            request_id = id.to_str().unwrap_or("-"),
            %method,
            path,
            route,
            status,
            elapsed_us = elapsed.as_micros() as u64,
            %peer,
            "request served"
        );
    }
    response.headers_mut().insert(X_REQUEST_ID.clone(), id);
    state.gateway.metrics.request(route, status, elapsed);
    Ok(response)
}

async fn dispatch(
    state: &PublicState,
    peer: SocketAddr,
    mut request: Request<Incoming>,
    id: &HeaderValue,
) -> (&'static str, Response<GatewayBody>) {
    if let Some(rest) = gateway_route(request.uri().path(), &state.prefix) {
        let route = route_class(rest);
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = match state.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(infallible) => match infallible {},
        };
        return (route, response.map(GatewayBody::local));
    }

    let gateway = &state.gateway;
    let response = match gateway.auth.authenticate(request.headers()).await {
        Ok(auth) => gateway.upstream.forward(request, &auth, peer, id).await,
        Err(AuthError::Missing | AuthError::Invalid) if is_browser_navigation(&request) => {
            sign_in_redirect(&state.prefix, request.uri())
        }
        Err(error) => error
            .into_api_error()
            .into_response()
            .map(GatewayBody::local),
    };
    ("forward", response)
}

/// Returns the path below the gateway prefix when `path` is a gateway route: the
/// prefix itself or the prefix followed by `/`. `/.portcullisx` is not one.
pub fn gateway_route<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Names the route class of a gateway path for metrics; never the raw path.
pub fn route_class(rest: &str) -> &'static str {
    let first = rest
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    match first {
        "login" | "challenge" | "verify" => "login",
        "sign_in" => "sign_in",
        "revoke" => "revoke",
        "logout" => "logout",
        "signed_out" => "signed_out",
        "userinfo" => "userinfo",
        "session" => "session",
        "auth" => "forward_auth",
        _ => "gateway_other",
    }
}

/// Returns true for a top-level browser page load: `GET` or `HEAD` accepting HTML.
pub fn is_browser_navigation<B>(request: &Request<B>) -> bool {
    (request.method() == Method::GET || request.method() == Method::HEAD)
        && request
            .headers()
            .get_all(header::ACCEPT)
            .iter()
            .any(|value| contains_ignore_case(value.as_bytes(), b"text/html"))
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// Returns the same-origin path to come back to after sign-in: the request's path and
/// query, or `/` when the path could be read as another origin (`//host`, `/\host`).
pub fn return_path(uri: &Uri) -> &str {
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    if !target.starts_with('/') || target.starts_with("//") || target.starts_with("/\\") {
        "/"
    } else {
        target
    }
}

fn sign_in_redirect(prefix: &str, uri: &Uri) -> Response<GatewayBody> {
    let location = crate::routes::sign_in::sign_in_href(prefix, return_path(uri));
    let mut response = Response::new(GatewayBody::empty());
    *response.status_mut() = StatusCode::FOUND;
    match HeaderValue::from_str(&location) {
        Ok(location) => {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Err(_) => {
            return ApiError::unauthenticated()
                .into_response()
                .map(GatewayBody::local)
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// === admin listener ===

fn admin_router(gateway: Gateway) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(gateway)
}

/// Ready once discovery has loaded; a probe retries discovery when it has not.
async fn readyz(State(gateway): State<Gateway>) -> Response<axum::body::Body> {
    let loaded = gateway.okta.endpoints().is_some()
        || matches!(
            tokio::time::timeout(Duration::from_secs(2), gateway.okta.discover()).await,
            Ok(Ok(_))
        );
    if loaded {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: Okta discovery has not loaded\n",
        )
            .into_response()
    }
}

async fn metrics(State(gateway): State<Gateway>) -> Response<axum::body::Body> {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        gateway.metrics.encode(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn timer_keeper_ends_on_stop() {
        let stop = CancellationToken::new();
        let keeper = tokio::spawn(keep_timer_due(stop.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !keeper.is_finished(),
            "the timer keeper ended before the stop"
        );

        stop.cancel();
        tokio::time::timeout(Duration::from_secs(2), keeper)
            .await
            .expect("the timer keeper did not end within 2 s of the stop")
            .expect("the timer keeper panicked");
    }

    #[test]
    fn gateway_route_needs_prefix_boundary() {
        assert_eq!(
            gateway_route("/.portcullis/login", "/.portcullis"),
            Some("/login")
        );
        assert_eq!(gateway_route("/.portcullis", "/.portcullis"), Some(""));
        assert_eq!(gateway_route("/.portcullisx/login", "/.portcullis"), None);
        assert_eq!(gateway_route("/app", "/.portcullis"), None);
    }

    #[test]
    fn route_class_never_returns_raw_paths() {
        assert_eq!(route_class("/verify"), "login");
        assert_eq!(route_class("/sign_in/code"), "sign_in");
        assert_eq!(route_class("/auth"), "forward_auth");
        assert_eq!(route_class("/../etc/passwd"), "gateway_other");
    }

    #[test]
    fn return_path_rejects_other_origins() {
        assert_eq!(return_path(&"/a/b?c=d".parse().unwrap()), "/a/b?c=d");
        assert_eq!(return_path(&"//evil.example/x".parse().unwrap()), "/");
    }

    #[test]
    fn browser_navigation_needs_get_and_html() {
        let request = Request::get("/")
            .header("accept", "text/html,application/xhtml+xml")
            .body(())
            .unwrap();
        assert!(is_browser_navigation(&request));
        let request = Request::post("/")
            .header("accept", "text/html")
            .body(())
            .unwrap();
        assert!(!is_browser_navigation(&request));
        let request = Request::get("/")
            .header("accept", "application/json")
            .body(())
            .unwrap();
        assert!(!is_browser_navigation(&request));
    }
}
