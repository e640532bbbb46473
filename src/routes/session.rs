//! `GET /session`: the caller's credential as the gateway validated it.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue};

use crate::auth::identity::now_unix;
use crate::error::ApiError;
use crate::gateway::Gateway;

pub async fn session(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let auth = gateway
        .auth
        .authenticate(&headers)
        .await
        .map_err(|error| error.into_api_error())?;
    let identity = &auth.identity;
    let body = serde_json::json!({
        "active": true,
        "credential": if auth.session.is_some() { "session" } else { "bearer" },
        "subject": &*identity.subject,
        "username": identity.username.as_deref(),
        "email": identity.email.as_deref(),
        "groups": identity.groups.iter().collect::<Vec<_>>(),
        "scopes": identity.scopes().collect::<Vec<_>>(),
        "client_id": identity.client_id.as_deref(),
        "expires_at": identity.expires_at,
        "expires_in": identity.expires_at.saturating_sub(now_unix()),
    });
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
