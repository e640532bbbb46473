//! `POST /v1/token`: the password, mfa-oob and refresh_token grants, and token minting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::config::{
    Channel, ClientConfig, RotationType, UserConfig, UserStatus, GRANT_MFA_OOB, GRANT_MFA_OOB_URN,
    SUPPORTED_SCOPES,
};
use super::errors::{json_response, OAuthError};
use super::keys::at_hash;
use super::request::{authenticate, read_form, Form};
use super::state::{
    now_epoch, random_token, AccessRecord, IdRecord, Inner, MfaTransaction, RefreshRecord, Server,
    Shared,
};

/// Grant types the token endpoint implements, as listed in error descriptions and discovery.
pub const SERVER_GRANT_TYPES: &[&str] = &["password", GRANT_MFA_OOB, "refresh_token"];

/// The `idp` claim: the id of the emulated org.
const ORG_ID: &str = "00oportcullisemulator";

/// Subject, client, scopes and authentication facts of one set of tokens.
struct GrantContext<'a> {
    server: &'a Server,
    client_id: &'a str,
    user: &'a UserConfig,
    scopes: Vec<String>,
    amr: Vec<String>,
    auth_time: u64,
}

/// Serves `/v1/token`.
pub async fn handle(shared: Arc<Shared>, server: Server, request: Request) -> Response<Body> {
    // Okta treats any request with an Origin header as a browser request that needs PKCE.
    let browser = request.headers().contains_key(header::ORIGIN);
    let mut response = match read_form(request).await {
        Err(response) => response,
        Ok((headers, form)) => {
            let mut inner = shared.lock();
            let result = if browser {
                Err(OAuthError::invalid_client(
                    "Browser requests to the token endpoint must use Proof Key for Code Exchange.",
                ))
            } else {
                dispatch(&shared, &mut inner, &server, &headers, &form)
            };
            match result {
                Ok(body) => json_response(StatusCode::OK, &body),
                Err(err) => err.into_response(),
            }
        }
    };
    no_store(response.headers_mut());
    response
}

/// Adds the RFC 6749 cache headers of token responses.
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn dispatch(
    shared: &Shared,
    inner: &mut Inner,
    server: &Server,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Value, OAuthError> {
    let client = authenticate(inner, headers, form, None)?;
    let grant_type = form.require("grant_type")?;

    let is_mfa_oob = grant_type == GRANT_MFA_OOB
        || (grant_type == GRANT_MFA_OOB_URN && inner.settings.accept_urn_mfa_oob);
    if !is_mfa_oob && !matches!(grant_type, "password" | "refresh_token") {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "The authorization grant type is not supported by the authorization server. Configured grant types: [{}].",
                SERVER_GRANT_TYPES.join(", ")
            ),
        ));
    }
    let enabled = if is_mfa_oob {
        client.has_mfa_oob()
    } else {
        client.has_grant(grant_type)
    };
    if !enabled {
        return Err(unauthorized_client(&client));
    }

    let now = Instant::now();
    inner.purge_expired(now);
    match grant_type {
        "password" => password_grant(shared, inner, server, &client, form, now),
        "refresh_token" => refresh_grant(shared, inner, server, &client, form, now),
        _ => mfa_oob_grant(shared, inner, server, &client, form, now),
    }
}

/// 400 `unauthorized_client`, listing the grants configured on the client.
pub fn unauthorized_client(client: &ClientConfig) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        format!(
            "The client is not authorized to use the provided grant type. Configured grant types: [{}].",
            client.grant_types.join(", ")
        ),
    )
}

/// Parses a space-separated `scope`; every scope must be one the server supports.
pub fn parse_scopes(raw: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let Some(raw) = raw else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "No scopes were requested.",
        ));
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in raw.split(' ').filter(|s| !s.is_empty()) {
        if !SUPPORTED_SCOPES.contains(&scope) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "One or more scopes are not configured for the authorization server resource.",
            ));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_string());
        }
    }
    if scopes.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "No scopes were requested.",
        ));
    }
    Ok(scopes)
}

