//! Talking to one upstream: send the rewritten request (or ask the built-in demo), and read the
//! answer with timeouts — headers within the first-byte timeout, each chunk within the idle one.

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, StatusCode};

use super::demo;
use super::request::ClientRequest;
use super::upstreams::Upstream;
use crate::config::UpstreamKind;
use crate::state::AppState;

#[derive(Debug)]
pub struct SendError {
    pub message: String,
    pub timed_out: bool,
}

impl SendError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            timed_out: false,
        }
    }

    fn timeout(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            timed_out: true,
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: ReplyBody,
}

impl Reply {
    pub fn is_event_stream(&self) -> bool {
        self.content_type.starts_with("text/event-stream")
    }
}

pub enum ReplyBody {
    Http(reqwest::Response),
    Canned(VecDeque<Bytes>),
}

impl ReplyBody {
    /// The next piece of the body; `None` at its end.
    pub async fn next_chunk(&mut self, idle: Duration) -> Result<Option<Bytes>, SendError> {
        match self {
            ReplyBody::Canned(chunks) => Ok(chunks.pop_front()),
            ReplyBody::Http(response) => match tokio::time::timeout(idle, response.chunk()).await {
                Err(_) => Err(SendError::timeout(format!(
                    "sent nothing for {}s",
                    idle.as_secs()
                ))),
                Ok(Err(e)) => Err(SendError::new(format!(
                    "broke off the response: {}",
                    error_chain(&e)
                ))),
                Ok(Ok(chunk)) => Ok(chunk),
            },
        }
    }

    /// The whole body, up to `max` bytes.
    pub async fn read_all(mut self, idle: Duration, max: usize) -> Result<Vec<u8>, SendError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk(idle).await? {
            if out.len() + chunk.len() > max {
                return Err(SendError::new(format!("sent a response over {max} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The start of an error body, for the log.
    pub async fn read_snippet(mut self, idle: Duration) -> String {
        let mut out = Vec::new();
        while out.len() < 600 {
            match self.next_chunk(idle).await {
                Ok(Some(chunk)) => out.extend_from_slice(&chunk),
                _ => break,
            }
        }
        String::from_utf8_lossy(&out).chars().take(300).collect()
    }
}

/// The error and its causes on one line (reqwest's top-level message alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub async fn send(
    state: &AppState,
    upstream: &Upstream,
    req: &ClientRequest,
    counted_input: Option<u64>,
    first_byte: Duration,
) -> Result<Reply, SendError> {
    let model = upstream.upstream_model(&req.model);
    if upstream.kind == UpstreamKind::Demo {
        let input = counted_input.unwrap_or_else(|| req.input_token_bound() / 4);
        let (content_type, chunks) =
            demo::respond(req.endpoint, model, req.stream, input, state.clock.now());
        return Ok(Reply {
            status: StatusCode::OK,
            content_type: content_type.to_string(),
            body: ReplyBody::Canned(chunks.into()),
        });
    }
    let Some(url) = upstream.endpoint_url(req.endpoint) else {
        return Err(SendError::new(format!(
            "has a base_url that is not a URL: {}",
            upstream.base_url
        )));
    };
    let mut request = state
        .upstream_http()
        .post(url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .body(req.upstream_body(model));
    if let Some(key) = &upstream.api_key {
        request = request.bearer_auth(key);
    }
    let response = match tokio::time::timeout(first_byte, request.send()).await {
        Err(_) => {
            return Err(SendError::timeout(format!(
                "did not answer within {}s",
                first_byte.as_secs()
            )))
        }
        Ok(Err(e)) if e.is_timeout() => return Err(SendError::timeout(error_chain(&e))),
        Ok(Err(e)) => {
            return Err(SendError::new(format!(
                "could not be reached: {}",
                error_chain(&e)
            )))
        }
        Ok(Ok(response)) => response,
    };
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    Ok(Reply {
        status: StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        content_type,
        body: ReplyBody::Http(response),
    })
}
