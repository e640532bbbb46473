//! Checks across keys that types alone cannot express: required values, URL schemes,
//! non-zero limits and the cookie rules browsers enforce.

use std::net::IpAddr;
use std::time::Duration;

use super::{ClientAuthMethod, Config, CookieSecure, DEFAULT_MFA_OOB_GRANT, URN_MFA_OOB_GRANT};

/// Largest `server.worker_threads` accepted, a bound that catches typos such as 10000.
const MAX_WORKER_THREADS: usize = 1024;

// === impl Config ===

impl Config {
    /// Returns every problem of an otherwise well-typed configuration, each naming its key.
    /// `has_client_secret` is true when a client secret was resolved from any source.
    pub fn validate(&self, has_client_secret: bool) -> Vec<String> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, reason: String| problems.push(format!("{key}: {reason}"));

        // [server]
        let server = &self.server;
        let prefix = server.prefix.as_str();
        if !prefix.starts_with('/') {
            problem("server.prefix", format!("{prefix:?} must start with '/'"));
        } else if prefix.len() < 2 || prefix.ends_with('/') {
            problem(
                "server.prefix",
                format!("{prefix:?} must name a path below '/' without a trailing '/', e.g. \"/.portcullis\""),
            );
        } else if prefix.contains("//")
            || prefix.contains(['?', '#', '%', ' ', '\\', '{', '}', '*'])
        {
            problem(
                "server.prefix",
                format!("{prefix:?} may contain only plain path characters"),
            );
        }
        if server.max_body_bytes == 0 {
            problem("server.max_body_bytes", "must be at least 1".into());
        }
        if server.worker_threads > MAX_WORKER_THREADS {
            problem(
                "server.worker_threads",
                format!("must be between 0 (one per CPU core) and {MAX_WORKER_THREADS}"),
            );
        }
        non_zero(
            &mut problem,
            "server.header_read_timeout",
            server.header_read_timeout,
        );
        if let Some(url) = &server.public_url {
            if let Err(reason) = check_http_url(url) {
                problem("server.public_url", reason);
            }
        }

