//! The `openai` kind: any OpenAI-compatible HTTP API. It speaks chat completions, completions and
//! embeddings at `{base_url}/chat/completions` and so on, with the key as a bearer token; and the
//! Responses API (`{base_url}/responses`, `{base_url}/responses/compact`) where the config says
//! it does (`responses = true`).

use std::time::Duration;

use axum::http::header;

use super::{send_http, Reply, SendError, Upstream};
use crate::relay::dialects::Wire;
use crate::state::AppState;

pub fn speaks(wire: Wire, responses: bool) -> bool {
    match wire {
        Wire::Chat | Wire::Completions | Wire::Embeddings => true,
        Wire::Responses | Wire::ResponsesCompact => responses,
        Wire::Messages => false,
    }
}

/// Where this kind takes `wire` requests, when it speaks it and the base URL parses.
pub fn url(base_url: &str, wire: Wire, responses: bool) -> Option<reqwest::Url> {
    if !speaks(wire, responses) {
        return None;
    }
    reqwest::Url::parse(&format!("{base_url}{}", wire.dialect().path())).ok()
}

pub async fn send(
    state: &AppState,
    upstream: &Upstream,
    wire: Wire,
    body: Vec<u8>,
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
        request = request.bearer_auth(key);
    }
    send_http(request, first_byte).await
}
