//! Shared helpers for the gateway's integration tests: a whole stack on loopback port 0
//! (the Okta emulator, the echo resource server and the gateway) and a client to drive
//! it over real sockets.
//!
//! ```ignore
//! let stack = spawn_stack().await;                       // demo users and clients
//! let stack = spawn_stack_with(emulator_config(), |c| {  // or tweak both sides
//!     c.login.max_code_attempts = 2;
//! }).await;
//! let session = stack.sign_in(ALICE, ALICE_PASSWORD, "sms").await;
//! ```
//!
//! The gateway configuration starts from the demo's (`config/demo.toml`), so the
//! session cookie is `portcullis` without `Secure` (plain HTTP on loopback).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use portcullis::config::Config;
use portcullis::echo::RunningEcho;
use portcullis::emulator::{Emulator, EmulatorConfig, RunningEmulator};
use portcullis::server::RunningGateway;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

pub const ALICE: &str = "alice@example.com";
pub const ALICE_PASSWORD: &str = "Correct-Horse-42";
pub const ALICE_PHONE: &str = "+15555550100";
pub const BOB: &str = "bob@example.com";
pub const BOB_PASSWORD: &str = "Battery-Staple-7";
pub const BOB_PHONE: &str = "+15555550101";
pub const CAROL: &str = "carol@example.com";
pub const CAROL_PASSWORD: &str = "Locked-Out-1";
pub const DAVE: &str = "dave@example.com";
pub const DAVE_PASSWORD: &str = "No-Mfa-Needed-3";
pub const CLIENT_SECRET: &str = "portcullis-demo-secret";
pub const COOKIE_NAME: &str = "portcullis";

/// Returns the emulator configuration with the demo data, minus the 30 s SMS resend interval that most tests
/// would run into.
pub fn emulator_config() -> EmulatorConfig {
    EmulatorConfig::demo().sms_resend_interval(Duration::ZERO)
}

/// A running emulator, echo server and gateway, plus an HTTP client that follows no
/// redirects and keeps no cookies.
pub struct Stack {
    pub emulator: RunningEmulator,
    pub echo: RunningEcho,
    pub gateway: RunningGateway,
    pub client: Client,
}

/// Starts the stack with the demo configuration.
pub async fn spawn_stack() -> Stack {
    spawn_stack_with(emulator_config(), |_| {}).await
}

/// Starts the stack with `emulator` and the demo gateway configuration changed by
/// `tweak`. The configuration is used as given, without validation.
pub async fn spawn_stack_with(emulator: EmulatorConfig, tweak: impl FnOnce(&mut Config)) -> Stack {
    let bind = || async {
        TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port")
    };
    let (emulator_listener, echo_listener) = (bind().await, bind().await);
    let (gateway_listener, admin_listener) = (bind().await, bind().await);
    let addr = |listener: &TcpListener| -> SocketAddr { listener.local_addr().unwrap() };

    let (mut config, client_secret) = portcullis::demo::demo_config(
        addr(&gateway_listener),
        addr(&admin_listener),
        addr(&emulator_listener),
        addr(&echo_listener),
    )
    .expect("demo configuration");
    tweak(&mut config);

    let emulator = Emulator::start(emulator_listener, emulator)
        .await
        .expect("start the emulator");
    let echo = portcullis::echo::start(echo_listener)
        .await
        .expect("start the echo server");
    let gateway =
        portcullis::gateway::Gateway::build(config, client_secret).expect("build gateway");
    let gateway = portcullis::server::start(gateway, gateway_listener, admin_listener)
        .await
        .expect("start the gateway");
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("build the HTTP client");
    Stack {
        emulator,
        echo,
        gateway,
        client,
    }
}

/// A response split into parts, so asserts can name each one.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub async fn read(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("read the body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    /// Returns the `error` member of an error body.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// Returns a string member of the body, or "".
    pub fn str(&self, key: &str) -> String {
        self.body[key].as_str().unwrap_or("").to_string()
    }

    /// Returns a header value, or "".
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

/// What a completed sign-in returns.
#[derive(Debug)]
pub struct SignedIn {
    pub access_token: String,
    /// The `Set-Cookie` header as sent.
    pub set_cookie: String,
    /// `name=value`, ready for a `Cookie` header.
    pub cookie: String,
    pub answer: Answer,
}

