//! The gateway's own routes under the reserved prefix (default `/.portcullis`).

mod forward_auth;
mod login;
mod logout;
mod revoke;
mod session;
pub(crate) mod sign_in;
mod userinfo;

use axum::routing::{any, get, post};
use axum::Router;

use crate::error::ApiError;
use crate::gateway::Gateway;

/// Builds the router of the gateway's own routes, nested under the configured prefix.
pub fn router(gateway: Gateway) -> Router {
    let prefix = gateway.config.server.prefix.clone();
    let routes = Router::new()
        .route("/login", post(login::login))
        .route("/challenge", post(login::challenge))
        .route("/verify", post(login::verify))
        .route("/revoke", post(revoke::revoke))
        .route("/logout", post(logout::logout))
        .route("/userinfo", get(userinfo::userinfo))
        .route("/session", get(session::session))
        .route("/signed_out", get(logout::signed_out))
        .route(
            "/sign_in",
            get(sign_in::page).post(sign_in::submit_password),
        )
        .route("/sign_in/channel", post(sign_in::submit_channel))
        .route("/sign_in/code", post(sign_in::submit_code))
        // Forward-auth callers send the original request's method.
        .route("/auth", any(forward_auth::forward_auth))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This route does not accept this method.",
            )
        })
        .with_state(gateway);
    Router::new().nest(&prefix, routes)
}
