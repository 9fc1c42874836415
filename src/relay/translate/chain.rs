//! Two translations end to end, through chat completions as the form between: how a Responses
//! client reaches an Anthropic upstream (Responses → chat → Messages) with no third translator
//! to keep. The request is rewritten twice; the answer back twice; a stream goes through both
//! state machines event by event, the chat chunks between them never gathered.

use axum::http::HeaderMap;

use super::{StreamTranslator, Translation};
use crate::error::ApiError;
use crate::relay::dialects::{Dialect, EventKind, Wire};
use crate::relay::request::ClientRequest;
use crate::relay::sse::{self, EventSplitter};
use crate::relay::usage::Usage;

/// Responses from the client, Anthropic Messages upstream.
pub static RESPONSES_TO_MESSAGES: Translation = Translation {
    client: Wire::Responses,
    upstream: Wire::Messages,
    request: |req, model| {
        request(
            &super::responses_chat::RESPONSES_TO_CHAT,
            &super::chat_messages::CHAT_TO_MESSAGES,
            req,
            model,
        )
    },
    answer: |req, body| {
        answer(
            &super::responses_chat::RESPONSES_TO_CHAT,
            &super::chat_messages::CHAT_TO_MESSAGES,
            req,
            body,
        )
    },
    stream: |req| {
        stream(
            &super::responses_chat::RESPONSES_TO_CHAT,
            &super::chat_messages::CHAT_TO_MESSAGES,
            req,
        )
    },
};

/// Compaction from the client, Anthropic Messages upstream.
pub static COMPACT_TO_MESSAGES: Translation = Translation {
    client: Wire::ResponsesCompact,
    upstream: Wire::Messages,
    request: |req, model| {
        request(
            &super::responses_chat::COMPACT_TO_CHAT,
            &super::chat_messages::CHAT_TO_MESSAGES,
            req,
            model,
        )
    },
    answer: |req, body| {
        answer(
            &super::responses_chat::COMPACT_TO_CHAT,
            &super::chat_messages::CHAT_TO_MESSAGES,
            req,
            body,
        )
    },
    stream: |req| {
        stream(
            &super::responses_chat::COMPACT_TO_CHAT,
            &super::chat_messages::CHAT_TO_MESSAGES,
            req,
        )
    },
};

/// The request in the form between, as a client of that form would have sent it.
fn between(
    first: &Translation,
    req: &ClientRequest,
    model: &str,
) -> Result<ClientRequest, ApiError> {
    let body = (first.request)(req, model)?;
    let mut mid = ClientRequest::parse(first.upstream.dialect(), &body, &HeaderMap::new())?;
    mid.output_bound = req.output_bound;
    mid.received_at = req.received_at;
    mid.wants_usage = true;
    Ok(mid)
}

fn request(
    first: &Translation,
    second: &Translation,
    req: &ClientRequest,
    model: &str,
) -> Result<Vec<u8>, ApiError> {
    let mid = between(first, req, model)?;
    (second.request)(&mid, model)
}

fn answer(
    first: &Translation,
    second: &Translation,
    req: &ClientRequest,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let mid = between(first, req, &req.model).map_err(|e| e.message)?;
    let between = (second.answer)(&mid, body)?;
    (first.answer)(req, &between)
}

fn stream(
    first: &'static Translation,
    second: &'static Translation,
    req: &ClientRequest,
) -> Box<dyn StreamTranslator> {
    // The request was rewritten this way once already, so it rewrites again.
    let inner = match between(first, req, &req.model) {
        Ok(mid) => (second.stream)(&mid),
        Err(_) => {
            let empty = format!(
                r#"{{"model":{},"messages":[]}}"#,
                serde_json::json!(req.model)
            );
            match ClientRequest::parse(
                first.upstream.dialect(),
                empty.as_bytes(),
                &HeaderMap::new(),
            ) {
                Ok(mid) => (second.stream)(&mid),
                Err(_) => (second.stream)(req),
            }
        }
    };
    Box::new(Chained {
        inner,
        outer: (first.stream)(req),
        between: first.upstream.dialect(),
        splitter: EventSplitter::default(),
        buffer: Vec::new(),
    })
}

