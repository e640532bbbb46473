//! Micro-benchmarks of the per-request work on the authenticated hot path: credential
//! extraction, the cache key and lookup, cookie parsing and stripping, header rewriting
//! and gateway route matching.
//!
//! Run: `cargo bench --bench hot_path` (criterion; `cargo test` does not run these).

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{HeaderMap, HeaderName, HeaderValue};

use portcullis::auth::cookie::{find_cookie, strip_cookie};
use portcullis::auth::{extract_credential, Authenticated, CredentialCache, Identity, Validated};
use portcullis::config::Config;
use portcullis::metrics::Metrics;
use portcullis::okta::{Audience, Introspection};
use portcullis::proxy::headers::{
    remove_hop_by_hop, remove_spoofed, request_id, set_forwarded_headers,
};
use portcullis::proxy::HeaderPolicy;
use portcullis::server::gateway_route;

/// Returns a made-up token as long as an Okta JWT access token (about 850 bytes).
fn token() -> String {
    format!(
        "eyJraWQiOiJrZXkiLCJhbGciOiJSUzI1NiJ9.{}.sig",
        "a".repeat(800)
    )
}

/// Returns the headers of a typical API request with a bearer token.
fn bearer_request() -> HeaderMap {
    headers(&[
        ("host", "app.example.com"),
        ("user-agent", "curl/8.5.0"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip, br"),
        ("authorization", &format!("Bearer {}", token())),
    ])
}

/// Returns the headers of a typical browser request with the session cookie among others.
fn cookie_request() -> HeaderMap {
    headers(&[
        ("host", "app.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-language", "en-US,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br"),
        (
            "cookie",
            "_ga=GA1.1.123456789.1700000000; theme=dark; \
             portcullis=3q2-7wAAAAC_session_id_base64url_43chars; lang=en",
        ),
        ("connection", "keep-alive"),
    ])
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_str(value).expect("valid header value"),
        );
    }
    headers
}

fn identity(groups: usize) -> Arc<Identity> {
    let login = "alice.anderson@example.com".to_string();
    let introspection = Introspection {
        active: true,
        scope: Some("openid profile email phone offline_access".into()),
        client_id: Some("0oaoesxtxmPf08QHk0h7".into()),
        username: Some(login.clone()),
        email: Some(login.clone()),
        sub: Some(login),
        exp: Some(4_000_000_000),
        aud: Some(Audience::One("api://default".into())),
        groups: Some((0..groups).map(|i| format!("group-{i}")).collect()),
        ..Introspection::default()
    };
    Arc::new(Identity::from_introspection(introspection).expect("sub and exp are set"))
}

fn config() -> Config {
    let text = r#"
        [okta]
        issuer = "https://example.okta.com/oauth2/default"
        client_id = "0oaoesxtxmPf08QHk0h7"
        client_secret = "not-a-real-secret"
        [upstream]
        url = "http://127.0.0.1:8080"
    "#;
    Config::load_from(Some(text), None, std::iter::empty())
        .expect("the benchmark configuration is valid")
        .config
}

fn credentials(c: &mut Criterion) {
    let bearer = bearer_request();
    let browser = cookie_request();
    c.bench_function("extract_credential/bearer", |b| {
        b.iter(|| extract_credential(black_box(&bearer), "portcullis"))
    });
    c.bench_function("extract_credential/cookie", |b| {
        b.iter(|| extract_credential(black_box(&browser), "portcullis"))
    });
    c.bench_function("find_cookie", |b| {
        b.iter(|| find_cookie(black_box(&browser), "portcullis"))
    });
    c.bench_function("strip_cookie/present", |b| {
        b.iter_batched_ref(
            || browser.clone(),
            |headers| strip_cookie(headers, "portcullis"),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("strip_cookie/absent", |b| {
        b.iter_batched_ref(
            || bearer.clone(),
            |headers| strip_cookie(headers, "portcullis"),
            BatchSize::SmallInput,
        )
    });
}

fn cache(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cache = CredentialCache::new(
        "https://example.okta.com/oauth2/default",
        "0oaoesxtxmPf08QHk0h7",
        100_000,
        Duration::from_secs(3600),
        Duration::from_secs(10),
        Metrics::new(),
    );
    let token = token();
    let key = cache.key(&token);
    runtime.block_on(async {
        let identity = identity(2);
        let _ = cache
            .get_or_validate(key, async move {
                Ok::<_, std::convert::Infallible>(Validated::Active(identity))
            })
            .await;
    });

    c.bench_function("cache/key (SHA-256 of the token)", |b| {
        b.iter(|| cache.key(black_box(&token)))
    });
    c.bench_function("cache/get hit", |b| {
        b.to_async(&runtime).iter(|| cache.get(black_box(&key)))
    });
    c.bench_function("cache/key + get hit", |b| {
        b.to_async(&runtime).iter(|| async {
            let key = cache.key(black_box(&token));
            cache.get(&key).await
        })
    });
}

fn header_rewriting(c: &mut Criterion) {
    let config = config();
    let policy = HeaderPolicy::new(&config).expect("valid header names");
    let auth = Authenticated {
        identity: identity(2),
        session: None,
    };
    let peer: IpAddr = "127.0.0.1".parse().expect("valid address");
    let id = HeaderValue::from_static("0123456789abcdef0123456789abcdef");
    let bearer = bearer_request();
    let browser = cookie_request();
    let folded: Vec<Box<str>> = ["x-forwarded-user", "x-forwarded-email"]
        .map(Box::from)
        .to_vec();

    c.bench_function("remove_hop_by_hop", |b| {
        b.iter_batched_ref(|| browser.clone(), remove_hop_by_hop, BatchSize::SmallInput)
    });
    c.bench_function("remove_spoofed", |b| {
        b.iter_batched_ref(
            || browser.clone(),
            |headers| remove_spoofed(headers, &folded, false),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("set_forwarded_headers", |b| {
        b.iter_batched_ref(
            || bearer.clone(),
            |headers| set_forwarded_headers(headers, peer, false),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("insert_identity", |b| {
        b.iter_batched_ref(
            || bearer.clone(),
            |headers| policy.insert_identity(headers, &auth.identity),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("prepare_request/bearer", |b| {
        b.iter_batched_ref(
            || bearer.clone(),
            |headers| policy.prepare_request(headers, &auth, peer, &id, None),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("prepare_request/cookie", |b| {
        b.iter_batched_ref(
            || browser.clone(),
            |headers| policy.prepare_request(headers, &auth, peer, &id, None),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("request_id/generate", |b| {
        b.iter(|| request_id(black_box(&bearer)))
    });
}

fn routing(c: &mut Criterion) {
    c.bench_function("gateway_route/forwarded path", |b| {
        b.iter(|| gateway_route(black_box("/api/v1/orders/1234"), "/.portcullis"))
    });
    c.bench_function("gateway_route/gateway path", |b| {
        b.iter(|| gateway_route(black_box("/.portcullis/login"), "/.portcullis"))
    });
}

criterion_group!(benches, credentials, cache, header_rewriting, routing);
criterion_main!(benches);
