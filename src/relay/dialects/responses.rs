//! OpenAI Responses (`/v1/responses`), as Codex and the OpenAI SDKs speak it: `instructions` and
//! `input` items (messages of `input_text` parts, `function_call` and `function_call_output`,
//! `reasoning`) in; `output` items out; streams of typed events (`response.created` …
//! `response.completed`, every `data:` carrying its `"type"`). Usage counts `input_tokens` with
//! the cached ones inside (`input_tokens_details.cached_tokens`) and `output_tokens` with the
//! reasoning ones inside. Errors before a stream are OpenAI's error JSON; inside one, a
//! `response.failed` event whose `error.code` says what a client should do
//! (`insufficient_quota`: stop; `rate_limit_exceeded`: wait the seconds named; others: retry).
//!
//! `/v1/responses/compact` ([`Compact`]) takes the same body, never streamed, and answers the
//! conversation's shorter replacement as `output` items.

use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Dialect, EventKind, StreamMark, Wire};
use crate::error::ApiError;
use crate::relay::request::ClientRequest;
use crate::relay::tokenizer;
use crate::relay::usage::Usage;

pub struct Responses;

/// `/v1/responses/compact`.
pub struct Compact;

/// Tokens an image or file part may cost, for the hold.
pub const MEDIA_ALLOWANCE: u64 = 4_000;

/// Framing tokens per input item, for the bound and the count.
const PER_ITEM: u64 = 4;

impl Dialect for Responses {
    fn wire(&self) -> Wire {
        Wire::Responses
    }

    fn path(&self) -> &'static str {
        "/responses"
    }

    fn read(&self, req: &mut ClientRequest, headers: &HeaderMap) -> Result<(), ApiError> {
        read_request(req, headers)
    }

    fn prompt_bound(&self, req: &ClientRequest) -> u64 {
        prompt_bound(req)
    }

    fn count_prompt(&self, req: &ClientRequest) -> u64 {
        count_prompt(req)
    }

    fn mark(&self, data: &str, mark: &mut StreamMark) {
        if let Some(n) = sequence_number(data) {
            mark.sequence = Some(n);
        }
        if mark.id.is_none() && data.contains("\"response.created\"") {
            mark.id = serde_json::from_str::<Value>(data)
                .ok()
                .and_then(|e| e["response"]["id"].as_str().map(str::to_string));
        }
    }

    fn stream_error(&self, error: &ApiError, mark: &StreamMark) -> Vec<u8> {
        let (code, message) = failure_code(error);
        let response = mark
            .id
            .as_ref()
            .map(|id| json!({"id": id, "object": "response", "output": []}));
        let sequence = mark.sequence.map_or(0, |n| n + 1);
        let mut out = Vec::new();
        crate::relay::translate::sse_event(
            &mut out,
            Some("response.failed"),
            &failed_event(response, sequence, code, &message),
        );
        out
    }

    fn answer_usage(&self, body: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
        let answer: WithUsage = serde_json::from_slice(body)?;
        Ok(answer.usage.map(WireUsage::normalized))
    }

    fn answer_usage_from(
        &self,
        body: &mut dyn std::io::Read,
    ) -> Result<Option<Usage>, serde_json::Error> {
        let answer: WithUsage = serde_json::from_reader(body)?;
        Ok(answer.usage.map(WireUsage::normalized))
    }

    fn read_event(&self, data: &str, usage: &mut Option<Usage>) -> EventKind {
        // Only the events that end a response carry usage; the rest need no full parse.
        let ends = [
            "response.completed",
            "response.incomplete",
            "response.failed",
        ]
        .iter()
        .any(|name| data.contains(name));
        if !ends {
            return EventKind::Content;
        }
        let Ok(event) = serde_json::from_str::<Event>(data) else {
            return EventKind::Content;
        };
        let reported = event.response.and_then(|r| r.usage);
        match event.kind.as_str() {
            "response.completed" | "response.incomplete" => {
                if let Some(u) = reported {
                    *usage = Some(u.normalized());
                }
                EventKind::End
            }
            "response.failed" => {
                if let Some(u) = reported {
                    *usage = Some(u.normalized());
                }
                EventKind::Failed
            }
            _ => EventKind::Content,
        }
    }

    fn count_output(&self, json: &[u8]) -> u64 {
        count_output(json)
    }
}

