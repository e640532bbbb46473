//! Request checks of the sign-in pages: the return path (`rd`), the CSRF cookie and
//! form tokens, the `Origin` and `Sec-Fetch-Site` headers, and the form body.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use http::{header, HeaderMap, Uri};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::cookie::find_cookie;
use crate::config::Config;
use crate::extract::{read_limited, BodyError};
use crate::secret::Secret;

/// Maximum length of a return path, in bytes. Longer ones fall back to `/`.
pub const MAX_RD_BYTES: usize = 2048;

/// Length of a CSRF cookie value: 256 random bits in base64url without padding.
const CSRF_COOKIE_CHARS: usize = 43;

/// Returns `rd` when it is a same-origin relative path, and `/` otherwise.
///
/// Rejected are: anything not starting with a single `/` (absolute URLs, `javascript:`),
/// and `//host` or `/\host`, which browsers read as another origin. The same two after
/// one round of percent-decoding (`/%2F%2Fhost`) are rejected because upstreams may
/// decode them. So are control characters in either form (CR/LF would split the
/// `Location` header), text that is not a valid URI path and query, and anything longer
/// than [`MAX_RD_BYTES`].
pub fn safe_return_path(rd: &str) -> &str {
    if rd.is_empty() || rd.len() > MAX_RD_BYTES || !rd.starts_with('/') {
        return "/";
    }
    let Ok(uri) = rd.parse::<Uri>() else {
        return "/";
    };
    // The same check the gateway applies when it builds the redirect to this page.
    if uri.scheme().is_some() || uri.authority().is_some() || crate::server::return_path(&uri) != rd
    {
        return "/";
    }
    let decoded = percent_decode_str(rd).decode_utf8_lossy();
    let decoded_path = decoded.split('?').next().unwrap_or("");
    let other_origin = decoded_path.starts_with("//") || decoded_path.starts_with("/\\");
    if other_origin || rd.contains('\\') || decoded.chars().any(char::is_control) {
        return "/";
    }
    rd
}

/// Returns the CSRF cookie name: the session cookie's name with `_csrf` appended, so a
/// `__Host-` prefix carries over.
pub fn csrf_cookie_name(config: &Config) -> String {
    format!("{}_csrf", config.session.cookie_name)
}

/// Returns the request's CSRF cookie value when it has the expected form.
pub fn csrf_cookie(headers: &HeaderMap, config: &Config) -> Option<Secret<String>> {
    let value = find_cookie(headers, &csrf_cookie_name(config))?;
    let well_formed = value.len() == CSRF_COOKIE_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| Secret::new(value.to_string()))
}

/// Builds `Set-Cookie` for a CSRF cookie. It lives for the browser session, is never
/// readable by scripts, and is sent only on same-site requests.
pub fn csrf_set_cookie(config: &Config, value: &Secret<String>) -> String {
    let mut cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict",
        csrf_cookie_name(config),
        value.expose()
    );
    if config.cookie_secure() {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Derives the form token of one form from the browser's CSRF cookie and the login
/// transaction id (empty before the password step). A cross-site page can read
/// neither, and a token for one transaction is useless for another.
pub fn form_token(cookie: &Secret<String>, transaction_id: &str) -> String {
    use base64::Engine;

    let mut digest = Sha256::new();
    digest.update(b"portcullis sign-in form token\0");
    digest.update(cookie.expose().as_bytes());
    digest.update(b"\0");
    digest.update(transaction_id.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.finalize())
}

/// Returns true when `submitted` is the form token for this cookie and transaction,
/// compared in constant time.
pub fn form_token_matches(cookie: &Secret<String>, transaction_id: &str, submitted: &str) -> bool {
    let expected = form_token(cookie, transaction_id);
    expected.as_bytes().ct_eq(submitted.as_bytes()).into()
}

/// Returns true for a POST that a browser marked as sent from another site.
///
/// `Sec-Fetch-Site` must be `same-origin` (or `none`, a user-typed request) when
/// present. `Origin` must name this gateway when present: its host and port must equal
/// the `Host` header, `X-Forwarded-Host` from a trusted proxy, or `server.public_url`.
/// Requests with neither header (older browsers, curl) rely on the form token alone.
pub fn is_cross_site(request: &Request, config: &Config) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return true;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    let Ok(origin) = url::Url::parse(origin) else {
        // Includes the opaque origin `null` of sandboxed frames and data: URLs.
        return true;
    };
    if !matches!(origin.scheme(), "http" | "https") {
        return true;
    }
    let origin_authority = match (origin.host_str(), origin.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => return true,
    };

    let host_header = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let forwarded_host = is_from_trusted_proxy(request, config)
        .then(|| headers.get("x-forwarded-host"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("").trim());
    let public_authority = config
        .server
        .public_url
        .as_deref()
        .and_then(|url| url::Url::parse(url).ok())
        .map(|url| url.origin().ascii_serialization());

    let same_host = [host_header, forwarded_host]
        .into_iter()
        .flatten()
        .any(|host| host.eq_ignore_ascii_case(&origin_authority));
    let same_public_url =
        public_authority.is_some_and(|public| public == origin.origin().ascii_serialization());
    !(same_host || same_public_url)
}

fn is_from_trusted_proxy(request: &Request, config: &Config) -> bool {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|info| {
            let peer = info.0.ip();
            config
                .server
                .trusted_proxies
                .iter()
                .any(|net| net.contains(&peer))
        })
}

