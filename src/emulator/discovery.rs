//! Discovery documents (`/.well-known/*`) and the JWKS (`/v1/keys`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};

use super::config::SUPPORTED_SCOPES;
use super::errors::{json_response, ApiError};
use super::request::Form;
use super::state::{Server, Shared};
use super::token::SERVER_GRANT_TYPES;

/// Kind of metadata document.
#[derive(Clone, Copy)]
pub enum Document {
    /// `openid-configuration`
    OpenId,
    /// `oauth-authorization-server` (RFC 8414)
    OAuth,
}

/// Serves a discovery document; a bad `?client_id=` gets a 400 in the management shape.
pub async fn handle(
    shared: Arc<Shared>,
    server: Server,
    document: Document,
    request: Request,
) -> Response<Body> {
    let invalid_client = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Invalid value for 'client_id' parameter.",
        )
        .into_response()
    };
    // A query that does not decode (invalid UTF-8, a repeated name) cannot name a client.
    let Ok(query) = Form::parse(request.uri().query().unwrap_or("").as_bytes()) else {
        return invalid_client();
    };
    if let Some(client_id) = query.get("client_id") {
        if shared.lock().client(client_id).is_none() {
            return invalid_client();
        }
    }
    json_response(
        StatusCode::OK,
        &metadata(&shared.base_url, &server, document),
    )
}

fn metadata(base_url: &str, server: &Server, document: Document) -> Value {
    let issuer = server.issuer(base_url);
    let endpoints = server.endpoint_base(base_url);
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    let mut body = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{endpoints}/authorize"),
        "token_endpoint": format!("{endpoints}/token"),
        "registration_endpoint": format!("{base_url}/oauth2/v1/clients"),
        "jwks_uri": format!("{endpoints}/keys"),
        "response_types_supported": ["code", "token", "id_token", "code id_token", "code token", "id_token token", "code id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post", "okta_post_message"],
        "grant_types_supported": SERVER_GRANT_TYPES,
        "subject_types_supported": ["public"],
        "scopes_supported": SUPPORTED_SCOPES,
        "token_endpoint_auth_methods_supported": auth_methods,
        "claims_supported": [
            "iss", "ver", "sub", "aud", "iat", "exp", "jti", "auth_time", "amr", "idp",
            "name", "given_name", "family_name", "preferred_username", "locale", "zoneinfo",
            "email", "email_verified", "phone_number", "groups", "at_hash", "cid", "uid", "scp",
        ],
        "code_challenge_methods_supported": ["S256"],
        "introspection_endpoint": format!("{endpoints}/introspect"),
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint": format!("{endpoints}/revoke"),
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "end_session_endpoint": format!("{endpoints}/logout"),
        "request_parameter_supported": false,
    });
    if let (Document::OpenId, Value::Object(map)) = (document, &mut body) {
        map.insert(
            "userinfo_endpoint".into(),
            json!(format!("{endpoints}/userinfo")),
        );
        map.insert(
            "id_token_signing_alg_values_supported".into(),
            json!(["RS256"]),
        );
    }
    body
}

/// Serves `/v1/keys` with a `Cache-Control` lifetime like Okta's.
pub async fn keys(shared: Arc<Shared>) -> Response<Body> {
    let max_age = shared.lock().settings.keys_max_age.as_secs();
    let mut response = json_response(StatusCode::OK, &shared.key.jwks());
    if let Ok(value) = HeaderValue::from_str(&format!("max-age={max_age}, must-revalidate")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}
