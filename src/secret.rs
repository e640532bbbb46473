//! A wrapper that keeps credentials out of logs, error bodies and metric labels.
//!
//! Passwords, one-time codes, `mfa_token`s, `oob_code`s, tokens, session ids and client
//! secrets are held as [`Secret`]. Its `Debug` and `Display` print `[redacted]`, so a
//! stray `{:?}` or a derived `Debug` on a containing struct cannot leak the value. The
//! value is reached only through [`Secret::expose`], which makes every use greppable.

use std::fmt;

use sha2::{Digest, Sha256};

/// A credential whose value never reaches `Debug` or `Display` output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

/// The SHA-256 digest of a credential, used as a cache key so that caches never store
/// the credential itself.
pub type TokenHash = [u8; 32];

// === impl Secret ===

impl<T> Secret<T> {
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// Returns the wrapped value. Call sites must not log or echo it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl Secret<String> {
    /// Returns the SHA-256 digest of the value.
    pub fn hash(&self) -> TokenHash {
        hash_token(&self.0)
    }

    /// Returns a short, non-reversible fingerprint that may appear in logs.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

/// Returns the SHA-256 digest of a token.
pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Returns the first 12 hex digits of the token's SHA-256 digest.
pub fn fingerprint(token: &str) -> String {
    let digest = hash_token(token);
    hex::encode(&digest[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_and_display_redact() {
        let secret = Secret::new("hunter2".to_string());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn fingerprint_is_short_and_stable() {
        let first = fingerprint("token-a");
        assert_eq!(first.len(), 12);
        assert_eq!(first, fingerprint("token-a"));
        assert_ne!(first, fingerprint("token-b"));
    }
}
