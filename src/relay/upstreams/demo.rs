//! The built-in `demo` kind: short canned replies (streamed too) for `demo:free`, so a new
//! installation can be tried end to end before any provider is configured. It speaks what the
//! `openai` kind speaks; other formats reach it translated.

use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::json;

use super::{Reply, ReplyBody, Upstream};
use crate::relay::dialects::Wire;
use crate::relay::request::ClientRequest;
use crate::state::AppState;

pub fn speaks(wire: Wire) -> bool {
    super::openai::speaks(wire, false)
}

/// The canned answer to a request in `wire`. Its prompt tokens are the tokenizer's count when
/// one was made, else a quarter of the bound (free either way; the demo never loads a tokenizer).
pub fn send(state: &AppState, upstream: &Upstream, wire: Wire, req: &ClientRequest) -> Reply {
    let model = upstream.upstream_model(&req.model);
    let input = req
        .prompt_counted()
        .unwrap_or_else(|| req.dialect.prompt_bound(req) / 4);
    let (content_type, chunks) = respond(wire, model, req.stream, input, state.clock.now());
    Reply {
        status: StatusCode::OK,
        content_type: content_type.to_string(),
        body: ReplyBody::Canned(chunks.into()),
    }
}

const REPLY: &str = "Hello from Code Router's built-in demo upstream. This reply is canned and free. \
                     Add a real provider under [[upstreams]] in the config file to get real answers.";

/// The reply's content type and body chunks.
fn respond(
    wire: Wire,
    model: &str,
    stream: bool,
    input_tokens: u64,
    now: i64,
) -> (&'static str, Vec<Bytes>) {
    // Free and canned: a word count stands in for tokens, so the demo never loads the tokenizer.
    let output_tokens = REPLY.split_whitespace().count() as u64;
    let usage = json!({
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    });
    let id = format!("demo-{now}");
    match wire {
        Wire::Embeddings => {
            let body = json!({
                "object": "list",
                "data": [{ "object": "embedding", "index": 0, "embedding": [0.0, 0.1, 0.2, 0.3] }],
                "model": model,
                "usage": { "prompt_tokens": input_tokens, "total_tokens": input_tokens },
            });
            ("application/json", vec![Bytes::from(body.to_string())])
        }
        Wire::Completions if !stream => {
            let body = json!({
                "id": id, "object": "text_completion", "created": now, "model": model,
                "choices": [{ "index": 0, "text": REPLY, "finish_reason": "stop" }],
                "usage": usage,
            });
            ("application/json", vec![Bytes::from(body.to_string())])
        }
        Wire::Chat if !stream => {
            let body = json!({
                "id": id, "object": "chat.completion", "created": now, "model": model,
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": REPLY }, "finish_reason": "stop" }],
                "usage": usage,
            });
            ("application/json", vec![Bytes::from(body.to_string())])
        }
        _ => {
            let chat = wire == Wire::Chat;
            let object = if chat {
                "chat.completion.chunk"
            } else {
                "text_completion"
            };
            let piece = |text: &str, finish: Option<&str>| {
                let choice = if chat {
                    json!({ "index": 0, "delta": { "content": text }, "finish_reason": finish })
                } else {
                    json!({ "index": 0, "text": text, "finish_reason": finish })
                };
                json!({ "id": id, "object": object, "created": now, "model": model, "choices": [choice] })
            };
            let mut chunks: Vec<Bytes> = REPLY
                .split_inclusive(' ')
                .map(|word| Bytes::from(format!("data: {}\n\n", piece(word, None))))
                .collect();
            chunks.push(Bytes::from(format!(
                "data: {}\n\n",
                piece("", Some("stop"))
            )));
            let usage_chunk = json!({ "id": id, "object": object, "created": now, "model": model, "choices": [], "usage": usage });
            chunks.push(Bytes::from(format!("data: {usage_chunk}\n\n")));
            chunks.push(Bytes::from_static(b"data: [DONE]\n\n"));
            ("text/event-stream", chunks)
        }
    }
}
