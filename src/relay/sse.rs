//! Server-Sent Events split incrementally: bytes in, whole events (ending in a blank line) out,
//! holding only the unfinished tail.

/// Largest single event kept while waiting for its end; past it the stream is malformed.
const MAX_EVENT: usize = 4 * 1024 * 1024;

#[derive(Default)]
pub struct EventSplitter {
    pending: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Oversize;

impl EventSplitter {
    /// Appends a chunk and returns the events it completed, each with its trailing blank line.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, Oversize> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < self.pending.len() {
            // An event ends at "\n\n" or "\r\n\r\n".
            let end = if self.pending[i..].starts_with(b"\n\n") {
                Some(i + 2)
            } else if self.pending[i..].starts_with(b"\r\n\r\n") {
                Some(i + 4)
            } else {
                None
            };
            match end {
                Some(end) => {
                    events.push(self.pending[start..end].to_vec());
                    start = end;
                    i = end;
                }
                None => i += 1,
            }
        }
        self.pending.drain(..start);
        if self.pending.len() > MAX_EVENT {
            return Err(Oversize);
        }
        Ok(events)
    }

    /// What is left when the stream ends (an event without its blank line), if anything.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.pending);
        if rest.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(rest)
        }
    }
}

/// The `data:` payload of an event (several `data:` lines joined by newlines), if it has one.
pub fn data_of(event: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(event).ok()?;
    let mut data: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("data:") {
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(rest);
                }
                None => data = Some(rest.to_string()),
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_across_chunk_boundaries() {
        let mut s = EventSplitter::default();
        assert!(s.push(b"data: {\"a\"").unwrap().is_empty());
        let events = s.push(b":1}\n\ndata: [DONE]\n").unwrap();
        assert_eq!(events, vec![b"data: {\"a\":1}\n\n".to_vec()]);
        let events = s.push(b"\n").unwrap();
        assert_eq!(events, vec![b"data: [DONE]\n\n".to_vec()]);
        assert_eq!(s.finish(), None);
        let events = s.push(b": ping\r\n\r\ndata: x\r\n\r\n").unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(data_of(&events[1]).as_deref(), Some("x"));
        assert_eq!(data_of(&events[0]), None);
        assert_eq!(data_of(b"data: a\ndata: b\n\n").as_deref(), Some("a\nb"));
    }

    #[test]
    fn an_endless_event_is_refused() {
        let mut s = EventSplitter::default();
        let big = vec![b'x'; MAX_EVENT + 1];
        assert_eq!(s.push(&big), Err(Oversize));
    }
}
