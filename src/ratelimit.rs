//! Fixed-window counters keyed by string (IP, username, account): login, registration and redeem limits.

use std::collections::HashMap;
use std::sync::Mutex;

/// Allows `max` events per key in each window of `window_ms`; time comes from the caller.
pub struct RateLimiter {
    max: u32,
    window_ms: i64,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

/// How many keys are kept before expired windows are swept.
const SWEEP_AT: usize = 10_000;

impl RateLimiter {
    pub fn new(max: u32, window_secs: u32) -> Self {
        Self {
            max: max.max(1),
            window_ms: i64::from(window_secs.max(1)) * 1000,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when the key has used its window.
    pub fn check(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get(key) {
            Some(&(start, count)) if now_ms - start < self.window_ms && count >= self.max => {
                Err(((start + self.window_ms - now_ms) / 1000 + 1) as u64)
            }
            _ => Ok(()),
        }
    }

    /// Counts one event for the key.
    pub fn record(&self, key: &str, now_ms: i64) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            let window_ms = self.window_ms;
            windows.retain(|_, (start, _)| now_ms - *start < window_ms);
        }
        let entry = windows.entry(key.to_string()).or_insert((now_ms, 0));
        if now_ms - entry.0 >= self.window_ms {
            *entry = (now_ms, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Checks and counts in one step (for limits on every attempt, not only failures).
    pub fn hit(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        self.check(key, now_ms)?;
        self.record(key, now_ms);
        Ok(())
    }

    /// Takes back one event counted by [`RateLimiter::hit`], when the attempt turned out not to
    /// count (it succeeded). Counting first and forgiving after means concurrent attempts cannot
    /// all pass the check before any of them is recorded.
    pub fn forgive(&self, key: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = windows.get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    /// Forgets a key, e.g. a username after a successful login.
    pub fn clear(&self, key: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_blocks_then_reopens() {
        let l = RateLimiter::new(2, 60);
        assert!(l.hit("a", 0).is_ok());
        assert!(l.hit("a", 1_000).is_ok());
        assert_eq!(l.hit("a", 2_000), Err(59));
        assert!(l.hit("b", 2_000).is_ok());
        assert!(l.hit("a", 60_000).is_ok());
    }

    #[test]
    fn forgiven_events_free_their_place() {
        let l = RateLimiter::new(1, 60);
        assert!(l.hit("a", 0).is_ok());
        l.forgive("a");
        assert!(l.hit("a", 1).is_ok());
        assert!(l.hit("a", 2).is_err());
        l.forgive("unknown");
    }
}
