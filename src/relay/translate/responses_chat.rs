//! OpenAI Responses from the client, chat completions upstream: how Codex runs on any
//! OpenAI-compatible provider. Stateless: the request must carry the whole conversation
//! (`store: false`, as Codex sends it); one that points at state kept on a server
//! (`previous_response_id`, `conversation`, an `item_reference`) is refused with a 400.
//!
//! Input items become chat messages: `instructions` and system/developer messages become system
//! messages, `function_call` items join the assistant message before them as `tool_calls`,
//! `function_call_output` items become `tool` messages. Function tools become chat functions;
//! tools that run on OpenAI's servers or need its grammar (`web_search`, `namespace`, `custom`,
//! `file_search`, …) and earlier turns' `reasoning` items are left out, since a chat upstream
//! has no such thing. The chat stream becomes Responses events as it arrives; only the text of
//! the item being streamed is kept, to close it (`output_item.done` carries the item whole, and
//! `response.completed` the finished items, as clients read them there).
//!
//! `/v1/responses/compact` on a chat upstream asks the model for a summary of the conversation
//! and answers the new, shorter history: the user's own messages, then the summary.

use std::io::Write;

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::chat_chunk::Chunk;
use super::responses_wire::{Event, Item, OutputText, Shell};
use super::{sse_event, StreamTranslator, Translation};
use crate::error::ApiError;
use crate::relay::dialects::responses::{failed_event, failure_code, wire_usage};
use crate::relay::dialects::{EventKind, Wire};
use crate::relay::request::ClientRequest;
use crate::relay::usage::{openai_usage, openai_usage_in, Usage};

pub static RESPONSES_TO_CHAT: Translation = Translation {
    client: Wire::Responses,
    upstream: Wire::Chat,
    request,
    answer,
    stream,
};

pub static COMPACT_TO_CHAT: Translation = Translation {
    client: Wire::ResponsesCompact,
    upstream: Wire::Chat,
    request: compact_request,
    answer: compact_answer,
    stream,
};

/// What the model is asked when a conversation is compacted on a chat upstream.
const COMPACT_PROMPT: &str = "Your context is about to be replaced by a summary, so that work can go on in a fresh one. \
Write that summary now: the user's goal and instructions, what has been done so far (files read or changed, \
commands run and what they showed), decisions made and why, and what is left to do, with any names, paths \
and values needed to go on. Answer with the summary only.";

/// What introduces the summary in the compacted history.
pub const SUMMARY_PREFIX: &str = "Summary of the conversation so far:\n";

fn refuse(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("untranslatable", message)
}

/// Refuses what needs state kept on a server.
fn stateless(req: &ClientRequest) -> Result<(), ApiError> {
    for name in ["previous_response_id", "conversation", "prompt"] {
        if req.value(name).is_some() {
            return Err(refuse(format!(
                "`{name}` needs state kept by the provider, and this model's upstream is reached through chat completions, \
                 which keeps none: send the whole conversation in `input` (with store: false)"
            )));
        }
    }
    Ok(())
}

