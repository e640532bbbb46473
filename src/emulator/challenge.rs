//! `POST /v1/challenge`: sends the SMS or voice code of an MFA transaction.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Response, StatusCode};
use rand::Rng;
use serde_json::{json, Value};

use super::config::{Channel, GRANT_MFA_OOB, GRANT_MFA_OOB_URN};
use super::errors::{json_response, OAuthError};
use super::request::{authenticate, read_form, Form};
use super::state::{random_token, Inner, OobChallenge, Server, Shared};
use super::token::{no_store, open_transaction, unauthorized_client};

/// The OTP challenge type, valid in Okta but not enrolled for any emulator user.
const CHALLENGE_MFA_OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";

/// Serves `/v1/challenge`.
pub async fn handle(shared: Arc<Shared>, server: Server, request: Request) -> Response<Body> {
    let mut response = match read_form(request).await {
        Err(response) => response,
        Ok((headers, form)) => {
            let mut inner = shared.lock();
            match challenge(&shared, &mut inner, &server, &headers, &form) {
                Ok(body) => json_response(StatusCode::OK, &body),
                Err(err) => err.into_response(),
            }
        }
    };
    no_store(response.headers_mut());
    response
}

fn challenge(
    shared: &Shared,
    inner: &mut Inner,
    server: &Server,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Value, OAuthError> {
    let client = authenticate(inner, headers, form, None)?;
    if !client.has_mfa_oob() {
        return Err(unauthorized_client(&client));
    }
    let mfa_token = form.require("mfa_token")?;
    let now = Instant::now();
    inner.purge_expired(now);
    let transaction = open_transaction(inner, server, &client, mfa_token, now)?;
    let username = transaction.username.clone();

    let challenge_type = pick_challenge_type(
        form.get("challenge_types_supported"),
        inner.settings.accept_urn_mfa_oob,
    )?;

    // Okta has required `channel_hint` for OOB challenges since 2023.
    let hint = form.require("channel_hint")?;
    let Some(channel) = Channel::parse(hint) else {
        return Err(OAuthError::invalid_request(format!(
            "'{hint}' is not supported as a 'channel_hint'. Try again with another value."
        )));
    };

    let Some(user) = inner.user(&username).cloned() else {
        return Err(OAuthError::expired("mfa_token", "mfa_token"));
    };
    let phone = match &user.phone {
        Some(phone) if user.channels.contains(&channel) => phone.clone(),
        _ => {
            return Err(OAuthError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "The required authenticator cannot be used. Check if it is required by policy and the user is enrolled in the authenticator and try again.",
            ))
        }
    };

    // Okta sends at most one SMS or call per phone number per 30 seconds.
    let interval = inner.settings.sms_resend_interval;
    if !interval.is_zero() {
        if let Some(last) = inner.limits.last_send.get(&phone) {
            if now.duration_since(*last) < interval {
                return Err(OAuthError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "invalid_grant",
                    "API call exceeded rate limit due to too many requests.",
                ));
            }
        }
        inner.limits.last_send.insert(phone.clone(), now);
    }

    // A resend replaces the earlier challenge of this transaction.
    for earlier in inner.oob.values_mut().filter(|c| c.mfa_token == mfa_token) {
        earlier.spent = true;
    }
    let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32));
    let oob_code = format!("ft{}", random_token(32));
    let ttl = inner.settings.oob_code_ttl;
    inner.oob.insert(
        oob_code.clone(),
        OobChallenge {
            mfa_token: mfa_token.to_string(),
            channel,
            code: code.clone(),
            expires_at: now + ttl,
            spent: false,
        },
    );
    shared.send_code(inner, &phone, channel, &code);

    Ok(json!({
        "challenge_type": challenge_type,
        "oob_code": oob_code,
        "expires_in": ttl.as_secs().max(1),
        "channel": channel.as_str(),
        "binding_method": "prompt",
    }))
}

/// Picks the challenge type from the client's offer (the documented mfa-oob by default).
fn pick_challenge_type(offer: Option<&str>, accept_urn: bool) -> Result<&'static str, OAuthError> {
    let Some(offer) = offer else {
        return Ok(GRANT_MFA_OOB);
    };
    for value in offer.split(' ').filter(|v| !v.is_empty()) {
        if value == GRANT_MFA_OOB {
            return Ok(GRANT_MFA_OOB);
        }
        if accept_urn && value == GRANT_MFA_OOB_URN {
            return Ok(GRANT_MFA_OOB_URN);
        }
        if value != CHALLENGE_MFA_OTP {
            return Err(OAuthError::invalid_request(format!(
                "{value} is not supported as a 'challenge_type'. Try again with another value."
            )));
        }
    }
    // Only mfa-otp was offered, and no emulator user has an OTP authenticator enrolled.
    Err(OAuthError::new(
        StatusCode::FORBIDDEN,
        "access_denied",
        "Unable to prompt for the requested authenticators. Review the Authentication Policy’s requirements or request another authenticator and try again.",
    ))
}
