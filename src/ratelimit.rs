//! Counters keyed by string (an address, a username, an account, or a pair of them) in fixed
//! windows, optionally backing off: the sign-in, registration and redeem limits, all in
//! [`Limits`].

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::Config;

/// Allows `max` events per key in each window of `window_ms`; time comes from the caller.
/// With a backoff, once a key has `backoff_after` failures in its window (reported with
/// [`RateLimiter::fail`]) each further attempt must wait, after the last failure, twice as long
/// as the wait before: 1 s, 2 s, 4 s, … Attempts still running count against `max` but not
/// toward the backoff, so a burst of attempts in parallel gets no more than `max`, and racing
/// attempts that all succeed do not slow each other down.
pub struct RateLimiter {
    max: u32,
    window_ms: i64,
    backoff_after: Option<u32>,
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    start_ms: i64,
    count: u32,
    failures: u32,
    last_failure_ms: i64,
}

/// How many keys are kept before expired windows are swept.
const SWEEP_AT: usize = 10_000;

/// Whole seconds from `now_ms` until `until_ms`, rounded up, at least one.
fn seconds_until(until_ms: i64, now_ms: i64) -> u64 {
    u64::try_from((until_ms - now_ms + 999) / 1000)
        .unwrap_or(1)
        .max(1)
}

impl RateLimiter {
    pub fn new(max: u32, window_secs: u32) -> Self {
        Self {
            max: max.max(1),
            window_ms: i64::from(window_secs.max(1)) * 1000,
            backoff_after: None,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The same, backing off after `free` events of a key in its window.
    pub fn with_backoff(max: u32, window_secs: u32, free: u32) -> Self {
        Self {
            backoff_after: Some(free.max(1)),
            ..Self::new(max, window_secs)
        }
    }

    /// `Err(seconds to wait)` when the key has used its window, or must wait out its backoff.
    pub fn check(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let Some(w) = windows
            .get(key)
            .filter(|w| now_ms - w.start_ms < self.window_ms)
        else {
            return Ok(());
        };
        if w.count >= self.max {
            return Err(seconds_until(w.start_ms + self.window_ms, now_ms));
        }
        if let Some(free) = self.backoff_after.filter(|free| w.failures >= *free) {
            let doublings = (w.failures - free).min(30);
            let wait_ms = (1000_i64 << doublings).min(self.window_ms);
            if now_ms < w.last_failure_ms + wait_ms {
                return Err(seconds_until(w.last_failure_ms + wait_ms, now_ms));
            }
        }
        Ok(())
    }

    /// Counts one event for the key (not yet known to have failed).
    pub fn record(&self, key: &str, now_ms: i64) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            let window_ms = self.window_ms;
            windows.retain(|_, w| now_ms - w.start_ms < window_ms);
        }
        let fresh = Window {
            start_ms: now_ms,
            count: 0,
            failures: 0,
            last_failure_ms: now_ms,
        };
        let entry = windows.entry(key.to_string()).or_insert(fresh);
        if now_ms - entry.start_ms >= self.window_ms {
            *entry = fresh;
        }
        entry.count = entry.count.saturating_add(1);
    }

    /// Reports that an event counted by [`RateLimiter::hit`] failed: the backoff counts it.
    pub fn fail(&self, key: &str, now_ms: i64) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = windows.get_mut(key) {
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure_ms = now_ms;
        }
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
            entry.count = entry.count.saturating_sub(1);
        }
    }

    /// Forgets a key, e.g. a username and address after a successful sign-in.
    pub fn clear(&self, key: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows.remove(key);
    }
}

/// Hits every (limiter, key) in order; on the first refusal takes back the hits already made
/// and answers how long to wait.
pub fn hit_all(hits: &[(&RateLimiter, &str)], now_ms: i64) -> Result<(), u64> {
    for (done, (limiter, key)) in hits.iter().enumerate() {
        if let Err(wait) = limiter.hit(key, now_ms) {
            for (limiter, key) in hits.iter().take(done) {
                limiter.forgive(key);
            }
            return Err(wait);
        }
    }
    Ok(())
}

/// Takes back one hit of every (limiter, key): the attempt succeeded.
pub fn forgive_all(hits: &[(&RateLimiter, &str)]) {
    for (limiter, key) in hits {
        limiter.forgive(key);
    }
}

/// Reports the failure of one hit of every (limiter, key).
pub fn fail_all(hits: &[(&RateLimiter, &str)], now_ms: i64) {
    for (limiter, key) in hits {
        limiter.fail(key, now_ms);
    }
}

