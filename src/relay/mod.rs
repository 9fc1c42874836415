//! The `/v1` gateway. Every relayed endpoint is one handler ([`endpoint`]) and one straight line
//! of stages, each in its own file, each handing the next what it needs:
//!
//! ```text
//!  client ──▶ admit ──▶ route ──▶ attempt ──▶ deliver ──▶ settle ──▶ ledger::writer
//!             key        which      send one     JSON, or     usage →     charge + log row,
//!             parse      upstreams  try; next    a stream     exact cost  group-committed
//!             price      in which   on faults    event by     → charge
//!             hold       order                   event        (or release)
//!              │                        │            │
//!              └── dialects/ ───────────┴── translate/ ──┬── upstreams/
//!                  the client's format       between two      openai, anthropic,
//!                  (chat, completions,       formats (or      demo: which formats
//!                  embeddings, messages,     two chained)     each speaks, how to
//!                  responses)                                 send
//! ```
//!
//! The seam: a request is read by its client's [`dialects::Dialect`] into a [`ClientRequest`]
//! (model, stream, output bound, prompt bound, session hint). Routing asks each upstream which
//! formats it speaks; where it speaks the client's, the request passes through (only the model
//! name mapped), else a [`translate::Translation`] rewrites the request, the answer and the
//! stream. Usage is read in the answer's format into one normalized [`usage::Usage`]. Errors
//! leave in the client's format. A new dialect is a new file in `dialects/` (and translations in
//! `translate/`) plus a line in the route table; a new upstream kind is a file in `upstreams/`.

pub mod admit;
pub mod attempt;
pub mod buffers;
pub mod count_tokens;
pub mod deliver;
pub mod dialects;
pub mod models;
pub mod request;
pub mod route;
pub mod settle;
pub mod sse;
pub mod tokenizer;
pub mod translate;
pub mod upstreams;
pub mod usage;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{post, MethodRouter};

use crate::error::ApiError;
use crate::logs::LogRow;
use crate::net::ClientIp;
use crate::router::RequestId;
use crate::state::AppState;
use dialects::{Dialect, Wire};
pub use request::ClientRequest;

/// The route for one relayed endpoint: every one is served by [`relay`], in its dialect.
pub fn endpoint(wire: Wire) -> MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>,
              Extension(RequestId(id)): Extension<RequestId>,
              ClientIp(ip): ClientIp,
              headers: HeaderMap,
              body: Result<Bytes, BytesRejection>| {
            relay(state, wire.dialect(), id, ip, headers, body)
        },
    )
}

/// Serves one relayed `/v1` request. Every outcome leaves a log row.
pub async fn relay(
    state: AppState,
    dialect: &'static dyn Dialect,
    request_id: String,
    ip: IpAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Everything from the key check on runs in its own task: if the client goes away (and the
    // server drops this future), the request still finishes, and a hold it took is settled or
    // released, never left open. The task learns that the client left from `left`.
    let id = request_id.clone();
    let left = ClientLeft::default();
    let watch = left.watch();
    let arrival = Arrival {
        ip,
        headers,
        started: Instant::now(),
        left,
    };
    let task = tokio::spawn(stages(state, dialect, request_id, arrival, body));
    let answer = task.await;
    watch.disarm();
    match answer {
        Ok(response) => response,
        Err(e) => dialect.error_response(&settle::with_request_id(
            ApiError::internal(format!("relay task: {e}")),
            &id,
        )),
    }
}

/// Set once the client has gone (the server dropped the request's future before its answer).
#[derive(Clone, Default)]
pub struct ClientLeft(Arc<AtomicBool>);

impl ClientLeft {
    pub fn has_left(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A guard that says the client left when it is dropped while still armed.
    fn watch(&self) -> LeaveWatch {
        LeaveWatch(Some(self.clone()))
    }
}

struct LeaveWatch(Option<ClientLeft>);

impl Drop for LeaveWatch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(left) = self.0.take() {
            left.0.store(true, Ordering::Relaxed);
        }
    }
}

impl LeaveWatch {
    /// The answer is ready: the client did not leave before it.
    fn disarm(mut self) {
        self.0 = None;
    }
}

/// What is known of a request as it arrives, before its body is read.
pub struct Arrival {
    pub ip: IpAddr,
    pub headers: HeaderMap,
    pub started: Instant,
    pub left: ClientLeft,
}

/// admit → route → attempt → deliver → settle.
async fn stages(
    state: AppState,
    dialect: &'static dyn Dialect,
    request_id: String,
    arrival: Arrival,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let log = LogRow {
        request_id,
        created_at: state.clock.now(),
        endpoint: dialect.path(),
        client_ip: arrival.ip.to_string(),
        ..LogRow::default()
    };
    let admit::Admitted { req, mut bill } = match admit::admit(&state, dialect, &arrival, body, log)
        .await
    {
        Ok(admitted) => admitted,
        Err((error, log)) => return settle::refused(&state, dialect, log, arrival.started, error),
    };
    let candidates = route::candidates(
        &state.upstreams(),
        &state.sticky,
        &req,
        state.clock.now_ms(),
    );
    match attempt::first_answer(&state, &req, &mut bill.log, candidates).await {
        Ok(answered) => deliver::deliver(req, bill, answered),
        Err(unserved) => {
            let error = match unserved.refusal {
                Some(refusal) => settle::with_request_id(refusal, bill.request_id()),
                None => settle::unserved_error(unserved.status, unserved.code, bill.request_id()),
            };
            bill.unserved(error.status.as_u16(), error.code, unserved.error);
            dialect.error_response(&error)
        }
    }
}
