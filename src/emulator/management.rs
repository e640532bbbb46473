//! `GET` and `PUT /api/v1/apps/{appId}`: the slice of Okta's Applications API that
//! configures an OIDC client's grants, logout URIs and refresh-token rotation.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::config::{AuthMethod, ClientConfig, RotationType, GRANT_MFA_OOB_URN, KNOWN_GRANT_TYPES};
use super::errors::{json_response, ApiError};
use super::request::read_body;
use super::state::Shared;

/// Fixed creation time reported for every app.
const CREATED: &str = "2024-01-01T00:00:00.000Z";

/// Serves `/api/v1/apps/{appId}`.
pub async fn handle(shared: Arc<Shared>, app_id: String, request: Request) -> Response<Body> {
    let method = request.method().clone();
    if method != Method::GET && method != Method::PUT {
        return ApiError::method_not_allowed().into_response();
    }
    if !authorized(&shared, request.headers()) {
        return ApiError::invalid_token().into_response();
    }
    let body = if method == Method::PUT {
        match read_body(request).await {
            Ok((_, bytes)) => Some(bytes),
            Err(response) => return response,
        }
    } else {
        None
    };

    let mut inner = shared.lock();
    let accept_urn = inner.settings.accept_urn_mfa_oob;
    let Some(client) = inner.clients.iter_mut().find(|c| c.app_id == app_id) else {
        return ApiError::not_found(&format!("{app_id} (AppInstance)")).into_response();
    };
    let Some(bytes) = body else {
        return json_response(StatusCode::OK, &app_object(client, false));
    };

    let Ok(document) = serde_json::from_slice::<Value>(&bytes) else {
        return ApiError::malformed("The request body was not well-formed.").into_response();
    };
    match apply_update(client, &document, accept_urn) {
        Ok(updated) => {
            *client = updated;
            tracing::info!(app_id = %client.app_id, "emulator updated an app through the management API");
            json_response(StatusCode::OK, &app_object(client, true))
        }
        Err(causes) => {
            let mut error = ApiError::new(
                StatusCode::BAD_REQUEST,
                "E0000001",
                "Api validation failed: app",
            );
            error.causes = causes;
            error.into_response()
        }
    }
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let expected = shared.lock().settings.api_token.clone();
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("SSWS "))
        .map(str::trim);
    let Some(given) = given else {
        return false;
    };
    Sha256::digest(expected.as_bytes())
        .ct_eq(&Sha256::digest(given.as_bytes()))
        .into()
}

/// Renders a client as an Okta OIDC app object.
fn app_object(client: &ClientConfig, with_secret: bool) -> Value {
    let method = client
        .auth_methods
        .first()
        .copied()
        .unwrap_or(AuthMethod::ClientSecretBasic);
    let mut credentials = json!({
        "client_id": client.client_id,
        "token_endpoint_auth_method": method.as_str(),
        "autoKeyRotation": true,
        "pkce_required": method == AuthMethod::None,
    });
    if let (true, Some(secret)) = (with_secret, &client.client_secret) {
        credentials["client_secret"] = json!(secret);
    }
    json!({
        "id": client.app_id,
        "name": "oidc_client",
        "label": client.label,
        "status": "ACTIVE",
        "created": CREATED,
        "lastUpdated": CREATED,
        "signOnMode": "OPENID_CONNECT",
        "credentials": { "oauthClient": credentials },
        "settings": { "oauthClient": {
            "application_type": if method == AuthMethod::None { "native" } else { "web" },
            "grant_types": client.grant_types,
            "response_types": [],
            "redirect_uris": [],
            "post_logout_redirect_uris": client.post_logout_redirect_uris,
            "consent_method": "TRUSTED",
            "issuer_mode": "ORG_URL",
            "refresh_token": {
                "rotation_type": client.rotation_type.as_str(),
                "leeway": client.refresh_leeway.as_secs(),
            },
        }},
    })
}

