//! Header rules for forwarded requests: hop-by-hop removal, anti-spoofing, identity and
//! `X-Forwarded-*` headers, and request ids.
//!
//! Incoming header names are compared after folding (ASCII lower case, with `_` and `.`
//! read as `-`), because many frameworks (CGI, PHP, Rails, Django) map `X_Forwarded_User`
//! and `X-Forwarded-User` to the same variable. Any incoming header that folds to a name
//! the gateway sets is removed, so a client cannot smuggle an identity past it.

use std::io::Write as _;
use std::net::IpAddr;

use http::header::{AUTHORIZATION, CONNECTION, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

use crate::auth::{Authenticated, Identity};
use crate::config::Config;
use crate::secret::Secret;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Hop-by-hop headers of RFC 9110 section 7.6.1, plus the obsolete `Keep-Alive` and
/// `Proxy-Connection` that clients still send. `Proxy-*` headers are removed by prefix.
/// Compared as `HeaderName`s, so a standard name is an enum comparison, not a string one.
static HOP_BY_HOP: [HeaderName; 6] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Longest `X-Request-Id` kept from a client, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Header names and rules, computed once from the configuration.
#[derive(Clone, Debug)]
pub struct HeaderPolicy {
    user: HeaderName,
    email: HeaderName,
    preferred_username: HeaderName,
    groups: HeaderName,
    /// Folded names of the identity headers.
    identity_folded: Box<[Box<str>]>,
    pass_access_token: bool,
    trusted_proxies: Box<[IpNet]>,
    cookie_name: Box<str>,
}

// === impl HeaderPolicy ===

impl HeaderPolicy {
    /// Builds the policy. Fails when a configured identity header name is not a valid
    /// header name.
    pub fn new(config: &Config) -> anyhow::Result<HeaderPolicy> {
        let parse = |key: &str, name: &str| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| anyhow::anyhow!("headers.{key} = {name:?} is not a valid header name"))
        };
        let headers = &config.headers;
        let user = parse("user", &headers.user)?;
        let email = parse("email", &headers.email)?;
        let preferred_username = parse("preferred_username", &headers.preferred_username)?;
        let groups = parse("groups", &headers.groups)?;
        let identity_folded = [&user, &email, &preferred_username, &groups]
            .iter()
            .map(|name| fold_header_name(name.as_str()).into_boxed_str())
            .collect();
        Ok(HeaderPolicy {
            user,
            email,
            preferred_username,
            groups,
            identity_folded,
            pass_access_token: headers.pass_access_token,
            trusted_proxies: config.server.trusted_proxies.clone().into_boxed_slice(),
            cookie_name: config.session.cookie_name.as_str().into(),
        })
    }

    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        !self.trusted_proxies.is_empty()
            && self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }

    /// Rewrites a request's headers for the upstream: removes hop-by-hop, spoofed and
    /// credential headers, then adds identity, forwarding and request id headers.
    /// `upgrade` is the `Upgrade` value of a protocol upgrade being forwarded.
    pub fn prepare_request(
        &self,
        headers: &mut HeaderMap,
        auth: &Authenticated,
        peer: IpAddr,
        request_id: &HeaderValue,
        upgrade: Option<HeaderValue>,
    ) {
        let trusted = self.is_trusted_proxy(peer);
        // One pass over the names covers both rules, and most requests have nothing to remove.
        remove_named_by_connection(headers);
        remove_where(headers, |name| {
            is_hop_by_hop(name) || is_spoofed(name.as_str(), &self.identity_folded, trusted)
        });
        crate::auth::cookie::strip_cookie(headers, &self.cookie_name);

        match &auth.session {
            // The session's token is sent only when asked; an app's own
            // `Authorization` header (e.g. Basic) passes through otherwise.
            Some(session) if self.pass_access_token => {
                set_bearer(headers, session.access_token());
            }
            Some(_) => {}
            // The header carried the gateway credential.
            None if !self.pass_access_token => {
                headers.remove(AUTHORIZATION);
            }
            None => {}
        }

        self.insert_identity(headers, &auth.identity);
        set_forwarded_headers(headers, peer, trusted);
        headers.insert(X_REQUEST_ID.clone(), request_id.clone());

        if let Some(protocol) = upgrade {
            headers.insert(UPGRADE, protocol);
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        }
    }

    /// Adds the identity headers of an authenticated request.
    pub fn insert_identity(&self, headers: &mut HeaderMap, identity: &Identity) {
        let values = &identity.headers;
        for (name, value) in [
            (&self.user, &values.user),
            (&self.email, &values.email),
            (&self.preferred_username, &values.preferred_username),
            (&self.groups, &values.groups),
        ] {
            match value {
                Some(value) => {
                    headers.insert(name.clone(), value.clone());
                }
                None => {
                    headers.remove(name);
                }
            }
        }
    }
}

