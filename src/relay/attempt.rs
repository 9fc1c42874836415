//! Attempt: tries the routed upstreams in order until one answers. Connect errors, timeouts,
//! the statuses that say the upstream is at fault, a stream that ends before any data and a body
//! that is not what its format says all move on to the next, before any byte reaches the client;
//! failures count against the upstream's health. The client's own mistakes (other 4xx) are the
//! answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;

use super::buffers::Buffered;
use super::request::ClientRequest;
use super::translate::Plan;
use super::upstreams::{ReplyBody, Upstream, WholeError};
use super::usage::Usage;
use crate::error::ApiError;
use crate::logs::LogRow;
use crate::state::AppState;

/// Largest response body read from an upstream in one piece (non-streaming).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// The upstream that answered, how it was reached, and what it said.
pub struct Answered {
    pub upstream: Arc<Upstream>,
    pub plan: Plan,
    pub answer: Answer,
}

pub enum Answer {
    /// A whole answer, read and parsed (in the upstream's format).
    Whole {
        body: Buffered,
        content_type: String,
        usage: Option<Usage>,
    },
    /// A stream whose first chunk has come; the rest is still to be read.
    Stream { first: Bytes, rest: ReplyBody },
    /// The client's own mistake (400, 413, 422, …), as the upstream worded it.
    Refused {
        status: StatusCode,
        content_type: String,
        body: Vec<u8>,
    },
}

/// Why nothing was served.
pub struct Unserved {
    pub status: StatusCode,
    pub code: &'static str,
    /// For the log: the last upstream's failure.
    pub error: String,
    /// A request no upstream could take as it is (say, a translation refused it): the client's
    /// mistake, told as such.
    pub refusal: Option<ApiError>,
}

/// What one try at an upstream came to.
enum Try {
    Answered(Answer),
    /// Try the next upstream; nothing reached the client. `timed_out` picks 504 over 502.
    Next {
        error: String,
        timed_out: bool,
    },
    /// This upstream cannot take the request as it is.
    Unfit(ApiError),
    /// The server has no room to buffer the answer now; another upstream's would not fit either.
    OverBudget,
}

/// Statuses that say the upstream (or its account with the provider) is at fault, not the client.
fn is_upstream_fault(status: StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 404 | 408 | 429)
}

/// Tries `candidates` in order; the first answer wins. The log row learns which upstream
/// answered (or was tried last).
pub async fn first_answer(
    state: &AppState,
    req: &ClientRequest,
    log: &mut LogRow,
    candidates: Vec<(Arc<Upstream>, Plan)>,
) -> Result<Answered, Unserved> {
    let config = state.config();
    let mut last_error = String::from("no upstream serves this model");
    let mut all_timed_out = !candidates.is_empty();
    let mut refusal = None;
    for (upstream, plan) in candidates {
        log.upstream = upstream.name.clone();
        let started = Instant::now();
        match try_one(state, req, &upstream, plan).await {
            Try::Answered(answer) => {
                // A refusal is the client's doing: it says nothing of the upstream's health.
                if !matches!(answer, Answer::Refused { .. }) {
                    upstream
                        .health
                        .record_success(started.elapsed().as_millis() as u64);
                    if let Some(session) = &req.session {
                        state
                            .sticky
                            .answered(session, &upstream.name, state.clock.now_ms());
                    }
                }
                return Ok(Answered {
                    upstream,
                    plan,
                    answer,
                });
            }
            Try::Next { error, timed_out } => {
                let relay = &config.relay;
                upstream.health.record_failure(
                    &error,
                    state.clock.now_ms(),
                    relay.failures_before_cooldown,
                    relay.cooldown_secs as i64 * 1000,
                );
                tracing::warn!(upstream = %upstream.name, %error, "upstream failed; trying the next");
                all_timed_out &= timed_out;
                last_error = format!("{}: {error}", upstream.name);
            }
            Try::Unfit(e) => {
                all_timed_out = false;
                last_error = format!("{}: {}", upstream.name, e.message);
                refusal.get_or_insert(e);
            }
            Try::OverBudget => {
                tracing::warn!(upstream = %upstream.name, "no room to buffer a whole answer");
                let error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    "server_busy",
                    "the server is buffering as many large answers as it may; retry shortly",
                );
                let mut error = error;
                error.retry_after_secs = Some(1);
                return Err(Unserved {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "server_busy",
                    error: format!(
                        "{}: its answer did not fit in [relay] max_buffered_mb",
                        upstream.name
                    ),
                    refusal: Some(error),
                });
            }
        }
    }
    let (status, code) = if all_timed_out {
        (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout")
    } else {
        (StatusCode::BAD_GATEWAY, "upstream_failed")
    };
    Err(Unserved {
        status,
        code,
        error: last_error,
        refusal,
    })
}

/// Sends the request to one upstream and reads enough of its answer to know it is one.
async fn try_one(state: &AppState, req: &ClientRequest, upstream: &Upstream, plan: Plan) -> Try {
    let config = state.config();
    let first_byte = Duration::from_secs(config.relay.first_byte_timeout_secs);
    let idle = Duration::from_secs(config.relay.idle_timeout_secs);
    let model = upstream.upstream_model(&req.model);
    let wire = plan.upstream_wire(req.dialect.wire());
    let body = match plan {
        Plan::Pass => req.dialect.upstream_body(req, model),
        Plan::Translate(t) => match (t.request)(req, model) {
            Ok(body) => body,
            Err(e) => return Try::Unfit(e),
        },
    };
    let reply = match upstream.send(state, wire, body, req, first_byte).await {
        Ok(reply) => reply,
        Err(e) => {
            return Try::Next {
                error: e.message,
                timed_out: e.timed_out,
            }
        }
    };
    let status = reply.status;
    if is_upstream_fault(status) {
        let snippet = reply.body.read_snippet(idle).await;
        return Try::Next {
            error: format!("answered {status}: {snippet}"),
            timed_out: false,
        };
    }
    if !status.is_success() {
        let body = reply
            .body
            .read_all(idle, 1024 * 1024)
            .await
            .unwrap_or_default();
        return Try::Answered(Answer::Refused {
            status,
            content_type: reply.content_type,
            body,
        });
    }
    if req.stream && reply.is_event_stream() {
        let mut rest = reply.body;
        return match rest.next_chunk(idle).await {
            Ok(Some(first)) => Try::Answered(Answer::Stream { first, rest }),
            Ok(None) => Try::Next {
                error: "closed the stream before any data".into(),
                timed_out: false,
            },
            Err(e) => Try::Next {
                error: e.message,
                timed_out: e.timed_out,
            },
        };
    }
    let content_type = reply.content_type.clone();
    let body = match reply
        .body
        .read_whole(idle, MAX_RESPONSE, &state.buffers)
        .await
    {
        Ok(body) => body,
        Err(WholeError::Send(e)) => {
            return Try::Next {
                error: e.message,
                timed_out: e.timed_out,
            }
        }
        Err(WholeError::OverBudget) => return Try::OverBudget,
    };
    let usage = match body.single() {
        // Most answers come in one piece: parsed where they lie.
        Some(piece) => wire.dialect().answer_usage(piece),
        None => wire.dialect().answer_usage_from(&mut body.reader()),
    };
    match usage {
        Ok(usage) => Try::Answered(Answer::Whole {
            body,
            content_type,
            usage,
        }),
        Err(_) => Try::Next {
            error: "sent a body that is not JSON".into(),
            timed_out: false,
        },
    }
}
