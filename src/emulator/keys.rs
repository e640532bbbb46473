//! The RSA signing key of the emulator, its JWKS entry and JWT signing helpers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// An RS256 key pair generated at start; it lives as long as the emulator.
pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

/// Failure to generate or encode the signing key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("failed to generate the RSA signing key: {0}")]
    Generate(#[from] rsa::Error),
    #[error("failed to encode the RSA signing key: {0}")]
    Encode(#[from] rsa::pkcs1::Error),
    #[error("failed to load the RSA signing key: {0}")]
    Load(#[from] jsonwebtoken::errors::Error),
}

impl SigningKey {
    /// Generates a fresh RSA-2048 key.
    pub fn generate() -> Result<Self, KeyError> {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?;
        let der = private.to_pkcs1_der()?;
        let encoding = EncodingKey::from_rsa_der(der.as_bytes());
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        let decoding = DecodingKey::from_rsa_components(&n, &e)?;

        // Like Okta, the kid is a hash-derived, URL-safe string.
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(n.as_bytes()));
        let jwk = json!({ "kty": "RSA", "alg": "RS256", "kid": kid, "use": "sig", "e": e, "n": n });
        Ok(SigningKey {
            kid,
            encoding,
            decoding,
            jwk,
        })
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk.clone()] })
    }

    /// Signs claims as an RS256 JWT carrying this key's `kid`.
    pub fn sign(&self, claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
        // Okta's JWT headers carry only `alg` and `kid`.
        let mut header = Header::new(Algorithm::RS256);
        header.typ = None;
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// Verifies a JWT's signature and issuer, ignoring expiry and audience.
    pub fn verify_ignoring_expiry(&self, token: &str, issuer: &str) -> Option<Value> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[issuer]);
        jsonwebtoken::decode::<Value>(token, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// Computes the OIDC `at_hash`: the left half of the access token's SHA-256, base64url.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}
