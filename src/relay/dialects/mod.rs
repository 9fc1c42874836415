//! The dialect seam: one module per wire format a client speaks on `/v1` — and that an upstream
//! may speak natively. A [`Dialect`] knows its format from both sides:
//!
//! - as the **client's** format: what a body must hold and what admission needs from it
//!   (model, stream, output bound, prompt-size bound, session hint), the body an upstream that
//!   speaks the same format gets, which stream events a client sees, and errors in its own shape;
//! - as an **answer's** format: where the usage is in a whole body and in stream events, which
//!   event ends a stream, and what text to count when no usage comes.
//!
//! Between two different formats sits a translation (`translate/`); the relay itself never
//! looks inside a body. Adding a dialect is a new file here, a variant of [`Wire`] and a line
//! in the route table.

pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod messages;
pub mod responses;

use std::borrow::Cow;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::request::ClientRequest;
use super::usage::Usage;
use crate::error::ApiError;

/// Every wire format the gateway speaks, as a plain value (for tables and per-upstream lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wire {
    Chat,
    Completions,
    Embeddings,
    Messages,
    Responses,
    ResponsesCompact,
}

impl Wire {
    pub const ALL: [Wire; 6] = [
        Wire::Chat,
        Wire::Completions,
        Wire::Embeddings,
        Wire::Messages,
        Wire::Responses,
        Wire::ResponsesCompact,
    ];

    pub fn dialect(self) -> &'static dyn Dialect {
        match self {
            Wire::Chat => &chat::Chat,
            Wire::Completions => &completions::Completions,
            Wire::Embeddings => &embeddings::Embeddings,
            Wire::Messages => &messages::Messages,
            Wire::Responses => &responses::Responses,
            Wire::ResponsesCompact => &responses::Compact,
        }
    }

    /// Position in [`Wire::ALL`], for per-wire tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What one upstream stream event is to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Part of the answer.
    Content,
    /// Carries only usage (OpenAI's last chunk, with no choices).
    UsageOnly,
    /// Ends the stream (`[DONE]`); it reaches the client after the charge is counted.
    End,
    /// Ends the stream with the upstream's own failure event (`response.failed`): it reaches
    /// the client as sent, and the request is not billed unless the event reports usage.
    Failed,
}

/// Where a stream stands, for formats whose events an error must follow on from: the last
/// event's number and the answer's id (the Responses API numbers its events and names its
/// response; an error event carries both).
#[derive(Debug, Default, Clone)]
pub struct StreamMark {
    pub sequence: Option<u64>,
    pub id: Option<String>,
}

pub trait Dialect: Sync {
    fn wire(&self) -> Wire;

    /// The path under `/v1` (also the log's endpoint and, on an upstream that speaks this format,
    /// the path under its base URL).
    fn path(&self) -> &'static str;

    // ---- The client's side ----

    /// Reads what this format needs from a parsed body into `req` (the model and `stream` are
    /// read already), or says what is wrong with it.
    fn read(&self, req: &mut ClientRequest, headers: &HeaderMap) -> Result<(), ApiError>;

    /// An upper bound on the prompt's tokens without a tokenizer (for the hold).
    fn prompt_bound(&self, req: &ClientRequest) -> u64;

    /// The output bound for the hold: the request's own, else `default`.
    fn output_bound(&self, req: &ClientRequest, default: u64) -> u64 {
        req.max_output.unwrap_or(default)
    }

    /// The prompt's tokens, by the tokenizer (when an upstream reports no usage).
    fn count_prompt(&self, req: &ClientRequest) -> u64;

    /// The body for an upstream that speaks this format: the client's, with the upstream's name
    /// for the model (and whatever this format must add).
    fn upstream_body(&self, req: &ClientRequest, upstream_model: &str) -> Vec<u8> {
        req.body_with(upstream_model, &[])
    }

    /// What of an upstream event of this format the client sees, when both speak it.
    fn pass_event<'a>(
        &self,
        _req: &ClientRequest,
        _kind: EventKind,
        event: &'a [u8],
    ) -> Option<Cow<'a, [u8]>> {
        Some(Cow::Borrowed(event))
    }

    /// An error before any byte of the answer, in this format's shape.
    fn error_response(&self, error: &ApiError) -> Response {
        error.clone().into_response()
    }

    /// Notes where a stream passed through stands, for an error event that must follow on from
    /// it (called with each event's data; most formats need nothing).
    fn mark(&self, _data: &str, _mark: &mut StreamMark) {}

    /// An error inside a stream that has started, as this format's event, following `mark`.
    fn stream_error(&self, error: &ApiError, _mark: &StreamMark) -> Vec<u8> {
        format!("data: {}\n\n", error.body()).into_bytes()
    }

    // ---- An answer in this format ----

    /// One parse of a whole answer: `Err` when it is not JSON, else its usage if reported.
    fn answer_usage(&self, body: &[u8]) -> Result<Option<Usage>, serde_json::Error>;

    /// The same for an answer that arrived in pieces (read without joining them).
    fn answer_usage_from(
        &self,
        body: &mut dyn std::io::Read,
    ) -> Result<Option<Usage>, serde_json::Error>;

    /// Reads one stream event's data, folding any usage it reports into `usage`.
    fn read_event(&self, data: &str, usage: &mut Option<Usage>) -> EventKind;

    /// Tokens the upstream produced in a whole answer or one event's data, by the tokenizer.
    fn count_output(&self, json: &[u8]) -> u64;
}
