//! Deliver: the answer goes to the client in the client's format — passed through when the
//! upstream spoke it, translated otherwise — whole, or as a stream event by event as it arrives.
//! Usage is read on the way, in the upstream's format, and the request is settled: a whole
//! answer before it leaves, a stream when it ends (its last events wait for the charge to be
//! counted, so whatever the client sends next already sees it). A client that leaves mid-stream
//! is charged for what the upstream produced: reading goes on, for a bounded time, to learn the
//! usage the provider bills.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use tokio::sync::mpsc;

use super::attempt::{Answer, Answered};
use super::buffers::Buffered;
use super::dialects::{Dialect, EventKind, StreamMark};
use super::request::ClientRequest;
use super::settle::{with_request_id, Bill};
use super::sse::{self, EventSplitter};
use super::translate::{Plan, StreamTranslator};
use super::upstreams::ReplyBody;
use super::usage::{Usage, UsageSource};
use crate::error::ApiError;

/// How long the end of the body is awaited once the stream's last event has come.
const AFTER_END: Duration = Duration::from_secs(5);

/// Events buffered between the upstream reader and a slow client.
const BUFFERED_EVENTS: usize = 64;

/// Past this much unreported event data, it is counted and dropped rather than kept.
const MAX_UNREPORTED: usize = 4 * 1024 * 1024;

pub fn deliver(req: ClientRequest, bill: Bill, answered: Answered) -> Response {
    let Answered { plan, answer, .. } = answered;
    match answer {
        Answer::Refused {
            status,
            content_type,
            body,
        } => refused(&req, bill, plan, status, content_type, body),
        Answer::Whole {
            body,
            content_type,
            usage,
        } => whole(&req, bill, plan, body, content_type, usage),
        Answer::Stream { first, rest } => stream(req, bill, plan, first, rest),
    }
}

/// The client's own mistake: as the upstream said it when it speaks the client's format,
/// else in the client's shape. Not billed.
fn refused(
    req: &ClientRequest,
    bill: Bill,
    plan: Plan,
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
) -> Response {
    let said: String = String::from_utf8_lossy(&body).chars().take(300).collect();
    let response = match plan {
        Plan::Pass => with_content_type((status, body).into_response(), &content_type),
        Plan::Translate(_) => {
            let message = upstream_message(&body).unwrap_or_else(|| said.clone());
            let kind = if status == StatusCode::TOO_MANY_REQUESTS {
                "rate_limit_error"
            } else {
                "invalid_request_error"
            };
            let error = ApiError::new(status, kind, "upstream_refused", message);
            req.dialect
                .error_response(&with_request_id(error, bill.request_id()))
        }
    };
    bill.unserved(status.as_u16(), "upstream_refused", said);
    response
}

/// The `message` of an error body in any of the shapes upstreams use.
fn upstream_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value["error"]["message"]
        .as_str()
        .or_else(|| value["message"].as_str())
        .map(str::to_string)
}

fn with_content_type(mut response: Response, content_type: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
}

/// A whole answer: settled, then sent in one piece.
fn whole(
    req: &ClientRequest,
    bill: Bill,
    plan: Plan,
    body: Buffered,
    content_type: String,
    usage: Option<Usage>,
) -> Response {
    let answer_format = plan.upstream_wire(req.dialect.wire()).dialect();
    let counted_output = |body: &Buffered| answer_format.count_output(&body.to_vec());
    let (body, content_type, output) = match plan {
        Plan::Pass => {
            let output = usage.is_none().then(|| counted_output(&body));
            (body.into_body(), content_type, output)
        }
        Plan::Translate(t) => match (t.answer)(req, &body.to_vec()) {
            Ok(translated) => {
                let output = usage.is_none().then(|| counted_output(&body));
                (
                    Body::from(translated),
                    "application/json".to_string(),
                    output,
                )
            }
            Err(e) => {
                let error = with_request_id(
                    ApiError::new(
                        StatusCode::BAD_GATEWAY,
                        "upstream_error",
                        "upstream_failed",
                        "the upstream's answer could not be translated; it was not billed",
                    ),
                    bill.request_id(),
                );
                let upstream = bill.log.upstream.clone();
                bill.unserved(
                    502,
                    "upstream_failed",
                    format!("{upstream}: untranslatable answer: {e}"),
                );
                return req.dialect.error_response(&error);
            }
        },
    };
    let (usage, source) = match usage {
        Some(u) => (u, UsageSource::Upstream),
        None => (
            Usage {
                input: req.prompt_tokens(),
                output: output.unwrap_or(0),
                ..Usage::default()
            },
            UsageSource::Counted,
        ),
    };
    let (status, code, note) = if bill.client_left() {
        (
            499,
            "client_disconnected",
            "client disconnected; charged for what the upstream produced".to_string(),
        )
    } else {
        (200, "", String::new())
    };
    bill.served(usage, source, status, code, note);
    with_content_type(Response::new(body), &content_type)
}

