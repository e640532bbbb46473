//! `/auth`: the forward-auth response for nginx `auth_request`, Traefik ForwardAuth, Caddy
//! `forward_auth` and Envoy ext_authz: `200` with the identity headers, or the same
//! `401`/`403`/`503` JSON errors as forwarded requests (never a redirect; the proxy in
//! front decides what a browser sees).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};

use crate::error::ApiError;
use crate::gateway::Gateway;

pub async fn forward_auth(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let auth = gateway
        .auth
        .authenticate(&headers)
        .await
        .map_err(|error| error.into_api_error())?;
    let mut response = StatusCode::OK.into_response();
    let response_headers = response.headers_mut();
    gateway
        .upstream
        .policy()
        .insert_identity(response_headers, &auth.identity);
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
