//! OpenAI chat completions from the client, Anthropic Messages upstream: any OpenAI SDK or tool on
//! an `anthropic` upstream. System and developer messages become `system`; user, assistant and
//! tool messages become alternating turns of content blocks (tool calls as `tool_use`, tool
//! messages as `tool_result`); functions become tools; the answer's content blocks become one
//! choice; the Messages stream becomes chat chunks as it arrives.
//!
//! Dropped on the way, as sampling hints Anthropic has no knob for: `seed`, `presence_penalty`,
//! `frequency_penalty`, `service_tier`. Refused with a 400, because the answer would mean
//! something else: `n` above 1, `logprobs`, `logit_bias`, a `response_format` other than text,
//! audio, and tools that are not functions.

use serde_json::{json, Map, Value};

use super::{sse_event, StreamTranslator, Translation};
use crate::error::ApiError;
use crate::relay::dialects::messages::WireUsage;
use crate::relay::dialects::{EventKind, Wire};
use crate::relay::request::ClientRequest;
use crate::relay::usage::Usage;

pub static CHAT_TO_MESSAGES: Translation = Translation {
    client: Wire::Chat,
    upstream: Wire::Messages,
    request,
    answer,
    stream,
};

fn refuse(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("untranslatable", message)
}

/// A chat content value as Anthropic content blocks.
fn blocks(content: &Value) -> Result<Vec<Value>, ApiError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![json!({"type": "text", "text": s})]),
        Value::Array(parts) => parts.iter().map(block).collect(),
        other => Err(refuse(format!(
            "message content must be text or parts, not {other}"
        ))),
    }
}

