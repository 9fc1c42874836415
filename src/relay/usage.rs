//! Usage: the one normalized record of what a request used, whatever wire format reported it,
//! and the pieces of counting shared by the OpenAI-shaped formats (`prompt` and `input` text).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::tokenizer;

/// Tokens of one request, by kind. Each prompt token is in exactly one of the first four.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens read fresh: neither from a cache nor written to one.
    pub input: u64,
    /// Prompt tokens read from the provider's prompt cache.
    pub cache_read: u64,
    /// Prompt tokens written to a 5-minute cache.
    pub cache_write_5m: u64,
    /// Prompt tokens written to a 1-hour cache.
    pub cache_write_1h: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
    /// Of `output`, the reasoning tokens (billed as output, shown apart).
    pub reasoning: u64,
}

impl Usage {
    /// Prompt tokens of every kind.
    pub fn prompt(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write_5m)
            .saturating_add(self.cache_write_1h)
    }
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

/// OpenAI's `usage` object (chat completions, completions, embeddings). Cached prompt tokens
/// and reasoning tokens are counted inside `prompt_tokens` and `completion_tokens`.
#[derive(Deserialize)]
struct OpenaiUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    /// DeepSeek's name for cached prompt tokens.
    #[serde(default)]
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WithOpenaiUsage {
    #[serde(default)]
    usage: Option<OpenaiUsage>,
}

/// One parse of a whole OpenAI-shaped answer or chunk: `Err` when it is not JSON, else its
/// `usage` when it has a non-null one.
pub fn openai_usage(json: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
    Ok(openai_usage_of(serde_json::from_slice(json)?))
}

/// The same for an answer read in pieces.
pub fn openai_usage_from(json: &mut dyn std::io::Read) -> Result<Option<Usage>, serde_json::Error> {
    Ok(openai_usage_of(serde_json::from_reader(json)?))
}

/// The same for an answer already parsed as a value (so a translator reads the answer once).
pub fn openai_usage_in(value: &serde_json::Value) -> Option<Usage> {
    WithOpenaiUsage::deserialize(value)
        .ok()
        .and_then(openai_usage_of)
}

fn openai_usage_of(parsed: WithOpenaiUsage) -> Option<Usage> {
    parsed.usage.map(|u| {
        let prompt = u.prompt_tokens.unwrap_or(0);
        let output = u
            .completion_tokens
            .unwrap_or_else(|| u.total_tokens.unwrap_or(0).saturating_sub(prompt));
        let cached = u
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .or(u.prompt_cache_hit_tokens)
            .unwrap_or(0)
            .min(prompt);
        let reasoning = u
            .completion_tokens_details
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0)
            .min(output);
        Usage {
            input: prompt - cached,
            cache_read: cached,
            output,
            reasoning,
            ..Usage::default()
        }
    })
}

/// An upper bound on the tokens of a `prompt` or `input` without a tokenizer: string bytes (a
/// BPE token covers at least one byte), or one per token id.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn io(input: u64, output: u64) -> Usage {
        Usage {
            input,
            output,
            ..Usage::default()
        }
    }

    #[test]
    fn reads_reported_usage() {
        let body = br#"{"id":"x","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}"#;
        assert_eq!(openai_usage(body).unwrap(), Some(io(12, 30)));
        let embeddings = br#"{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}"#;
        assert_eq!(openai_usage(embeddings).unwrap(), Some(io(8, 0)));
        assert_eq!(openai_usage(br#"{"usage":null}"#).unwrap(), None);
        // Cached and reasoning tokens are inside the totals: split out, never counted twice.
        let detailed =
            br#"{"usage":{"prompt_tokens":10000,"completion_tokens":900,"total_tokens":10900,
            "prompt_tokens_details":{"cached_tokens":8000,"audio_tokens":0},
            "completion_tokens_details":{"reasoning_tokens":600}}}"#;
        assert_eq!(
            openai_usage(detailed).unwrap(),
            Some(Usage {
                input: 2000,
                cache_read: 8000,
                output: 900,
                reasoning: 600,
                ..Usage::default()
            })
        );
        let deepseek = br#"{"usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}"#;
        let u = openai_usage(deepseek).unwrap().unwrap();
        assert_eq!((u.input, u.cache_read), (36, 64));
        assert_eq!(openai_usage(br#"{"choices":[]}"#).unwrap(), None);
        assert!(openai_usage(b"not json").is_err());
    }

    #[test]
    fn text_inputs_are_counted_and_bounded() {
        let prompt: Box<RawValue> = serde_json::from_str(r#"["hello world", [1,2,3]]"#).unwrap();
        assert_eq!(count_text_input(&prompt), 5);
        let prompt: Box<RawValue> = serde_json::from_str(r#""Once upon a time""#).unwrap();
        assert!(bound_text_input(&prompt) >= count_text_input(&prompt));
    }
}