/// The input items of a request (a bare string is one user message).
fn input_items(req: &ClientRequest) -> Vec<Value> {
    match req.value("input") {
        Some(Value::String(text)) => {
            vec![json!({"type": "message", "role": "user", "content": text})]
        }
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// A content part of an input message as a chat content part.
fn chat_part(part: &Value) -> Result<Value, ApiError> {
    match part["type"].as_str() {
        Some("input_text") | Some("output_text") | Some("text") => {
            Ok(json!({"type": "text", "text": part["text"].as_str().unwrap_or("")}))
        }
        Some("refusal") => Ok(json!({"type": "text", "text": part["refusal"].as_str().unwrap_or("")})),
        Some("input_image") => match part["image_url"].as_str() {
            Some(url) => {
                let mut image = json!({"url": url});
                if let Some(detail) = part["detail"].as_str() {
                    image["detail"] = json!(detail);
                }
                Ok(json!({"type": "image_url", "image_url": image}))
            }
            None => Err(refuse(
                "an input_image by file_id cannot be sent to a chat completions upstream: send image_url",
            )),
        },
        Some("input_file") => match part["file_data"].as_str() {
            Some(data) => Ok(json!({"type": "file", "file": {
                "filename": part["filename"].as_str().unwrap_or("file.pdf"),
                "file_data": data,
            }})),
            None => Err(refuse(
                "an input_file by file_id or URL cannot be sent to a chat completions upstream: send file_data",
            )),
        },
        other => Err(refuse(format!(
            "a `{}` content part cannot be sent to a chat completions upstream",
            other.unwrap_or("?")
        ))),
    }
}

/// The text of a message's content (a string, or its parts' text).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str().or_else(|| p["refusal"].as_str()))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// A tool's output as the text of a `tool` message.
fn output_text(output: &Value) -> String {
    match output {
        Value::String(s) => s.clone(),
        Value::Array(_) => text_of(output),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Adds a tool call to the assistant message at the end of `out` (one turn's text and calls are
/// one chat message), or to a new one.
fn push_call(out: &mut Vec<Value>, call: Value) {
    if let Some(Value::Object(last)) = out.last_mut() {
        if last.get("role").and_then(Value::as_str) == Some("assistant") {
            match last.get_mut("tool_calls").and_then(Value::as_array_mut) {
                Some(calls) => calls.push(call),
                None => {
                    last.insert("tool_calls".into(), json!([call]));
                }
            }
            return;
        }
    }
    out.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
}

/// The conversation as chat messages.
fn chat_messages(req: &ClientRequest) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    if let Some(instructions) = req.value("instructions") {
        let text = text_of(&instructions);
        if !text.is_empty() {
            out.push(json!({"role": "system", "content": text}));
        }
    }
    for item in input_items(req) {
        let kind = item["type"].as_str().unwrap_or("message");
        match kind {
            "message" => {
                let role = match item["role"].as_str().unwrap_or("user") {
                    "system" | "developer" => "system",
                    "assistant" => "assistant",
                    _ => "user",
                };
                let content = &item["content"];
                if role == "user" {
                    match content {
                        Value::Array(parts) => {
                            let parts = parts.iter().map(chat_part).collect::<Result<Vec<_>, _>>()?;
                            out.push(json!({"role": "user", "content": parts}));
                        }
                        other => out.push(json!({"role": "user", "content": text_of(other)})),
                    }
                } else {
                    out.push(json!({"role": role, "content": text_of(content)}));
                }
            }
            "function_call" => {
                let call = json!({
                    "id": item["call_id"],
                    "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"].as_str().unwrap_or("{}")},
                });
                push_call(&mut out, call);
            }
            "function_call_output" => {
                out.push(json!({"role": "tool", "tool_call_id": item["call_id"], "content": output_text(&item["output"])}));
            }
            // The model's own earlier reasoning: chat upstreams take none back.
            "reasoning" => {}
            "item_reference" => {
                return Err(refuse(
                    "an item_reference points at an item kept by the provider; this model's upstream keeps none: send the item itself",
                ))
            }
            other => {
                return Err(refuse(format!(
                    "a `{other}` input item cannot be sent to a chat completions upstream"
                )))
            }
        }
    }
    Ok(out)
}

/// Function tools as chat functions; the rest left out (see the module's doc).
fn chat_tools(list: &[Value]) -> Vec<Value> {
    list.iter()
        .filter(|t| t["type"] == "function")
        .map(|t| {
            let mut function = Map::new();
            function.insert("name".into(), t["name"].clone());
            if let Some(d) = t.get("description").filter(|d| !d.is_null()) {
                function.insert("description".into(), d.clone());
            }
            function.insert(
                "parameters".into(),
                t.get("parameters")
                    .filter(|p| !p.is_null())
                    .cloned()
                    .unwrap_or(json!({"type": "object", "properties": {}})),
            );
            if let Some(strict) = t.get("strict").filter(|s| s.is_boolean()) {
                function.insert("strict".into(), strict.clone());
            }
            json!({"type": "function", "function": function})
        })
        .collect()
}

fn request(req: &ClientRequest, upstream_model: &str) -> Result<Vec<u8>, ApiError> {
    stateless(req)?;
    let mut body = Map::new();
    body.insert("model".into(), json!(upstream_model));
    body.insert("messages".into(), Value::Array(chat_messages(req)?));
    body.insert("max_tokens".into(), json!(req.output_bound));
    let tools = req
        .value("tools")
        .and_then(|v| v.as_array().map(|l| chat_tools(l)))
        .unwrap_or_default();
    let has_tools = !tools.is_empty();
    if has_tools {
        body.insert("tools".into(), Value::Array(tools));
        if let Some(parallel) = req.value("parallel_tool_calls").filter(Value::is_boolean) {
            body.insert("parallel_tool_calls".into(), parallel);
        }
    }
    match req.value("tool_choice") {
        Some(Value::String(choice)) if has_tools || choice == "none" => {
            if matches!(choice.as_str(), "auto" | "none" | "required") {
                body.insert("tool_choice".into(), json!(choice));
            }
        }
        Some(choice) if has_tools && choice["type"] == "function" => {
            body.insert(
                "tool_choice".into(),
                json!({"type": "function", "function": {"name": choice["name"]}}),
            );
        }
        _ => {}
    }
    if let Some(format) = req.value("text").map(|t| t["format"].clone()) {
        match format["type"].as_str() {
            Some("json_schema") => {
                let mut schema = Map::new();
                for key in ["name", "schema", "strict", "description"] {
                    if let Some(v) = format.get(key).filter(|v| !v.is_null()) {
                        schema.insert(key.into(), v.clone());
                    }
                }
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": schema}),
                );
            }
            Some("json_object") => {
                body.insert("response_format".into(), json!({"type": "json_object"}));
            }
            _ => {}
        }
    }
    for name in ["temperature", "top_p"] {
        if let Some(v) = req.value(name) {
            body.insert(name.into(), v);
        }
    }
    if let Some(user) = req.value("safety_identifier").or_else(|| req.value("user")) {
        body.insert("user".into(), user);
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Value::Object(body).to_string().into_bytes())
}

/// The Responses id for a chat answer's id.
fn response_id(chat_id: Option<&str>) -> String {
    format!("resp_{}", chat_id.unwrap_or("code_router"))
}

/// The output items of a whole chat answer, each as its JSON text.
fn answer_items(chat: &Value) -> Vec<Box<RawValue>> {
    let message = &chat["choices"][0]["message"];
    let base = chat["id"].as_str().unwrap_or("code_router");
    let mut output = Vec::new();
    if let Some(thinking) = message["reasoning_content"]
        .as_str()
        .or_else(|| message["reasoning"].as_str())
        .filter(|t| !t.is_empty())
    {
        output.push(Item::reasoning(&format!("rs_{base}"), thinking).to_raw());
    }
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        output.push(Item::message(&format!("msg_{base}"), text, "completed").to_raw());
    }
    for (i, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        output.push(
            Item::call(
                &format!("fc_{base}_{i}"),
                call["id"].as_str().unwrap_or(""),
                call["function"]["name"].as_str().unwrap_or(""),
                call["function"]["arguments"].as_str().unwrap_or("{}"),
                "completed",
            )
            .to_raw(),
        );
    }
    output
}

