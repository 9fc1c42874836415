//! Route: which upstreams may answer a request, and in which order — those serving the model
//! that speak (or can be reached by translation from) the client's format; the one a session
//! used last first while it is healthy, so its prompt cache keeps hitting; then healthy ones by
//! priority, weighted at random within a priority; then those cooling down, as a last resort
//! rather than no answer at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::Rng;

use super::request::ClientRequest;
use super::translate::{self, Plan};
use super::upstreams::{Upstream, UpstreamSet};

/// How long a session sticks to its upstream after its last request.
const STICKY_FOR_MS: i64 = 60 * 60 * 1000;

/// Sessions kept; past this the oldest half is forgotten.
const MAX_SESSIONS: usize = 50_000;

/// Which upstream each recent session was answered by.
#[derive(Default)]
pub struct Sticky {
    sessions: Mutex<HashMap<String, (String, i64)>>,
}

impl Sticky {
    fn upstream_of(&self, session: &str, now_ms: i64) -> Option<String> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .get(session)
            .filter(|(_, at)| now_ms - at < STICKY_FOR_MS)
            .map(|(name, _)| name.clone())
    }

    /// Remembers that `upstream` answered `session`.
    pub fn answered(&self, session: &str, upstream: &str, now_ms: i64) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= MAX_SESSIONS && !sessions.contains_key(session) {
            let mut ages: Vec<i64> = sessions.values().map(|(_, at)| *at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            sessions.retain(|_, (_, at)| *at > cutoff);
        }
        match sessions.get_mut(session) {
            Some(entry) if entry.0 == upstream => entry.1 = now_ms,
            _ => {
                sessions.insert(session.to_string(), (upstream.to_string(), now_ms));
            }
        }
    }
}

/// The upstreams to try for `req`, in order, each with how to reach it.
pub fn candidates(
    upstreams: &UpstreamSet,
    sticky: &Sticky,
    req: &ClientRequest,
    now_ms: i64,
) -> Vec<(Arc<Upstream>, Plan)> {
    let client = req.dialect.wire();
    let (mut healthy, mut cooling): (Vec<_>, Vec<_>) = upstreams
        .list
        .iter()
        .filter(|u| u.serves(&req.model))
        .filter_map(|u| translate::plan(client, u).map(|plan| (u.clone(), plan)))
        .partition(|(u, _)| !u.health.cooling_down(now_ms));
    let mut rng = rand::rng();
    let mut order = weighted_order(&mut healthy, &mut rng);
    if let Some(name) = req
        .session
        .as_deref()
        .and_then(|s| sticky.upstream_of(s, now_ms))
    {
        if let Some(i) = order.iter().position(|(u, _)| u.name == name) {
            let last = order.remove(i);
            order.insert(0, last);
        }
    }
    order.extend(weighted_order(&mut cooling, &mut rng));
    order
}

