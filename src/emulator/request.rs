//! Request parsing shared by the OAuth endpoints: size-limited bodies, strict
//! form decoding and client authentication.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::percent_decode;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::config::{AuthMethod, ClientConfig};
use super::errors::{ApiError, OAuthError};
use super::state::Inner;

/// Largest request body the emulator reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Decoded `application/x-www-form-urlencoded` parameters, each name at most once.
#[derive(Debug, Default)]
pub struct Form {
    params: Vec<(String, String)>,
}

/// Client credentials and the method the caller used to send them.
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<String>,
    pub method: AuthMethod,
}

// === impl Form ===

impl Form {
    /// Returns the value of `name`; an empty value counts as missing.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::missing_parameter(name))
    }

    /// Parses a form or query string; invalid UTF-8 and repeated names are rejected.
    pub fn parse(raw: &[u8]) -> Result<Self, OAuthError> {
        let mut params: Vec<(String, String)> = Vec::new();
        for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let name = decode_component(name)?;
            let value = decode_component(value)?;
            if params.iter().any(|(key, _)| *key == name) {
                return Err(OAuthError::invalid_request(format!(
                    "The '{name}' parameter must not be repeated."
                )));
            }
            params.push((name, value));
        }
        Ok(Form { params })
    }
}

fn decode_component(raw: &[u8]) -> Result<String, OAuthError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_decode(&plus_as_space)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            OAuthError::invalid_request("The request contains a parameter that is not valid UTF-8.")
        })
}

/// Reads the body up to [`MAX_BODY_BYTES`]; a larger body gets a 413.
pub async fn read_body(request: Request) -> Result<(HeaderMap, Bytes), Response<Body>> {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(ApiError::payload_too_large().into_response());
    }
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => Ok((parts.headers, bytes)),
        Err(_) => Err(ApiError::payload_too_large().into_response()),
    }
}

/// Reads and decodes a form body; any other content type is an `invalid_request`.
pub async fn read_form(request: Request) -> Result<(HeaderMap, Form), Response<Body>> {
    let (headers, bytes) = read_body(request).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "The request body must be application/x-www-form-urlencoded.",
        )
        .into_response());
    }
    let form = Form::parse(&bytes).map_err(OAuthError::into_response)?;
    Ok((headers, form))
}

/// Extracts client credentials from the `Authorization` header, the form and, for
/// introspection and revocation by public clients, the query string.
pub fn credentials(
    headers: &HeaderMap,
    form: &Form,
    query: Option<&Form>,
) -> Result<ClientCredentials, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(parse_basic(value.as_bytes()).ok_or_else(|| {
            OAuthError::invalid_client(
                "Client authentication failed. Either the client or the client credentials are invalid.",
            )
        })?),
    };
    let form_secret = form.get("client_secret");
    let assertion = form.get("client_assertion");

    if basic.is_some() && (form_secret.is_some() || assertion.is_some())
        || form_secret.is_some() && assertion.is_some()
    {
        return Err(OAuthError::invalid_request(
            "Cannot supply multiple client credentials. Use one of the following: credentials in the Authorization header, credentials in the post body, or a client_assertion in the post body.",
        ));
    }
    if assertion.is_some() {
        return Err(OAuthError::invalid_client(
            "Client authentication failed. Either the client or the client credentials are invalid.",
        ));
    }

    if let Some((client_id, secret)) = basic {
        if form.get("client_id").is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request(
                "Cannot supply multiple client credentials. Use one of the following: credentials in the Authorization header, credentials in the post body, or a client_assertion in the post body.",
            ));
        }
        return Ok(ClientCredentials {
            client_id,
            secret: Some(secret),
            method: AuthMethod::ClientSecretBasic,
        });
    }

    let client_id = form
        .get("client_id")
        .or_else(|| query.and_then(|q| q.get("client_id")));
    let Some(client_id) = client_id else {
        return Err(OAuthError::invalid_client("No client credentials found."));
    };
    Ok(ClientCredentials {
        client_id: client_id.to_string(),
        secret: form_secret.map(str::to_string),
        method: if form_secret.is_some() {
            AuthMethod::ClientSecretPost
        } else {
            AuthMethod::None
        },
    })
}

fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(value).ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    // RFC 6749 §2.3.1: both parts are form-encoded before Base64.
    let id = decode_component(id.as_bytes()).ok()?;
    let secret = decode_component(secret.as_bytes()).ok()?;
    Some((id, secret))
}

/// Authenticates the caller and returns a copy of its client.
pub fn authenticate(
    inner: &Inner,
    headers: &HeaderMap,
    form: &Form,
    query: Option<&Form>,
) -> Result<ClientConfig, OAuthError> {
    let creds = credentials(headers, form, query)?;
    let Some(client) = inner.client(&creds.client_id) else {
        return Err(OAuthError::invalid_client(
            "Invalid value for 'client_id' parameter.",
        ));
    };
    if !client.auth_methods.contains(&creds.method) {
        return Err(OAuthError::invalid_client(
            "Client authentication failed. Either the client or the client credentials are invalid.",
        ));
    }
    if creds.method != AuthMethod::None {
        let expected = client.client_secret.as_deref().unwrap_or("");
        let given = creds.secret.as_deref().unwrap_or("");
        // Hashing first keeps the comparison constant-time regardless of length.
        let matches: bool = Sha256::digest(expected.as_bytes())
            .ct_eq(&Sha256::digest(given.as_bytes()))
            .into();
        if !matches || expected.is_empty() {
            return Err(OAuthError::invalid_client(
                "The client secret supplied for a confidential client is invalid.",
            ));
        }
    }
    Ok(client.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_rejects_repeated_names() {
        let err = Form::parse(b"a=1&a=2").expect_err("repeated name");
        assert_eq!(err.error, "invalid_request");
    }

    #[test]
    fn form_rejects_invalid_utf8() {
        let err = Form::parse(b"a=%FF").expect_err("invalid UTF-8");
        assert_eq!(err.error, "invalid_request");
    }

    #[test]
    fn form_decodes_plus_and_percent() {
        let form = Form::parse(b"scope=openid+profile&u=a%40b").expect("valid form");
        assert_eq!(form.get("scope"), Some("openid profile"));
        assert_eq!(form.get("u"), Some("a@b"));
    }
}