fn answer(req: &ClientRequest, body: &[u8]) -> Result<Vec<u8>, String> {
    let chat: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let usage = openai_usage_in(&chat);
    let status = match chat["choices"][0]["finish_reason"].as_str() {
        Some("length") => "incomplete",
        _ => "completed",
    };
    let shell = Shell::of(req);
    let id = response_id(chat["id"].as_str());
    let output = answer_items(&chat);
    serde_json::to_vec(&shell.response(&id, status, &output, usage.as_ref()))
        .map_err(|e| e.to_string())
}

/// The conversation for a summary: earlier tool calls and their results as text, so any chat
/// upstream takes it whatever tools it was offered.
fn compact_request(req: &ClientRequest, upstream_model: &str) -> Result<Vec<u8>, ApiError> {
    stateless(req)?;
    let mut messages = Vec::new();
    for m in chat_messages(req)? {
        match m["role"].as_str() {
            Some("tool") => messages.push(json!({"role": "user", "content": format!(
                "[tool result]\n{}", m["content"].as_str().unwrap_or("")
            )})),
            Some("assistant") if m.get("tool_calls").is_some() => {
                let mut text = m["content"].as_str().unwrap_or("").to_string();
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    text.push_str(&format!(
                        "\n[called {}({})]",
                        call["function"]["name"].as_str().unwrap_or("?"),
                        call["function"]["arguments"].as_str().unwrap_or("")
                    ));
                }
                messages.push(json!({"role": "assistant", "content": text.trim_start()}));
            }
            _ => messages.push(m),
        }
    }
    messages.push(json!({"role": "user", "content": COMPACT_PROMPT}));
    let body = json!({
        "model": upstream_model,
        "messages": messages,
        "max_tokens": req.output_bound,
    });
    Ok(body.to_string().into_bytes())
}

