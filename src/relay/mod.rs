//! The `/v1` gateway: check the key, price and hold the worst case, try upstreams in order until
//! one answers, pass its answer through (streams chunk by chunk), and settle to the exact cost —
//! or release the hold in full when nothing could be served.

pub mod demo;
pub mod handlers;
pub mod reply;
pub mod request;
pub mod sse;
pub mod stream;
pub mod tokenizer;
pub mod upstreams;
pub mod usage;
pub mod writer;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::keys::auth::authenticate;
use crate::keys::cache::VerifiedKey;
use crate::ledger::funds::{Charge, HoldError, Reservation};
use crate::ledger::money::Money;
use crate::logs::LogRow;
use crate::pricing::PriceTable;
use crate::state::AppState;
use reply::Reply;
use request::{ClientRequest, Endpoint};
use upstreams::{Upstream, UpstreamSet};
use usage::{Usage, UsageSource};

/// Largest response body read from an upstream in one piece (non-streaming).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// Adds the request id to a `/v1` error's message, so a user can quote it to the operator.
fn with_request_id(mut e: ApiError, request_id: &str) -> ApiError {
    e.message = format!("{} (request id: {request_id})", e.message);
    e
}

/// Serves one `/v1` request that goes to an upstream. Every outcome leaves a log row.
pub async fn relay(
    state: AppState,
    endpoint: Endpoint,
    request_id: String,
    ip: IpAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Everything from the key check on runs in its own task: if the client goes away (and the
    // server drops this future), the request still finishes, and a hold it took is settled or
    // released, never left open.
    let id = request_id.clone();
    let task = tokio::spawn(serve_request(
        state, endpoint, request_id, ip, headers, body,
    ));
    match task.await {
        Ok(response) => response,
        Err(e) => {
            with_request_id(ApiError::internal(format!("relay task: {e}")), &id).into_response()
        }
    }
}

async fn serve_request(
    state: AppState,
    endpoint: Endpoint,
    request_id: String,
    ip: IpAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let mut log = LogRow {
        request_id: request_id.clone(),
        created_at: state.clock.now(),
        endpoint: endpoint.path(),
        client_ip: ip.to_string(),
        ..LogRow::default()
    };
    match prepare(&state, endpoint, ip, &headers, body, &mut log).await {
        Ok(job) => {
            let job = Job {
                started,
                log,
                ..job
            };
            job.run().await
        }
        Err(e) => {
            log.status = e.status.as_u16();
            log.error = e.message.clone();
            log.latency_ms = started.elapsed().as_millis() as u64;
            // Nothing was held: the log row need not be waited for.
            state.metrics.observe(&log);
            state.writer.finish(None, log, state.clock.now());
            with_request_id(e, &request_id).into_response()
        }
    }
}

/// Everything the upstream phase needs, owned.
pub struct Job {
    state: AppState,
    req: ClientRequest,
    key: Arc<VerifiedKey>,
    prices: Arc<PriceTable>,
    upstreams: Arc<UpstreamSet>,
    held: Option<Reservation>,
    /// Prompt tokens by the tokenizer, once counted (only when an upstream reports no usage).
    counted_input: Option<u64>,
    log: LogRow,
    started: Instant,
}

/// Checks everything that can be checked before an upstream is called, then takes the hold.
async fn prepare(
    state: &AppState,
    endpoint: Endpoint,
    ip: IpAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    log: &mut LogRow,
) -> Result<Job, ApiError> {
    let key = authenticate(state, headers, ip).await?;
    log.user_id = Some(key.user_id);
    log.key_id = Some(key.id);
    log.key_name = key.name.clone();
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large("request body is larger than this server accepts")
        } else {
            ApiError::bad_request("invalid_body", "could not read the request body")
        }
    })?;
    let req = ClientRequest::parse(endpoint, &body)?;
    log.model = req.model.clone();
    log.stream = req.stream;
    let prices = state.prices();
    let upstreams = state.upstreams();
    if !prices.is_served(&req.model) || !upstreams.serves(&req.model) {
        return Err(ApiError::not_found(
            "model_not_found",
            format!(
                "the model `{}` does not exist or is not served here",
                req.model
            ),
        ));
    }
    if !key.allows_model(&req.model) {
        return Err(ApiError::forbidden(
            "model_not_allowed",
            format!("this API key may not use the model `{}`", req.model),
        ));
    }
    let mut job = Job {
        state: state.clone(),
        req,
        key,
        prices,
        upstreams,
        held: None,
        counted_input: None,
        log: LogRow::default(),
        started: Instant::now(),
    };
    if !job.prices.is_free(&job.req.model) {
        let input = job.req.input_token_bound();
        let max_output = match endpoint {
            Endpoint::Embeddings => 0,
            _ => job
                .req
                .max_output
                .unwrap_or(u64::from(state.config().billing.default_max_output_tokens)),
        };
        let amount = job
            .prices
            .cost(&job.req.model, &job.key.group, input, max_output)
            .map_err(|e| ApiError::bad_request("request_too_large", e.to_string()))?;
        if amount.is_positive() {
            let held = state
                .funds
                .reserve(job.key.user_id, Some(job.key.id), amount)
                .map_err(|e| match e {
                HoldError::Balance => ApiError::new(
                    StatusCode::FORBIDDEN,
                    "insufficient_quota",
                    "insufficient_quota",
                    format!("your balance is too low for this request (up to {amount}); top up to continue"),
                ),
                HoldError::KeyLimit => ApiError::new(
                    StatusCode::PAYMENT_REQUIRED,
                    "insufficient_quota",
                    "key_limit_reached",
                    format!("this API key's spending limit is used up (this request may cost up to {amount})"),
                ),
                HoldError::Failed(e) => e,
            })?;
            job.held = Some(held);
        }
    }
    Ok(job)
}

