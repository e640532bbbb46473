//! Credential checks for forwarded requests and the gateway's own routes.
//!
//! A request carries either `Authorization: Bearer <Okta access token>` or the session
//! cookie. Bearer tokens are validated by introspection at Okta, by local JWT
//! verification, or both (`auth.validation`), and the result is cached per token hash
//! (see [`cache`]). Session cookies name a server-side session whose access token is
//! refreshed shortly before it expires, once per session however many requests arrive
//! at the same time.

pub mod cache;
pub mod cookie;
pub mod identity;
pub mod jwt;
pub mod sessions;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::AUTHORIZATION;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use moka::future::Cache;

pub use self::cache::{CredentialCache, Validated};
use self::cache::{Expiring, UntilTokenExpiry};
use self::identity::now_unix;
pub use self::identity::Identity;
use self::jwt::{JwtVerifier, Verified};
use self::sessions::IndexedSessionStore;
use crate::config::{Config, Validation};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::okta::{OktaClient, OktaError};
use crate::secret::{fingerprint, hash_token, Secret, TokenHash};
use crate::session::{Session, SessionStore};

/// How long a revoked token stays on the deny list when its expiry is unknown: the
/// longest access-token lifetime an Okta custom authorization server allows (24 h).
const DENY_LIST_DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// A credential found in a request, borrowed from its headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential<'a> {
    Bearer(&'a str),
    Session(&'a str),
}

/// The reason a request was not authenticated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request carries no credential")]
    Missing,
    #[error("the credential is invalid, expired or revoked")]
    Invalid,
    #[error("the credential lacks a required scope")]
    InsufficientScope,
    #[error("the identity provider could not validate the credential")]
    Unavailable,
}

/// An authenticated request's identity.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub identity: Arc<Identity>,
    /// Set when the credential was the session cookie.
    pub session: Option<SessionCredential>,
}

/// The session behind a cookie credential.
#[derive(Clone, Debug)]
pub struct SessionCredential {
    /// SHA-256 of the session id.
    pub id: TokenHash,
    /// The session as the request found it (after a refresh, when one was due).
    pub session: Arc<Session>,
}

impl SessionCredential {
    /// The session's current access token.
    pub fn access_token(&self) -> &Secret<String> {
        &self.session.access_token
    }
}

/// Validates credentials; cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    okta: OktaClient,
    metrics: Metrics,
    validation: Validation,
    jwt: Option<JwtVerifier>,
    credentials: CredentialCache,
    /// Revoked tokens by cache key, until they expire. It is consulted on cache misses,
    /// so a locally verified JWT or an introspection that raced the revocation is rejected.
    // NOTE: the list is per process. With `auth.validation = "jwt"` another replica
    // accepts a revoked token until it expires, because only introspection sees
    // revocations made elsewhere.
    revoked: Cache<TokenHash, Expiring<()>>,
    userinfo: Cache<TokenHash, Expiring<Arc<serde_json::Value>>>,
    sessions: Arc<IndexedSessionStore>,
    /// Refreshes in flight, by session id hash. Entries are removed when a refresh ends.
    refreshes: Cache<TokenHash, Arc<Session>>,
    cookie_name: Box<str>,
    audience: Box<str>,
    allowed_clients: Box<[Box<str>]>,
    required_scopes: Box<[Box<str>]>,
    require_mfa: bool,
    refresh_before_expiry: Duration,
}

// === impl Authenticator ===

