//! The `anthropic` kind: Anthropic's Messages API (`{base_url}/v1/messages`), or any upstream
//! that speaks it. The key goes as `x-api-key`; the client's `anthropic-version` and
//! `anthropic-beta` are passed on (less the upstream's `drop_betas`), with Anthropic's current
//! version when the client sent none (a request translated from another format).

use std::time::Duration;

use axum::http::{header, HeaderValue};

use super::{send_http, Reply, SendError, Upstream};
use crate::relay::dialects::Wire;
use crate::relay::request::ClientRequest;
use crate::state::AppState;

/// The API version sent when the client names none.
pub const DEFAULT_VERSION: &str = "2023-06-01";

pub fn speaks(wire: Wire) -> bool {
    wire == Wire::Messages
}

/// `{base_url}/v1/messages` (or `/messages` when the base URL already ends in `/v1`), and the
/// token counting endpoint beside it.
pub fn url(base_url: &str, wire: Wire) -> Option<reqwest::Url> {
    if !speaks(wire) {
        return None;
    }
    reqwest::Url::parse(&format!("{}/messages", versioned(base_url))).ok()
}

/// The token counting endpoint of an upstream of this kind.
pub fn count_tokens_url(base_url: &str) -> Option<reqwest::Url> {
    reqwest::Url::parse(&format!("{}/messages/count_tokens", versioned(base_url))).ok()
}

fn versioned(base_url: &str) -> String {
    if base_url.ends_with("/v1") {
        base_url.to_string()
    } else {
        format!("{base_url}/v1")
    }
}

/// The client's headers for this upstream: its version (or the default) and its beta flags less
/// those the upstream refuses.
pub fn headers(upstream: &Upstream, req: &ClientRequest) -> Vec<(header::HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(2);
    let mut version = None;
    for (name, value) in &req.forward_headers {
        if name == "anthropic-version" {
            version = Some(value.clone());
        } else if name == "anthropic-beta" {
            let kept = kept_betas(value.to_str().unwrap_or(""), &upstream.drop_betas);
            if let Ok(v) = HeaderValue::from_str(&kept) {
                if !kept.is_empty() {
                    out.push((name.clone(), v));
                }
            }
        }
    }
    out.push((
        header::HeaderName::from_static("anthropic-version"),
        version.unwrap_or(HeaderValue::from_static(DEFAULT_VERSION)),
    ));
    out
}

/// The comma-separated flags of `betas` that are not in `drop`.
fn kept_betas(betas: &str, drop: &[String]) -> String {
    betas
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty() && !drop.iter().any(|d| d == b))
        .collect::<Vec<_>>()
        .join(",")
}

pub async fn send(
    state: &AppState,
    upstream: &Upstream,
    wire: Wire,
    body: Vec<u8>,
    req: &ClientRequest,
    first_byte: Duration,
) -> Result<Reply, SendError> {
    let Some(url) = upstream.url(wire) else {
        return Err(SendError::new(format!(
            "has a base_url that is not a URL: {}",
            upstream.base_url
        )));
    };
    let mut request = state
        .upstream_http()
        .post(url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(key) = &upstream.api_key {
        request = request.header("x-api-key", key);
    }
    for (name, value) in headers(upstream, req) {
        request = request.header(name, value);
    }
    send_http(request, first_byte).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_betas() {
        assert_eq!(
            url("https://api.anthropic.com", Wire::Messages)
                .unwrap()
                .as_str(),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            url("http://relay/v1", Wire::Messages).unwrap().as_str(),
            "http://relay/v1/messages"
        );
        assert!(url("https://api.anthropic.com", Wire::Chat).is_none());
        assert_eq!(
            kept_betas(
                "claude-code-20250219, context-management-2025-06-27,effort-2025-11-24",
                &["context-management-2025-06-27".into()]
            ),
            "claude-code-20250219,effort-2025-11-24"
        );
    }
}
