//! The login API end to end: password, SMS or voice code, session cookie.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn sms_flow_signs_in() {
    let stack = spawn_stack().await;

    let login = stack.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    assert_eq!(login.str("state"), "mfa_required");
    assert_eq!(login.body["channels"], json!(["sms", "voice"]));
    assert!(login.body["expires_in"].as_u64().unwrap() > 0);
    assert_eq!(login.header("cache-control"), "no-store");
    let transaction_id = login.str("transaction_id");
    // 128 bits or more of randomness: at least 22 base64url characters.
    assert!(transaction_id.len() >= 22, "{transaction_id}");
    assert!(!login.text.contains("mfa_token"));

    let sent = stack.challenge(&transaction_id, "sms").await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert_eq!(sent.str("state"), "challenge_sent");
    assert_eq!(sent.str("channel"), "sms");
    assert!(sent.body["expires_in"].as_u64().unwrap() > 0);
    assert!(!sent.text.contains("oob_code"));
    let messages = stack.outbox(Some(ALICE_PHONE)).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["channel"], "sms");

    let code = stack.latest_code(ALICE_PHONE).await;
    let verified = stack.verify(&transaction_id, &code).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(verified.str("state"), "authenticated");
    assert_eq!(verified.str("token_type"), "Bearer");
    assert!(!verified.str("access_token").is_empty());
    assert!(verified.body["expires_in"].as_u64().unwrap() > 0);
    assert!(verified.str("scope").contains("openid"));
    assert!(verified.body.get("refresh_token").is_none());
    assert!(verified.body.get("id_token").is_none());
    assert_eq!(verified.header("cache-control"), "no-store");

    let cookie = verified.header("set-cookie");
    assert!(cookie.starts_with(&format!("{COOKIE_NAME}=")), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain-HTTP loopback drops Secure: {cookie}"
    );
    let session_id = cookie.split(';').next().unwrap().split('=').nth(1).unwrap();
    assert_eq!(session_id.len(), 43, "256-bit id in base64url");

    // The session is stored under the hash of its id, with the claims of the ID token.
    let stored = stack
        .gateway
        .gateway
        .sessions
        .get(portcullis::secret::hash_token(session_id))
        .await
        .expect("session stored under the hash of its id");
    assert_eq!(stored.username, ALICE);
    assert!(stored.amr.iter().any(|m| m == "sms"), "{:?}", stored.amr);
    assert!(stored.refresh_token.is_some());
    assert!(
        stored.groups.iter().any(|g| g == "admins"),
        "{:?}",
        stored.groups
    );
    assert!(stack
        .gateway
        .gateway
        .sessions
        .get(portcullis::secret::hash_token("not-a-session"))
        .await
        .is_none());
}

#[tokio::test]
async fn voice_flow_signs_in() {
    let stack = spawn_stack().await;
    let signed_in = stack.sign_in(ALICE, ALICE_PASSWORD, "voice").await;
    assert_eq!(signed_in.answer.str("state"), "authenticated");
    let messages = stack.outbox(Some(ALICE_PHONE)).await;
    assert_eq!(messages.last().unwrap()["channel"], "voice");
    let session_id = signed_in.cookie.split('=').nth(1).unwrap();
    let stored = stack
        .gateway
        .gateway
        .sessions
        .get(portcullis::secret::hash_token(session_id))
        .await
        .unwrap();
    assert!(stored.amr.iter().any(|m| m == "tel"), "{:?}", stored.amr);
}

#[tokio::test]
async fn resend_sends_new_code() {
    let stack = spawn_stack().await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        stack.challenge(&transaction_id, "sms").await.status,
        StatusCode::OK
    );
    let first = stack.latest_code(ALICE_PHONE).await;
    let resent = stack.challenge(&transaction_id, "sms").await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.text);
    assert_eq!(stack.outbox(Some(ALICE_PHONE)).await.len(), 2);
    let second = stack.latest_code(ALICE_PHONE).await;
    assert_eq!(stack.emulator_stats().await["challenge"], 2);

    if first != second {
        // The resend replaced the earlier challenge, so the old code no longer works.
        let stale = stack.verify(&transaction_id, &first).await;
        assert_eq!(stale.status, StatusCode::UNAUTHORIZED, "{}", stale.text);
    }
    let verified = stack.verify(&transaction_id, &second).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
}

