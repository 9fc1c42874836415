//! Translations between wire formats, so one upstream can serve every dialect: each pair is a
//! request rewrite, an answer rewrite, and a stream state machine that turns the upstream's
//! events into the client's as they arrive (never buffering a whole answer). A client's format
//! that an upstream speaks itself is passed through instead.

pub mod chain;
mod chat_chunk;
pub mod chat_messages;
pub mod messages_chat;
pub mod responses_chat;
mod responses_wire;

use super::dialects::{EventKind, Wire};
use super::request::ClientRequest;
use super::upstreams::Upstream;
use super::usage::Usage;
use crate::error::ApiError;

/// How a request reaches one upstream.
#[derive(Clone, Copy)]
pub enum Plan {
    /// The upstream speaks the client's format: the body goes as sent, the answer comes back.
    Pass,
    Translate(&'static Translation),
}

impl Plan {
    /// The format the upstream is asked in (and answers in).
    pub fn upstream_wire(self, client: Wire) -> Wire {
        match self {
            Plan::Pass => client,
            Plan::Translate(t) => t.upstream,
        }
    }
}

/// One direction of a pair of formats.
pub struct Translation {
    pub client: Wire,
    pub upstream: Wire,
    /// The upstream's request body, from the client's request and the upstream's model name.
    pub request: fn(&ClientRequest, &str) -> Result<Vec<u8>, ApiError>,
    /// A whole answer of the upstream, as the client's.
    pub answer: fn(&ClientRequest, &[u8]) -> Result<Vec<u8>, String>,
    /// A fresh state machine for one streamed answer.
    pub stream: fn(&ClientRequest) -> Box<dyn StreamTranslator>,
}

/// Turns one upstream stream into the client's, event by event.
pub trait StreamTranslator: Send {
    /// One upstream event (`data` is its data, when it has any; `kind` what the upstream's
    /// format made of it): the client's events it brings go onto `out`.
    fn event(&mut self, kind: EventKind, data: Option<&str>, out: &mut Vec<u8>);

    /// The upstream's stream ended well: the client's closing events, with the usage reported
    /// (or counted) for the whole request.
    fn finish(&mut self, usage: &Usage, out: &mut Vec<u8>);

    /// The upstream's stream failed: writes the client's error event, following on from the
    /// events so far, and says so; `false` leaves it to the client's dialect.
    fn fail(&mut self, _error: &ApiError, _out: &mut Vec<u8>) -> bool {
        false
    }
}

/// Every translation the gateway knows.
static TRANSLATIONS: &[&Translation] = &[
    &messages_chat::MESSAGES_TO_CHAT,
    &chat_messages::CHAT_TO_MESSAGES,
    &responses_chat::RESPONSES_TO_CHAT,
    &responses_chat::COMPACT_TO_CHAT,
    &chain::RESPONSES_TO_MESSAGES,
    &chain::COMPACT_TO_MESSAGES,
];

/// How a request in `client` format can reach `upstream`, if it can.
pub fn plan(client: Wire, upstream: &Upstream) -> Option<Plan> {
    if upstream.speaks(client) {
        return Some(Plan::Pass);
    }
    TRANSLATIONS
        .iter()
        .find(|t| t.client == client && upstream.speaks(t.upstream))
        .map(|t| Plan::Translate(t))
}

/// Appends one SSE event (`event:` line when named) with `data` as JSON (a value, or a struct
/// serialized straight from what it borrows).
pub fn sse_event(out: &mut Vec<u8>, name: Option<&str>, data: &impl serde::Serialize) {
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\n\n");
}
