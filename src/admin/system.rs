//! `/api/admin/upstreams`, `/api/admin/prices` and `/api/admin/reload`: what the gateway is
//! running with, how each upstream is doing, and taking a changed config file into use.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::accounts::session::Admin;
use crate::clock::rfc3339;
use crate::config::UpstreamKind;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The `p`-th percentile of a sample (nearest rank); `None` when empty.
fn percentile(sorted: &[u32], p: usize) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

pub async fn list_upstreams(State(state): State<AppState>, _admin: Admin) -> Json<Value> {
    let now_ms = state.clock.now_ms();
    let data: Vec<Value> = state
        .upstreams()
        .list
        .iter()
        .map(|u| {
            let h = u.health.snapshot();
            let mut latencies: Vec<u32> = h.latencies_ms.iter().copied().collect();
            latencies.sort_unstable();
            let cooling = h.cooldown_until_ms > now_ms;
            json!({
                "name": u.name,
                "kind": match u.kind { UpstreamKind::Openai => "openai", UpstreamKind::Demo => "demo" },
                "base_url": u.base_url,
                "models": u.models,
                "priority": u.priority,
                "weight": u.weight,
                "has_api_key": u.api_key.is_some(),
                "state": if cooling { "cooling_down" } else { "healthy" },
                "cooldown_until": cooling.then(|| rfc3339(h.cooldown_until_ms / 1000)),
                "requests": h.requests,
                "errors": h.errors,
                "consecutive_failures": h.consecutive_failures,
                "p50_ms": percentile(&latencies, 50),
                "p95_ms": percentile(&latencies, 95),
                "last_error": h.last_error,
                "last_error_at": h.last_error_at_ms.map(|ms| rfc3339(ms / 1000)),
            })
        })
        .collect();
    Json(json!({ "data": data }))
}

pub async fn list_prices(State(state): State<AppState>, _admin: Admin) -> Json<Value> {
    let prices = state.prices();
    let upstreams = state.upstreams();
    let config = state.config();
    let mut models: Vec<String> = prices.models().keys().cloned().collect();
    for m in upstreams.models() {
        if prices.is_free(m) && !models.iter().any(|x| x == m) {
            models.push(m.to_string());
        }
    }
    models.sort();
    let data: Vec<Value> = models
        .iter()
        .map(|model| {
            let price = prices.models().get(model);
            let text = |r: Option<crate::pricing::Rate>| r.map(|r| r.0.normalize().to_string());
            json!({
                "model": model,
                "free": prices.is_free(model),
                "input": price.and_then(|p| text(p.input)),
                "output": price.and_then(|p| text(p.output)),
                "per_request": price.and_then(|p| text(p.per_request)),
                "served_by": upstreams.list.iter().filter(|u| u.serves(model)).map(|u| u.name.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let groups: serde_json::Map<String, Value> = config
        .groups
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.0.normalize().to_string())))
        .collect();
    Json(json!({ "data": data, "groups": groups, "unit": "USD per 1M tokens" }))
}

/// Re-reads the config file; on any error the running config stays and the error is returned.
pub async fn reload(State(state): State<AppState>, Admin(admin): Admin) -> ApiResult<Json<Value>> {
    let reloading = state.clone();
    let summary = tokio::task::spawn_blocking(move || reloading.reload())
        .await?
        .map_err(|e| ApiError::bad_request("config_invalid", e))?;
    tracing::info!(admin = admin.id, "config reloaded from the admin API");
    Ok(Json(json!({ "reloaded": true, "summary": summary })))
}
