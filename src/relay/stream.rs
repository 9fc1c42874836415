//! Streaming: SSE events pass to the client as they arrive, while usage is read on the way. The
//! usage chunk the gateway asked for is kept from clients that did not ask for it. A client that
//! leaves mid-stream is charged for what the upstream produced: reading goes on (for a bounded
//! time) to learn the usage the provider bills.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use futures_util::FutureExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::reply::ReplyBody;
use super::sse::{self, EventSplitter};
use super::usage::{self, Usage, UsageSource};
use super::Job;

/// How long the end of the body is awaited once `[DONE]` has come.
const AFTER_DONE: Duration = Duration::from_secs(5);

/// Events buffered between the upstream reader and a slow client.
const BUFFERED_EVENTS: usize = 64;

/// Answers a stream whose first chunk was already read. When that chunk holds the whole stream
/// (the upstream has finished), the answer goes out whole, in one write. Otherwise a task pumps
/// the rest, and the first chunk's events are already waiting when the client's body is first
/// read, so they leave with the headers.
pub fn start(mut job: Job, mut body: ReplyBody, first: Bytes) -> Response {
    let mut reader = Reader::new(job.req.wants_usage);
    let (now, failure) = match reader.take(&first) {
        Ok(out) => (out, None),
        Err(sse::Oversize) => (
            Vec::new(),
            Some("sent an oversized stream event".to_string()),
        ),
    };
    if failure.is_none() && reader.progress.saw_done {
        if let Some(Ok(None)) = body.next_chunk(Duration::ZERO).now_or_never() {
            reader.finish();
            let whole = end(&mut job, &mut reader, None);
            return respond(Body::from(whole));
        }
    }
    let (tx, mut rx) = mpsc::channel::<Bytes>(BUFFERED_EVENTS);
    if !now.is_empty() {
        // The channel is new and empty: this cannot fail.
        let _ = tx.try_send(Bytes::from(now));
    }
    tokio::spawn(pump(job, body, reader, failure, tx));
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|item| item.map(Ok::<Bytes, Infallible>))
    });
    respond(Body::from_stream(stream))
}

fn respond(body: Body) -> Response {
    let mut response = Response::new(body);
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
    /// Output tokens counted so far from events already folded out of `unreported`.
    counted_output: u64,
    /// The data of events seen before any usage was reported: counted with the tokenizer only
    /// if the stream ends without usage (most upstreams report it last), so a stream that
    /// reports usage never pays for tokenizing (or loading) anything.
    unreported: Vec<String>,
    /// Bytes held in `unreported`.
    unreported_len: usize,
    client_gone_at: Option<Instant>,
}

/// Past this much unreported event data, it is counted and dropped rather than kept.
const MAX_UNREPORTED: usize = 4 * 1024 * 1024;

impl Progress {
    fn keep_for_counting(&mut self, data: String) {
        if self.reported.is_some() {
            return;
        }
        self.unreported_len += data.len();
        self.unreported.push(data);
        if self.unreported_len > MAX_UNREPORTED {
            self.count_unreported();
        }
    }

    fn count_unreported(&mut self) {
        for data in self.unreported.drain(..) {
            self.counted_output += usage::count_output(data.as_bytes());
        }
        self.unreported_len = 0;
    }
}

/// The reading side of a stream: splits events, reads usage, and holds the end back.
struct Reader {
    wants_usage: bool,
    splitter: EventSplitter,
    progress: Progress,
    /// What came with or after `[DONE]`: it goes out with the `[DONE]`, after the charge.
    tail: Vec<u8>,
}

impl Reader {
    fn new(wants_usage: bool) -> Reader {
        Reader {
            wants_usage,
            splitter: EventSplitter::default(),
            progress: Progress {
                saw_done: false,
                reported: None,
                counted_output: 0,
                unreported: Vec::new(),
                unreported_len: 0,
                client_gone_at: None,
            },
            tail: Vec::new(),
        }
    }

    /// Takes one upstream chunk; returns what goes on to the client now. The events of one
    /// chunk go together, in one write.
    fn take(&mut self, chunk: &[u8]) -> Result<Vec<u8>, sse::Oversize> {
        let mut out = Vec::new();
        for event in self.splitter.push(chunk)? {
            if inspect(&event, self.wants_usage, &mut self.progress) {
                out.extend_from_slice(&event);
            }
        }
        if self.progress.saw_done {
            self.tail.append(&mut out);
        }
        Ok(out)
    }