impl Authenticator {
    /// Builds the authenticator and the indexed session store it shares with the
    /// login flow.
    pub fn new(
        config: &Config,
        okta: OktaClient,
        store: Arc<dyn SessionStore>,
        metrics: Metrics,
    ) -> (Authenticator, Arc<IndexedSessionStore>) {
        let auth = &config.auth;
        let sessions = Arc::new(IndexedSessionStore::new(
            store,
            config.session.capacity,
            config.session.lifetime,
        ));
        let jwt = matches!(
            auth.validation,
            Validation::Jwt | Validation::JwtThenIntrospect
        )
        .then(|| {
            JwtVerifier::new(
                okta.clone(),
                &config.okta.audience,
                auth.clock_skew,
                auth.jwks_cache_ttl,
            )
        });

        let credentials = CredentialCache::new(
            okta.issuer(),
            okta.client_id(),
            auth.cache_capacity,
            auth.introspection_cache_ttl,
            auth.negative_cache_ttl,
            metrics.clone(),
        );
        let revoked = Cache::builder()
            .name("revoked")
            .max_capacity(auth.cache_capacity)
            .expire_after(UntilTokenExpiry {
                max_ttl: DENY_LIST_DEFAULT_TTL,
            })
            .build();

        let userinfo_metrics = metrics.clone();
        let userinfo = Cache::builder()
            .name("userinfo")
            .max_capacity(auth.cache_capacity)
            .expire_after(UntilTokenExpiry {
                max_ttl: auth.userinfo_cache_ttl,
            })
            .eviction_listener(move |_key, _value, cause| {
                userinfo_metrics.cache_eviction("userinfo", cause)
            })
            .build();

        let mut allowed_clients: Vec<Box<str>> = auth
            .allowed_client_ids
            .iter()
            .map(|id| id.as_str().into())
            .collect();
        if allowed_clients.is_empty() {
            allowed_clients.push(config.okta.client_id.as_str().into());
        }

        let inner = Inner {
            okta,
            metrics,
            validation: auth.validation,
            jwt,
            credentials,
            revoked,
            userinfo,
            sessions: sessions.clone(),
            refreshes: Cache::builder()
                .max_capacity(config.session.capacity)
                .build(),
            cookie_name: config.session.cookie_name.as_str().into(),
            audience: config.okta.audience.as_str().into(),
            allowed_clients: allowed_clients.into_boxed_slice(),
            required_scopes: auth
                .required_scopes
                .iter()
                .map(|scope| scope.as_str().into())
                .collect(),
            require_mfa: auth.require_mfa,
            refresh_before_expiry: config.session.refresh_before_expiry,
        };
        (
            Authenticator {
                inner: Arc::new(inner),
            },
            sessions,
        )
    }

    pub fn cookie_name(&self) -> &str {
        &self.inner.cookie_name
    }

    pub fn sessions(&self) -> &Arc<IndexedSessionStore> {
        &self.inner.sessions
    }