/// Removes hop-by-hop headers, the headers named in `Connection`, and `Proxy-*`.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    remove_named_by_connection(headers);
    remove_where(headers, is_hop_by_hop);
}

/// Removes the headers listed in `Connection`, which are hop-by-hop too (RFC 9110
/// section 7.6.1). `Connection` itself stays for the caller's rules to remove.
fn remove_named_by_connection(headers: &mut HeaderMap) {
    let mut named = Vec::new();
    for value in headers.get_all(CONNECTION) {
        let Ok(value) = value.to_str() else { continue };
        for token in value.split(',') {
            let token = token.trim();
            if !token.is_empty() {
                if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                    named.push(name);
                }
            }
        }
    }
    for name in named {
        headers.remove(name);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name) || name.as_str().starts_with("proxy-")
}

/// Removes every header whose name matches, in one pass over the names. Allocates only
/// when something matches.
fn remove_where(headers: &mut HeaderMap, mut matches: impl FnMut(&HeaderName) -> bool) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| matches(name))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

/// Removes incoming headers that fold to a name the gateway sets: the identity headers,
/// non-canonical spellings of `X-Request-Id`, and, unless the peer is a trusted proxy,
/// every `X-Forwarded-*`, `Forwarded` and `X-Real-IP` header.
pub fn remove_spoofed(headers: &mut HeaderMap, identity_folded: &[Box<str>], trusted: bool) {
    remove_where(headers, |name| {
        is_spoofed(name.as_str(), identity_folded, trusted)
    });
}

fn is_spoofed(name: &str, identity_folded: &[Box<str>], trusted: bool) -> bool {
    if identity_folded.iter().any(|folded| folds_to(name, folded)) {
        return true;
    }
    // The canonical spelling is validated separately; variants only confuse upstreams.
    if folds_to(name, "x-request-id") {
        return name != "x-request-id";
    }
    let forwarded = folds_with_prefix(name, "x-forwarded-")
        || folds_to(name, "forwarded")
        || folds_to(name, "x-real-ip");
    if !forwarded {
        return false;
    }
    if !trusted {
        return true;
    }
    // A trusted proxy's headers are kept in their canonical spelling only (header
    // names arrive in lower case, so only `_` and `.` can differ).
    name.bytes().any(|byte| byte == b'_' || byte == b'.')
}

fn fold_byte(byte: u8) -> u8 {
    match byte {
        b'_' | b'.' => b'-',
        other => other.to_ascii_lowercase(),
    }
}

/// Returns the folded form of a header name: ASCII lower case, `_` and `.` as `-`.
pub fn fold_header_name(name: &str) -> String {
    name.bytes()
        .map(|byte| char::from(fold_byte(byte)))
        .collect()
}

/// Returns true when `name` folds to `folded` (which must already be folded).
pub fn folds_to(name: &str, folded: &str) -> bool {
    name.len() == folded.len()
        && name
            .bytes()
            .zip(folded.bytes())
            .all(|(byte, expected)| fold_byte(byte) == expected)
}

fn folds_with_prefix(name: &str, folded_prefix: &str) -> bool {
    name.len() >= folded_prefix.len() && folds_to(&name[..folded_prefix.len()], folded_prefix)
}

