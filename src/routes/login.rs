//! `POST /login`, `POST /challenge` and `POST /verify`: the password + phone MFA flow.

use axum::extract::State;
use http::StatusCode;

use crate::error::ApiError;
use crate::gateway::Gateway;

fn not_built() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "Not built yet.",
    )
}

pub async fn login(State(_gateway): State<Gateway>) -> ApiError {
    not_built()
}

pub async fn challenge(State(_gateway): State<Gateway>) -> ApiError {
    not_built()
}

pub async fn verify(State(_gateway): State<Gateway>) -> ApiError {
    not_built()
}