    /// The body ended: an unfinished last event joins the tail.
    fn finish(&mut self) {
        if let Some(rest) = self.splitter.finish() {
            if inspect(&rest, self.wants_usage, &mut self.progress) {
                self.tail.extend_from_slice(&rest);
            }
        }
    }
}

async fn pump(
    mut job: Job,
    mut body: ReplyBody,
    mut reader: Reader,
    mut failure: Option<String>,
    tx: mpsc::Sender<Bytes>,
) {
    let config = job.state.config();
    let idle = Duration::from_secs(config.relay.idle_timeout_secs);
    let grace = Duration::from_secs(config.relay.disconnect_grace_secs);
    while failure.is_none() {
        let progress = &reader.progress;
        let wait = match progress.client_gone_at {
            Some(at) => grace.saturating_sub(at.elapsed()),
            // After `[DONE]` only the end of the body is awaited.
            None if progress.saw_done => idle.min(AFTER_DONE),
            None => idle,
        };
        let chunk = match body.next_chunk(wait).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) if progress.saw_done => break,
            Err(_) if progress.client_gone_at.is_some() => {
                tracing::info!(request_id = %job.log.request_id, "stopped reading after the client left");
                break;
            }
            Err(e) => {
                failure = Some(e.message);
                break;
            }
        };
        match reader.take(&chunk) {
            Ok(out) => deliver(out, &mut reader.progress, &tx).await,
            Err(sse::Oversize) => failure = Some("sent an oversized stream event".into()),
        }
    }
    if failure.is_none() {
        reader.finish();
    }
    let last = end(&mut job, &mut reader, failure);
    deliver(last, &mut reader.progress, &tx).await;
}

/// Ends the request: charges what the upstream produced (or, on a failure, nothing), and returns
/// the stream's last bytes: the held-back tail and `[DONE]`, or an error event. They go out
/// after the charge is counted, so whatever the client sends next already sees its cost.
fn end(job: &mut Job, reader: &mut Reader, failure: Option<String>) -> Vec<u8> {
    let mut last = std::mem::take(&mut reader.tail);
    let progress = &mut reader.progress;
    let upstream = job.log.upstream.clone();
    match failure {
        Some(error) => {
            tracing::warn!(request_id = %job.log.request_id, %upstream, %error, "upstream stream failed");
            let event = serde_json::json!({ "error": {
                "message": format!("the upstream stream failed; this request was not billed (request id: {})", job.log.request_id),
                "type": "upstream_error",
                "code": "upstream_failed",
            }});
            last.extend_from_slice(format!("data: {event}\n\n").as_bytes());
            job.log.error = format!("{upstream}: {error}");
            job.end_without_charge(502);
        }
        None => {
            let (usage, source) = match progress.reported {
                Some(u) => (u, UsageSource::Upstream),
                None => {
                    progress.count_unreported();
                    let usage = Usage {
                        input: job.input_tokens(),
                        output: progress.counted_output,
                    };
                    (usage, UsageSource::Counted)
                }
            };
            let (status, note) = match progress.client_gone_at {
                Some(_) => (
                    499,
                    "client disconnected; charged for what the upstream produced".to_string(),
                ),
                None => (200, String::new()),
            };
            job.end_with_usage(usage, source, status, note);
            if progress.saw_done {
                last.extend_from_slice(b"data: [DONE]\n\n");
            }
        }
    }
    last
}

/// Reads one event for usage; says whether it goes on to the client (not the `[DONE]`, which
/// waits for the charge, nor a usage chunk the client did not ask for).
fn inspect(event: &[u8], wants_usage: bool, progress: &mut Progress) -> bool {
    let Some(data) = sse::data_of(event) else {
        return true;
    };
    if data == "[DONE]" {
        // Held back until the charge is queued (see `pump`).
        progress.saw_done = true;
        return false;
    }
    if data.contains("\"usage\"") {
        if let Some(u) = usage::reported_usage(data.as_bytes()) {
            progress.reported = Some(u);
            progress.unreported = Vec::new();
            progress.unreported_len = 0;
            let no_choices = serde_json::from_str::<Choices>(&data)
                .map(|c| c.choices.is_empty())
                .unwrap_or(false);
            return wants_usage || !no_choices;
        }
    }
    progress.keep_for_counting(data);
    true
}

/// Sends what one chunk brought to the client, unless the client has gone (which it notes).
async fn deliver(out: Vec<u8>, progress: &mut Progress, tx: &mpsc::Sender<Bytes>) {
    if out.is_empty() || progress.client_gone_at.is_some() {
        return;
    }
    if tx.send(Bytes::from(out)).await.is_err() {
        progress.client_gone_at = Some(Instant::now());
    }
}
