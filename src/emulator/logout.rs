//! `GET|POST /v1/logout`: RP-initiated logout with `id_token_hint`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, Response, StatusCode};

use super::errors::OAuthError;
use super::request::{read_form, Form};
use super::state::{Server, Shared};

/// Serves `/v1/logout`; parameters come from the query (GET) or a form body (POST).
pub async fn handle(shared: Arc<Shared>, server: Server, request: Request) -> Response<Body> {
    let params = if request.method() == Method::POST {
        match read_form(request).await {
            Ok((_, form)) => form,
            Err(response) => return response,
        }
    } else {
        match Form::parse(request.uri().query().unwrap_or("").as_bytes()) {
            Ok(form) => form,
            Err(err) => return err.into_response(),
        }
    };
    match logout(&shared, &server, &params) {
        Ok(location) => redirect(&location),
        Err(err) => err.into_response(),
    }
}

fn logout(shared: &Shared, server: &Server, params: &Form) -> Result<String, OAuthError> {
    let hint = params.require("id_token_hint")?;
    let issuer = server.issuer(&shared.base_url);

    // An expired but otherwise valid ID token is accepted, as Okta does. Access tokens
    // are signed by the same key, so the `ID.` prefix of `jti` tells the two apart.
    let invalid_hint =
        || OAuthError::invalid_request("The 'id_token_hint' parameter is not a valid ID token.");
    let claims = shared
        .key
        .verify_ignoring_expiry(hint, &issuer)
        .ok_or_else(invalid_hint)?;
    let is_id_token = claims
        .get("jti")
        .and_then(|v| v.as_str())
        .is_some_and(|jti| jti.starts_with("ID."));
    if !is_id_token {
        return Err(invalid_hint());
    }
    let client_id = claims
        .get("aud")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();

    let Some(target) = params.get("post_logout_redirect_uri") else {
        // Without a redirect URI Okta sends the browser to its sign-in page.
        return Ok(format!("{}/", shared.base_url));
    };
    let inner = shared.lock();
    let registered = inner
        .client(&client_id)
        .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == target));
    if !registered {
        return Err(OAuthError::invalid_request(
            "The 'post_logout_redirect_uri' parameter must be a Logout redirect URI in the client app settings.",
        ));
    }
    let mut location = url::Url::parse(target).map_err(|_| {
        OAuthError::invalid_request("The 'post_logout_redirect_uri' parameter is not a valid URI.")
    })?;
    if let Some(state) = params.get("state") {
        location.query_pairs_mut().append_pair("state", state);
    }
    Ok(location.to_string())
}

fn redirect(location: &str) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
