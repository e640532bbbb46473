//! Malformed, oversized and mistyped requests, and the login rate limits.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

async fn post_raw(stack: &Stack, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Answer {
    let mut request = stack.client.post(stack.route(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    Answer::read(request.send().await.expect("POST")).await
}

#[tokio::test]
async fn malformed_json_is_bad_request() {
    let stack = spawn_stack().await;
    for path in ["/login", "/challenge", "/verify"] {
        let answer = post_raw(
            &stack,
            path,
            Some("application/json"),
            b"{\"username\": ".to_vec(),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.text
        );
        assert_eq!(answer.error(), "invalid_request");
        assert!(
            answer.str("error_description").contains("not valid JSON"),
            "{}",
            answer.text
        );
    }
}

#[tokio::test]
async fn missing_member_is_named() {
    let stack = spawn_stack().await;
    let answer = stack.post_json("/login", &json!({"username": ALICE})).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.str("error_description").contains("\"password\""),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn wrong_type_does_not_echo_input() {
    let stack = spawn_stack().await;
    let secret = "Sup3r-Secret-Value-That-Must-Not-Echo";
    for body in [
        json!({"username": ["x"], "password": secret}),
        json!({"username": ALICE, "password": {"nested": secret}}),
        json!({"username": secret, "password": 12345}),
    ] {
        let answer = stack.post_json("/login", &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert!(!answer.text.contains(secret), "{}", answer.text);
        assert!(!answer.text.contains("12345"), "{}", answer.text);
    }
    let invalid_utf8 = post_raw(
        &stack,
        "/login",
        Some("application/json"),
        b"{\"username\":\"\xff\"}".to_vec(),
    )
    .await;
    assert_eq!(invalid_utf8.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn empty_credentials_are_bad_request() {
    let stack = spawn_stack().await;
    let answer = stack.login("", "").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        stack.emulator_stats().await["token"].as_u64().unwrap_or(0),
        0
    );
    let control = stack.login("alice\n@example.com", "x").await;
    assert_eq!(control.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oversized_body_is_rejected() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.server.max_body_bytes = 1024;
    })
    .await;
    let password = "p".repeat(4096);
    let answer = stack.login(ALICE, &password).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
    assert_eq!(answer.error(), "payload_too_large");

    // Without Content-Length (chunked), the limit still applies while reading.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(stack.gateway.addr)
        .await
        .unwrap();
    let chunk = "a".repeat(4096);
    let request = format!(
        "POST /.portcullis/login HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
}

#[tokio::test]
async fn wrong_content_type_is_unsupported() {
    let stack = spawn_stack().await;
    let body = br#"{"username":"alice@example.com","password":"x"}"#.to_vec();
    let form = post_raw(
        &stack,
        "/login",
        Some("application/x-www-form-urlencoded"),
        body.clone(),
    )
    .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(form.error(), "unsupported_media_type");
    let missing = post_raw(&stack, "/login", None, body.clone()).await;
    assert_eq!(missing.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let with_charset = post_raw(
        &stack,
        "/login",
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(
        with_charset.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        with_charset.text
    );
}

#[tokio::test]
async fn get_on_login_route_is_not_allowed() {
    let stack = spawn_stack().await;
    let response = stack
        .client
        .get(stack.route("/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn per_ip_limit_answers_retry_after() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.login.per_ip_per_minute = 3;
    })
    .await;
    for _ in 0..3 {
        let answer = stack.login("nobody@example.com", "wrong").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let limited = stack.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert_eq!(limited.error(), "rate_limited");
    let retry_after: u64 = limited.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(stack.emulator_stats().await["token"], 3);
}

#[tokio::test]
async fn per_user_limit_answers_retry_after() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.login.per_user_per_minute = 2;
    })
    .await;
    assert_eq!(
        stack.login(ALICE, "wrong-1").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        stack.login("ALICE@example.com", "wrong-2").await.status,
        StatusCode::UNAUTHORIZED
    );
    let limited = stack.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert!(!limited.header("retry-after").is_empty());
    // Another user is not affected.
    assert_eq!(stack.login(BOB, BOB_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn send_budget_per_user_limits_codes() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.login.sends_per_user_per_hour = 2;
    })
    .await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        stack.challenge(&transaction_id, "sms").await.status,
        StatusCode::OK
    );
    assert_eq!(
        stack.challenge(&transaction_id, "voice").await.status,
        StatusCode::OK
    );
    let third = stack.challenge(&transaction_id, "sms").await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.text
    );
    assert!(!third.header("retry-after").is_empty());
    assert_eq!(stack.outbox(None).await.len(), 2);
}

#[tokio::test]
async fn global_send_budget_limits_codes() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.login.sends_per_hour = 1;
    })
    .await;
    let alice = stack.start_login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(stack.challenge(&alice, "sms").await.status, StatusCode::OK);
    let bob = stack.start_login(BOB, BOB_PASSWORD).await;
    let limited = stack.challenge(&bob, "sms").await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert_eq!(stack.outbox(None).await.len(), 1);
}