/// The compacted history: the user's own messages as they were, then the summary.
fn compact_answer(req: &ClientRequest, body: &[u8]) -> Result<Vec<u8>, String> {
    let chat: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let summary = chat["choices"][0]["message"]["content"]
        .as_str()
        .ok_or("the answer holds no summary text")?;
    let mut output: Vec<Value> = input_items(req)
        .into_iter()
        .filter(|i| i["type"].as_str().unwrap_or("message") == "message" && i["role"] == "user")
        .map(|i| {
            let content = match &i["content"] {
                Value::Array(parts) => Value::Array(parts.clone()),
                other => json!([{"type": "input_text", "text": text_of(other)}]),
            };
            json!({"type": "message", "role": "user", "content": content})
        })
        .collect();
    output.push(json!({"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": format!("{SUMMARY_PREFIX}{summary}")}]}));
    let usage = openai_usage(body).ok().flatten();
    let out = json!({
        "id": response_id(chat["id"].as_str()),
        "object": "response.compaction",
        "created_at": req.received_at,
        "output": output,
        "usage": usage.as_ref().map(wire_usage),
    });
    Ok(out.to_string().into_bytes())
}

/// What the item being streamed is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Reasoning,
    /// A tool call: chat's index for it.
    Call(u64),
}

/// The item being streamed: only its own text is kept, to close it.
struct OpenItem {
    what: Open,
    id: String,
    output_index: u64,
    text: String,
    call_id: String,
    name: String,
}

impl OpenItem {
    /// The item as it stands, `status` its status.
    fn item(&self, status: &'static str) -> Item<'_> {
        match self.what {
            Open::Text => Item::message(&self.id, &self.text, status),
            Open::Reasoning => Item::reasoning(&self.id, &self.text),
            Open::Call(_) => Item::call(&self.id, &self.call_id, &self.name, &self.text, status),
        }
    }
}

/// Chat chunks → Responses events, items opening and closing in order.
struct ChatToResponses {
    /// The response object's fixed fields, serialized once.
    shell: Shell,
    id: String,
    started: bool,
    sequence: u64,
    open: Option<OpenItem>,
    /// Items finished so far (each its JSON text), for `response.completed`.
    done: Vec<Box<RawValue>>,
    status: &'static str,
    failed: bool,
}

fn stream(req: &ClientRequest) -> Box<dyn StreamTranslator> {
    Box::new(ChatToResponses {
        shell: Shell::of(req),
        id: response_id(None),
        started: false,
        sequence: 0,
        open: None,
        done: Vec::new(),
        status: "completed",
        failed: false,
    })
}

/// The next sequence number.
fn next(sequence: &mut u64) -> u64 {
    let n = *sequence;
    *sequence += 1;
    n
}

impl ChatToResponses {
    /// A `response.*` event carrying the response object as it stands: the finished items go
    /// only into the closing event, the one that carries usage.
    fn emit_response(
        &mut self,
        out: &mut Vec<u8>,
        kind: &str,
        status: &str,
        usage: Option<&Usage>,
    ) {
        let output: &[Box<RawValue>] = if usage.is_some() { &self.done } else { &[] };
        let event = Event::Response {
            response: self.shell.response(&self.id, status, output, usage),
            sequence_number: next(&mut self.sequence),
            kind,
        };
        sse_event(out, Some(kind), &event);
    }

