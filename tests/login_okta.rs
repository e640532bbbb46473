//! How the login flow deals with Okta: grant spellings, client authentication, outages,
//! rate limits and sign-on policies without MFA.

mod common;

use std::time::Duration;

use common::*;
use portcullis::config::{ClientAuthMethod, URN_MFA_OOB_GRANT};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn urn_grant_falls_back_and_is_remembered() {
    // The emulator accepts only the documented spelling (its alias switch is off).
    let stack = spawn_stack_with(emulator_config().accept_urn_mfa_oob(false), |config| {
        config.okta.mfa_oob_grant_type = URN_MFA_OOB_GRANT.to_string();
    })
    .await;

    stack.sign_in(ALICE, ALICE_PASSWORD, "sms").await;
    // password + rejected urn spelling + documented spelling
    assert_eq!(stack.emulator_stats().await["token"], 3);

    stack.sign_in(ALICE, ALICE_PASSWORD, "sms").await;
    // password + documented spelling straight away
    assert_eq!(stack.emulator_stats().await["token"], 5);
}

#[tokio::test]
async fn urn_grant_works_when_accepted() {
    let stack = spawn_stack_with(emulator_config().accept_urn_mfa_oob(true), |config| {
        config.okta.mfa_oob_grant_type = URN_MFA_OOB_GRANT.to_string();
    })
    .await;
    stack.sign_in(ALICE, ALICE_PASSWORD, "sms").await;
    assert_eq!(stack.emulator_stats().await["token"], 2);
}

#[tokio::test]
async fn client_secret_basic_signs_in() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.okta.auth_method = ClientAuthMethod::ClientSecretBasic;
    })
    .await;
    stack.sign_in(ALICE, ALICE_PASSWORD, "sms").await;
}

#[tokio::test]
async fn client_secret_post_signs_in() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.okta.auth_method = ClientAuthMethod::ClientSecretPost;
    })
    .await;
    stack.sign_in(BOB, BOB_PASSWORD, "sms").await;
}

#[tokio::test]
async fn okta_server_error_is_unavailable() {
    let stack = spawn_stack().await;
    stack
        .inject_fault(json!({"endpoint": "token", "status": 503, "count": 1}))
        .await;
    let login = stack.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        login.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        login.text
    );
    assert_eq!(login.error(), "idp_unavailable");

    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    stack
        .inject_fault(json!({"endpoint": "challenge", "status": 500, "count": 1}))
        .await;
    let challenge = stack.challenge(&transaction_id, "sms").await;
    assert_eq!(challenge.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(challenge.error(), "idp_unavailable");
}

#[tokio::test]
async fn okta_timeout_is_unavailable() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.okta.request_timeout = Duration::from_millis(500);
    })
    .await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        stack.challenge(&transaction_id, "sms").await.status,
        StatusCode::OK
    );
    let code = stack.latest_code(ALICE_PHONE).await;
    stack
        .inject_fault(json!({"endpoint": "token", "delay_ms": 2000, "count": 1}))
        .await;
    let verify = stack.verify(&transaction_id, &code).await;
    assert_eq!(
        verify.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        verify.text
    );
    assert_eq!(verify.error(), "idp_unavailable");

    // An outage costs no attempt: the same code still works afterwards.
    let retry = stack.verify(&transaction_id, &code).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
}

#[tokio::test]
async fn okta_dropped_connection_is_unavailable() {
    let stack = spawn_stack().await;
    stack
        .inject_fault(json!({"endpoint": "token", "drop": true, "count": 1}))
        .await;
    let login = stack.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        login.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        login.text
    );
}

#[tokio::test]
async fn okta_rate_limit_has_retry_after() {
    let stack = spawn_stack().await;
    stack
        .inject_fault(json!({"endpoint": "token", "status": 429, "count": 1}))
        .await;
    let login = stack.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        login.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        login.text
    );
    assert_eq!(login.error(), "rate_limited");
    let retry_after: u64 = login
        .header("retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!(retry_after >= 1);
}

#[tokio::test]
async fn okta_sms_interval_is_rate_limited() {
    // Okta sends at most one SMS per phone per 30 s; the emulator keeps that here.
    let stack = spawn_stack_with(
        emulator_config().sms_resend_interval(Duration::from_secs(30)),
        |_| {},
    )
    .await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        stack.challenge(&transaction_id, "sms").await.status,
        StatusCode::OK
    );
    let resend = stack.challenge(&transaction_id, "sms").await;
    assert_eq!(
        resend.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        resend.text
    );
    assert!(!resend.header("retry-after").is_empty());
}

#[tokio::test]
async fn password_only_user_is_refused_under_require_mfa() {
    let stack = spawn_stack().await;
    let login = stack.login(DAVE, DAVE_PASSWORD).await;
    assert_eq!(login.status, StatusCode::FORBIDDEN, "{}", login.text);
    assert_eq!(login.error(), "mfa_not_satisfied");
    assert!(login.header("set-cookie").is_empty());
    assert!(login.body.get("access_token").is_none());
}

#[tokio::test]
async fn password_only_user_signs_in_when_allowed() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.auth.require_mfa = false;
    })
    .await;
    let login = stack.login(DAVE, DAVE_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    assert_eq!(login.str("state"), "authenticated");
    assert!(!login.str("access_token").is_empty());
    assert!(login.header("set-cookie").starts_with("portcullis="));

    // Users who do have MFA still go through it.
    let alice = stack.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(alice.str("state"), "mfa_required");
}

#[tokio::test]
async fn wrong_client_secret_is_internal_error() {
    // spawn_stack passes the demo secret, so this test builds its gateway by hand.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let emulator_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let emulator_addr = emulator_listener.local_addr().unwrap();
    let emulator = portcullis::emulator::Emulator::start(emulator_listener, emulator_config())
        .await
        .unwrap();
    let (config, _) = portcullis::demo::demo_config(
        listener.local_addr().unwrap(),
        admin.local_addr().unwrap(),
        emulator_addr,
        "127.0.0.1:9".parse().unwrap(),
    )
    .unwrap();
    let secret = Some(portcullis::secret::Secret::new("wrong-secret".to_string()));
    let gateway = portcullis::gateway::Gateway::build(config, secret).unwrap();
    let running = portcullis::server::start(gateway, listener, admin)
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/.portcullis/login", running.url()))
        .json(&json!({"username": ALICE, "password": ALICE_PASSWORD}))
        .send()
        .await
        .unwrap();
    let answer = Answer::read(response).await;
    assert_eq!(
        answer.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        answer.text
    );
    assert_eq!(answer.error(), "internal_error");
    assert!(!answer.text.contains("invalid_client"));
    emulator.shutdown().await;
}
