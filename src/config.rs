//! The gateway's configuration: a TOML file, overridden key by key by `PORTCULLIS_*`
//! environment variables.
//!
//! Every field documents its default. Secrets (the client secret) may come from the file,
//! from the environment or from a file named by a `*_file` key, so they never need to sit
//! in the TOML itself.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::okta::Channel;
use crate::secret::Secret;

mod load;
mod validate;

pub use self::load::{ConfigError, LoadedConfig, ENV_CONFIG_FILE, ENV_PREFIX, SECTIONS};

pub const DEFAULT_LISTEN: &str = "0.0.0.0:4180";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
pub const DEFAULT_PREFIX: &str = "/.portcullis";
pub const DEFAULT_MFA_OOB_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-oob";
pub const URN_MFA_OOB_GRANT: &str = "urn:okta:params:oauth:grant-type:mfa-oob";
pub const DEFAULT_COOKIE_NAME: &str = "__Host-portcullis";

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub okta: OktaConfig,
    pub auth: AuthConfig,
    pub session: SessionConfig,
    pub login: LoginConfig,
    pub upstream: UpstreamConfig,
    pub headers: HeadersConfig,
    pub log: LogConfig,
}

/// Listeners and request limits of the gateway itself.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Public listener. Default `0.0.0.0:4180`.
    pub listen: SocketAddr,
    /// Admin listener for `/healthz`, `/readyz` and `/metrics`. Default `127.0.0.1:9090`.
    pub admin_listen: SocketAddr,
    /// Prefix of the gateway's own routes. Default `/.portcullis`.
    pub prefix: String,
    /// Time allowed to read a request's headers. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Time allowed for in-flight requests after SIGTERM or SIGINT. Default 25 s.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Largest request body accepted by the gateway's own routes, in bytes. Default 16 KiB.
    pub max_body_bytes: usize,
    /// Proxies whose `X-Forwarded-*` headers are trusted. Default: none.
    pub trusted_proxies: Vec<IpNet>,
    /// The URL clients use to reach the gateway, e.g. `https://gw.example.com`. It decides
    /// whether the session cookie may drop `Secure` (see `session.cookie_secure`).
    /// Default: none (the gateway is assumed to be served over HTTPS).
    pub public_url: Option<String>,
    /// Async runtime worker threads of `portcullis serve`. Default `0`, one per CPU core.
    /// `1` runs everything on a single-threaded runtime, which avoids the cross-thread
    /// task scheduling that a multi-threaded runtime with one worker still pays.
    pub worker_threads: usize,
}

/// The Okta authorization server and the OAuth client the gateway uses.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OktaConfig {
    /// Issuer URL, e.g. `https://example.okta.com/oauth2/default`. Required.
    pub issuer: String,
    /// OAuth client id. Required.
    pub client_id: String,
    /// Client secret; prefer `client_secret_file` or `PORTCULLIS_OKTA_CLIENT_SECRET`.
    pub client_secret: Option<Secret<String>>,
    /// File whose content (trimmed) is the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// `client_secret_basic` (default), `client_secret_post` or `none`.
    pub auth_method: ClientAuthMethod,
    /// Scopes requested at login. Default `openid profile email phone offline_access`.
    pub scopes: Vec<String>,
    /// The mfa-oob grant type sent first. Default `http://auth0.com/oauth/grant-type/mfa-oob`.
    pub mfa_oob_grant_type: String,
    /// Expected `aud` of access tokens. Default `api://default`.
    pub audience: String,
    /// Registered post-logout redirect URI sent to Okta's end-session endpoint. Default: none.
    pub post_logout_redirect_uri: Option<String>,
    /// TCP and TLS connect timeout for calls to Okta. Default 3 s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Whole-request timeout for calls to Okta. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::None => "none",
        }
    }
}

/// Whether the session cookie carries `Secure`: `true`, `false` or `"auto"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CookieSecure {
    /// Secure unless `server.public_url` is plain HTTP on a loopback host.
    #[default]
    Auto,
    Always,
    Never,
}

impl<'de> Deserialize<'de> for CookieSecure {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Flag(bool),
            Word(String),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Flag(true) => Ok(CookieSecure::Always),
            Repr::Flag(false) => Ok(CookieSecure::Never),
            Repr::Word(word) if word == "auto" => Ok(CookieSecure::Auto),
            Repr::Word(_) => Err(serde::de::Error::custom("expected true, false or \"auto\"")),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Validation {
    #[default]
    #[serde(rename = "introspect")]
    Introspect,
    #[serde(rename = "jwt")]
    Jwt,
    #[serde(rename = "jwt+introspect")]
    JwtThenIntrospect,
}

/// Credential checks on forwarded requests.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `introspect` (default), `jwt` or `jwt+introspect`.
    pub validation: Validation,
    /// Accept a login only if it went through the phone factor. Default `true`.
    pub require_mfa: bool,
    /// Scopes every access token must carry. Default: none.
    pub required_scopes: Vec<String>,
    /// Client ids whose access tokens are accepted. Default: only `okta.client_id`, the
    /// client that ran the phone factor.
    pub allowed_client_ids: Vec<String>,
    /// Maximum time an introspection result is cached. Default 5 min.
    #[serde(with = "humantime_serde")]
    pub introspection_cache_ttl: Duration,
    /// Time an inactive introspection result is cached. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub negative_cache_ttl: Duration,
    /// Maximum number of cached introspection results. Default 100 000.
    pub cache_capacity: u64,
    /// Time a userinfo response is cached. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub userinfo_cache_ttl: Duration,
    /// Maximum time JWKS keys are cached, also when Okta sends no usable `Cache-Control`. Default 1 h.
    #[serde(with = "humantime_serde")]
    pub jwks_cache_ttl: Duration,
    /// Allowed clock difference when checking `exp` and `nbf` locally. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub clock_skew: Duration,
}

