//! Streaming: SSE events pass to the client as they arrive, while usage is read on the way. The
//! usage chunk the gateway asked for is kept from clients that did not ask for it. A client that
//! leaves mid-stream is charged for what the upstream produced: reading goes on (for a bounded
//! time) to learn the usage the provider bills.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::reply::ReplyBody;
use super::sse::{self, EventSplitter};
use super::usage::{self, Usage, UsageSource};
use super::Job;

/// Events buffered between the upstream reader and a slow client.
const BUFFERED_EVENTS: usize = 64;

/// Starts pumping `body` (whose first chunk was already read) and returns the client's response.
pub fn start(job: Job, body: ReplyBody, first: Bytes) -> Response {
    let (tx, mut rx) = mpsc::channel::<Bytes>(BUFFERED_EVENTS);
    tokio::spawn(pump(job, body, first, tx));
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|item| item.map(Ok::<Bytes, Infallible>))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[derive(Deserialize)]
struct Choices {
    #[serde(default)]
    choices: Vec<serde::de::IgnoredAny>,
}

struct Progress {
    saw_done: bool,
    reported: Option<Usage>,
    counted_output: u64,
    client_gone_at: Option<Instant>,
}

async fn pump(mut job: Job, mut body: ReplyBody, first: Bytes, tx: mpsc::Sender<Bytes>) {
    let config = job.state.config();
    let idle = Duration::from_secs(config.relay.idle_timeout_secs);
    let grace = Duration::from_secs(config.relay.disconnect_grace_secs);
    let wants_usage = job.req.wants_usage;
    let mut splitter = EventSplitter::default();
    let mut progress = Progress {
        saw_done: false,
        reported: None,
        counted_output: 0,
        client_gone_at: None,
    };
    let mut failure: Option<String> = None;
    let mut next = Some(first);
    loop {
        let chunk = match next.take() {
            Some(chunk) => chunk,
            None => {
                let wait = match progress.client_gone_at {
                    Some(at) => grace.saturating_sub(at.elapsed()),
                    None => idle,
                };
                match body.next_chunk(wait).await {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => break,
                    Err(_) if progress.client_gone_at.is_some() => {
                        tracing::info!(request_id = %job.log.request_id, "stopped reading after the client left");
                        break;
                    }
                    Err(e) => {
                        failure = Some(e.message);
                        break;
                    }
                }
            }
        };
        let events = match splitter.push(&chunk) {
            Ok(events) => events,
            Err(sse::Oversize) => {
                failure = Some("sent an oversized stream event".into());
                break;
            }
        };
        for event in events {
            forward(event, wants_usage, &mut progress, &tx).await;
        }
    }
    if let Some(rest) = splitter.finish() {
        forward(rest, wants_usage, &mut progress, &tx).await;
    }
    let upstream = job.log.upstream.clone();
    match failure {
        Some(error) => {
            tracing::warn!(request_id = %job.log.request_id, %upstream, %error, "upstream stream failed");
            if progress.client_gone_at.is_none() {
                let event = serde_json::json!({ "error": {
                    "message": format!("the upstream stream failed; this request was not billed (request id: {})", job.log.request_id),
                    "type": "upstream_error",
                    "code": "upstream_failed",
                }});
                let _ = tx.send(Bytes::from(format!("data: {event}\n\n"))).await;
            }
            job.log.error = format!("{upstream}: {error}");
            job.end_without_charge(502);
        }
        None => {
            let (usage, source) = match progress.reported {
                Some(u) => (u, UsageSource::Upstream),
                None => (
                    Usage {
                        input: job.input_tokens(),
                        output: progress.counted_output,
                    },
                    UsageSource::Counted,
                ),
            };
            let (status, note) = match progress.client_gone_at {
                Some(_) => (
                    499,
                    "client disconnected; charged for what the upstream produced".to_string(),
                ),
                None => (200, String::new()),
            };
            job.end_with_usage(usage, source, status, note);
            // The end of the stream comes after the charge is queued, so the client's next
            // request is held after this one is settled (the writer works in order).
            if progress.saw_done && progress.client_gone_at.is_none() {
                let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
            }
        }
    }
}

/// Reads one event for usage, and passes it on unless it is the usage chunk the client did not
/// ask for (or the client has gone).
async fn forward(
    event: Vec<u8>,
    wants_usage: bool,
    progress: &mut Progress,
    tx: &mpsc::Sender<Bytes>,
) {
    let mut pass = true;
    if let Some(data) = sse::data_of(&event) {
        if data == "[DONE]" {
            // Held back until the charge is queued (see `pump`).
            progress.saw_done = true;
            pass = false;
        } else {
            if data.contains("\"usage\"") {
                if let Some(u) = usage::reported_usage(data.as_bytes()) {
                    progress.reported = Some(u);
                    let no_choices = serde_json::from_str::<Choices>(&data)
                        .map(|c| c.choices.is_empty())
                        .unwrap_or(false);
                    pass = wants_usage || !no_choices;
                }
            }
            if progress.reported.is_none() {
                progress.counted_output += usage::count_output(data.as_bytes());
            }
        }
    }
    if pass && progress.client_gone_at.is_none() && tx.send(Bytes::from(event)).await.is_err() {
        progress.client_gone_at = Some(Instant::now());
    }
}
