//! The apps management API, the `/__emulator/` test hooks and the command line.

#[path = "common/emulator.rs"]
mod emulator_common;

use std::time::Duration;

use emulator_common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const APP: &str = "/api/v1/apps/0oaportcullisdemo";

async fn get_app(t: &TestEmulator, token: Option<&str>) -> Answer {
    let mut request = t.http.get(t.url(APP));
    if let Some(token) = token {
        request = request.header("Authorization", format!("SSWS {token}"));
    }
    answer(request.send().await.expect("send")).await
}

async fn put_app(t: &TestEmulator, body: &Value) -> Answer {
    let response = t
        .http
        .put(t.url(APP))
        .header("Authorization", format!("SSWS {API_TOKEN}"))
        .json(body)
        .send()
        .await
        .expect("send");
    answer(response).await
}

#[tokio::test]
async fn get_app_returns_oauth_settings() {
    let t = start().await;
    let app = get_app(&t, Some(API_TOKEN)).await;
    assert_eq!(app.status, StatusCode::OK, "{}", app.text);
    assert_eq!(app.body["id"], "0oaportcullisdemo");
    assert_eq!(app.body["signOnMode"], "OPENID_CONNECT");
    assert_eq!(
        app.body["credentials"]["oauthClient"]["client_id"],
        CLIENT_ID
    );
    assert!(app.body["credentials"]["oauthClient"]
        .get("client_secret")
        .is_none());
    let settings = &app.body["settings"]["oauthClient"];
    assert_eq!(
        settings["grant_types"],
        json!(["password", MFA_OOB, "refresh_token"])
    );
    assert_eq!(
        settings["post_logout_redirect_uris"],
        json!(["http://127.0.0.1:4180/.portcullis/signed_out"])
    );
    assert_eq!(settings["refresh_token"]["rotation_type"], "ROTATE");
    assert_eq!(settings["refresh_token"]["leeway"], 30);
}

#[tokio::test]
async fn management_errors() {
    let t = start().await;
    for token in [None, Some("wrong")] {
        let denied = get_app(&t, token).await;
        assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
        assert_eq!(denied.error_code(), "E0000011");
        for key in ["errorSummary", "errorLink", "errorId", "errorCauses"] {
            assert!(denied.body.get(key).is_some(), "{key}");
        }
    }

    let response = t
        .http
        .get(t.url("/api/v1/apps/0oanothere"))
        .header("Authorization", format!("SSWS {API_TOKEN}"))
        .send()
        .await
        .expect("send");
    let missing = answer(response).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "E0000007");

    let response = t
        .http
        .put(t.url(APP))
        .header("Authorization", format!("SSWS {API_TOKEN}"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    let malformed = answer(response).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.error_code(), "E0000003");

    let mut app = get_app(&t, Some(API_TOKEN)).await.body;
    app["settings"]["oauthClient"]["grant_types"] = json!(["password", "teleport"]);
    app["settings"]["oauthClient"]["refresh_token"]["rotation_type"] = json!("SOMETIMES");
    let invalid = put_app(&t, &app).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid.error_code(), "E0000001");
    let causes = invalid.body["errorCauses"].as_array().expect("causes");
    assert_eq!(causes.len(), 2, "{}", invalid.text);

    let response = t
        .http
        .delete(t.url(APP))
        .header("Authorization", format!("SSWS {API_TOKEN}"))
        .send()
        .await
        .expect("send");
    let wrong_method = answer(response).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.error_code(), "E0000022");
}

#[tokio::test]
async fn put_removing_mfa_grant_takes_effect() {
    let t = start().await;
    let mfa_token = t.mfa_token().await;
    let challenge = t.challenge(&mfa_token, "sms").await;
    let code = t.last_code(ALICE_PHONE).await;

    let mut app = get_app(&t, Some(API_TOKEN)).await.body;
    app["settings"]["oauthClient"]["grant_types"] = json!(["password", "refresh_token"]);
    let updated = put_app(&t, &app).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(
        updated.body["settings"]["oauthClient"]["grant_types"],
        json!(["password", "refresh_token"])
    );

    let answer = t
        .redeem(&mfa_token, &challenge.str("oob_code"), &code)
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "unauthorized_client");
}