fn block(part: &Value) -> Result<Value, ApiError> {
    match part["type"].as_str() {
        Some("text") => Ok(json!({"type": "text", "text": part["text"]})),
        Some("image_url") => {
            let url = part["image_url"]["url"].as_str().unwrap_or("");
            match url
                .strip_prefix("data:")
                .and_then(|rest| rest.split_once(";base64,"))
            {
                Some((media_type, data)) => Ok(
                    json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
                ),
                None => Ok(json!({"type": "image", "source": {"type": "url", "url": url}})),
            }
        }
        Some("file") => {
            let data = part["file"]["file_data"].as_str().unwrap_or("");
            match data
                .strip_prefix("data:")
                .and_then(|rest| rest.split_once(";base64,"))
            {
                Some((media_type, data)) => Ok(
                    json!({"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}),
                ),
                None => Err(refuse(
                    "a file part must carry its data inline to reach an Anthropic upstream",
                )),
            }
        }
        other => Err(refuse(format!(
            "a `{}` content part cannot be sent to an Anthropic upstream",
            other.unwrap_or("?")
        ))),
    }
}

/// The text of a content value (for system prompts and tool results).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Appends blocks to a turn of `role`, starting a new turn when the role changes.
fn push_turn(turns: &mut Vec<(String, Vec<Value>)>, role: &str, content: Vec<Value>) {
    if content.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((last, blocks)) if last == role => blocks.extend(content),
        _ => turns.push((role.to_string(), content)),
    }
}

fn request(req: &ClientRequest, upstream_model: &str) -> Result<Vec<u8>, ApiError> {
    for (name, why) in [
        ("logprobs", "logprobs"),
        ("top_logprobs", "logprobs"),
        ("logit_bias", "logit_bias"),
        ("audio", "audio output"),
    ] {
        if req.value(name).is_some_and(|v| v != json!(false)) {
            return Err(refuse(format!(
                "{why} cannot be asked of an Anthropic upstream"
            )));
        }
    }
    if req.value("n").is_some_and(|n| n.as_u64() != Some(1)) {
        return Err(refuse(
            "an Anthropic upstream answers one choice: n must be 1",
        ));
    }
    if let Some(format) = req.value("response_format") {
        if format["type"].as_str() != Some("text") {
            return Err(refuse(
                "response_format json_object or json_schema cannot be asked of an Anthropic upstream",
            ));
        }
    }
    let mut system = Vec::new();
    let mut turns: Vec<(String, Vec<Value>)> = Vec::new();
    for m in req
        .value("messages")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
    {
        match m["role"].as_str().unwrap_or("") {
            "system" | "developer" => system.push(text_of(&m["content"])),
            "user" => push_turn(&mut turns, "user", blocks(&m["content"])?),
            "assistant" => {
                let mut content = blocks(&m["content"])?;
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
                    let input: Value = serde_json::from_str(if arguments.is_empty() {
                        "{}"
                    } else {
                        arguments
                    })
                    .map_err(|_| {
                        refuse(
                            "a tool call's arguments must be JSON to reach an Anthropic upstream",
                        )
                    })?;
                    content.push(json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input}));
                }
                push_turn(&mut turns, "assistant", content);
            }
            "tool" => {
                let result = json!({"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": text_of(&m["content"])});
                push_turn(&mut turns, "user", vec![result]);
            }
            other => {
                return Err(refuse(format!(
                    "a `{other}` message cannot be sent to an Anthropic upstream"
                )))
            }
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(upstream_model));
    body.insert("max_tokens".into(), json!(req.output_bound));
    let system: Vec<String> = system.into_iter().filter(|s| !s.is_empty()).collect();
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert(
        "messages".into(),
        Value::Array(
            turns
                .into_iter()
                .map(|(role, content)| json!({"role": role, "content": content}))
                .collect(),
        ),
    );
    if let Some(list) = req.value("tools").and_then(|v| v.as_array().cloned()) {
        let tools = list
            .iter()
            .map(|t| {
                if t["type"].as_str() != Some("function") {
                    return Err(refuse(
                        "only function tools can be sent to an Anthropic upstream",
                    ));
                }
                let f = &t["function"];
                let mut tool = Map::new();
                tool.insert("name".into(), f["name"].clone());
                if let Some(d) = f.get("description") {
                    tool.insert("description".into(), d.clone());
                }
                tool.insert(
                    "input_schema".into(),
                    f.get("parameters")
                        .cloned()
                        .unwrap_or(json!({"type": "object"})),
                );
                Ok(Value::Object(tool))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !tools.is_empty() {
            body.insert("tools".into(), Value::Array(tools));
        }
    }
    let parallel = req.value("parallel_tool_calls");
    if let Some(choice) = req.value("tool_choice") {
        let mut mapped = match (&choice, choice.as_str()) {
            (_, Some("auto")) => json!({"type": "auto"}),
            (_, Some("required")) => json!({"type": "any"}),
            (_, Some("none")) => json!({"type": "none"}),
            (Value::Object(_), _) => json!({"type": "tool", "name": choice["function"]["name"]}),
            _ => {
                return Err(refuse(
                    "tool_choice must be auto, required, none or a function",
                ))
            }
        };
        if parallel == Some(json!(false)) {
            mapped["disable_parallel_tool_use"] = json!(true);
        }
        body.insert("tool_choice".into(), mapped);
    } else if parallel == Some(json!(false)) && body.contains_key("tools") {
        body.insert(
            "tool_choice".into(),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        );
    }
    if let Some(stop) = req.value("stop") {
        let list = match stop {
            Value::String(s) => vec![Value::String(s)],
            Value::Array(list) => list,
            _ => return Err(refuse("stop must be a string or a list of strings")),
        };
        body.insert("stop_sequences".into(), Value::Array(list));
    }
    if let Some(t) = req.value("temperature").and_then(|t| t.as_f64()) {
        // Anthropic's range is 0 to 1, OpenAI's 0 to 2.
        body.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    if let Some(p) = req.value("top_p") {
        body.insert("top_p".into(), p);
    }
    if let Some(user) = req
        .value("user")
        .and_then(|u| u.as_str().map(str::to_string))
    {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(effort) = req
        .value("reasoning_effort")
        .and_then(|e| e.as_str().map(str::to_string))
    {
        let budget: u64 = match effort.as_str() {
            "minimal" | "low" => 1024,
            "medium" => 4096,
            _ => 16384,
        };
        if req.output_bound > 1024 {
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget.min(req.output_bound - 1)}),
            );
        }
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(body).to_string().into_bytes())
}

/// Anthropic's stop reason as chat's finish reason.
fn finish_reason(stop: &str) -> &'static str {
    match stop {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's usage for normalized usage: cache reads and writes are inside `prompt_tokens`.
fn openai_usage_of(u: &Usage) -> Value {
    let prompt = u.prompt();
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": u.output,
        "total_tokens": prompt + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning},
    })
}

