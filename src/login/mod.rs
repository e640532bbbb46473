//! The login flow: password, then an SMS or voice code, then a server-side session.
//!
//! `POST /login` runs Okta's password grant and keeps the `mfa_token` in a transaction;
//! `POST /challenge` requests that Okta send a code (again, for a resend); `POST /verify`
//! exchanges the code with the mfa-oob grant and creates the session. Okta's
//! `mfa_token` and `oob_code` never leave the gateway, and every step is rate-limited
//! per user and per client address, with a separate budget for SMS and voice sends.

mod claims;
mod error;
mod ratelimit;
mod transaction;

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

pub use self::claims::{decode_unverified, proves_phone_factor, IdClaims};
pub use self::error::LoginError;
pub use self::ratelimit::{retry_after_secs, RateLimiter};
pub use self::transaction::{Ended, Lookup, Transaction, TransactionStore};
use crate::config::Config;
use crate::gateway::Gateway;
use crate::okta::{Channel, OktaError, PasswordOutcome, TokenResponse};
use crate::secret::Secret;
use crate::session::{new_session_id, Session};

/// Most rate-limit keys (users and addresses) tracked at once per limiter.
const LIMITER_CAPACITY: u64 = 100_000;

/// Maximum username length, in bytes.
const MAX_USERNAME_BYTES: usize = 256;

/// Maximum password length, in bytes.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Maximum transaction id length looked up. Real ids are 32 characters.
const MAX_TRANSACTION_ID_BYTES: usize = 128;

/// The login flow's state: transactions and rate limiters.
pub struct Login {
    pub transactions: TransactionStore,
    per_user: RateLimiter,
    per_ip: RateLimiter,
    sends_per_user: RateLimiter,
    sends_global: RateLimiter,
}

/// The result of `POST /login`.
pub enum LoginOutcome {
    MfaRequired {
        transaction_id: Secret<String>,
        channels: Vec<Channel>,
        expires_in: u64,
    },
    /// Okta's policy needed no second factor and the configuration allows that.
    Authenticated(NewSession),
}

/// The result of `POST /challenge`.
pub struct ChallengeSent {
    pub channel: Channel,
    pub expires_in: u64,
}

/// A session just created, with what the client receives.
pub struct NewSession {
    /// The cookie value; only its hash is stored.
    pub session_id: Secret<String>,
    pub access_token: Secret<String>,
    pub expires_in: u64,
    pub scope: String,
    pub username: String,
}

// === impl Login ===

impl Login {
    pub fn new(config: &Config) -> Self {
        let login = &config.login;
        let minute = Duration::from_secs(60);
        let hour = Duration::from_secs(3600);
        Self {
            transactions: TransactionStore::new(
                login.transaction_lifetime,
                login.transaction_capacity,
            ),
            per_user: RateLimiter::new(login.per_user_per_minute, minute, LIMITER_CAPACITY),
            per_ip: RateLimiter::new(login.per_ip_per_minute, minute, LIMITER_CAPACITY),
            sends_per_user: RateLimiter::new(login.sends_per_user_per_hour, hour, LIMITER_CAPACITY),
            sends_global: RateLimiter::new(login.sends_per_hour, hour, 1),
        }
    }

    /// Counts one login-flow request from `ip`.
    pub async fn check_ip(&self, ip: IpAddr) -> Result<(), LoginError> {
        self.per_ip
            .check(&ip.to_string())
            .await
            .map_err(|wait| LoginError::RateLimited {
                retry_after: wait,
                scope: "client address",
            })
    }

    /// Counts one login-flow request for `username` (case-insensitive).
    async fn check_user(&self, username: &str) -> Result<(), LoginError> {
        self.per_user
            .check(&username.to_lowercase())
            .await
            .map_err(|wait| LoginError::RateLimited {
                retry_after: wait,
                scope: "user",
            })
    }

    /// Counts one SMS or voice send against the user's and the gateway's budgets.
    async fn check_send(&self, username: &str) -> Result<(), LoginError> {
        self.sends_per_user
            .check(&username.to_lowercase())
            .await
            .map_err(|wait| LoginError::SendBudget { retry_after: wait })?;
        self.sends_global.check("").await.map_err(|wait| {
            tracing::warn!("the gateway-wide SMS and voice budget is spent (login.sends_per_hour)");
            LoginError::SendBudget { retry_after: wait }
        })
    }

