//! The Okta client: the only code that talks to Okta.
//!
//! It loads discovery from the issuer, derives the challenge endpoint as
//! `{issuer}/v1/challenge` (Okta does not advertise it), and drives the password,
//! challenge, mfa-oob and refresh grants plus introspection, revocation and userinfo.
//! Requests never carry `Origin` (Okta treats those as browser requests), follow no
//! redirects, verify TLS and have explicit connect and request timeouts. Failures are
//! classified by HTTP status and error code, and each failed call logs Okta's
//! `X-Okta-Request-Id`.

mod error;
mod types;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::StatusCode;
use reqwest::header::{HeaderMap, ACCEPT, RETRY_AFTER};
use serde::de::DeserializeOwned;

pub use self::error::OktaError;
pub use self::types::*;
use crate::config::{ClientAuthMethod, OktaConfig, DEFAULT_MFA_OOB_GRANT, URN_MFA_OOB_GRANT};
use crate::metrics::Metrics;
use crate::secret::Secret;

/// Largest Okta response body read, in bytes.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// A cheap-to-clone handle to the Okta client.
#[derive(Clone)]
pub struct OktaClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    issuer: String,
    client_id: String,
    client_secret: Option<Secret<String>>,
    auth_method: ClientAuthMethod,
    /// Discovery result; `None` until [`OktaClient::discover`] succeeds.
    endpoints: RwLock<Option<Arc<Endpoints>>>,
    /// The mfa-oob grant spelling that works with this server, learned at run time.
    mfa_oob_grant: RwLock<String>,
    metrics: Metrics,
}

// === impl OktaClient ===

