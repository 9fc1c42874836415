//! A fake OpenAI-compatible upstream the tests start on port 0 and steer: answer well, with or
//! without usage, fail, time out, break a stream, or stream slowly.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// JSON (or SSE when asked to stream) with usage 10 in / 20 out.
    Ok,
    /// As Ok, but never reporting usage.
    NoUsage,
    Status(u16),
    /// Headers only after this many milliseconds.
    Slow(u64),
    /// A stream that breaks after two chunks.
    Reset,
    /// 200 with a body that is not JSON.
    BadJson,
    /// A stream of 10 content chunks 100 ms apart, then usage.
    SlowStream,
    /// As Ok, but a stream is sent whole: one body with a Content-Length, as a fast upstream's
    /// stream arrives in one read.
    WholeStream,
    /// As Ok, but reporting 10,000,000 output tokens whatever was asked.
    Overreport,
    /// A stream of 3,000 words and no usage, whatever was asked.
    Endless,
    /// A whole answer of about 6 MB (usage at its end), sent in two halves 300 ms apart.
    Big,
    /// As Ok, with usage as OpenAI reports prompt caching and reasoning: 10,000 prompt tokens of
    /// which 8,000 cached, 900 completion tokens of which 600 reasoning.
    Cached,
}

/// The length of the text in a `Big` answer.
pub const BIG_TEXT: usize = 6 * 1024 * 1024;

#[derive(Clone)]
pub struct Fake {
    pub base_url: String,
    mode: Arc<Mutex<Mode>>,
    pub received: Arc<Mutex<Vec<Value>>>,
}

pub const WORDS: [&str; 4] = ["Hello", " there", ", friend", "!"];

impl Fake {
    pub async fn start(mode: Mode) -> Fake {
        let fake = Fake {
            base_url: String::new(),
            mode: Arc::new(Mutex::new(mode)),
            received: Arc::new(Mutex::new(Vec::new())),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(answer))
            .route("/v1/completions", post(answer))
            .route("/v1/embeddings", post(answer))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake {
            base_url: format!("http://{addr}/v1"),
            ..fake
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn hits(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn last(&self) -> Value {
        self.received
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }
}

fn sse(events: Vec<Value>, done: bool) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = events
        .into_iter()
        .map(|e| Bytes::from(format!("data: {e}\n\n")))
        .collect();
    if done {
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    }
    out
}

fn chunk(text: &str) -> Value {
    json!({"id": "c1", "object": "chat.completion.chunk", "model": "up",
           "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
}

async fn answer(State(fake): State<Fake>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.received.lock().unwrap().push(request.clone());
    let mode = *fake.mode.lock().unwrap();
    let stream = request["stream"] == json!(true);
    let usage = if mode == Mode::Overreport {
        json!({"prompt_tokens": 10, "completion_tokens": 10_000_000, "total_tokens": 10_000_010})
    } else if mode == Mode::Cached {
        json!({"prompt_tokens": 10_000, "completion_tokens": 900, "total_tokens": 10_900,
               "prompt_tokens_details": {"cached_tokens": 8_000, "audio_tokens": 0},
               "completion_tokens_details": {"reasoning_tokens": 600, "audio_tokens": 0}})
    } else {
        json!({"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30})
    };
    match mode {
        Mode::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap();
            (status, axum::Json(json!({"error": {"message": format!("fake says {code}"), "type": "x", "code": "fake"}}))).into_response()
        }
        Mode::Slow(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            axum::Json(json!({"choices": [], "usage": usage})).into_response()
        }
        Mode::BadJson => (StatusCode::OK, "this is { not json").into_response(),
        Mode::Big => {
            let body = json!({"id": "c1", "object": "chat.completion", "model": request["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "x".repeat(BIG_TEXT)}, "finish_reason": "stop"}],
                "usage": usage})
            .to_string()
            .into_bytes();
            let half = body.len() / 2;
            let (first, second) = (
                Bytes::from(body[..half].to_vec()),
                Bytes::from(body[half..].to_vec()),
            );
            let stream = futures_util::stream::unfold(0u8, move |i| {
                let (first, second) = (first.clone(), second.clone());
                async move {
                    match i {
                        0 => Some((Ok::<Bytes, Infallible>(first), 1)),
                        1 => {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            Some((Ok(second), 2))
                        }
                        _ => None,
                    }
                }
            });
            (
                [("content-type", "application/json")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Mode::Ok | Mode::NoUsage | Mode::Overreport | Mode::Cached if !stream => {
            let mut body = json!({"id": "c1", "object": "chat.completion", "model": request["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": WORDS.concat()}, "finish_reason": "stop"}]});
            if mode != Mode::NoUsage {
                body["usage"] = usage;
            }
            axum::Json(body).into_response()
        }
        Mode::Ok
        | Mode::NoUsage
        | Mode::SlowStream
        | Mode::WholeStream
        | Mode::Overreport
        | Mode::Cached
        | Mode::Endless => {
            let mut events: Vec<Value> = WORDS.iter().map(|w| chunk(w)).collect();
            if mode == Mode::SlowStream {
                events = (0..10).map(|_| chunk("tick")).collect();
            }
            if mode == Mode::Endless {
                events = (0..3000).map(|_| chunk(" word")).collect();
            }
            let include = request["stream_options"]["include_usage"] == json!(true);
            if !matches!(mode, Mode::NoUsage | Mode::Endless) && include {
                events.push(json!({"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": usage}));
            }
            let pieces = sse(events, true);
            if mode == Mode::WholeStream {
                let whole: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
                return ([("content-type", "text/event-stream")], whole).into_response();
            }
            let delay = if mode == Mode::SlowStream { 100 } else { 0 };
            let stream =
                futures_util::stream::unfold(pieces.into_iter(), move |mut it| async move {
                    let next = it.next()?;
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    Some((Ok::<Bytes, Infallible>(next), it))
                });
            (
                [("content-type", "text/event-stream")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Mode::Reset => {
            let pieces = sse(vec![chunk("Hel"), chunk("lo")], false);
            let stream = futures_util::stream::unfold(0usize, move |i| {
                let pieces = pieces.clone();
                async move {
                    match i {
                        0 | 1 => Some((Ok(pieces[i].clone()), i + 1)),
                        2 => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Some((Err(std::io::Error::other("connection reset")), i + 1))
                        }
                        _ => None,
                    }
                }
            });
            (
                [("content-type", "text/event-stream")],
                Body::from_stream(stream),
            )
                .into_response()
        }
    }
}
