//! Credential checks through the gateway against the Okta emulator: introspection
//! caching and single flight, revocation, logout, expiry, session refresh and outages.

mod common {
    pub mod emulator;
    pub mod gateway;
}

use std::time::Duration;

use common::gateway::{self as harness, fault_status, COOKIE};
use futures_util::future::join_all;
use portcullis::emulator::EmulatorConfig;
use serde_json::json;

#[tokio::test]
async fn concurrent_requests_with_fresh_token_introspect_once() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    let before = h.calls("introspect").await;

    let paths: Vec<String> = (0..100).map(|i| format!("/item/{i}")).collect();
    let requests = paths
        .iter()
        .map(|path| h.get_bearer(path, &tokens.access_token));
    let results = join_all(requests).await;

    for (status, body) in &results {
        assert_eq!(*status, 200, "{body}");
    }
    assert_eq!(h.calls("introspect").await - before, 1);
}

#[tokio::test]
async fn revoked_token_is_rejected_at_once() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    assert_eq!(h.get_bearer("/a", &tokens.access_token).await.0, 200);

    let response = h
        .http
        .post(h.url("/.portcullis/revoke"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let (status, body) = h.get_bearer("/a", &tokens.access_token).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
    assert!(body["request_id"].is_string());
}

#[tokio::test]
async fn revoke_by_body_ends_session() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    let cookie = h.create_session(&tokens, Duration::from_secs(300)).await;
    assert_eq!(h.get_bearer("/a", &tokens.access_token).await.0, 200);
    assert_eq!(h.get_cookie("/a", &cookie).await.0, 200);

    let response = h
        .http
        .post(h.url("/.portcullis/revoke"))
        .json(&json!({ "token": tokens.access_token, "token_type_hint": "access_token" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["session_ended"], true);

    assert_eq!(h.get_bearer("/a", &tokens.access_token).await.0, 401);
    assert_eq!(h.get_cookie("/a", &cookie).await.0, 401);
    // The ended session's refresh token is revoked at Okta too.
    let introspection = h.okta.introspect(&tokens.refresh_token).await;
    assert_eq!(introspection.body["active"], false);
}

#[tokio::test]
async fn revoke_rejects_unknown_token_type_hint() {
    let h = harness::start(|_| {}).await;
    let response = h
        .http
        .post(h.url("/.portcullis/revoke"))
        .json(&json!({ "token": "abc", "token_type_hint": "id_token" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn logout_ends_session_and_revokes_its_tokens() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    let cookie = h.create_session(&tokens, Duration::from_secs(300)).await;
    assert_eq!(h.get_cookie("/a", &cookie).await.0, 200);
    assert_eq!(h.get_bearer("/a", &tokens.access_token).await.0, 200);

    let response = h
        .http
        .post(h.url("/.portcullis/logout"))
        .header("cookie", format!("{COOKIE}={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.starts_with(&format!("{COOKIE}=;")),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("Max-Age=0"), "{set_cookie}");
    let body: serde_json::Value = response.json().await.unwrap();
    let url = url::Url::parse(body["end_session_url"].as_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert!(url.path().ends_with("/v1/logout"), "{url}");
    assert_eq!(query["id_token_hint"], tokens.id_token);
    assert_eq!(
        query["post_logout_redirect_uri"],
        "http://127.0.0.1:4180/.portcullis/signed_out"
    );
    assert_eq!(query["state"].len(), 32);

    assert_eq!(h.get_cookie("/a", &cookie).await.0, 401);
    assert_eq!(h.get_bearer("/a", &tokens.access_token).await.0, 401);
    // The refresh token is revoked at Okta too.
    let introspection = h.okta.introspect(&tokens.refresh_token).await;
    assert_eq!(introspection.body["active"], false);
}

#[tokio::test]
async fn logout_form_post_from_browser_redirects() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    let cookie = h.create_session(&tokens, Duration::from_secs(300)).await;

    let response = h
        .http
        .post(h.url("/.portcullis/logout"))
        .header("cookie", format!("{COOKIE}={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.contains("/v1/logout?id_token_hint="), "{location}");
}

#[tokio::test]
async fn expired_token_is_rejected_while_cached() {
    let emulator = harness_emulator().access_token_ttl(Duration::from_secs(2));
    let h = harness::start_with(emulator, |config| {
        config.auth.introspection_cache_ttl = Duration::from_secs(300);
    })
    .await;
    let tokens = h.login().await;
    assert_eq!(h.get_bearer("/a", &tokens.access_token).await.0, 200);

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (status, body) = h.get_bearer("/a", &tokens.access_token).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn session_refreshes_once_under_concurrent_requests() {
    let h = harness::start(|config| {
        config.session.refresh_before_expiry = Duration::from_secs(60);
    })
    .await;
    let tokens = h.login().await;
    // The access token looks about to expire, so the next requests must refresh it.
    let cookie = h.create_session(&tokens, Duration::from_secs(30)).await;
    let before = h.calls("token").await;

    let requests = (0..50).map(|_| h.get_cookie("/a", &cookie));
    for (status, body) in join_all(requests).await {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(h.calls("token").await - before, 1);

    // The refreshed session needs no further refresh.
    let (status, _) = h.get_cookie("/a", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(h.calls("token").await - before, 1);
}

#[tokio::test]
async fn rejected_refresh_ends_session() {
    let h = harness::start(|config| {
        config.session.refresh_before_expiry = Duration::from_secs(60);
    })
    .await;
    let tokens = h.login().await;
    let cookie = h.create_session(&tokens, Duration::from_secs(30)).await;
    // Revoking the refresh token at Okta behind the gateway's back.
    let revoked = h
        .okta
        .post(
            "revoke",
            &[
                ("token", &tokens.refresh_token),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(revoked.status, 200);

    let (status, body) = h.get_cookie("/a", &cookie).await;
    assert_eq!(status, 401, "{body}");
    let session = h
        .gateway
        .gateway
        .sessions
        .get(portcullis::secret::hash_token(&cookie))
        .await;
    assert!(session.is_none(), "the session outlived a rejected refresh");
}

#[tokio::test]
async fn refresh_outage_keeps_serving_valid_token() {
    let h = harness::start(|config| {
        config.session.refresh_before_expiry = Duration::from_secs(60);
    })
    .await;
    let tokens = h.login().await;
    let cookie = h.create_session(&tokens, Duration::from_secs(30)).await;
    h.fault(fault_status("token", 503, 1)).await;

    let (status, body) = h.get_cookie("/a", &cookie).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn introspection_outage_never_grants_access() {
    let h = harness::start(|_| {}).await;
    let cached = h.login().await;
    let fresh = h.login().await;
    assert_eq!(h.get_bearer("/a", &cached.access_token).await.0, 200);

    h.fault(fault_status("introspect", 503, 3)).await;
    let (status, body) = h.get_bearer("/a", &fresh.access_token).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "idp_unavailable");
    // A token validated before the outage keeps working from the cache.
    assert_eq!(h.get_bearer("/a", &cached.access_token).await.0, 200);

    h.fault(json!({ "endpoint": "introspect", "drop": true, "count": 3 }))
        .await;
    let (status, _) = h.get_bearer("/b", &fresh.access_token).await;
    assert_eq!(status, 503);

    // Errors are not cached, so once Okta responds again the token is accepted.
    h.http
        .delete(h.okta.url("/__emulator/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(h.get_bearer("/c", &fresh.access_token).await.0, 200);
}

#[tokio::test]
async fn garbage_token_gets_invalid_token() {
    let h = harness::start(|_| {}).await;
    let (status, body) = h.get_bearer("/a", "not-a-token").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn jwt_validation_accepts_emulator_tokens() {
    let h = harness::start(|config| {
        config.auth.validation = portcullis::config::Validation::Jwt;
    })
    .await;
    let tokens = h.login().await;
    let before = h.calls("introspect").await;
    let (status, body) = h.get_bearer("/a", &tokens.access_token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.calls("introspect").await, before);

    // A tampered signature fails local verification.
    let tampered = format!("{}x", tokens.access_token);
    assert_eq!(h.get_bearer("/a", &tampered).await.0, 401);

    // Local verification cannot see revocation, but the gateway's deny list can.
    let response = h
        .http
        .post(h.url("/.portcullis/revoke"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(h.get_bearer("/a", &tokens.access_token).await.0, 401);
}

#[tokio::test]
async fn session_route_describes_credential() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    let response = h
        .http
        .get(h.url("/.portcullis/session"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["credential"], "bearer");
    assert_eq!(body["username"], common::emulator::ALICE);
    assert!(body["scopes"]
        .as_array()
        .unwrap()
        .contains(&json!("openid")));
    assert!(body["expires_in"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn userinfo_is_cached_per_token() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    let before = h.calls("userinfo").await;
    for _ in 0..3 {
        let response = h
            .http
            .get(h.url("/.portcullis/userinfo"))
            .bearer_auth(&tokens.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["sub"].is_string(), "{body}");
    }
    assert_eq!(h.calls("userinfo").await - before, 1);
}

#[tokio::test]
async fn forward_auth_answers_identity_headers() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    let response = h
        .http
        .get(h.url("/.portcullis/auth"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-forwarded-user"],
        common::emulator::ALICE
    );

    let response = h.http.get(h.url("/.portcullis/auth")).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn metrics_count_requests_by_route_class() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    h.get_bearer("/secret/path", &tokens.access_token).await;
    h.get_bearer("/secret/path", &tokens.access_token).await;

    let metrics = h
        .http
        .get(format!("{}/metrics", h.gateway.admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("route=\"forward\""), "{metrics}");
    assert!(
        metrics.contains("portcullis_cache_hits_total{cache=\"introspection\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_okta_calls_total{endpoint=\"introspect\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("/secret/path"));

    let ready = h
        .http
        .get(format!("{}/readyz", h.gateway.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let healthy = h
        .http
        .get(format!("{}/healthz", h.gateway.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(healthy.status(), 200);
}

fn harness_emulator() -> EmulatorConfig {
    common::emulator::test_config()
}

/// Builds a JWT with the given header, the claims of `like`, and a junk signature.
fn forged_jwt(header: serde_json::Value, like: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    let claims = like.split('.').nth(1).expect("JWT payload");
    let header = URL_SAFE_NO_PAD.encode(header.to_string());
    format!("{header}.{claims}.c2lnbmF0dXJl")
}

#[tokio::test]
async fn jwt_validation_rejects_unknown_keys_and_algorithms() {
    let h = harness::start(|config| {
        config.auth.validation = portcullis::config::Validation::Jwt;
    })
    .await;
    let tokens = h.login().await;
    assert_eq!(h.get_bearer("/a", &tokens.access_token).await.0, 200);
    let fetched = h.calls("keys").await;
    assert_eq!(fetched, 1);

    for i in 0..5 {
        let forged = forged_jwt(
            json!({ "alg": "RS256", "kid": format!("made-up-{i}") }),
            &tokens.access_token,
        );
        assert_eq!(h.get_bearer("/a", &forged).await.0, 401);
    }
    // Unknown key ids right after a fetch do not make the gateway fetch again.
    assert_eq!(h.calls("keys").await, fetched);

    let kid = common::emulator::jwt_header(&tokens.access_token)["kid"].clone();
    for alg in ["HS256", "none", "RS512"] {
        let forged = forged_jwt(json!({ "alg": alg, "kid": kid }), &tokens.access_token);
        assert_eq!(
            h.get_bearer("/a", &forged).await.0,
            401,
            "alg {alg} was accepted"
        );
    }
}

#[tokio::test]
async fn signed_out_page_confirms_sign_out() {
    let h = harness::start(|_| {}).await;
    let response = h
        .http
        .get(h.url("/.portcullis/signed_out"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["state"], "signed_out");

    let response = h
        .http
        .get(h.url("/.portcullis/signed_out"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(response.text().await.unwrap().contains("signed out"));
}

#[tokio::test]
async fn missing_required_scope_gets_403() {
    let h = harness::start(|config| {
        config.auth.required_scopes = vec!["orders:write".to_string()];
    })
    .await;
    let tokens = h.login().await;
    let (status, body) = h.get_bearer("/a", &tokens.access_token).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn token_for_other_audience_is_rejected() {
    let h = harness::start(|config| {
        config.okta.audience = "api://billing".to_string();
    })
    .await;
    let tokens = h.login().await;
    let (status, body) = h.get_bearer("/a", &tokens.access_token).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn wrong_method_on_gateway_route_gets_json_405() {
    let h = harness::start(|_| {}).await;
    let response = h
        .http
        .get(h.url("/.portcullis/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
}
