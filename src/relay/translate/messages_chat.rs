//! Anthropic Messages from the client, OpenAI chat completions upstream: how Claude Code runs on
//! an OpenAI-compatible provider. The request's system text, messages of content blocks
//! (text, images, PDFs, tool calls and results) and tools become chat messages and functions; the
//! answer's choices become content blocks; the chat stream becomes Messages events as it arrives.
//!
//! Dropped on the way, because chat completions has no such thing and the answer means the same
//! without them: `cache_control` marks, `thinking` and `output_config` (reasoning settings of
//! Anthropic models), `context_management`, `metadata`, `top_k`, `service_tier`, and earlier
//! turns' thinking blocks. Refused with a 400: tools that run on Anthropic's servers
//! (`web_search`, `code_execution`, …) and content blocks chat cannot carry.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::chat_chunk::Chunk;
use super::{sse_event, StreamTranslator, Translation};
use crate::error::ApiError;
use crate::relay::dialects::{EventKind, Wire};
use crate::relay::request::ClientRequest;
use crate::relay::usage::{openai_usage_in, Usage};

pub static MESSAGES_TO_CHAT: Translation = Translation {
    client: Wire::Messages,
    upstream: Wire::Chat,
    request,
    answer,
    stream,
};

fn refuse(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("untranslatable", message)
}

/// The text of a `system` value or of text blocks.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// An image or PDF block as a chat content part.
fn media_part(block: &Value) -> Result<Value, ApiError> {
    let source = &block["source"];
    let kind = block["type"].as_str().unwrap_or("");
    match (kind, source["type"].as_str()) {
        ("image", Some("base64")) => Ok(json!({"type": "image_url", "image_url": {"url": format!(
            "data:{};base64,{}",
            source["media_type"].as_str().unwrap_or("image/png"),
            source["data"].as_str().unwrap_or("")
        )}})),
        ("image", Some("url")) => {
            Ok(json!({"type": "image_url", "image_url": {"url": source["url"]}}))
        }
        ("document", Some("base64")) => Ok(json!({"type": "file", "file": {
            "filename": block["title"].as_str().unwrap_or("document.pdf"),
            "file_data": format!("data:{};base64,{}", source["media_type"].as_str().unwrap_or("application/pdf"), source["data"].as_str().unwrap_or("")),
        }})),
        ("document", Some("text")) => Ok(json!({"type": "text", "text": source["data"]})),
        _ => Err(refuse(format!(
            "a `{kind}` block with a `{}` source cannot be sent to a chat completions upstream",
            source["type"].as_str().unwrap_or("missing")
        ))),
    }
}

/// A tool result's content as text for a `tool` message, and any images in it (chat tool
/// messages carry text only; the images follow in a user message).
fn tool_result_content(content: &Value) -> Result<(String, Vec<Value>), ApiError> {
    match content {
        Value::String(s) => Ok((s.clone(), Vec::new())),
        Value::Array(blocks) => {
            let mut text = Vec::new();
            let mut media = Vec::new();
            for b in blocks {
                match b["type"].as_str() {
                    Some("text") => text.push(b["text"].as_str().unwrap_or("").to_string()),
                    Some("image") | Some("document") => media.push(media_part(b)?),
                    other => {
                        return Err(refuse(format!(
                            "a tool result holding a `{}` block cannot be sent to a chat completions upstream",
                            other.unwrap_or("?")
                        )))
                    }
                }
            }
            Ok((text.join("\n"), media))
        }
        Value::Null => Ok((String::new(), Vec::new())),
        other => Ok((other.to_string(), Vec::new())),
    }
}

