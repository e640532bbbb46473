//! Okta's request and response bodies, as the gateway reads them.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The endpoints the gateway calls, from discovery plus the derived challenge endpoint.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub issuer: String,
    pub token: String,
    pub challenge: String,
    pub introspect: String,
    pub revoke: String,
    pub userinfo: Option<String>,
    pub end_session: Option<String>,
    pub jwks_uri: String,
}

/// The members of the discovery document the gateway uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    pub jwks_uri: String,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

/// A successful token response (password, mfa-oob or refresh grant).
#[derive(Clone, Debug, Deserialize)]
pub struct TokenResponse {
    pub token_type: String,
    pub expires_in: u64,
    pub access_token: Secret<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub id_token: Option<Secret<String>>,
    #[serde(default)]
    pub refresh_token: Option<Secret<String>>,
}

/// The result of the password grant.
#[derive(Debug)]
pub enum PasswordOutcome {
    /// Okta needs a second factor (HTTP 403 `mfa_required`).
    MfaRequired { mfa_token: Secret<String> },
    /// The sign-on policy was satisfied by the password alone.
    Tokens(TokenResponse),
}

/// The phone channel a challenge goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Voice,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }

    /// Parses the wire name (`"sms"` or `"voice"`), as the login API and forms send it.
    pub fn from_name(name: &str) -> Option<Channel> {
        match name {
            "sms" => Some(Channel::Sms),
            "voice" => Some(Channel::Voice),
            _ => None,
        }
    }
}

/// The response of `/v1/challenge` for an SMS or voice challenge.
#[derive(Debug, Deserialize)]
pub struct ChallengeResponse {
    pub challenge_type: String,
    pub oob_code: Secret<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub binding_method: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// `aud` is a string or an array of strings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, expected: &str) -> bool {
        match self {
            Audience::One(aud) => aud == expected,
            Audience::Many(auds) => auds.iter().any(|aud| aud == expected),
        }
    }
}

/// An RFC 7662 introspection response. Inactive responses carry only `active: false`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// A custom claim some authorization servers add; absent from Okta's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A custom claim some authorization servers add; absent from Okta's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// Okta's OAuth error body, or its management error body; both reach OAuth clients.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default, rename = "errorCode")]
    pub error_code: Option<String>,
    #[serde(default, rename = "errorSummary")]
    pub error_summary: Option<String>,
    #[serde(default)]
    pub mfa_token: Option<Secret<String>>,
}