/// The server-side session created at login.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// Cookie name. Default `__Host-portcullis`. The `__Host-` prefix makes browsers
    /// insist on `Secure`, `Path=/` and no `Domain`.
    pub cookie_name: String,
    /// `true`, `false` or `"auto"` (default): whether the cookie carries `Secure`. Auto
    /// drops it only when `server.public_url` is plain HTTP on a loopback host.
    pub cookie_secure: CookieSecure,
    /// Absolute session lifetime. Default 12 h.
    #[serde(with = "humantime_serde")]
    pub lifetime: Duration,
    /// Session ends after this long without a request. Default 1 h.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Refresh the access token when it expires within this long. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub refresh_before_expiry: Duration,
    /// Maximum number of sessions kept in memory. Default 100 000.
    pub capacity: u64,
}

/// The login API: transactions, attempts and rate limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginConfig {
    /// Wrong codes allowed per transaction. Default 5.
    pub max_code_attempts: u32,
    /// Login, challenge and verify requests allowed per user per minute. Default 10.
    pub per_user_per_minute: u32,
    /// Login, challenge and verify requests allowed per client address per minute. Default 30.
    pub per_ip_per_minute: u32,
    /// SMS and voice sends allowed per user per hour. Default 5.
    pub sends_per_user_per_hour: u32,
    /// SMS and voice sends allowed for the whole gateway per hour. Default 1000.
    pub sends_per_hour: u32,
    /// Maximum number of pending login transactions. Default 10 000.
    pub transaction_capacity: u64,
    /// Lifetime of a login transaction; set it to Okta's `mfa_token` lifetime, which
    /// Okta does not publish. Default 5 min.
    #[serde(with = "humantime_serde")]
    pub transaction_lifetime: Duration,
    /// Phone channels offered at login. Default `["sms", "voice"]`.
    pub channels: Vec<Channel>,
}

/// The protected resource server.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL of the upstream, `http://host:port`. Required.
    pub url: String,
    /// TCP connect timeout. Default 2 s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time allowed for the upstream's response headers, counted from when the request
    /// body has been sent. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Idle pooled connections are closed after this long. Default 90 s.
    #[serde(with = "humantime_serde")]
    pub pool_idle_timeout: Duration,
    /// Maximum idle pooled connections kept. Default 128.
    pub pool_max_idle: usize,
}

/// Names of the identity headers sent to the upstream.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadersConfig {
    /// Default `X-Forwarded-User` (the subject).
    pub user: String,
    /// Default `X-Forwarded-Email`.
    pub email: String,
    /// Default `X-Forwarded-Preferred-Username`.
    pub preferred_username: String,
    /// Default `X-Forwarded-Groups` (comma-separated).
    pub groups: String,
    /// Send `Authorization: Bearer <access token>` upstream. Default `false`.
    pub pass_access_token: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Log output.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `portcullis=debug`. Default `info`.
    pub level: String,
}

// === impl defaults ===

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            admin_listen: DEFAULT_ADMIN_LISTEN.parse().expect("valid default address"),
            prefix: DEFAULT_PREFIX.to_string(),
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(25),
            max_body_bytes: 16 * 1024,
            trusted_proxies: Vec::new(),
            public_url: None,
            worker_threads: 0,
        }
    }
}

impl Default for OktaConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            client_secret_file: None,
            auth_method: ClientAuthMethod::ClientSecretBasic,
            scopes: ["openid", "profile", "email", "phone", "offline_access"]
                .map(String::from)
                .to_vec(),
            mfa_oob_grant_type: DEFAULT_MFA_OOB_GRANT.to_string(),
            audience: "api://default".to_string(),
            post_logout_redirect_uri: None,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            validation: Validation::Introspect,
            require_mfa: true,
            required_scopes: Vec::new(),
            allowed_client_ids: Vec::new(),
            introspection_cache_ttl: Duration::from_secs(300),
            negative_cache_ttl: Duration::from_secs(10),
            cache_capacity: 100_000,
            userinfo_cache_ttl: Duration::from_secs(60),
            jwks_cache_ttl: Duration::from_secs(3600),
            clock_skew: Duration::from_secs(30),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            cookie_name: DEFAULT_COOKIE_NAME.to_string(),
            cookie_secure: CookieSecure::Auto,
            lifetime: Duration::from_secs(12 * 3600),
            idle_timeout: Duration::from_secs(3600),
            refresh_before_expiry: Duration::from_secs(60),
            capacity: 100_000,
        }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            max_code_attempts: 5,
            per_user_per_minute: 10,
            per_ip_per_minute: 30,
            sends_per_user_per_hour: 5,
            sends_per_hour: 1000,
            transaction_capacity: 10_000,
            transaction_lifetime: Duration::from_secs(300),
            channels: vec![Channel::Sms, Channel::Voice],
        }
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(30),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle: 128,
        }
    }
}

impl Default for HeadersConfig {
    fn default() -> Self {
        Self {
            user: "X-Forwarded-User".to_string(),
            email: "X-Forwarded-Email".to_string(),
            preferred_username: "X-Forwarded-Preferred-Username".to_string(),
            groups: "X-Forwarded-Groups".to_string(),
            pass_access_token: false,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
