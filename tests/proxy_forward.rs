//! Forwarding through the gateway: identity and spoofed headers, upstream failures,
//! WebSocket upgrades, streamed bodies and graceful shutdown.

mod common {
    pub mod emulator;
    pub mod gateway;
}

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::emulator::ALICE;
use common::gateway::{self as harness, COOKIE};
use futures_util::{SinkExt, StreamExt};
use http_body::Frame;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn bearer_request_reaches_upstream_with_identity() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;

    let response = h
        .http
        .get(h.url("/orders/7?expand=items"))
        .bearer_auth(&tokens.access_token)
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "trace-123");
    let echoed: Value = response.json().await.unwrap();
    let headers = &echoed["headers"];
    assert_eq!(echoed["path"], "/orders/7");
    assert_eq!(echoed["query"], "expand=items");
    assert_eq!(headers["x-forwarded-user"], ALICE);
    assert_eq!(headers["x-forwarded-preferred-username"], ALICE);
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-request-id"], "trace-123");
    assert!(headers.get("authorization").is_none(), "{headers}");
}

#[tokio::test]
async fn pass_access_token_keeps_authorization() {
    let h = harness::start(|config| config.headers.pass_access_token = true).await;
    let tokens = h.login().await;
    let (status, echoed) = h.get_bearer("/a", &tokens.access_token).await;
    assert_eq!(status, 200);
    assert_eq!(
        echoed["headers"]["authorization"],
        format!("Bearer {}", tokens.access_token)
    );
}

#[tokio::test]
async fn session_cookie_reaches_upstream_with_identity() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    let cookie = h.create_session(&tokens, Duration::from_secs(300)).await;

    let response = h
        .http
        .get(h.url("/profile"))
        .header("cookie", format!("theme=dark; {COOKIE}={cookie}; lang=en"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.unwrap();
    let headers = &echoed["headers"];
    assert_eq!(headers["x-forwarded-user"], "00ualice");
    assert_eq!(headers["x-forwarded-email"], ALICE);
    assert_eq!(headers["x-forwarded-groups"], "engineering,admins");
    assert_eq!(headers["cookie"], "theme=dark; lang=en");
    assert!(headers.get("authorization").is_none());
}

#[tokio::test]
async fn spoofed_identity_headers_never_reach_upstream() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    let cookie = h.create_session(&tokens, Duration::from_secs(300)).await;
    let spoofed = [
        "X-Forwarded-User",
        "x_forwarded_user",
        "X.Forwarded.User",
        "X-FORWARDED_USER",
        "x-forwarded-email",
        "X_Forwarded_Email",
        "x-forwarded-preferred_username",
        "X.FORWARDED.GROUPS",
        "x_forwarded_groups",
        "X-Forwarded-For",
        "x_forwarded_for",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "Forwarded",
        "X-Real-IP",
        "x_request_id",
    ];

    let mut request = h
        .http
        .get(h.url("/a"))
        .header("cookie", format!("{COOKIE}={cookie}; app=1"));
    for name in spoofed {
        request = request.header(name, "mallory");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.unwrap();
    let headers = echoed["headers"].as_object().unwrap();

    assert_eq!(headers["x-forwarded-user"], "00ualice");
    assert_eq!(headers["x-forwarded-email"], ALICE);
    assert_eq!(headers["x-forwarded-groups"], "engineering,admins");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["cookie"], "app=1");
    for (name, value) in headers {
        assert_ne!(
            value, "mallory",
            "spoofed header {name} reached the upstream"
        );
        assert!(
            !name.contains('_') && !name.contains('.'),
            "variant {name} reached the upstream"
        );
        assert!(
            !value.as_str().unwrap_or("").contains(&cookie),
            "the session cookie reached the upstream in {name}"
        );
    }
}

