//! The client's request: its body read once at the top level (nested values stay raw, untouched),
//! what admission needs pulled out by its dialect, and the body rebuilt for an upstream with only
//! the model name (and what the dialect adds) changed.

use std::fmt;
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::dialects::Dialect;
use crate::error::ApiError;

/// Top-level fields in the order the client sent them.
struct Fields(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push((k, v));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(FieldsVisitor)
    }
}

pub struct ClientRequest {
    pub dialect: &'static dyn Dialect,
    fields: Vec<(String, Box<RawValue>)>,
    pub model: String,
    pub stream: bool,
    /// The client asked for usage in the stream (OpenAI's `stream_options.include_usage`).
    pub wants_usage: bool,
    /// The output bound the request sets (`max_tokens` and the like), when it sets one.
    pub max_output: Option<u64>,
    /// What ties requests of one session together (for sticky routing), when the client says.
    pub session: Option<String>,
    /// Client headers an upstream of the same format gets as they are.
    pub forward_headers: Vec<(HeaderName, HeaderValue)>,
    /// The output bound the hold was sized by (the request's own, else the configured default):
    /// what a translation asks for when the upstream's format needs a bound and the client set
    /// none.
    pub output_bound: u64,
    /// When the request arrived (Unix seconds), for answers that carry a timestamp.
    pub received_at: i64,
    counted_prompt: OnceLock<u64>,
}

impl ClientRequest {
    /// Parses a body as `dialect`: a JSON object with a non-empty `model` and a boolean `stream`,
    /// then whatever the dialect needs.
    pub fn parse(
        dialect: &'static dyn Dialect,
        body: &[u8],
        headers: &HeaderMap,
    ) -> Result<ClientRequest, ApiError> {
        if body.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_json",
                "request body must be a JSON object",
            ));
        }
        let Fields(fields) = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(
                "invalid_json",
                format!("request body is not a JSON object: {e}"),
            )
        })?;
        let mut req = ClientRequest {
            dialect,
            fields,
            model: String::new(),
            stream: false,
            wants_usage: false,
            max_output: None,
            session: None,
            forward_headers: Vec::new(),
            output_bound: 0,
            received_at: 0,
            counted_prompt: OnceLock::new(),
        };
        req.model = match req.raw("model") {
            None => {
                return Err(ApiError::bad_request(
                    "missing_model",
                    "you must provide a model parameter",
                ))
            }
            Some(raw) => serde_json::from_str::<String>(raw.get())
                .ok()
                .filter(|m| !m.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_model", "model must be a non-empty string")
                })?,
        };
        req.stream = match req.raw("stream").map(RawValue::get) {
            None | Some("null") | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "stream must be true or false",
                ))
            }
        };
        dialect.read(&mut req, headers)?;
        Ok(req)
    }

    /// Parses a body as `dialect` would, but without an output bound (a token count asks for
    /// none): `max_tokens` is taken as 1 when missing.
    pub fn parse_counting(
        dialect: &'static dyn Dialect,
        body: &[u8],
        headers: &HeaderMap,
    ) -> Result<ClientRequest, ApiError> {
        let has_bound = serde_json::from_slice::<serde_json::Value>(body)
            .map(|v| v.get("max_tokens").is_some())
            .unwrap_or(true);
        if has_bound {
            return ClientRequest::parse(dialect, body, headers);
        }
        let mut with_bound = body.to_vec();
        // `{` … `}`: insert the field after the opening brace.
        match with_bound.iter().position(|b| *b == b'{') {
            Some(at) => {
                with_bound.splice(at + 1..at + 1, b"\"max_tokens\":1,".iter().copied());
            }
            None => return ClientRequest::parse(dialect, body, headers),
        }
        let mut req = ClientRequest::parse(dialect, &with_bound, headers)?;
        req.fields.retain(|(k, _)| k != "max_tokens");
        req.max_output = None;
        Ok(req)
    }

    /// A top-level field as sent (the last one, if a key repeats).
    pub fn raw(&self, name: &str) -> Option<&RawValue> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    /// A top-level field parsed as JSON, `null` read as absent.
    pub fn value(&self, name: &str) -> Option<serde_json::Value> {
        self.raw(name)
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
            .filter(|v| !v.is_null())
    }

    /// A field that must be a non-negative integer when present.
    pub fn count_field(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.raw(name).map(RawValue::get) {
            None | Some("null") => Ok(None),
            Some(raw) => serde_json::from_str::<u64>(raw).map(Some).map_err(|_| {
                ApiError::bad_request(
                    "invalid_request",
                    format!("{name} must be a non-negative integer"),
                )
            }),
        }
    }

    /// Tokens of the prompt by the tokenizer, counted once.
    pub fn prompt_tokens(&self) -> u64 {
        *self
            .counted_prompt
            .get_or_init(|| self.dialect.count_prompt(self))
    }

    /// Whether the prompt was counted already (so a count can be reused, never paid twice).
    pub fn prompt_counted(&self) -> Option<u64> {
        self.counted_prompt.get().copied()
    }

    /// The client's fields in the client's order, with `model` replaced by `upstream_model` and
    /// each of `set` (name, JSON text) put in place of the field of that name or added at the end.
    pub fn body_with(&self, upstream_model: &str, set: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.fields
                .iter()
                .map(|(k, v)| k.len() + v.get().len() + 4)
                .sum::<usize>()
                + 64,
        );
        out.push(b'{');
        let mut first = true;
        let mut push = |out: &mut Vec<u8>, key: &str, value: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            let _ = serde_json::to_writer(&mut *out, key);
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        };
        let model_json = serde_json::to_string(upstream_model).unwrap_or_else(|_| "\"\"".into());
        let mut placed = vec![false; set.len()];
        for (key, value) in &self.fields {
            if key == "model" {
                push(&mut out, key, &model_json);
            } else if let Some(i) = set.iter().position(|(name, _)| name == key) {
                if !placed[i] {
                    placed[i] = true;
                    push(&mut out, key, set[i].1);
                }
            } else {
                push(&mut out, key, value.get());
            }
        }
        for (i, (name, value)) in set.iter().enumerate() {
            if !placed[i] {
                push(&mut out, name, value);
            }
        }
        out.push(b'}');
        out
    }
}
