//! An Okta-compatible identity provider for tests and the demo. It is a test double,
//! not an identity provider: users, codes and keys live in memory, and it logs the
//! one-time codes it "sends".
//!
//! It serves the Direct Authentication flow with phone MFA on the wire as Okta does.
//! The endpoints are `/v1/token` (password, mfa-oob and refresh_token grants),
//! `/v1/challenge`, `/v1/introspect`, `/v1/revoke`, `/v1/userinfo`, `/v1/logout`,
//! `/v1/keys` and the discovery documents. Each exists for custom authorization
//! servers (`/oauth2/{id}/v1/…`) and the org server (`/oauth2/v1/…`). The management
//! API `GET`/`PUT /api/v1/apps/{appId}` and the test hooks under `/__emulator/` complete it.
//!
//! # Deliberate deviations from Okta
//!
//! - The demo client `portcullis-demo` accepts both `client_secret_basic` and
//!   `client_secret_post`. Okta accepts only the app's configured method; the
//!   leniency lets any gateway configuration work against the demo. Other clients
//!   accept only the methods listed for them.
//! - `grant_types_supported` in discovery lists only the grants the emulator
//!   implements (`password`, the mfa-oob grant, `refresh_token`); Okta's examples
//!   list other grants and never show the direct-auth ones.
//! - Only SMS and voice are implemented. `channel_hint=push` is answered like an
//!   unknown channel (400 `invalid_request`), and a `challenge_types_supported` of
//!   only mfa-otp gets 403 `access_denied`, because no user has an OTP factor.
//! - A locked-out or suspended user gets the same 400 `invalid_grant` as a wrong
//!   password. Okta's answer for these users is not documented.
//! - A wrong `binding_code` is 400 `invalid_grant` (`direct_auth_invalid_otp`), the
//!   nearest catalogued answer; the exact Okta answer is not documented. A wrong
//!   code does not consume the `oob_code`; the per-user limit of 5 wrong codes per
//!   5 minutes (429) bounds guessing.
//! - Re-calling `/challenge` with the same `mfa_token` issues a fresh `oob_code` and
//!   expires the earlier one. Whether Okta reuses the old code is not documented.
//! - A refresh `scope` that is not a subset gets 400 `access_denied`
//!   (`refresh_scopes_denied`, from Okta's error catalogue).
//! - `/v1/revoke` takes a form body only; Okta's OpenAPI declares JSON, which its
//!   guides contradict.
//! - `/v1/logout` without `post_logout_redirect_uri` redirects to the emulator's
//!   root, where Okta would show its sign-in page.
//! - The ID token carries `groups` when the user has groups, without a groups claim
//!   having to be configured on the server.
//! - The management API accepts only an `SSWS` API token (no OAuth bearer tokens)
//!   and changes only grant types, post-logout redirect URIs, refresh rotation,
//!   the label and the client authentication method.
//! - `POST /api/v1/apps/{appId}` and other methods get 405 `E0000022`.
//! - The JWKS has one key and never rotates.
//! - Client assertions (`client_secret_jwt`, `private_key_jwt`) are not implemented:
//!   a `client_assertion` gets 401 `invalid_client`, and discovery lists only
//!   `client_secret_basic`, `client_secret_post` and `none`.
//! - Discovery advertises `/v1/authorize` as Okta does, but the emulator serves no
//!   browser flows: `/v1/authorize` is a 404 and `OPTIONS` (CORS preflight) a 405.
//! - Within the rotation leeway every reuse of the old refresh token mints another
//!   new one. After the leeway, reuse revokes the whole grant, as Okta's reuse
//!   detection does. What Okta returns inside the leeway is not documented.
//! - Credentials in both the header and the body get 400 `invalid_request`, as in
//!   the OpenAPI examples. The error catalogue lists `multiple_client_credentials`
//!   as 401, so a live Okta may use either status.
//! - The OpenAPI spec lists the expired-token example under both 400 and 403 and
//!   the bad challenge type under 403; the emulator follows Okta's error catalogue
//!   (403 for an expired token, 400 for a bad challenge type).