/// Sets `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Real-IP`.
/// A trusted proxy's values are kept, and its address is appended to
/// `X-Forwarded-For`; otherwise the values describe the direct peer.
pub fn set_forwarded_headers(headers: &mut HeaderMap, peer: IpAddr, trusted: bool) {
    let peer_value = ip_header_value(peer);

    let forwarded_for = match headers.get(&X_FORWARDED_FOR) {
        Some(existing) if trusted => {
            let mut value = existing.as_bytes().to_vec();
            value.extend_from_slice(b", ");
            value.extend_from_slice(peer_value.as_bytes());
            HeaderValue::from_bytes(&value).unwrap_or_else(|_| peer_value.clone())
        }
        _ => peer_value.clone(),
    };
    headers.insert(X_FORWARDED_FOR.clone(), forwarded_for);

    if !(trusted && headers.contains_key(&X_FORWARDED_PROTO)) {
        // The public listener serves plain HTTP; TLS ends at a proxy in front of it,
        // which must be listed in `server.trusted_proxies` to report `https`.
        headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    }
    if !(trusted && headers.contains_key(&X_FORWARDED_HOST)) {
        match headers.get(HOST).cloned() {
            Some(host) => {
                headers.insert(X_FORWARDED_HOST.clone(), host);
            }
            None => {
                headers.remove(&X_FORWARDED_HOST);
            }
        }
    }
    if !(trusted && headers.contains_key(&X_REAL_IP)) {
        headers.insert(X_REAL_IP.clone(), peer_value);
    }
}

/// Formats `ip` as a header value. The last value is kept per thread: behind a load
/// balancer or as a sidecar, most requests come from the same few addresses, and a
/// clone of a kept value only bumps a reference count.
fn ip_header_value(ip: IpAddr) -> HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(IpAddr, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((kept, value)) if *kept == ip => value.clone(),
            _ => {
                let value = format_ip_header_value(ip);
                *last = Some((ip, value.clone()));
                value
            }
        }
    })
}

fn format_ip_header_value(ip: IpAddr) -> HeaderValue {
    let mut buffer = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    // An IPv6 address takes at most 45 bytes, so it always fits.
    let _ = write!(cursor, "{ip}");
    let len = cursor.position() as usize;
    HeaderValue::from_bytes(&buffer[..len]).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

fn set_bearer(headers: &mut HeaderMap, token: &Secret<String>) {
    let mut value = Vec::with_capacity(7 + token.expose().len());
    value.extend_from_slice(b"Bearer ");
    value.extend_from_slice(token.expose().as_bytes());
    match HeaderValue::from_bytes(&value) {
        Ok(mut value) => {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Err(_) => {
            tracing::warn!(token = %token.fingerprint(), "session access token is not a valid header value; not sending it upstream");
        }
    }
}

/// Returns true for an id the gateway keeps: 1 to 128 visible ASCII characters.
pub fn is_valid_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes.iter().all(|byte| (0x21..=0x7e).contains(byte))
}

/// Returns the request's valid `X-Request-Id`, or a new random 128-bit id in hex.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    match headers.get(&X_REQUEST_ID) {
        Some(value) if is_valid_request_id(value) => value.clone(),
        _ => generate_request_id(),
    }
}

pub fn generate_request_id() -> HeaderValue {
    let bytes: [u8; 16] = rand::random();
    let mut text = [0u8; 32];
    match hex::encode_to_slice(bytes, &mut text) {
        Ok(()) => HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("-")),
        Err(_) => HeaderValue::from_static("-"),
    }
}