// === impl Stack ===

impl Stack {
    /// `http://127.0.0.1:PORT{path}` on the gateway.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.url())
    }

    /// Returns a URL under the gateway's own prefix, e.g. `route("/login")`.
    pub fn route(&self, path: &str) -> String {
        self.url(&format!("/.portcullis{path}"))
    }

    /// Returns a URL on the emulator, e.g. `emulator_url("/__emulator/stats")`.
    pub fn emulator_url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url())
    }

    /// Posts a JSON body to a gateway route.
    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        let response = self
            .client
            .post(self.route(path))
            .json(body)
            .send()
            .await
            .expect("POST to the gateway");
        Answer::read(response).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Answer {
        self.post_json(
            "/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn challenge(&self, transaction_id: &str, channel: &str) -> Answer {
        self.post_json(
            "/challenge",
            &json!({"transaction_id": transaction_id, "channel": channel}),
        )
        .await
    }

    pub async fn verify(&self, transaction_id: &str, code: &str) -> Answer {
        self.post_json(
            "/verify",
            &json!({"transaction_id": transaction_id, "code": code}),
        )
        .await
    }

    /// Logs in and returns the transaction id, asserting the `mfa_required` state.
    pub async fn start_login(&self, username: &str, password: &str) -> String {
        let answer = self.login(username, password).await;
        assert_eq!(answer.status, StatusCode::OK, "login: {}", answer.text);
        assert_eq!(answer.str("state"), "mfa_required");
        answer.str("transaction_id")
    }

    /// Fetches every message in the emulator's outbox, optionally only those to `phone`.
    pub async fn outbox(&self, phone: Option<&str>) -> Vec<Value> {
        let mut request = self.client.get(self.emulator_url("/__emulator/outbox"));
        if let Some(phone) = phone {
            request = request.query(&[("to", phone)]);
        }
        let answer = Answer::read(request.send().await.expect("GET outbox")).await;
        answer.body.as_array().cloned().unwrap_or_default()
    }

    /// Fetches the newest code sent to `phone`.
    pub async fn latest_code(&self, phone: &str) -> String {
        let messages = self.outbox(Some(phone)).await;
        let last = messages.last().expect("a message in the outbox");
        last["code"].as_str().expect("a code").to_string()
    }

    /// Runs login, challenge and verify with the code from the outbox.
    pub async fn sign_in(&self, username: &str, password: &str, channel: &str) -> SignedIn {
        let transaction_id = self.start_login(username, password).await;
        let sent = self.challenge(&transaction_id, channel).await;
        assert_eq!(sent.status, StatusCode::OK, "challenge: {}", sent.text);
        let phone = self.outbox(None).await.last().expect("a code was sent")["to"]
            .as_str()
            .unwrap()
            .to_string();
        let code = self.latest_code(&phone).await;
        let answer = self.verify(&transaction_id, &code).await;
        assert_eq!(answer.status, StatusCode::OK, "verify: {}", answer.text);
        let set_cookie = answer.header("set-cookie");
        let cookie = set_cookie.split(';').next().unwrap_or("").to_string();
        SignedIn {
            access_token: answer.str("access_token"),
            set_cookie,
            cookie,
            answer,
        }
    }

    /// Calls per Okta endpoint so far, from the emulator.
    pub async fn emulator_stats(&self) -> Value {
        let response = self
            .client
            .get(self.emulator_url("/__emulator/stats"))
            .send()
            .await
            .expect("GET stats");
        Answer::read(response).await.body
    }

    /// Makes the next calls of an emulator endpoint fail, e.g.
    /// `{"endpoint":"token","status":503,"count":1}`.
    pub async fn inject_fault(&self, fault: Value) {
        let response = self
            .client
            .post(self.emulator_url("/__emulator/faults"))
            .json(&fault)
            .send()
            .await
            .expect("POST faults");
        assert!(response.status().is_success(), "fault rejected: {fault}");
    }
}

/// A `MakeWriter` that appends every log line to a shared buffer, so a test can search
/// the gateway's log output.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs a global subscriber that records every event at trace level into the
/// returned buffer, except the emulator's own: it stands for Okta and prints the codes
/// it "sends", which are not the gateway's logs.
pub fn capture_trace_logs() -> Captured {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,portcullis::emulator=off",
        ))
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("install the subscriber");
    captured
}
