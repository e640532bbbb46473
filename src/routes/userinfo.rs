//! `GET /userinfo`: the caller's profile claims from Okta, cached briefly.

use axum::extract::State;
use http::StatusCode;

use crate::error::ApiError;
use crate::gateway::Gateway;

pub async fn userinfo(State(_gateway): State<Gateway>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "Not built yet.",
    )
}