impl OktaClient {
    /// Builds a client. `client_secret` is the resolved secret (from file, env or TOML).
    pub fn new(
        config: &OktaConfig,
        client_secret: Option<Secret<String>>,
        metrics: Metrics,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                issuer: config.issuer.trim_end_matches('/').to_string(),
                client_id: config.client_id.clone(),
                client_secret,
                auth_method: config.auth_method,
                endpoints: RwLock::new(None),
                mfa_oob_grant: RwLock::new(config.mfa_oob_grant_type.clone()),
                metrics,
            }),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// Returns the discovered endpoints, or `None` before discovery succeeded.
    pub fn endpoints(&self) -> Option<Arc<Endpoints>> {
        self.inner
            .endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Returns the mfa-oob grant spelling the next verification will send.
    pub fn mfa_oob_grant(&self) -> String {
        self.inner
            .mfa_oob_grant
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Fetches `{issuer}/.well-known/openid-configuration` and stores the endpoints.
    pub async fn discover(&self) -> Result<Arc<Endpoints>, OktaError> {
        const ENDPOINT: &str = "discovery";
        let url = format!("{}/.well-known/openid-configuration", self.inner.issuer);
        let request = self.inner.http.get(&url).header(ACCEPT, "application/json");
        let response = self.send(ENDPOINT, request).await?;
        let discovery: Discovery = read_json(ENDPOINT, response).await?;
        if discovery.issuer.trim_end_matches('/') != self.inner.issuer {
            return Err(OktaError::InvalidResponse {
                endpoint: ENDPOINT,
                reason: format!(
                    "discovery names issuer {:?}, the configuration names {:?}",
                    discovery.issuer, self.inner.issuer
                ),
            });
        }
        let issuer = self.inner.issuer.clone();
        let endpoints = Arc::new(Endpoints {
            challenge: format!("{issuer}/v1/challenge"),
            introspect: discovery
                .introspection_endpoint
                .unwrap_or_else(|| format!("{issuer}/v1/introspect")),
            revoke: discovery
                .revocation_endpoint
                .unwrap_or_else(|| format!("{issuer}/v1/revoke")),
            token: discovery.token_endpoint,
            userinfo: discovery.userinfo_endpoint,
            end_session: discovery.end_session_endpoint,
            jwks_uri: discovery.jwks_uri,
            issuer,
        });
        *self
            .inner
            .endpoints
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(endpoints.clone());
        Ok(endpoints)
    }

    /// Returns the endpoints, running discovery first if it has not succeeded yet.
    pub async fn ensure_endpoints(&self) -> Result<Arc<Endpoints>, OktaError> {
        match self.endpoints() {
            Some(endpoints) => Ok(endpoints),
            None => self.discover().await,
        }
    }

    /// Runs the password grant (step 1).
    pub async fn password_grant(
        &self,
        username: &str,
        password: &Secret<String>,
        scope: &str,
    ) -> Result<PasswordOutcome, OktaError> {
        const ENDPOINT: &str = "token";
        let endpoints = self.ensure_endpoints().await?;
        // `grant_types_supported` is optional and left out: it would have to name the
        // mfa-oob spelling before the server has shown which one it accepts.
        let form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password.expose().as_str()),
            ("scope", scope),
        ];
        let response = self.post_form(ENDPOINT, &endpoints.token, form).await?;
        let status = response.status();
        if status == StatusCode::FORBIDDEN {
            let request_id = okta_request_id(response.headers());
            let body: ErrorBody = read_json(ENDPOINT, response).await?;
            return match (body.error.as_deref(), body.mfa_token) {
                (Some("mfa_required"), Some(mfa_token)) => {
                    Ok(PasswordOutcome::MfaRequired { mfa_token })
                }
                (error, _) => {
                    let code = error
                        .or(body.error_code.as_deref())
                        .unwrap_or("access_denied")
                        .to_string();
                    Err(self.rejected(ENDPOINT, status, code, request_id))
                }
            };
        }
        let tokens = self.check_and_read(ENDPOINT, response).await?;
        Ok(PasswordOutcome::Tokens(tokens))
    }

    /// Asks Okta to send a code by SMS or voice call (step 2; also a resend).
    pub async fn challenge(
        &self,
        mfa_token: &Secret<String>,
        channel: Channel,
    ) -> Result<ChallengeResponse, OktaError> {
        const ENDPOINT: &str = "challenge";
        let endpoints = self.ensure_endpoints().await?;
        // The challenge type is always the documented spelling: it is the only value in
        // Okta's `ChallengeType` enum, whatever spelling the token endpoint accepts.
        let form = vec![
            ("mfa_token", mfa_token.expose().as_str()),
            ("challenge_types_supported", DEFAULT_MFA_OOB_GRANT),
            ("channel_hint", channel.as_str()),
        ];
        let response = self.post_form(ENDPOINT, &endpoints.challenge, form).await?;
        self.check_and_read(ENDPOINT, response).await
    }

    /// Exchanges the typed code for tokens (step 3). On `unsupported_grant_type` it retries
    /// once with the other spelling of the mfa-oob grant and remembers the one that works.
    pub async fn mfa_oob_grant_exchange(
        &self,
        mfa_token: &Secret<String>,
        oob_code: &Secret<String>,
        binding_code: &Secret<String>,
        scope: &str,
    ) -> Result<TokenResponse, OktaError> {
        let first = self.mfa_oob_grant();
        match self
            .mfa_oob_once(&first, mfa_token, oob_code, binding_code, scope)
            .await
        {
            Err(error) if error.code() == Some("unsupported_grant_type") => {
                let other = if first == URN_MFA_OOB_GRANT {
                    DEFAULT_MFA_OOB_GRANT
                } else {
                    URN_MFA_OOB_GRANT
                };
                tracing::info!(rejected = %first, retry = %other, "Okta rejected the mfa-oob grant spelling; retrying once with the other");
                let tokens = self
                    .mfa_oob_once(other, mfa_token, oob_code, binding_code, scope)
                    .await?;
                *self
                    .inner
                    .mfa_oob_grant
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = other.to_string();
                Ok(tokens)
            }
            result => result,
        }
    }

    async fn mfa_oob_once(
        &self,
        grant_type: &str,
        mfa_token: &Secret<String>,
        oob_code: &Secret<String>,
        binding_code: &Secret<String>,
        scope: &str,
    ) -> Result<TokenResponse, OktaError> {
        const ENDPOINT: &str = "token";
        let endpoints = self.ensure_endpoints().await?;
        let form = vec![
            ("grant_type", grant_type),
            ("mfa_token", mfa_token.expose().as_str()),
            ("oob_code", oob_code.expose().as_str()),
            ("binding_code", binding_code.expose().as_str()),
            ("scope", scope),
        ];
        let response = self.post_form(ENDPOINT, &endpoints.token, form).await?;
        self.check_and_read(ENDPOINT, response).await
    }

    /// Runs the refresh grant.
    pub async fn refresh(
        &self,
        refresh_token: &Secret<String>,
        scope: &str,
    ) -> Result<TokenResponse, OktaError> {
        const ENDPOINT: &str = "token";
        let endpoints = self.ensure_endpoints().await?;
        let form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose().as_str()),
            ("scope", scope),
        ];
        let response = self.post_form(ENDPOINT, &endpoints.token, form).await?;
        self.check_and_read(ENDPOINT, response).await
    }

    /// Introspects a token (RFC 7662).
    pub async fn introspect(
        &self,
        token: &Secret<String>,
        token_type_hint: &str,
    ) -> Result<Introspection, OktaError> {
        const ENDPOINT: &str = "introspect";
        let endpoints = self.ensure_endpoints().await?;
        let form = vec![
            ("token", token.expose().as_str()),
            ("token_type_hint", token_type_hint),
        ];
        let response = self
            .post_form(ENDPOINT, &endpoints.introspect, form)
            .await?;
        self.check_and_read(ENDPOINT, response).await
    }

    /// Revokes a token (RFC 7009). Okta returns 200 for unknown tokens too.
    pub async fn revoke(
        &self,
        token: &Secret<String>,
        token_type_hint: Option<&str>,
    ) -> Result<(), OktaError> {
        const ENDPOINT: &str = "revoke";
        let endpoints = self.ensure_endpoints().await?;
        let mut form = vec![("token", token.expose().as_str())];
        if let Some(hint) = token_type_hint {
            form.push(("token_type_hint", hint));
        }
        let response = self.post_form(ENDPOINT, &endpoints.revoke, form).await?;
        self.check_status(ENDPOINT, response).await.map(drop)
    }

    /// Fetches the user's claims with an access token.
    pub async fn userinfo(
        &self,
        access_token: &Secret<String>,
    ) -> Result<serde_json::Value, OktaError> {
        const ENDPOINT: &str = "userinfo";
        let endpoints = self.ensure_endpoints().await?;
        let url = endpoints
            .userinfo
            .clone()
            .unwrap_or_else(|| format!("{}/v1/userinfo", endpoints.issuer));
        let request = self
            .inner
            .http
            .get(url)
            .header(ACCEPT, "application/json")
            .bearer_auth(access_token.expose());
        let response = self.send(ENDPOINT, request).await?;
        self.check_and_read(ENDPOINT, response).await
    }

    /// Fetches the JWKS document and its `Cache-Control` max-age, if any.
    pub async fn jwks(&self) -> Result<(jsonwebtoken::jwk::JwkSet, Option<Duration>), OktaError> {
        const ENDPOINT: &str = "keys";
        let endpoints = self.ensure_endpoints().await?;
        let request = self
            .inner
            .http
            .get(&endpoints.jwks_uri)
            .header(ACCEPT, "application/json");
        let response = self.send(ENDPOINT, request).await?;
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_max_age);
        let keys = self.check_and_read(ENDPOINT, response).await?;
        Ok((keys, max_age))
    }

    /// Builds the RP-initiated logout URL.
    pub fn end_session_url(
        &self,
        id_token_hint: Option<&Secret<String>>,
        post_logout_redirect_uri: Option<&str>,
        state: &str,
    ) -> Option<String> {
        let endpoints = self.endpoints()?;
        let base = endpoints
            .end_session
            .clone()
            .unwrap_or_else(|| format!("{}/v1/logout", endpoints.issuer));
        let mut url = url::Url::parse(&base).ok()?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(hint) = id_token_hint {
                query.append_pair("id_token_hint", hint.expose());
            }
            if let Some(uri) = post_logout_redirect_uri {
                query.append_pair("post_logout_redirect_uri", uri);
            }
            query.append_pair("state", state);
        }
        Some(url.into())
    }

    // === request plumbing ===

    /// Posts a form with client authentication added per the configured method.
    async fn post_form(
        &self,
        endpoint: &'static str,
        url: &str,
        mut form: Vec<(&str, &str)>,
    ) -> Result<reqwest::Response, OktaError> {
        let inner = &self.inner;
        let mut request = inner.http.post(url).header(ACCEPT, "application/json");
        let secret = inner
            .client_secret
            .as_ref()
            .map(|s| s.expose().as_str())
            .unwrap_or("");
        match inner.auth_method {
            ClientAuthMethod::ClientSecretBasic => {
                request =
                    request.basic_auth(form_encode(&inner.client_id), Some(form_encode(secret)));
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id", &inner.client_id));
                form.push(("client_secret", secret));
            }
            ClientAuthMethod::None => form.push(("client_id", &inner.client_id)),
        }
        let request = request.form(&form);
        self.send(endpoint, request).await
    }

    async fn send(
        &self,
        endpoint: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, OktaError> {
        self.inner.metrics.okta_call(endpoint);
        match request.send().await {
            Ok(response) => Ok(response),
            Err(source) => {
                self.inner.metrics.okta_error(endpoint, "transport");
                tracing::warn!(endpoint, error = %source, timeout = source.is_timeout(), "Okta call failed");
                Err(OktaError::Transport {
                    endpoint,
                    source: source.without_url(),
                })
            }
        }
    }

    /// Turns a non-2xx response into an [`OktaError`], logging Okta's request id.
    async fn check_status(
        &self,
        endpoint: &'static str,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, OktaError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let request_id = okta_request_id(response.headers());
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = retry_after(response.headers());
            self.inner.metrics.okta_error(endpoint, "rate_limited");
            tracing::warn!(
                endpoint,
                okta_request_id = request_id.as_deref().unwrap_or("-"),
                "Okta rate limited the call"
            );
            return Err(OktaError::RateLimited {
                endpoint,
                retry_after,
                request_id,
            });
        }
        if status.is_server_error() {
            self.inner.metrics.okta_error(endpoint, "server_error");
            tracing::warn!(
                endpoint,
                status = status.as_u16(),
                okta_request_id = request_id.as_deref().unwrap_or("-"),
                "Okta answered a server error"
            );
            return Err(OktaError::Server {
                endpoint,
                status,
                request_id,
            });
        }
        let body = read_body(endpoint, response).await.unwrap_or_default();
        let parsed: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        let code = parsed
            .error
            .or(parsed.error_code)
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        Err(self.rejected(endpoint, status, code, request_id))
    }

    fn rejected(
        &self,
        endpoint: &'static str,
        status: StatusCode,
        code: String,
        request_id: Option<String>,
    ) -> OktaError {
        self.inner.metrics.okta_error(endpoint, "rejected");
        tracing::info!(endpoint, status = status.as_u16(), code = %code, okta_request_id = request_id.as_deref().unwrap_or("-"), "Okta rejected the call");
        OktaError::Rejected {
            endpoint,
            status,
            code,
            request_id,
        }
    }

    async fn check_and_read<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        response: reqwest::Response,
    ) -> Result<T, OktaError> {
        let response = self.check_status(endpoint, response).await?;
        read_json(endpoint, response).await
    }
}

