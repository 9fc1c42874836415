//! Who is calling: the client's IP address (from the socket, or from `X-Forwarded-For` when the
//! peer is a trusted proxy), and address ranges as operators write them.

use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::state::AppState;

/// An address (`203.0.113.7`, `2001:db8::1`) or a CIDR range (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange(IpNet);

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl FromStr for IpRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(IpRange(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| IpRange(IpNet::from(ip.to_canonical())))
            .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Serialize for IpRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The client address: the socket peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub struct ClientIp(pub IpAddr);

pub fn client_ip(parts: &Parts, trusted: &[IpRange]) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return peer;
    }
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip.to_canonical()) => continue,
            Ok(ip) => return ip.to_canonical(),
            Err(_) => break,
        }
    }
    peer
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let config = state.config();
        Ok(ClientIp(client_ip(parts, &config.server.trusted_proxies)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_match() {
        let r: IpRange = "10.0.0.0/8".parse().unwrap();
        assert!(r.contains("10.2.3.4".parse().unwrap()));
        assert!(!r.contains("11.0.0.1".parse().unwrap()));
        assert!(
            r.contains("::ffff:10.0.0.1".parse().unwrap()),
            "v4-mapped v6"
        );
        let one: IpRange = "2001:db8::1".parse().unwrap();
        assert_eq!(one.to_string(), "2001:db8::1");
        assert!(one.contains("2001:db8::1".parse().unwrap()));
        let host_bits: IpRange = "192.168.1.77/24".parse().unwrap();
        assert_eq!(host_bits.to_string(), "192.168.1.0/24");
        assert!("300.1.1.1".parse::<IpRange>().is_err());
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
    }

    fn parts(peer: &str, xff: Option<&str>) -> Parts {
        let mut builder = axum::http::Request::builder();
        if let Some(x) = xff {
            builder = builder.header("x-forwarded-for", x);
        }
        let (mut parts, _) = builder.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 1)));
        parts
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpRange> =
            vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        let ip = |peer, xff| client_ip(&parts(peer, xff), &trusted).to_string();
        assert_eq!(ip("127.0.0.1", Some("203.0.113.9")), "203.0.113.9");
        assert_eq!(
            ip("127.0.0.1", Some("1.1.1.1, 203.0.113.9, 10.0.0.2")),
            "203.0.113.9"
        );
        assert_eq!(ip("198.51.100.1", Some("203.0.113.9")), "198.51.100.1");
        assert_eq!(ip("127.0.0.1", None), "127.0.0.1");
        assert_eq!(ip("127.0.0.1", Some("garbage")), "127.0.0.1");
        assert_eq!(
            client_ip(&parts("127.0.0.1", Some("203.0.113.9")), &[]).to_string(),
            "127.0.0.1"
        );
    }
}