fn event_stream(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Answers a stream whose first chunk was already read. When that chunk holds the whole stream
/// (the upstream has finished), the answer goes out whole, in one write. Otherwise a task pumps
/// the rest, and the first chunk's events are already waiting when the client's body is first
/// read, so they leave with the headers.
fn stream(
    req: ClientRequest,
    bill: Bill,
    plan: Plan,
    first: Bytes,
    mut rest: ReplyBody,
) -> Response {
    let mut relay = StreamRelay::new(req, bill, plan);
    let (now, failure) = match relay.take(&first) {
        Ok(out) => (out, None),
        Err(sse::Oversize) => (
            Vec::new(),
            Some("sent an oversized stream event".to_string()),
        ),
    };
    if failure.is_none() && relay.ended {
        if let Some(Ok(None)) = rest.next_chunk(Duration::ZERO).now_or_never() {
            relay.finish_events();
            let mut whole = now;
            whole.extend(relay.end(None));
            return event_stream(Body::from(whole));
        }
    }
    let (tx, mut rx) = mpsc::channel::<Bytes>(BUFFERED_EVENTS);
    if !now.is_empty() {
        // The channel is new and empty: this cannot fail.
        let _ = tx.try_send(Bytes::from(now));
    }
    tokio::spawn(pump(relay, rest, failure, tx));
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|item| item.map(Ok::<Bytes, Infallible>))
    });
    event_stream(Body::from_stream(stream))
}

/// How upstream events become the client's.
enum Emit {
    Pass,
    Translate(Box<dyn StreamTranslator>),
}

/// One stream on its way: splits the upstream's events, reads usage in the upstream's format,
/// turns events into the client's, and holds the end back.
struct StreamRelay {
    req: ClientRequest,
    bill: Bill,
    /// The format the upstream answers in.
    answer: &'static dyn Dialect,
    emit: Emit,
    splitter: EventSplitter,
    usage: Option<Usage>,
    /// The upstream's last event has come.
    ended: bool,
    /// That last event was the upstream's own failure event.
    failed: bool,
    /// Where a stream passed through stands, for an error event to follow on from.
    mark: StreamMark,
    /// What came with or after the last event: it goes out after the charge.
    tail: Vec<u8>,
    /// The data of events seen before any usage was reported: counted with the tokenizer only
    /// if the stream ends without usage (most upstreams report it last), so a stream that
    /// reports usage never pays for tokenizing (or loading) anything.
    unreported: Vec<String>,
    unreported_len: usize,
    /// Output tokens counted so far from events already folded out of `unreported`.
    counted_output: u64,
    client_gone_at: Option<Instant>,
}

impl StreamRelay {
    fn new(req: ClientRequest, bill: Bill, plan: Plan) -> StreamRelay {
        let answer = plan.upstream_wire(req.dialect.wire()).dialect();
        let emit = match plan {
            Plan::Pass => Emit::Pass,
            Plan::Translate(t) => Emit::Translate((t.stream)(&req)),
        };
        StreamRelay {
            req,
            bill,
            answer,
            emit,
            splitter: EventSplitter::default(),
            usage: None,
            ended: false,
            failed: false,
            mark: StreamMark::default(),
            tail: Vec::new(),
            unreported: Vec::new(),
            unreported_len: 0,
            counted_output: 0,
            client_gone_at: None,
        }
    }

    /// Takes one upstream chunk; returns what goes on to the client now. The events of one
    /// chunk go together, in one write; a chunk that ends the stream goes out whole at the end.
    fn take(&mut self, chunk: &[u8]) -> Result<Vec<u8>, sse::Oversize> {
        let mut out = Vec::new();
        for event in self.splitter.push(chunk)? {
            self.one_event(&event, &mut out);
        }
        if self.ended {
            out.append(&mut self.tail);
            self.tail = out;
            return Ok(Vec::new());
        }
        Ok(out)
    }

    /// The body ended: an unfinished last event is read as well.
    fn finish_events(&mut self) {
        if let Some(rest) = self.splitter.finish() {
            let mut out = Vec::new();
            self.one_event(&rest, &mut out);
            self.tail.append(&mut out);
        }
    }

