//! Forwarding authenticated requests to the upstream.
//!
//! Bodies stream both ways without buffering, connections to the upstream are pooled
//! and kept alive, and WebSocket (any HTTP/1.1 `Upgrade`) requests become a byte tunnel
//! once both sides agree to switch protocols.

pub mod body;
pub mod headers;
pub mod pool;
pub mod tunnel;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::response::IntoResponse;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

pub use self::body::{GatewayBody, RequestBody};
pub use self::headers::HeaderPolicy;
use self::pool::Pool;
pub use self::tunnel::Tunnels;
use crate::auth::Authenticated;
use crate::config::Config;
use crate::error::ApiError;

/// The upstream connection pool and the rules for rewriting requests to it.
pub struct Upstream {
    /// `None` when `upstream.url` is empty, so every forward returns 502.
    target: Option<Target>,
    /// `None` exactly when `target` is `None`.
    pool: Option<Pool>,
    timeout: Duration,
    policy: HeaderPolicy,
    tunnels: Tunnels,
}

struct Target {
    authority: Authority,
    /// `Host` for requests that have none, like HTTP/1.0 requests.
    host: HeaderValue,
    /// A path prefix from `upstream.url`, without the trailing `/`; empty for none.
    base_path: Box<str>,
}

// === impl Upstream ===

impl Upstream {
    /// Builds the connection pool. Fails when `upstream.url` is not an `http://` URL.
    pub fn new(config: &Config) -> anyhow::Result<Upstream> {
        let upstream = &config.upstream;
        let target = if upstream.url.is_empty() {
            None
        } else {
            Some(parse_target(&upstream.url)?)
        };
        let pool = target.as_ref().map(|target| {
            Pool::new(
                &target.authority,
                upstream.connect_timeout,
                upstream.pool_idle_timeout,
                upstream.pool_max_idle,
            )
        });

        Ok(Upstream {
            target,
            pool,
            timeout: upstream.timeout,
            policy: HeaderPolicy::new(config)?,
            tunnels: Tunnels::default(),
        })
    }

    pub fn policy(&self) -> &HeaderPolicy {
        &self.policy
    }

    /// Returns the upgraded connections, which shutdown waits for and then closes.
    pub fn tunnels(&self) -> &Tunnels {
        &self.tunnels
    }

    /// Forwards an authenticated request and returns the upstream's response, or a
    /// 502/504 JSON error when the upstream fails or is too slow.
    pub async fn forward(
        &self,
        mut request: Request<Incoming>,
        auth: &Authenticated,
        peer: SocketAddr,
        request_id: &HeaderValue,
    ) -> Response<GatewayBody> {
        let (Some(target), Some(pool)) = (&self.target, &self.pool) else {
            tracing::warn!("upstream.url is not set; cannot forward");
            return upstream_unavailable();
        };

        // Take the client side of an upgrade before the request is consumed.
        let upgrade = headers::upgrade_protocol(request.headers()).cloned();
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut request));

        let (mut parts, body) = request.into_parts();
        parts.uri = match upstream_path(target, parts.uri) {
            Some(uri) => uri,
            None => {
                return local(ApiError::bad_request(
                    "The request target cannot be forwarded.",
                ));
            }
        };
        parts.version = Version::HTTP_11;
        self.policy
            .prepare_request(&mut parts.headers, auth, peer.ip(), request_id, upgrade);
        parts
            .headers
            .entry(http::header::HOST)
            .or_insert_with(|| target.host.clone());
        let (body, mut body_sent) = RequestBody::new(body);
        let request = Request::from_parts(parts, body);

        // The timeout starts once the request body is sent, so a large upload is not
        // cut off by it.
        let upload_done = AtomicBool::new(body_sent.is_none());
        let deadline = async {
            if let Some(body_sent) = body_sent.as_mut() {
                let _ = body_sent.await;
                upload_done.store(true, Ordering::Relaxed);
            }
            tokio::time::sleep(self.timeout).await;
        };
        let (mut response, mut connection) = tokio::select! {
            result = pool.send(request) => match result {
                Ok(sent) => sent,
                Err(error) => return upstream_error(&error),
            },
            () = deadline => {
                tracing::warn!(
                    timeout_ms = self.timeout.as_millis() as u64,
                    "upstream sent no response headers in time"
                );
                return upstream_timeout();
            }
        };
        if !upload_done.load(Ordering::Relaxed) {
            // The upstream responded before reading the whole request body. The
            // connection is reused only if the upload has ended by the time the
            // response has, or the next request would wait behind it.
            connection.set_upload(body_sent);
        }

        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_upgrade) = client_upgrade {
                // The upgraded connection leaves the pool for good.
                drop(connection);
                let upstream_upgrade = hyper::upgrade::on(&mut response);
                self.tunnels.spawn(client_upgrade, upstream_upgrade);
                // Keep `Upgrade` and `Connection` so the client sees the switch.
                let upgrade = response.headers_mut().remove(http::header::UPGRADE);
                headers::remove_hop_by_hop(response.headers_mut());
                if let Some(upgrade) = upgrade {
                    response
                        .headers_mut()
                        .insert(http::header::UPGRADE, upgrade);
                    response.headers_mut().insert(
                        http::header::CONNECTION,
                        HeaderValue::from_static("upgrade"),
                    );
                }
                return response.map(|_| GatewayBody::empty());
            }
        }
        headers::remove_hop_by_hop(response.headers_mut());
        response.map(|body| GatewayBody::upstream(body, connection))
    }
}