fn answer(req: &ClientRequest, body: &[u8]) -> Result<Vec<u8>, String> {
    let message: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut text = String::new();
    let mut thinking = String::new();
    let mut calls = Vec::new();
    for b in message["content"].as_array().into_iter().flatten() {
        match b["type"].as_str() {
            Some("text") => text.push_str(b["text"].as_str().unwrap_or("")),
            Some("thinking") => thinking.push_str(b["thinking"].as_str().unwrap_or("")),
            Some("tool_use") => calls.push(json!({"id": b["id"], "type": "function",
                "function": {"name": b["name"], "arguments": b["input"].to_string()}})),
            _ => {}
        }
    }
    let mut reply = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) }});
    if !thinking.is_empty() {
        reply["reasoning_content"] = json!(thinking);
    }
    if !calls.is_empty() {
        reply["tool_calls"] = Value::Array(calls);
    }
    let usage = serde_json::from_value::<WireUsage>(message["usage"].clone())
        .map(|u| u.merged_into(Usage::default()))
        .unwrap_or_default();
    let out = json!({
        "id": format!("chatcmpl-{}", message["id"].as_str().unwrap_or("code-router")),
        "object": "chat.completion",
        "created": req.received_at,
        "model": req.model,
        "choices": [{"index": 0, "message": reply,
                     "finish_reason": finish_reason(message["stop_reason"].as_str().unwrap_or("end_turn"))}],
        "usage": openai_usage_of(&usage),
    });
    Ok(out.to_string().into_bytes())
}

/// Messages events → chat chunks.
struct MessagesToChat {
    id: String,
    model: String,
    created: i64,
    wants_usage: bool,
    /// Tool calls so far; the chat index of the open `tool_use` block's call.
    calls: u64,
    tool_open: Option<u64>,
}

fn stream(req: &ClientRequest) -> Box<dyn StreamTranslator> {
    Box::new(MessagesToChat {
        id: "chatcmpl-code-router".into(),
        model: req.model.clone(),
        created: req.received_at,
        wants_usage: req.wants_usage,
        calls: 0,
        tool_open: None,
    })
}

