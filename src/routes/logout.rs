//! `POST /logout`: ends the caller's session and returns Okta's end-session URL.

use axum::extract::State;
use http::StatusCode;

use crate::error::ApiError;
use crate::gateway::Gateway;

pub async fn logout(State(_gateway): State<Gateway>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "Not built yet.",
    )
}