/// The reason a form body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum FormError {
    UnsupportedMediaType,
    TooLarge,
    Unreadable,
}

/// The fields of an `application/x-www-form-urlencoded` body. It has no `Debug`, so a
/// password in it cannot reach a log line by accident.
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    /// Reads the body with the configured size limit.
    pub async fn read(request: Request, limit: usize) -> Result<FormFields, FormError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(FormError::UnsupportedMediaType);
        }
        let bytes = match read_limited(request.into_body(), limit).await {
            Ok(bytes) => bytes,
            Err(BodyError::TooLarge) => return Err(FormError::TooLarge),
            Err(BodyError::Unreadable) => return Err(FormError::Unreadable),
        };
        Ok(FormFields(
            url::form_urlencoded::parse(&bytes).into_owned().collect(),
        ))
    }

    /// Returns the first value of the field `name`, or "" when it is missing.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// Moves the first value of the field `name` out, or returns "" when it is missing.
    pub fn take(&mut self, name: &str) -> String {
        match self.0.iter().position(|(key, _)| key == name) {
            Some(index) => std::mem::take(&mut self.0[index].1),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_path_keeps_same_origin_paths() {
        assert_eq!(safe_return_path("/"), "/");
        assert_eq!(
            safe_return_path("/app/page?x=1&y=%20"),
            "/app/page?x=1&y=%20"
        );
        assert_eq!(safe_return_path("/files/a%2Fb"), "/files/a%2Fb");
    }

    #[test]
    fn return_path_rejects_other_origins() {
        let long = format!("/{}", "a".repeat(MAX_RD_BYTES));
        let cases = [
            "",
            "//evil.example",
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "http:/evil.example",
            "/%2F%2Fevil",
            "/%2f/evil",
            "/%5Cevil",
            "/%5C%5Cevil",
            "javascript:alert(1)",
            "/x\r\nSet-Cookie: a=b",
            "/x%0d%0aSet-Cookie:%20a=b",
            "/x%00",
            "evil.example",
            long.as_str(),
        ];
        for rd in cases {
            assert_eq!(safe_return_path(rd), "/", "{rd:?}");
        }
    }

    #[test]
    fn form_token_depends_on_cookie_and_transaction() {
        let cookie = Secret::new("a".repeat(43));
        let other = Secret::new("b".repeat(43));
        let token = form_token(&cookie, "t1");
        assert!(form_token_matches(&cookie, "t1", &token));
        assert!(!form_token_matches(&cookie, "t2", &token));
        assert!(!form_token_matches(&other, "t1", &token));
        assert!(!form_token_matches(&cookie, "t1", ""));
    }
}