mod challenge;
mod cli;
mod config;
mod discovery;
mod errors;
mod hooks;
mod introspect;
mod keys;
mod logout;
mod management;
mod ratelimit;
mod request;
mod server;
mod state;
mod token;
mod userinfo;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Response;
use axum::routing::{any, get, post};
use axum::Router;
use percent_encoding::percent_decode_str;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

pub use cli::{run, EmulatorArgs};
pub use config::{
    AuthMethod, Channel, ClientConfig, ConfigError, EmulatorConfig, RotationType, Settings,
    UserConfig, UserStatus, GRANT_MFA_OOB, GRANT_MFA_OOB_URN,
};

use discovery::Document;
use errors::ApiError;
use state::{Server, Shared};

/// One SMS or voice message the emulator "sent".
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutboxMessage {
    /// E.164 phone number.
    pub to: String,
    /// `sms` or `voice`.
    pub channel: String,
    /// The six-digit code.
    pub code: String,
    /// RFC 3339 time of sending.
    pub sent_at: String,
}

/// Entry point: starts an emulator on a bound listener.
pub struct Emulator;

/// A running emulator; [`RunningEmulator::shutdown`] stops it.
pub struct RunningEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The OAuth endpoints under `/oauth2/…/v1/`.
#[derive(Clone, Copy)]
enum Endpoint {
    Token,
    Challenge,
    Introspect,
    Revoke,
    Userinfo,
    Logout,
    Keys,
    Metadata(Document),
}

// === impl Emulator ===

impl Emulator {
    /// Serves on an already-bound listener (tests bind `127.0.0.1:0`).
    pub async fn start(
        listener: tokio::net::TcpListener,
        config: EmulatorConfig,
    ) -> std::io::Result<RunningEmulator> {
        let addr = listener.local_addr()?;
        let key = tokio::task::spawn_blocking(keys::SigningKey::generate)
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
        let base_url = format!("http://{addr}");
        let shared = Arc::new(Shared::new(key, base_url, config));
        let router = router(shared.clone());
        let (shutdown, shutdown_rx) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, shared.clone(), router, shutdown_rx));
        tracing::info!(%addr, "emulator listening");
        Ok(RunningEmulator {
            addr,
            shared,
            shutdown,
            task,
        })
    }
}

// === impl RunningEmulator ===

impl RunningEmulator {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Issuer of the `default` custom authorization server.
    pub fn issuer(&self) -> String {
        format!("{}/oauth2/default", self.shared.base_url)
    }

    /// Receives every message put into the outbox from now on.
    pub fn subscribe_outbox(&self) -> broadcast::Receiver<OutboxMessage> {
        self.shared.outbox_tx.subscribe()
    }

