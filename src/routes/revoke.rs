//! `POST /revoke`: revokes a token at Okta and evicts it from every cache.
//!
//! The body may name the token as `{"token","token_type_hint"}`, in JSON or as a form.
//! Without one, the caller's own credential is revoked. That is its bearer token, or
//! its whole session (refresh and access tokens) for a session cookie.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, StatusCode};
use serde::Deserialize;

use crate::auth::{extract_credential, Credential};
use crate::config::Config;
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::okta::OktaError;
use crate::secret::{hash_token, Secret};

/// The body of a revocation request (RFC 7009 member names).
#[derive(Debug, Default, Deserialize)]
pub struct RevokeRequest {
    #[serde(default)]
    pub token: Option<Secret<String>>,
    #[serde(default)]
    pub token_type_hint: Option<String>,
}

pub async fn revoke(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = parse_body(&headers, &body)?;
    let hint = match request.token_type_hint.as_deref() {
        None | Some("") => None,
        Some(hint @ ("access_token" | "refresh_token")) => Some(hint),
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_token_type",
                "token_type_hint must be access_token or refresh_token.",
            ))
        }
    };

    let auth = &gateway.auth;
    if let Some(token) = request.token.filter(|token| !token.is_empty()) {
        let ended_session = auth.revoke(&token, hint).await.map_err(revocation_error)?;
        return Ok(revoked(ended_session, None));
    }

    match extract_credential(&headers, auth.cookie_name()) {
        None => Err(ApiError::unauthenticated()),
        Some(Credential::Bearer(token)) => {
            let token = Secret::new(token.to_owned());
            let ended_session = auth
                .revoke(&token, Some("access_token"))
                .await
                .map_err(revocation_error)?;
            Ok(revoked(ended_session, None))
        }
        Some(Credential::Session(cookie)) => match auth.end_session(hash_token(cookie)).await {
            Some((_, Some(error))) => Err(revocation_error(error)),
            Some((_, None)) => Ok(revoked(true, Some(&gateway.config))),
            None => Err(ApiError::invalid_token()),
        },
    }
}

/// Reads a JSON or form body; an empty body names no token.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<RevokeRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(RevokeRequest::default());
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        serde_urlencoded::from_bytes(body).map_err(|_| {
            ApiError::bad_request("The form body is invalid; expected token and token_type_hint.")
        })
    } else {
        serde_json::from_slice(body).map_err(|_| {
            ApiError::bad_request(
                "The body is not valid JSON; expected {\"token\",\"token_type_hint\"}.",
            )
        })
    }
}

/// Builds the response to a revocation. `ended_session` is true when a session held the
/// token, and `caller_session` carries the configuration when that session was the caller's
/// own, so its cookie is cleared.
fn revoked(ended_session: bool, caller_session: Option<&Config>) -> Response {
    let mut response = axum::Json(serde_json::json!({
        "revoked": true,
        "session_ended": ended_session,
    }))
    .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    if let Some(config) = caller_session {
        if let Some(cookie) = super::logout::clearing_cookie(config) {
            headers.insert(header::SET_COOKIE, cookie);
        }
    }
    response
}

/// Maps a failed revocation at Okta. The token is already evicted locally, so the error
/// reports that only Okta may still accept it.
fn revocation_error(error: OktaError) -> ApiError {
    if error.is_unavailable() || matches!(error, OktaError::RateLimited { .. }) {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "idp_unavailable",
            "The token is no longer accepted by this gateway, but revoking it at the identity provider failed; try again shortly.",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "revocation_failed",
            "The token is no longer accepted by this gateway, but the identity provider rejected the revocation.",
        )
    }
}