#[tokio::test]
async fn resend_may_switch_channel() {
    let stack = spawn_stack().await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        stack.challenge(&transaction_id, "sms").await.status,
        StatusCode::OK
    );
    let voice = stack.challenge(&transaction_id, "voice").await;
    assert_eq!(voice.status, StatusCode::OK, "{}", voice.text);
    assert_eq!(voice.str("channel"), "voice");
    let code = stack.latest_code(ALICE_PHONE).await;
    assert_eq!(
        stack.verify(&transaction_id, &code).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_password_is_invalid_credentials() {
    let stack = spawn_stack().await;
    let wrong = stack.login(ALICE, "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error(), "invalid_credentials");
    let unknown = stack.login("nobody@example.com", "whatever").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.error(), "invalid_credentials");
    // Same response, so it does not reveal which usernames exist.
    assert_eq!(
        wrong.str("error_description"),
        unknown.str("error_description")
    );
}

#[tokio::test]
async fn locked_user_is_invalid_credentials() {
    let stack = spawn_stack().await;
    let locked = stack.login(CAROL, CAROL_PASSWORD).await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(locked.error(), "invalid_credentials");
}

#[tokio::test]
async fn unenrolled_channel_is_refused() {
    let stack = spawn_stack().await;
    let transaction_id = stack.start_login(BOB, BOB_PASSWORD).await;
    let voice = stack.challenge(&transaction_id, "voice").await;
    assert_eq!(voice.status, StatusCode::FORBIDDEN, "{}", voice.text);
    assert_eq!(voice.error(), "challenge_refused");
    // The transaction survives, and SMS still works.
    let sms = stack.challenge(&transaction_id, "sms").await;
    assert_eq!(sms.status, StatusCode::OK, "{}", sms.text);
}

#[tokio::test]
async fn verify_before_challenge_conflicts() {
    let stack = spawn_stack().await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    let early = stack.verify(&transaction_id, "123456").await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert_eq!(early.error(), "challenge_required");
}

#[tokio::test]
async fn unknown_transaction_is_not_found() {
    let stack = spawn_stack().await;
    let challenge = stack.challenge("no-such-transaction", "sms").await;
    assert_eq!(challenge.status, StatusCode::NOT_FOUND);
    assert_eq!(challenge.error(), "transaction_not_found");
    let verify = stack.verify("no-such-transaction", "123456").await;
    assert_eq!(verify.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn completed_transaction_is_gone() {
    let stack = spawn_stack().await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    stack.challenge(&transaction_id, "sms").await;
    let code = stack.latest_code(ALICE_PHONE).await;
    assert_eq!(
        stack.verify(&transaction_id, &code).await.status,
        StatusCode::OK
    );
    let again = stack.verify(&transaction_id, &code).await;
    assert_eq!(again.status, StatusCode::GONE, "{}", again.text);
}

#[tokio::test]
async fn unknown_channel_is_bad_request() {
    let stack = spawn_stack().await;
    let transaction_id = stack.start_login(ALICE, ALICE_PASSWORD).await;
    let push = stack.challenge(&transaction_id, "push").await;
    assert_eq!(push.status, StatusCode::BAD_REQUEST);
    assert_eq!(push.error(), "invalid_request");
    assert_eq!(
        stack.emulator_stats().await["challenge"]
            .as_u64()
            .unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn voice_not_offered_when_configured_off() {
    let stack = spawn_stack_with(emulator_config(), |config| {
        config.login.channels = vec![portcullis::okta::Channel::Sms];
    })
    .await;
    let login = stack.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(login.body["channels"], json!(["sms"]));
    let voice = stack.challenge(&login.str("transaction_id"), "voice").await;
    assert_eq!(voice.status, StatusCode::BAD_REQUEST);
    assert_eq!(voice.error(), "channel_unavailable");
}
