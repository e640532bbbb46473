//! `POST /revoke`: revokes a token at Okta and evicts it from every cache.

use axum::extract::State;
use http::StatusCode;

use crate::error::ApiError;
use crate::gateway::Gateway;

pub async fn revoke(State(_gateway): State<Gateway>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "Not built yet.",
    )
}