fn same_scopes(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|s| b.contains(s))
}

fn invalid_credentials() -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "The credentials provided were invalid.",
    )
}

/// Compares two secrets in constant time (hashing first hides their lengths).
fn secrets_match(expected: &str, given: &str) -> bool {
    Sha256::digest(expected.as_bytes())
        .ct_eq(&Sha256::digest(given.as_bytes()))
        .into()
}

/// Counts one event in a sliding window; returns false when `limit` is already reached.
pub fn within_limit(
    events: &mut std::collections::VecDeque<Instant>,
    limit: u32,
    window: Duration,
    now: Instant,
) -> bool {
    while events
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        events.pop_front();
    }
    events.len() < limit as usize
}

fn password_grant(
    shared: &Shared,
    inner: &mut Inner,
    server: &Server,
    client: &ClientConfig,
    form: &Form,
    now: Instant,
) -> Result<Value, OAuthError> {
    let username = form.require("username")?;
    let password = form.require("password")?;
    let scopes = parse_scopes(form.get("scope"))?;

    // Okta limits password requests per username, counting every attempt.
    let limit = inner.settings.password_requests_per_second;
    if limit > 0 {
        let events = inner
            .limits
            .password
            .entry(username.to_lowercase())
            .or_default();
        if !within_limit(events, limit, Duration::from_secs(1), now) {
            return Err(OAuthError::user_rate_limited());
        }
        events.push_back(now);
    }

    // Unknown user, wrong password and a user who may not sign in get the same response.
    let Some(user) = inner.user(username).cloned() else {
        secrets_match("", password);
        return Err(invalid_credentials());
    };
    if !secrets_match(&user.password, password) || user.status != UserStatus::Active {
        return Err(invalid_credentials());
    }

    let auth_time = now_epoch();
    if !user.mfa_required {
        let context = GrantContext {
            server,
            client_id: &client.client_id,
            user: &user,
            scopes,
            amr: vec!["pwd".to_string()],
            auth_time,
        };
        return issue(shared, inner, client, &context, None, now);
    }

    if !client.has_mfa_oob() {
        return Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "The grant types required to satisfy sign on policy are disabled for the client.",
        ));
    }
    if let Some(supported) = form.get("grant_types_supported") {
        let accept_urn = inner.settings.accept_urn_mfa_oob;
        let covers_mfa = supported
            .split(' ')
            .any(|g| g == GRANT_MFA_OOB || (accept_urn && g == GRANT_MFA_OOB_URN));
        if !covers_mfa {
            return Err(OAuthError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                format!("The 'grant_types_supported' '{supported}' are not sufficient to satisfy the authentication policy. Configure additional grant types for the client or revise the authentication policy to allow the user to sign-in."),
            ));
        }
    }

    let mfa_token = random_token(32);
    let expires_at = now + inner.settings.mfa_token_ttl;
    inner.mfa.insert(
        mfa_token.clone(),
        MfaTransaction {
            server: server.clone(),
            client_id: client.client_id.clone(),
            username: user.username.clone(),
            scopes,
            auth_time,
            expires_at,
        },
    );
    Err(OAuthError::new(
        StatusCode::FORBIDDEN,
        "mfa_required",
        "Verify with an additional authenticator to complete the sign-in process.",
    )
    .with("mfa_token", Value::String(mfa_token)))
}

