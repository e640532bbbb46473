//! `POST /v1/introspect` (RFC 7662) and `POST /v1/revoke` (RFC 7009).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Response, StatusCode};
use serde_json::{json, Value};

use super::errors::{json_response, OAuthError};
use super::request::{authenticate, read_form, Form};
use super::state::{Inner, Server, Shared};

/// Serves `/v1/introspect`.
pub async fn introspect(shared: Arc<Shared>, server: Server, request: Request) -> Response<Body> {
    let query = query_form(&request);
    let (headers, form) = match read_form(request).await {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let inner = shared.lock();
    match introspect_token(&shared, &inner, &server, &headers, &form, query.as_ref()) {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(err) => err.into_response(),
    }
}

/// Parses the query string; public clients send their `client_id` there.
fn query_form(request: &Request) -> Option<Form> {
    request
        .uri()
        .query()
        .and_then(|q| Form::parse(q.as_bytes()).ok())
}

fn introspect_token(
    shared: &Shared,
    inner: &Inner,
    server: &Server,
    headers: &HeaderMap,
    form: &Form,
    query: Option<&Form>,
) -> Result<Value, OAuthError> {
    let client = authenticate(inner, headers, form, query)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The 'token' parameter is required."))?;
    let now = Instant::now();
    let inactive = json!({ "active": false });
    let issuer = server.issuer(&shared.base_url);

    if let Some(record) = inner.access.get(token) {
        let active = !record.revoked
            && record.expires_at > now
            && record.server == *server
            && record.client_id == client.client_id;
        if !active {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true,
            "token_type": "Bearer",
            "scope": record.scopes.join(" "),
            "client_id": record.client_id,
            "username": record.username,
            "exp": record.exp,
            "iat": record.iat,
            "sub": record.username,
            "aud": server.audience(&shared.base_url),
            "iss": issuer,
            "jti": record.jti,
            "uid": record.user_id,
        }));
    }

    if let Some(record) = inner.refresh.get(token) {
        let active = !record.revoked
            && record.expires_at > now
            && record.usable_until.map_or(true, |until| until > now)
            && record.server == *server
            && record.client_id == client.client_id;
        if !active {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true,
            "token_type": "Bearer",
            "scope": record.scopes.join(" "),
            "client_id": record.client_id,
            "username": record.username,
            "exp": record.exp,
            "sub": record.username,
        }));
    }

    if let Some(record) = inner.id_tokens.get(token) {
        let active = !record.revoked
            && record.expires_at > now
            && record.server == *server
            && record.client_id == client.client_id;
        if !active {
            return Ok(inactive);
        }
        let mut body = record.claims.clone();
        body["active"] = Value::Bool(true);
        body["token_type"] = Value::String("id_token".to_string());
        body["client_id"] = Value::String(record.client_id.clone());
        return Ok(body);
    }

    Ok(inactive)
}

/// Serves `/v1/revoke`: always 200 with an empty body once the client is authenticated.
pub async fn revoke(shared: Arc<Shared>, server: Server, request: Request) -> Response<Body> {
    let query = query_form(&request);
    let (headers, form) = match read_form(request).await {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let mut inner = shared.lock();
    match revoke_token(&mut inner, &server, &headers, &form, query.as_ref()) {
        Ok(()) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::OK;
            response
        }
        Err(err) => err.into_response(),
    }
}

fn revoke_token(
    inner: &mut Inner,
    server: &Server,
    headers: &HeaderMap,
    form: &Form,
    query: Option<&Form>,
) -> Result<(), OAuthError> {
    let client = authenticate(inner, headers, form, query)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The 'token' parameter is required."))?;
    if let Some(hint) = form.get("token_type_hint") {
        if !matches!(hint, "access_token" | "refresh_token" | "device_secret") {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_token_type",
                format!("The token_type_hint '{hint}' is not supported."),
            ));
        }
    }

    // A client may revoke only its own tokens; anything else is silently ignored.
    let owns = |record_client: &str, record_server: &Server| {
        record_client == client.client_id && record_server == server
    };
    let refresh_grant = inner
        .refresh
        .get(token)
        .filter(|r| owns(&r.client_id, &r.server))
        .map(|r| r.grant_id);
    if let Some(grant_id) = refresh_grant {
        // Revoking a refresh token also kills the access tokens minted from its grant.
        inner.revoke_grant(grant_id);
        return Ok(());
    }
    if let Some(record) = inner.access.get_mut(token) {
        if record.client_id == client.client_id && record.server == *server {
            record.revoked = true;
        }
    }
    Ok(())
}
