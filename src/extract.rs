//! `JsonBody<T>`: a JSON request body with the gateway's own rejections.
//!
//! axum's `Json` rejections echo serde's message, which can quote the input (a password
//! typed into the wrong member, say). This extractor returns `415` for a non-JSON
//! content type, `413` above `server.max_body_bytes`, and `400` with a description that
//! names only the expected shape and, for a missing member, its name.

use axum::extract::{FromRequest, Request};
use http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, RequestId};
use crate::gateway::Gateway;

/// The reason a request body could not be read whole.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// The body is longer than the limit.
    TooLarge,
    /// The client stopped sending or sent a malformed body.
    Unreadable,
}

/// Reads a whole request body of at most `limit` bytes.
pub async fn read_limited(body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, BodyError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let over_limit = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over_limit {
            BodyError::TooLarge
        } else {
            BodyError::Unreadable
        }
    })
}

/// A request body type that describes its expected JSON shape for error messages.
pub trait JsonShape {
    /// The expected shape, e.g. `{"username": string, "password": string}`.
    const SHAPE: &'static str;
}

/// A JSON body of type `T`, read with the configured size limit.
pub struct JsonBody<T>(pub T);

impl<T> FromRequest<Gateway> for JsonBody<T>
where
    T: DeserializeOwned + JsonShape,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, gateway: &Gateway) -> Result<Self, ApiError> {
        let result = read_json(request, gateway.config.server.max_body_bytes).await;
        if let Err(error) = &result {
            tracing::info!(
                status = error.status.as_u16(),
                error = error.code,
                request_id = RequestId::current().as_ref().map_or("-", RequestId::as_str),
                "request body rejected"
            );
        }
        result.map(JsonBody)
    }
}

async fn read_json<T: DeserializeOwned + JsonShape>(
    request: Request,
    limit: usize,
) -> Result<T, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if !is_json(content_type) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
        ));
    }

    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body is larger than {limit} bytes."),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let bytes = match read_limited(request.into_body(), limit).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => return Err(too_large()),
        Err(BodyError::Unreadable) => {
            return Err(ApiError::bad_request("The request body could not be read."))
        }
    };

    serde_json::from_slice(&bytes).map_err(|error| {
        use serde_json::error::Category;
        let description = match error.classify() {
            Category::Io | Category::Syntax | Category::Eof => {
                format!("The body is not valid JSON; expected {}.", T::SHAPE)
            }
            Category::Data => match missing_member(&error.to_string()) {
                Some(member) => {
                    format!("The member \"{member}\" is missing; expected {}.", T::SHAPE)
                }
                None => format!(
                    "A member is missing or has the wrong type; expected {}.",
                    T::SHAPE
                ),
            },
        };
        ApiError::bad_request(description)
    })
}

/// Accepts `application/json` and `application/*+json`, with any parameters.
fn is_json(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Extracts the member name from serde's "missing field `name`" message. The name comes
/// from the target type, never from the input.
fn missing_member(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    let name = &rest[..rest.find('`')?];
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
    }

    #[test]
    fn missing_member_reads_only_the_field_name() {
        assert_eq!(
            missing_member("missing field `password` at line 1 column 20"),
            Some("password")
        );
        assert_eq!(missing_member("invalid type: string \"hunter2\""), None);
    }
}