/// Looks up an open MFA transaction and checks that this client and server own it.
pub fn open_transaction<'a>(
    inner: &'a Inner,
    server: &Server,
    client: &ClientConfig,
    mfa_token: &str,
    now: Instant,
) -> Result<&'a MfaTransaction, OAuthError> {
    let Some(transaction) = inner.mfa.get(mfa_token).filter(|t| t.expires_at > now) else {
        return Err(OAuthError::expired("mfa_token", "mfa_token"));
    };
    if transaction.client_id != client.client_id {
        return Err(OAuthError::invalid_client(format!(
            "The client_id '{}' does not match the client_id in the original request '{}'. Use the original client id and try again.",
            client.client_id, transaction.client_id
        )));
    }
    if transaction.server != *server {
        return Err(OAuthError::invalid_request(format!(
            "The authorization server id '{}' in the url_path parameter does not match the authorization server id in the original request '{}'. Use the original authorization server id and try again.",
            server_id(server),
            server_id(&transaction.server)
        )));
    }
    Ok(transaction)
}

fn server_id(server: &Server) -> &str {
    match server {
        Server::Org => "org",
        Server::Custom(id) => id,
    }
}

fn mfa_oob_grant(
    shared: &Shared,
    inner: &mut Inner,
    server: &Server,
    client: &ClientConfig,
    form: &Form,
    now: Instant,
) -> Result<Value, OAuthError> {
    let mfa_token = form.require("mfa_token")?;
    let oob_code = form.require("oob_code")?;
    let transaction = open_transaction(inner, server, client, mfa_token, now)?;

    let Some(challenge) = inner.oob.get(oob_code) else {
        return Err(OAuthError::expired("oob_code", "oob_code"));
    };
    if challenge.mfa_token != mfa_token {
        return Err(OAuthError::invalid_request(
            "The 'oob_code' and the 'mfa_token' provided are not associated with each other. Review the values and try again.",
        ));
    }
    if challenge.spent || challenge.expires_at <= now {
        return Err(OAuthError::expired("oob_code", "oob_code"));
    }

    if let Some(requested) = form.get("scope") {
        let requested_scopes: Vec<String> = requested
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if !same_scopes(&requested_scopes, &transaction.scopes) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!(
                    "The requested scopes '{}' do not match the scopes requested in the original request '{}'. Use the originally requested scopes and try again.",
                    requested,
                    transaction.scopes.join(" ")
                ),
            ));
        }
    }

    let username = transaction.username.clone();
    let scopes = transaction.scopes.clone();
    let auth_time = transaction.auth_time;
    let channel = challenge.channel;
    let expected_code = challenge.code.clone();

    // Okta allows 5 one-time codes per user per 5 minutes on /token.
    let limit = inner.settings.wrong_code_limit;
    let window = inner.settings.wrong_code_window;
    let key = username.to_lowercase();
    if limit > 0 {
        let events = inner.limits.wrong_codes.entry(key.clone()).or_default();
        if !within_limit(events, limit, window, now) {
            return Err(OAuthError::user_rate_limited());
        }
    }
    let given = form.get("binding_code").unwrap_or("");
    if given.is_empty() || !secrets_match(&expected_code, given) {
        if limit > 0 {
            inner
                .limits
                .wrong_codes
                .entry(key)
                .or_default()
                .push_back(now);
        }
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The 'otp' provided is either empty or incorrect. Use the correct OTP and try again.",
        ));
    }

    let Some(user) = inner.user(&username).cloned() else {
        return Err(invalid_credentials());
    };
    if let Some(challenge) = inner.oob.get_mut(oob_code) {
        challenge.spent = true;
    }
    inner.mfa.remove(mfa_token);

    let context = GrantContext {
        server,
        client_id: &client.client_id,
        user: &user,
        scopes,
        amr: vec![
            "pwd".to_string(),
            channel_amr(channel).to_string(),
            "mfa".to_string(),
        ],
        auth_time,
    };
    issue(shared, inner, client, &context, None, now)
}

fn channel_amr(channel: Channel) -> &'static str {
    channel.amr()
}

