//! Anthropic Messages (`/v1/messages`, with or without `?beta=true`), as Claude Code and the
//! Anthropic SDKs speak it: `system`, `messages` of content blocks and `tools` in; content blocks
//! out; streams of named events (`message_start` … `message_stop`). Usage counts prompt tokens by
//! kind: `input_tokens` excludes the cache, `cache_read_input_tokens` and
//! `cache_creation_input_tokens` (with its 5-minute / 1-hour split) are reported apart.
//! Errors are `{"type":"error","error":{"type","message"}}`.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Dialect, EventKind, StreamMark, Wire};
use crate::error::ApiError;
use crate::relay::request::ClientRequest;
use crate::relay::tokenizer;
use crate::relay::usage::Usage;

pub struct Messages;

/// Client headers passed on to an `anthropic` upstream.
const FORWARDED: [&str; 2] = ["anthropic-version", "anthropic-beta"];

/// Tokens an image may cost, for the hold: Anthropic scales images to at most about 1.15
/// megapixels, about 1,600 tokens; this leaves room.
pub const IMAGE_ALLOWANCE: u64 = 4_000;

/// Framing tokens per message, for the bound and the count.
const PER_MESSAGE: u64 = 8;

impl Dialect for Messages {
    fn wire(&self) -> Wire {
        Wire::Messages
    }

    fn path(&self) -> &'static str {
        "/messages"
    }

    fn read(&self, req: &mut ClientRequest, headers: &HeaderMap) -> Result<(), ApiError> {
        req.max_output = req.count_field("max_tokens")?;
        if req.max_output.is_none() {
            return Err(ApiError::bad_request(
                "invalid_request",
                "max_tokens: Field required",
            ));
        }
        match req
            .raw("messages")
            .map(|m| serde_json::from_str::<Vec<Value>>(m.get()))
        {
            None => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "messages: Field required",
                ))
            }
            Some(Err(_)) => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "messages must be an array of message objects",
                ))
            }
            Some(Ok(list)) if list.iter().any(|m| !m.is_object()) => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "messages must be an array of message objects",
                ))
            }
            Some(Ok(_)) => {}
        }
        // One session's requests go to one upstream, so its prompt cache keeps hitting.
        req.session = headers
            .get("x-claude-code-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                req.raw("metadata")
                    .and_then(|m| serde_json::from_str::<Value>(m.get()).ok())
                    .and_then(|m| m["user_id"].as_str().map(str::to_string))
            })
            .filter(|s| !s.is_empty());
        for name in FORWARDED {
            if let Some(value) = headers.get(name) {
                req.forward_headers
                    .push((HeaderName::from_static(name), value.clone()));
            }
        }
        Ok(())
    }

    fn prompt_bound(&self, req: &ClientRequest) -> u64 {
        let part = |name: &str| {
            req.raw(name)
                .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
                .map_or(0, |v| bound_value(&v))
        };
        let messages = req
            .raw("messages")
            .and_then(|raw| serde_json::from_str::<Vec<Value>>(raw.get()).ok())
            .map_or(0, |list| {
                list.iter()
                    .map(|m| bound_value(m) + PER_MESSAGE)
                    .sum::<u64>()
            });
        part("system") + messages + part("tools") + PER_MESSAGE
    }

    fn count_prompt(&self, req: &ClientRequest) -> u64 {
        let mut text = String::new();
        let mut messages = 0;
        for name in ["system", "messages", "tools"] {
            if let Some(v) = req
                .raw(name)
                .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
            {
                if name == "messages" {
                    messages = v.as_array().map_or(0, Vec::len) as u64;
                }
                if name == "tools" {
                    text.push_str(&v.to_string());
                } else {
                    collect_text(&v, &mut text);
                }
            }
        }
        tokenizer::count(&text) + PER_MESSAGE * (messages + 1)
    }

    fn error_response(&self, error: &ApiError) -> Response {
        let mut response = (error.status, axum::Json(error_body(error))).into_response();
        if let Some(secs) = error.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        response
    }

    fn stream_error(&self, error: &ApiError, _mark: &StreamMark) -> Vec<u8> {
        format!("event: error\ndata: {}\n\n", error_body(error)).into_bytes()
    }

    fn answer_usage(&self, body: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
        let answer: WithUsage = serde_json::from_slice(body)?;
        Ok(answer.usage.map(|u| u.merged_into(Usage::default())))
    }

    fn answer_usage_from(
        &self,
        body: &mut dyn std::io::Read,
    ) -> Result<Option<Usage>, serde_json::Error> {
        let answer: WithUsage = serde_json::from_reader(body)?;
        Ok(answer.usage.map(|u| u.merged_into(Usage::default())))
    }

    fn read_event(&self, data: &str, usage: &mut Option<Usage>) -> EventKind {
        let Ok(event) = serde_json::from_str::<Event>(data) else {
            return EventKind::Content;
        };
        let reported = match event.kind.as_str() {
            "message_start" => event.message.and_then(|m| m.usage),
            // Cumulative: its figures replace those of `message_start`.
            "message_delta" => event.usage,
            "message_stop" => return EventKind::End,
            _ => None,
        };
        if let Some(reported) = reported {
            *usage = Some(reported.merged_into(usage.unwrap_or_default()));
        }
        EventKind::Content
    }

    fn count_output(&self, json: &[u8]) -> u64 {
        let Ok(value) = serde_json::from_slice::<Value>(json) else {
            return 0;
        };
        let mut text = String::new();
        // A whole message's content, or one stream event's delta.
        if let Some(content) = value.get("content") {
            collect_text(content, &mut text);
        }
        if let Some(delta) = value.get("delta") {
            for key in ["text", "thinking", "partial_json"] {
                if let Some(s) = delta[key].as_str() {
                    text.push_str(s);
                }
            }
        }
        tokenizer::count(&text)
    }
}