/// What one try at an upstream came to.
enum Attempt {
    /// A response for the client (success, or the client's own mistake passed through).
    Done(Response),
    /// Try the next upstream; nothing reached the client. `timed_out` picks 504 over 502.
    Retry { error: String, timed_out: bool },
}

/// Statuses that say the upstream (or its account with the provider) is at fault, not the client.
fn is_upstream_fault(status: StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 404 | 408 | 429)
}

impl Job {
    async fn run(mut self) -> Response {
        let now_ms = self.state.clock.now_ms();
        let candidates = self.upstreams.candidates(&self.req.model, now_ms);
        let mut last_error = String::from("no upstream serves this model");
        let mut all_timed_out = !candidates.is_empty();
        for upstream in candidates {
            self.log.upstream = upstream.name.clone();
            match self.attempt(&upstream).await {
                Attempt::Done(response) => return response,
                Attempt::Retry { error, timed_out } => {
                    let relay = &self.state.config().relay;
                    upstream.health.record_failure(
                        &error,
                        self.state.clock.now_ms(),
                        relay.failures_before_cooldown,
                        relay.cooldown_secs as i64 * 1000,
                    );
                    tracing::warn!(upstream = %upstream.name, %error, "upstream failed; trying the next");
                    all_timed_out &= timed_out;
                    last_error = format!("{}: {error}", upstream.name);
                }
            }
        }
        let (status, code) = if all_timed_out {
            (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout")
        } else {
            (StatusCode::BAD_GATEWAY, "upstream_failed")
        };
        let error = ApiError::new(
            status,
            "upstream_error",
            code,
            "no upstream could answer this request; it was not billed",
        );
        self.log.error = last_error;
        self.end_without_charge(status.as_u16());
        with_request_id(error, &self.log.request_id).into_response()
    }

    /// Sends the request to one upstream and, if it answers well, delivers the answer.
    async fn attempt(&mut self, upstream: &Upstream) -> Attempt {
        let config = self.state.config();
        let first_byte = Duration::from_secs(config.relay.first_byte_timeout_secs);
        let idle = Duration::from_secs(config.relay.idle_timeout_secs);
        let attempt_started = Instant::now();
        let reply = match reply::send(
            &self.state,
            upstream,
            &self.req,
            self.counted_input,
            first_byte,
        )
        .await
        {
            Ok(reply) => reply,
            Err(e) => {
                return Attempt::Retry {
                    error: e.message,
                    timed_out: e.timed_out,
                }
            }
        };
        let status = reply.status;
        if is_upstream_fault(status) {
            let snippet = reply.body.read_snippet(idle).await;
            return Attempt::Retry {
                error: format!("answered {status}: {snippet}"),
                timed_out: false,
            };
        }
        if !status.is_success() {
            // The client's own mistake (400, 413, 422, …): passed through as it is, not billed.
            return Attempt::Done(self.pass_through_refusal(reply, idle).await);
        }
        if self.req.stream && reply.is_event_stream() {
            let mut body = reply.body;
            let first = match body.next_chunk(idle).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => {
                    return Attempt::Retry {
                        error: "closed the stream before any data".into(),
                        timed_out: false,
                    }
                }
                Err(e) => {
                    return Attempt::Retry {
                        error: e.message,
                        timed_out: e.timed_out,
                    }
                }
            };
            upstream
                .health
                .record_success(attempt_started.elapsed().as_millis() as u64);
            return Attempt::Done(stream::start(self.take(), body, first));
        }
        let content_type = reply.content_type.clone();
        let body = match reply.body.read_all(idle, MAX_RESPONSE).await {
            Ok(body) => body,
            Err(e) => {
                return Attempt::Retry {
                    error: e.message,
                    timed_out: e.timed_out,
                }
            }
        };
        let reported = match usage::response_usage(&body) {
            Ok(reported) => reported,
            Err(_) => {
                return Attempt::Retry {
                    error: "sent a body that is not JSON".into(),
                    timed_out: false,
                }
            }
        };
        upstream
            .health
            .record_success(attempt_started.elapsed().as_millis() as u64);
        let (usage, source) = match reported {
            Some(u) => (u, UsageSource::Upstream),
            None => (
                Usage {
                    input: self.input_tokens(),
                    output: usage::count_output(&body),
                },
                UsageSource::Counted,
            ),
        };
        self.end_with_usage(usage, source, 200, String::new());
        let mut response = Response::new(Body::from(body));
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        Attempt::Done(response)
    }

