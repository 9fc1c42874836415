//! An upstream's health: requests, errors, recent latencies, and the cool-down that keeps a
//! failing upstream out of the way for a while.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Recent latencies kept per upstream, for percentiles.
const LATENCY_WINDOW: usize = 256;

#[derive(Default)]
pub struct Health {
    state: Mutex<HealthState>,
}

#[derive(Default, Clone)]
pub struct HealthState {
    pub consecutive_failures: u32,
    pub cooldown_until_ms: i64,
    pub requests: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    pub last_error_at_ms: Option<i64>,
    pub latencies_ms: VecDeque<u32>,
}

impl Health {
    pub fn snapshot(&self) -> HealthState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn cooling_down(&self, now_ms: i64) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cooldown_until_ms
            > now_ms
    }

    pub fn record_success(&self, latency_ms: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests += 1;
        s.consecutive_failures = 0;
        s.cooldown_until_ms = 0;
        if s.latencies_ms.len() == LATENCY_WINDOW {
            s.latencies_ms.pop_front();
        }
        s.latencies_ms
            .push_back(latency_ms.min(u64::from(u32::MAX)) as u32);
    }

    /// Counts a failure; after `threshold` in a row the upstream sits out `cooldown_ms`.
    pub fn record_failure(&self, error: &str, now_ms: i64, threshold: u32, cooldown_ms: i64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests += 1;
        s.errors += 1;
        s.consecutive_failures += 1;
        s.last_error = Some(error.chars().take(300).collect());
        s.last_error_at_ms = Some(now_ms);
        if s.consecutive_failures >= threshold.max(1) {
            s.cooldown_until_ms = now_ms + cooldown_ms;
            tracing::warn!(error, "upstream cooling down");
        }
    }
}