/// Returns the `Upgrade` value when the request requests a protocol upgrade
/// (`Connection: upgrade` plus `Upgrade`).
pub fn upgrade_protocol(headers: &HeaderMap) -> Option<&HeaderValue> {
    let asks_upgrade = headers.get_all(CONNECTION).iter().any(|value| {
        value
            .to_str()
            .map(|value| {
                value
                    .split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
            })
            .unwrap_or(false)
    });
    if asks_upgrade {
        headers.get(UPGRADE)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn identity_folded() -> Vec<Box<str>> {
        ["x-forwarded-user", "x-forwarded-email", "x-auth-groups"]
            .map(Box::from)
            .to_vec()
    }

    #[test]
    fn folding_treats_underscore_and_dot_as_dash() {
        assert!(folds_to("x_forwarded.user", "x-forwarded-user"));
        assert!(folds_to("X-FORWARDED-USER", "x-forwarded-user"));
        assert!(!folds_to("x-forwarded-users", "x-forwarded-user"));
    }

    #[test]
    fn spoofed_identity_variants_are_removed() {
        let mut headers = map(&[
            ("x-forwarded-user", "mallory"),
            ("x_forwarded_user", "mallory"),
            ("x.forwarded.email", "m@example.com"),
            ("x-auth_groups", "admins"),
            ("x-app", "kept"),
        ]);
        remove_spoofed(&mut headers, &identity_folded(), true);
        let names: Vec<_> = headers.keys().map(|name| name.as_str()).collect();
        assert_eq!(names, vec!["x-app"]);
    }

    #[test]
    fn forwarded_headers_from_untrusted_peers_are_removed() {
        let mut headers = map(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x_forwarded_proto", "https"),
            ("x-forwarded-port", "443"),
            ("forwarded", "for=1.2.3.4"),
            ("x-real-ip", "1.2.3.4"),
        ]);
        remove_spoofed(&mut headers, &identity_folded(), false);
        assert!(headers.is_empty(), "left: {headers:?}");
    }

    #[test]
    fn trusted_proxy_keeps_canonical_forwarded_headers() {
        let mut headers = map(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x_forwarded_for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
        ]);
        remove_spoofed(&mut headers, &identity_folded(), true);
        assert_eq!(headers.get("x-forwarded-for").unwrap(), "1.2.3.4");
        assert_eq!(headers.get("x-forwarded-proto").unwrap(), "https");
        assert!(headers.get("x_forwarded_for").is_none());
    }

    #[test]
    fn request_id_variants_are_removed_but_canonical_kept() {
        let mut headers = map(&[("x-request-id", "abc"), ("x_request_id", "evil")]);
        remove_spoofed(&mut headers, &identity_folded(), false);
        assert_eq!(headers.get("x-request-id").unwrap(), "abc");
        assert!(headers.get("x_request_id").is_none());
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut headers = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("proxy-authorization", "Basic x"),
            ("upgrade", "websocket"),
            ("accept", "*/*"),
        ]);
        remove_hop_by_hop(&mut headers);
        let names: Vec<_> = headers.keys().map(|name| name.as_str()).collect();
        assert_eq!(names, vec!["accept"]);
    }

    #[test]
    fn forwarded_for_appends_to_trusted_chain() {
        let mut headers = map(&[("x-forwarded-for", "1.2.3.4"), ("host", "app.example")]);
        set_forwarded_headers(&mut headers, "10.0.0.1".parse().unwrap(), true);
        assert_eq!(headers.get("x-forwarded-for").unwrap(), "1.2.3.4, 10.0.0.1");
        assert_eq!(headers.get("x-forwarded-host").unwrap(), "app.example");
        assert_eq!(headers.get("x-forwarded-proto").unwrap(), "http");
    }

    #[test]
    fn peer_value_follows_the_peer() {
        for ip in ["10.0.0.1", "::1", "10.0.0.1", "192.0.2.7"] {
            let value = ip_header_value(ip.parse().unwrap());
            assert_eq!(value, ip);
        }
    }

    #[test]
    fn forwarded_for_names_untrusted_peer() {
        let mut headers = map(&[("host", "app.example")]);
        set_forwarded_headers(&mut headers, "::1".parse().unwrap(), false);
        assert_eq!(headers.get("x-forwarded-for").unwrap(), "::1");
        assert_eq!(headers.get("x-real-ip").unwrap(), "::1");
    }

    #[test]
    fn request_id_validation() {
        assert!(is_valid_request_id(&HeaderValue::from_static("abc-123")));
        assert!(!is_valid_request_id(&HeaderValue::from_static("has space")));
        let long = "a".repeat(129);
        assert!(!is_valid_request_id(&HeaderValue::from_str(&long).unwrap()));
        let generated = generate_request_id();
        assert_eq!(generated.len(), 32);
        assert!(is_valid_request_id(&generated));
    }

    #[test]
    fn upgrade_needs_connection_token() {
        let headers = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert_eq!(upgrade_protocol(&headers).unwrap(), "websocket");
        let headers = map(&[("upgrade", "websocket")]);
        assert!(upgrade_protocol(&headers).is_none());
    }
}