    async fn live_transaction(
        &self,
        transaction_id: &str,
    ) -> Result<std::sync::Arc<tokio::sync::Mutex<Transaction>>, LoginError> {
        if transaction_id.is_empty() || transaction_id.len() > MAX_TRANSACTION_ID_BYTES {
            return Err(LoginError::TransactionNotFound);
        }
        match self.transactions.lookup(transaction_id).await {
            Lookup::Live(transaction) => Ok(transaction),
            Lookup::Ended(reason) => Err(LoginError::TransactionEnded(reason)),
            Lookup::Unknown => Err(LoginError::TransactionNotFound),
        }
    }
}

/// Step 1: checks the password with Okta and opens a transaction for the code.
pub async fn start(
    gateway: &Gateway,
    ip: IpAddr,
    username: &str,
    password: &Secret<String>,
) -> Result<LoginOutcome, LoginError> {
    let login = &gateway.login;
    login.check_ip(ip).await?;
    if username.trim().is_empty() || password.is_empty() {
        return Err(LoginError::InvalidInput(
            "username and password must not be empty",
        ));
    }
    if username.len() > MAX_USERNAME_BYTES || username.chars().any(char::is_control) {
        return Err(LoginError::InvalidInput(
            "username must be at most 256 bytes without control characters",
        ));
    }
    if password.expose().len() > MAX_PASSWORD_BYTES {
        return Err(LoginError::InvalidInput(
            "password must be at most 1024 bytes",
        ));
    }
    login.check_user(username).await?;

    let scope = gateway.config.okta.scopes.join(" ");
    let outcome = gateway
        .okta
        .password_grant(username, password, &scope)
        .await
        .map_err(password_error)?;

    match outcome {
        PasswordOutcome::MfaRequired { mfa_token } => {
            let attempts = gateway.config.login.max_code_attempts;
            let (transaction_id, expires_at) = login
                .transactions
                .create(username.to_string(), mfa_token, attempts)
                .await;
            tracing::info!(user = %username, "password accepted; waiting for the phone code");
            Ok(LoginOutcome::MfaRequired {
                transaction_id,
                channels: gateway.config.login.channels.clone(),
                expires_in: seconds_until(expires_at),
            })
        }
        PasswordOutcome::Tokens(tokens) => {
            let claims = id_claims(&tokens);
            if gateway.config.auth.require_mfa && !proves_phone_factor(&claims.amr) {
                tracing::warn!(
                    user = %username,
                    "Okta issued tokens for the password alone, but auth.require_mfa is on; \
                     check the Okta sign-on policy"
                );
                revoke_in_background(gateway, tokens);
                return Err(LoginError::MfaNotSatisfied);
            }
            let session = create_session(gateway, username, tokens, claims, Vec::new()).await;
            tracing::info!(user = %username, "signed in without a phone factor (auth.require_mfa is off)");
            Ok(LoginOutcome::Authenticated(session))
        }
    }
}

/// Step 2: requests that Okta send a code on `channel`, also to resend one.
pub async fn challenge(
    gateway: &Gateway,
    ip: IpAddr,
    transaction_id: &str,
    channel: Channel,
) -> Result<ChallengeSent, LoginError> {
    let login = &gateway.login;
    login.check_ip(ip).await?;
    let shared = login.live_transaction(transaction_id).await?;
    let mut transaction = shared.lock().await;
    if let Some(reason) = transaction.ended {
        return Err(LoginError::TransactionEnded(reason));
    }
    login.check_user(&transaction.username).await?;
    if Instant::now() >= transaction.expires_at {
        login
            .transactions
            .end(transaction_id, &mut transaction, Ended::Expired)
            .await;
        return Err(LoginError::TransactionEnded(Ended::Expired));
    }
    if !gateway.config.login.channels.contains(&channel) {
        return Err(LoginError::ChannelNotOffered(channel));
    }
    login.check_send(&transaction.username).await?;

    match gateway
        .okta
        .challenge(&transaction.mfa_token, channel)
        .await
    {
        Ok(response) => {
            let now = Instant::now();
            let oob_expiry = response
                .expires_in
                .map(|secs| now + Duration::from_secs(secs))
                .unwrap_or(transaction.expires_at);
            let expires_at = oob_expiry.min(transaction.expires_at);
            transaction.challenge = Some(transaction::Challenge {
                oob_code: response.oob_code,
                channel,
                expires_at,
            });
            if !transaction.channels_sent.contains(&channel) {
                transaction.channels_sent.push(channel);
            }
            tracing::info!(user = %transaction.username, channel = channel.as_str(), "code sent");
            Ok(ChallengeSent {
                channel,
                expires_in: seconds_until(expires_at),
            })
        }
        Err(error) => {
            let error = challenge_error(error, &transaction, channel);
            if let LoginError::TransactionEnded(reason) = error {
                login
                    .transactions
                    .end(transaction_id, &mut transaction, reason)
                    .await;
            }
            Err(error)
        }
    }
}