/// The error type Anthropic's clients know for each status.
pub fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 405 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 | 403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// An error in Anthropic's shape.
pub fn error_body(error: &ApiError) -> Value {
    json!({"type": "error", "error": {"type": error_type(error.status), "message": error.message}})
}

/// Anthropic's `usage`, fields as reported (absent ones keep what was known).
#[derive(Deserialize, Default)]
pub struct WireUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation: Option<CacheCreation>,
}

#[derive(Deserialize, Default)]
pub struct CacheCreation {
    #[serde(default)]
    pub ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default)]
    pub ephemeral_1h_input_tokens: Option<u64>,
}

impl WireUsage {
    /// These figures over `usage`. Cache writes come split by lifetime when the upstream says;
    /// a bare total is a 5-minute write, as Anthropic bills it.
    pub fn merged_into(self, mut usage: Usage) -> Usage {
        if let Some(n) = self.input_tokens {
            usage.input = n;
        }
        if let Some(n) = self.output_tokens {
            usage.output = n;
        }
        if let Some(n) = self.cache_read_input_tokens {
            usage.cache_read = n;
        }
        let split = self.cache_creation.filter(|c| {
            c.ephemeral_5m_input_tokens.is_some() || c.ephemeral_1h_input_tokens.is_some()
        });
        match (split, self.cache_creation_input_tokens) {
            (Some(split), _) => {
                usage.cache_write_5m = split.ephemeral_5m_input_tokens.unwrap_or(0);
                usage.cache_write_1h = split.ephemeral_1h_input_tokens.unwrap_or(0);
            }
            (None, Some(total)) => {
                usage.cache_write_5m = total;
                usage.cache_write_1h = 0;
            }
            (None, None) => {}
        }
        usage
    }
}

#[derive(Deserialize)]
struct WithUsage {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: Option<WithUsage>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// An upper bound on a value's tokens: the bytes of its text (a BPE token covers at least one
/// byte), an allowance per image, and keys and small values counted as bytes too.
pub fn bound_value(value: &Value) -> u64 {
    bound_with_media(value, &["image"], IMAGE_ALLOWANCE)
}

/// The same bound, with `allowance` for an object whose `type` is one of `media`.
pub fn bound_with_media(value: &Value, media: &[&str], allowance: u64) -> u64 {
    match value {
        Value::String(s) => s.len() as u64,
        Value::Array(items) => items
            .iter()
            .map(|v| bound_with_media(v, media, allowance))
            .sum(),
        Value::Object(map) => {
            if map
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| media.contains(&t))
            {
                return allowance;
            }
            map.iter()
                .map(|(k, v)| k.len() as u64 + bound_with_media(v, media, allowance))
                .sum()
        }
        Value::Number(_) => 4,
        Value::Bool(_) | Value::Null => 1,
    }
}