fn refresh_grant(
    shared: &Shared,
    inner: &mut Inner,
    server: &Server,
    client: &ClientConfig,
    form: &Form,
    now: Instant,
) -> Result<Value, OAuthError> {
    let token = form.require("refresh_token")?;
    let invalid = || {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The refresh token is invalid or expired.",
        )
    };
    let Some(record) = inner.refresh.get(token) else {
        return Err(invalid());
    };
    let owned = record.server == *server && record.client_id == client.client_id;
    if !owned || record.revoked || record.expires_at <= now {
        return Err(invalid());
    }
    if record.usable_until.is_some_and(|until| until <= now) {
        // Okta's reuse detection: a rotated token used after the grace period
        // invalidates the newest refresh token and every access token of the grant.
        let grant_id = record.grant_id;
        inner.revoke_grant(grant_id);
        tracing::info!(
            grant_id,
            "emulator revoked a grant after refresh token reuse"
        );
        return Err(invalid());
    }

    let scopes = match form.get("scope") {
        None => record.scopes.clone(),
        Some(raw) => {
            let requested: Vec<String> = raw
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let denied: Vec<&str> = requested
                .iter()
                .filter(|s| !record.scopes.contains(s))
                .map(String::as_str)
                .collect();
            if !denied.is_empty() {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "access_denied",
                    format!("Some of the scopes requested for the refresh request were not granted in the original authorize request. Denied scopes: {}.", denied.join(", ")),
                ));
            }
            if requested.is_empty() {
                record.scopes.clone()
            } else {
                requested
            }
        }
    };

    let Some(user) = inner
        .user(&record.username)
        .filter(|u| u.status == UserStatus::Active)
        .cloned()
    else {
        return Err(invalid());
    };
    let grant_id = record.grant_id;
    let amr = record.amr.clone();
    let auth_time = record.auth_time;
    let (iat, exp, expires_at) = (record.iat, record.exp, record.expires_at);

    let refresh_token = match client.rotation_type {
        RotationType::Static => token.to_string(),
        RotationType::Rotate => {
            let leeway = client.refresh_leeway;
            if let Some(old) = inner.refresh.get_mut(token) {
                old.usable_until.get_or_insert(now + leeway);
            }
            let fresh = random_token(40);
            // The rotated token keeps the expiry of the first refresh token of the grant.
            inner.refresh.insert(
                fresh.clone(),
                RefreshRecord {
                    server: server.clone(),
                    client_id: client.client_id.clone(),
                    username: user.username.clone(),
                    scopes: inner
                        .refresh
                        .get(token)
                        .map(|r| r.scopes.clone())
                        .unwrap_or_default(),
                    auth_time,
                    amr: amr.clone(),
                    iat,
                    exp,
                    expires_at,
                    grant_id,
                    revoked: false,
                    usable_until: None,
                },
            );
            fresh
        }
    };

    let context = GrantContext {
        server,
        client_id: &client.client_id,
        user: &user,
        scopes,
        amr,
        auth_time,
    };
    issue(
        shared,
        inner,
        client,
        &context,
        Some((grant_id, refresh_token)),
        now,
    )
}