/// One Anthropic message as chat messages (a user turn with tool results becomes `tool`
/// messages, then the rest of the turn).
fn chat_messages(message: &Value, out: &mut Vec<Value>) -> Result<(), ApiError> {
    let role = message["role"].as_str().unwrap_or("user");
    let content = &message["content"];
    if let Value::String(text) = content {
        out.push(json!({"role": role, "content": text}));
        return Ok(());
    }
    let blocks = content.as_array().cloned().unwrap_or_default();
    match role {
        "assistant" => {
            let mut text = String::new();
            let mut calls = Vec::new();
            for b in &blocks {
                match b["type"].as_str() {
                    Some("text") => text.push_str(b["text"].as_str().unwrap_or("")),
                    Some("tool_use") => calls.push(json!({
                        "id": b["id"], "type": "function",
                        "function": {"name": b["name"], "arguments": b["input"].to_string()},
                    })),
                    // The model's own earlier reasoning: chat upstreams take none back.
                    Some("thinking") | Some("redacted_thinking") => {}
                    other => {
                        return Err(refuse(format!(
                            "an assistant `{}` block cannot be sent to a chat completions upstream",
                            other.unwrap_or("?")
                        )))
                    }
                }
            }
            let mut m = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) }});
            if !calls.is_empty() {
                m["tool_calls"] = Value::Array(calls);
            }
            out.push(m);
        }
        _ => {
            let mut parts = Vec::new();
            let mut trailing_media = Vec::new();
            for b in &blocks {
                match b["type"].as_str() {
                    Some("text") => parts.push(json!({"type": "text", "text": b["text"]})),
                    Some("image") | Some("document") => parts.push(media_part(b)?),
                    Some("tool_result") => {
                        let (mut text, media) = tool_result_content(&b["content"])?;
                        if b["is_error"] == json!(true) {
                            text = format!("Error: {text}");
                        }
                        out.push(json!({"role": "tool", "tool_call_id": b["tool_use_id"], "content": text}));
                        trailing_media.extend(media);
                    }
                    other => {
                        return Err(refuse(format!(
                            "a `{}` block cannot be sent to a chat completions upstream",
                            other.unwrap_or("?")
                        )))
                    }
                }
            }
            trailing_media.extend(parts);
            if !trailing_media.is_empty() {
                let role = if role == "system" { "system" } else { "user" };
                out.push(json!({"role": role, "content": trailing_media}));
            }
        }
    }
    Ok(())
}

fn tools(list: &[Value]) -> Result<Vec<Value>, ApiError> {
    list.iter()
        .map(|t| {
            if let Some(kind) = t["type"].as_str().filter(|k| *k != "custom") {
                return Err(refuse(format!(
                    "the tool `{}` ({kind}) runs on Anthropic's servers and cannot be sent to a chat completions upstream",
                    t["name"].as_str().unwrap_or("?")
                )));
            }
            let mut function = Map::new();
            function.insert("name".into(), t["name"].clone());
            if let Some(d) = t.get("description") {
                function.insert("description".into(), d.clone());
            }
            function.insert(
                "parameters".into(),
                t.get("input_schema").cloned().unwrap_or(json!({"type": "object"})),
            );
            Ok(json!({"type": "function", "function": function}))
        })
        .collect()
}