    /// Stops accepting connections and waits for open ones to finish.
    pub async fn shutdown(self) {
        // The serve task may already be gone; then there is nothing to stop.
        let _ = self.shutdown.send(());
        if let Err(err) = self.task.await {
            tracing::warn!(%err, "emulator serve task failed");
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let oauth = |endpoint: Endpoint| {
        move |State(shared): State<Arc<Shared>>, request: Request| {
            oauth_route(shared, endpoint, request)
        }
    };
    let openid = Endpoint::Metadata(Document::OpenId);
    let oauth_meta = Endpoint::Metadata(Document::OAuth);
    let mut router = Router::new();
    for prefix in ["/oauth2/{server_id}/v1", "/oauth2/v1"] {
        router = router
            .route(&format!("{prefix}/token"), post(oauth(Endpoint::Token)))
            .route(
                &format!("{prefix}/challenge"),
                post(oauth(Endpoint::Challenge)),
            )
            .route(
                &format!("{prefix}/introspect"),
                post(oauth(Endpoint::Introspect)),
            )
            .route(&format!("{prefix}/revoke"), post(oauth(Endpoint::Revoke)))
            .route(
                &format!("{prefix}/userinfo"),
                get(oauth(Endpoint::Userinfo)).post(oauth(Endpoint::Userinfo)),
            )
            .route(
                &format!("{prefix}/logout"),
                get(oauth(Endpoint::Logout)).post(oauth(Endpoint::Logout)),
            )
            .route(&format!("{prefix}/keys"), get(oauth(Endpoint::Keys)));
    }
    router
        .route(
            "/oauth2/{server_id}/.well-known/openid-configuration",
            get(oauth(openid)),
        )
        .route(
            "/oauth2/{server_id}/.well-known/oauth-authorization-server",
            get(oauth(oauth_meta)),
        )
        .route(
            "/.well-known/oauth-authorization-server/oauth2/{server_id}",
            get(oauth(oauth_meta)),
        )
        .route("/.well-known/openid-configuration", get(oauth(openid)))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth(oauth_meta)),
        )
        .route("/api/v1/apps/{app_id}", any(apps_route))
        .route(
            "/__emulator/outbox",
            get(|State(s): State<Arc<Shared>>, r: Request| hooks::outbox(s, r)),
        )
        .route(
            "/__emulator/stats",
            get(|State(s): State<Arc<Shared>>| hooks::stats(s)),
        )
        .route(
            "/__emulator/faults",
            post(|State(s): State<Arc<Shared>>, r: Request| hooks::faults(s, r))
                .delete(|State(s): State<Arc<Shared>>, r: Request| hooks::faults(s, r)),
        )
        .route(
            "/__emulator/reset",
            post(|State(s): State<Arc<Shared>>| hooks::reset(s)),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed().into_response() })
        .with_state(shared)
}

/// Reads the authorization server from the path: `/oauth2/{id}/…` and the RFC 8414
/// form `/.well-known/oauth-authorization-server/oauth2/{id}` name a custom server.
fn server_from_path(path: &str) -> Server {
    let custom = path
        .strip_prefix("/.well-known/oauth-authorization-server/oauth2/")
        .or_else(|| path.strip_prefix("/oauth2/"))
        .and_then(|rest| rest.split('/').next())
        .filter(|id| *id != "v1");
    match custom {
        Some(id) => Server::Custom(percent_decode_str(id).decode_utf8_lossy().into_owned()),
        None => Server::Org,
    }
}

async fn oauth_route(shared: Arc<Shared>, endpoint: Endpoint, request: Request) -> Response<Body> {
    let server = server_from_path(request.uri().path());
    if !shared.lock().knows_server(&server) {
        let id = match &server {
            Server::Custom(id) => id.clone(),
            Server::Org => String::new(),
        };
        return ApiError::not_found(&format!("{id} (AuthorizationServer)")).into_response();
    }
    match endpoint {
        Endpoint::Token => token::handle(shared, server, request).await,
        Endpoint::Challenge => challenge::handle(shared, server, request).await,
        Endpoint::Introspect => introspect::introspect(shared, server, request).await,
        Endpoint::Revoke => introspect::revoke(shared, server, request).await,
        Endpoint::Userinfo => userinfo::handle(shared, server, request).await,
        Endpoint::Logout => logout::handle(shared, server, request).await,
        Endpoint::Keys => discovery::keys(shared).await,
        Endpoint::Metadata(document) => discovery::handle(shared, server, document, request).await,
    }
}

async fn apps_route(State(shared): State<Arc<Shared>>, request: Request) -> Response<Body> {
    let app_id = request
        .uri()
        .path()
        .rsplit('/')
        .next()
        .map(|id| percent_decode_str(id).decode_utf8_lossy().into_owned())
        .unwrap_or_default();
    management::handle(shared, app_id, request).await
}

async fn not_found(request: Request) -> Response<Body> {
    ApiError::not_found(&format!("{} ({})", request.uri().path(), request.method())).into_response()
}
