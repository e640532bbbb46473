//! The compact identity cached per credential and sent upstream as headers.

use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use crate::okta::{Audience, Introspection};
use crate::session::Session;

/// The owner of a credential, with the claims that are re-checked on every cache hit.
///
/// Strings are boxed slices and the identity headers are prepared once, so a cached
/// identity for a typical Okta user stays well under 1 KiB and forwarding a request
/// clones reference-counted header values instead of formatting them.
#[derive(Debug)]
pub struct Identity {
    /// `sub`: for Okta access tokens the user's login.
    pub subject: Box<str>,
    /// `username` from introspection, or the session's login.
    pub username: Option<Box<str>>,
    pub email: Option<Box<str>>,
    pub groups: Box<[Box<str>]>,
    /// Granted scopes, space-separated.
    pub scope: Box<str>,
    pub client_id: Option<Box<str>>,
    pub audience: Box<[Box<str>]>,
    /// Expiry of the access token, in seconds since the Unix epoch.
    pub expires_at: u64,
    pub headers: IdentityHeaders,
}

/// Identity header values, `None` where the claim is absent or not a valid header value.
#[derive(Debug, Default)]
pub struct IdentityHeaders {
    pub user: Option<HeaderValue>,
    pub email: Option<HeaderValue>,
    pub preferred_username: Option<HeaderValue>,
    pub groups: Option<HeaderValue>,
}

// === impl Identity ===

impl Identity {
    /// Builds an identity from an active introspection response. Returns `None` when
    /// the response lacks `sub` or `exp`, which every Okta access token carries.
    pub fn from_introspection(introspection: Introspection) -> Option<Identity> {
        let subject = introspection.sub?;
        let expires_at = introspection.exp?;
        let audience = match introspection.aud {
            Some(Audience::One(aud)) => vec![aud.into_boxed_str()].into_boxed_slice(),
            Some(Audience::Many(auds)) => auds.into_iter().map(String::into_boxed_str).collect(),
            None => Box::default(),
        };
        Some(Identity::new(Claims {
            subject,
            username: introspection.username,
            email: introspection.email,
            groups: introspection.groups.unwrap_or_default(),
            scope: introspection.scope.unwrap_or_default(),
            client_id: introspection.client_id,
            audience,
            expires_at,
        }))
    }

    /// Builds an identity from a session created at login.
    pub fn from_session(session: &Session) -> Identity {
        Identity::new(Claims {
            subject: session.subject.clone(),
            username: Some(session.username.clone()),
            email: session.email.clone(),
            groups: session.groups.clone(),
            scope: session.scope.clone(),
            client_id: None,
            audience: Box::default(),
            expires_at: unix_seconds(session.access_expires_at),
        })
    }

    pub(crate) fn new(claims: Claims) -> Identity {
        let groups: Box<[Box<str>]> = claims
            .groups
            .into_iter()
            .map(String::into_boxed_str)
            .collect();
        let headers = IdentityHeaders {
            user: header_value(&claims.subject),
            email: claims.email.as_deref().and_then(header_value),
            preferred_username: claims.username.as_deref().and_then(header_value),
            groups: if groups.is_empty() {
                None
            } else {
                header_value(&groups.join(","))
            },
        };
        Identity {
            subject: claims.subject.into_boxed_str(),
            username: claims.username.map(String::into_boxed_str),
            email: claims.email.map(String::into_boxed_str),
            groups,
            scope: claims.scope.into_boxed_str(),
            client_id: claims.client_id.map(String::into_boxed_str),
            audience: claims.audience,
            expires_at: claims.expires_at,
            headers,
        }
    }

    /// Returns the granted scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_ascii_whitespace()
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|granted| granted == scope)
    }

    /// Returns true once the token's `exp` has passed at `now` (Unix seconds).
    pub fn is_expired_at(&self, now: u64) -> bool {
        self.expires_at <= now
    }
}

/// The claims an identity is built from.
pub(crate) struct Claims {
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub scope: String,
    pub client_id: Option<String>,
    pub audience: Box<[Box<str>]>,
    pub expires_at: u64,
}

fn header_value(value: &str) -> Option<HeaderValue> {
    match HeaderValue::from_str(value) {
        Ok(value) => Some(value),
        Err(_) => {
            tracing::debug!("a claim is not a valid header value; its header is left out");
            None
        }
    }
}

/// Returns the current time in seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    unix_seconds(SystemTime::now())
}

pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_identity_fits_in_one_kib() {
        let identity = Identity::new(Claims {
            subject: "alice.anderson@example.com".to_string(),
            username: Some("alice.anderson@example.com".to_string()),
            email: Some("alice.anderson@example.com".to_string()),
            groups: vec!["engineering".to_string(), "admins".to_string()],
            scope: "openid profile email phone offline_access".to_string(),
            client_id: Some("0oaoesxtxmPf08QHk0h7".to_string()),
            audience: vec!["api://default".into()].into_boxed_slice(),
            expires_at: 1_900_000_000,
        });
        let strings = [
            Some(&identity.subject),
            identity.username.as_ref(),
            identity.email.as_ref(),
            identity.client_id.as_ref(),
            Some(&identity.scope),
        ];
        let string_bytes: usize = strings.iter().flatten().map(|value| value.len()).sum();
        let list_bytes: usize = identity
            .groups
            .iter()
            .chain(identity.audience.iter())
            .map(|value| value.len() + std::mem::size_of::<Box<str>>())
            .sum();
        let headers = &identity.headers;
        let header_bytes: usize = [
            &headers.user,
            &headers.email,
            &headers.preferred_username,
            &headers.groups,
        ]
        .iter()
        .filter_map(|value| value.as_ref())
        .map(|value| value.len())
        .sum();
        let total = std::mem::size_of::<Identity>() + string_bytes + list_bytes + header_bytes;
        assert!(total < 1024, "a cached identity takes about {total} bytes");
    }
}