    /// Authenticates a request by its headers.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Authenticated, AuthError> {
        match extract_credential(headers, &self.inner.cookie_name) {
            None => Err(AuthError::Missing),
            Some(Credential::Bearer(token)) => Ok(Authenticated {
                identity: self.authenticate_bearer(token).await?,
                session: None,
            }),
            Some(Credential::Session(cookie)) => self.authenticate_session(cookie).await,
        }
    }

    /// Validates a bearer access token, from the cache when possible.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        let inner = &*self.inner;
        let key = inner.credentials.key(token);

        let validated = match inner.credentials.get(&key).await {
            Some(validated) => {
                inner.metrics.cache_hit("introspection");
                validated
            }
            None => {
                inner.metrics.cache_miss("introspection");
                if inner.revoked.contains_key(&key) {
                    return Err(AuthError::Invalid);
                }
                let token = Secret::new(token.to_owned());
                inner
                    .credentials
                    .get_or_validate(key, self.validate(token, key))
                    .await
                    .map_err(|error| (*error).clone())?
            }
        };

        let Validated::Active(identity) = validated else {
            return Err(AuthError::Invalid);
        };
        // The entry expires with the token, but a hit may land in the last second.
        if identity.is_expired_at(now_unix()) {
            return Err(AuthError::Invalid);
        }
        self.check_claims(&identity, true)?;
        Ok(identity)
    }

    /// Validates a token that is not cached: locally, at Okta, or both.
    async fn validate(
        &self,
        token: Secret<String>,
        key: TokenHash,
    ) -> Result<Validated, AuthError> {
        let inner = &*self.inner;

        if let Some(jwt) = &inner.jwt {
            match jwt.verify(token.expose()).await {
                Ok(Verified::Invalid(reason)) => {
                    tracing::debug!(token = %token.fingerprint(), reason, "access token rejected locally");
                    return Ok(Validated::Inactive);
                }
                Ok(Verified::Valid(identity)) if inner.validation == Validation::Jwt => {
                    return Ok(self.unless_revoked(key, *identity).await);
                }
                Ok(Verified::Valid(_)) => {}
                Err(error) => {
                    tracing::warn!(%error, token = %token.fingerprint(), "failed to fetch the JWKS; rejecting the request");
                    return Err(AuthError::Unavailable);
                }
            }
        }

        match inner.okta.introspect(&token, "access_token").await {
            Ok(introspection) if introspection.active => {
                match Identity::from_introspection(introspection) {
                    Some(identity) => Ok(self.unless_revoked(key, identity).await),
                    None => {
                        tracing::warn!(token = %token.fingerprint(), "introspection response lacks sub or exp; treating the token as inactive");
                        Ok(Validated::Inactive)
                    }
                }
            }
            Ok(_) => {
                tracing::debug!(token = %token.fingerprint(), "Okta reports the token inactive");
                Ok(Validated::Inactive)
            }
            Err(error) => {
                // A rejection of the gateway's own call (bad client credentials)
                // reveals nothing about the token either, so every error is an outage.
                tracing::warn!(%error, token = %token.fingerprint(), "introspection failed; rejecting the request");
                Err(AuthError::Unavailable)
            }
        }
    }

    async fn unless_revoked(&self, key: TokenHash, identity: Identity) -> Validated {
        if self.inner.revoked.contains_key(&key) {
            Validated::Inactive
        } else {
            Validated::Active(Arc::new(identity))
        }
    }

    /// Checks audience, client and scopes. Session identities carry no audience or
    /// client claims, because the gateway's own client obtained their tokens.
    fn check_claims(&self, identity: &Identity, check_token_claims: bool) -> Result<(), AuthError> {
        let inner = &*self.inner;
        if check_token_claims {
            if !identity.audience.contains(&inner.audience) {
                tracing::debug!("token audience does not match okta.audience");
                return Err(AuthError::Invalid);
            }
            let client_allowed = identity
                .client_id
                .as_deref()
                .is_some_and(|client| inner.allowed_clients.iter().any(|c| **c == *client));
            if !client_allowed {
                tracing::debug!("token was issued to a client that is not allowed");
                return Err(AuthError::Invalid);
            }
        }
        if let Some(missing) = inner
            .required_scopes
            .iter()
            .find(|scope| !identity.has_scope(scope))
        {
            tracing::debug!(scope = %missing, "token lacks a required scope");
            return Err(AuthError::InsufficientScope);
        }
        Ok(())
    }

    /// Authenticates a session cookie, refreshing the session's access token when it
    /// expires within `session.refresh_before_expiry`.
    pub async fn authenticate_session(&self, cookie: &str) -> Result<Authenticated, AuthError> {
        let inner = &*self.inner;
        let id = hash_token(cookie);
        let Some(mut session) = inner.sessions.get(id).await else {
            inner.metrics.cache_miss("sessions");
            return Err(AuthError::Invalid);
        };
        inner.metrics.cache_hit("sessions");

        if inner.require_mfa && !proves_phone_factor(&session.amr) {
            tracing::warn!(session = %fingerprint(cookie), "session lacks proof of the phone factor; rejecting it");
            return Err(AuthError::Invalid);
        }

        if needs_refresh(&session, inner.refresh_before_expiry) {
            session = self.refresh_session(id).await?;
        }
        let identity = session.identity();
        if identity.is_expired_at(now_unix()) {
            return Err(AuthError::Invalid);
        }
        self.check_claims(&identity, false)?;
        Ok(Authenticated {
            identity,
            session: Some(SessionCredential { id, session }),
        })
    }

    /// Refreshes a session once for all concurrent callers.
    async fn refresh_session(&self, id: TokenHash) -> Result<Arc<Session>, AuthError> {
        let refreshes = &self.inner.refreshes;
        let result = refreshes.try_get_with(id, self.run_refresh(id)).await;
        // Later callers re-read the session and find it fresh, so the flight can go.
        refreshes.invalidate(&id).await;
        result.map_err(|error| (*error).clone())
    }

    async fn run_refresh(&self, id: TokenHash) -> Result<Arc<Session>, AuthError> {
        let inner = &*self.inner;
        let Some(session) = inner.sessions.get(id).await else {
            return Err(AuthError::Invalid);
        };
        // Another flight may have refreshed it since the caller read it.
        if !needs_refresh(&session, inner.refresh_before_expiry) {
            return Ok(session);
        }
        let now = SystemTime::now();
        let still_valid = session.access_expires_at > now;
        let Some(refresh_token) = session.refresh_token.clone() else {
            return if still_valid {
                Ok(session)
            } else {
                inner.sessions.remove(id).await;
                Err(AuthError::Invalid)
            };
        };

        match inner.okta.refresh(&refresh_token, &session.scope).await {
            Ok(tokens) => {
                // The clone starts without the old identity, which has the old expiry.
                let mut updated = Session::clone(&session);
                updated.access_token = tokens.access_token;
                updated.access_expires_at = now + Duration::from_secs(tokens.expires_in);
                if let Some(rotated) = tokens.refresh_token {
                    updated.refresh_token = Some(rotated);
                }
                if let Some(id_token) = tokens.id_token {
                    updated.id_token = Some(id_token);
                }
                if let Some(scope) = tokens.scope {
                    updated.scope = scope;
                }
                // A logout or revocation during the refresh removed the session; putting
                // it back would revive it. The check narrows that window but cannot close
                // it, because the store has no compare-and-set.
                if inner.sessions.get(id).await.is_none() {
                    return Err(AuthError::Invalid);
                }
                inner.sessions.put(id, updated.clone()).await;
                tracing::info!(session = %hex::encode(&id[..6]), "refreshed the session's access token");
                Ok(Arc::new(updated))
            }
            Err(error) if is_outage(&error) && still_valid => {
                tracing::warn!(%error, session = %hex::encode(&id[..6]), "refresh failed; serving with the current access token until it expires");
                Ok(session)
            }
            Err(error) if is_outage(&error) => {
                tracing::warn!(%error, session = %hex::encode(&id[..6]), "refresh failed and the access token has expired");
                Err(AuthError::Unavailable)
            }
            Err(error) => {
                tracing::info!(%error, session = %hex::encode(&id[..6]), "Okta rejected the refresh token; ending the session");
                inner.sessions.remove(id).await;
                Err(AuthError::Invalid)
            }
        }
    }

    /// Revokes a token at Okta, then evicts it everywhere (see [`Self::evict_token`]).
    /// The local eviction happens even when Okta cannot be reached.
    pub async fn revoke(
        &self,
        token: &Secret<String>,
        hint: Option<&str>,
    ) -> Result<bool, OktaError> {
        let result = self.inner.okta.revoke(token, hint).await;
        let ended_session = self.evict_token(token.expose()).await;
        result.map(|()| ended_session)
    }

    /// Removes a token from the credential and userinfo caches, keeps it on the deny list
    /// until it expires, and ends every session holding it, so the next request with it
    /// is rejected by this gateway. Returns whether a session was ended.
    pub async fn evict_token(&self, token: &str) -> bool {
        let inner = &*self.inner;
        let key = inner.credentials.key(token);
        let expires_at = match inner.credentials.invalidate(&key).await {
            Some(Validated::Active(identity)) => identity.expires_at,
            _ => now_unix() + DENY_LIST_DEFAULT_TTL.as_secs(),
        };
        inner
            .revoked
            .insert(
                key,
                Expiring {
                    value: (),
                    expires_at,
                },
            )
            .await;
        inner.userinfo.invalidate(&key).await;
        let holder = inner.sessions.session_holding(&hash_token(token)).await;
        if let Some(session) = holder {
            let removed = inner.sessions.remove(session).await;
            inner.refreshes.invalidate(&session).await;
            // The ended session's refresh token would stay valid at Okta until it expires.
            let refresh_token = removed.and_then(|removed| removed.refresh_token.clone());
            if let Some(refresh_token) = refresh_token.filter(|t| t.expose() != token) {
                if let Err(error) = inner
                    .okta
                    .revoke(&refresh_token, Some("refresh_token"))
                    .await
                {
                    tracing::warn!(
                        %error,
                        token = %fingerprint(refresh_token.expose()),
                        "failed to revoke the refresh token of a session ended by a revocation"
                    );
                }
            }
        }
        tracing::info!(token = %fingerprint(token), "evicted a revoked token from every cache");
        holder.is_some()
    }

    /// Ends a session: removes it, then revokes its refresh and access tokens at Okta
    /// and evicts them locally. Returns the removed session, plus the error when a
    /// revocation at Okta failed. The session is gone either way.
    pub async fn end_session(&self, id: TokenHash) -> Option<(Arc<Session>, Option<OktaError>)> {
        let inner = &*self.inner;
        let session = inner.sessions.remove(id).await?;
        inner.refreshes.invalidate(&id).await;

        let mut failure = None;
        // Revoking the refresh token first also kills every access token it minted.
        if let Some(refresh_token) = &session.refresh_token {
            if let Err(error) = self.revoke(refresh_token, Some("refresh_token")).await {
                failure = Some(error);
            }
        }
        if let Err(error) = self
            .revoke(&session.access_token, Some("access_token"))
            .await
        {
            failure = Some(error);
        }
        if let Some(error) = &failure {
            tracing::warn!(%error, session = %hex::encode(&id[..6]), "ended the session locally but revocation at Okta failed");
        }
        Some((session, failure))
    }

    /// Returns Okta's userinfo claims for an access token, cached per token.
    pub async fn userinfo(
        &self,
        access_token: &Secret<String>,
        expires_at: u64,
    ) -> Result<Arc<serde_json::Value>, AuthError> {
        let inner = &*self.inner;
        let key = inner.credentials.key(access_token.expose());
        if let Some(cached) = inner.userinfo.get(&key).await {
            inner.metrics.cache_hit("userinfo");
            return Ok(cached.value);
        }
        inner.metrics.cache_miss("userinfo");
        let fetch = async {
            match inner.okta.userinfo(access_token).await {
                Ok(claims) => Ok(Expiring {
                    value: Arc::new(claims),
                    expires_at,
                }),
                Err(error) if is_outage(&error) => Err(AuthError::Unavailable),
                Err(error) => {
                    tracing::info!(%error, token = %access_token.fingerprint(), "Okta rejected the userinfo call");
                    Err(AuthError::Invalid)
                }
            }
        };
        inner
            .userinfo
            .try_get_with(key, fetch)
            .await
            .map(|cached| cached.value)
            .map_err(|error| (*error).clone())
    }

    /// Returns the number of cached validation results (for tests and metrics).
    pub fn cached_credentials(&self) -> u64 {
        self.inner.credentials.entry_count()
    }
}