impl std::fmt::Debug for OktaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OktaClient")
            .field("issuer", &self.inner.issuer)
            .field("client_id", &self.inner.client_id)
            .finish_non_exhaustive()
    }
}

/// Reads a body of at most [`MAX_RESPONSE_BYTES`].
async fn read_body(
    endpoint: &'static str,
    mut response: reqwest::Response,
) -> Result<Vec<u8>, OktaError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(OktaError::InvalidResponse {
                        endpoint,
                        reason: format!("body larger than {MAX_RESPONSE_BYTES} bytes"),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(source) => {
                return Err(OktaError::Transport {
                    endpoint,
                    source: source.without_url(),
                })
            }
        }
    }
}

async fn read_json<T: DeserializeOwned>(
    endpoint: &'static str,
    response: reqwest::Response,
) -> Result<T, OktaError> {
    let body = read_body(endpoint, response).await?;
    // The serde error names the position and expected member, never the body itself.
    serde_json::from_slice(&body).map_err(|error| OktaError::InvalidResponse {
        endpoint,
        reason: error.to_string(),
    })
}

/// Encodes a client credential for HTTP Basic as RFC 6749 section 2.3.1 requires.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn okta_request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-okta-request-id")
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(64).collect())
}

/// Reads `Retry-After` in seconds, or derives it from Okta's `X-Rate-Limit-Reset` epoch.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(seconds) = headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(seconds));
    }
    let reset = headers
        .get("x-rate-limit-reset")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

/// Reads `max-age` from a `Cache-Control` value.
pub fn parse_max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|directive| {
        let (name, seconds) = directive.trim().split_once('=')?;
        if name.trim().eq_ignore_ascii_case("max-age") {
            seconds
                .trim()
                .trim_matches('"')
                .parse()
                .ok()
                .map(Duration::from_secs)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_parses_among_directives() {
        assert_eq!(
            parse_max_age("max-age=3832304, must-revalidate"),
            Some(Duration::from_secs(3832304))
        );
        assert_eq!(parse_max_age("no-cache"), None);
        assert_eq!(
            parse_max_age("public, Max-Age=60"),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn basic_credentials_are_form_encoded() {
        assert_eq!(form_encode("a b:c"), "a+b%3Ac");
    }
}