/// Step 3: exchanges the code for tokens and creates the session.
pub async fn verify(
    gateway: &Gateway,
    ip: IpAddr,
    transaction_id: &str,
    code: Secret<String>,
) -> Result<NewSession, LoginError> {
    let login = &gateway.login;
    login.check_ip(ip).await?;
    let code_is_digits = (4..=10).contains(&code.expose().len())
        && code.expose().bytes().all(|b| b.is_ascii_digit());
    let shared = login.live_transaction(transaction_id).await?;
    // Holding the lock across the Okta call makes concurrent guesses for one
    // transaction wait for each other, so the attempt count cannot be raced.
    let mut transaction = shared.lock().await;
    if let Some(reason) = transaction.ended {
        return Err(LoginError::TransactionEnded(reason));
    }
    login.check_user(&transaction.username).await?;
    if Instant::now() >= transaction.expires_at {
        login
            .transactions
            .end(transaction_id, &mut transaction, Ended::Expired)
            .await;
        return Err(LoginError::TransactionEnded(Ended::Expired));
    }
    let Some(challenge) = &transaction.challenge else {
        return Err(LoginError::ChallengeRequired);
    };
    if !code_is_digits {
        return Err(LoginError::InvalidInput(
            "code must be the 4 to 10 digits from the SMS or call",
        ));
    }
    let channel = challenge.channel;

    let scope = gateway.config.okta.scopes.join(" ");
    let result = gateway
        .okta
        .mfa_oob_grant_exchange(&transaction.mfa_token, &challenge.oob_code, &code, &scope)
        .await;
    match result {
        Ok(tokens) => {
            let username = transaction.username.clone();
            login
                .transactions
                .end(transaction_id, &mut transaction, Ended::Completed)
                .await;
            drop(transaction);
            let claims = id_claims(&tokens);
            // The mfa-oob grant itself proves the phone factor; `amr` falls back to it
            // when the ID token is missing or carries none.
            let flow_amr = vec![
                "pwd".to_string(),
                match channel {
                    Channel::Sms => "sms",
                    Channel::Voice => "tel",
                }
                .to_string(),
                "mfa".to_string(),
            ];
            let session = create_session(gateway, &username, tokens, claims, flow_amr).await;
            tracing::info!(user = %username, channel = channel.as_str(), "signed in with a phone factor");
            Ok(session)
        }
        Err(error) if error.code() == Some("invalid_grant") => {
            transaction.attempts_remaining = transaction.attempts_remaining.saturating_sub(1);
            let attempts_remaining = transaction.attempts_remaining;
            tracing::info!(user = %transaction.username, attempts_remaining, "wrong code");
            if attempts_remaining == 0 {
                login
                    .transactions
                    .end(transaction_id, &mut transaction, Ended::AttemptsExhausted)
                    .await;
            }
            Err(LoginError::InvalidCode { attempts_remaining })
        }
        Err(error) if error.code() == Some("access_denied") => {
            // Okta returns 403 access_denied for an expired oob_code or mfa_token.
            login
                .transactions
                .end(transaction_id, &mut transaction, Ended::Expired)
                .await;
            Err(LoginError::TransactionEnded(Ended::Expired))
        }
        Err(error) => Err(common_error(error)),
    }
}

