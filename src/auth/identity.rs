//! The compact identity cached per credential and sent upstream as headers.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use crate::okta::{Audience, Introspection};
use crate::session::Session;

/// The owner of a credential, with the claims that are re-checked on every cache hit.
///
/// Strings are boxed slices and the identity headers are prepared once, so a cached
/// identity for a typical Okta user stays well under 1 KiB and forwarding a request
/// clones reference-counted header values instead of formatting them. For Okta the
/// subject, username and email are usually the same login: equal values share one
/// allocation, and so do their header values.
#[derive(Debug)]
pub struct Identity {
    /// `sub`: for Okta access tokens the user's login.
    pub subject: Arc<str>,
    /// `username` from introspection, or the session's login.
    pub username: Option<Arc<str>>,
    pub email: Option<Arc<str>>,
    pub groups: NameList,
    /// Granted scopes, space-separated.
    pub scope: Box<str>,
    pub client_id: Option<Box<str>>,
    pub audience: NameList,
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
            Some(Audience::One(aud)) => vec![aud],
            Some(Audience::Many(auds)) => auds,
            None => Vec::new(),
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
            audience: Vec::new(),
            expires_at: unix_seconds(session.access_expires_at),
        })
    }

    pub(crate) fn new(claims: Claims) -> Identity {
        let subject: Arc<str> = Arc::from(claims.subject);
        let user = header_value(&subject);
        // Equal to the subject (the usual Okta case): share its string and header value.
        let shared = |value: Option<String>| match value {
            Some(value) if *value == *subject => (Some(subject.clone()), user.clone()),
            Some(value) => {
                let header = header_value(&value);
                (Some(Arc::from(value)), header)
            }
            None => (None, None),
        };
        let (username, preferred_username) = shared(claims.username);
        let (email, email_header) = shared(claims.email);
        let groups = NameList::new(claims.groups);
        let headers = IdentityHeaders {
            user,
            email: email_header,
            preferred_username,
            groups: if groups.is_empty() {
                None
            } else {
                header_value(&groups.iter().collect::<Vec<_>>().join(","))
            },
        };
        Identity {
            subject,
            username,
            email,
            groups,
            scope: claims.scope.into_boxed_str(),
            client_id: claims.client_id.map(String::into_boxed_str),
            audience: NameList::new(claims.audience),
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

/// A list of names (groups, audiences) in one allocation: each name's length as four
/// little-endian bytes, then the name. Ten separate strings would cost ten allocations
/// per cached identity.
#[derive(Debug, Default)]
pub struct NameList {
    encoded: Box<[u8]>,
}

impl NameList {
    pub fn new(list: Vec<String>) -> NameList {
        let mut encoded = Vec::with_capacity(list.iter().map(|name| name.len() + 4).sum());
        for name in &list {
            // Claims come from an HTTP response of bounded size, far below 4 GiB.
            let len = u32::try_from(name.len()).unwrap_or(u32::MAX);
            encoded.extend_from_slice(&len.to_le_bytes());
            encoded.extend_from_slice(&name.as_bytes()[..len as usize]);
        }
        NameList {
            encoded: encoded.into_boxed_slice(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.encoded.is_empty()
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|listed| listed == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let mut rest: &[u8] = &self.encoded;
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = (u32::from_le_bytes(*len) as usize).min(tail.len());
            let (name, tail) = tail.split_at(len);
            rest = tail;
            // Built from `String`s, so always UTF-8.
            Some(std::str::from_utf8(name).unwrap_or_default())
        })
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
    pub audience: Vec<String>,
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
            audience: vec!["api://default".to_string()],
            expires_at: 1_900_000_000,
        });
        let strings = [
            Some(&*identity.subject),
            identity.username.as_deref(),
            identity.email.as_deref(),
            identity.client_id.as_deref(),
            Some(&*identity.scope),
        ];
        let string_bytes: usize = strings.iter().flatten().map(|value| value.len()).sum();
        let list_bytes: usize = [&identity.groups, &identity.audience]
            .iter()
            .map(|list| list.iter().map(|name| name.len() + 4).sum::<usize>())
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

    fn claims(login: &str, username: &str, email: Option<&str>, groups: &[&str]) -> Claims {
        Claims {
            subject: login.to_string(),
            username: Some(username.to_string()),
            email: email.map(str::to_string),
            groups: groups.iter().map(|group| group.to_string()).collect(),
            scope: "openid".to_string(),
            client_id: None,
            audience: Vec::new(),
            expires_at: 1_900_000_000,
        }
    }

    #[test]
    fn equal_login_claims_share_one_string() {
        let login = "alice@example.com";
        let identity = Identity::new(claims(login, login, Some(login), &[]));
        let username = identity.username.as_ref().unwrap();
        assert!(Arc::ptr_eq(&identity.subject, username));
        assert!(Arc::ptr_eq(
            &identity.subject,
            identity.email.as_ref().unwrap()
        ));
        let headers = &identity.headers;
        assert_eq!(headers.user.as_ref().unwrap(), login);
        assert_eq!(headers.preferred_username.as_ref().unwrap(), login);
        assert_eq!(headers.email.as_ref().unwrap(), login);
    }

    #[test]
    fn different_login_claims_keep_their_own_values() {
        let identity = Identity::new(claims("00u1", "alice", Some("a@example.com"), &[]));
        assert_eq!(&*identity.subject, "00u1");
        assert_eq!(identity.username.as_deref(), Some("alice"));
        assert_eq!(identity.email.as_deref(), Some("a@example.com"));
        let headers = &identity.headers;
        assert_eq!(headers.user.as_ref().unwrap(), "00u1");
        assert_eq!(headers.preferred_username.as_ref().unwrap(), "alice");
        assert_eq!(headers.email.as_ref().unwrap(), "a@example.com");
    }

    #[test]
    fn group_list_keeps_names_and_order() {
        let identity = Identity::new(claims("a", "a", None, &["eng", "", "ops,sre", "é\n"]));
        let groups: Vec<&str> = identity.groups.iter().collect();
        assert_eq!(groups, ["eng", "", "ops,sre", "é\n"]);
        assert_eq!(identity.groups.len(), 4);
        assert!(NameList::new(Vec::new()).is_empty());
        // A control character makes the joined header value invalid, so none is set.
        assert!(identity.headers.groups.is_none());
        let identity = Identity::new(claims("a", "a", None, &["eng", "ops"]));
        assert_eq!(identity.headers.groups.as_ref().unwrap(), "eng,ops");
    }
}
