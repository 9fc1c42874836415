//! Upstreams from the config: who serves which model, in what order to try them (priority, then
//! weighted random), and each one's health — failures put it in a cool-down.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use rand::Rng;

use super::request::Endpoint;
use crate::config::{UpstreamConfig, UpstreamKind};

pub struct Upstream {
    pub name: String,
    pub kind: UpstreamKind,
    /// Without a trailing slash.
    pub base_url: String,
    /// `{base_url}/chat/completions`, `/completions`, `/embeddings`, parsed once here rather
    /// than on every request; `None` when the base URL does not parse.
    endpoints: Option<[reqwest::Url; 3]>,
    pub api_key: Option<String>,
    pub models: Vec<String>,
    pub model_map: BTreeMap<String, String>,
    pub priority: i32,
    pub weight: u32,
    pub health: Arc<Health>,
}

impl Upstream {
    pub fn serves(&self, model: &str) -> bool {
        self.models.iter().any(|m| m == model)
    }

    /// The parsed URL of an endpoint of this upstream.
    pub fn endpoint_url(&self, endpoint: Endpoint) -> Option<&reqwest::Url> {
        let index = match endpoint {
            Endpoint::Chat => 0,
            Endpoint::Completions => 1,
            Endpoint::Embeddings => 2,
        };
        self.endpoints.as_ref().map(|urls| &urls[index])
    }

    /// The name this upstream knows a model by.
    pub fn upstream_model<'a>(&'a self, model: &'a str) -> &'a str {
        self.model_map
            .get(model)
            .map(String::as_str)
            .unwrap_or(model)
    }
}

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

pub struct UpstreamSet {
    pub list: Vec<Arc<Upstream>>,
}

impl UpstreamSet {
    /// Builds the set, resolving `api_key_env` now; health carries over from `previous` by name,
    /// so a reload does not forget which upstream is failing.
    pub fn from_config(configs: &[UpstreamConfig], previous: Option<&UpstreamSet>) -> UpstreamSet {
        let old: HashMap<&str, Arc<Health>> = previous
            .map(|p| {
                p.list
                    .iter()
                    .map(|u| (u.name.as_str(), u.health.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let list = configs
            .iter()
            .filter(|c| c.enabled)
            .map(|c| {
                let api_key = match (&c.api_key, &c.api_key_env) {
                    (Some(k), _) => Some(k.clone()),
                    (None, Some(var)) => match std::env::var(var) {
                        Ok(k) if !k.is_empty() => Some(k),
                        _ => {
                            tracing::warn!(upstream = %c.name, var = %var, "API key variable is not set");
                            None
                        }
                    },
                    (None, None) => None,
                };
                let base_url = c.base_url.trim_end_matches('/').to_string();
                let endpoints = parse_endpoints(&base_url);
                if endpoints.is_none() && c.kind == UpstreamKind::Openai {
                    tracing::warn!(upstream = %c.name, %base_url, "base_url does not parse as a URL");
                }
                Arc::new(Upstream {
                    name: c.name.clone(),
                    kind: c.kind,
                    base_url,
                    endpoints,
                    api_key,
                    models: c.models.clone(),
                    model_map: c.model_map.clone(),
                    priority: c.priority,
                    weight: c.weight.max(1),
                    health: old.get(c.name.as_str()).cloned().unwrap_or_default(),
                })
            })
            .collect();
        UpstreamSet { list }
    }

    pub fn serves(&self, model: &str) -> bool {
        self.list.iter().any(|u| u.serves(model))
    }

    /// Every model some upstream serves.
    pub fn models(&self) -> Vec<&str> {
        let mut models: Vec<&str> = self
            .list
            .iter()
            .flat_map(|u| u.models.iter().map(String::as_str))
            .collect();
        models.sort_unstable();
        models.dedup();
        models
    }

    /// The order to try upstreams for `model`: healthy ones by priority (weighted random within
    /// a priority), then those cooling down, as a last resort rather than no answer at all.
    pub fn candidates(&self, model: &str, now_ms: i64) -> Vec<Arc<Upstream>> {
        let (mut healthy, mut cooling): (Vec<_>, Vec<_>) = self
            .list
            .iter()
            .filter(|u| u.serves(model))
            .cloned()
            .partition(|u| !u.health.cooling_down(now_ms));
        let mut rng = rand::rng();
        let mut order = weighted_order(&mut healthy, &mut rng);
        order.extend(weighted_order(&mut cooling, &mut rng));
        order
    }
}

fn parse_endpoints(base_url: &str) -> Option<[reqwest::Url; 3]> {
    let url =
        |endpoint: Endpoint| reqwest::Url::parse(&format!("{base_url}{}", endpoint.path())).ok();
    Some([
        url(Endpoint::Chat)?,
        url(Endpoint::Completions)?,
        url(Endpoint::Embeddings)?,
    ])
}

/// Sorts by priority (highest first); within one priority, draws without replacement by weight.
fn weighted_order(pool: &mut Vec<Arc<Upstream>>, rng: &mut impl Rng) -> Vec<Arc<Upstream>> {
    pool.sort_by_key(|u| std::cmp::Reverse(u.priority));
    let mut out = Vec::with_capacity(pool.len());
    while !pool.is_empty() {
        let top = pool[0].priority;
        let tier_len = pool.iter().take_while(|u| u.priority == top).count();
        let total: u64 = pool[..tier_len].iter().map(|u| u64::from(u.weight)).sum();
        let mut pick = rng.random_range(0..total.max(1));
        let mut index = 0;
        for (i, u) in pool[..tier_len].iter().enumerate() {
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

    #[test]
    fn priority_first_then_weight() {
        let set = UpstreamSet::from_config(
            &[config("low", 1, 1), config("a", 5, 3), config("b", 5, 1)],
            None,
        );
        let mut a_first = 0;
        for _ in 0..2000 {
            let order: Vec<String> = set
                .candidates("m", 0)
                .iter()
                .map(|u| u.name.clone())
                .collect();
            assert_eq!(order.len(), 3);
            assert_eq!(order[2], "low");
            if order[0] == "a" {
                a_first += 1;
            }
        }
        // Weight 3 against 1: about three quarters.
        assert!((1300..1700).contains(&a_first), "{a_first}");
        assert!(set.candidates("other", 0).is_empty());
    }

    #[test]
    fn failing_upstreams_cool_down_and_come_back() {
        let set = UpstreamSet::from_config(&[config("a", 5, 1), config("b", 1, 1)], None);
        let a = set.list[0].clone();
        a.health.record_failure("boom", 0, 2, 30_000);
        assert_eq!(set.candidates("m", 1)[0].name, "a");
        a.health.record_failure("boom", 1, 2, 30_000);
        assert_eq!(set.candidates("m", 2)[0].name, "b", "a is cooling down");
        assert_eq!(
            set.candidates("m", 2)[1].name,
            "a",
            "but still a last resort"
        );
        assert_eq!(set.candidates("m", 30_002)[0].name, "a", "cool-down over");
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
}
