//! Introspection, revocation, userinfo, logout, keys, discovery, client
//! authentication and bad input against the emulator.

#[path = "common/emulator.rs"]
mod emulator_common;

use emulator_common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis::emulator::AuthMethod;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn introspect_active_then_revoked() {
    let t = start().await;
    let tokens = t.login().await;
    let access = tokens.str("access_token");
    let active = t.introspect(&access).await;
    assert_eq!(active.status, StatusCode::OK);
    assert_eq!(active.body["active"], true);
    assert_eq!(active.body["token_type"], "Bearer");
    assert_eq!(active.body["scope"], SCOPES);
    assert_eq!(active.body["client_id"], CLIENT_ID);
    assert_eq!(active.body["username"], ALICE);
    assert_eq!(active.body["sub"], ALICE);
    assert_eq!(active.body["aud"], "api://default");
    assert_eq!(active.body["iss"], json!(t.emulator.issuer()));
    assert!(active.body["jti"].as_str().expect("jti").starts_with("AT."));
    assert!(active.body["uid"].as_str().expect("uid").starts_with("00u"));
    assert!(active.body["exp"].is_u64());
    assert!(active.body["iat"].is_u64());
    assert!(active.body.get("groups").is_none());

    let revoked = t.post("revoke", &[("token", &access)]).await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(revoked.text, "");
    assert_eq!(t.introspect(&access).await.body, json!({ "active": false }));
}

#[tokio::test]
async fn introspect_refresh_token() {
    let t = start().await;
    let tokens = t.login().await;
    let refresh = t.introspect(&tokens.str("refresh_token")).await;
    assert_eq!(refresh.body["active"], true);
    assert_eq!(refresh.body["client_id"], CLIENT_ID);
    assert_eq!(refresh.body["username"], ALICE);
}

#[tokio::test]
async fn introspect_inactive_cases() {
    let t = start_with(test_config().access_token_ttl(Duration::from_secs(1))).await;
    let tokens = t.login().await;
    let access = tokens.str("access_token");
    assert_eq!(tokens.body["expires_in"], json!(1));

    assert_eq!(
        t.introspect("garbage").await.body,
        json!({ "active": false })
    );

    // Another client sees the token as inactive.
    let response = t
        .http
        .post(format!(
            "{}?client_id={PUBLIC_CLIENT_ID}",
            t.endpoint("introspect")
        ))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .expect("send");
    let other = answer(response).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    assert_eq!(other.body, json!({ "active": false }));

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(t.introspect(&access).await.body, json!({ "active": false }));
}

