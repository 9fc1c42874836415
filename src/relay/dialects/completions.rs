//! OpenAI legacy completions (`/v1/completions`): a `prompt` in, `choices[].text` out; streamed
//! like chat completions, with the same usage chunk asked for and kept back.

use std::borrow::Cow;

use axum::http::HeaderMap;

use super::chat::{self, count_choices_output, read_openai_event};
use super::{Dialect, EventKind, Wire};
use crate::error::ApiError;
use crate::relay::request::ClientRequest;
use crate::relay::usage::{
    bound_text_input, count_text_input, openai_usage, openai_usage_from, Usage,
};

pub struct Completions;

impl Dialect for Completions {
    fn wire(&self) -> Wire {
        Wire::Completions
    }

    fn path(&self) -> &'static str {
        "/completions"
    }

    fn read(&self, req: &mut ClientRequest, _headers: &HeaderMap) -> Result<(), ApiError> {
        req.wants_usage = chat::asks_for_usage(req);
        let newer = req.count_field("max_completion_tokens")?;
        req.max_output = newer.or(req.count_field("max_tokens")?);
        if req.raw("prompt").is_none() {
            return Err(ApiError::bad_request(
                "invalid_request",
                "prompt is required",
            ));
        }
        Ok(())
    }

    fn prompt_bound(&self, req: &ClientRequest) -> u64 {
        req.raw("prompt").map(bound_text_input).unwrap_or(0)
    }

    fn count_prompt(&self, req: &ClientRequest) -> u64 {
        req.raw("prompt").map(count_text_input).unwrap_or(0)
    }

    fn upstream_body(&self, req: &ClientRequest, upstream_model: &str) -> Vec<u8> {
        chat::Chat.upstream_body(req, upstream_model)
    }

    fn pass_event<'a>(
        &self,
        req: &ClientRequest,
        kind: EventKind,
        event: &'a [u8],
    ) -> Option<Cow<'a, [u8]>> {
        chat::Chat.pass_event(req, kind, event)
    }

    fn answer_usage(&self, body: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
        openai_usage(body)
    }

    fn answer_usage_from(
        &self,
        body: &mut dyn std::io::Read,
    ) -> Result<Option<Usage>, serde_json::Error> {
        openai_usage_from(body)
    }

    fn read_event(&self, data: &str, usage: &mut Option<Usage>) -> EventKind {
        read_openai_event(data, usage)
    }

    fn count_output(&self, json: &[u8]) -> u64 {
        count_choices_output(json)
    }
}
