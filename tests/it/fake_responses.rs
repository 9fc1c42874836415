//! A fake upstream serving the OpenAI Responses API (`/v1/responses`, `/v1/responses/compact`)
//! the tests start on port 0: answers whole or streamed with known usage (1,200 in of which 1,000
//! cached, 90 out of which 40 reasoning), or a stream that ends in `response.failed`; records what
//! it was sent, headers included.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Ok,
    /// A stream that ends in the provider's own `response.failed`, with no usage.
    Failed,
    Status(u16),
}

#[derive(Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone)]
pub struct FakeResponses {
    pub base_url: String,
    mode: Arc<Mutex<Mode>>,
    pub received: Arc<Mutex<Vec<Received>>>,
}

pub fn usage() -> Value {
    json!({"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1000},
           "output_tokens": 90, "output_tokens_details": {"reasoning_tokens": 40}, "total_tokens": 1290})
}

/// The streamed answer's events, as the fake sends them (each with its `event:` line).
pub fn events(model: &str) -> Vec<String> {
    let item = json!({"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "text": "Hello from Responses.", "annotations": []}]});
    let response = |status: &str, usage: Value, output: Value| {
        json!({"id": "resp_1", "object": "response", "status": status, "model": model,
               "output": output, "usage": usage})
    };
    [
        json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress", Value::Null, json!([]))}),
        json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
               "item": {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        json!({"type": "response.output_text.delta", "sequence_number": 2, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hello from "}),
        json!({"type": "response.output_text.delta", "sequence_number": 3, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Responses."}),
        json!({"type": "response.output_item.done", "sequence_number": 4, "output_index": 0, "item": item}),
        json!({"type": "response.completed", "sequence_number": 5, "response": response("completed", usage(), json!([item]))}),
    ]
    .iter()
    .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
    .collect()
}

impl FakeResponses {
    pub async fn start(mode: Mode) -> FakeResponses {
        let fake = FakeResponses {
            base_url: String::new(),
            mode: Arc::new(Mutex::new(mode)),
            received: Arc::new(Mutex::new(Vec::new())),
        };
        let app = Router::new()
            .route("/v1/responses", post(responses))
            .route("/v1/responses/compact", post(compact))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeResponses {
            base_url: format!("http://{addr}/v1"),
            ..fake
        }
    }

    pub fn last(&self) -> Received {
        self.received.lock().unwrap().last().cloned().unwrap()
    }

    pub fn hits(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    fn record(&self, path: &str, headers: HeaderMap, body: &Bytes) -> (Value, Mode) {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.received.lock().unwrap().push(Received {
            path: path.into(),
            headers,
            body: body.clone(),
        });
        (body, *self.mode.lock().unwrap())
    }
}

fn status(code: u16) -> Response {
    (
        StatusCode::from_u16(code).unwrap(),
        axum::Json(
            json!({"error": {"message": format!("fake says {code}"), "type": "x", "code": "fake"}}),
        ),
    )
        .into_response()
}

async fn responses(State(fake): State<FakeResponses>, headers: HeaderMap, body: Bytes) -> Response {
    let (request, mode) = fake.record("/responses", headers, &body);
    let model = request["model"].as_str().unwrap_or("").to_string();
    match mode {
        Mode::Status(code) => status(code),
        _ if request["stream"] != json!(true) => axum::Json(json!({
            "id": "resp_1", "object": "response", "status": "completed", "model": model,
            "output": [{"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": "Hello from Responses.", "annotations": []}]}],
            "usage": usage()}))
        .into_response(),
        Mode::Ok => ([("content-type", "text/event-stream")], events(&model).concat()).into_response(),
        Mode::Failed => {
            let mut events = events(&model);
            events.truncate(3);
            let failed = json!({"type": "response.failed", "sequence_number": 3, "response": {
                "id": "resp_1", "object": "response", "status": "failed", "model": model, "output": [],
                "error": {"code": "server_error", "message": "The model failed."}, "usage": null}});
            events.push(format!("event: response.failed\ndata: {failed}\n\n"));
            ([("content-type", "text/event-stream")], events.concat()).into_response()
        }
    }
}

async fn compact(State(fake): State<FakeResponses>, headers: HeaderMap, body: Bytes) -> Response {
    let (request, mode) = fake.record("/responses/compact", headers, &body);
    if let Mode::Status(code) = mode {
        return status(code);
    }
    let mut output: Vec<Value> = request["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["role"] == "user")
        .cloned()
        .collect();
    output.push(json!({"type": "compaction", "id": "cmp_1", "encrypted_content": "gAAAAopaque"}));
    axum::Json(
        json!({"id": "resp_cmp", "object": "response.compaction", "created_at": 1,
                      "output": output, "usage": usage()}),
    )
    .into_response()
}