fn parse_target(url: &str) -> anyhow::Result<Target> {
    let uri: Uri = url
        .parse()
        .map_err(|_| anyhow::anyhow!("upstream.url = {url:?} is not a valid URL"))?;
    if uri.scheme() != Some(&Scheme::HTTP) {
        // TODO: support https upstreams; the sidecar and internal cases use plain HTTP.
        anyhow::bail!("upstream.url = {url:?} must start with http://");
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("upstream.url = {url:?} has no host"))?;
    if uri.query().is_some() {
        anyhow::bail!("upstream.url = {url:?} must not have a query");
    }
    // The default port is left out, as clients do.
    let host = match authority.port_u16() {
        Some(port) if port != 80 => format!("{}:{port}", authority.host()),
        _ => authority.host().to_owned(),
    };
    let host = HeaderValue::try_from(host)
        .map_err(|_| anyhow::anyhow!("upstream.url = {url:?} has an invalid host"))?;
    Ok(Target {
        authority,
        host,
        base_path: uri.path().trim_end_matches('/').into(),
    })
}

/// Builds the origin-form upstream request target (`/path?query`) from the incoming
/// one. The connection already goes to the upstream, so no scheme or authority is sent.
fn upstream_path(target: &Target, uri: Uri) -> Option<Uri> {
    let mut parts = uri.into_parts();
    let path_and_query = parts.path_and_query.take()?;
    if !path_and_query.as_str().starts_with('/') {
        // Asterisk-form (`OPTIONS *`) and other non-path targets.
        return None;
    }
    let path_and_query = if target.base_path.is_empty() {
        path_and_query
    } else {
        let joined = format!("{}{}", target.base_path, path_and_query.as_str());
        PathAndQuery::try_from(joined).ok()?
    };
    Some(Uri::from(path_and_query))
}

fn local(error: ApiError) -> Response<GatewayBody> {
    error.into_response().map(GatewayBody::local)
}

fn upstream_unavailable() -> Response<GatewayBody> {
    local(ApiError::new(
        StatusCode::BAD_GATEWAY,
        "upstream_unavailable",
        "The upstream service is unavailable.",
    ))
}

fn upstream_timeout() -> Response<GatewayBody> {
    local(ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_timeout",
        "The upstream service did not answer in time.",
    ))
}

/// Maps a pool error: timeouts (connect included) to 504, everything else to 502.
fn upstream_error(error: &pool::Error) -> Response<GatewayBody> {
    let timed_out = error_chain(error).any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    });
    tracing::warn!(error = %DisplayChain(error), connect = error.is_connect(), timed_out, "upstream request failed");
    if timed_out {
        upstream_timeout()
    } else {
        upstream_unavailable()
    }
}

fn error_chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| cause.source())
}

/// Displays an error with its causes, `a: b: c`.
struct DisplayChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for cause in error_chain(self.0) {
            if !first {
                f.write_str(": ")?;
            }
            first = false;
            write!(f, "{cause}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_keeps_base_path() {
        let target = parse_target("http://127.0.0.1:8080/api/").unwrap();
        let uri = upstream_path(&target, "/users?id=1".parse().unwrap()).unwrap();
        assert_eq!(uri.to_string(), "/api/users?id=1");
    }

    #[test]
    fn target_rejects_https_and_queries() {
        assert!(parse_target("https://example.com").is_err());
        assert!(parse_target("http://example.com/?a=b").is_err());
    }

    #[test]
    fn absolute_form_targets_are_rewritten() {
        let target = parse_target("http://127.0.0.1:8080").unwrap();
        let uri = upstream_path(&target, "http://evil.example/x".parse().unwrap()).unwrap();
        assert_eq!(uri.to_string(), "/x");
    }

    #[test]
    fn asterisk_target_is_rejected() {
        let target = parse_target("http://127.0.0.1:8080").unwrap();
        assert!(upstream_path(&target, "*".parse().unwrap()).is_none());
    }
}
