//! OpenAI chat completions (`/v1/chat/completions`): `messages` in, `choices` out; streams end in
//! `data: [DONE]`. For streams the gateway asks for `stream_options.include_usage` and keeps the
//! usage chunk from clients that did not ask for it.

use std::borrow::Cow;

use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Dialect, EventKind, Wire};
use crate::error::ApiError;
use crate::relay::request::ClientRequest;
use crate::relay::tokenizer;
use crate::relay::usage::{openai_usage, openai_usage_from, Usage};

pub struct Chat;

/// What a chat message must look like to be relayed: an object (its fields pass through).
#[derive(Deserialize)]
struct MessageShape {}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    tool_calls: Option<&'a RawValue>,
    #[serde(default, borrow)]
    function_call: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Choices {
    #[serde(default)]
    choices: Vec<serde::de::IgnoredAny>,
}

impl Dialect for Chat {
    fn wire(&self) -> Wire {
        Wire::Chat
    }

    fn path(&self) -> &'static str {
        "/chat/completions"
    }

    fn read(&self, req: &mut ClientRequest, _headers: &HeaderMap) -> Result<(), ApiError> {
        req.wants_usage = asks_for_usage(req);
        let newer = req.count_field("max_completion_tokens")?;
        req.max_output = newer.or(req.count_field("max_tokens")?);
        let Some(messages) = req.raw("messages") else {
            return Err(ApiError::bad_request(
                "invalid_request",
                "messages is required",
            ));
        };
        if let Err(e) = serde_json::from_str::<Vec<MessageShape>>(messages.get()) {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("messages must be an array of message objects: {e}"),
            ));
        }
        Ok(())
    }

    fn prompt_bound(&self, req: &ClientRequest) -> u64 {
        req.raw("messages").map(bound_messages).unwrap_or(0)
    }

    fn count_prompt(&self, req: &ClientRequest) -> u64 {
        req.raw("messages").map(count_messages).unwrap_or(0)
    }

    fn upstream_body(&self, req: &ClientRequest, upstream_model: &str) -> Vec<u8> {
        if !req.stream {
            return req.body_with(upstream_model, &[]);
        }
        let mut options = req
            .raw("stream_options")
            .and_then(|raw| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw.get()).ok()
            })
            .unwrap_or_default();
        options.insert("include_usage".into(), serde_json::Value::Bool(true));
        let options = serde_json::Value::Object(options).to_string();
        req.body_with(upstream_model, &[("stream_options", &options)])
    }

    fn pass_event<'a>(
        &self,
        req: &ClientRequest,
        kind: EventKind,
        event: &'a [u8],
    ) -> Option<Cow<'a, [u8]>> {
        match kind {
            EventKind::UsageOnly if !req.wants_usage => None,
            _ if !req.wants_usage => Some(without_null_usage(event)),
            _ => Some(Cow::Borrowed(event)),
        }
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

