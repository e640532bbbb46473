//! The echo resource server of the demo and the tests.
//!
//! It responds to every request with `200` and a JSON description of what it received, so a
//! client can see exactly what the gateway forwarded:
//! `{"method","path","query","headers":{lower-case name: value},"body_bytes"}`.
//! A request with `Upgrade: websocket` becomes a WebSocket that echoes every message.

use std::net::SocketAddr;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running echo server.
pub struct RunningEcho {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningEcho {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn shutdown(self) {
        self.task.abort();
    }
}

/// Serves the echo app on an already-bound listener.
pub async fn start(listener: TcpListener) -> std::io::Result<RunningEcho> {
    let addr = listener.local_addr()?;
    let app = axum::Router::new().fallback(echo);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "echo server stopped");
        }
    });
    Ok(RunningEcho { addr, task })
}

async fn echo(request: Request) -> Response {
    let (mut parts, body) = request.into_parts();

    if parts.headers.contains_key(http::header::UPGRADE) {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => upgrade.on_upgrade(echo_socket).into_response(),
            Err(rejection) => rejection.into_response(),
        };
    }

    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let value = Value::from(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match headers.get_mut(name.as_str()) {
            // Repeated headers are joined as a proxy would fold them.
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value.as_str().unwrap_or(""));
            }
            _ => {
                headers.insert(name.as_str().to_string(), value);
            }
        }
    }

    // Count the body without keeping it, so large uploads cost no memory here.
    let mut body_bytes: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => body_bytes += chunk.len() as u64,
            Err(error) => {
                tracing::debug!(%error, "echo request body failed");
                break;
            }
        }
    }

    let description = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "body_bytes": body_bytes,
    });
    axum::Json(description).into_response()
}

async fn echo_socket(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            _ => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}