/// Mints the access token, the ID token (with `openid`) and, for a new grant with
/// `offline_access`, a refresh token. A refresh passes its grant id and token in `existing`.
fn issue(
    shared: &Shared,
    inner: &mut Inner,
    client: &ClientConfig,
    context: &GrantContext<'_>,
    existing: Option<(u64, String)>,
    now: Instant,
) -> Result<Value, OAuthError> {
    let settings = &inner.settings;
    let issuer = context.server.issuer(&shared.base_url);
    let iat = now_epoch();
    let access_ttl = settings.access_token_ttl;
    let id_ttl = settings.id_token_ttl;
    let refresh_ttl = settings.refresh_token_ttl;
    let grant_id = match &existing {
        Some((id, _)) => *id,
        None => {
            inner.next_grant += 1;
            inner.next_grant
        }
    };

    let jti = format!("AT.{}", random_token(43));
    let access_claims = json!({
        "ver": 1,
        "jti": jti,
        "iss": issuer,
        "aud": context.server.audience(&shared.base_url),
        "iat": iat,
        "exp": iat + access_ttl.as_secs().max(1),
        "cid": context.client_id,
        "uid": context.user.id,
        "scp": context.scopes,
        "auth_time": context.auth_time,
        "sub": context.user.username,
    });
    let access_token = sign(shared, &access_claims)?;
    inner.access.insert(
        access_token.clone(),
        AccessRecord {
            server: context.server.clone(),
            client_id: context.client_id.to_string(),
            username: context.user.username.clone(),
            user_id: context.user.id.clone(),
            scopes: context.scopes.clone(),
            iat,
            exp: iat + access_ttl.as_secs().max(1),
            jti,
            expires_at: now + access_ttl,
            grant_id,
            revoked: false,
        },
    );

    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": access_ttl.as_secs().max(1),
        "access_token": access_token,
        "scope": context.scopes.join(" "),
    });

    if context.scopes.iter().any(|s| s == "openid") {
        let mut claims = json!({
            "ver": 1,
            "sub": context.user.id,
            "iss": issuer,
            "aud": context.client_id,
            "iat": iat,
            "exp": iat + id_ttl.as_secs().max(1),
            "jti": format!("ID.{}", random_token(43)),
            "amr": context.amr,
            "idp": ORG_ID,
            "auth_time": context.auth_time,
            "at_hash": at_hash(&access_token),
        });
        scope_claims(&mut claims, context.user, &context.scopes);
        let id_token = sign(shared, &claims)?;
        inner.id_tokens.insert(
            id_token.clone(),
            IdRecord {
                server: context.server.clone(),
                client_id: context.client_id.to_string(),
                claims,
                expires_at: now + id_ttl,
                grant_id,
                revoked: false,
            },
        );
        body["id_token"] = Value::String(id_token);
    }

    match existing {
        Some((_, refresh_token)) => body["refresh_token"] = Value::String(refresh_token),
        None => {
            let wants_refresh = context.scopes.iter().any(|s| s == "offline_access")
                && client.has_grant("refresh_token");
            if wants_refresh {
                let refresh_token = random_token(40);
                inner.refresh.insert(
                    refresh_token.clone(),
                    RefreshRecord {
                        server: context.server.clone(),
                        client_id: context.client_id.to_string(),
                        username: context.user.username.clone(),
                        scopes: context.scopes.clone(),
                        auth_time: context.auth_time,
                        amr: context.amr.clone(),
                        iat,
                        exp: iat + refresh_ttl.as_secs(),
                        expires_at: now + refresh_ttl,
                        grant_id,
                        revoked: false,
                        usable_until: None,
                    },
                );
                body["refresh_token"] = Value::String(refresh_token);
            }
        }
    }
    Ok(body)
}

/// Adds the profile, email, phone and groups claims the granted scopes allow.
pub fn scope_claims(claims: &mut Value, user: &UserConfig, scopes: &[String]) {
    let has = |scope: &str| scopes.iter().any(|s| s == scope);
    if has("profile") {
        claims["name"] = json!(user.name());
        claims["preferred_username"] = json!(user.username);
        claims["given_name"] = json!(user.given_name);
        claims["family_name"] = json!(user.family_name);
        claims["locale"] = json!(user.locale);
        claims["zoneinfo"] = json!(user.zoneinfo);
    }
    if has("email") {
        claims["email"] = json!(user.email);
        claims["email_verified"] = json!(true);
    }
    if has("phone") {
        if let Some(phone) = &user.phone {
            claims["phone_number"] = json!(phone);
        }
    }
    if !user.groups.is_empty() {
        claims["groups"] = json!(user.groups);
    }
}

fn sign(shared: &Shared, claims: &Value) -> Result<String, OAuthError> {
    shared.key.sign(claims).map_err(|err| {
        tracing::warn!(%err, "emulator failed to sign a token");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The authorization server encountered an unexpected error.",
        )
    })
}
