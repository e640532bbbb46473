//! Local verification of Okta access tokens (RS256 JWTs) against the issuer's JWKS.
//!
//! Only RS256 is accepted, whatever algorithm the token header names. Keys are cached for the
//! JWKS response's `Cache-Control` max-age, capped by `auth.jwks_cache_ttl`; an unknown
//! `kid` triggers one refetch, at most once per [`MIN_REFETCH_INTERVAL`]. When a refetch
//! fails, the previous keys stay in use.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::identity::{Claims, Identity};
use crate::okta::{Audience, OktaClient, OktaError};

/// Shortest time between two JWKS fetches caused by unknown key ids, so that tokens
/// with made-up `kid`s cannot make the gateway hammer Okta.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// The result of verifying a token locally.
#[derive(Debug)]
pub enum Verified {
    Valid(Box<Identity>),
    /// Bad signature, unknown key, wrong issuer or audience, expired or not yet valid.
    Invalid(&'static str),
}

/// The claims of an Okta access token that the gateway reads.
#[derive(Deserialize)]
struct AccessTokenClaims {
    sub: String,
    exp: u64,
    #[serde(default)]
    cid: Option<String>,
    #[serde(default)]
    scp: Option<Scopes>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    groups: Option<Vec<String>>,
}

/// `scp` is an array in Okta tokens; a space-separated string is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes {
    Many(Vec<String>),
    One(String),
}

/// A JWKS cache plus the fixed validation rules.
pub struct JwtVerifier {
    okta: OktaClient,
    validation: Validation,
    max_ttl: Duration,
    keys: RwLock<Option<KeySet>>,
    /// Held while fetching, so concurrent misses cause one fetch.
    fetch: tokio::sync::Mutex<()>,
}

struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Instant,
    expires_at: Instant,
}

enum Lookup {
    Found(Arc<DecodingKey>),
    /// Unknown `kid` in a fresh key set fetched less than the refetch interval ago.
    Unknown,
    /// No key set yet, the set is stale, or the `kid` is unknown and may be new.
    Fetch,
}

// === impl JwtVerifier ===

impl JwtVerifier {
    pub fn new(okta: OktaClient, audience: &str, clock_skew: Duration, max_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.set_issuer(&[okta.issuer()]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = clock_skew.as_secs();
        Self {
            okta,
            validation,
            max_ttl,
            keys: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(()),
        }
    }

    /// Verifies a token's signature and its `iss`, `aud`, `exp` and `nbf` claims.
    /// Errors mean the keys could not be fetched, never that the token is bad.
    pub async fn verify(&self, token: &str) -> Result<Verified, OktaError> {
        let header = match jsonwebtoken::decode_header(token) {
            Ok(header) => header,
            Err(_) => return Ok(Verified::Invalid("not a JWT")),
        };
        if header.alg != Algorithm::RS256 {
            return Ok(Verified::Invalid("algorithm is not RS256"));
        }
        let Some(kid) = header.kid else {
            return Ok(Verified::Invalid("no key id"));
        };
        let Some(key) = self.key(&kid).await? else {
            return Ok(Verified::Invalid("unknown key id"));
        };
        let claims = match jsonwebtoken::decode::<AccessTokenClaims>(token, &key, &self.validation)
        {
            Ok(data) => data.claims,
            Err(error) => {
                tracing::debug!(%error, "access token failed local verification");
                return Ok(Verified::Invalid("verification failed"));
            }
        };

        let scope = match claims.scp {
            Some(Scopes::Many(scopes)) => scopes.join(" "),
            Some(Scopes::One(scope)) => scope,
            None => String::new(),
        };
        let audience = match claims.aud {
            Some(Audience::One(aud)) => vec![aud],
            Some(Audience::Many(auds)) => auds,
            None => Vec::new(),
        };
        Ok(Verified::Valid(Box::new(Identity::new(Claims {
            username: Some(claims.sub.clone()),
            subject: claims.sub,
            email: claims.email,
            groups: claims.groups.unwrap_or_default(),
            scope,
            client_id: claims.cid,
            audience,
            expires_at: claims.exp,
        }))))
    }

    /// Returns the key for `kid`, fetching the JWKS when needed.
    async fn key(&self, kid: &str) -> Result<Option<Arc<DecodingKey>>, OktaError> {
        match self.lookup(kid) {
            Lookup::Found(key) => return Ok(Some(key)),
            Lookup::Unknown => return Ok(None),
            Lookup::Fetch => {}
        }

        let _fetching = self.fetch.lock().await;
        // Another caller may have fetched while this one waited.
        match self.lookup(kid) {
            Lookup::Found(key) => return Ok(Some(key)),
            Lookup::Unknown => return Ok(None),
            Lookup::Fetch => {}
        }

        match self.okta.jwks().await {
            Ok((jwks, max_age)) => {
                let ttl = max_age.map_or(self.max_ttl, |age| age.min(self.max_ttl));
                let keys = decoding_keys(&jwks);
                tracing::debug!(
                    keys = keys.len(),
                    ttl_secs = ttl.as_secs(),
                    "fetched the JWKS"
                );
                let now = Instant::now();
                let found = keys.get(kid).cloned();
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(KeySet {
                    keys,
                    fetched_at: now,
                    expires_at: now + ttl,
                });
                Ok(found)
            }
            Err(error) => {
                // Keep using stale keys rather than rejecting every token while Okta
                // is unreachable; a key rotation during the outage is not seen.
                let mut guard = self.keys.write().unwrap_or_else(|e| e.into_inner());
                match guard.as_mut() {
                    Some(set) => {
                        tracing::warn!(%error, "JWKS refetch failed; keeping the previous keys");
                        set.fetched_at = Instant::now();
                        Ok(set.keys.get(kid).cloned())
                    }
                    None => Err(error),
                }
            }
        }
    }

    fn lookup(&self, kid: &str) -> Lookup {
        let guard = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let Some(set) = guard.as_ref() else {
            return Lookup::Fetch;
        };
        let now = Instant::now();
        let fresh = now < set.expires_at;
        match set.keys.get(kid) {
            Some(key) if fresh => Lookup::Found(key.clone()),
            _ if now.duration_since(set.fetched_at) < MIN_REFETCH_INTERVAL => {
                match set.keys.get(kid) {
                    Some(key) => Lookup::Found(key.clone()),
                    None => Lookup::Unknown,
                }
            }
            _ => Lookup::Fetch,
        }
    }
}

/// Keeps the RSA signing keys that are usable with RS256.
fn decoding_keys(jwks: &JwkSet) -> HashMap<String, Arc<DecodingKey>> {
    jwks.keys
        .iter()
        .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
        .filter(|jwk| {
            jwk.common
                .key_algorithm
                .map_or(true, |alg| alg == jsonwebtoken::jwk::KeyAlgorithm::RS256)
        })
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, Arc::new(key)))
        })
        .collect()
}