/// Builds the session from a token response, stores it and returns what the client gets.
async fn create_session(
    gateway: &Gateway,
    username: &str,
    tokens: TokenResponse,
    claims: IdClaims,
    flow_amr: Vec<String>,
) -> NewSession {
    // The subject matches what introspection of the access token reports (its `sub`),
    // so a cookie and a bearer token of one user forward the same identity.
    #[derive(serde::Deserialize)]
    struct AccessClaims {
        sub: Option<String>,
    }
    let access_sub = decode_unverified::<AccessClaims>(tokens.access_token.expose())
        .and_then(|claims| claims.sub);
    let subject = access_sub
        .or_else(|| claims.sub.clone())
        .unwrap_or_else(|| username.to_string());
    let scope = tokens
        .scope
        .clone()
        .unwrap_or_else(|| gateway.config.okta.scopes.join(" "));
    let amr = if claims.amr.is_empty() {
        flow_amr
    } else {
        claims.amr
    };
    let now = SystemTime::now();
    let session = Session {
        access_token: tokens.access_token.clone(),
        id_token: tokens.id_token,
        refresh_token: tokens.refresh_token,
        access_expires_at: now + Duration::from_secs(tokens.expires_in),
        scope: scope.clone(),
        username: claims
            .preferred_username
            .unwrap_or_else(|| username.to_string()),
        subject,
        email: claims.email,
        groups: claims.groups,
        amr,
        created_at: now,
        identity: Default::default(),
    };
    let session_id = new_session_id();
    let username = session.username.clone();
    gateway.sessions.put(session_id.hash(), session).await;
    NewSession {
        session_id,
        access_token: tokens.access_token,
        expires_in: tokens.expires_in,
        scope,
        username,
    }
}

fn id_claims(tokens: &TokenResponse) -> IdClaims {
    tokens
        .id_token
        .as_ref()
        .and_then(|token| decode_unverified(token.expose()))
        .unwrap_or_default()
}

/// Revokes tokens that must not be used (MFA was required but not proven).
fn revoke_in_background(gateway: &Gateway, tokens: TokenResponse) {
    let okta = gateway.okta.clone();
    tokio::spawn(async move {
        if let Some(refresh) = &tokens.refresh_token {
            if let Err(error) = okta.revoke(refresh, Some("refresh_token")).await {
                tracing::warn!(%error, "failed to revoke a refresh token issued without MFA");
            }
        }
        if let Err(error) = okta
            .revoke(&tokens.access_token, Some("access_token"))
            .await
        {
            tracing::warn!(%error, "failed to revoke an access token issued without MFA");
        }
    });
}

/// Maps a failed password grant. Every refusal that concerns the user (wrong password,
/// unknown user, locked, not assigned, denied by policy) gets the same answer, so the
/// response never tells which one it was.
fn password_error(error: OktaError) -> LoginError {
    match error.code() {
        Some("invalid_grant" | "access_denied") => LoginError::InvalidCredentials,
        _ => common_error(error),
    }
}

/// Maps a failed challenge. Okta returns 403 `access_denied` both for an expired
/// `mfa_token` and for a channel the user has no phone for. A channel that already
/// received a code in this transaction rules out the second cause.
fn challenge_error(error: OktaError, transaction: &Transaction, channel: Channel) -> LoginError {
    match error.code() {
        Some("access_denied") if transaction.channels_sent.contains(&channel) => {
            LoginError::TransactionEnded(Ended::Expired)
        }
        Some("access_denied") => LoginError::ChallengeRefused(channel),
        Some("invalid_request") => LoginError::ChannelNotOffered(channel),
        _ => common_error(error),
    }
}

/// Maps failures every step treats alike: rate limits, outages and misconfiguration.
fn common_error(error: OktaError) -> LoginError {
    match error {
        OktaError::RateLimited { retry_after, .. } => LoginError::IdpRateLimited {
            retry_after: retry_after.unwrap_or(Duration::from_secs(30)),
        },
        error if error.is_unavailable() => LoginError::IdpUnavailable,
        error => {
            // The client cannot fix these: the client credentials, grants or scopes of
            // the Okta app do not match the configuration.
            tracing::error!(%error, "Okta rejected the gateway's request; check the [okta] configuration and the Okta app");
            LoginError::Misconfigured
        }
    }
}

fn seconds_until(deadline: Instant) -> u64 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_secs_f64()
        .round() as u64
}