// === impl AuthError ===

impl AuthError {
    pub fn into_api_error(self) -> ApiError {
        match self {
            AuthError::Missing => ApiError::unauthenticated(),
            AuthError::Invalid => ApiError::invalid_token(),
            AuthError::InsufficientScope => ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "The credential lacks a scope this resource requires.",
            )
            .with_header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"portcullis\", error=\"insufficient_scope\"",
                ),
            ),
            AuthError::Unavailable => ApiError::idp_unavailable(),
        }
    }
}

/// Finds the request's credential: a bearer token first, else the session cookie.
pub fn extract_credential<'a>(headers: &'a HeaderMap, cookie_name: &str) -> Option<Credential<'a>> {
    if let Some(token) = headers.get(AUTHORIZATION).and_then(bearer_token) {
        return Some(Credential::Bearer(token));
    }
    cookie::find_cookie(headers, cookie_name)
        .filter(|value| !value.is_empty())
        .map(Credential::Session)
}

/// Returns the token of an `Authorization: Bearer <token>` value.
pub fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Returns true when the session's `amr` shows the phone factor: `sms`, or `tel` for a
/// voice call (RFC 8176 values). A bare `mfa` may stand for another factor.
fn proves_phone_factor(amr: &[String]) -> bool {
    amr.iter()
        .any(|method| matches!(method.as_str(), "sms" | "tel"))
}

