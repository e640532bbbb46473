//! Failures of the login flow and the one mapping from them to responses.

use std::time::Duration;

use http::{header, HeaderValue, StatusCode};

use super::ratelimit::retry_after_secs;
use super::transaction::Ended;
use crate::error::ApiError;
use crate::okta::Channel;

/// A login-flow failure returned to the client.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("transaction not found")]
    TransactionNotFound,
    #[error("transaction ended: {0:?}")]
    TransactionEnded(Ended),
    #[error("verify called before any challenge")]
    ChallengeRequired,
    #[error("wrong code, {attempts_remaining} attempts remaining")]
    InvalidCode { attempts_remaining: u32 },
    #[error("channel {0:?} is not offered")]
    ChannelNotOffered(Channel),
    #[error("Okta refused to send a code by {0:?}")]
    ChallengeRefused(Channel),
    #[error("the login did not prove a phone factor")]
    MfaNotSatisfied,
    #[error("rate limited per {scope}")]
    RateLimited {
        retry_after: Duration,
        scope: &'static str,
    },
    #[error("SMS and voice send budget spent")]
    SendBudget { retry_after: Duration },
    #[error("Okta rate limited the call")]
    IdpRateLimited { retry_after: Duration },
    #[error("Okta is unavailable")]
    IdpUnavailable,
    #[error("Okta rejected the gateway's configuration")]
    Misconfigured,
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        use LoginError::*;
        match error {
            InvalidInput(reason) => ApiError::bad_request(format!("Invalid request: {reason}.")),
            InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "The username or password is incorrect, or the account cannot sign in.",
            ),
            TransactionNotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "transaction_not_found",
                "No login transaction has this id; start again with the login request.",
            ),
            TransactionEnded(Ended::Expired) => ApiError::new(
                StatusCode::GONE,
                "transaction_expired",
                "The login transaction has expired; start again with the login request.",
            ),
            TransactionEnded(Ended::AttemptsExhausted) => ApiError::new(
                StatusCode::GONE,
                "transaction_expired",
                "The login transaction ended after too many wrong codes; start again with the login request.",
            ),
            TransactionEnded(Ended::Completed) => ApiError::new(
                StatusCode::GONE,
                "transaction_expired",
                "The login transaction is already complete; start again with the login request.",
            ),
            ChallengeRequired => ApiError::new(
                StatusCode::CONFLICT,
                "challenge_required",
                "No code was sent yet; request one with the challenge request first.",
            ),
            InvalidCode { attempts_remaining } => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_code",
                if attempts_remaining == 0 {
                    "The code is incorrect and no attempts remain; start again with the login request."
                } else {
                    "The code is incorrect; check it and try again."
                },
            )
            .with_field("attempts_remaining", attempts_remaining),
            ChannelNotOffered(channel) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "channel_unavailable",
                format!("Codes cannot be sent by {}; use one of the offered channels.", channel.as_str()),
            ),
            ChallengeRefused(channel) => ApiError::new(
                StatusCode::FORBIDDEN,
                "challenge_refused",
                format!(
                    "The identity provider refused to send a code by {}: the account may have no phone enrolled for it, or the transaction expired. Try another channel or start again.",
                    channel.as_str()
                ),
            ),
            MfaNotSatisfied => ApiError::new(
                StatusCode::FORBIDDEN,
                "mfa_not_satisfied",
                "The sign-in did not prove a phone factor, which this gateway requires; ask an administrator to require SMS or voice MFA for this account.",
            ),
            RateLimited { retry_after, scope } => rate_limited(
                retry_after,
                format!("Too many login requests for this {scope}; retry later."),
            ),
            SendBudget { retry_after } => rate_limited(
                retry_after,
                "Too many codes were sent recently; retry later.".to_string(),
            ),
            IdpRateLimited { retry_after } => rate_limited(
                retry_after,
                "The identity provider is rate limiting these requests; retry later.".to_string(),
            ),
            IdpUnavailable => ApiError::idp_unavailable(),
            Misconfigured => ApiError::internal(),
        }
    }
}

fn rate_limited(retry_after: Duration, description: String) -> ApiError {
    let seconds = retry_after_secs(retry_after);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", description)
        .with_field("retry_after", seconds)
        .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
}
