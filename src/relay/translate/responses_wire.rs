//! The Responses API's response object, output items and stream events as borrowed structs,
//! serialized straight into the answer: a translated answer builds no JSON value tree per
//! event, and the fields a request fixes are serialized once. Fields are declared in
//! alphabetical order, the order the JSON values the translator built before wrote them in, so
//! the bytes a client gets are those it got then.

use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};
use serde_json::Value;

use crate::relay::dialects::responses::wire_usage;
use crate::relay::request::ClientRequest;
use crate::relay::usage::Usage;

/// The response object's fields that a request fixes, serialized once (values the client sent
/// are read as JSON values first, so they are written as before: keys sorted, numbers
/// normalized).
pub struct Shell {
    created_at: i64,
    instructions: Option<Box<RawValue>>,
    model: String,
    parallel_tool_calls: Box<RawValue>,
    tool_choice: Box<RawValue>,
    tools: Box<RawValue>,
}

/// JSON text for a value (serializing a value or one of these structs cannot fail).
fn raw(value: &impl Serialize) -> Box<RawValue> {
    to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// A constant's JSON text.
fn fixed(json: &'static str) -> Box<RawValue> {
    RawValue::from_string(json.to_string()).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

impl Shell {
    pub fn of(req: &ClientRequest) -> Shell {
        let field = |name: &str, default: &'static str| match req.value(name) {
            Some(v) => raw(&v),
            None => fixed(default),
        };
        Shell {
            created_at: req.received_at,
            instructions: req.value("instructions").map(|v| raw(&v)),
            model: req.model.clone(),
            parallel_tool_calls: field("parallel_tool_calls", "true"),
            tool_choice: field("tool_choice", "\"auto\""),
            tools: field("tools", "[]"),
        }
    }

    /// The response object with this status, these output items (each its JSON text) and usage.
    pub fn response<'a>(
        &'a self,
        id: &'a str,
        status: &'a str,
        output: &'a [Box<RawValue>],
        usage: Option<&Usage>,
    ) -> ResponseObject<'a> {
        ResponseObject {
            created_at: self.created_at,
            error: (),
            id,
            incomplete_details: (status == "incomplete").then_some(Incomplete {
                reason: "max_output_tokens",
            }),
            instructions: self.instructions.as_deref(),
            model: &self.model,
            object: "response",
            output,
            parallel_tool_calls: &self.parallel_tool_calls,
            status,
            store: false,
            tool_choice: &self.tool_choice,
            tools: &self.tools,
            usage: usage.map(wire_usage),
        }
    }
}

#[derive(Serialize)]
pub struct ResponseObject<'a> {
    created_at: i64,
    error: (),
    id: &'a str,
    incomplete_details: Option<Incomplete>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a RawValue>,
    model: &'a str,
    object: &'static str,
    output: &'a [Box<RawValue>],
    parallel_tool_calls: &'a RawValue,
    status: &'a str,
    store: bool,
    tool_choice: &'a RawValue,
    tools: &'a RawValue,
    usage: Option<Value>,
}

#[derive(Serialize)]
struct Incomplete {
    reason: &'static str,
}