fn needs_refresh(session: &Session, refresh_before_expiry: Duration) -> bool {
    session.access_expires_at <= SystemTime::now() + refresh_before_expiry
}

/// Returns true for failures that reveal nothing about the credential.
fn is_outage(error: &OktaError) -> bool {
    error.is_unavailable() || matches!(error, OktaError::RateLimited { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn extract_prefers_bearer_over_cookie() {
        let headers = headers(&[("authorization", "Bearer abc"), ("cookie", "s=def")]);
        assert_eq!(
            extract_credential(&headers, "s"),
            Some(Credential::Bearer("abc"))
        );
    }

    #[test]
    fn extract_reads_session_cookie() {
        let headers = headers(&[("authorization", "Basic dXNlcjpwdw=="), ("cookie", "s=def")]);
        assert_eq!(
            extract_credential(&headers, "s"),
            Some(Credential::Session("def"))
        );
    }

    #[test]
    fn extract_rejects_empty_values() {
        let headers = headers(&[("authorization", "Bearer  "), ("cookie", "s=")]);
        assert_eq!(extract_credential(&headers, "s"), None);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let value = HeaderValue::from_static("bEaReR tok");
        assert_eq!(bearer_token(&value), Some("tok"));
    }

    #[test]
    fn phone_factor_requires_second_factor() {
        assert!(proves_phone_factor(&["pwd".into(), "sms".into()]));
        assert!(proves_phone_factor(&["tel".into()]));
        assert!(!proves_phone_factor(&["pwd".into()]));
        assert!(!proves_phone_factor(&["pwd".into(), "mfa".into()]));
        assert!(!proves_phone_factor(&[]));
    }
}
