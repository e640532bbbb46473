//! The floor for the benchmarks: the least an authenticating proxy built on hyper can
//! do. It looks the bearer token up in a moka cache filled at start, returns `401` when
//! it is absent, and forwards everything else with hyper-util's pooled client on a
//! current-thread runtime. No header rules, no metrics, no logs, no timeouts.
//!
//! portcullis is measured against it to tell the cost of its own features apart from
//! the cost of hyper and tokio.
//!
//! Run: `cargo run --release --example bench_minimal_proxy -- LISTEN UPSTREAM TOKEN`,
//! for example `127.0.0.1:18680 127.0.0.1:18080 abc`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

type Body = UnsyncBoxBody<Bytes, hyper::Error>;

struct Proxy {
    client: Client<HttpConnector, Incoming>,
    upstream: Authority,
    tokens: moka::future::Cache<Box<str>, Arc<str>>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_minimal_proxy LISTEN UPSTREAM TOKEN";
    let listen: SocketAddr = args.next().ok_or(usage)?.parse()?;
    let upstream: Authority = args.next().ok_or(usage)?.parse()?;
    let token = args.next().ok_or(usage)?;

    let tokens = moka::future::Cache::new(10_000);
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let proxy = Arc::new(Proxy {
        client: Client::builder(TokioExecutor::new()).build(connector),
        upstream,
        tokens,
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        proxy
            .tokens
            .insert(token.into_boxed_str(), Arc::from("bench-user"))
            .await;
        serve(listen, proxy).await
    })?;
    Ok(())
}

async fn serve(listen: SocketAddr, proxy: Arc<Proxy>) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    eprintln!("minimal proxy listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(proxy.handle(request).await) }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("connection error: {error}");
            }
        });
    }
}

impl Proxy {
    async fn handle(&self, mut request: Request<Incoming>) -> Response<Body> {
        let token = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let user = match token {
            Some(token) => self.tokens.get(token).await,
            None => None,
        };
        let Some(user) = user else {
            return status(StatusCode::UNAUTHORIZED);
        };
        let mut parts = std::mem::take(request.uri_mut()).into_parts();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.upstream.clone());
        *request.uri_mut() = match Uri::from_parts(parts) {
            Ok(uri) => uri,
            Err(_) => return status(StatusCode::BAD_REQUEST),
        };
        if let Ok(user) = http::HeaderValue::from_str(&user) {
            request.headers_mut().insert("x-forwarded-user", user);
        }
        match self.client.request(request).await {
            Ok(response) => response.map(|body| body.boxed_unsync()),
            Err(_) => status(StatusCode::BAD_GATEWAY),
        }
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = code;
    response
}
