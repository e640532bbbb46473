//! Okta's two error shapes: OAuth (`error`, `error_description`) and management
//! (`errorCode`, `errorSummary`, `errorLink`, `errorId`, `errorCauses`).

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};

use super::state::random_token;

/// Content type Okta puts on every JSON response.
pub const JSON_UTF8: &str = "application/json;charset=UTF-8";

/// An OAuth-shaped error response of an OAuth endpoint.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// Extra members, such as the `mfa_token` of `mfa_required`.
    pub extra: Vec<(&'static str, Value)>,
}

/// A management-shaped error response (`errorCode` and friends).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub summary: String,
    pub causes: Vec<String>,
}

/// Builds a JSON response with Okta's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    response
}

// === impl OAuthError ===

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, key: &'static str, value: Value) -> Self {
        self.extra.push((key, value));
        self
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn missing_parameter(name: &str) -> Self {
        OAuthError::invalid_request(format!("The '{name}' parameter is required."))
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    /// 403 `direct_auth_expired_token` for an expired, unknown or used `name` value.
    pub fn expired(name: &str, replacement: &str) -> Self {
        OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("'{name}' has expired. Use a new '{replacement}' and try again."),
        )
    }

    /// Builds the 429 `user_rate_limited` response of the per-user limits (OAuth shape).
    pub fn user_rate_limited() -> Self {
        OAuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_grant",
            "API call exceeded rate limit due to too many requests.",
        )
    }

    pub fn into_response(self) -> Response<Body> {
        let mut body = json!({ "error": self.error, "error_description": self.description });
        if let Value::Object(map) = &mut body {
            for (key, value) in self.extra {
                map.insert(key.to_string(), value);
            }
        }
        json_response(self.status, &body)
    }
}

// === impl ApiError ===

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, summary: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            summary: summary.into(),
            causes: Vec::new(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "E0000007",
            format!("Not found: Resource not found: {what}"),
        )
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "E0000022",
            "The endpoint does not support the provided HTTP method",
        )
    }

    pub fn invalid_token() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "E0000011",
            "Invalid token provided",
        )
    }

    pub fn malformed(summary: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "E0000003", summary)
    }

    pub fn payload_too_large() -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "E0000003",
            "The request body was not well-formed: it is larger than 64 KiB.",
        )
    }

    pub fn rate_limited() -> Self {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        )
    }

    pub fn into_response(self) -> Response<Body> {
        let causes: Vec<Value> = self
            .causes
            .iter()
            .map(|c| json!({ "errorSummary": c }))
            .collect();
        let body = json!({
            "errorCode": self.code,
            "errorSummary": self.summary,
            "errorLink": self.code,
            "errorId": format!("oae{}", random_token(22)),
            "errorCauses": causes,
        });
        json_response(self.status, &body)
    }
}