impl MessagesToChat {
    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish: Option<&str>) {
        sse_event(
            out,
            None,
            &json!({"id": self.id, "object": "chat.completion.chunk",
            "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        );
    }
}

impl StreamTranslator for MessagesToChat {
    fn event(&mut self, kind: EventKind, data: Option<&str>, out: &mut Vec<u8>) {
        if kind != EventKind::Content {
            return;
        }
        let Some(event) = data.and_then(|d| serde_json::from_str::<Value>(d).ok()) else {
            return;
        };
        match event["type"].as_str().unwrap_or("") {
            "message_start" => {
                if let Some(id) = event["message"]["id"].as_str() {
                    self.id = format!("chatcmpl-{id}");
                }
                self.chunk(out, json!({"role": "assistant", "content": ""}), None);
            }
            "content_block_start" if event["content_block"]["type"] == "tool_use" => {
                let index = self.calls;
                self.calls += 1;
                self.tool_open = Some(index);
                let b = &event["content_block"];
                self.chunk(
                    out,
                    json!({"tool_calls": [{"index": index, "id": b["id"], "type": "function",
                    "function": {"name": b["name"], "arguments": ""}}]}),
                    None,
                );
            }
            "content_block_stop" => self.tool_open = None,
            "content_block_delta" => {
                let delta = &event["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => self.chunk(out, json!({"content": delta["text"]}), None),
                    Some("thinking_delta") => {
                        self.chunk(out, json!({"reasoning_content": delta["thinking"]}), None)
                    }
                    Some("input_json_delta") => {
                        if let Some(index) = self.tool_open {
                            self.chunk(
                                out,
                                json!({"tool_calls": [{"index": index,
                                "function": {"arguments": delta["partial_json"]}}]}),
                                None,
                            );
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(stop) = event["delta"]["stop_reason"].as_str() {
                    self.chunk(out, json!({}), Some(finish_reason(stop)));
                }
            }
            "error" => {
                let message = event["error"]["message"]
                    .as_str()
                    .unwrap_or("the upstream reported an error");
                sse_event(
                    out,
                    None,
                    &json!({"error": {"message": message, "type": "upstream_error", "code": "upstream_failed"}}),
                );
            }
            _ => {}
        }
    }

    fn finish(&mut self, usage: &Usage, out: &mut Vec<u8>) {
        if self.wants_usage {
            sse_event(
                out,
                None,
                &json!({"id": self.id, "object": "chat.completion.chunk",
                "created": self.created, "model": self.model, "choices": [], "usage": openai_usage_of(usage)}),
            );
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::dialects::chat::Chat;
    use axum::http::HeaderMap;

    fn parse(body: &str) -> ClientRequest {
        let mut r = ClientRequest::parse(&Chat, body.as_bytes(), &HeaderMap::new()).unwrap();
        r.output_bound = r.max_output.unwrap_or(4096);
        r
    }

    #[test]
    fn chat_messages_become_alternating_turns_of_blocks() {
        let r = parse(
            r#"{"model":"gpt","messages":[
                {"role":"system","content":"Be terse."},{"role":"developer","content":"Use tools."},
                {"role":"user","content":[{"type":"text","text":"Look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]},
                {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"read","arguments":"{\"p\":1}"}}]},
                {"role":"tool","tool_call_id":"call_1","content":"42"},
                {"role":"user","content":"and?"}],
              "tools":[{"type":"function","function":{"name":"read","parameters":{"type":"object"}}}],
              "tool_choice":"required","parallel_tool_calls":false,"stop":"END","temperature":1.5,"user":"u1"}"#,
        );
        let body: Value = serde_json::from_slice(&request(&r, "claude-up").unwrap()).unwrap();
        assert_eq!(body["system"], "Be terse.\n\nUse tools.");
        assert_eq!(
            body["max_tokens"], 4096,
            "the hold's bound when the client set none"
        );
        let m = body["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[0]["content"][1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
        );
        assert_eq!(
            m[1]["content"][0],
            json!({"type": "tool_use", "id": "call_1", "name": "read", "input": {"p": 1}})
        );
        assert_eq!(m[2]["role"], "user");
        assert_eq!(m[2]["content"][0]["type"], "tool_result");
        assert_eq!(m[2]["content"][1]["text"], "and?");
        assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(
            body["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert_eq!(body["stop_sequences"], json!(["END"]));
        assert_eq!(body["temperature"], json!(1.0));
        assert_eq!(body["metadata"], json!({"user_id": "u1"}));
    }

    #[test]
    fn what_would_mean_something_else_is_refused() {
        for body in [
            r#"{"model":"m","messages":[],"n":2}"#,
            r#"{"model":"m","messages":[],"logprobs":true}"#,
            r#"{"model":"m","messages":[],"response_format":{"type":"json_object"}}"#,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}"#,
        ] {
            let e = request(&parse(body), "m").err().unwrap();
            assert_eq!(e.code, "untranslatable", "{body}");
        }
    }

    #[test]
    fn a_message_becomes_one_choice_with_openai_usage() {
        let r = parse(r#"{"model":"gpt","messages":[]}"#);
        let message = br#"{"id":"msg_1","type":"message","content":[{"type":"thinking","thinking":"t"},{"type":"text","text":"Hi"},{"type":"tool_use","id":"toolu_1","name":"read","input":{"p":1}}],
            "stop_reason":"tool_use","usage":{"input_tokens":50,"output_tokens":60,"cache_read_input_tokens":8000,"cache_creation_input_tokens":2000}}"#;
        let out: Value = serde_json::from_slice(&answer(&r, message).unwrap()).unwrap();
        let choice = &out["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], "Hi");
        assert_eq!(choice["message"]["reasoning_content"], "t");
        assert_eq!(
            choice["message"]["tool_calls"][0]["function"]["arguments"],
            r#"{"p":1}"#
        );
        assert_eq!(out["usage"]["prompt_tokens"], 10050);
        assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 8000);
    }

    #[test]
    fn a_messages_stream_becomes_chat_chunks() {
        let r = parse(
            r#"{"model":"gpt","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#,
        );
        let mut t = stream(&r);
        let mut out = Vec::new();
        for event in [
            r#"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":5,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"read","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"p\":"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
        ] {
            t.event(EventKind::Content, Some(event), &mut out);
        }
        t.event(EventKind::End, Some(r#"{"type":"message_stop"}"#), &mut out);
        t.finish(
            &Usage {
                input: 5,
                output: 9,
                ..Usage::default()
            },
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let chunks: Vec<Value> = text
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Hi");
        assert_eq!(
            chunks[2]["choices"][0]["delta"]["tool_calls"][0]["id"],
            "toolu_1"
        );
        assert_eq!(
            chunks[4]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
            "1}"
        );
        assert_eq!(chunks[5]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(chunks[6]["usage"]["completion_tokens"], 9);
        assert!(text.ends_with("data: [DONE]\n\n"));
    }
}