fn request(req: &ClientRequest, upstream_model: &str) -> Result<Vec<u8>, ApiError> {
    let mut messages = Vec::new();
    if let Some(system) = req.value("system") {
        let text = text_of(&system);
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    for m in req
        .value("messages")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
    {
        chat_messages(&m, &mut messages)?;
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(upstream_model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("max_tokens".into(), json!(req.output_bound));
    if let Some(list) = req.value("tools").and_then(|v| v.as_array().cloned()) {
        if !list.is_empty() {
            body.insert("tools".into(), Value::Array(tools(&list)?));
        }
    }
    if let Some(choice) = req.value("tool_choice") {
        let mapped = match choice["type"].as_str() {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => json!({"type": "function", "function": {"name": choice["name"]}}),
            _ => return Err(refuse("tool_choice must be auto, any, tool or none")),
        };
        body.insert("tool_choice".into(), mapped);
        if choice["disable_parallel_tool_use"] == json!(true) {
            body.insert("parallel_tool_calls".into(), json!(false));
        }
    }
    if let Some(stop) = req.value("stop_sequences") {
        body.insert("stop".into(), stop);
    }
    for name in ["temperature", "top_p"] {
        if let Some(v) = req.value(name) {
            body.insert(name.into(), v);
        }
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Value::Object(body).to_string().into_bytes())
}

/// Chat's finish reason as Anthropic's stop reason.
fn stop_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic's usage for normalized usage.
#[derive(Serialize)]
pub struct AnthropicUsage {
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    input_tokens: u64,
    output_tokens: u64,
}

pub fn anthropic_usage(u: &Usage) -> AnthropicUsage {
    AnthropicUsage {
        cache_creation_input_tokens: u.cache_write_5m + u.cache_write_1h,
        cache_read_input_tokens: u.cache_read,
        input_tokens: u.input,
        output_tokens: u.output,
    }
}

fn message_id(chat_id: Option<&str>) -> String {
    format!("msg_{}", chat_id.unwrap_or("code_router"))
}

/// A whole Messages answer, serialized from what it borrows of the chat answer (fields in
/// alphabetical order, as the JSON value built here before wrote them).
#[derive(Serialize)]
struct MessageAnswer<'a> {
    content: Vec<AnswerBlock<'a>>,
    id: String,
    model: &'a str,
    role: &'static str,
    stop_reason: &'static str,
    stop_sequence: (),
    #[serde(rename = "type")]
    kind: &'static str,
    usage: AnthropicUsage,
}

#[derive(Serialize)]
#[serde(untagged)]
enum AnswerBlock<'a> {
    Thinking {
        signature: &'static str,
        thinking: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Text {
        text: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    ToolUse {
        id: &'a Value,
        input: Value,
        name: &'a Value,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

fn answer(req: &ClientRequest, body: &[u8]) -> Result<Vec<u8>, String> {
    let chat: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let choice = &chat["choices"][0];
    let message = &choice["message"];
    let mut content = Vec::new();
    if let Some(thinking) = message["reasoning_content"]
        .as_str()
        .filter(|t| !t.is_empty())
    {
        content.push(AnswerBlock::Thinking {
            signature: "",
            thinking,
            kind: "thinking",
        });
    }
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(AnswerBlock::Text { text, kind: "text" });
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
        let input: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
        content.push(AnswerBlock::ToolUse {
            id: &call["id"],
            input,
            name: &call["function"]["name"],
            kind: "tool_use",
        });
    }
    let usage = openai_usage_in(&chat).unwrap_or_default();
    let out = MessageAnswer {
        content,
        id: message_id(chat["id"].as_str()),
        model: &req.model,
        role: "assistant",
        stop_reason: stop_reason(choice["finish_reason"].as_str().unwrap_or("stop")),
        stop_sequence: (),
        kind: "message",
        usage: anthropic_usage(&usage),
    };
    serde_json::to_vec(&out).map_err(|e| e.to_string())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool call: chat's index for it.
    Tool(u64),
}

/// Chat chunks → Messages events. Blocks open and close in order, as Anthropic streams them.
/// Events are serialized straight from the structs below (fields in alphabetical order, as the
/// JSON values this machine built before wrote them, so clients get the same bytes).
struct ChatToMessages {
    model: String,
    started: bool,
    /// The block being streamed: its index and what it is.
    open: Option<(u64, Block)>,
    next_index: u64,
    stop: &'static str,
}

fn stream(req: &ClientRequest) -> Box<dyn StreamTranslator> {
    Box::new(ChatToMessages {
        model: req.model.clone(),
        started: false,
        open: None,
        next_index: 0,
        stop: "end_turn",
    })
}

#[derive(Serialize)]
struct MessageStart<'a> {
    message: StartedMessage<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct StartedMessage<'a> {
    content: [(); 0],
    id: &'a str,
    model: &'a str,
    role: &'static str,
    stop_reason: (),
    stop_sequence: (),
    #[serde(rename = "type")]
    kind: &'static str,
    usage: NoTokens,
}

#[derive(Serialize)]
struct NoTokens {
    input_tokens: u64,
    output_tokens: u64,
}

/// `content_block_start`, `content_block_delta` and `content_block_stop`.
#[derive(Serialize)]
struct BlockEvent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    content_block: Option<BlockPiece<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<BlockPiece<'a>>,
    index: u64,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// A block as it starts, or one delta of it.
#[derive(Serialize)]
#[serde(untagged)]
enum BlockPiece<'a> {
    Text {
        text: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Thinking {
        thinking: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    ToolUse {
        id: &'a str,
        input: Empty,
        name: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Json {
        partial_json: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

/// `{}`.
#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct MessageDelta {
    delta: StopDelta,
    #[serde(rename = "type")]
    kind: &'static str,
    usage: AnthropicUsage,
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: (),
}

impl ChatToMessages {
    fn start(&mut self, chat_id: Option<&str>, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = message_id(chat_id);
        let event = MessageStart {
            message: StartedMessage {
                content: [],
                id: &id,
                model: &self.model,
                role: "assistant",
                stop_reason: (),
                stop_sequence: (),
                kind: "message",
                usage: NoTokens {
                    input_tokens: 0,
                    output_tokens: 0,
                },
            },
            kind: "message_start",
        };
        sse_event(out, Some("message_start"), &event);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some((index, _)) = self.open.take() {
            let event = BlockEvent {
                content_block: None,
                delta: None,
                index,
                kind: "content_block_stop",
            };
            sse_event(out, Some("content_block_stop"), &event);
        }
    }

    /// Makes `block` the open one (closing another), starting it with `first`.
    fn open(&mut self, block: Block, first: BlockPiece, out: &mut Vec<u8>) -> u64 {
        if let Some((index, open)) = self.open {
            if open == block {
                return index;
            }
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, block));
        let event = BlockEvent {
            content_block: Some(first),
            delta: None,
            index,
            kind: "content_block_start",
        };
        sse_event(out, Some("content_block_start"), &event);
        index
    }

    fn delta(out: &mut Vec<u8>, index: u64, delta: BlockPiece) {
        let event = BlockEvent {
            content_block: None,
            delta: Some(delta),
            index,
            kind: "content_block_delta",
        };
        sse_event(out, Some("content_block_delta"), &event);
    }
}

impl StreamTranslator for ChatToMessages {
    fn event(&mut self, kind: EventKind, data: Option<&str>, out: &mut Vec<u8>) {
        if kind != EventKind::Content {
            return;
        }
        let Some(mut chunk) = data.and_then(Chunk::read) else {
            return;
        };
        if let Some(error) = chunk.error {
            let message = error["message"]
                .as_str()
                .unwrap_or("the upstream reported an error");
            sse_event(
                out,
                Some("error"),
                &json!({"type": "error", "error": {"type": "api_error", "message": message}}),
            );
            return;
        }
        self.start(chunk.id.as_deref(), out);
        let Some(choice) = chunk.first_choice() else {
            return;
        };
        let mut delta = choice.delta.unwrap_or_default();
        if let Some(thinking) = delta.thinking() {
            let first = BlockPiece::Thinking {
                thinking: "",
                kind: "thinking",
            };
            let index = self.open(Block::Thinking, first, out);
            let piece = BlockPiece::Thinking {
                thinking: &thinking,
                kind: "thinking_delta",
            };
            Self::delta(out, index, piece);
        }
        if let Some(text) = delta.content.non_empty() {
            let first = BlockPiece::Text {
                text: "",
                kind: "text",
            };
            let index = self.open(Block::Text, first, out);
            let piece = BlockPiece::Text {
                text: &text,
                kind: "text_delta",
            };
            Self::delta(out, index, piece);
        }
        for call in delta.tool_calls.unwrap_or_default() {
            let function = call.function.unwrap_or_default();
            let first = BlockPiece::ToolUse {
                id: call.id.as_deref().unwrap_or(""),
                input: Empty {},
                name: function.name.as_deref().unwrap_or(""),
                kind: "tool_use",
            };
            let index = self.open(Block::Tool(call.index.0), first, out);
            if let Some(args) = function.arguments.non_empty() {
                let piece = BlockPiece::Json {
                    partial_json: &args,
                    kind: "input_json_delta",
                };
                Self::delta(out, index, piece);
            }
        }
        if let Some(finish) = choice.finish_reason.as_deref() {
            self.stop = stop_reason(finish);
        }
    }

    fn finish(&mut self, usage: &Usage, out: &mut Vec<u8>) {
        self.start(None, out);
        self.close(out);
        let event = MessageDelta {
            delta: StopDelta {
                stop_reason: self.stop,
                stop_sequence: (),
            },
            kind: "message_delta",
            usage: anthropic_usage(usage),
        };
        sse_event(out, Some("message_delta"), &event);
        out.extend_from_slice(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::dialects::messages::Messages;
    use axum::http::HeaderMap;

    fn parse(body: &str) -> ClientRequest {
        let mut r = ClientRequest::parse(&Messages, body.as_bytes(), &HeaderMap::new()).unwrap();
        r.output_bound = r.max_output.unwrap_or(4096);
        r
    }

    #[test]
    fn a_claude_code_turn_becomes_chat_messages_and_functions() {
        let r = parse(
            r#"{"model":"claude","max_tokens":32000,"stream":true,
              "system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],
              "messages":[
                {"role":"user","content":[{"type":"text","text":"Read notes.txt","cache_control":{"type":"ephemeral"}}]},
                {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"Reading."},{"type":"tool_use","id":"toolu_1","name":"Read","input":{"file_path":"/w/notes.txt"}}]},
                {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"42"}]},{"type":"text","text":"Thanks"}]},
                {"role":"system","content":"Be brief."}],
              "tools":[{"name":"Read","description":"Reads a file","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}},
                       {"name":"Later","description":"x","input_schema":{"type":"object"},"defer_loading":true}],
              "tool_choice":{"type":"auto"},"thinking":{"type":"adaptive"},"metadata":{"user_id":"u"},"context_management":{}}"#,
        );
        let body: Value = serde_json::from_slice(&request(&r, "gpt-up").unwrap()).unwrap();
        assert_eq!(body["model"], "gpt-up");
        assert_eq!(body["max_tokens"], 32000);
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        let m = body["messages"].as_array().unwrap();
        assert_eq!(
            m[0],
            json!({"role": "system", "content": "You are Claude Code."})
        );
        assert_eq!(
            m[1]["content"][0],
            json!({"type": "text", "text": "Read notes.txt"})
        );
        assert_eq!(m[2]["content"], "Reading.");
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            r#"{"file_path":"/w/notes.txt"}"#
        );
        assert_eq!(
            m[3],
            json!({"role": "tool", "tool_call_id": "toolu_1", "content": "42"})
        );
        assert_eq!(m[4]["content"][0]["text"], "Thanks");
        assert_eq!(m[5], json!({"role": "system", "content": "Be brief."}));
        assert_eq!(
            body["tools"][0]["function"]["parameters"]["properties"]["file_path"]["type"],
            "string"
        );
        assert_eq!(body["tools"].as_array().unwrap().len(), 2);
        assert_eq!(body["tool_choice"], "auto");
        for gone in ["thinking", "metadata", "context_management", "system"] {
            assert!(body.get(gone).is_none(), "{gone}");
        }
    }

    #[test]
    fn what_cannot_be_translated_is_refused() {
        for body in [
            r#"{"model":"m","max_tokens":5,"messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"server_tool_use","id":"x"}]}]}"#,
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}"#,
        ] {
            let e = request(&parse(body), "m").err().unwrap();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "untranslatable"),
                "{body}"
            );
        }
    }

    #[test]
    fn a_chat_answer_becomes_content_blocks() {
        let r = parse(r#"{"model":"claude","max_tokens":100,"messages":[]}"#);
        let chat = br#"{"id":"c1","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"Let me look.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"/x\"}"}}]}}],
            "usage":{"prompt_tokens":1200,"completion_tokens":90,"prompt_tokens_details":{"cached_tokens":1000}}}"#;
        let out: Value = serde_json::from_slice(&answer(&r, chat).unwrap()).unwrap();
        assert_eq!(out["type"], "message");
        assert_eq!(out["model"], "claude");
        assert_eq!(out["stop_reason"], "tool_use");
        assert_eq!(
            out["content"][0],
            json!({"type": "text", "text": "Let me look."})
        );
        assert_eq!(out["content"][1]["input"], json!({"file_path": "/x"}));
        assert_eq!(out["usage"]["input_tokens"], 200);
        assert_eq!(out["usage"]["cache_read_input_tokens"], 1000);
    }

    #[test]
    fn a_chat_stream_becomes_messages_events_in_order() {
        let r = parse(r#"{"model":"claude","max_tokens":100,"messages":[],"stream":true}"#);
        let mut t = stream(&r);
        let mut out = Vec::new();
        for chunk in [
            r#"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"reasoning_content":"Think"}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"Read","arguments":""}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5}}"#,
        ] {
            t.event(EventKind::Content, Some(chunk), &mut out);
        }
        t.event(EventKind::End, Some("[DONE]"), &mut out);
        let usage = Usage {
            input: 10,
            output: 5,
            ..Usage::default()
        };
        t.finish(&usage, &mut out);
        let text = String::from_utf8(out).unwrap();
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(text.contains(r#""stop_reason":"tool_use""#));
        assert!(text.contains(r#""partial_json":"{\"a\":""#));
        assert!(text.contains(r#""output_tokens":5"#));
    }
}