    fn start(&mut self, chat_id: Option<&str>, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = response_id(chat_id);
        self.emit_response(out, "response.created", "in_progress", None);
        self.emit_response(out, "response.in_progress", "in_progress", None);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(item) = self.open.take() else {
            return;
        };
        let (id, index, text) = (item.id.as_str(), item.output_index, item.text.as_str());
        let seq = &mut self.sequence;
        match item.what {
            Open::Text => {
                let kind = "response.output_text.done";
                sse_event(
                    out,
                    Some(kind),
                    &Event::TextDone {
                        content_index: 0,
                        item_id: id,
                        output_index: index,
                        sequence_number: next(seq),
                        text,
                        kind,
                    },
                );
                let kind = "response.content_part.done";
                sse_event(
                    out,
                    Some(kind),
                    &Event::Part {
                        content_index: 0,
                        item_id: id,
                        output_index: index,
                        part: OutputText::new(text),
                        sequence_number: next(seq),
                        kind,
                    },
                );
            }
            Open::Reasoning => {
                let kind = "response.reasoning_text.done";
                sse_event(
                    out,
                    Some(kind),
                    &Event::TextDone {
                        content_index: 0,
                        item_id: id,
                        output_index: index,
                        sequence_number: next(seq),
                        text,
                        kind,
                    },
                );
            }
            Open::Call(_) => {
                let kind = "response.function_call_arguments.done";
                sse_event(
                    out,
                    Some(kind),
                    &Event::ArgumentsDone {
                        arguments: text,
                        item_id: id,
                        output_index: index,
                        sequence_number: next(seq),
                        kind,
                    },
                );
            }
        }
        // Serialized once: the event carries it, and `response.completed` again.
        let done = item.item("completed").to_raw();
        let kind = "response.output_item.done";
        sse_event(
            out,
            Some(kind),
            &Event::Item {
                item: &done,
                output_index: index,
                sequence_number: next(seq),
                kind,
            },
        );
        self.done.push(done);
    }

    /// Makes `what` the open item (closing another), announcing it.
    fn open(&mut self, what: Open, call: Option<(&str, &str)>, out: &mut Vec<u8>) {
        if self.open.as_ref().is_some_and(|item| item.what == what) {
            return;
        }
        self.close(out);
        let output_index = self.done.len() as u64;
        let prefix = match what {
            Open::Text => "msg",
            Open::Reasoning => "rs",
            Open::Call(_) => "fc",
        };
        let (call_id, name) = call.unwrap_or(("", ""));
        let item = OpenItem {
            what,
            id: format!(
                "{prefix}_{}_{output_index}",
                self.id.trim_start_matches("resp_")
            ),
            output_index,
            text: String::new(),
            call_id: call_id.to_string(),
            name: name.to_string(),
        };
        let seq = &mut self.sequence;
        let kind = "response.output_item.added";
        let added = item.item("in_progress").to_raw();
        sse_event(
            out,
            Some(kind),
            &Event::Item {
                item: &added,
                output_index,
                sequence_number: next(seq),
                kind,
            },
        );
        if what == Open::Text {
            let kind = "response.content_part.added";
            sse_event(
                out,
                Some(kind),
                &Event::Part {
                    content_index: 0,
                    item_id: &item.id,
                    output_index,
                    part: OutputText::new(""),
                    sequence_number: next(seq),
                    kind,
                },
            );
        }
        self.open = Some(item);
    }