struct Chained {
    /// Upstream events → events of the form between.
    inner: Box<dyn StreamTranslator>,
    /// Events of the form between → the client's.
    outer: Box<dyn StreamTranslator>,
    between: &'static dyn Dialect,
    splitter: EventSplitter,
    buffer: Vec<u8>,
}

impl Chained {
    /// Hands what the inner machine wrote, event by event, to the outer one.
    fn forward(&mut self, out: &mut Vec<u8>) {
        let written = std::mem::take(&mut self.buffer);
        // The inner machine writes whole events, each far below the splitter's limit.
        let events = self.splitter.push(&written).unwrap_or_default();
        let mut ignored = None;
        for event in events {
            let data = sse::data_of(&event);
            let kind = match &data {
                Some(d) => self.between.read_event(d, &mut ignored),
                None => EventKind::Content,
            };
            self.outer.event(kind, data.as_deref(), out);
        }
        self.buffer = written;
        self.buffer.clear();
    }
}

impl StreamTranslator for Chained {
    fn event(&mut self, kind: EventKind, data: Option<&str>, out: &mut Vec<u8>) {
        self.inner.event(kind, data, &mut self.buffer);
        self.forward(out);
    }

    fn finish(&mut self, usage: &Usage, out: &mut Vec<u8>) {
        self.inner.finish(usage, &mut self.buffer);
        self.forward(out);
        self.outer.finish(usage, out);
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<u8>) -> bool {
        self.outer.fail(error, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::dialects::responses::Responses;
    use serde_json::{json, Value};

    fn parse(body: &str) -> ClientRequest {
        let mut r = ClientRequest::parse(&Responses, body.as_bytes(), &HeaderMap::new()).unwrap();
        r.output_bound = 2048;
        r
    }

    #[test]
    fn a_responses_request_becomes_anthropic_messages() {
        let r = parse(
            r#"{"model":"m","instructions":"Be terse.","stream":true,"input":[
                {"type":"message","role":"user","content":[{"type":"input_text","text":"Read a.txt"}]},
                {"type":"function_call","call_id":"toolu_1","name":"shell","arguments":"{\"command\":[\"cat\",\"a.txt\"]}"},
                {"type":"function_call_output","call_id":"toolu_1","output":"42"}],
              "tools":[{"type":"function","name":"shell","parameters":{"type":"object"}}]}"#,
        );
        let body: Value =
            serde_json::from_slice(&(RESPONSES_TO_MESSAGES.request)(&r, "claude-up").unwrap())
                .unwrap();
        assert_eq!(body["model"], "claude-up");
        assert_eq!(body["system"], json!("Be terse."));
        assert_eq!(body["max_tokens"], 2048);
        assert_eq!(body["messages"][1]["content"][0]["type"], "tool_use");
        assert_eq!(
            body["messages"][1]["content"][0]["input"],
            json!({"command": ["cat", "a.txt"]})
        );
        assert_eq!(body["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(body["tools"][0]["name"], "shell");
    }

    #[test]
    fn a_messages_stream_becomes_responses_events() {
        let r = parse(r#"{"model":"m","input":"hi","stream":true}"#);
        let mut t = (RESPONSES_TO_MESSAGES.stream)(&r);
        let mut out = Vec::new();
        for event in [
            r#"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":5,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}"#,
        ] {
            t.event(EventKind::Content, Some(event), &mut out);
        }
        t.event(EventKind::End, Some(r#"{"type":"message_stop"}"#), &mut out);
        let usage = Usage {
            input: 5,
            output: 2,
            ..Usage::default()
        };
        t.finish(&usage, &mut out);
        let text = String::from_utf8(out).unwrap();
        let events: Vec<Value> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types.first(), Some(&"response.created"));
        assert_eq!(
            types
                .iter()
                .filter(|t| **t == "response.output_text.delta")
                .count(),
            2
        );
        assert_eq!(types.last(), Some(&"response.completed"));
        let done = &events.last().unwrap()["response"];
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(done["usage"]["output_tokens"], 2);
        assert_eq!(
            types.iter().filter(|t| **t == "response.completed").count(),
            1
        );
    }
}
