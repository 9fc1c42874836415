//! The client's request body: read once at the top level (nested values stay raw, untouched),
//! the fields the gateway needs pulled out, and the body rewritten for an upstream with only the
//! model name mapped and, for streams, usage asked for.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::usage;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completions,
    Embeddings,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/chat/completions",
            Endpoint::Completions => "/completions",
            Endpoint::Embeddings => "/embeddings",
        }
    }
}

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
    pub endpoint: Endpoint,
    fields: Vec<(String, Box<RawValue>)>,
    pub model: String,
    pub stream: bool,
    /// The client asked for the usage chunk (`stream_options.include_usage`).
    pub wants_usage: bool,
    /// `max_completion_tokens` or `max_tokens`, when set.
    pub max_output: Option<u64>,
}

impl ClientRequest {
    pub fn parse(endpoint: Endpoint, body: &[u8]) -> Result<ClientRequest, ApiError> {
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
        let get = |name: &str| {
            fields
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.get())
        };
        let model = match get("model") {
            None => {
                return Err(ApiError::bad_request(
                    "missing_model",
                    "you must provide a model parameter",
                ))
            }
            Some(raw) => serde_json::from_str::<String>(raw)
                .ok()
                .filter(|m| !m.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_model", "model must be a non-empty string")
                })?,
        };
        let stream = match get("stream") {
            None | Some("null") | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "stream must be true or false",
                ))
            }
        };
        if stream && endpoint == Endpoint::Embeddings {
            return Err(ApiError::bad_request(
                "invalid_request",
                "embeddings cannot be streamed",
            ));
        }
        let wants_usage = get("stream_options")
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw).ok())
            .and_then(|v| v.get("include_usage").and_then(|u| u.as_bool()))
            .unwrap_or(false);
        let number = |name: &str| -> Result<Option<u64>, ApiError> {
            match get(name) {
                None | Some("null") => Ok(None),
                Some(raw) => serde_json::from_str::<u64>(raw).map(Some).map_err(|_| {
                    ApiError::bad_request(
                        "invalid_request",
                        format!("{name} must be a non-negative integer"),
                    )
                }),
            }
        };
        let max_output = number("max_completion_tokens")?.or(number("max_tokens")?);
        let required = match endpoint {
            Endpoint::Chat => "messages",
            Endpoint::Completions => "prompt",
            Endpoint::Embeddings => "input",
        };
        match get(required) {
            None => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    format!("{required} is required"),
                ));
            }
            Some(raw) if endpoint == Endpoint::Chat => {
                if let Err(e) = serde_json::from_str::<Vec<usage::MessageShape>>(raw) {
                    return Err(ApiError::bad_request(
                        "invalid_request",
                        format!("messages must be an array of message objects: {e}"),
                    ));
                }
            }
            Some(_) => {}
        }
        Ok(ClientRequest {
            endpoint,
            fields,
            model,
            stream,
            wants_usage,
            max_output,
        })
    }

    /// A request with nothing in it, left behind where a request was moved out.
    pub fn empty() -> ClientRequest {
        ClientRequest {
            endpoint: Endpoint::Chat,
            fields: Vec::new(),
            model: String::new(),
            stream: false,
            wants_usage: false,
            max_output: None,
        }
    }

    fn raw(&self, name: &str) -> Option<&RawValue> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    /// An upper bound on the prompt's tokens, for the pre-hold (no tokenizer needed).
    pub fn input_token_bound(&self) -> u64 {
        match self.endpoint {
            Endpoint::Chat => self.raw("messages").map(usage::bound_messages).unwrap_or(0),
            Endpoint::Completions => self.raw("prompt").map(usage::bound_text_input).unwrap_or(0),
            Endpoint::Embeddings => self.raw("input").map(usage::bound_text_input).unwrap_or(0),
        }
    }

    /// Tokens of the prompt, by the tokenizer.
    pub fn count_input_tokens(&self) -> u64 {
        match self.endpoint {
            Endpoint::Chat => self.raw("messages").map(usage::count_messages).unwrap_or(0),
            Endpoint::Completions => self.raw("prompt").map(usage::count_text_input).unwrap_or(0),
            Endpoint::Embeddings => self.raw("input").map(usage::count_text_input).unwrap_or(0),
        }
    }

    /// The body for an upstream: the client's fields in the client's order, with `model`
    /// replaced by the upstream's name for it, and for streams usage asked for.
    pub fn upstream_body(&self, upstream_model: &str) -> Vec<u8> {
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
        let mut saw_options = false;
        for (key, value) in &self.fields {
            match key.as_str() {
                "model" => push(&mut out, key, &model_json),
                "stream_options" if self.stream => {
                    saw_options = true;
                    let mut options = serde_json::from_str::<
                        serde_json::Map<String, serde_json::Value>,
                    >(value.get())
                    .unwrap_or_default();
                    options.insert("include_usage".into(), serde_json::Value::Bool(true));
                    let text = serde_json::Value::Object(options).to_string();
                    push(&mut out, key, &text);
                }
                _ => push(&mut out, key, value.get()),
            }
        }
        if self.stream && !saw_options {
            push(&mut out, "stream_options", "{\"include_usage\":true}");
        }
        out.push(b'}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_everything_through_but_model_and_usage_option() {
        let body = br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"x_custom":{"a":[1,2.50]},"stream":true,"max_tokens":50}"#;
        let r = ClientRequest::parse(Endpoint::Chat, body).unwrap();
        assert_eq!(r.model, "gpt-4o-mini");
        assert!(r.stream && !r.wants_usage);
        assert_eq!(r.max_output, Some(50));
        let out = String::from_utf8(r.upstream_body("gpt-4o-mini-2024-07-18")).unwrap();
        assert_eq!(
            out,
            r#"{"model":"gpt-4o-mini-2024-07-18","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"x_custom":{"a":[1,2.50]},"stream":true,"max_tokens":50,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn keeps_client_stream_options() {
        let body = br#"{"model":"m","prompt":"p","stream":true,"stream_options":{"include_usage":true,"other":1},"max_completion_tokens":7,"max_tokens":9}"#;
        let r = ClientRequest::parse(Endpoint::Completions, body).unwrap();
        assert!(r.wants_usage);
        assert_eq!(r.max_output, Some(7));
        let out: serde_json::Value = serde_json::from_slice(&r.upstream_body("m")).unwrap();
        assert_eq!(
            out["stream_options"],
            serde_json::json!({"include_usage": true, "other": 1})
        );
    }

    #[test]
    fn refuses_what_cannot_be_relayed() {
        let cases: [(&[u8], &str); 9] = [
            (b"", "invalid_json"),
            (b"{", "invalid_json"),
            (b"[1]", "invalid_json"),
            (br#"{"messages":[]}"#, "missing_model"),
            (br#"{"model":5,"messages":[]}"#, "invalid_model"),
            (br#"{"model":"m"}"#, "invalid_request"),
            (
                br#"{"model":"m","messages":[],"stream":"yes"}"#,
                "invalid_request",
            ),
            (
                br#"{"model":"m","messages":[],"max_tokens":-1}"#,
                "invalid_request",
            ),
            (br#"{"model":"m","messages":[[[[]]]]}"#, "invalid_request"),
        ];
        for (body, code) in cases {
            let e = ClientRequest::parse(Endpoint::Chat, body).err().unwrap();
            assert_eq!(e.code, code, "{}", String::from_utf8_lossy(body));
        }
    }
}
