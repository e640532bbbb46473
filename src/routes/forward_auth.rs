//! `GET /auth`: the forward-auth answer for nginx auth_request and friends.

use axum::extract::State;
use http::StatusCode;

use crate::error::ApiError;
use crate::gateway::Gateway;

pub async fn forward_auth(State(_gateway): State<Gateway>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "Not built yet.",
    )
}