    async fn pass_through_refusal(&mut self, reply: Reply, idle: Duration) -> Response {
        let status = reply.status;
        let content_type = reply.content_type.clone();
        let body = reply
            .body
            .read_all(idle, 1024 * 1024)
            .await
            .unwrap_or_default();
        self.log.error = String::from_utf8_lossy(&body).chars().take(300).collect();
        self.end_without_charge(status.as_u16());
        let mut response = (status, body).into_response();
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        response
    }

    /// Prompt tokens by the tokenizer (counted once).
    fn input_tokens(&mut self) -> u64 {
        match self.counted_input {
            Some(n) => n,
            None => {
                let n = self.req.count_input_tokens();
                self.counted_input = Some(n);
                n
            }
        }
    }

    /// Moves the job out (for the stream task), leaving an empty shell.
    fn take(&mut self) -> Job {
        Job {
            state: self.state.clone(),
            req: std::mem::replace(&mut self.req, ClientRequest::empty()),
            key: self.key.clone(),
            prices: self.prices.clone(),
            upstreams: self.upstreams.clone(),
            held: self.held.take(),
            counted_input: self.counted_input,
            log: std::mem::take(&mut self.log),
            started: self.started,
        }
    }

    /// Finishes a served request: its exact cost is settled against the hold.
    fn end_with_usage(&mut self, usage: Usage, source: UsageSource, status: u16, note: String) {
        self.log.input_tokens = usage.input;
        self.log.output_tokens = usage.output;
        self.log.usage_source = source.as_str();
        self.log.status = status;
        self.log.error = note;
        self.log.latency_ms = self.started.elapsed().as_millis() as u64;
        let charge = match self.held.take() {
            Some(held) => {
                let cost = self
                    .prices
                    .cost(&self.req.model, &self.key.group, usage.input, usage.output)
                    .unwrap_or(Money::from_units(i64::MAX));
                self.log.cost = cost;
                held.charge(cost)
            }
            None => None,
        };
        self.commit(charge);
    }

    /// Hands the charge and log row to the request writer. It is not waited for: from here on
    /// the charge counts against the balance in memory until the writer commits it, so the next
    /// request the client sends already sees it. (A crash before the commit leaves the request
    /// unbilled, never billed twice.)
    fn commit(&mut self, charge: Option<Charge>) {
        self.state.metrics.observe(&self.log);
        self.state.writer.finish(
            charge,
            std::mem::take(&mut self.log),
            self.state.clock.now(),
        );
    }

    /// Finishes a request that was not served: the hold goes back in full.
    fn end_without_charge(&mut self, status: u16) {
        self.log.status = status;
        self.log.latency_ms = self.started.elapsed().as_millis() as u64;
        self.log.cost = Money::ZERO;
        if let Some(held) = self.held.take() {
            held.release();
        }
        self.commit(None);
    }
}
