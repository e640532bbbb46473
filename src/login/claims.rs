//! Reading claims from the ID token returned by Okta's token endpoint.
//!
//! The token arrives straight from the token endpoint over the gateway's own TLS
//! connection, so its signature is not checked here (OpenID Connect Core 3.1.3.7 allows
//! this for tokens received directly from the token endpoint).

use base64::Engine;
use serde::Deserialize;

/// The ID-token claims a session keeps.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct IdClaims {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    pub groups: Vec<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    pub amr: Vec<String>,
}

/// Decodes the payload of a JWT without checking its signature. Returns `None` for
/// anything that is not a JWT with a JSON object payload.
pub fn decode_unverified<T: for<'de> Deserialize<'de>>(jwt: &str) -> Option<T> {
    let mut parts = jwt.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Returns true when the authentication methods include a phone factor: `sms` or `tel`
/// (voice), the RFC 8176 values Okta puts in `amr`.
pub fn proves_phone_factor(amr: &[String]) -> bool {
    amr.iter().any(|method| method == "sms" || method == "tel")
}

fn string_or_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(String),
        Many(Vec<String>),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Repr::deserialize(deserializer)? {
        Repr::One(value) => vec![value],
        Repr::Many(values) => values,
        Repr::Other(_) => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let encode = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", encode(r#"{"alg":"RS256"}"#), encode(payload))
    }

    #[test]
    fn claims_decode_from_payload() {
        let token = jwt(
            r#"{"sub":"00u1","amr":["pwd","sms","mfa"],"groups":"admins","email":"a@example.com"}"#,
        );
        let claims: IdClaims = decode_unverified(&token).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("00u1"));
        assert_eq!(claims.groups, ["admins"]);
        assert!(proves_phone_factor(&claims.amr));
    }

    #[test]
    fn password_only_amr_is_not_phone() {
        let claims: IdClaims = decode_unverified(&jwt(r#"{"amr":["pwd"]}"#)).unwrap();
        assert!(!proves_phone_factor(&claims.amr));
        assert!(proves_phone_factor(&["tel".to_string()]));
    }

    #[test]
    fn malformed_tokens_decode_to_none() {
        assert!(decode_unverified::<IdClaims>("abc").is_none());
        assert!(decode_unverified::<IdClaims>("a.!!!.c").is_none());
        assert!(decode_unverified::<IdClaims>("a.b.c.d").is_none());
    }
}