/// A chunk without the `"usage": null` that upstreams add to every chunk once usage is asked
/// for: a client that did not ask would not have seen the key at all.
fn without_null_usage(event: &[u8]) -> Cow<'_, [u8]> {
    // Most chunks carry no usage key at all: one fast scan says so.
    if memchr::memmem::find(event, b"\"usage\"").is_none() {
        return Cow::Borrowed(event);
    }
    const FORMS: [&[u8]; 4] = [
        b",\"usage\":null",
        b"\"usage\":null,",
        b", \"usage\": null",
        b"\"usage\": null, ",
    ];
    let Some((at, form)) = FORMS
        .iter()
        .find_map(|form| find(event, form).map(|at| (at, *form)))
    else {
        return Cow::Borrowed(event);
    };
    let mut out = Vec::with_capacity(event.len());
    out.extend_from_slice(&event[..at]);
    out.extend_from_slice(&event[at + form.len()..]);
    Cow::Owned(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Whether the client set `stream_options.include_usage`.
pub fn asks_for_usage(req: &ClientRequest) -> bool {
    req.raw("stream_options")
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
        .and_then(|v| v.get("include_usage").and_then(|u| u.as_bool()))
        .unwrap_or(false)
}

/// A stream event of chat or completions: `[DONE]`, a chunk, or the chunk that carries usage.
pub fn read_openai_event(data: &str, usage: &mut Option<Usage>) -> EventKind {
    if data == "[DONE]" {
        return EventKind::End;
    }
    if data.contains("\"usage\"") {
        if let Ok(Some(reported)) = openai_usage(data.as_bytes()) {
            *usage = Some(reported);
            let no_choices = serde_json::from_str::<Choices>(data)
                .map(|c| c.choices.is_empty())
                .unwrap_or(false);
            if no_choices {
                return EventKind::UsageOnly;
            }
        }
    }
    EventKind::Content
}

/// Text of a `content` value: a string, or the `text` parts of an array of parts.
fn content_text(raw: &RawValue, out: &mut String) {
    match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::String(s)) => out.push_str(&s),
        Ok(serde_json::Value::Array(parts)) => {
            for part in parts {
                match &part {
                    serde_json::Value::String(s) => out.push_str(s),
                    serde_json::Value::Object(o) => {
                        if let Some(serde_json::Value::String(t)) = o.get("text") {
                            out.push_str(t);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Tokens an image, audio or file part of a message may cost, for the hold.
pub const NON_TEXT_PART_ALLOWANCE: u64 = 2_000;

/// An upper bound on the tokens of `messages`, without a tokenizer: a BPE token covers at least
/// one byte, so text bytes bound its tokens; non-text parts get a fixed allowance; framing is
/// counted as for the real count. The hold is a worst case; the charge is still exact.
pub fn bound_messages(messages: &RawValue) -> u64 {
    let Ok(list) = serde_json::from_str::<Vec<Message>>(messages.get()) else {
        return messages.get().len() as u64;
    };
    let mut tokens = 3;
    for m in &list {
        tokens += 3;
        if let Some(c) = m.content {
            tokens += content_bound(c);
        }
        for extra in [m.tool_calls, m.function_call].into_iter().flatten() {
            tokens += extra.get().len() as u64;
        }
    }
    tokens
}

fn content_bound(raw: &RawValue) -> u64 {
    match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::String(s)) => s.len() as u64,
        Ok(serde_json::Value::Array(parts)) => parts
            .iter()
            .map(|part| match part {
                serde_json::Value::String(s) => s.len() as u64,
                serde_json::Value::Object(o) => match o.get("text") {
                    Some(serde_json::Value::String(t)) => t.len() as u64,
                    _ => NON_TEXT_PART_ALLOWANCE,
                },
                _ => 0,
            })
            .sum(),
        _ => raw.get().len() as u64,
    }
}

/// Tokens of chat `messages`: their text plus OpenAI's framing (3 per message, 3 to prime the reply).
pub fn count_messages(messages: &RawValue) -> u64 {
    let Ok(list) = serde_json::from_str::<Vec<Message>>(messages.get()) else {
        return tokenizer::count(messages.get());
    };
    let mut text = String::new();
    for m in &list {
        if let Some(c) = m.content {
            content_text(c, &mut text);
        }
        for extra in [m.tool_calls, m.function_call].into_iter().flatten() {
            text.push_str(extra.get());
        }
    }
    tokenizer::count(&text) + 3 * list.len() as u64 + 3
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    message: Option<Message<'a>>,
    #[serde(default, borrow)]
    delta: Option<Message<'a>>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(default, borrow)]
    choices: Vec<Choice<'a>>,
}

/// Tokens of the `choices` of a whole chat or completions answer, or of one stream chunk.
pub fn count_choices_output(json: &[u8]) -> u64 {
    let Ok(parsed) = serde_json::from_slice::<Completion>(json) else {
        return 0;
    };
    let mut text = String::new();
    for choice in &parsed.choices {
        if let Some(t) = &choice.text {
            text.push_str(t);
        }
        for m in [&choice.message, &choice.delta].into_iter().flatten() {
            if let Some(c) = m.content {
                content_text(c, &mut text);
            }
            for extra in [m.tool_calls, m.function_call].into_iter().flatten() {
                text.push_str(extra.get());
            }
        }
    }
    tokenizer::count(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8]) -> Result<ClientRequest, ApiError> {
        ClientRequest::parse(&Chat, body, &HeaderMap::new())
    }

    #[test]
    fn passes_everything_through_but_model_and_usage_option() {
        let body = br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"x_custom":{"a":[1,2.50]},"stream":true,"max_tokens":50}"#;
        let r = parse(body).unwrap();
        assert_eq!(r.model, "gpt-4o-mini");
        assert!(r.stream && !r.wants_usage);
        assert_eq!(r.max_output, Some(50));
        let out = String::from_utf8(Chat.upstream_body(&r, "gpt-4o-mini-2024-07-18")).unwrap();
        assert_eq!(
            out,
            r#"{"model":"gpt-4o-mini-2024-07-18","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"x_custom":{"a":[1,2.50]},"stream":true,"max_tokens":50,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn keeps_client_stream_options() {
        let body = br#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true,"other":1},"max_completion_tokens":7,"max_tokens":9}"#;
        let r = parse(body).unwrap();
        assert!(r.wants_usage);
        assert_eq!(r.max_output, Some(7));
        let out: serde_json::Value = serde_json::from_slice(&Chat.upstream_body(&r, "m")).unwrap();
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
            let e = parse(body).err().unwrap();
            assert_eq!(e.code, code, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn counts_when_nothing_is_reported() {
        let messages: Box<RawValue> = serde_json::from_str(
            r#"[{"role":"user","content":"hello world"},{"role":"user","content":[{"type":"text","text":"hello world"},{"type":"image_url","image_url":{"url":"data:"}}]}]"#,
        )
        .unwrap();
        assert_eq!(count_messages(&messages), 2 + 2 + 3 * 2 + 3);
        let out = br#"{"choices":[{"message":{"role":"assistant","content":"hello world"}}]}"#;
        assert_eq!(count_choices_output(out), 2);
        let delta = br#"{"choices":[{"delta":{"content":"hello"}}]}"#;
        assert_eq!(count_choices_output(delta), 1);
    }

    #[test]
    fn the_bound_is_never_below_the_count() {
        let messages: Box<RawValue> = serde_json::from_str(
            r#"[{"role":"system","content":"You are terse."},{"role":"user","content":[{"type":"text","text":"héllo wörld, ça va? 你好"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]"#,
        )
        .unwrap();
        let bound = bound_messages(&messages);
        assert!(bound >= count_messages(&messages), "{bound}");
        assert!(
            bound >= NON_TEXT_PART_ALLOWANCE,
            "the image part is allowed for"
        );
    }

    #[test]
    fn a_client_that_did_not_ask_for_usage_never_sees_the_key() {
        let asking = parse(
            br#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#,
        )
        .unwrap();
        let plain = parse(br#"{"model":"m","messages":[],"stream":true}"#).unwrap();
        let chunk = b"data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n";
        let out = Chat.pass_event(&plain, EventKind::Content, chunk).unwrap();
        assert_eq!(
            &out[..],
            b"data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
        );
        let spaced = b"data: {\"usage\": null, \"choices\": []}\n\n";
        let out = Chat.pass_event(&plain, EventKind::Content, spaced).unwrap();
        assert_eq!(&out[..], b"data: {\"choices\": []}\n\n");
        // Asked for: as it came.
        let out = Chat.pass_event(&asking, EventKind::Content, chunk).unwrap();
        assert_eq!(&out[..], &chunk[..]);
    }

    #[test]
    fn stream_events_are_told_apart() {
        let mut usage = None;
        assert_eq!(Chat.read_event("[DONE]", &mut usage), EventKind::End);
        assert_eq!(
            Chat.read_event(r#"{"choices":[{"delta":{"content":"x"}}]}"#, &mut usage),
            EventKind::Content
        );
        assert_eq!(usage, None);
        assert_eq!(
            Chat.read_event(
                r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
                &mut usage
            ),
            EventKind::UsageOnly
        );
        assert_eq!(usage.map(|u| (u.input, u.output)), Some((3, 4)));
    }
}
