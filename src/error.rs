//! The one mapping from a gateway failure to an HTTP response.
//!
//! Every error body has the shape `{"error","error_description","request_id"}`. Bodies
//! carry no Okta or upstream detail and never a credential; the detail goes to the log.

use std::borrow::Cow;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value};

tokio::task_local! {
    /// The id of the request being served, set by the top-level service for the whole
    /// request future so that error responses and log lines can carry it.
    pub static REQUEST_ID: RequestId;
}

/// A request id: kept from a valid incoming `X-Request-Id`, generated otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// Returns the id as text (ids are validated as visible ASCII when accepted).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or("")
    }

    /// Returns the id of the request being served, if any.
    pub fn current() -> Option<RequestId> {
        REQUEST_ID.try_with(Clone::clone).ok()
    }
}

/// An error returned to the client as a JSON response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: Cow<'static, str>,
    extra: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

// === impl ApiError ===

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            extra: Map::new(),
            headers: Vec::new(),
        }
    }

    /// Adds a member to the JSON body, e.g. `attempts_remaining`.
    pub fn with_field(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(name.to_string(), value.into());
        self
    }

    /// Adds a response header, e.g. `Retry-After` or `WWW-Authenticate`.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn bad_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "No route matches this path.",
        )
    }

    pub fn idp_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "idp_unavailable",
            "The identity provider is unavailable; try again shortly.",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "The gateway failed to handle the request.",
        )
    }

    /// `401` for a request without a credential, with the `WWW-Authenticate` challenge.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "This resource requires a bearer token or a session cookie.",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"portcullis\""),
        )
    }

    /// `401` for a credential that is invalid, expired or revoked.
    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The credential is invalid, expired or revoked.",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"portcullis\", error=\"invalid_token\""),
        )
    }

    /// Builds the JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), Value::from(self.code));
        body.insert(
            "error_description".into(),
            Value::from(self.description.as_ref()),
        );
        for (name, value) in &self.extra {
            body.insert(name.clone(), value.clone());
        }
        if let Some(id) = RequestId::current() {
            body.insert("request_id".into(), Value::from(id.as_str()));
        }
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.description
        )
    }
}

impl std::error::Error for ApiError {}