#[tokio::test]
async fn put_changes_rotation_type() {
    let t = start().await;
    let mut app = get_app(&t, Some(API_TOKEN)).await.body;
    app["settings"]["oauthClient"]["refresh_token"] =
        json!({ "rotation_type": "STATIC", "leeway": 0 });
    assert_eq!(put_app(&t, &app).await.status, StatusCode::OK);

    let tokens = t.login().await;
    let refresh = tokens.str("refresh_token");
    let refreshed = t
        .post(
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(refreshed.str("refresh_token"), refresh);
}

#[tokio::test]
async fn stats_count_calls_per_endpoint() {
    let t = start().await;
    t.login().await;
    t.introspect("x").await;
    let stats: Value = t
        .http
        .get(t.url("/__emulator/stats"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("JSON");
    assert_eq!(stats["token"], 2);
    assert_eq!(stats["challenge"], 1);
    assert_eq!(stats["introspect"], 1);
    for key in ["revoke", "userinfo", "logout", "keys", "discovery", "apps"] {
        assert_eq!(stats[key], 0, "{key}");
    }
}

#[tokio::test]
async fn faults_inject_status_delay_and_drop() {
    let t = start().await;
    let add = |body: Value| {
        let request = t.http.post(t.url("/__emulator/faults")).json(&body);
        async move { request.send().await.expect("send").status() }
    };
    assert_eq!(
        add(json!({ "endpoint": "introspect", "status": 503, "count": 2 })).await,
        StatusCode::OK
    );
    assert_eq!(
        t.introspect("x").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        t.introspect("x").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(t.introspect("x").await.status, StatusCode::OK);

    assert_eq!(
        add(json!({ "endpoint": "token", "delay_ms": 300, "count": 1 })).await,
        StatusCode::OK
    );
    let started = std::time::Instant::now();
    t.password(ALICE, "wrong").await;
    assert!(started.elapsed() >= Duration::from_millis(300));

    assert_eq!(
        add(json!({ "endpoint": "introspect", "drop": true, "count": 1 })).await,
        StatusCode::OK
    );
    let dropped = t
        .http
        .post(t.endpoint("introspect"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", "x")])
        .send()
        .await;
    assert!(
        dropped.is_err(),
        "the connection must close without a response"
    );
    assert_eq!(t.introspect("x").await.status, StatusCode::OK);

    assert_eq!(
        add(json!({ "endpoint": "keys", "status": 500, "count": 5 })).await,
        StatusCode::OK
    );
    let cleared = t
        .http
        .delete(t.url("/__emulator/faults"))
        .send()
        .await
        .expect("send");
    assert_eq!(cleared.status(), StatusCode::OK);
    assert_eq!(
        t.http
            .get(t.endpoint("keys"))
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::OK
    );

    assert_eq!(
        add(json!({ "endpoint": "nowhere", "status": 500 })).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        add(json!({ "endpoint": "token" })).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn faults_reject_zero_count_and_bad_bounds() {
    let t = start().await;
    let add = |body: Value| {
        let request = t.http.post(t.url("/__emulator/faults")).json(&body);
        async move { answer(request.send().await.expect("send")).await }
    };
    let zero = add(json!({ "endpoint": "keys", "status": 503, "count": 0 })).await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST, "{}", zero.text);
    assert_eq!(zero.error_code(), "E0000001");
    let keys = t
        .http
        .get(t.endpoint("keys"))
        .send()
        .await
        .expect("send")
        .status();
    assert_eq!(keys, StatusCode::OK, "a rejected fault must not be armed");

    let long = add(json!({ "endpoint": "token", "delay_ms": 60_001 })).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert_eq!(long.error_code(), "E0000001");
    let not_error = add(json!({ "endpoint": "token", "status": 200 })).await;
    assert_eq!(not_error.status, StatusCode::BAD_REQUEST);
    let negative = add(json!({ "endpoint": "token", "delay_ms": -1 })).await;
    assert_eq!(negative.status, StatusCode::BAD_REQUEST);
    assert_eq!(negative.error_code(), "E0000003");
    let response = t
        .http
        .post(t.url("/__emulator/faults"))
        .body("{")
        .send()
        .await
        .expect("send");
    let broken = answer(response).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert_eq!(broken.error_code(), "E0000003");
}

#[tokio::test]
async fn outbox_rejects_undecodable_phone() {
    let t = start().await;
    t.login().await;
    let response = t
        .http
        .get(t.url("/__emulator/outbox?to=%FF"))
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
    assert_eq!(rejected.error_code(), "E0000001");
}

#[tokio::test]
async fn reset_forgets_tokens_and_outbox() {
    let t = start().await;
    let tokens = t.login().await;
    assert_eq!(t.outbox(None).await.len(), 1);
    let reset = t
        .http
        .post(t.url("/__emulator/reset"))
        .send()
        .await
        .expect("send");
    assert_eq!(reset.status(), StatusCode::OK);
    assert!(t.outbox(None).await.is_empty());
    assert_eq!(
        t.introspect(&tokens.str("access_token")).await.body["active"],
        false
    );
    let stats: Value = t
        .http
        .get(t.url("/__emulator/stats"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("JSON");
    assert_eq!(stats["token"], 0);
}

#[tokio::test]
async fn outbox_filters_by_phone() {
    let t = start().await;
    t.login().await;
    let step = t.password(BOB, BOB_PASSWORD).await;
    t.challenge(&step.str("mfa_token"), "sms").await;
    assert_eq!(t.outbox(None).await.len(), 2);
    let bob = t.outbox(Some("+15555550101")).await;
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0]["to"], "+15555550101");
    // An unencoded '+' in the query is a literal plus, as curl users write it.
    let raw: Vec<Value> = t
        .http
        .get(t.url("/__emulator/outbox?to=+15555550100"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("JSON");
    assert_eq!(raw.len(), 1);
}

#[test]
fn invalid_users_file_exits_with_code_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        "[[users]]\nusername = \"x@example.com\"\nphone = \"12\"\nshoe_size = 9\n",
    )
    .expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--users"])
        .arg(&users)
        .output()
        .expect("run portcullis");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("users[0].password: missing required key"),
        "{stderr}"
    );
    assert!(stderr.contains("users[0].phone"), "{stderr}");
    assert!(
        stderr.contains("users[0].shoe_size: unknown key"),
        "{stderr}"
    );
}

#[test]
fn example_config_files_are_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    let users = std::path::Path::new(root).join("config/emulator-users.example.toml");
    let clients = std::path::Path::new(root).join("config/emulator-clients.example.toml");
    let config =
        portcullis::emulator::EmulatorConfig::from_files(Some(&users), Some(&clients), None);
    assert!(
        config.is_ok(),
        "{}",
        config.err().map(|e| e.to_string()).unwrap_or_default()
    );
}

/// Kills the spawned emulator even when an assert fails.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn command_line_masks_phone_on_stderr() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--sms-resend-interval",
            "0s",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run portcullis");
    let mut child = ChildGuard(child);
    let stderr = child.0.stderr.take().expect("stderr pipe");
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let next_line = |seen: &mut Vec<String>| {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no stderr line within 20 s; so far: {seen:#?}"));
        seen.push(line.clone());
        line
    };

    let base_url = loop {
        let line = next_line(&mut seen);
        if let Some(url) = line.trim().strip_prefix("base URL:") {
            break url.trim().to_string();
        }
    };
    let http = reqwest::Client::new();
    let issuer = format!("{base_url}/oauth2/default");
    let step: Value = http
        .post(format!("{issuer}/v1/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "password"),
            ("username", ALICE),
            ("password", ALICE_PASSWORD),
            ("scope", "openid"),
        ])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("JSON");
    let mfa_token = step["mfa_token"].as_str().expect("mfa_token");
    let challenge = http
        .post(format!("{issuer}/v1/challenge"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("mfa_token", mfa_token), ("channel_hint", "sms")])
        .send()
        .await
        .expect("send");
    assert_eq!(challenge.status(), StatusCode::OK);

    let printed = loop {
        let line = next_line(&mut seen);
        if line.contains("[emulator outbox]") {
            break line;
        }
    };
    assert!(printed.contains("+1555*****00"), "{printed}");
    for line in &seen {
        assert!(
            !line.contains(ALICE_PHONE),
            "unmasked phone on stderr: {line}"
        );
    }
}