/// One output item.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Item<'a> {
    Message {
        content: [OutputText<'a>; 1],
        id: &'a str,
        role: &'static str,
        status: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Reasoning {
        content: [ReasoningText<'a>; 1],
        id: &'a str,
        summary: [(); 0],
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Call {
        arguments: &'a str,
        call_id: &'a str,
        id: &'a str,
        name: &'a str,
        status: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

impl<'a> Item<'a> {
    pub fn message(id: &'a str, text: &'a str, status: &'a str) -> Item<'a> {
        Item::Message {
            content: [OutputText::new(text)],
            id,
            role: "assistant",
            status,
            kind: "message",
        }
    }

    pub fn reasoning(id: &'a str, text: &'a str) -> Item<'a> {
        Item::Reasoning {
            content: [ReasoningText {
                text,
                kind: "reasoning_text",
            }],
            id,
            summary: [],
            kind: "reasoning",
        }
    }

    pub fn call(
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
        status: &'a str,
    ) -> Item<'a> {
        Item::Call {
            arguments,
            call_id,
            id,
            name,
            status,
            kind: "function_call",
        }
    }

    /// The item's JSON text, kept for the response object.
    pub fn to_raw(&self) -> Box<RawValue> {
        raw(self)
    }
}

#[derive(Serialize)]
pub struct OutputText<'a> {
    annotations: [(); 0],
    text: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl<'a> OutputText<'a> {
    pub fn new(text: &'a str) -> OutputText<'a> {
        OutputText {
            annotations: [],
            text,
            kind: "output_text",
        }
    }
}

#[derive(Serialize)]
pub struct ReasoningText<'a> {
    text: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The data of one stream event (its `type` and `sequence_number` are added by the writer).
#[derive(Serialize)]
#[serde(untagged)]
pub enum Event<'a> {
    /// `response.created`, `.in_progress`, `.completed`, `.incomplete`.
    Response {
        response: ResponseObject<'a>,
        sequence_number: u64,
        #[serde(rename = "type")]
        kind: &'a str,
    },
    /// `response.output_item.added` and `.done`.
    Item {
        item: &'a RawValue,
        output_index: u64,
        sequence_number: u64,
        #[serde(rename = "type")]
        kind: &'a str,
    },
    /// `response.content_part.added` and `.done`.
    Part {
        content_index: u64,
        item_id: &'a str,
        output_index: u64,
        part: OutputText<'a>,
        sequence_number: u64,
        #[serde(rename = "type")]
        kind: &'a str,
    },
    /// `response.output_text.done` and `response.reasoning_text.done`.
    TextDone {
        content_index: u64,
        item_id: &'a str,
        output_index: u64,
        sequence_number: u64,
        text: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
    },
    /// `response.function_call_arguments.done`.
    ArgumentsDone {
        arguments: &'a str,
        item_id: &'a str,
        output_index: u64,
        sequence_number: u64,
        #[serde(rename = "type")]
        kind: &'a str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::dialects::responses::Responses;
    use axum::http::HeaderMap;
    use serde_json::json;

    #[test]
    fn the_response_object_is_written_as_the_value_it_stands_for() {
        let mut req = ClientRequest::parse(
            &Responses,
            br#"{"model":"m","input":"hi","instructions":"Be brief.","tool_choice":{"type":"function","name":"f"},
                "tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]}"#,
            &HeaderMap::new(),
        )
        .unwrap();
        req.received_at = 1_700_000_000;
        let shell = Shell::of(&req);
        let item = Item::message("msg_1", "Hi \"you\"", "completed").to_raw();
        let usage = Usage {
            input: 3,
            output: 2,
            ..Usage::default()
        };
        let output = [item];
        let written =
            serde_json::to_string(&shell.response("resp_1", "incomplete", &output, Some(&usage)))
                .unwrap();
        let want = json!({
            "id": "resp_1", "object": "response", "created_at": 1_700_000_000, "status": "incomplete",
            "model": "m", "error": null, "incomplete_details": {"reason": "max_output_tokens"},
            "instructions": "Be brief.", "parallel_tool_calls": true,
            "tool_choice": {"type": "function", "name": "f"},
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "store": false, "usage": wire_usage(&usage),
            "output": [{"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": "Hi \"you\"", "annotations": []}]}],
        });
        // The same bytes as the value's own serialization (keys sorted), not only the same JSON.
        assert_eq!(written, want.to_string());
    }

    #[test]
    fn items_are_written_as_the_values_they_stand_for() {
        let reasoning = serde_json::to_string(&Item::reasoning("rs_1", "hm")).unwrap();
        let want = json!({"id": "rs_1", "type": "reasoning", "summary": [],
                          "content": [{"type": "reasoning_text", "text": "hm"}]});
        assert_eq!(reasoning, want.to_string());
        let call = serde_json::to_string(&Item::call("fc_1", "call_1", "ls", "{}", "in_progress"))
            .unwrap();
        let want = json!({"id": "fc_1", "type": "function_call", "status": "in_progress",
                          "call_id": "call_1", "name": "ls", "arguments": "{}"});
        assert_eq!(call, want.to_string());
    }
}