impl Dialect for Compact {
    fn wire(&self) -> Wire {
        Wire::ResponsesCompact
    }

    fn path(&self) -> &'static str {
        "/responses/compact"
    }

    fn read(&self, req: &mut ClientRequest, headers: &HeaderMap) -> Result<(), ApiError> {
        if req.stream {
            return Err(ApiError::bad_request(
                "invalid_request",
                "responses/compact answers in one piece: stream must be false or left out",
            ));
        }
        read_request(req, headers)
    }

    fn prompt_bound(&self, req: &ClientRequest) -> u64 {
        prompt_bound(req)
    }

    fn count_prompt(&self, req: &ClientRequest) -> u64 {
        count_prompt(req)
    }

    fn answer_usage(&self, body: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
        Responses.answer_usage(body)
    }

    fn answer_usage_from(
        &self,
        body: &mut dyn std::io::Read,
    ) -> Result<Option<Usage>, serde_json::Error> {
        Responses.answer_usage_from(body)
    }

    fn read_event(&self, data: &str, usage: &mut Option<Usage>) -> EventKind {
        Responses.read_event(data, usage)
    }

    fn count_output(&self, json: &[u8]) -> u64 {
        count_output(json)
    }
}

fn read_request(req: &mut ClientRequest, headers: &HeaderMap) -> Result<(), ApiError> {
    req.max_output = req.count_field("max_output_tokens")?;
    match req
        .raw("input")
        .map(|raw| serde_json::from_str::<Value>(raw.get()))
    {
        None => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "input is required: a string or an array of input items",
            ))
        }
        Some(Ok(Value::String(_))) => {}
        Some(Ok(Value::Array(items))) if items.iter().all(Value::is_object) => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "input must be a string or an array of input item objects",
            ))
        }
    }
    // One conversation's requests go to one upstream, so its prompt cache keeps hitting.
    req.session = req
        .raw("prompt_cache_key")
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .or_else(|| {
            headers
                .get("session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .filter(|s| !s.is_empty());
    Ok(())
}

fn prompt_bound(req: &ClientRequest) -> u64 {
    let items = match req.value("input") {
        Some(Value::Array(items)) => items.iter().map(|i| bound_value(i) + PER_ITEM).sum::<u64>(),
        Some(v) => bound_value(&v) + PER_ITEM,
        None => 0,
    };
    let part = |name| req.value(name).map_or(0, |v| bound_value(&v));
    part("instructions") + items + part("tools") + PER_ITEM
}

/// The byte bound of messages.rs, with an allowance per image or file part.
fn bound_value(value: &Value) -> u64 {
    super::messages::bound_with_media(value, &["input_image", "input_file"], MEDIA_ALLOWANCE)
}

fn count_prompt(req: &ClientRequest) -> u64 {
    let mut text = String::new();
    let mut items = 1;
    if let Some(v) = req.value("instructions") {
        collect_text(&v, &mut text);
    }
    match req.value("input") {
        Some(Value::Array(list)) => {
            items += list.len() as u64;
            list.iter().for_each(|i| collect_text(i, &mut text));
        }
        Some(v) => {
            items += 1;
            collect_text(&v, &mut text);
        }
        None => {}
    }
    if let Some(tools) = req.value("tools") {
        text.push_str(&tools.to_string());
    }
    tokenizer::count(&text) + PER_ITEM * items
}

/// The text a model reads in input or output items: message text, tool calls' names and
/// arguments, tool outputs, reasoning summaries and text.
pub fn collect_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => items.iter().for_each(|v| collect_text(v, out)),
        Value::Object(map) => {
            for key in [
                "text",
                "content",
                "summary",
                "name",
                "arguments",
                "output",
                "input",
            ] {
                if let Some(v) = map.get(key) {
                    collect_text(v, out);
                }
            }
        }
        _ => {}
    }
}

/// Output tokens in a whole answer (its `output` items) or one stream event (the `delta` of a
/// `….delta` event; the events that repeat a finished item's text count nothing).
fn count_output(json: &[u8]) -> u64 {
    let Ok(value) = serde_json::from_slice::<Value>(json) else {
        return 0;
    };
    let mut text = String::new();
    match value.get("type").and_then(Value::as_str) {
        Some(kind) if kind.ends_with(".delta") => {
            if let Some(delta) = value["delta"].as_str() {
                text.push_str(delta);
            }
        }
        Some(kind) if kind.starts_with("response.") => {}
        _ => {
            if let Some(output) = value.get("output") {
                collect_text(output, &mut text);
            }
        }
    }
    tokenizer::count(&text)
}

