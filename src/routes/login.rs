//! `POST /login`, `POST /challenge` and `POST /verify`: the password + phone MFA flow.
//!
//! The handlers parse the JSON body, call the flow in [`crate::login`] and shape its
//! responses. Every response carries `Cache-Control: no-store` because some carry tokens.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::client_ip::ClientIp;
use crate::error::{ApiError, RequestId};
use crate::extract::{JsonBody, JsonShape};
use crate::gateway::Gateway;
use crate::login::{self, LoginError, LoginOutcome, NewSession};
use crate::okta::Channel;
use crate::secret::Secret;

#[derive(Deserialize)]
pub struct LoginRequest {
    username: String,
    password: Secret<String>,
}

impl JsonShape for LoginRequest {
    const SHAPE: &'static str = r#"{"username": string, "password": string}"#;
}

#[derive(Deserialize)]
pub struct ChallengeRequest {
    transaction_id: String,
    channel: String,
}

impl JsonShape for ChallengeRequest {
    const SHAPE: &'static str = r#"{"transaction_id": string, "channel": "sms" | "voice"}"#;
}

#[derive(Deserialize)]
pub struct VerifyRequest {
    transaction_id: String,
    code: Secret<String>,
}

impl JsonShape for VerifyRequest {
    const SHAPE: &'static str = r#"{"transaction_id": string, "code": string}"#;
}

#[tracing::instrument(name = "login", skip_all, fields(client = %ip))]
pub async fn login(
    State(gateway): State<Gateway>,
    ClientIp(ip): ClientIp,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Response {
    match login::start(&gateway, ip, &request.username, &request.password).await {
        Ok(LoginOutcome::MfaRequired {
            transaction_id,
            channels,
            expires_in,
        }) => no_store(Json(json!({
            "state": "mfa_required",
            "transaction_id": transaction_id.expose(),
            "channels": channels,
            "expires_in": expires_in,
        }))),
        Ok(LoginOutcome::Authenticated(session)) => authenticated(&gateway, session),
        Err(error) => rejected(error),
    }
}

#[tracing::instrument(name = "challenge", skip_all, fields(client = %ip))]
pub async fn challenge(
    State(gateway): State<Gateway>,
    ClientIp(ip): ClientIp,
    JsonBody(request): JsonBody<ChallengeRequest>,
) -> Response {
    let Some(channel) = Channel::from_name(&request.channel) else {
        return rejected(LoginError::InvalidInput(
            "channel must be \"sms\" or \"voice\"",
        ));
    };
    match login::challenge(&gateway, ip, &request.transaction_id, channel).await {
        Ok(sent) => no_store(Json(json!({
            "state": "challenge_sent",
            "channel": sent.channel,
            "expires_in": sent.expires_in,
        }))),
        Err(error) => rejected(error),
    }
}

#[tracing::instrument(name = "verify", skip_all, fields(client = %ip))]
pub async fn verify(
    State(gateway): State<Gateway>,
    ClientIp(ip): ClientIp,
    JsonBody(request): JsonBody<VerifyRequest>,
) -> Response {
    match login::verify(&gateway, ip, &request.transaction_id, request.code).await {
        Ok(session) => authenticated(&gateway, session),
        Err(error) => rejected(error),
    }
}

/// Builds the response for a new session: the token body and the session cookie.
fn authenticated(gateway: &Gateway, session: NewSession) -> Response {
    let cookie = session_cookie(gateway, &session.session_id);
    let mut response = no_store(Json(json!({
        "state": "authenticated",
        "access_token": session.access_token.expose(),
        "token_type": "Bearer",
        "expires_in": session.expires_in,
        "scope": session.scope,
    })));
    match HeaderValue::from_str(&cookie) {
        Ok(value) => {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        Err(_) => {
            // The cookie name is validated at startup and the id is base64url, so this
            // cannot happen. Return an error rather than a session without a cookie.
            tracing::error!("failed to build the session cookie header");
            return ApiError::internal().into_response();
        }
    }
    response
}

/// Builds `Set-Cookie` for a session: `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure`
/// unless the configuration serves plain HTTP on loopback.
pub fn session_cookie(gateway: &Gateway, session_id: &Secret<String>) -> String {
    let config = &gateway.config;
    let mut cookie = format!(
        "{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
        config.session.cookie_name,
        session_id.expose(),
        config.session.lifetime.as_secs()
    );
    if config.cookie_secure() {
        cookie.push_str("; Secure");
    }
    cookie
}

fn rejected(error: LoginError) -> Response {
    let api_error = ApiError::from(error);
    log_rejection(&api_error);
    api_error.into_response()
}

/// Logs a rejected login step by status and error code only, never by input.
pub(super) fn log_rejection(api_error: &ApiError) {
    let request_id = RequestId::current();
    let request_id = request_id.as_ref().map_or("-", RequestId::as_str);
    if api_error.status.is_server_error() {
        tracing::warn!(
            status = api_error.status.as_u16(),
            error = api_error.code,
            request_id,
            "login step failed"
        );
    } else {
        tracing::info!(
            status = api_error.status.as_u16(),
            error = api_error.code,
            request_id,
            "login step rejected"
        );
    }
}

fn no_store(body: impl IntoResponse) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