#[tokio::test]
async fn introspect_needs_token_and_client() {
    let t = start().await;
    let missing = t.post("introspect", &[]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error(), "invalid_request");
    let response = t
        .http
        .post(t.endpoint("introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .expect("send");
    let anonymous = answer(response).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.error(), "invalid_client");
}

#[tokio::test]
async fn revoke_refresh_kills_access_tokens() {
    let t = start().await;
    let tokens = t.login().await;
    let revoked = t
        .post(
            "revoke",
            &[
                ("token", &tokens.str("refresh_token")),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(
        t.introspect(&tokens.str("access_token")).await.body["active"],
        false
    );
    assert_eq!(
        t.introspect(&tokens.str("refresh_token")).await.body["active"],
        false
    );
    let refresh = t
        .post(
            "token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &tokens.str("refresh_token")),
            ],
        )
        .await;
    assert_eq!(refresh.error(), "invalid_grant");
}

#[tokio::test]
async fn revoke_unknown_and_foreign_tokens() {
    let t = start().await;
    let unknown = t.post("revoke", &[("token", "nothing-here")]).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.text, "");

    let tokens = t.login().await;
    let access = tokens.str("access_token");
    let response = t
        .http
        .post(t.endpoint("revoke"))
        .form(&[("client_id", PUBLIC_CLIENT_ID), ("token", access.as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(t.introspect(&access).await.body["active"], true);

    let missing = t.post("revoke", &[]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error(), "invalid_request");
}

#[tokio::test]
async fn userinfo_claims_by_scope() {
    let t = start().await;
    let tokens = t.login().await;
    let response = t
        .http
        .get(t.endpoint("userinfo"))
        .bearer_auth(tokens.str("access_token"))
        .send()
        .await
        .expect("send");
    let info = answer(response).await;
    assert_eq!(info.status, StatusCode::OK);
    assert!(info.body["sub"].as_str().expect("sub").starts_with("00u"));
    assert_eq!(info.body["email"], ALICE);
    assert_eq!(info.body["preferred_username"], ALICE);
    assert_eq!(info.body["phone_number"], ALICE_PHONE);

    let narrow = t
        .post(
            "token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &tokens.str("refresh_token")),
                ("scope", "openid email"),
            ],
        )
        .await;
    let response = t
        .http
        .get(t.endpoint("userinfo"))
        .bearer_auth(narrow.str("access_token"))
        .send()
        .await
        .expect("send");
    let info = answer(response).await;
    assert_eq!(info.body["email"], ALICE);
    assert!(info.body.get("phone_number").is_none());
    assert!(info.body.get("name").is_none());
}

#[tokio::test]
async fn userinfo_errors_carry_www_authenticate() {
    let t = start().await;
    let response = t
        .http
        .get(t.endpoint("userinfo"))
        .bearer_auth("bogus")
        .send()
        .await
        .expect("send");
    let invalid = answer(response).await;
    assert_eq!(invalid.status, StatusCode::UNAUTHORIZED);
    let header = invalid.header("www-authenticate");
    assert!(
        header.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{header}"
    );

    let tokens = t.login().await;
    let narrow = t
        .post(
            "token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &tokens.str("refresh_token")),
                ("scope", "email"),
            ],
        )
        .await;
    let response = t
        .http
        .get(t.endpoint("userinfo"))
        .bearer_auth(narrow.str("access_token"))
        .send()
        .await
        .expect("send");
    let forbidden = answer(response).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(forbidden
        .header("www-authenticate")
        .contains("error=\"insufficient_scope\""));
}

#[tokio::test]
async fn userinfo_openid_alone_is_insufficient() {
    let t = start().await;
    let tokens = t.login().await;
    let narrow = t
        .post(
            "token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &tokens.str("refresh_token")),
                ("scope", "openid offline_access"),
            ],
        )
        .await;
    assert_eq!(narrow.status, StatusCode::OK, "{}", narrow.text);
    let response = t
        .http
        .get(t.endpoint("userinfo"))
        .bearer_auth(narrow.str("access_token"))
        .send()
        .await
        .expect("send");
    let forbidden = answer(response).await;
    assert_eq!(
        forbidden.status,
        StatusCode::FORBIDDEN,
        "{}",
        forbidden.text
    );
    assert!(forbidden
        .header("www-authenticate")
        .contains("error=\"insufficient_scope\""));
}

#[tokio::test]
async fn userinfo_rejects_expired_token() {
    let t = start_with(test_config().access_token_ttl(Duration::from_secs(1))).await;
    let tokens = t.login().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = t
        .http
        .get(t.endpoint("userinfo"))
        .bearer_auth(tokens.str("access_token"))
        .send()
        .await
        .expect("send");
    let expired = answer(response).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired
        .header("www-authenticate")
        .contains("error=\"invalid_token\""));
    let introspected = t.introspect(&tokens.str("access_token")).await;
    assert_eq!(introspected.body, json!({ "active": false }));
}

#[tokio::test]
async fn logout_rejects_access_token_hint() {
    let t = start().await;
    let tokens = t.login().await;
    let response = t
        .http
        .get(t.endpoint("logout"))
        .query(&[
            ("id_token_hint", tokens.str("access_token").as_str()),
            ("state", "xyz"),
        ])
        .send()
        .await
        .expect("send");
    let rejected = answer(response).await;
    assert_eq!(
        rejected.status,
        StatusCode::BAD_REQUEST,
        "{}",
        rejected.text
    );
    assert_eq!(rejected.error(), "invalid_request");
}

