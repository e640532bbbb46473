//! The token and challenge endpoints of the emulator: the phone-MFA flow, every
//! documented error row, refresh rotation and the per-user limits.

#[path = "common/emulator.rs"]
mod emulator_common;

use std::time::Duration;

use emulator_common::*;
use portcullis::emulator::{EmulatorConfig, RotationType};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn password_step_requires_mfa() {
    let t = start().await;
    let step = t.password(ALICE, ALICE_PASSWORD).await;
    assert_eq!(step.status, StatusCode::FORBIDDEN);
    assert_eq!(step.error(), "mfa_required");
    assert!(!step.str("mfa_token").is_empty());
    assert!(!step.str("error_description").is_empty());
    assert_eq!(step.header("cache-control"), "no-store");
    assert_eq!(step.header("pragma"), "no-cache");
    assert_eq!(
        step.header("content-type"),
        "application/json;charset=UTF-8"
    );
}

#[tokio::test]
async fn password_without_mfa_user_gets_tokens() {
    let t = start().await;
    let tokens = t.password("dave@example.com", "No-Mfa-Needed-3").await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    let id = claims(&tokens.str("id_token"));
    assert_eq!(id["amr"], json!(["pwd"]));
    assert!(id.get("groups").is_none());
}

#[tokio::test]
async fn password_failures_look_the_same() {
    let t = start().await;
    let wrong = t.password(ALICE, "nope").await;
    let unknown = t.password("nobody@example.com", "nope").await;
    let locked = t.password("carol@example.com", "Locked-Out-1").await;
    for answer in [&wrong, &unknown, &locked] {
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert_eq!(answer.error(), "invalid_grant");
        assert_eq!(
            answer.body["error_description"],
            wrong.body["error_description"]
        );
    }
}

