//! `GET /session`: the caller's credential as introspected.

use axum::extract::State;
use http::StatusCode;

use crate::error::ApiError;
use crate::gateway::Gateway;

pub async fn session(State(_gateway): State<Gateway>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "Not built yet.",
    )
}