/// The text a model reads in `system`, message contents or blocks: text, thinking, tool inputs
/// and results.
pub fn collect_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => items.iter().for_each(|v| collect_text(v, out)),
        Value::Object(map) => {
            for key in ["text", "thinking", "content"] {
                if let Some(v) = map.get(key) {
                    collect_text(v, out);
                }
            }
            if let Some(input) = map.get("input") {
                out.push_str(&input.to_string());
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str, headers: &HeaderMap) -> Result<ClientRequest, ApiError> {
        ClientRequest::parse(&Messages, body.as_bytes(), headers)
    }

    #[test]
    fn reads_what_admission_needs() {
        let mut headers = HeaderMap::new();
        headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        headers.insert("anthropic-beta", HeaderValue::from_static("a,b"));
        headers.insert("x-claude-code-session-id", HeaderValue::from_static("s-1"));
        let r = parse(
            r#"{"model":"claude","max_tokens":32000,"stream":true,"system":[{"type":"text","text":"Be terse."}],
                "messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u-1"}}"#,
            &headers,
        )
        .unwrap();
        assert_eq!((r.max_output, r.stream), (Some(32000), true));
        assert_eq!(r.session.as_deref(), Some("s-1"));
        assert_eq!(r.forward_headers.len(), 2);
        let r = parse(
            r#"{"model":"claude","max_tokens":1,"messages":[],"metadata":{"user_id":"u-1"}}"#,
            &HeaderMap::new(),
        )
        .unwrap();
        assert_eq!(r.session.as_deref(), Some("u-1"), "else metadata.user_id");
        for (body, needle) in [
            (r#"{"model":"m","messages":[]}"#, "max_tokens"),
            (r#"{"model":"m","max_tokens":5}"#, "messages"),
            (
                r#"{"model":"m","max_tokens":5,"messages":[1]}"#,
                "message objects",
            ),
            (
                r#"{"model":"m","max_tokens":-5,"messages":[]}"#,
                "max_tokens",
            ),
        ] {
            let e = parse(body, &HeaderMap::new()).err().unwrap();
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
    }

    #[test]
    fn usage_by_kind_from_a_whole_answer_and_from_events() {
        let body = br#"{"id":"m","content":[],"usage":{"input_tokens":50,"output_tokens":60,
            "cache_read_input_tokens":8000,"cache_creation_input_tokens":2000,
            "cache_creation":{"ephemeral_5m_input_tokens":500,"ephemeral_1h_input_tokens":1500}}}"#;
        let u = Messages.answer_usage(body).unwrap().unwrap();
        assert_eq!(
            (
                u.input,
                u.cache_read,
                u.cache_write_5m,
                u.cache_write_1h,
                u.output
            ),
            (50, 8000, 500, 1500, 60)
        );
        // Only the total of cache writes: a 5-minute write.
        let body =
            br#"{"usage":{"input_tokens":5,"output_tokens":6,"cache_creation_input_tokens":70}}"#;
        let u = Messages.answer_usage(body).unwrap().unwrap();
        assert_eq!((u.cache_write_5m, u.cache_write_1h), (70, 0));

        let mut usage = None;
        let start = r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":50,"output_tokens":1,"cache_read_input_tokens":8000,"cache_creation_input_tokens":0}}}"#;
        assert_eq!(Messages.read_event(start, &mut usage), EventKind::Content);
        let delta = r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":60}}"#;
        Messages.read_event(delta, &mut usage);
        let u = usage.unwrap();
        assert_eq!((u.input, u.cache_read, u.output), (50, 8000, 60));
        assert_eq!(
            Messages.read_event(r#"{"type":"message_stop"}"#, &mut usage),
            EventKind::End
        );
    }

    #[test]
    fn the_bound_covers_the_count_and_images_get_an_allowance() {
        let r = parse(
            r#"{"model":"m","max_tokens":5,"system":"You are terse. 你好",
                "messages":[{"role":"user","content":[{"type":"text","text":"héllo wörld"},
                  {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]},
                  {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"Read","input":{"path":"/x"}}]}],
                "tools":[{"name":"Read","description":"reads","input_schema":{"type":"object"}}]}"#,
            &HeaderMap::new(),
        )
        .unwrap();
        let bound = Messages.prompt_bound(&r);
        assert!(bound >= Messages.count_prompt(&r), "{bound}");
        assert!(bound >= IMAGE_ALLOWANCE);
    }

    #[test]
    fn errors_in_anthropics_shape() {
        let e = ApiError::forbidden("insufficient_quota", "top up");
        assert_eq!(
            error_body(&e),
            json!({"type": "error", "error": {"type": "permission_error", "message": "top up"}})
        );
        let event = String::from_utf8(Messages.stream_error(&e, &StreamMark::default())).unwrap();
        assert!(event.starts_with("event: error\ndata: {"), "{event}");
        assert_eq!(
            error_type(StatusCode::SERVICE_UNAVAILABLE),
            "overloaded_error"
        );
        assert_eq!(error_type(StatusCode::BAD_GATEWAY), "api_error");
    }
}
