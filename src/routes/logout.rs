//! `POST /logout`: ends the caller's session and returns Okta's end-session URL, and
//! `GET /signed_out`, the page Okta sends the browser back to afterwards.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};

use crate::auth::cookie::find_cookie;
use crate::auth::{bearer_token, Authenticator};
use crate::config::Config;
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::secret::{hash_token, Secret};

pub async fn logout(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    let auth = &gateway.auth;

    let id_token_hint = match find_cookie(&headers, auth.cookie_name()) {
        Some(cookie) if !cookie.is_empty() => end_session(auth, cookie).await,
        _ => match headers.get(header::AUTHORIZATION).and_then(bearer_token) {
            // A bearer caller has no session; logging out revokes its token.
            Some(token) => {
                let token = Secret::new(token.to_owned());
                if let Err(error) = auth.revoke(&token, Some("access_token")).await {
                    tracing::warn!(%error, "logout evicted the bearer token but revocation at Okta failed");
                }
                None
            }
            None => return ApiError::unauthenticated().into_response(),
        },
    };

    let state = hex::encode(rand::random::<[u8; 16]>());
    let end_session_url = gateway
        .okta
        .end_session_url(
            id_token_hint.as_ref(),
            gateway.config.okta.post_logout_redirect_uri.as_deref(),
            &state,
        )
        .unwrap_or_else(|| {
            format!(
                "{}/signed_out",
                gateway.config.server.prefix.trim_end_matches('/')
            )
        });

    let mut response = if is_browser_form_post(&headers) {
        match HeaderValue::from_str(&end_session_url) {
            Ok(location) => {
                let mut response = StatusCode::SEE_OTHER.into_response();
                response.headers_mut().insert(header::LOCATION, location);
                response
            }
            Err(_) => ApiError::internal().into_response(),
        }
    } else {
        axum::Json(serde_json::json!({ "end_session_url": end_session_url })).into_response()
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = clearing_cookie(&gateway.config) {
        response_headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Ends the cookie's session and returns its ID token for `id_token_hint`.
async fn end_session(auth: &Authenticator, cookie: &str) -> Option<Secret<String>> {
    let (session, _) = auth.end_session(hash_token(cookie)).await?;
    session.id_token.clone()
}

/// Returns true for an HTML form submission from a browser, which gets a redirect
/// instead of JSON.
fn is_browser_form_post(headers: &HeaderMap) -> bool {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let accepts_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/html"));
    is_form && accepts_html
}

/// Builds the `Set-Cookie` value that deletes the session cookie. The attributes match
/// the ones the login flow sets, or the browser ignores the deletion.
pub fn clearing_cookie(config: &Config) -> Option<HeaderValue> {
    let secure = if config.cookie_secure() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
        config.session.cookie_name
    ))
    .ok()
}

/// `GET /signed_out`: confirms the sign-out, as HTML for browsers and JSON otherwise.
pub async fn signed_out(headers: HeaderMap) -> Response {
    let wants_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/html"));
    if wants_html {
        Html(concat!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<title>Signed out</title></head><body>",
            "<h1>You are signed out</h1><p>You can close this page.</p>",
            "</body></html>"
        ))
        .into_response()
    } else {
        axum::Json(serde_json::json!({
            "state": "signed_out",
            "message": "You are signed out.",
        }))
        .into_response()
    }
}
