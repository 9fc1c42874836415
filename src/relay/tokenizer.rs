//! Token counting with a real BPE (OpenAI's o200k_base via tiktoken-rs), for pre-holds and for
//! upstreams that report no usage. Loaded once, on first use.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

fn bpe() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| match tiktoken_rs::o200k_base() {
        Ok(bpe) => Some(bpe),
        Err(e) => {
            tracing::error!(error = %e, "tokenizer failed to load; counting by bytes");
            None
        }
    })
    .as_ref()
}

/// Loads the tokenizer now, so the first request does not pay for it.
pub fn warm_up() {
    let _ = bpe();
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
