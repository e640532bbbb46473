//! Helpers for the emulator's integration tests: start an emulator on port 0 and
//! drive the phone-MFA flow with reqwest.

#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis::emulator::{Emulator, EmulatorConfig, RunningEmulator};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

pub const CLIENT_ID: &str = "portcullis-demo";
pub const CLIENT_SECRET: &str = "portcullis-demo-secret";
pub const PUBLIC_CLIENT_ID: &str = "portcullis-public";
pub const ALICE: &str = "alice@example.com";
pub const ALICE_PASSWORD: &str = "Correct-Horse-42";
pub const ALICE_PHONE: &str = "+15555550100";
pub const BOB: &str = "bob@example.com";
pub const BOB_PASSWORD: &str = "Battery-Staple-7";
pub const MFA_OOB: &str = "http://auth0.com/oauth/grant-type/mfa-oob";
pub const MFA_OOB_URN: &str = "urn:okta:params:oauth:grant-type:mfa-oob";
pub const SCOPES: &str = "openid profile email phone offline_access";
pub const API_TOKEN: &str = "portcullis-demo-api-token";

/// A started emulator plus a client that follows no redirects.
pub struct TestEmulator {
    pub emulator: RunningEmulator,
    pub http: Client,
}

/// Starts an emulator with the demo data and test-friendly limits.
pub async fn start() -> TestEmulator {
    start_with(test_config()).await
}

/// Builds the demo configuration without the SMS resend interval, which most tests would hit.
pub fn test_config() -> EmulatorConfig {
    EmulatorConfig::demo().sms_resend_interval(std::time::Duration::ZERO)
}

pub async fn start_with(config: EmulatorConfig) -> TestEmulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback port");
    let emulator = Emulator::start(listener, config)
        .await
        .expect("start emulator");
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("build reqwest client");
    TestEmulator { emulator, http }
}

/// A JSON response split into its parts, so asserts can name each one.
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

pub async fn answer(response: Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("read body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

impl Answer {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    pub fn error_code(&self) -> &str {
        self.body["errorCode"].as_str().unwrap_or("")
    }

    pub fn str(&self, key: &str) -> String {
        self.body[key]
            .as_str()
            .unwrap_or_else(|| panic!("missing string {key} in {}", self.text))
            .to_string()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

impl TestEmulator {
    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/v1/{name}", self.emulator.issuer())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url())
    }

    /// POSTs a form to `{issuer}/v1/{endpoint}` with the demo client's Basic credentials.
    pub async fn post(&self, endpoint: &str, form: &[(&str, &str)]) -> Answer {
        let response = self
            .http
            .post(self.endpoint(endpoint))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(form)
            .send()
            .await
            .expect("send request");
        answer(response).await
    }

    pub async fn password(&self, username: &str, password: &str) -> Answer {
        self.post(
            "token",
            &[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
                ("scope", SCOPES),
            ],
        )
        .await
    }

    /// Runs the password step for alice and returns the `mfa_token`.
    pub async fn mfa_token(&self) -> String {
        let step = self.password(ALICE, ALICE_PASSWORD).await;
        assert_eq!(step.status, StatusCode::FORBIDDEN, "{}", step.text);
        step.str("mfa_token")
    }

    pub async fn challenge(&self, mfa_token: &str, channel: &str) -> Answer {
        self.post(
            "challenge",
            &[
                ("mfa_token", mfa_token),
                ("channel_hint", channel),
                ("challenge_types_supported", MFA_OOB),
            ],
        )
        .await
    }

    /// Returns the code of the newest outbox message to `phone`.
    pub async fn last_code(&self, phone: &str) -> String {
        let messages = self.outbox(Some(phone)).await;
        let last = messages.last().expect("a message in the outbox");
        last["code"].as_str().expect("code").to_string()
    }

    pub async fn outbox(&self, to: Option<&str>) -> Vec<Value> {
        let mut request = self.http.get(self.url("/__emulator/outbox"));
        if let Some(to) = to {
            request = request.query(&[("to", to)]);
        }
        let response = request.send().await.expect("outbox");
        response.json::<Vec<Value>>().await.expect("outbox JSON")
    }

    pub async fn redeem(&self, mfa_token: &str, oob_code: &str, code: &str) -> Answer {
        self.post(
            "token",
            &[
                ("grant_type", MFA_OOB),
                ("mfa_token", mfa_token),
                ("oob_code", oob_code),
                ("binding_code", code),
                ("scope", SCOPES),
            ],
        )
        .await
    }

    /// Runs the whole flow for alice over SMS and returns the token response.
    pub async fn login(&self) -> Answer {
        let mfa_token = self.mfa_token().await;
        let challenge = self.challenge(&mfa_token, "sms").await;
        assert_eq!(challenge.status, StatusCode::OK, "{}", challenge.text);
        let code = self.last_code(ALICE_PHONE).await;
        let tokens = self
            .redeem(&mfa_token, &challenge.str("oob_code"), &code)
            .await;
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
        tokens
    }

    pub async fn introspect(&self, token: &str) -> Answer {
        self.post("introspect", &[("token", token)]).await
    }
}

/// Decodes a JWT's payload without verifying it.
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("JWT payload");
    let bytes = URL_SAFE_NO_PAD.decode(payload).expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

/// Decodes a JWT's header.
pub fn jwt_header(jwt: &str) -> Value {
    let header = jwt.split('.').next().expect("JWT header");
    let bytes = URL_SAFE_NO_PAD.decode(header).expect("base64url header");
    serde_json::from_slice(&bytes).expect("JSON header")
}