    /// One `….delta` of the open item, written directly: the one event of every chunk. Its
    /// text joins the item's, to close it with.
    fn delta(&mut self, out: &mut Vec<u8>, kind: &str, part: bool, delta: &str) {
        let Some(item) = &mut self.open else {
            return;
        };
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: {\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        let _ = write!(out, "\",\"sequence_number\":{},\"item_id\":", self.sequence);
        let _ = serde_json::to_writer(&mut *out, &item.id);
        let _ = write!(out, ",\"output_index\":{}", item.output_index);
        if part {
            out.extend_from_slice(b",\"content_index\":0");
        }
        out.extend_from_slice(b",\"delta\":");
        let _ = serde_json::to_writer(&mut *out, delta);
        out.extend_from_slice(b"}\n\n");
        self.sequence += 1;
        item.text.push_str(delta);
    }

    /// Ends the response as failed (once).
    fn failed_with(&mut self, code: &str, message: &str, out: &mut Vec<u8>) {
        if self.failed {
            return;
        }
        self.start(None, out);
        self.failed = true;
        // Rare: built as a value, as the passed-through dialect's failure is.
        let response =
            serde_json::to_value(self.shell.response(&self.id, "failed", &[], None)).ok();
        let failed = failed_event(response, self.sequence, code, message);
        self.sequence += 1;
        sse_event(out, Some("response.failed"), &failed);
    }
}

impl StreamTranslator for ChatToResponses {
    fn event(&mut self, kind: EventKind, data: Option<&str>, out: &mut Vec<u8>) {
        if kind != EventKind::Content || self.failed {
            return;
        }
        let Some(mut chunk) = data.and_then(Chunk::read) else {
            return;
        };
        if let Some(error) = chunk.error {
            let message = error["message"]
                .as_str()
                .unwrap_or("the upstream reported an error");
            let code = match error["code"].as_str() {
                Some(
                    code @ ("rate_limit_exceeded"
                    | "insufficient_quota"
                    | "context_length_exceeded"),
                ) => code.to_string(),
                _ => "server_error".to_string(),
            };
            self.failed_with(&code, message, out);
            return;
        }
        self.start(chunk.id.as_deref(), out);
        let Some(choice) = chunk.first_choice() else {
            return;
        };
        let mut delta = choice.delta.unwrap_or_default();
        if let Some(thinking) = delta.thinking() {
            self.open(Open::Reasoning, None, out);
            self.delta(out, "response.reasoning_text.delta", true, &thinking);
        }
        if let Some(text) = delta.content.non_empty() {
            self.open(Open::Text, None, out);
            self.delta(out, "response.output_text.delta", true, &text);
        }
        for call in delta.tool_calls.unwrap_or_default() {
            let function = call.function.unwrap_or_default();
            let call_id = call.id.as_deref().unwrap_or("");
            let name = function.name.as_deref().unwrap_or("");
            self.open(Open::Call(call.index.0), Some((call_id, name)), out);
            if let Some(args) = function.arguments.non_empty() {
                self.delta(out, "response.function_call_arguments.delta", false, &args);
            }
        }
        if choice.finish_reason.as_deref() == Some("length") {
            self.status = "incomplete";
        }
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<u8>) -> bool {
        let (code, message) = failure_code(error);
        self.failed_with(code, &message, out);
        true
    }

