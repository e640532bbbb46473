//! `GET /userinfo`: the caller's profile claims from Okta, cached briefly per token.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue};

use crate::auth::bearer_token;
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::secret::Secret;

pub async fn userinfo(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let auth = gateway
        .auth
        .authenticate(&headers)
        .await
        .map_err(|error| error.into_api_error())?;
    let access_token = match auth.session {
        Some(session) => session.access_token().clone(),
        None => headers
            .get(header::AUTHORIZATION)
            .and_then(bearer_token)
            .map(|token| Secret::new(token.to_owned()))
            .ok_or_else(ApiError::unauthenticated)?,
    };

    let claims = gateway
        .auth
        .userinfo(&access_token, auth.identity.expires_at)
        .await
        .map_err(|error| error.into_api_error())?;
    let body = serde_json::to_vec(&*claims).map_err(|_| ApiError::internal())?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