/// Failures of a sign-in or redeem pair (name or account, and address) that go without a wait.
pub const BACKOFF_AFTER: u32 = 3;

/// The server's limiters. Sign-in and redeem failures count mainly per pair of who and where,
/// so that a stranger guessing from elsewhere, or colleagues mistyping behind one NAT, lock
/// nobody else out; the per-name, per-account and per-address ceilings are far higher and only
/// stop guessing spread over many addresses or many accounts.
pub struct Limits {
    /// Sign-in attempts per (username, address), backing off after [`BACKOFF_AFTER`].
    pub login_by_name_ip: RateLimiter,
    /// Sign-in attempts per username, from all addresses.
    pub login_by_name: RateLimiter,
    /// Sign-in attempts per address, for all usernames.
    pub login_by_ip: RateLimiter,
    pub register_by_ip: RateLimiter,
    /// Failed redemption-code attempts per (account, address), backing off after
    /// [`BACKOFF_AFTER`]; then per account and per address.
    pub redeem_by_account_ip: RateLimiter,
    pub redeem_by_account: RateLimiter,
    pub redeem_by_ip: RateLimiter,
}

impl Limits {
    pub fn new(config: &Config) -> Limits {
        let server = &config.server;
        let window = server.login_window_secs;
        let codes = &config.codes;
        let redeem_window = codes.failure_window_secs;
        Limits {
            login_by_name_ip: RateLimiter::with_backoff(
                server.login_attempts,
                window,
                BACKOFF_AFTER,
            ),
            login_by_name: RateLimiter::new(server.login_attempts_per_username, window),
            login_by_ip: RateLimiter::new(server.login_attempts_per_ip, window),
            register_by_ip: RateLimiter::new(server.registrations_per_ip_hour, 3600),
            redeem_by_account_ip: RateLimiter::with_backoff(
                codes.max_failures_per_account_ip,
                redeem_window,
                BACKOFF_AFTER,
            ),
            redeem_by_account: RateLimiter::new(codes.max_failures_per_account, redeem_window),
            redeem_by_ip: RateLimiter::new(codes.max_failures_per_ip, redeem_window),
        }
    }
}

/// The key of a (who, address) pair; an address has no spaces, so no two pairs share a key.
pub fn pair_key(address: &str, who: &str) -> String {
    format!("{address} {who}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_blocks_then_reopens() {
        let l = RateLimiter::new(2, 60);
        assert!(l.hit("a", 0).is_ok());
        assert!(l.hit("a", 1_000).is_ok());
        assert_eq!(l.hit("a", 2_000), Err(58));
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

    #[test]
    fn backoff_doubles_after_the_free_failures_and_the_window_still_caps() {
        let l = RateLimiter::with_backoff(6, 600, 2);
        let failed = |at: i64| {
            let hit = l.hit("a", at);
            if hit.is_ok() {
                l.fail("a", at);
            }
            hit
        };
        assert!(failed(0).is_ok());
        assert!(failed(0).is_ok());
        assert_eq!(failed(0), Err(1));
        assert!(failed(1_000).is_ok());
        assert_eq!(failed(2_500), Err(1));
        assert!(failed(3_000).is_ok());
        assert_eq!(failed(3_000), Err(4));
        assert!(failed(7_000).is_ok());
        assert!(failed(15_000).is_ok());
        assert_eq!(failed(100_000), Err(500), "six in the window");
        assert!(l.hit("b", 100_000).is_ok());
        assert!(failed(600_000).is_ok(), "a new window starts free");
    }

    #[test]
    fn attempts_in_flight_count_toward_the_limit_but_not_the_backoff() {
        let l = RateLimiter::with_backoff(5, 600, 1);
        for _ in 0..5 {
            assert!(l.hit("a", 0).is_ok());
        }
        assert!(l.hit("a", 0).is_err(), "no more than five at once");
        for _ in 0..5 {
            l.forgive("a");
        }
        assert!(l.hit("a", 0).is_ok(), "successes free their places");
    }

    #[test]
    fn hit_all_takes_back_what_it_counted_when_one_refuses() {
        let (wide, narrow) = (RateLimiter::new(5, 60), RateLimiter::new(1, 60));
        assert!(hit_all(&[(&wide, "w"), (&narrow, "n")], 0).is_ok());
        assert_eq!(hit_all(&[(&wide, "w"), (&narrow, "n")], 0), Err(60));
        forgive_all(&[(&wide, "w")]);
        for _ in 0..5 {
            assert!(wide.hit("w", 0).is_ok());
        }
        assert!(wide.hit("w", 0).is_err());
    }
}