#[tokio::test]
async fn missing_credential_gets_401_or_sign_in_redirect() {
    let h = harness::start(|_| {}).await;

    let response = h.http.get(h.url("/a")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"portcullis\""
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthenticated");

    let response = h
        .http
        .get(h.url("/reports/q3?year=2026"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"],
        "/.portcullis/sign_in?rd=/reports/q3%3Fyear%3D2026"
    );
}

#[tokio::test]
async fn upstream_down_gives_502() {
    let closed = harness::closed_port().await;
    let h = harness::start(|config| config.upstream.url = format!("http://{closed}")).await;
    let tokens = h.login().await;
    let (status, body) = h.get_bearer("/a", &tokens.access_token).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "upstream_unavailable");
    assert!(body["request_id"].is_string());
}

#[tokio::test]
async fn slow_upstream_gives_504() {
    let slow = harness::bind().await;
    let slow_url = format!("http://{}", slow.local_addr().unwrap());
    tokio::spawn(serve_slow(slow, Duration::from_secs(5)));
    let h = harness::start(|config| {
        config.upstream.url = slow_url;
        config.upstream.timeout = Duration::from_millis(300);
    })
    .await;
    let tokens = h.login().await;

    let started = Instant::now();
    let (status, body) = h.get_bearer("/a", &tokens.access_token).await;
    assert_eq!(status, 504);
    assert_eq!(body["error"], "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn websocket_echoes_through_gateway() {
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    let url = format!("ws://{}/socket", h.gateway.addr);

    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", tokens.access_token).parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    socket.send(Message::text("hello")).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("echo in time")
        .expect("a message")
        .unwrap();
    assert_eq!(reply, Message::text("hello"));
    socket.close(None).await.unwrap();

    let rejected = tokio_tungstenite::connect_async(url.as_str()).await;
    match rejected {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected a 401 handshake failure, got {other:?}"),
    }
}

/// A request body of `remaining` bytes produced on the fly, 64 KiB at a time.
struct GeneratedBody {
    remaining: u64,
    chunk: Bytes,
}

impl http_body::Body for GeneratedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = self.remaining.min(self.chunk.len() as u64) as usize;
        self.remaining -= len as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..len)))))
    }
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

#[tokio::test]
async fn large_body_streams_without_buffering() {
    const SIZE: u64 = 100 * 1024 * 1024;
    let h = harness::start(|_| {}).await;
    let tokens = h.login().await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<GeneratedBody>();
    let rss_before = resident_bytes();

    let request = http::Request::post(h.url("/upload"))
        .header("authorization", format!("Bearer {}", tokens.access_token))
        .body(GeneratedBody {
            remaining: SIZE,
            chunk: Bytes::from(vec![b'x'; 64 * 1024]),
        })
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let echoed: Value = serde_json::from_slice(&body).unwrap();

    assert_eq!(echoed["body_bytes"], SIZE);
    // Client, gateway and upstream share this process, so any of them buffering the
    // body would add about 100 MB here.
    let growth = resident_bytes().saturating_sub(rss_before);
    assert!(
        growth < 40 * 1024 * 1024,
        "resident memory grew by {growth} bytes"
    );
}

#[tokio::test]
async fn shutdown_finishes_in_flight_request() {
    let slow = harness::bind().await;
    let slow_url = format!("http://{}", slow.local_addr().unwrap());
    tokio::spawn(serve_slow(slow, Duration::from_millis(800)));
    let h = harness::start(|config| config.upstream.url = slow_url).await;
    let tokens = h.login().await;
    let url = h.url("/slow");
    let addr = h.gateway.addr;

    let http = h.http.clone();
    let token = tokens.access_token.clone();
    let in_flight = tokio::spawn(async move { http.get(url).bearer_auth(token).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let drained = h.gateway.shutdown().await;
    assert!(drained);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener still accepts"
    );
}

/// Serves every request after `delay` with `200 {}`.
async fn serve_slow(listener: tokio::net::TcpListener, delay: Duration) {
    let app = axum::Router::new().fallback(move || async move {
        tokio::time::sleep(delay).await;
        axum::Json(serde_json::json!({}))
    });
    let _ = axum::serve(listener, app).await;
}

#[tokio::test]
async fn slow_request_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let h = harness::start(|config| {
        config.server.header_read_timeout = Duration::from_millis(300);
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(h.gateway.addr)
        .await
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut buffer)).await;
    assert!(
        read.is_ok(),
        "the gateway kept a connection with unfinished headers open"
    );
}

