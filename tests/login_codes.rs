//! Code attempts and transaction expiry.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;

/// Returns a six-digit code that differs from `code`.
fn wrong_code(code: &str) -> String {
    if code == "000000" { "111111" } else { "000000" }.to_string()
}

#[tokio::test]
async fn wrong_codes_count_down_to_exhaustion() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.login.max_code_attempts = 3;
    })
    .await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    stack.challenge(&transaction_id, "sms").await;
    let wrong = wrong_code(&stack.latest_code(ALICE_PHONE).await);

    for expected_remaining in [2, 1, 0] {
        let answer = stack.verify(&transaction_id, &wrong).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
        assert_eq!(answer.error(), "invalid_code");
        assert_eq!(answer.body["attempts_remaining"], expected_remaining);
    }

    // The transaction is gone, even for the right code.
    let code = stack.latest_code(ALICE_PHONE).await;
    let after = stack.verify(&transaction_id, &code).await;
    assert_eq!(after.status, StatusCode::GONE, "{}", after.text);
    assert_eq!(after.error(), "transaction_expired");
    let challenge = stack.challenge(&transaction_id, "sms").await;
    assert_eq!(challenge.status, StatusCode::GONE);
}

#[tokio::test]
async fn malformed_code_costs_no_attempt() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.login.max_code_attempts = 1;
    })
    .await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    stack.challenge(&transaction_id, "sms").await;
    let malformed = stack.verify(&transaction_id, "12ab").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let code = stack.latest_code(ALICE_PHONE).await;
    assert_eq!(
        stack.verify(&transaction_id, &code).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn transaction_expires_with_mfa_token() {
    let emulator = emulator_config().mfa_token_ttl(Duration::from_secs(1));
    let stack = spawn_stack_with(emulator, |config| {
        config.login.transaction_lifetime = Duration::from_secs(1);
    })
    .await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;

    let late = stack.challenge(&transaction_id, "sms").await;
    assert_eq!(late.status, StatusCode::GONE, "{}", late.text);
    assert_eq!(late.error(), "transaction_expired");
    // The tombstone keeps returning 410, unlike an unknown id (404).
    let again = stack.verify(&transaction_id, "123456").await;
    assert_eq!(again.status, StatusCode::GONE);
    assert_eq!(stack.outbox(None).await.len(), 0);
}

#[tokio::test]
async fn okta_side_expiry_is_gone() {
    // The gateway's lifetime is longer than the emulator's, so Okta reports expiry.
    let emulator = emulator_config()
        .mfa_token_ttl(Duration::from_secs(1))
        .oob_code_ttl(Duration::from_secs(1));
    let stack = spawn_stack_with(emulator, |_| {}).await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    stack.challenge(&transaction_id, "sms").await;
    let code = stack.latest_code(ALICE_PHONE).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;

    let late = stack.verify(&transaction_id, &code).await;
    assert_eq!(late.status, StatusCode::GONE, "{}", late.text);
    assert_eq!(late.error(), "transaction_expired");
    // A resend on the same channel after expiry is also distinguished from an unknown id.
    let resend = stack.challenge(&transaction_id, "sms").await;
    assert_eq!(resend.status, StatusCode::GONE);
}

#[tokio::test]
async fn resend_after_okta_expiry_is_gone() {
    let emulator = emulator_config().mfa_token_ttl(Duration::from_secs(1));
    let stack = spawn_stack_with(emulator, |_| {}).await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        stack.challenge(&transaction_id, "sms").await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let resend = stack.challenge(&transaction_id, "sms").await;
    assert_eq!(resend.status, StatusCode::GONE, "{}", resend.text);
    assert_eq!(resend.error(), "transaction_expired");
}
