//! Reading and removing the gateway's cookie in `Cookie` request headers.

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

/// Returns the value of the first cookie called `name` in the `Cookie` headers.
pub fn find_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| value.trim().trim_matches('"'))
        })
}

/// Removes every cookie called `name` from the `Cookie` headers and keeps the others.
///
/// The headers are only rewritten when one of them names the cookie, so requests
/// without it cost one substring search per `Cookie` header.
pub fn strip_cookie(headers: &mut HeaderMap, name: &str) {
    let mentions_name = headers
        .get_all(COOKIE)
        .iter()
        .any(|value| contains(value.as_bytes(), name.as_bytes()));
    if !mentions_name {
        return;
    }

    let mut remaining = Vec::new();
    for value in headers.get_all(COOKIE) {
        for pair in value.as_bytes().split(|byte| *byte == b';') {
            let pair = pair.trim_ascii();
            if pair.is_empty() {
                continue;
            }
            let key = pair.split(|byte| *byte == b'=').next().unwrap_or(pair);
            if key.trim_ascii() == name.as_bytes() {
                continue;
            }
            if !remaining.is_empty() {
                remaining.extend_from_slice(b"; ");
            }
            remaining.extend_from_slice(pair);
        }
    }

    headers.remove(COOKIE);
    if remaining.is_empty() {
        return;
    }
    // The pairs come from valid header values, so the joined bytes are valid too.
    if let Ok(value) = HeaderValue::from_bytes(&remaining) {
        headers.insert(COOKIE, value);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(COOKIE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn find_cookie_reads_among_others() {
        let headers = cookies(&["a=1; __Host-portcullis=abc; b=2"]);
        assert_eq!(find_cookie(&headers, "__Host-portcullis"), Some("abc"));
        assert_eq!(find_cookie(&headers, "b"), Some("2"));
        assert_eq!(find_cookie(&headers, "c"), None);
    }

    #[test]
    fn find_cookie_ignores_name_prefixes() {
        let headers = cookies(&["x__Host-portcullis=evil; __Host-portcullisx=evil"]);
        assert_eq!(find_cookie(&headers, "__Host-portcullis"), None);
    }

    #[test]
    fn strip_cookie_keeps_app_cookies() {
        let mut headers = cookies(&["a=1; __Host-portcullis=abc", "b=2;__Host-portcullis=d"]);
        strip_cookie(&mut headers, "__Host-portcullis");
        let values: Vec<_> = headers.get_all(COOKIE).iter().collect();
        assert_eq!(values, vec!["a=1; b=2"]);
    }

    #[test]
    fn strip_cookie_removes_header_when_empty() {
        let mut headers = cookies(&["__Host-portcullis=abc"]);
        strip_cookie(&mut headers, "__Host-portcullis");
        assert!(headers.get(COOKIE).is_none());
    }

    #[test]
    fn strip_cookie_leaves_unrelated_headers_untouched() {
        let mut headers = cookies(&["a=1;b=2"]);
        strip_cookie(&mut headers, "__Host-portcullis");
        assert_eq!(headers.get(COOKIE).unwrap(), "a=1;b=2");
    }
}