#[tokio::test]
async fn password_needs_scope_and_known_scopes() {
    let t = start().await;
    let missing = t
        .post(
            "token",
            &[
                ("grant_type", "password"),
                ("username", ALICE),
                ("password", ALICE_PASSWORD),
            ],
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error(), "invalid_scope");
    let unknown = t
        .post(
            "token",
            &[
                ("grant_type", "password"),
                ("username", ALICE),
                ("password", ALICE_PASSWORD),
                ("scope", "openid okta.users.manage"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.error(), "invalid_scope");
}

#[tokio::test]
async fn full_sms_flow_issues_tokens() {
    let t = start().await;
    let mfa_token = t.mfa_token().await;
    let challenge = t.challenge(&mfa_token, "sms").await;
    assert_eq!(challenge.status, StatusCode::OK, "{}", challenge.text);
    assert_eq!(challenge.str("challenge_type"), MFA_OOB);
    assert_eq!(challenge.str("channel"), "sms");
    assert_eq!(challenge.str("binding_method"), "prompt");
    assert_eq!(challenge.body["expires_in"], json!(300));
    assert!(challenge.body.get("interval").is_none());

    let outbox = t.outbox(Some(ALICE_PHONE)).await;
    assert_eq!(outbox.len(), 1);
    let code = outbox[0]["code"].as_str().expect("code");
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(outbox[0]["channel"], "sms");

    let tokens = t.redeem(&mfa_token, &challenge.str("oob_code"), code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    assert_eq!(tokens.str("token_type"), "Bearer");
    assert_eq!(tokens.body["expires_in"], json!(3600));
    assert_eq!(tokens.str("scope"), SCOPES);
    assert!(
        !tokens.str("refresh_token").contains('.'),
        "refresh tokens are opaque"
    );

    let access = claims(&tokens.str("access_token"));
    let header = jwt_header(&tokens.str("access_token"));
    assert_eq!(header["alg"], "RS256");
    assert!(header["kid"].is_string());
    assert_eq!(access["ver"], 1);
    assert!(access["jti"].as_str().expect("jti").starts_with("AT."));
    assert_eq!(access["iss"], json!(t.emulator.issuer()));
    assert_eq!(access["aud"], "api://default");
    assert_eq!(access["cid"], CLIENT_ID);
    assert_eq!(access["sub"], ALICE);
    assert!(access["uid"].as_str().expect("uid").starts_with("00u"));
    assert_eq!(
        access["scp"],
        json!(["openid", "profile", "email", "phone", "offline_access"])
    );
    for claim in ["iat", "exp", "auth_time"] {
        assert!(access[claim].is_u64(), "{claim}");
    }

    let id = claims(&tokens.str("id_token"));
    assert_eq!(id["sub"], access["uid"]);
    assert_eq!(id["aud"], CLIENT_ID);
    assert_eq!(id["amr"], json!(["pwd", "sms", "mfa"]));
    assert!(id["jti"].as_str().expect("jti").starts_with("ID."));
    assert!(id["idp"].is_string());
    assert!(id["at_hash"].is_string());
    assert_eq!(id["preferred_username"], ALICE);
    assert_eq!(id["email"], ALICE);
    assert_eq!(id["phone_number"], ALICE_PHONE);
    assert!(id["name"].is_string());
    assert_eq!(id["groups"], json!(["engineering", "admins"]));
}

#[tokio::test]
async fn voice_flow_reports_tel_amr() {
    let t = start().await;
    let mfa_token = t.mfa_token().await;
    let challenge = t.challenge(&mfa_token, "voice").await;
    assert_eq!(challenge.status, StatusCode::OK);
    assert_eq!(challenge.str("channel"), "voice");
    let outbox = t.outbox(Some(ALICE_PHONE)).await;
    assert_eq!(outbox[0]["channel"], "voice");
    let code = t.last_code(ALICE_PHONE).await;
    let tokens = t
        .redeem(&mfa_token, &challenge.str("oob_code"), &code)
        .await;
    assert_eq!(tokens.status, StatusCode::OK);
    assert_eq!(
        claims(&tokens.str("id_token"))["amr"],
        json!(["pwd", "tel", "mfa"])
    );
}

#[tokio::test]
async fn outbox_subscription_sees_codes() {
    let t = start().await;
    let mut outbox = t.emulator.subscribe_outbox();
    let mfa_token = t.mfa_token().await;
    t.challenge(&mfa_token, "sms").await;
    let message = tokio::time::timeout(Duration::from_secs(2), outbox.recv())
        .await
        .expect("message within 2 s")
        .expect("open channel");
    assert_eq!(message.to, ALICE_PHONE);
    assert_eq!(message.channel, "sms");
    assert_eq!(message.code.len(), 6);
    assert!(message.sent_at.ends_with('Z'));
}

#[tokio::test]
async fn challenge_errors() {
    let t = start().await;
    let mfa_token = t.mfa_token().await;

    let push = t.challenge(&mfa_token, "push").await;
    assert_eq!(push.status, StatusCode::BAD_REQUEST);
    assert_eq!(push.error(), "invalid_request");
    let unknown = t.challenge(&mfa_token, "pigeon").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.error(), "invalid_request");
    let missing = t
        .post(
            "challenge",
            &[
                ("mfa_token", &mfa_token),
                ("challenge_types_supported", MFA_OOB),
            ],
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error(), "invalid_request");
    assert_eq!(
        missing.body["error_description"],
        "The 'channel_hint' parameter is required."
    );

    let expired = t.challenge("no-such-token", "sms").await;
    assert_eq!(expired.status, StatusCode::FORBIDDEN);
    assert_eq!(expired.error(), "access_denied");

    let bad_type = t
        .post(
            "challenge",
            &[
                ("mfa_token", &mfa_token),
                ("channel_hint", "sms"),
                ("challenge_types_supported", "foo"),
            ],
        )
        .await;
    assert_eq!(bad_type.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_type.error(), "invalid_request");

    let other_client = t
        .http
        .post(t.endpoint("challenge"))
        .form(&[
            ("client_id", PUBLIC_CLIENT_ID),
            ("mfa_token", mfa_token.as_str()),
            ("channel_hint", "sms"),
        ])
        .send()
        .await
        .expect("send");
    let other_client = answer(other_client).await;
    assert_eq!(other_client.status, StatusCode::UNAUTHORIZED);
    assert_eq!(other_client.error(), "invalid_client");
}

#[tokio::test]
async fn challenge_rejects_unenrolled_channel() {
    let t = start().await;
    let step = t.password(BOB, BOB_PASSWORD).await;
    let voice = t.challenge(&step.str("mfa_token"), "voice").await;
    assert_eq!(voice.status, StatusCode::FORBIDDEN);
    assert_eq!(voice.error(), "access_denied");
    let sms = t.challenge(&step.str("mfa_token"), "sms").await;
    assert_eq!(sms.status, StatusCode::OK);
}

#[tokio::test]
async fn mfa_token_expires() {
    let t = start_with(test_config().mfa_token_ttl(Duration::from_secs(1))).await;
    let mfa_token = t.mfa_token().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let challenge = t.challenge(&mfa_token, "sms").await;
    assert_eq!(challenge.status, StatusCode::FORBIDDEN);
    assert_eq!(challenge.error(), "access_denied");
}

#[tokio::test]
async fn resend_issues_fresh_oob_code() {
    let t = start().await;
    let mfa_token = t.mfa_token().await;
    let first = t.challenge(&mfa_token, "sms").await;
    let first_code = t.last_code(ALICE_PHONE).await;
    let second = t.challenge(&mfa_token, "sms").await;
    assert_eq!(second.status, StatusCode::OK);
    assert_ne!(first.str("oob_code"), second.str("oob_code"));
    assert_eq!(t.outbox(Some(ALICE_PHONE)).await.len(), 2);

    let stale = t
        .redeem(&mfa_token, &first.str("oob_code"), &first_code)
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    assert_eq!(stale.error(), "access_denied");

    let code = t.last_code(ALICE_PHONE).await;
    let tokens = t.redeem(&mfa_token, &second.str("oob_code"), &code).await;
    assert_eq!(tokens.status, StatusCode::OK);
}

#[tokio::test]
async fn sms_resend_is_rate_limited() {
    let t = start_with(EmulatorConfig::demo()).await;
    let mfa_token = t.mfa_token().await;
    assert_eq!(t.challenge(&mfa_token, "sms").await.status, StatusCode::OK);
    let again = t.challenge(&mfa_token, "voice").await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(again.error(), "invalid_grant");
    assert_eq!(t.outbox(None).await.len(), 1);
}

#[tokio::test]
async fn wrong_code_is_invalid_grant() {
    let t = start().await;
    let mfa_token = t.mfa_token().await;
    let challenge = t.challenge(&mfa_token, "sms").await;
    let code = t.last_code(ALICE_PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let answer = t
        .redeem(&mfa_token, &challenge.str("oob_code"), wrong)
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_grant");
    assert!(answer.str("error_description").contains("otp"));

    // A wrong code does not spend the challenge.
    let tokens = t
        .redeem(&mfa_token, &challenge.str("oob_code"), &code)
        .await;
    assert_eq!(tokens.status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_codes_are_rate_limited() {
    let t = start().await;
    let mfa_token = t.mfa_token().await;
    let challenge = t.challenge(&mfa_token, "sms").await;
    let code = t.last_code(ALICE_PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let answer = t
            .redeem(&mfa_token, &challenge.str("oob_code"), wrong)
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    }
    let limited = t
        .redeem(&mfa_token, &challenge.str("oob_code"), &code)
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error(), "invalid_grant");
}

#[tokio::test]
async fn oob_code_reuse_is_expired() {
    let t = start().await;
    let mfa_token = t.mfa_token().await;
    let challenge = t.challenge(&mfa_token, "sms").await;
    let code = t.last_code(ALICE_PHONE).await;
    assert_eq!(
        t.redeem(&mfa_token, &challenge.str("oob_code"), &code)
            .await
            .status,
        StatusCode::OK
    );
    let again = t
        .redeem(&mfa_token, &challenge.str("oob_code"), &code)
        .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert_eq!(again.error(), "access_denied");
}

#[tokio::test]
async fn oob_code_expires() {
    let t = start_with(test_config().oob_code_ttl(Duration::from_secs(1))).await;
    let mfa_token = t.mfa_token().await;
    let challenge = t.challenge(&mfa_token, "sms").await;
    assert_eq!(challenge.body["expires_in"], json!(1));
    let code = t.last_code(ALICE_PHONE).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let late = t
        .redeem(&mfa_token, &challenge.str("oob_code"), &code)
        .await;
    assert_eq!(late.status, StatusCode::FORBIDDEN);
    assert_eq!(late.error(), "access_denied");
}

#[tokio::test]
async fn oob_code_of_other_transaction_is_invalid_request() {
    let t = start().await;
    let first = t.mfa_token().await;
    let second = t.mfa_token().await;
    let challenge = t.challenge(&first, "sms").await;
    let code = t.last_code(ALICE_PHONE).await;
    let answer = t.redeem(&second, &challenge.str("oob_code"), &code).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_request");
}

#[tokio::test]
async fn mfa_oob_with_other_scope_or_client_fails() {
    let t = start().await;
    let mfa_token = t.mfa_token().await;
    let challenge = t.challenge(&mfa_token, "sms").await;
    let oob_code = challenge.str("oob_code");
    let code = t.last_code(ALICE_PHONE).await;

    let scope = t
        .post(
            "token",
            &[
                ("grant_type", MFA_OOB),
                ("mfa_token", &mfa_token),
                ("oob_code", &oob_code),
                ("binding_code", &code),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(scope.status, StatusCode::BAD_REQUEST);
    assert_eq!(scope.error(), "invalid_scope");

    let client = t
        .http
        .post(t.endpoint("token"))
        .form(&[
            ("client_id", PUBLIC_CLIENT_ID),
            ("grant_type", MFA_OOB),
            ("mfa_token", &mfa_token),
            ("oob_code", &oob_code),
            ("binding_code", &code),
        ])
        .send()
        .await
        .expect("send");
    let client = answer(client).await;
    assert_eq!(client.status, StatusCode::UNAUTHORIZED);
    assert_eq!(client.error(), "invalid_client");
}

#[tokio::test]
async fn urn_grant_rejected_without_alias() {
    let t = start().await;
    let mfa_token = t.mfa_token().await;
    let challenge = t.challenge(&mfa_token, "sms").await;
    let oob_code = challenge.str("oob_code");
    let code = t.last_code(ALICE_PHONE).await;
    let urn = t
        .post(
            "token",
            &[
                ("grant_type", MFA_OOB_URN),
                ("mfa_token", &mfa_token),
                ("oob_code", &oob_code),
                ("binding_code", &code),
            ],
        )
        .await;
    assert_eq!(urn.status, StatusCode::BAD_REQUEST);
    assert_eq!(urn.error(), "unsupported_grant_type");

    let retry = t.redeem(&mfa_token, &oob_code, &code).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
}

#[tokio::test]
async fn urn_grant_accepted_with_alias() {
    let t = start_with(test_config().accept_urn_mfa_oob(true)).await;
    let mfa_token = t.mfa_token().await;
    let challenge = t.challenge(&mfa_token, "sms").await;
    let code = t.last_code(ALICE_PHONE).await;
    let tokens = t
        .post(
            "token",
            &[
                ("grant_type", MFA_OOB_URN),
                ("mfa_token", &mfa_token),
                ("oob_code", &challenge.str("oob_code")),
                ("binding_code", &code),
            ],
        )
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
}

#[tokio::test]
async fn unknown_and_disabled_grants() {
    let t = start().await;
    let unknown = t.post("token", &[("grant_type", "magic")]).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.error(), "unsupported_grant_type");

    let config = test_config().edit_client(CLIENT_ID, |c| c.grant_types = vec!["password".into()]);
    let t = start_with(config).await;
    let disabled = t
        .post(
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::BAD_REQUEST);
    assert_eq!(disabled.error(), "unauthorized_client");
    let no_mfa_grant = t.password(ALICE, ALICE_PASSWORD).await;
    assert_eq!(no_mfa_grant.status, StatusCode::FORBIDDEN);
    assert_eq!(no_mfa_grant.error(), "access_denied");
}

#[tokio::test]
async fn password_requests_are_rate_limited() {
    let t = start().await;
    for _ in 0..4 {
        let answer = t.password(BOB, "wrong").await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    }
    let limited = t.password(BOB, BOB_PASSWORD).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error(), "invalid_grant");
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(
        t.password(BOB, BOB_PASSWORD).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn refresh_rotates_with_leeway() {
    let config =
        test_config().edit_client(CLIENT_ID, |c| c.refresh_leeway = Duration::from_secs(1));
    let t = start_with(config).await;
    let tokens = t.login().await;
    let first = tokens.str("refresh_token");
    let refreshed = t
        .post(
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let second = refreshed.str("refresh_token");
    assert_ne!(first, second);
    assert_eq!(
        claims(&refreshed.str("id_token"))["amr"],
        json!(["pwd", "sms", "mfa"])
    );

    // The old token still works inside the leeway, and not after it.
    let within = t
        .post(
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
        )
        .await;
    assert_eq!(within.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = t
        .post(
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
        )
        .await;
    assert_eq!(after.status, StatusCode::BAD_REQUEST);
    assert_eq!(after.error(), "invalid_grant");
}

#[tokio::test]
async fn refresh_reuse_after_leeway_revokes_grant() {
    let config = test_config().edit_client(CLIENT_ID, |c| c.refresh_leeway = Duration::ZERO);
    let t = start_with(config).await;
    let tokens = t.login().await;
    let first = tokens.str("refresh_token");
    let refreshed = t
        .post(
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let second = refreshed.str("refresh_token");
    let access = refreshed.str("access_token");

    // Okta treats reuse of a rotated token as theft: it invalidates the newest
    // refresh token and the access tokens of the grant.
    let reuse = t
        .post(
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
        )
        .await;
    assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
    assert_eq!(reuse.error(), "invalid_grant");
    let newest = t
        .post(
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", &second)],
        )
        .await;
    assert_eq!(newest.status, StatusCode::BAD_REQUEST, "{}", newest.text);
    assert_eq!(newest.error(), "invalid_grant");
    let introspected = t.introspect(&access).await;
    assert_eq!(introspected.body, json!({ "active": false }));
    let original = t.introspect(&tokens.str("access_token")).await;
    assert_eq!(original.body, json!({ "active": false }));
}

#[tokio::test]
async fn refresh_static_keeps_token_and_checks_scope() {
    let config = test_config().edit_client(CLIENT_ID, |c| c.rotation_type = RotationType::Static);
    let t = start_with(config).await;
    let tokens = t.login().await;
    let refresh = tokens.str("refresh_token");
    let narrowed = t
        .post(
            "token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", "openid email"),
            ],
        )
        .await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.text);
    assert_eq!(narrowed.str("refresh_token"), refresh);
    assert_eq!(narrowed.str("scope"), "openid email");

    let widened = t
        .post(
            "token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", "openid address"),
            ],
        )
        .await;
    assert_eq!(widened.status, StatusCode::BAD_REQUEST);
    assert_eq!(widened.error(), "access_denied");

    let unknown = t
        .post(
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.error(), "invalid_grant");
}

#[tokio::test]
async fn org_server_issues_org_tokens() {
    let t = start().await;
    let url = t.url("/oauth2/v1/token");
    let response = t
        .http
        .post(&url)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "password"),
            ("username", "dave@example.com"),
            ("password", "No-Mfa-Needed-3"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .expect("send");
    let tokens = answer(response).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    let access = claims(&tokens.str("access_token"));
    assert_eq!(access["iss"], json!(t.emulator.base_url()));
    assert_eq!(access["aud"], json!(t.emulator.base_url()));
}

#[tokio::test]
async fn mfa_token_bound_to_server() {
    let config = {
        let mut c = test_config();
        c.settings.authorization_servers.push("other".into());
        c
    };
    let t = start_with(config).await;
    let mfa_token = t.mfa_token().await;
    let response = t
        .http
        .post(t.url("/oauth2/other/v1/challenge"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("mfa_token", mfa_token.as_str()), ("channel_hint", "sms")])
        .send()
        .await
        .expect("send");
    let answer = answer(response).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_request");
}
