//! Helpers for the gateway's integration tests: an emulator, an echo upstream and the
//! gateway, all on loopback port 0.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use portcullis::config::Config;
use portcullis::echo::RunningEcho;
use portcullis::emulator::EmulatorConfig;
use portcullis::secret::{hash_token, Secret};
use portcullis::server::RunningGateway;
use portcullis::session::{new_session_id, Session};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::emulator::{self, TestEmulator, ALICE, CLIENT_ID, CLIENT_SECRET};

pub const COOKIE: &str = "__Host-portcullis";

/// An emulator, an upstream and a gateway in front of it.
pub struct Harness {
    pub okta: TestEmulator,
    pub gateway: RunningGateway,
    pub echo: Option<RunningEcho>,
    /// A client that follows no redirects.
    pub http: reqwest::Client,
}

/// Returns a configuration pointing at the emulator and `upstream`.
pub fn config(okta: &TestEmulator, upstream: &str) -> Config {
    let mut config = Config::default();
    config.okta.issuer = okta.emulator.issuer();
    config.okta.client_id = CLIENT_ID.to_string();
    config.okta.post_logout_redirect_uri =
        Some("http://127.0.0.1:4180/.portcullis/signed_out".to_string());
    config.upstream.url = upstream.to_string();
    config.server.shutdown_grace = Duration::from_secs(5);
    config
}

/// Starts the emulator, the echo upstream and the gateway; `configure` edits the
/// gateway configuration first.
pub async fn start(configure: impl FnOnce(&mut Config)) -> Harness {
    start_with(emulator::test_config(), configure).await
}

pub async fn start_with(
    emulator_config: EmulatorConfig,
    configure: impl FnOnce(&mut Config),
) -> Harness {
    let okta = emulator::start_with(emulator_config).await;
    let echo = portcullis::echo::start(bind().await)
        .await
        .expect("start echo");
    let mut config = config(&okta, &echo.url());
    configure(&mut config);
    let gateway = start_gateway(config).await;
    Harness {
        okta,
        gateway,
        echo: Some(echo),
        http: client(),
    }
}

pub async fn start_gateway(config: Config) -> RunningGateway {
    let gateway =
        portcullis::gateway::Gateway::build(config, Some(Secret::new(CLIENT_SECRET.to_string())))
            .expect("build gateway");
    portcullis::server::start(gateway, bind().await, bind().await)
        .await
        .expect("start gateway")
}

pub async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback port")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("build reqwest client")
}

/// The tokens of one phone-MFA login at the emulator.
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub scope: String,
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.url())
    }

    /// Logs alice in at the emulator (password, SMS challenge, code).
    pub async fn login(&self) -> Tokens {
        let answer = self.okta.login().await;
        Tokens {
            access_token: answer.str("access_token"),
            id_token: answer.str("id_token"),
            refresh_token: answer.str("refresh_token"),
            expires_in: answer.body["expires_in"].as_u64().expect("expires_in"),
            scope: answer.str("scope"),
        }
    }

    /// Creates a gateway session for the tokens, as the login flow does, with the
    /// access token expiring after `expires_in`. Returns the cookie value.
    pub async fn create_session(&self, tokens: &Tokens, expires_in: Duration) -> String {
        let id = new_session_id();
        let now = SystemTime::now();
        let session = Session {
            access_token: Secret::new(tokens.access_token.clone()),
            id_token: Some(Secret::new(tokens.id_token.clone())),
            refresh_token: Some(Secret::new(tokens.refresh_token.clone())),
            access_expires_at: now + expires_in,
            scope: tokens.scope.clone(),
            username: ALICE.to_string(),
            subject: "00ualice".to_string(),
            email: Some(ALICE.to_string()),
            groups: vec!["engineering".to_string(), "admins".to_string()],
            amr: vec!["pwd".to_string(), "sms".to_string(), "mfa".to_string()],
            created_at: now,
            identity: Default::default(),
        };
        self.gateway
            .gateway
            .sessions
            .put(hash_token(id.expose()), session)
            .await;
        id.expose().clone()
    }

    /// Calls per Okta endpoint so far, e.g. `stats()["introspect"]`.
    pub async fn stats(&self) -> Value {
        self.http
            .get(self.okta.url("/__emulator/stats"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats JSON")
    }

    pub async fn calls(&self, endpoint: &str) -> u64 {
        self.stats().await[endpoint].as_u64().unwrap_or(0)
    }

    /// Makes the next calls of an Okta endpoint fail, e.g.
    /// `json!({"endpoint":"introspect","status":503,"count":2})`.
    pub async fn fault(&self, fault: Value) {
        let response = self
            .http
            .post(self.okta.url("/__emulator/faults"))
            .json(&fault)
            .send()
            .await
            .expect("faults");
        assert!(response.status().is_success(), "fault {fault} not accepted");
    }

    /// GETs a forwarded path with a bearer token and returns status and JSON body.
    pub async fn get_bearer(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request through the gateway");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_cookie(&self, path: &str, cookie: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .header("cookie", format!("{COOKIE}={cookie}"))
            .send()
            .await
            .expect("request through the gateway");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// Returns the address of a loopback port that nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let listener = bind().await;
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    addr
}

pub fn fault_status(endpoint: &str, status: u16, count: u32) -> Value {
    json!({ "endpoint": endpoint, "status": status, "count": count })
}