        // [okta]
        let okta = &self.okta;
        if okta.issuer.trim().is_empty() {
            problem(
                "okta.issuer",
                "required; set the authorization server URL, e.g. \"https://example.okta.com/oauth2/default\"".into(),
            );
        } else if let Err(reason) = check_http_url(&okta.issuer) {
            problem("okta.issuer", reason);
        }
        if okta.client_id.trim().is_empty() {
            problem(
                "okta.client_id",
                "required; set the OAuth client id of the Okta app".into(),
            );
        }
        let needs_secret = matches!(
            okta.auth_method,
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost
        );
        if needs_secret && !has_client_secret {
            problem(
                "okta.client_secret",
                format!(
                    "required for auth_method {:?}; set PORTCULLIS_OKTA_CLIENT_SECRET or okta.client_secret_file",
                    okta.auth_method.as_str()
                ),
            );
        }
        if okta.scopes.is_empty() {
            problem(
                "okta.scopes",
                "must name at least one scope, e.g. \"openid\"".into(),
            );
        }
        if okta
            .scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            problem(
                "okta.scopes",
                "each scope must be one non-empty word".into(),
            );
        }
        if okta.mfa_oob_grant_type != DEFAULT_MFA_OOB_GRANT
            && okta.mfa_oob_grant_type != URN_MFA_OOB_GRANT
        {
            problem(
                "okta.mfa_oob_grant_type",
                format!("must be {DEFAULT_MFA_OOB_GRANT:?} or {URN_MFA_OOB_GRANT:?}"),
            );
        }
        if let Some(url) = &okta.post_logout_redirect_uri {
            if let Err(reason) = check_http_url(url) {
                problem("okta.post_logout_redirect_uri", reason);
            }
        }
        non_zero(&mut problem, "okta.connect_timeout", okta.connect_timeout);
        non_zero(&mut problem, "okta.request_timeout", okta.request_timeout);

        // [auth]
        let auth = &self.auth;
        if auth.cache_capacity == 0 {
            problem("auth.cache_capacity", "must be at least 1".into());
        }

        // [session]
        let session = &self.session;
        if let Err(reason) = check_cookie_name(&session.cookie_name) {
            problem("session.cookie_name", reason);
        }
        let secure = self.cookie_secure();
        let prefixed = session.cookie_name.starts_with("__Host-")
            || session.cookie_name.starts_with("__Secure-");
        if prefixed && !secure {
            problem(
                "session.cookie_name",
                format!(
                    "{:?} needs the Secure attribute, which browsers set only over HTTPS, but the \
                     gateway is served over plain HTTP (server.public_url or session.cookie_secure); \
                     use a name without the prefix, e.g. \"portcullis\"",
                    session.cookie_name
                ),
            );
        }
        if session.cookie_secure == CookieSecure::Auto {
            // Auto drops Secure only for loopback, where no network observer exists.
            if let Some(url) = &server.public_url {
                if url.starts_with("http://") && !is_loopback_url(url) {
                    problem(
                        "server.public_url",
                        format!(
                            "{url:?} is plain HTTP on a non-loopback host, so session cookies would \
                             cross the network unencrypted; serve HTTPS, or set \
                             session.cookie_secure = false to accept that"
                        ),
                    );
                }
            }
        }
        non_zero(&mut problem, "session.lifetime", session.lifetime);
        non_zero(&mut problem, "session.idle_timeout", session.idle_timeout);
        if session.capacity == 0 {
            problem("session.capacity", "must be at least 1".into());
        }

        // [login]
        let login = &self.login;
        for (key, value) in [
            ("login.max_code_attempts", login.max_code_attempts),
            ("login.per_user_per_minute", login.per_user_per_minute),
            ("login.per_ip_per_minute", login.per_ip_per_minute),
            (
                "login.sends_per_user_per_hour",
                login.sends_per_user_per_hour,
            ),
            ("login.sends_per_hour", login.sends_per_hour),
        ] {
            if value == 0 {
                problem(key, "must be at least 1".into());
            }
        }
        if login.transaction_capacity == 0 {
            problem("login.transaction_capacity", "must be at least 1".into());
        }
        non_zero(
            &mut problem,
            "login.transaction_lifetime",
            login.transaction_lifetime,
        );
        if login.channels.is_empty() {
            problem(
                "login.channels",
                "must name at least one of \"sms\", \"voice\"".into(),
            );
        }

        // [upstream]
        let upstream = &self.upstream;
        if upstream.url.trim().is_empty() {
            problem(
                "upstream.url",
                "required; set the base URL of the protected service, e.g. \"http://127.0.0.1:8080\"".into(),
            );
        } else if let Err(reason) = check_http_url(&upstream.url) {
            problem("upstream.url", reason);
        } else if url::Url::parse(&upstream.url).is_ok_and(|url| url.scheme() != "http") {
            // The upstream client supports plain HTTP only, so `serve` would fail to start.
            problem(
                "upstream.url",
                format!(
                    "{:?} must be an http:// URL; the gateway does not connect to upstreams over HTTPS",
                    upstream.url
                ),
            );
        }
        non_zero(
            &mut problem,
            "upstream.connect_timeout",
            upstream.connect_timeout,
        );
        non_zero(&mut problem, "upstream.timeout", upstream.timeout);

        // [headers]
        let headers = &self.headers;
        for (key, name) in [
            ("headers.user", &headers.user),
            ("headers.email", &headers.email),
            ("headers.preferred_username", &headers.preferred_username),
            ("headers.groups", &headers.groups),
        ] {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                problem(key, format!("{name:?} is not a valid HTTP header name"));
            }
        }

        // [log]
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            problem(
                "log.level",
                format!("{:?} is not a valid filter: {error}", self.log.level),
            );
        }

        problems
    }

    /// Decides whether the session cookie carries `Secure`. `auto` sets it unless
    /// `server.public_url` is plain HTTP on a loopback host (the demo's case).
    pub fn cookie_secure(&self) -> bool {
        match self.session.cookie_secure {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => match &self.server.public_url {
                Some(url) => !(url.starts_with("http://") && is_loopback_url(url)),
                None => true,
            },
        }
    }
}

fn non_zero(problem: &mut impl FnMut(&str, String), key: &str, value: Duration) {
    if value.is_zero() {
        problem(key, "must be longer than 0s".into());
    }
}

/// Accepts an absolute `http` or `https` URL with a host and no query, fragment or
/// credentials.
fn check_http_url(value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|error| format!("{value:?} is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{value:?} must be an http:// or https:// URL"));
    }
    if url.host_str().map_or(true, str::is_empty) {
        return Err(format!("{value:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{value:?} must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".to_string());
    }
    Ok(())
}

fn is_loopback_url(value: &str) -> bool {
    let Ok(url) = url::Url::parse(value) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Accepts an RFC 6265 cookie name (an HTTP token).
fn check_cookie_name(name: &str) -> Result<(), String> {
    const SEPARATORS: &str = "()<>@,;:\\\"/[]?={} \t";
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if name
        .chars()
        .any(|c| !c.is_ascii() || c.is_ascii_control() || SEPARATORS.contains(c))
    {
        return Err(format!("{name:?} is not a valid cookie name"));
    }
    Ok(())
}
