//! Token counting with a real BPE (OpenAI's cl100k_base via tiktoken-rs), for upstreams that
//! report no usage. Loaded on first use only: it costs about 24 MB of memory (o200k_base would
//! cost 45), which a gateway whose upstreams report usage never needs to spend.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

fn bpe() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| match tiktoken_rs::cl100k_base() {
        Ok(bpe) => Some(bpe),
        Err(e) => {
            tracing::error!(error = %e, "tokenizer failed to load; counting by bytes");
            None
        }
    })
    .as_ref()
}

/// Tokens in `text`. Without a tokenizer, the byte count (a safe over-estimate).
pub fn count(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    match bpe() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => text.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_tiktoken() {
        assert_eq!(count(""), 0);
        assert_eq!(count("hello world"), 2);
        assert!(count("Code Router counts tokens exactly.") >= 5);
    }
}
