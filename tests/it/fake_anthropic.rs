//! A fake Anthropic Messages upstream the tests start on port 0: answers whole or streamed with
//! known usage (cache reads and both kinds of cache writes), a tool call when asked, a failure,
//! or a stream that breaks; counts tokens; and records what it was sent, headers included.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Text, with usage: 50 fresh, 8,000 cache read, 500 + 1,500 cache written (5m / 1h), 60 out.
    Ok,
    /// A tool call (`Read`), then its text once the request carries the tool's result.
    Tool,
    Status(u16),
    /// A stream that breaks after its first events.
    Reset,
}

#[derive(Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone)]
pub struct FakeAnthropic {
    pub base_url: String,
    mode: Arc<Mutex<Mode>>,
    pub received: Arc<Mutex<Vec<Received>>>,
}

pub fn usage() -> Value {
    json!({"input_tokens": 50, "output_tokens": 60, "cache_read_input_tokens": 8000,
           "cache_creation_input_tokens": 2000,
           "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 1500}})
}

/// The stream's thinking block, passed on byte for byte (signature included).
pub const THINKING_EVENT: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCkYIARgCKkDzx/+9==\"}}\n\n";

impl FakeAnthropic {
    pub async fn start(mode: Mode) -> FakeAnthropic {
        let fake = FakeAnthropic {
            base_url: String::new(),
            mode: Arc::new(Mutex::new(mode)),
            received: Arc::new(Mutex::new(Vec::new())),
        };
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .route("/v1/messages/count_tokens", post(count_tokens))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeAnthropic {
            base_url: format!("http://{addr}"),
            ..fake
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn last(&self) -> Received {
        self.received.lock().unwrap().last().cloned().unwrap()
    }

    pub fn hits(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

fn event(name: &str, data: Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

fn has_tool_result(body: &Value) -> bool {
    body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_array())
        .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"))
}

async fn messages(State(fake): State<FakeAnthropic>, headers: HeaderMap, raw: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    fake.received.lock().unwrap().push(Received {
        headers,
        body: body.clone(),
    });
    let mode = *fake.mode.lock().unwrap();
    if let Mode::Status(code) = mode {
        let status = StatusCode::from_u16(code).unwrap();
        return (status, axum::Json(json!({"type": "error", "error": {"type": "invalid_request_error", "message": format!("fake says {code}")}}))).into_response();
    }
    let call = mode == Mode::Tool && !has_tool_result(&body);
    let content = if call {
        json!([{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/w/notes.txt"}}])
    } else {
        json!([{"type": "text", "text": "Hello from Claude."}])
    };
    let stop = if call { "tool_use" } else { "end_turn" };
    if body["stream"] != json!(true) {
        return axum::Json(
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage()}),
        )
        .into_response();
    }
    let mut start_usage = usage();
    start_usage["output_tokens"] = json!(1);
    let mut events = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"], "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
    )];
    events.push(event("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}})));
    events.push(event("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me think."}})));
    events.push(Bytes::from_static(THINKING_EVENT.as_bytes()));
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    if mode == Mode::Reset {
        let stream = futures_util::stream::iter(
            events.into_iter().map(Ok::<Bytes, std::io::Error>),
        )
        .chain(futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(std::io::Error::other("connection reset"))
        }));
        return (
            [("content-type", "text/event-stream")],
            Body::from_stream(stream),
        )
            .into_response();
    }
    if call {
        events.push(event("content_block_start", json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}})));
        for piece in ["{\"file_path\":", "\"/w/notes.txt\"}"] {
            events.push(event("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": piece}})));
        }
    } else {
        events.push(event("content_block_start", json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}})));
        for piece in ["Hello", " from", " Claude."] {
            events.push(event("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": piece}})));
        }
    }
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 1}),
    ));
    events.push(event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 60}})));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    let stream = futures_util::stream::iter(events.into_iter().map(Ok::<Bytes, Infallible>));
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn count_tokens(
    State(fake): State<FakeAnthropic>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    fake.received
        .lock()
        .unwrap()
        .push(Received { headers, body });
    axum::Json(json!({"input_tokens": 4242})).into_response()
}

use futures_util::StreamExt;