    fn one_event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        let data = sse::data_of(event);
        let kind = match &data {
            Some(data) => self.answer.read_event(data, &mut self.usage),
            None => EventKind::Content,
        };
        if matches!(kind, EventKind::End | EventKind::Failed) {
            self.ended = true;
            self.failed = kind == EventKind::Failed;
        }
        let target = if self.ended { &mut self.tail } else { out };
        match &mut self.emit {
            Emit::Pass => {
                if let Some(data) = &data {
                    self.req.dialect.mark(data, &mut self.mark);
                }
                if let Some(bytes) = self.req.dialect.pass_event(&self.req, kind, event) {
                    target.extend_from_slice(&bytes);
                }
            }
            Emit::Translate(t) => t.event(kind, data.as_deref(), target),
        }
        if let Some(data) = data {
            if !self.ended {
                self.keep_for_counting(data);
            }
        }
    }

    fn keep_for_counting(&mut self, data: String) {
        if self.usage.is_some() {
            if !self.unreported.is_empty() {
                self.unreported = Vec::new();
                self.unreported_len = 0;
            }
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
            self.counted_output += self.answer.count_output(data.as_bytes());
        }
        self.unreported_len = 0;
    }

    /// Ends the request: charges what the upstream produced (or, on a failure, nothing), and
    /// returns the stream's last bytes: the held-back tail, or an error event.
    fn end(mut self, failure: Option<String>) -> Vec<u8> {
        let mut last = std::mem::take(&mut self.tail);
        let upstream = self.bill.log.upstream.clone();
        match failure {
            Some(error) => {
                tracing::warn!(request_id = %self.bill.request_id(), %upstream, %error, "upstream stream failed");
                let event = ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    "upstream_failed",
                    "the upstream stream failed; this request was not billed",
                );
                let event = with_request_id(event, self.bill.request_id());
                let written = match &mut self.emit {
                    Emit::Translate(t) => t.fail(&event, &mut last),
                    Emit::Pass => false,
                };
                if !written {
                    last.extend_from_slice(&self.req.dialect.stream_error(&event, &self.mark));
                }
                self.bill
                    .unserved(502, "upstream_failed", format!("{upstream}: {error}"));
            }
            // The upstream said in its own words that it failed (its event goes on to the
            // client as sent) and reported no usage: nothing to bill.
            None if self.failed && self.usage.is_none() => {
                tracing::warn!(request_id = %self.bill.request_id(), %upstream, "upstream stream ended in failure");
                self.bill.unserved(
                    502,
                    "upstream_failed",
                    format!("{upstream}: the stream ended in a failure event"),
                );
            }
            None => {
                let (usage, source) = match self.usage {
                    Some(u) => (u, UsageSource::Upstream),
                    None => {
                        self.count_unreported();
                        let usage = Usage {
                            input: self.req.prompt_tokens(),
                            output: self.counted_output,
                            ..Usage::default()
                        };
                        (usage, UsageSource::Counted)
                    }
                };
                let (status, code, note) = match self.client_gone_at {
                    Some(_) => (
                        499,
                        "client_disconnected",
                        "client disconnected; charged for what the upstream produced".to_string(),
                    ),
                    None => (200, "", String::new()),
                };
                if let Emit::Translate(t) = &mut self.emit {
                    t.finish(&usage, &mut last);
                }
                self.bill.served(usage, source, status, code, note);
            }
        }
        last
    }

    /// Sends what one chunk brought to the client, unless the client has gone (which it notes).
    async fn send(&mut self, out: Vec<u8>, tx: &mpsc::Sender<Bytes>) {
        if out.is_empty() || self.client_gone_at.is_some() {
            return;
        }
        if tx.send(Bytes::from(out)).await.is_err() {
            self.client_gone_at = Some(Instant::now());
        }
    }
}

async fn pump(
    mut relay: StreamRelay,
    mut body: ReplyBody,
    mut failure: Option<String>,
    tx: mpsc::Sender<Bytes>,
) {
    let config = relay.bill.state().config();
    let idle = Duration::from_secs(config.relay.idle_timeout_secs);
    let grace = Duration::from_secs(config.relay.disconnect_grace_secs);
    while failure.is_none() {
        let wait = match relay.client_gone_at {
            Some(at) => grace.saturating_sub(at.elapsed()),
            // After the last event only the end of the body is awaited.
            None if relay.ended => idle.min(AFTER_END),
            None => idle,
        };
        let chunk = match body.next_chunk(wait).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) if relay.ended => break,
            Err(_) if relay.client_gone_at.is_some() => {
                tracing::info!(request_id = %relay.bill.request_id(), "stopped reading after the client left");
                break;
            }
            Err(e) => {
                failure = Some(e.message);
                break;
            }
        };
        match relay.take(&chunk) {
            Ok(out) => relay.send(out, &tx).await,
            Err(sse::Oversize) => failure = Some("sent an oversized stream event".into()),
        }
    }
    if failure.is_none() {
        relay.finish_events();
    }
    let gone = relay.client_gone_at;
    let last = relay.end(failure);
    if gone.is_none() && !last.is_empty() {
        let _ = tx.send(Bytes::from(last)).await;
    }
}
