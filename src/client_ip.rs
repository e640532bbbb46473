//! The client address of a request: the peer, or the nearest untrusted hop of
//! `X-Forwarded-For` when the peer is a trusted proxy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use http::HeaderMap;
use ipnet::IpNet;

use crate::gateway::Gateway;

/// The client address, as an extractor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<Gateway> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Gateway,
    ) -> Result<Self, Self::Rejection> {
        // Without connection info (a router driven in process) the address is unknown,
        // and all such requests share one rate-limit key.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        Ok(ClientIp(client_ip(
            peer,
            &parts.headers,
            &gateway.config.server.trusted_proxies,
        )))
    }
}

/// Walks `X-Forwarded-For` from the right while the hop is trusted, and returns the
/// first untrusted one. Entries left of it were written by the client and are ignored.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        for hop in value.split(',') {
            match hop.trim().parse() {
                Ok(ip) => hops.push(ip),
                // An unreadable hop ends the trustworthy part of the chain.
                Err(_) => return peer,
            }
        }
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().unwrap());
        headers
    }

    #[test]
    fn untrusted_peer_ignores_forwarded_for() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client_ip(peer, &headers("1.2.3.4"), &trusted), peer);
    }

    #[test]
    fn trusted_peer_yields_nearest_untrusted_hop() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let ip = client_ip(peer, &headers("6.6.6.6, 198.51.100.7, 10.0.0.3"), &trusted);
        assert_eq!(ip, "198.51.100.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn garbage_forwarded_for_keeps_peer() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client_ip(peer, &headers("not-an-ip"), &trusted), peer);
    }
}
