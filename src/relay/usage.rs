//! Usage: what the upstream reports (`usage.prompt_tokens` / `completion_tokens`), or, when it
//! reports nothing, what the tokenizer counts in the request and the response.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::tokenizer;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
}

/// Where a log row's token counts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageSource {
    Upstream,
    Counted,
}

impl UsageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageSource::Upstream => "upstream",
            UsageSource::Counted => "counted",
        }
    }
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WithUsage {
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// The `usage` object of a response body or stream chunk, when it has a non-null one.
pub fn reported_usage(json: &[u8]) -> Option<Usage> {
    response_usage(json).ok().flatten()
}

/// One parse of a whole response: `Err` when it is not JSON, else its usage if reported.
pub fn response_usage(json: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
    let parsed: WithUsage = serde_json::from_slice(json)?;
    Ok(parsed.usage.map(|u| {
        let input = u.prompt_tokens.unwrap_or(0);
        let output = u
            .completion_tokens
            .unwrap_or_else(|| u.total_tokens.unwrap_or(0).saturating_sub(input));
        Usage { input, output }
    }))
}

/// What a chat message must look like to be relayed: an object (its fields pass through).
#[derive(Deserialize)]
pub struct MessageShape {}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    tool_calls: Option<&'a RawValue>,
    #[serde(default, borrow)]
    function_call: Option<&'a RawValue>,
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

/// Tokens an image, audio or file part of a message may cost, for the pre-hold.
pub const NON_TEXT_PART_ALLOWANCE: u64 = 2_000;

/// An upper bound on the tokens of a prompt, without a tokenizer: a BPE token covers at least
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

/// The same bound for a `prompt` or `input`: string bytes, or one per token id.
pub fn bound_text_input(raw: &RawValue) -> u64 {
    match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::String(s)) => s.len() as u64,
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                serde_json::Value::String(s) => s.len() as u64,
                serde_json::Value::Array(ids) => ids.len() as u64,
                serde_json::Value::Number(_) => 1,
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

/// Tokens of a `prompt` (completions) or `input` (embeddings): a string or a list of strings.
pub fn count_text_input(raw: &RawValue) -> u64 {
    match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::String(s)) => tokenizer::count(&s),
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                serde_json::Value::String(s) => tokenizer::count(s),
                // Token-id arrays: one token per id.
                serde_json::Value::Array(ids) => ids.len() as u64,
                serde_json::Value::Number(_) => 1,
                _ => 0,
            })
            .sum(),
        _ => tokenizer::count(raw.get()),
    }
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

/// Tokens the upstream produced in a whole response, or in one stream chunk.
pub fn count_output(json: &[u8]) -> u64 {
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

    #[test]
    fn reads_reported_usage() {
        let body = br#"{"id":"x","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}"#;
        assert_eq!(
            reported_usage(body),
            Some(Usage {
                input: 12,
                output: 30
            })
        );
        let embeddings = br#"{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}"#;
        assert_eq!(
            reported_usage(embeddings),
            Some(Usage {
                input: 8,
                output: 0
            })
        );
        assert_eq!(reported_usage(br#"{"usage":null}"#), None);
        assert_eq!(reported_usage(br#"{"choices":[]}"#), None);
        assert_eq!(reported_usage(b"not json"), None);
    }

    #[test]
    fn counts_when_nothing_is_reported() {
        let messages: Box<RawValue> = serde_json::from_str(
            r#"[{"role":"user","content":"hello world"},{"role":"user","content":[{"type":"text","text":"hello world"},{"type":"image_url","image_url":{"url":"data:"}}]}]"#,
        )
        .unwrap();
        assert_eq!(count_messages(&messages), 2 + 2 + 3 * 2 + 3);
        let out = br#"{"choices":[{"message":{"role":"assistant","content":"hello world"}}]}"#;
        assert_eq!(count_output(out), 2);
        let delta = br#"{"choices":[{"delta":{"content":"hello"}}]}"#;
        assert_eq!(count_output(delta), 1);
        let prompt: Box<RawValue> = serde_json::from_str(r#"["hello world", [1,2,3]]"#).unwrap();
        assert_eq!(count_text_input(&prompt), 5);
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
        let prompt: Box<RawValue> = serde_json::from_str(r#""Once upon a time""#).unwrap();
        assert!(bound_text_input(&prompt) >= count_text_input(&prompt));
    }
}
