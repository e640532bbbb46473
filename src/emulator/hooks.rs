//! Test hooks under `/__emulator/`: outbox, stats, fault injection and reset.
//! These are not Okta paths.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{json_response, ApiError};
use percent_encoding::percent_decode_str;

use super::request::read_body;
use super::state::{Fault, FaultKind, Shared};

/// Endpoint families that count in stats and accept faults.
pub const ENDPOINTS: &[&str] = &[
    "token",
    "challenge",
    "introspect",
    "revoke",
    "userinfo",
    "logout",
    "keys",
    "discovery",
    "apps",
];

/// Body of `POST /__emulator/faults`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    endpoint: String,
    status: Option<u16>,
    delay_ms: Option<u64>,
    #[serde(default)]
    drop: bool,
    count: Option<u32>,
}

/// `GET /__emulator/outbox[?to=…]`: every message sent, newest last.
pub async fn outbox(shared: Arc<Shared>, request: Request) -> Response<Body> {
    let to = match phone_filter(request.uri().query().unwrap_or("")) {
        Ok(to) => to,
        Err(problem) => {
            let mut error = ApiError::new(
                StatusCode::BAD_REQUEST,
                "E0000001",
                "Api validation failed: to",
            );
            error.causes = vec![problem];
            return error.into_response();
        }
    };
    let inner = shared.lock();
    let messages: Vec<Value> = inner
        .outbox
        .iter()
        .filter(|m| to.as_deref().map_or(true, |to| to == m.to))
        .map(|m| json!(m))
        .collect();
    json_response(StatusCode::OK, &Value::Array(messages))
}

/// `GET /__emulator/stats`: calls per endpoint family so far.
pub async fn stats(shared: Arc<Shared>) -> Response<Body> {
    let inner = shared.lock();
    let mut body = serde_json::Map::new();
    for endpoint in ENDPOINTS {
        let count = inner.stats.get(*endpoint).copied().unwrap_or(0);
        body.insert((*endpoint).to_string(), json!(count));
    }
    json_response(StatusCode::OK, &Value::Object(body))
}

/// `POST /__emulator/faults` adds a fault; `DELETE` clears all of them.
pub async fn faults(shared: Arc<Shared>, request: Request) -> Response<Body> {
    if request.method() == Method::DELETE {
        shared.lock().faults.clear();
        return json_response(StatusCode::OK, &json!({ "faults": [] }));
    }
    let bytes = match read_body(request).await {
        Ok((_, bytes)) => bytes,
        Err(response) => return response,
    };
    let request: FaultRequest = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(err) => {
            return ApiError::malformed(format!(
                "The fault is not valid JSON of the expected shape: {err}"
            ))
            .into_response()
        }
    };
    let fault = match validate(request) {
        Ok(fault) => fault,
        Err(problem) => {
            let mut error = ApiError::new(
                StatusCode::BAD_REQUEST,
                "E0000001",
                "Api validation failed: fault",
            );
            error.causes = vec![problem];
            return error.into_response();
        }
    };
    let mut inner = shared.lock();
    inner.faults.push(fault);
    let count = inner.faults.len();
    json_response(StatusCode::OK, &json!({ "faults": count }))
}

fn validate(request: FaultRequest) -> Result<Fault, String> {
    if !ENDPOINTS.contains(&request.endpoint.as_str()) {
        return Err(format!(
            "endpoint: unknown endpoint '{}'; use one of {}",
            request.endpoint,
            ENDPOINTS.join(", ")
        ));
    }
    let kind = match (request.status, request.delay_ms, request.drop) {
        (Some(status), None, false) if (400..=599).contains(&status) => FaultKind::Status(status),
        (Some(status), None, false) => {
            return Err(format!(
                "status: {status} is not an error status; use 400 to 599"
            ))
        }
        (None, Some(delay), false) if delay <= 60_000 => FaultKind::Delay(delay),
        (None, Some(_), false) => return Err("delay_ms: must be at most 60000".to_string()),
        (None, None, true) => FaultKind::Drop,
        _ => return Err("fault: set exactly one of status, delay_ms or drop".to_string()),
    };
    let remaining = match request.count {
        None => 1,
        Some(0) => return Err("count: must be at least 1; omit it for one request".to_string()),
        Some(count) => count,
    };
    Ok(Fault {
        endpoint: request.endpoint,
        kind,
        remaining,
    })
}

/// `POST /__emulator/reset`: clears tokens, transactions, counters and the outbox.
pub async fn reset(shared: Arc<Shared>) -> Response<Body> {
    shared.lock().reset();
    json_response(StatusCode::OK, &json!({ "reset": true }))
}

/// Reads `to` from the query, keeping a literal `+` so `?to=+1555…` works unencoded.
/// A value that is not UTF-8 after decoding is an error, not an absent filter.
fn phone_filter(query: &str) -> Result<Option<String>, String> {
    let Some((_, raw)) = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "to")
    else {
        return Ok(None);
    };
    let value = percent_decode_str(raw).decode_utf8().map_err(|_| {
        "to: The phone number is not valid UTF-8 after percent-decoding.".to_string()
    })?;
    let value = value.trim();
    Ok((!value.is_empty()).then(|| value.to_string()))
}
