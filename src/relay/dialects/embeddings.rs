//! OpenAI embeddings (`/v1/embeddings`): an `input` in, vectors out; never streamed, no output
//! tokens.

use axum::http::HeaderMap;

use super::{Dialect, EventKind, Wire};
use crate::error::ApiError;
use crate::relay::request::ClientRequest;
use crate::relay::usage::{
    bound_text_input, count_text_input, openai_usage, openai_usage_from, Usage,
};

pub struct Embeddings;

impl Dialect for Embeddings {
    fn wire(&self) -> Wire {
        Wire::Embeddings
    }

    fn path(&self) -> &'static str {
        "/embeddings"
    }

    fn read(&self, req: &mut ClientRequest, _headers: &HeaderMap) -> Result<(), ApiError> {
        if req.stream {
            return Err(ApiError::bad_request(
                "invalid_request",
                "embeddings cannot be streamed",
            ));
        }
        if req.raw("input").is_none() {
            return Err(ApiError::bad_request(
                "invalid_request",
                "input is required",
            ));
        }
        Ok(())
    }

    fn prompt_bound(&self, req: &ClientRequest) -> u64 {
        req.raw("input").map(bound_text_input).unwrap_or(0)
    }

    fn output_bound(&self, _req: &ClientRequest, _default: u64) -> u64 {
        0
    }

    fn count_prompt(&self, req: &ClientRequest) -> u64 {
        req.raw("input").map(count_text_input).unwrap_or(0)
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

    fn read_event(&self, _data: &str, _usage: &mut Option<Usage>) -> EventKind {
        EventKind::Content
    }

    fn count_output(&self, _json: &[u8]) -> u64 {
        0
    }
}