    fn finish(&mut self, usage: &Usage, out: &mut Vec<u8>) {
        if self.failed {
            return;
        }
        self.start(None, out);
        self.close(out);
        let status = self.status;
        let kind = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.emit_response(out, kind, status, Some(usage));
        self.done = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::dialects::responses::{Compact, Responses};
    use axum::http::HeaderMap;

    fn parse(body: &str) -> ClientRequest {
        let mut r = ClientRequest::parse(&Responses, body.as_bytes(), &HeaderMap::new()).unwrap();
        r.output_bound = r.max_output.unwrap_or(4096);
        r
    }

    #[test]
    fn a_codex_turn_becomes_chat_messages_and_functions() {
        let r = parse(
            r#"{"model":"gpt-5","instructions":"You are Codex.","stream":true,"store":false,
              "input":[
                {"type":"message","role":"developer","content":[{"type":"input_text","text":"sandbox: danger-full-access"}]},
                {"type":"message","role":"user","content":[{"type":"input_text","text":"Read notes.txt"}]},
                {"type":"reasoning","summary":[],"encrypted_content":"gAAAA"},
                {"type":"function_call","call_id":"call_1","name":"shell","arguments":"{\"command\":[\"cat\",\"notes.txt\"]}"},
                {"type":"function_call","call_id":"call_2","name":"shell","arguments":"{\"command\":[\"ls\"]}"},
                {"type":"function_call_output","call_id":"call_1","output":"forty-two"},
                {"type":"function_call_output","call_id":"call_2","output":"notes.txt"},
                {"type":"message","role":"assistant","content":[{"type":"output_text","text":"It says forty-two."}]}],
              "tools":[{"type":"function","name":"shell","description":"Runs a command","strict":false,"parameters":{"type":"object","properties":{"command":{"type":"array"}}}},
                       {"type":"web_search"},{"type":"namespace","name":"mcp","tools":[]},{"type":"custom","name":"apply_patch"}],
              "tool_choice":"auto","parallel_tool_calls":false,"reasoning":{"summary":"auto"},
              "include":["reasoning.encrypted_content"],"prompt_cache_key":"k"}"#,
        );
        let body: Value = serde_json::from_slice(&request(&r, "gpt-up").unwrap()).unwrap();
        assert_eq!(body["model"], "gpt-up");
        assert_eq!(body["max_tokens"], 4096);
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        let m = body["messages"].as_array().unwrap();
        assert_eq!(m[0], json!({"role": "system", "content": "You are Codex."}));
        assert_eq!(
            m[1],
            json!({"role": "system", "content": "sandbox: danger-full-access"})
        );
        assert_eq!(
            m[2]["content"][0],
            json!({"type": "text", "text": "Read notes.txt"})
        );
        assert_eq!(m[3]["role"], "assistant");
        assert_eq!(m[3]["tool_calls"].as_array().unwrap().len(), 2, "{m:?}");
        assert_eq!(
            m[3]["tool_calls"][0]["function"]["arguments"],
            r#"{"command":["cat","notes.txt"]}"#
        );
        assert_eq!(
            m[4],
            json!({"role": "tool", "tool_call_id": "call_1", "content": "forty-two"})
        );
        assert_eq!(m[5]["tool_call_id"], "call_2");
        assert_eq!(
            m[6],
            json!({"role": "assistant", "content": "It says forty-two."})
        );
        assert_eq!(m.len(), 7);
        let tools = body["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 1, "only function tools: {tools:?}");
        assert_eq!(tools[0]["function"]["name"], "shell");
        assert_eq!(body["tool_choice"], "auto");
        assert_eq!(body["parallel_tool_calls"], false);
        for gone in [
            "reasoning",
            "include",
            "store",
            "prompt_cache_key",
            "input",
            "instructions",
        ] {
            assert!(body.get(gone).is_none(), "{gone}");
        }
    }

    #[test]
    fn state_kept_by_a_provider_is_refused() {
        for body in [
            r#"{"model":"m","input":"hi","previous_response_id":"resp_1"}"#,
            r#"{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}"#,
            r#"{"model":"m","input":[{"type":"message","role":"user","content":[{"type":"input_image","file_id":"f"}]}]}"#,
            r#"{"model":"m","input":[{"type":"computer_call","call_id":"c"}]}"#,
        ] {
            let e = request(&parse(body), "m").err().unwrap();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "untranslatable"),
                "{body}"
            );
        }
        let e = request(
            &parse(r#"{"model":"m","input":"hi","previous_response_id":"resp_1"}"#),
            "m",
        )
        .err()
        .unwrap();
        assert!(e.message.contains("previous_response_id"), "{}", e.message);
    }