/// Validates a full app object and returns the updated client, or every problem found.
fn apply_update(
    current: &ClientConfig,
    document: &Value,
    accept_urn: bool,
) -> Result<ClientConfig, Vec<String>> {
    let mut causes = Vec::new();
    let mut client = current.clone();
    if !document.is_object() {
        return Err(vec![
            "app: The request body must be a JSON object.".to_string()
        ]);
    }
    match document.get("name").and_then(Value::as_str) {
        Some("oidc_client") => {}
        Some(other) => causes.push(format!(
            "name: The app name '{other}' is not an OIDC app name; use 'oidc_client'."
        )),
        None => causes.push("name: The field cannot be left blank.".to_string()),
    }
    match document.get("signOnMode").and_then(Value::as_str) {
        Some("OPENID_CONNECT") => {}
        Some(other) => causes.push(format!(
            "signOnMode: '{other}' is not supported; use OPENID_CONNECT."
        )),
        None => causes.push("signOnMode: The field cannot be left blank.".to_string()),
    }
    if let Some(label) = document.get("label") {
        match label.as_str() {
            Some(label) if !label.is_empty() => client.label = label.to_string(),
            _ => causes.push("label: The field must be a non-empty string.".to_string()),
        }
    }

    let oauth = document.pointer("/settings/oauthClient");
    match oauth.and_then(|o| o.get("grant_types")) {
        None => causes.push("grant_types: The field cannot be left blank.".to_string()),
        Some(Value::Array(items)) => {
            let mut grants = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(g)
                        if KNOWN_GRANT_TYPES.contains(&g)
                            || (accept_urn && g == GRANT_MFA_OOB_URN) =>
                    {
                        grants.push(g.to_string())
                    }
                    Some(g) => {
                        causes.push(format!("grant_types: '{g}' is not a valid grant type."))
                    }
                    None => {
                        causes.push("grant_types: Each grant type must be a string.".to_string())
                    }
                }
            }
            if grants.is_empty() {
                causes.push("grant_types: The field cannot be left blank.".to_string());
            }
            client.grant_types = grants;
        }
        Some(_) => causes.push("grant_types: The field must be an array of strings.".to_string()),
    }
    if let Some(uris) = oauth.and_then(|o| o.get("post_logout_redirect_uris")) {
        match string_array(uris) {
            Some(uris) => client.post_logout_redirect_uris = uris,
            None => causes.push(
                "post_logout_redirect_uris: The field must be an array of strings.".to_string(),
            ),
        }
    }
    if let Some(refresh) = oauth.and_then(|o| o.get("refresh_token")) {
        match refresh
            .get("rotation_type")
            .and_then(Value::as_str)
            .map(RotationType::parse)
        {
            Some(Some(rotation)) => client.rotation_type = rotation,
            Some(None) | None => {
                causes.push("rotation_type: The field must be ROTATE or STATIC.".to_string())
            }
        }
        match refresh.get("leeway") {
            None => {}
            Some(value) => match value.as_u64() {
                Some(leeway) if leeway <= 60 => client.refresh_leeway = Duration::from_secs(leeway),
                _ => causes
                    .push("leeway: The field must be an integer between 0 and 60.".to_string()),
            },
        }
    }
    if let Some(method) = document.pointer("/credentials/oauthClient/token_endpoint_auth_method") {
        match method.as_str().map(AuthMethod::parse) {
            Some(Some(AuthMethod::None)) => {
                client.auth_methods = vec![AuthMethod::None];
                client.client_secret = None;
            }
            Some(Some(method)) if client.client_secret.is_some() => {
                if client.auth_methods.first() != Some(&method) {
                    client.auth_methods = vec![method];
                }
            }
            Some(Some(_)) => causes.push("token_endpoint_auth_method: A public client has no secret; only 'none' is possible.".to_string()),
            Some(None) | None => causes.push("token_endpoint_auth_method: The emulator supports client_secret_basic, client_secret_post and none.".to_string()),
        }
    }

    if causes.is_empty() {
        Ok(client)
    } else {
        Err(causes)
    }
}

fn string_array(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}
