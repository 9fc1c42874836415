//! The other side of the seam: upstreams from the config, one module per kind (`openai`,
//! `anthropic`, `demo`) saying which wire formats it speaks and how to send to it; what an upstream answers
//! (`Reply`), read with timeouts; and each upstream's health — failures put it in a cool-down.

pub mod anthropic;
pub mod demo;
pub mod health;
pub mod openai;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, StatusCode};

use super::buffers::{BufferBudget, Buffered};
use super::dialects::Wire;
use super::request::ClientRequest;
use crate::config::{UpstreamConfig, UpstreamKind};
use crate::state::AppState;
pub use health::Health;

pub struct Upstream {
    pub name: String,
    pub kind: UpstreamKind,
    /// Without a trailing slash.
    pub base_url: String,
    /// The URL of each wire format this upstream serves, parsed once here rather than on every
    /// request; `None` where the kind does not speak it or the base URL does not parse.
    urls: [Option<reqwest::Url>; Wire::ALL.len()],
    pub api_key: Option<String>,
    pub models: Vec<String>,
    pub model_map: BTreeMap<String, String>,
    /// `anthropic`: beta flags not passed on.
    pub drop_betas: Vec<String>,
    /// `openai`: serves the Responses API.
    pub responses: bool,
    pub priority: i32,
    pub weight: u32,
    pub health: Arc<Health>,
}

impl Upstream {
    pub fn serves(&self, model: &str) -> bool {
        self.models.iter().any(|m| m == model)
    }

    /// Whether this upstream answers requests in `wire` as they are.
    pub fn speaks(&self, wire: Wire) -> bool {
        match self.kind {
            UpstreamKind::Openai => openai::speaks(wire, self.responses),
            UpstreamKind::Anthropic => anthropic::speaks(wire),
            UpstreamKind::Demo => demo::speaks(wire),
        }
    }

    /// The parsed URL this upstream takes `wire` requests at.
    pub fn url(&self, wire: Wire) -> Option<&reqwest::Url> {
        self.urls[wire.index()].as_ref()
    }

    /// Sends a request body in `wire` (the client's own, or translated) and waits for the
    /// answer's headers, up to `first_byte`.
    pub async fn send(
        &self,
        state: &AppState,
        wire: Wire,
        body: Vec<u8>,
        req: &ClientRequest,
        first_byte: Duration,
    ) -> Result<Reply, SendError> {
        match self.kind {
            UpstreamKind::Openai => openai::send(state, self, wire, body, first_byte).await,
            UpstreamKind::Anthropic => {
                anthropic::send(state, self, wire, body, req, first_byte).await
            }
            UpstreamKind::Demo => Ok(demo::send(state, self, wire, req)),
        }
    }

    /// The name this upstream knows a model by.
    pub fn upstream_model<'a>(&'a self, model: &'a str) -> &'a str {
        self.model_map
            .get(model)
            .map(String::as_str)
            .unwrap_or(model)
    }
}

#[derive(Debug)]
pub struct SendError {
    pub message: String,
    pub timed_out: bool,
}

impl SendError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            timed_out: false,
        }
    }

    pub fn timeout(message: impl Into<String>) -> Self {
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

    /// The whole body as the chunks it came in, up to `max` bytes, taken from `budget`.
    pub async fn read_whole(
        mut self,
        idle: Duration,
        max: usize,
        budget: &BufferBudget,
    ) -> Result<Buffered, WholeError> {
        let mut whole = budget.answer();
        while let Some(chunk) = self.next_chunk(idle).await.map_err(WholeError::Send)? {
            if whole.len() + chunk.len() > max {
                return Err(WholeError::Send(SendError::new(format!(
                    "sent a response over {max} bytes"
                ))));
            }
            whole.push(chunk).map_err(|_| WholeError::OverBudget)?;
        }
        Ok(whole)
    }

    /// The whole body, up to `max` bytes (a small one: an error's).
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
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Sends a built request and waits for the answer's headers, up to `first_byte`.
pub async fn send_http(
    request: reqwest::RequestBuilder,
    first_byte: Duration,
) -> Result<Reply, SendError> {
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

/// Why a whole answer could not be read.
pub enum WholeError {
    Send(SendError),
    /// The server is buffering as much as it may already.
    OverBudget,
}

pub struct UpstreamSet {
    pub list: Vec<Arc<Upstream>>,
}

impl UpstreamSet {
    /// Builds the set, resolving `api_key_env` now; health carries over from `previous` by name,
    /// so a reload does not forget which upstream is failing.
    pub fn from_config(configs: &[UpstreamConfig], previous: Option<&UpstreamSet>) -> UpstreamSet {
        let old: HashMap<&str, Arc<Health>> = previous
            .map(|p| {
                p.list
                    .iter()
                    .map(|u| (u.name.as_str(), u.health.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let list = configs
            .iter()
            .filter(|c| c.enabled)
            .map(|c| {
                let api_key = match (&c.api_key, &c.api_key_env) {
                    (Some(k), _) => Some(k.clone()),
                    (None, Some(var)) => match std::env::var(var) {
                        Ok(k) if !k.is_empty() => Some(k),
                        _ => {
                            tracing::warn!(upstream = %c.name, var = %var, "API key variable is not set");
                            None
                        }
                    },
                    (None, None) => None,
                };
                let base_url = c.base_url.trim_end_matches('/').to_string();
                let urls = Wire::ALL.map(|wire| match c.kind {
                    UpstreamKind::Openai => openai::url(&base_url, wire, c.responses),
                    UpstreamKind::Anthropic => anthropic::url(&base_url, wire),
                    UpstreamKind::Demo => None,
                });
                if c.kind != UpstreamKind::Demo && urls.iter().all(Option::is_none) {
                    tracing::warn!(upstream = %c.name, %base_url, "base_url does not parse as a URL");
                }
                Arc::new(Upstream {
                    name: c.name.clone(),
                    kind: c.kind,
                    base_url,
                    urls,
                    api_key,
                    models: c.models.clone(),
                    model_map: c.model_map.clone(),
                    drop_betas: c.drop_betas.clone(),
                    responses: c.responses,
                    priority: c.priority,
                    weight: c.weight.max(1),
                    health: old.get(c.name.as_str()).cloned().unwrap_or_default(),
                })
            })
            .collect();
        UpstreamSet { list }
    }

    pub fn serves(&self, model: &str) -> bool {
        self.list.iter().any(|u| u.serves(model))
    }

    /// Every model some upstream serves.
    pub fn models(&self) -> Vec<&str> {
        let mut models: Vec<&str> = self
            .list
            .iter()
            .flat_map(|u| u.models.iter().map(String::as_str))
            .collect();
        models.sort_unstable();
        models.dedup();
        models
    }
}
