//! Whole answers in memory: an upstream's non-stream answer is read before it is passed on (to
//! learn its usage, and to fail over if it is not JSON), so what all requests buffer at once is
//! bounded by one budget. An answer is kept as the chunks it arrived in — no single allocation
//! the size of the answer — which go back to the allocator's small pages, not held as one huge
//! block, when it has been sent.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};

/// Bytes of whole answers buffered at once, across every request.
pub struct BufferBudget {
    in_use: Arc<AtomicUsize>,
    limit: AtomicUsize,
}

impl BufferBudget {
    pub fn new(limit: usize) -> BufferBudget {
        BufferBudget {
            in_use: Arc::new(AtomicUsize::new(0)),
            limit: AtomicUsize::new(limit),
        }
    }

    /// A reload may change the limit; what is buffered stays until it is sent.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Bytes buffered right now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// An empty answer that takes from this budget as it grows.
    pub fn answer(&self) -> Buffered {
        Buffered {
            chunks: Vec::new(),
            len: 0,
            in_use: self.in_use.clone(),
            limit: self.limit.load(Ordering::Relaxed),
        }
    }
}

/// The budget has no room for more of an answer.
#[derive(Debug)]
pub struct OverBudget;

/// A whole answer being read, or read: its chunks, and the budget it takes from until dropped.
pub struct Buffered {
    chunks: Vec<Bytes>,
    len: usize,
    in_use: Arc<AtomicUsize>,
    limit: usize,
}

impl Buffered {
    /// Adds a chunk, if the budget has room for it.
    pub fn push(&mut self, chunk: Bytes) -> Result<(), OverBudget> {
        let n = chunk.len();
        let mut current = self.in_use.load(Ordering::Relaxed);
        loop {
            if current + n > self.limit {
                return Err(OverBudget);
            }
            match self.in_use.compare_exchange_weak(
                current,
                current + n,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        self.len += n;
        self.chunks.push(chunk);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The answer, when it came in one piece.
    pub fn single(&self) -> Option<&[u8]> {
        match self.chunks.as_slice() {
            [] => Some(&[]),
            [one] => Some(one),
            _ => None,
        }
    }

    /// The answer as one reader, for parsing without copying it into one block.
    pub fn reader(&self) -> impl Read + '_ {
        ChunkReader {
            chunks: &self.chunks,
            at: 0,
            offset: 0,
        }
    }

    /// The answer in one block (for translating or counting, which need it whole).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        out
    }

    /// The answer as a response body; the budget is given back once it has been sent.
    pub fn into_body(mut self) -> Body {
        let chunks = std::mem::take(&mut self.chunks);
        let mut chunks = chunks.into_iter();
        let mut held = Some(self);
        Body::from_stream(futures_util::stream::poll_fn(move |_| {
            let next = chunks.next();
            if next.is_none() {
                held.take();
            }
            std::task::Poll::Ready(next.map(Ok::<Bytes, std::convert::Infallible>))
        }))
    }
}

impl Drop for Buffered {
    fn drop(&mut self) {
        self.in_use.fetch_sub(self.len, Ordering::AcqRel);
    }
}

struct ChunkReader<'a> {
    chunks: &'a [Bytes],
    at: usize,
    offset: usize,
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(chunk) = self.chunks.get(self.at) {
            let rest = &chunk[self.offset..];
            if rest.is_empty() {
                self.at += 1;
                self.offset = 0;
                continue;
            }
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.offset += n;
            return Ok(n);
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_take_from_one_budget_and_give_it_back() {
        let budget = BufferBudget::new(10);
        let mut a = budget.answer();
        a.push(Bytes::from_static(b"{\"a\":")).unwrap();
        let mut b = budget.answer();
        b.push(Bytes::from_static(b"12345")).unwrap();
        assert!(a.push(Bytes::from_static(b"1}")).is_err(), "no room left");
        assert_eq!(budget.in_use(), 10);
        drop(b);
        a.push(Bytes::from_static(b"1}")).unwrap();
        let parsed: serde_json::Value = serde_json::from_reader(a.reader()).unwrap();
        assert_eq!(parsed["a"], 1);
        assert_eq!(a.to_vec(), b"{\"a\":1}");
        drop(a);
        assert_eq!(budget.in_use(), 0);
    }
}