/// Sorts by priority (highest first); within one priority, draws without replacement by weight.
fn weighted_order<T>(
    pool: &mut Vec<(Arc<Upstream>, T)>,
    rng: &mut impl Rng,
) -> Vec<(Arc<Upstream>, T)> {
    pool.sort_by_key(|(u, _)| std::cmp::Reverse(u.priority));
    let mut out = Vec::with_capacity(pool.len());
    while !pool.is_empty() {
        let top = pool[0].0.priority;
        let tier_len = pool.iter().take_while(|(u, _)| u.priority == top).count();
        let total: u64 = pool[..tier_len]
            .iter()
            .map(|(u, _)| u64::from(u.weight))
            .sum();
        let mut pick = rng.random_range(0..total.max(1));
        let mut index = 0;
        for (i, (u, _)) in pool[..tier_len].iter().enumerate() {
            if pick < u64::from(u.weight) {
                index = i;
                break;
            }
            pick -= u64::from(u.weight);
        }
        out.push(pool.remove(index));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UpstreamConfig;
    use crate::relay::dialects::chat::Chat;
    use axum::http::HeaderMap;

    fn config(name: &str, priority: i32, weight: u32) -> UpstreamConfig {
        UpstreamConfig {
            name: name.into(),
            base_url: "http://x".into(),
            models: vec!["m".into()],
            priority,
            weight,
            ..UpstreamConfig::demo()
        }
    }

    fn request(model: &str, session: Option<&str>) -> ClientRequest {
        let body = format!(r#"{{"model":"{model}","messages":[]}}"#);
        let mut req = ClientRequest::parse(&Chat, body.as_bytes(), &HeaderMap::new()).unwrap();
        req.session = session.map(str::to_string);
        req
    }

    fn order(set: &UpstreamSet, sticky: &Sticky, req: &ClientRequest, now: i64) -> Vec<String> {
        candidates(set, sticky, req, now)
            .iter()
            .map(|(u, _)| u.name.clone())
            .collect()
    }

    #[test]
    fn priority_first_then_weight() {
        let set = UpstreamSet::from_config(
            &[config("low", 1, 1), config("a", 5, 3), config("b", 5, 1)],
            None,
        );
        let sticky = Sticky::default();
        let req = request("m", None);
        let mut a_first = 0;
        for _ in 0..2000 {
            let order = order(&set, &sticky, &req, 0);
            assert_eq!(order.len(), 3);
            assert_eq!(order[2], "low");
            if order[0] == "a" {
                a_first += 1;
            }
        }
        // Weight 3 against 1: about three quarters.
        assert!((1300..1700).contains(&a_first), "{a_first}");
        assert!(order(&set, &sticky, &request("other", None), 0).is_empty());
    }

    #[test]
    fn failing_upstreams_cool_down_and_come_back() {
        let set = UpstreamSet::from_config(&[config("a", 5, 1), config("b", 1, 1)], None);
        let sticky = Sticky::default();
        let req = request("m", None);
        let a = set.list[0].clone();
        a.health.record_failure("boom", 0, 2, 30_000);
        assert_eq!(order(&set, &sticky, &req, 1)[0], "a");
        a.health.record_failure("boom", 1, 2, 30_000);
        assert_eq!(
            order(&set, &sticky, &req, 2),
            ["b", "a"],
            "a cools down, but is a last resort"
        );
        assert_eq!(order(&set, &sticky, &req, 30_002)[0], "a", "cool-down over");
        a.health.record_success(12);
        let snap = a.health.snapshot();
        assert_eq!(
            (snap.requests, snap.errors, snap.consecutive_failures),
            (3, 2, 0)
        );
        // Health survives a reload of the same upstream.
        let reloaded = UpstreamSet::from_config(&[config("a", 5, 1)], Some(&set));
        assert_eq!(reloaded.list[0].health.snapshot().requests, 3);
    }

    #[test]
    fn a_session_sticks_to_its_upstream_while_it_is_healthy() {
        let set = UpstreamSet::from_config(&[config("a", 5, 1), config("b", 5, 1)], None);
        let sticky = Sticky::default();
        let req = request("m", Some("s1"));
        sticky.answered("s1", "b", 0);
        for now in [1, 1000, STICKY_FOR_MS - 1] {
            assert_eq!(order(&set, &sticky, &req, now)[0], "b");
        }
        // Another session, or the same one after a quiet hour, is routed by weight again.
        let mut b_first = 0;
        for _ in 0..400 {
            if order(&set, &sticky, &request("m", Some("s2")), 5)[0] == "b" {
                b_first += 1;
            }
        }
        assert!((100..300).contains(&b_first), "{b_first}");
        assert!(sticky.upstream_of("s1", STICKY_FOR_MS).is_none());
        // A sticky upstream that fails over is not preferred while it cools down.
        set.list[1].health.record_failure("boom", 10, 1, 30_000);
        assert_eq!(order(&set, &sticky, &req, 11), ["a", "b"]);
    }
}