#[tokio::test]
async fn invalid_request_id_is_replaced() {
    let h = harness::start(|_| {}).await;
    let response = h
        .http
        .get(h.url("/a"))
        .header("x-request-id", "x".repeat(129))
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 32);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], id);
}

#[tokio::test]
async fn slow_upload_outlasts_response_timeout() {
    let h = harness::start(|config| config.upstream.timeout = Duration::from_millis(300)).await;
    let tokens = h.login().await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    // Eight chunks 100 ms apart: the upload takes longer than the response timeout.
    let chunks = futures_util::stream::unfold(0u8, |sent| async move {
        if sent == 8 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let frame = Frame::data(Bytes::from_static(b"0123456789"));
        Some((Ok::<_, std::convert::Infallible>(frame), sent + 1))
    });

    let request = http::Request::post(h.url("/upload"))
        .header("authorization", format!("Bearer {}", tokens.access_token))
        .body(http_body_util::StreamBody::new(Box::pin(chunks)))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let echoed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echoed["body_bytes"], 80);
}

#[tokio::test]
async fn gateway_login_cookie_reaches_upstream() {
    use common::emulator::{ALICE_PASSWORD, ALICE_PHONE};

    let h = harness::start(|_| {}).await;
    let post = |path: &str, body: Value| h.http.post(h.url(path)).json(&body).send();

    let login: Value = post(
        "/.portcullis/login",
        serde_json::json!({ "username": ALICE, "password": ALICE_PASSWORD }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let transaction_id = login["transaction_id"].as_str().expect("transaction_id");
    let sent = post(
        "/.portcullis/challenge",
        serde_json::json!({ "transaction_id": transaction_id, "channel": "sms" }),
    )
    .await
    .unwrap();
    assert_eq!(sent.status(), 200);
    let code = h.okta.last_code(ALICE_PHONE).await;
    let verified = post(
        "/.portcullis/verify",
        serde_json::json!({ "transaction_id": transaction_id, "code": code }),
    )
    .await
    .unwrap();
    assert_eq!(verified.status(), 200);
    let set_cookie = verified.headers()["set-cookie"].to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    let response = h
        .http
        .get(h.url("/dashboard"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["headers"]["x-forwarded-preferred-username"], ALICE);
    assert_eq!(echoed["headers"]["x-forwarded-email"], ALICE);
    assert!(echoed["headers"].get("cookie").is_none());

    let logout = h
        .http
        .post(h.url("/.portcullis/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    let response = h
        .http
        .get(h.url("/dashboard"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn trusted_proxy_forwarded_headers_are_kept() {
    let h = harness::start(|config| {
        config.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let tokens = h.login().await;
    let response = h
        .http
        .get(h.url("/a"))
        .bearer_auth(&tokens.access_token)
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-user", "mallory")
        .send()
        .await
        .unwrap();
    let echoed: Value = response.json().await.unwrap();
    let headers = &echoed["headers"];
    assert_eq!(headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "https");
    // Identity headers are never taken from a proxy either.
    assert_eq!(headers["x-forwarded-user"], ALICE);
}

#[tokio::test]
async fn shutdown_closes_websockets_after_grace() {
    let h =
        harness::start(|config| config.server.shutdown_grace = Duration::from_millis(300)).await;
    let tokens = h.login().await;
    let mut request = format!("ws://{}/socket", h.gateway.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", tokens.access_token).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket.send(Message::text("ping")).await.unwrap();
    assert_eq!(socket.next().await.unwrap().unwrap(), Message::text("ping"));

    let started = Instant::now();
    let drained = h.gateway.shutdown().await;
    assert!(
        !drained,
        "an open WebSocket must hold the drain until the grace ends"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    let next = tokio::time::timeout(Duration::from_secs(3), socket.next())
        .await
        .expect("the WebSocket was left open after shutdown");
    assert!(!matches!(next, Some(Ok(Message::Text(_)))), "{next:?}");
}