/// The Responses API's `usage`.
#[derive(Deserialize, Default)]
pub struct WireUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    pub output_tokens_details: Option<OutputDetails>,
}

#[derive(Deserialize, Default)]
pub struct InputDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
pub struct OutputDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// Cached tokens are inside `input_tokens` and reasoning inside `output_tokens`: taken out of
    /// one, kept inside the other (reasoning is billed as output).
    pub fn normalized(self) -> Usage {
        let cached = self
            .input_tokens_details
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
            .min(self.input_tokens);
        let reasoning = self
            .output_tokens_details
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0)
            .min(self.output_tokens);
        Usage {
            input: self.input_tokens - cached,
            cache_read: cached,
            output: self.output_tokens,
            reasoning,
            ..Usage::default()
        }
    }
}

/// Normalized usage in the Responses API's shape (cache writes are input to it).
pub fn wire_usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.prompt(),
        "input_tokens_details": {"cached_tokens": u.cache_read},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.prompt().saturating_add(u.output),
    })
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
    response: Option<WithUsage>,
}

/// An event's `sequence_number`, found without parsing the whole event.
fn sequence_number(data: &str) -> Option<u64> {
    const KEY: &str = "\"sequence_number\":";
    let at = data.find(KEY)? + KEY.len();
    let digits: String = data[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The `error.code` and message of a `response.failed` for an error of the gateway's: the codes
/// Codex acts on — `insufficient_quota` (not retried), `rate_limit_exceeded` with the wait in
/// the message ("try again in Ns"), `server_error` for the rest (retried).
pub fn failure_code(error: &ApiError) -> (&'static str, String) {
    if error.code == "insufficient_quota" {
        return ("insufficient_quota", error.message.clone());
    }
    if error.status == StatusCode::TOO_MANY_REQUESTS {
        let secs = error.retry_after_secs.unwrap_or(1);
        return (
            "rate_limit_exceeded",
            format!("{} Please try again in {secs}s.", error.message),
        );
    }
    ("server_error", error.message.clone())
}

/// A `response.failed` event's data.
pub fn failed_event(response: Option<Value>, sequence: u64, code: &str, message: &str) -> Value {
    let mut response = response
        .unwrap_or_else(|| json!({"id": "resp_failed", "object": "response", "output": []}));
    response["status"] = json!("failed");
    response["error"] = json!({"code": code, "message": message});
    json!({"type": "response.failed", "sequence_number": sequence, "response": response})
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn parse(body: &str, headers: &HeaderMap) -> Result<ClientRequest, ApiError> {
        ClientRequest::parse(&Responses, body.as_bytes(), headers)
    }

    #[test]
    fn reads_what_admission_needs() {
        let mut headers = HeaderMap::new();
        headers.insert("session-id", HeaderValue::from_static("s-1"));
        let r = parse(
            r#"{"model":"gpt","stream":true,"max_output_tokens":900,"prompt_cache_key":"k-1",
                "input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}]}"#,
            &headers,
        )
        .unwrap();
        assert_eq!((r.max_output, r.stream), (Some(900), true));
        assert_eq!(r.session.as_deref(), Some("k-1"), "prompt_cache_key first");
        let r = parse(r#"{"model":"gpt","input":"hi"}"#, &headers).unwrap();
        assert_eq!(
            r.session.as_deref(),
            Some("s-1"),
            "else the session-id header"
        );
        for (body, needle) in [
            (r#"{"model":"m"}"#, "input is required"),
            (r#"{"model":"m","input":5}"#, "input must be"),
            (r#"{"model":"m","input":[1]}"#, "input must be"),
            (
                r#"{"model":"m","input":"x","max_output_tokens":-1}"#,
                "max_output_tokens",
            ),
        ] {
            let e = parse(body, &HeaderMap::new()).err().unwrap();
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
        let e = ClientRequest::parse(
            &Compact,
            br#"{"model":"m","input":"x","stream":true}"#,
            &HeaderMap::new(),
        )
        .err()
        .unwrap();
        assert!(e.message.contains("stream"), "{}", e.message);
    }

    #[test]
    fn usage_takes_cached_out_of_input_and_keeps_reasoning_in_output() {
        let body = br#"{"id":"resp_1","output":[],"usage":{"input_tokens":1200,
            "input_tokens_details":{"cached_tokens":1000},"output_tokens":90,
            "output_tokens_details":{"reasoning_tokens":40},"total_tokens":1290}}"#;
        let u = Responses.answer_usage(body).unwrap().unwrap();
        assert_eq!(
            (u.input, u.cache_read, u.output, u.reasoning),
            (200, 1000, 90, 40)
        );
        assert_eq!(wire_usage(&u)["input_tokens"], 1200);
        assert_eq!(wire_usage(&u)["total_tokens"], 1290);

        let mut usage = None;
        let delta = r#"{"type":"response.output_text.delta","delta":"response.completed","sequence_number":3}"#;
        assert_eq!(Responses.read_event(delta, &mut usage), EventKind::Content);
        assert!(usage.is_none());
        let done = r#"{"type":"response.completed","sequence_number":9,"response":{"id":"r","usage":{"input_tokens":10,"output_tokens":5,"total_tokens":15}}}"#;
        assert_eq!(Responses.read_event(done, &mut usage), EventKind::End);
        assert_eq!(usage.unwrap().output, 5);
        let failed = r#"{"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_error","message":"x"}}}"#;
        assert_eq!(Responses.read_event(failed, &mut None), EventKind::Failed);
    }

    #[test]
    fn output_is_counted_from_deltas_only() {
        let delta = br#"{"type":"response.output_text.delta","delta":"hello world"}"#;
        let done = br#"{"type":"response.output_text.done","text":"hello world"}"#;
        assert!(count_output(delta) > 0);
        assert_eq!(count_output(done), 0);
        let whole = br#"{"output":[{"type":"message","content":[{"type":"output_text","text":"hello world"}]}]}"#;
        assert_eq!(count_output(whole), count_output(delta));
    }

    #[test]
    fn the_bound_covers_the_count() {
        let r = parse(
            r#"{"model":"m","instructions":"You are a coding agent. 你好",
                "input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"sandbox: none"}]},
                  {"type":"message","role":"user","content":[{"type":"input_text","text":"héllo"},{"type":"input_image","image_url":"data:image/png;base64,AAAA"}]},
                  {"type":"function_call","call_id":"c1","name":"shell","arguments":"{\"command\":[\"ls\"]}"},
                  {"type":"function_call_output","call_id":"c1","output":"a.txt\nb.txt"}],
                "tools":[{"type":"function","name":"shell","parameters":{"type":"object"}}]}"#,
            &HeaderMap::new(),
        )
        .unwrap();
        let bound = Responses.prompt_bound(&r);
        assert!(bound >= Responses.count_prompt(&r), "{bound}");
        assert!(bound >= MEDIA_ALLOWANCE);
    }

    #[test]
    fn errors_inside_a_stream_carry_the_codes_codex_acts_on() {
        let quota = ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_quota",
            "insufficient_quota",
            "top up",
        );
        assert_eq!(failure_code(&quota).0, "insufficient_quota");
        let mut limited = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limited",
            "slow down.",
        );
        limited.retry_after_secs = Some(7);
        let (code, message) = failure_code(&limited);
        assert_eq!(code, "rate_limit_exceeded");
        assert!(message.contains("try again in 7s"), "{message}");
        let mut mark = StreamMark::default();
        Responses.mark(
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_9"}}"#,
            &mut mark,
        );
        Responses.mark(
            r#"{"type":"response.output_text.delta","sequence_number": 4,"delta":"x"}"#,
            &mut mark,
        );
        assert_eq!(
            (mark.sequence, mark.id.as_deref()),
            (Some(4), Some("resp_9"))
        );
        let event = String::from_utf8(Responses.stream_error(&ApiError::busy(), &mark)).unwrap();
        assert!(event.contains(r#""sequence_number":5"#), "{event}");
        assert!(event.contains(r#""id":"resp_9""#), "{event}");
        assert!(
            event.starts_with("event: response.failed\ndata: {"),
            "{event}"
        );
        assert!(event.contains(r#""code":"server_error""#), "{event}");
        assert!(event.contains(r#""type":"response.failed""#), "{event}");
    }
}
