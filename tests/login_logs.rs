//! Log hygiene: a full run at `trace` level must not log any credential.
//!
//! The gateway reaches the emulator through a recording relay, so the test learns the
//! `mfa_token`, `oob_code` and tokens that crossed the wire and can search the captured
//! log output for each of them. This file contains one test because it installs the
//! global subscriber.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;

#[derive(Clone, Default)]
struct Relay {
    /// Base URL of the emulator, set once it runs.
    target: Arc<OnceLock<String>>,
    /// Base URL of the relay itself.
    own: Arc<OnceLock<String>>,
    /// Every response body that passed through.
    bodies: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

/// Forwards a request to the emulator and records the response body. Discovery names
/// the emulator's URLs, so they are rewritten to the relay's.
async fn relay(State(relay): State<Relay>, request: Request) -> Response {
    let target = relay.target.get().cloned().unwrap_or_default();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = request.method().clone();
    let mut headers = request.headers().clone();
    headers.remove(http::header::HOST);
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let upstream = relay
        .http
        .request(method, format!("{target}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(upstream) = upstream else {
        return Response::builder().status(502).body(Body::empty()).unwrap();
    };
    let status = upstream.status();
    let content_type = upstream.headers().get("content-type").cloned();
    let text = upstream.text().await.unwrap_or_default();
    relay.bodies.lock().unwrap().push(text.clone());
    let own = relay.own.get().cloned().unwrap_or_default();
    let text = text.replace(&target, &own);
    let mut response = Response::builder().status(status);
    if let Some(content_type) = content_type {
        response = response.header("content-type", content_type);
    }
    response.body(Body::from(text)).unwrap()
}

/// Collects every string value of the credential members in the recorded bodies.
fn wire_secrets(bodies: &[String]) -> Vec<String> {
    const MEMBERS: &[&str] = &[
        "mfa_token",
        "oob_code",
        "access_token",
        "id_token",
        "refresh_token",
    ];
    let mut secrets = Vec::new();
    for body in bodies {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
            continue;
        };
        for member in MEMBERS {
            if let Some(Value::String(value)) = map.get(*member) {
                secrets.push(value.clone());
            }
        }
    }
    secrets
}

#[tokio::test]
async fn full_run_logs_no_secret() {
    let captured = capture_trace_logs();

    // Start the relay, then the stack with the gateway pointed at the relay.
    let relay_state = Relay::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr: SocketAddr = listener.local_addr().unwrap();
    relay_state.own.set(format!("http://{relay_addr}")).unwrap();
    let app = axum::Router::new()
        .fallback(relay)
        .with_state(relay_state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.okta.issuer = format!("http://{relay_addr}/oauth2/default");
    })
    .await;
    relay_state.target.set(stack.emulator.base_url()).unwrap();

    // A full run: a wrong password, a wrong code, a resend, then a successful login,
    // with both channels and both client authentication paths exercised by the flow.
    assert_eq!(
        stack.login(ALICE, "Wrong-Password-99").await.status,
        StatusCode::UNAUTHORIZED
    );
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        stack.challenge(&transaction_id, "sms").await.status,
        StatusCode::OK
    );
    let first_code = stack.latest_code(ALICE_PHONE).await;
    let wrong = if first_code == "999999" {
        "999998"
    } else {
        "999999"
    };
    assert_eq!(
        stack.verify(&transaction_id, wrong).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        stack.challenge(&transaction_id, "voice").await.status,
        StatusCode::OK
    );
    let code = stack.latest_code(ALICE_PHONE).await;
    let verified = stack.verify(&transaction_id, &code).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    let session_id = verified
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .to_string();

    let mut secrets = wire_secrets(&relay_state.bodies.lock().unwrap());
    assert!(
        secrets.len() >= 4,
        "expected mfa_token, oob_codes and tokens on the wire, found {}",
        secrets.len()
    );
    secrets.extend([
        ALICE_PASSWORD.to_string(),
        "Wrong-Password-99".to_string(),
        first_code,
        wrong.to_string(),
        code,
        session_id,
        transaction_id,
        CLIENT_SECRET.to_string(),
        verified.str("access_token"),
    ]);

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("signed in with a phone factor"),
        "logs were not captured"
    );
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(
            !logs.contains(secret.as_str()),
            "a secret of {} characters appears in the logs",
            secret.len()
        );
    }
}