    #[test]
    fn a_chat_answer_becomes_output_items() {
        let r = parse(r#"{"model":"gpt-5","input":"hi"}"#);
        let chat = br#"{"id":"c1","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"Let me look.","reasoning_content":"hm","tool_calls":[{"id":"call_1","type":"function","function":{"name":"shell","arguments":"{\"command\":[\"ls\"]}"}}]}}],
            "usage":{"prompt_tokens":1200,"completion_tokens":90,"prompt_tokens_details":{"cached_tokens":1000},"completion_tokens_details":{"reasoning_tokens":40}}}"#;
        let out: Value = serde_json::from_slice(&answer(&r, chat).unwrap()).unwrap();
        assert_eq!(
            (out["object"].as_str(), out["status"].as_str()),
            (Some("response"), Some("completed"))
        );
        assert_eq!(out["model"], "gpt-5");
        let kinds: Vec<&str> = out["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["reasoning", "message", "function_call"]);
        assert_eq!(out["output"][1]["content"][0]["text"], "Let me look.");
        assert_eq!(out["output"][2]["call_id"], "call_1");
        assert_eq!(out["usage"]["input_tokens"], 1200);
        assert_eq!(out["usage"]["input_tokens_details"]["cached_tokens"], 1000);
        assert_eq!(
            out["usage"]["output_tokens_details"]["reasoning_tokens"],
            40
        );
    }

    #[test]
    fn a_chat_stream_becomes_responses_events_in_order() {
        let r = parse(r#"{"model":"gpt-5","input":"hi","stream":true}"#);
        let mut t = stream(&r);
        let mut out = Vec::new();
        for chunk in [
            r#"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hi "}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"there"}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"shell","arguments":""}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ] {
            t.event(EventKind::Content, Some(chunk), &mut out);
        }
        t.event(
            EventKind::UsageOnly,
            Some(r#"{"id":"c1","choices":[],"usage":{}}"#),
            &mut out,
        );
        t.event(EventKind::End, Some("[DONE]"), &mut out);
        let usage = Usage {
            input: 10,
            cache_read: 5,
            output: 7,
            reasoning: 2,
            ..Usage::default()
        };
        t.finish(&usage, &mut out);
        let text = String::from_utf8(out).unwrap();
        let events: Vec<Value> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let names: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let sequence: Vec<u64> = events
            .iter()
            .map(|e| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(sequence, (0..events.len() as u64).collect::<Vec<_>>());
        // Every event line is named after its type, as the API streams them.
        let named = text
            .lines()
            .filter(|l| l.starts_with("event: response."))
            .count();
        assert_eq!(named, events.len());
        assert_eq!(events[8]["item"]["content"][0]["text"], "Hi there");
        assert_eq!(events[13]["item"]["arguments"], r#"{"a":1}"#);
        assert_eq!(events[13]["item"]["call_id"], "call_1");
        let done = &events[14]["response"];
        assert_eq!(done["id"], "resp_c1");
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"].as_array().unwrap().len(), 2);
        assert_eq!(done["usage"]["input_tokens"], 15);
        assert_eq!(done["usage"]["total_tokens"], 22);
    }

    #[test]
    fn an_error_chunk_fails_the_response() {
        let r = parse(r#"{"model":"gpt-5","input":"hi","stream":true}"#);
        let mut t = stream(&r);
        let mut out = Vec::new();
        t.event(
            EventKind::Content,
            Some(r#"{"error":{"message":"slow down","code":"rate_limit_exceeded"}}"#),
            &mut out,
        );
        t.finish(&Usage::default(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("event: response.failed"), "{text}");
        assert!(text.contains(r#""code":"rate_limit_exceeded""#), "{text}");
        assert!(!text.contains("response.completed"), "{text}");
    }

    #[test]
    fn compaction_keeps_the_users_messages_and_adds_the_summary() {
        let mut r = ClientRequest::parse(
            &Compact,
            br#"{"model":"gpt-5","instructions":"You are Codex.","input":[
                {"type":"message","role":"user","content":[{"type":"input_text","text":"Fix the bug"}]},
                {"role":"user","content":"and the test"},
                {"type":"function_call","call_id":"c1","name":"shell","arguments":"{}"},
                {"type":"function_call_output","call_id":"c1","output":"ok"},
                {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Done."}]}]}"#,
            &HeaderMap::new(),
        )
        .unwrap();
        r.output_bound = 4096;
        let body: Value = serde_json::from_slice(&compact_request(&r, "up").unwrap()).unwrap();
        let m = body["messages"].as_array().unwrap();
        assert!(body.get("tools").is_none());
        assert!(m.iter().all(|m| m["role"] != "tool"), "{m:?}");
        assert!(m[m.len() - 1]["content"]
            .as_str()
            .unwrap()
            .contains("summary"));
        let chat = br#"{"id":"c9","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"The user wants the bug fixed; done."}}],"usage":{"prompt_tokens":300,"completion_tokens":20}}"#;
        let out: Value = serde_json::from_slice(&compact_answer(&r, chat).unwrap()).unwrap();
        let output = out["output"].as_array().unwrap();
        assert_eq!(output.len(), 3);
        assert_eq!(output[0]["content"][0]["text"], "Fix the bug");
        assert_eq!(
            output[1],
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and the test"}]})
        );
        assert!(output[2]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with(SUMMARY_PREFIX));
        assert_eq!(out["usage"]["input_tokens"], 300);
    }
}