#[tokio::test]
async fn logout_redirects_with_state() {
    let t = start().await;
    let tokens = t.login().await;
    let id_token = tokens.str("id_token");
    let redirect = "http://127.0.0.1:4180/.portcullis/signed_out";
    let response = t
        .http
        .get(t.endpoint("logout"))
        .query(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", redirect),
            ("state", "xyz"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("location");
    assert_eq!(location, format!("{redirect}?state=xyz"));

    let response = t
        .http
        .post(t.endpoint("logout"))
        .form(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", redirect),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn logout_rejects_unregistered_redirect_and_bad_hint() {
    let t = start().await;
    let tokens = t.login().await;
    let response = t
        .http
        .get(t.endpoint("logout"))
        .query(&[
            ("id_token_hint", tokens.str("id_token").as_str()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ])
        .send()
        .await
        .expect("send");
    let unregistered = answer(response).await;
    assert_eq!(unregistered.status, StatusCode::BAD_REQUEST);
    assert_eq!(unregistered.error(), "invalid_request");

    let response = t
        .http
        .get(t.endpoint("logout"))
        .query(&[("id_token_hint", "not.a.jwt")])
        .send()
        .await
        .expect("send");
    assert_eq!(answer(response).await.error(), "invalid_request");
    let response = t.http.get(t.endpoint("logout")).send().await.expect("send");
    assert_eq!(answer(response).await.error(), "invalid_request");
}

#[tokio::test]
async fn keys_verify_tokens() {
    let t = start().await;
    let response = t.http.get(t.endpoint("keys")).send().await.expect("send");
    let keys = answer(response).await;
    assert_eq!(keys.status, StatusCode::OK);
    let cache = keys.header("cache-control");
    assert!(
        cache.starts_with("max-age=") && cache.ends_with(", must-revalidate"),
        "{cache}"
    );
    let key = &keys.body["keys"][0];
    for field in ["kid", "n", "e"] {
        assert!(key[field].is_string(), "{field}");
    }
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");

    let tokens = t.login().await;
    let access = tokens.str("access_token");
    assert_eq!(jwt_header(&access)["kid"], key["kid"]);
    let decoding = DecodingKey::from_rsa_components(
        key["n"].as_str().expect("n"),
        key["e"].as_str().expect("e"),
    )
    .expect("RSA key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["api://default"]);
    validation.set_issuer(&[t.emulator.issuer()]);
    let verified = jsonwebtoken::decode::<Value>(&access, &decoding, &validation);
    assert!(verified.is_ok(), "{verified:?}");
}

#[tokio::test]
async fn discovery_documents() {
    let t = start().await;
    let issuer = t.emulator.issuer();
    let base = t.emulator.base_url();
    for (path, expected_issuer, userinfo) in [
        (
            format!("{issuer}/.well-known/openid-configuration"),
            issuer.clone(),
            true,
        ),
        (
            format!("{issuer}/.well-known/oauth-authorization-server"),
            issuer.clone(),
            false,
        ),
        (
            format!("{base}/.well-known/oauth-authorization-server/oauth2/default"),
            issuer.clone(),
            false,
        ),
        (
            format!("{base}/.well-known/openid-configuration"),
            base.clone(),
            true,
        ),
        (
            format!("{base}/.well-known/oauth-authorization-server"),
            base.clone(),
            false,
        ),
    ] {
        let document = answer(t.http.get(&path).send().await.expect("send")).await;
        assert_eq!(document.status, StatusCode::OK, "{path}");
        assert_eq!(document.body["issuer"], json!(expected_issuer), "{path}");
        let endpoints = if expected_issuer == base {
            format!("{base}/oauth2/v1")
        } else {
            format!("{issuer}/v1")
        };
        assert_eq!(
            document.body["token_endpoint"],
            json!(format!("{endpoints}/token"))
        );
        assert_eq!(
            document.body["jwks_uri"],
            json!(format!("{endpoints}/keys"))
        );
        assert_eq!(
            document.body["introspection_endpoint"],
            json!(format!("{endpoints}/introspect"))
        );
        assert_eq!(
            document.body["revocation_endpoint"],
            json!(format!("{endpoints}/revoke"))
        );
        assert_eq!(
            document.body["end_session_endpoint"],
            json!(format!("{endpoints}/logout"))
        );
        assert_eq!(
            document.body.get("userinfo_endpoint").is_some(),
            userinfo,
            "{path}"
        );
        let scopes = document.body["scopes_supported"]
            .as_array()
            .expect("scopes");
        assert!(scopes.contains(&json!("offline_access")));
    }
}

#[tokio::test]
async fn discovery_errors_use_management_shape() {
    let t = start().await;
    let response = t
        .http
        .get(t.url("/oauth2/nope/.well-known/openid-configuration"))
        .send()
        .await
        .expect("send");
    let unknown = answer(response).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "E0000007");
    for key in ["errorSummary", "errorLink", "errorId", "errorCauses"] {
        assert!(unknown.body.get(key).is_some(), "{key}");
    }

    let response = t
        .http
        .get(format!(
            "{}/.well-known/openid-configuration?client_id=nobody",
            t.emulator.issuer()
        ))
        .send()
        .await
        .expect("send");
    let bad_client = answer(response).await;
    assert_eq!(bad_client.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_client.error_code(), "invalid_client");

    let response = t
        .http
        .get(format!(
            "{}/.well-known/openid-configuration?client_id=%FF",
            t.emulator.issuer()
        ))
        .send()
        .await
        .expect("send");
    let undecodable = answer(response).await;
    assert_eq!(
        undecodable.status,
        StatusCode::BAD_REQUEST,
        "{}",
        undecodable.text
    );
    assert_eq!(undecodable.error_code(), "invalid_client");
}

#[tokio::test]
async fn client_authentication_rows() {
    let t = start().await;
    let form = [
        ("grant_type", "password"),
        ("username", ALICE),
        ("password", ALICE_PASSWORD),
        ("scope", "openid"),
    ];
    let send = |builder: reqwest::RequestBuilder| async move {
        answer(builder.send().await.expect("send")).await
    };

    let post_auth = send(
        t.http.post(t.endpoint("token")).form(
            &[
                &form[..],
                &[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
            ]
            .concat(),
        ),
    )
    .await;
    assert_eq!(
        post_auth.error(),
        "mfa_required",
        "client_secret_post is accepted"
    );

    let wrong_secret = send(
        t.http
            .post(t.endpoint("token"))
            .basic_auth(CLIENT_ID, Some("wrong"))
            .form(&form),
    )
    .await;
    assert_eq!(wrong_secret.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_secret.error(), "invalid_client");

    let unknown = send(
        t.http
            .post(t.endpoint("token"))
            .basic_auth("nobody", Some("x"))
            .form(&form),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.error(), "invalid_client");

    let missing = send(t.http.post(t.endpoint("token")).form(&form)).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.error(), "invalid_client");

    let no_secret = send(
        t.http
            .post(t.endpoint("token"))
            .form(&[&form[..], &[("client_id", CLIENT_ID)]].concat()),
    )
    .await;
    assert_eq!(no_secret.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_secret.error(), "invalid_client");

    let both = send(
        t.http
            .post(t.endpoint("token"))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(
                &[
                    &form[..],
                    &[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
                ]
                .concat(),
            ),
    )
    .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert_eq!(both.error(), "invalid_request");

    let origin = send(
        t.http
            .post(t.endpoint("token"))
            .header("Origin", "http://127.0.0.1:4180")
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&form),
    )
    .await;
    assert_eq!(origin.status, StatusCode::UNAUTHORIZED);
    assert_eq!(origin.error(), "invalid_client");
    assert!(origin
        .str("error_description")
        .contains("Proof Key for Code Exchange"));

    let public = send(
        t.http
            .post(t.endpoint("token"))
            .form(&[&form[..], &[("client_id", PUBLIC_CLIENT_ID)]].concat()),
    )
    .await;
    assert_eq!(public.error(), "mfa_required");
}

#[tokio::test]
async fn auth_method_must_match_client() {
    let config = test_config().edit_client(CLIENT_ID, |c| {
        c.auth_methods = vec![AuthMethod::ClientSecretBasic]
    });
    let t = start_with(config).await;
    let response = t
        .http
        .post(t.endpoint("token"))
        .form(&[
            ("grant_type", "password"),
            ("username", ALICE),
            ("password", ALICE_PASSWORD),
            ("scope", "openid"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .expect("send");
    let mismatch = answer(response).await;
    assert_eq!(mismatch.status, StatusCode::UNAUTHORIZED);
    assert_eq!(mismatch.error(), "invalid_client");
}

#[tokio::test]
async fn bad_input_gets_okta_errors() {
    let t = start().await;
    let basic = |b: reqwest::RequestBuilder| b.basic_auth(CLIENT_ID, Some(CLIENT_SECRET));

    let duplicate = basic(t.http.post(t.endpoint("token")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&grant_type=password")
        .send()
        .await
        .expect("send");
    let duplicate = answer(duplicate).await;
    assert_eq!(duplicate.status, StatusCode::BAD_REQUEST);
    assert_eq!(duplicate.error(), "invalid_request");

    let invalid_utf8 = basic(t.http.post(t.endpoint("token")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"grant_type=%FF%FE&x=\xff".to_vec())
        .send()
        .await
        .expect("send");
    assert_eq!(answer(invalid_utf8).await.error(), "invalid_request");

    let json_body = basic(t.http.post(t.endpoint("token")))
        .json(&json!({ "grant_type": "password" }))
        .send()
        .await
        .expect("send");
    assert_eq!(answer(json_body).await.error(), "invalid_request");

    let malformed = basic(t.http.post(t.endpoint("token")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("===&&%%%")
        .send()
        .await
        .expect("send");
    let malformed = answer(malformed).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);

    let missing = t.post("token", &[]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error(), "invalid_request");

    let huge = basic(t.http.post(t.endpoint("token")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 70 * 1024])
        .send()
        .await
        .expect("send");
    let huge = answer(huge).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!huge.error_code().is_empty());

    let wrong_method = t.http.get(t.endpoint("token")).send().await.expect("send");
    let wrong_method = answer(wrong_method).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.error_code(), "E0000022");

    let not_found = answer(t.http.get(t.url("/nowhere")).send().await.expect("send")).await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);
    assert_eq!(not_found.error_code(), "E0000007");
    assert!(!not_found.header("x-okta-request-id").is_empty());
    assert!(!not_found.header("x-rate-limit-limit").is_empty());

    let unknown_server = answer(
        t.http
            .post(t.url("/oauth2/nope/v1/token"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(unknown_server.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown_server.error_code(), "E0000007");
}

#[tokio::test]
async fn every_response_has_okta_headers() {
    let t = start().await;
    let answers = [
        t.password(ALICE, "wrong").await,
        answer(t.http.get(t.endpoint("keys")).send().await.expect("send")).await,
        t.introspect("x").await,
    ];
    for a in &answers {
        for header in [
            "x-rate-limit-limit",
            "x-rate-limit-remaining",
            "x-rate-limit-reset",
            "x-okta-request-id",
        ] {
            assert!(
                !a.header(header).is_empty(),
                "{header} missing on {}",
                a.text
            );
        }
        assert_eq!(a.header("content-type"), "application/json;charset=UTF-8");
    }
}

#[tokio::test]
async fn org_rate_limit_returns_e0000047() {
    let t = start_with(test_config().org_rate_limit_per_minute(2)).await;
    for _ in 0..2 {
        assert_eq!(t.introspect("x").await.status, StatusCode::OK);
    }
    let limited = t.introspect("x").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error_code(), "E0000047");
    assert_eq!(limited.header("x-rate-limit-remaining"), "0");
    // Keys are never limited.
    let keys = t.http.get(t.endpoint("keys")).send().await.expect("send");
    assert_eq!(keys.status(), StatusCode::OK);
}
