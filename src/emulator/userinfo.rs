//! `GET /v1/userinfo`: the claims of the access token's user, by granted scope.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};

use super::errors::{json_response, OAuthError};
use super::state::{Server, Shared};
use super::token::scope_claims;

/// Serves `/v1/userinfo`.
pub async fn handle(shared: Arc<Shared>, server: Server, request: Request) -> Response<Body> {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    let Some(token) = token else {
        return challenge_response(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The access token is missing.",
        );
    };

    let inner = shared.lock();
    let now = Instant::now();
    let record = inner
        .access
        .get(&token)
        .filter(|r| !r.revoked && r.expires_at > now && r.server == server);
    let Some(record) = record else {
        return challenge_response(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The access token is invalid.",
        );
    };
    // Okta needs `openid` and at least one claim scope; `openid` alone gets a 403.
    let has = |scope: &str| record.scopes.iter().any(|s| s == scope);
    let claim_scope = ["profile", "email", "address", "phone"]
        .iter()
        .any(|scope| has(scope));
    if !has("openid") || !claim_scope {
        return challenge_response(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "The access token must provide access to at least one of these scopes - profile, email, address or phone",
        );
    }
    let Some(user) = inner.user(&record.username) else {
        return challenge_response(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The access token is invalid.",
        );
    };

    let mut claims: Value = json!({ "sub": user.id });
    scope_claims(&mut claims, user, &record.scopes);
    json_response(StatusCode::OK, &claims)
}

/// Builds a 401 or 403 with the RFC 6750 `WWW-Authenticate` header and an OAuth-shaped body.
fn challenge_response(
    status: StatusCode,
    error: &'static str,
    description: &str,
) -> Response<Body> {
    let mut response = OAuthError::new(status, error, description).into_response();
    let value = format!("Bearer error=\"{error}\", error_description=\"{description}\"");
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
