//! The gateway's upstream connection pool over loopback sockets: reuse, upstreams that
//! close connections, aborted responses, the idle timeout, the idle limit, early
//! responses to uploads and concurrent requests.
//!
//! Each test runs its own upstream, which counts the connections it accepted and the
//! ones still open, so the test can check what the pool did with them.

mod common {
    pub mod emulator;
    pub mod gateway;
}

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::gateway::{self as harness, Harness};
use futures_util::{Stream, StreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use portcullis::config::Config;
use reqwest::header::HeaderMap;
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Maximum time for one request through the gateway, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Response header with the number of the upstream connection that served the
/// response. Connections are numbered from 1 in the order the upstream accepted them.
const CONNECTION_HEADER: &str = "x-upstream-connection";
/// Frame size of the upstream's streamed bodies.
const CHUNK_BYTES: usize = 64 * 1024;
/// Length of `/stream` in frames (64 MiB), far more than the socket buffers between the
/// upstream and the client can hold.
const STREAM_CHUNKS: usize = 1024;

// === Tests ===

#[tokio::test]
async fn sequential_gets_share_one_connection() {
    assert_sequential_requests_share_one_connection(Method::GET, "/item", 200, ExpectedBody::Path)
        .await;
}

#[tokio::test]
async fn sequential_heads_share_one_connection() {
    assert_sequential_requests_share_one_connection(
        Method::HEAD,
        "/bytes/100",
        200,
        ExpectedBody::Empty,
    )
    .await;
}

#[tokio::test]
async fn sequential_no_content_shares_one_connection() {
    assert_sequential_requests_share_one_connection(
        Method::GET,
        "/no-content",
        204,
        ExpectedBody::Empty,
    )
    .await;
}

#[tokio::test]
async fn sequential_empty_bodies_share_one_connection() {
    // `Content-Length: 0` with a 200.
    assert_sequential_requests_share_one_connection(
        Method::GET,
        "/bytes/0",
        200,
        ExpectedBody::Empty,
    )
    .await;
}

#[tokio::test]
async fn upstream_closing_silently_never_gives_502() {
    assert_closing_upstream_serves_all(false, Duration::ZERO).await;
}

#[tokio::test]
async fn upstream_connection_close_never_gives_502() {
    assert_closing_upstream_serves_all(true, Duration::ZERO).await;
}

#[tokio::test]
async fn upstream_closing_idle_connection_never_gives_502() {
    // The connection is closed while it is idle in the pool, as by an upstream
    // keep-alive timeout shorter than the pool's idle timeout.
    assert_closing_upstream_serves_all(false, Duration::from_millis(20)).await;
}

#[tokio::test]
async fn aborted_response_connection_is_not_reused() {
    let upstream = start_http_upstream().await;
    let (h, token) = start_gateway(&upstream, |_| {}).await;

    let send = h.http.get(h.url("/stream")).bearer_auth(&token).send();
    let mut response = tokio::time::timeout(REQUEST_TIMEOUT, send)
        .await
        .expect("GET /stream timed out")
        .expect("GET /stream failed");
    assert_eq!(response.status(), 200);
    let aborted = connection_number(response.headers());
    assert_eq!(aborted, Some(1));

    // Read 1 MiB of the 64 MiB, then drop the response, which closes the client's
    // connection to the gateway.
    let mut received = 0;
    while received < 1024 * 1024 {
        let chunk = tokio::time::timeout(REQUEST_TIMEOUT, response.chunk())
            .await
            .expect("a chunk of /stream in time")
            .expect("reading /stream failed")
            .expect("/stream ended early");
        assert_pattern(&chunk, received, "GET /stream");
        received += chunk.len();
    }
    drop(response);

    let next = fetch(&h, &token, Method::GET, "/bytes/300000").await;
    assert_eq!(next.status, 200);
    assert_eq!(next.body.len(), 300_000);
    assert_pattern(
        &next.body,
        0,
        "GET /bytes/300000 after the aborted response",
    );
    assert_eq!(
        next.connection,
        Some(2),
        "the aborted connection was reused"
    );
    assert_eq!(upstream.accepted(), 2);
    // The gateway closes the aborted connection instead of leaving it open.
    upstream.wait_until_open(1, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn idle_connection_closes_after_idle_timeout() {
    const IDLE_TIMEOUT: Duration = Duration::from_millis(300);
    let upstream = start_http_upstream().await;
    let (h, token) = start_gateway(&upstream, |config| {
        config.upstream.pool_idle_timeout = IDLE_TIMEOUT;
    })
    .await;

    let first = fetch(&h, &token, Method::GET, "/first").await;
    assert_eq!(first.status, 200);
    assert_eq!(upstream.open(), 1);

    // The reaper checks every idle timeout, so the connection closes between one and
    // two idle timeouts after its release, which came just before `first` was read.
    // The bound leaves 200 ms for this task to be scheduled late on a loaded machine.
    let waited = upstream.wait_until_open(0, Duration::from_secs(3)).await;
    assert!(
        waited >= IDLE_TIMEOUT / 3,
        "the idle connection closed after {waited:?}, before the idle timeout of {IDLE_TIMEOUT:?}"
    );

    let second = fetch(&h, &token, Method::GET, "/second").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, "/second".as_bytes());
    assert_eq!(second.connection, Some(2));
}

#[tokio::test]
async fn max_idle_one_keeps_one_connection() {
    const CONCURRENT: usize = 4;
    let upstream = start_http_upstream().await;
    let (h, token) = start_gateway(&upstream, |config| config.upstream.pool_max_idle = 1).await;

    let requests = (0..CONCURRENT).map(|i| {
        let path = format!("/slow/{i}?delay_ms=300");
        let h = &h;
        let token = &token;
        async move { (fetch(h, token, Method::GET, &path).await, path) }
    });
    for (fetched, path) in futures_util::future::join_all(requests).await {
        assert_eq!(fetched.status, 200, "GET {path}");
        assert_eq!(fetched.body, path.as_bytes(), "GET {path}");
    }
    // All requests overlapped, so each needed its own connection.
    assert_eq!(upstream.accepted(), CONCURRENT);

    upstream.wait_until_open(1, Duration::from_secs(3)).await;
    // The one connection kept serves the next request.
    let next = fetch(&h, &token, Method::GET, "/next").await;
    assert_eq!(next.status, 200);
    assert_eq!(
        upstream.accepted(),
        CONCURRENT,
        "the kept connection was not reused"
    );
    assert_eq!(upstream.open(), 1);
}

#[tokio::test]
async fn early_upload_rejection_skips_stalled_connection() {
    const UPLOAD_CHUNKS: usize = 20;
    let upstream = start_early_reject_upstream().await;
    let (h, token) = start_gateway(&upstream, |config| {
        // Long enough that a request stuck on the stalled connection outlasts
        // REQUEST_TIMEOUT instead of ending as a quick 504.
        config.upstream.timeout = Duration::from_secs(10);
    })
    .await;

    // The upload takes about 2 s: 20 chunks of 1 KiB, 100 ms apart.
    let sent = Arc::new(AtomicUsize::new(0));
    let body = slow_upload(UPLOAD_CHUNKS, Duration::from_millis(100), sent.clone());
    let request = Request::post(h.url("/upload"))
        .header("authorization", format!("Bearer {token}"))
        .body(body)
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http();
    let rejected = tokio::time::timeout(REQUEST_TIMEOUT, client.request(request))
        .await
        .expect("the 413 timed out")
        .expect("POST /upload failed");
    assert_eq!(rejected.status(), 413);
    assert!(
        sent.load(SeqCst) < UPLOAD_CHUNKS,
        "the 413 arrived only after the upload had ended"
    );
    let stalled = connection_number(rejected.headers());
    assert_eq!(stalled, Some(1));

    // A request while the upload still runs. The upload still running after it shows
    // that it did not wait behind the upload; no wall-clock bound, which load can break.
    let during = fetch(&h, &token, Method::GET, "/during-upload").await;
    assert_eq!(during.status, 200);
    assert_eq!(during.body, "/during-upload".as_bytes());
    assert_eq!(
        during.connection,
        Some(2),
        "the stalled connection was reused"
    );
    assert!(
        sent.load(SeqCst) < UPLOAD_CHUNKS,
        "the upload ended before the second request was sent, so that request proves nothing"
    );

    // A request after the upload has ended.
    wait_for(Duration::from_secs(5), "the upload to end", || {
        sent.load(SeqCst) == UPLOAD_CHUNKS
    })
    .await;
    let after = fetch(&h, &token, Method::GET, "/after-upload").await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body, "/after-upload".as_bytes());
    assert_ne!(
        after.connection, stalled,
        "the stalled connection was reused"
    );
}

#[tokio::test]
async fn concurrent_requests_open_no_extra_connections() {
    const CONCURRENT: usize = 50;
    let upstream = start_http_upstream().await;
    let (h, token) = start_gateway(&upstream, |_| {}).await;

    // The second wave must reuse the connections of the first.
    for wave in 0..2 {
        let requests = (0..CONCURRENT).map(|i| {
            let length = 1000 + i * 997;
            let path = format!("/bytes/{length}?delay_ms=50");
            let h = &h;
            let token = &token;
            async move { (fetch(h, token, Method::GET, &path).await, path, length) }
        });
        for (fetched, path, length) in futures_util::future::join_all(requests).await {
            let context = format!("wave {wave}, GET {path}");
            assert_eq!(fetched.status, 200, "{context}");
            assert_eq!(fetched.body.len(), length, "{context}");
            assert_pattern(&fetched.body, 0, &context);
        }
        assert!(
            upstream.peak_open() <= CONCURRENT,
            "{} upstream connections were open at once after wave {wave}",
            upstream.peak_open()
        );
        assert!(
            upstream.accepted() <= CONCURRENT,
            "{} upstream connections were accepted after wave {wave}",
            upstream.accepted()
        );
    }
    assert!(
        upstream.peak_open() > 1,
        "the requests never overlapped, so the test proves nothing"
    );
}

/// Sends ten requests, 50 ms apart, to an upstream that closes each connection
/// `close_after` its first response, and checks that every one succeeds.
async fn assert_closing_upstream_serves_all(send_connection_close: bool, close_after: Duration) {
    let upstream = start_closing_upstream(send_connection_close, close_after).await;
    let (h, token) = start_gateway(&upstream, |_| {}).await;

    for i in 0..10 {
        let path = format!("/item/{i}");
        let fetched = fetch(&h, &token, Method::GET, &path).await;
        assert_eq!(fetched.status, 200, "GET {path}");
        assert_eq!(fetched.body, path.as_bytes(), "GET {path}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(upstream.accepted(), 10);
}

/// Body each response in `assert_sequential_requests_share_one_connection` must carry.
enum ExpectedBody {
    /// The request path, which the upstream echoes for `/item/{i}`.
    Path,
    Empty,
}

/// Sends 20 requests one after another, checks each status and body, and checks that
/// all of them used the upstream's one connection. With `ExpectedBody::Path`, request
/// `i` goes to `{path}/{i}`.
async fn assert_sequential_requests_share_one_connection(
    method: Method,
    path: &str,
    status: u16,
    expected: ExpectedBody,
) {
    let upstream = start_http_upstream().await;
    let (h, token) = start_gateway(&upstream, |_| {}).await;

    for i in 0..20 {
        let path = match expected {
            ExpectedBody::Path => format!("{path}/{i}"),
            ExpectedBody::Empty => path.to_string(),
        };
        let fetched = fetch(&h, &token, method.clone(), &path).await;
        assert_eq!(fetched.status, status, "{method} {path}, request {i}");
        match expected {
            ExpectedBody::Path => assert_eq!(fetched.body, path.as_bytes(), "{method} {path}"),
            ExpectedBody::Empty => assert!(fetched.body.is_empty(), "{method} {path} has a body"),
        }
        assert_eq!(fetched.connection, Some(1), "{method} {path}, request {i}");
    }
    assert_eq!(upstream.accepted(), 1);
}

// === Gateway and client ===

/// Starts the emulator and a gateway in front of `upstream`, and logs alice in.
/// Returns the harness and her access token.
async fn start_gateway(
    upstream: &CountingUpstream,
    configure: impl FnOnce(&mut Config),
) -> (Harness, String) {
    let url = upstream.url.clone();
    let h = harness::start(|config| {
        config.upstream.url = url;
        configure(config);
    })
    .await;
    let token = h.login().await.access_token;
    (h, token)
}

/// A response read in full through the gateway.
struct Fetched {
    status: u16,
    /// The upstream connection that served it. `None` for the gateway's own responses.
    connection: Option<usize>,
    body: Bytes,
}

/// Sends a request with a bearer token through the gateway and reads the whole
/// response. Panics when that fails or takes longer than [`REQUEST_TIMEOUT`].
async fn fetch(h: &Harness, token: &str, method: Method, path: &str) -> Fetched {
    let request = h
        .http
        .request(method.clone(), h.url(path))
        .bearer_auth(token);
    let read = async {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let connection = connection_number(response.headers());
        let body = response.bytes().await?;
        Ok::<_, reqwest::Error>(Fetched {
            status,
            connection,
            body,
        })
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
        Ok(Ok(fetched)) => fetched,
        Ok(Err(error)) => panic!("{method} {path} failed: {error}"),
        Err(_) => panic!("{method} {path} timed out after {REQUEST_TIMEOUT:?}"),
    }
}

fn connection_number(headers: &HeaderMap) -> Option<usize> {
    let value = headers.get(CONNECTION_HEADER)?.to_str().ok()?;
    Some(value.parse().expect("x-upstream-connection is a number"))
}

type UploadBody = StreamBody<Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>>;

/// Builds a request body of `chunks` chunks of 1 KiB, the first at once and the others
/// `gap` apart. `sent` counts the chunks handed to the client so far.
fn slow_upload(chunks: usize, gap: Duration, sent: Arc<AtomicUsize>) -> UploadBody {
    let stream = futures_util::stream::unfold(0, move |index| {
        let sent = sent.clone();
        async move {
            if index == chunks {
                return None;
            }
            if index > 0 {
                tokio::time::sleep(gap).await;
            }
            sent.fetch_add(1, SeqCst);
            let frame = Frame::data(Bytes::from(vec![b'u'; 1024]));
            Some((Ok(frame), index + 1))
        }
    });
    StreamBody::new(Box::pin(stream))
}

/// Polls `done` every 10 ms. Panics when it is still false after `limit`.
async fn wait_for(limit: Duration, what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// === Body pattern ===

/// Byte `offset` of every body from `/bytes/N` and `/stream`. 251 is prime, so bytes
/// from another place in a body rarely match.
fn pattern_byte(offset: usize) -> u8 {
    (offset % 251) as u8
}

fn pattern(offset: usize, length: usize) -> Bytes {
    (offset..offset + length).map(pattern_byte).collect()
}

/// Panics at the first byte of `body` that differs from the pattern from `offset` on.
fn assert_pattern(body: &[u8], offset: usize, context: &str) {
    let mismatch = body
        .iter()
        .enumerate()
        .find(|&(i, &byte)| byte != pattern_byte(offset + i));
    if let Some((i, &byte)) = mismatch {
        panic!(
            "{context}: byte {} is {byte}, expected {}",
            offset + i,
            pattern_byte(offset + i)
        );
    }
}

// === Upstreams ===

/// Connection counts of a test upstream.
#[derive(Default)]
struct Counters {
    accepted: AtomicUsize,
    open: AtomicUsize,
    peak_open: AtomicUsize,
}

/// One accepted connection, counted as open until dropped.
struct OpenConnection {
    counters: Arc<Counters>,
    /// 1 for the first connection accepted.
    number: usize,
}

impl Counters {
    fn open_connection(self: &Arc<Self>) -> OpenConnection {
        let number = self.accepted.fetch_add(1, SeqCst) + 1;
        let open = self.open.fetch_add(1, SeqCst) + 1;
        self.peak_open.fetch_max(open, SeqCst);
        OpenConnection {
            counters: self.clone(),
            number,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, SeqCst);
    }
}

/// An upstream on a loopback port with the counts of its connections.
struct CountingUpstream {
    url: String,
    counters: Arc<Counters>,
}

impl CountingUpstream {
    fn accepted(&self) -> usize {
        self.counters.accepted.load(SeqCst)
    }

    fn open(&self) -> usize {
        self.counters.open.load(SeqCst)
    }

    fn peak_open(&self) -> usize {
        self.counters.peak_open.load(SeqCst)
    }

    /// Polls until exactly `expected` connections are open and returns how long that
    /// took. Panics after `limit`.
    async fn wait_until_open(&self, expected: usize, limit: Duration) -> Duration {
        let started = Instant::now();
        while self.open() != expected {
            assert!(
                started.elapsed() < limit,
                "{} upstream connections are still open after {limit:?}, expected {expected}",
                self.open()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    }
}

/// Starts an upstream that passes each accepted connection and its number to `serve`.
/// The connection counts as open until the future of `serve` ends.
async fn start_upstream<F, Fut>(serve: F) -> CountingUpstream
where
    F: Fn(TcpStream, usize) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = harness::bind().await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    let counters = Arc::new(Counters::default());
    let accept_counters = counters.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let connection = accept_counters.open_connection();
            let served = serve(stream, connection.number);
            tokio::spawn(async move {
                let _open = connection;
                served.await;
            });
        }
    });
    CountingUpstream { url, counters }
}

/// Starts an upstream on hyper's HTTP/1.1 server, which keeps connections alive.
/// See [`respond`] for its routes.
async fn start_http_upstream() -> CountingUpstream {
    start_upstream(|stream, connection| async move {
        let service = hyper::service::service_fn(move |request| respond(request, connection));
        // An error here is a client that went away mid-response, which some tests cause.
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    })
    .await
}

type UpstreamBody = BoxBody<Bytes, Infallible>;

/// Serves one request of the HTTP upstream:
/// - `/no-content`: `204`.
/// - `/bytes/N`: `200` with N bytes of the pattern and a `Content-Length`.
/// - `/stream`: `200` with 64 MiB of the pattern, chunked, produced only as fast as
///   the client reads.
/// - any other path: `200` with the request target (path and query) as the body.
///
/// A `?delay_ms=N` query delays the response by N ms. Every response names its
/// connection in [`CONNECTION_HEADER`].
async fn respond(
    request: Request<Incoming>,
    connection: usize,
) -> Result<Response<UpstreamBody>, Infallible> {
    let uri = request.uri();
    if let Some(delay) = uri
        .query()
        .and_then(|query| query.strip_prefix("delay_ms="))
    {
        let delay: u64 = delay.parse().expect("delay_ms is a number of milliseconds");
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }

    let path = uri.path();
    let (status, body) = if path == "/no-content" {
        (StatusCode::NO_CONTENT, BoxBody::new(Full::default()))
    } else if let Some(length) = path.strip_prefix("/bytes/") {
        let length: usize = length.parse().expect("/bytes/N takes a number");
        (StatusCode::OK, BoxBody::new(Full::new(pattern(0, length))))
    } else if path == "/stream" {
        let frames = futures_util::stream::iter(0..STREAM_CHUNKS)
            .map(|index| Ok(Frame::data(pattern(index * CHUNK_BYTES, CHUNK_BYTES))));
        (StatusCode::OK, BoxBody::new(StreamBody::new(frames)))
    } else {
        let target = Bytes::from(uri.to_string());
        (StatusCode::OK, BoxBody::new(Full::new(target)))
    };
    let response = Response::builder()
        .status(status)
        .header(CONNECTION_HEADER, connection)
        .body(body)
        .unwrap();
    Ok(response)
}

/// Starts a raw TCP upstream that responds to the first request of each connection
/// with `200` and the request target as the body, and closes the connection `close_after`
/// the response. The response announces the close with `Connection: close` only when
/// `send_connection_close` is set.
async fn start_closing_upstream(
    send_connection_close: bool,
    close_after: Duration,
) -> CountingUpstream {
    start_upstream(move |mut stream, connection| async move {
        let mut buffer = Vec::new();
        let Some(request_line) = read_head(&mut stream, &mut buffer).await else {
            return;
        };
        let extra_headers = if send_connection_close {
            "connection: close\r\n"
        } else {
            ""
        };
        let response = ok_response(connection, request_target(&request_line), extra_headers);
        let _ = stream.write_all(response.as_bytes()).await;
        // A zero sleep still yields until the timer driver runs, so it is skipped to send
        // the FIN right behind the response.
        if !close_after.is_zero() {
            tokio::time::sleep(close_after).await;
        }
        let _ = stream.shutdown().await;
    })
    .await
}

/// Starts a raw TCP upstream that responds to `POST /upload` with `413` as soon as it has
/// read the request head, and then neither reads from nor closes that connection for
/// 10 s. It responds to other requests with `200` and the request target as the body, on
/// kept-alive connections. It reads no request bodies, so those requests must have none.
async fn start_early_reject_upstream() -> CountingUpstream {
    start_upstream(|mut stream, connection| async move {
        let mut buffer = Vec::new();
        while let Some(request_line) = read_head(&mut stream, &mut buffer).await {
            if request_line.starts_with("POST /upload ") {
                let response = format!(
                    "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\
                     {CONNECTION_HEADER}: {connection}\r\n\r\n"
                );
                let _ = stream.write_all(response.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(10)).await;
                return;
            }
            let response = ok_response(connection, request_target(&request_line), "");
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// Formats a `200` response with `body` and `Content-Length`. `extra_headers` is empty
/// or whole header lines, each ending in CRLF.
fn ok_response(connection: usize, body: &str, extra_headers: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{CONNECTION_HEADER}: {connection}\r\n\
         {extra_headers}\r\n{body}",
        body.len()
    )
}

/// Reads one request head up to the blank line and returns its request line, or
/// `None` at the end of the stream. Bytes read past the head stay in `buffer`.
async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            let head: Vec<u8> = buffer.drain(..end + 4).collect();
            let head = String::from_utf8_lossy(&head);
            return head.lines().next().map(str::to_owned);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

/// Returns the request target of a request line like `GET /a?b=c HTTP/1.1`.
fn request_target(request_line: &str) -> &str {
    request_line.split(' ').nth(1).unwrap_or("/")
}
