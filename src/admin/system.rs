//! `/api/admin/upstreams`, `/api/admin/prices` and `/api/admin/reload`: what the gateway is
//! running with, how each upstream is doing, and taking a changed config file into use.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::accounts::session::Admin;
use crate::clock::rfc3339;
use crate::config::UpstreamKind;
use crate::error::ErrorBody;
use crate::error::{ApiError, ApiResult};
use crate::openapi::AdminErrors;
use crate::pricing::list::{model_prices, rate_text};
use crate::state::AppState;

/// One upstream in `GET /api/admin/upstreams` (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UpstreamStatus {
    pub name: String,
    /// `openai` or `demo`.
    #[schema(example = "openai")]
    pub kind: String,
    pub base_url: String,
    /// The models it serves; empty for all.
    pub models: Vec<String>,
    pub priority: i32,
    pub weight: u32,
    /// Whether an API key is configured; the key itself is never shown.
    pub has_api_key: bool,
    /// `no_api_key` for an `openai` upstream given no key (neither `api_key` nor a set
    /// `api_key_env`), which is a problem to fix; else `cooling_down` after repeated failures,
    /// or `healthy`.
    #[schema(example = "healthy")]
    pub state: String,
    /// When the cool-down ends, while cooling down.
    #[schema(format = DateTime, required = true)]
    pub cooldown_until: Option<String>,
    /// Requests since start (or since its config last changed).
    pub requests: u64,
    pub errors: u64,
    pub consecutive_failures: u32,
    /// Median latency of recent requests, in milliseconds; `null` before any.
    #[schema(required = true)]
    pub p50_ms: Option<u32>,
    /// 95th percentile latency of recent requests, in milliseconds; `null` before any.
    #[schema(required = true)]
    pub p95_ms: Option<u32>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub last_error_at: Option<String>,
}

/// What `GET /api/admin/upstreams` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UpstreamListResponse {
    pub data: Vec<UpstreamStatus>,
}

/// One model's price in `GET /api/admin/prices`: as configured (no group multiplier), with the
/// upstreams that serve it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ModelPrice {
    #[serde(flatten)]
    pub prices: crate::pricing::list::ModelPrices,
    /// The upstreams that serve the model.
    pub served_by: Vec<String>,
}

/// What `GET /api/admin/prices` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PriceListResponse {
    /// By model name.
    pub data: Vec<ModelPrice>,
    /// Price multiplier of each group, as a decimal string; `default` (the multiplier of any
    /// group not named) is always there, `1` unless `[groups]` sets it.
    #[schema(example = json!({"default": "1", "vip": "0.8"}))]
    pub groups: std::collections::BTreeMap<String, String>,
    /// The unit of token prices: `USD per 1M tokens`.
    pub unit: String,
}

/// What `POST /api/admin/reload` answers (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ReloadResponse {
    /// Always `true`: a failed reload answers 400 instead.
    pub reloaded: bool,
    /// What is now in use.
    #[schema(example = "12 models priced, 2 upstreams")]
    pub summary: String,
}

/// The `p`-th percentile of a sample (nearest rank); `None` when empty.
fn percentile(sorted: &[u32], p: usize) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[utoipa::path(
    get,
    path = "/api/admin/upstreams",
    tag = "admin",
    summary = "Upstreams and their health",
    description = "Admin only. Every configured upstream with its recent health: requests, \
        errors, latency percentiles and cool-down.",
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "The upstreams, in config order", body = UpstreamListResponse),
        AdminErrors,
    ),
)]
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
            let has_api_key = u.api_key.as_deref().is_some_and(|k| !k.is_empty());
            let state = if u.kind != UpstreamKind::Demo && !has_api_key {
                "no_api_key"
            } else if cooling {
                "cooling_down"
            } else {
                "healthy"
            };
            json!({
                "name": u.name,
                "kind": u.kind.as_str(),
                "base_url": u.base_url,
                "models": u.models,
                "priority": u.priority,
                "weight": u.weight,
                "has_api_key": has_api_key,
                "state": state,
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

#[utoipa::path(
    get,
    path = "/api/admin/prices",
    tag = "admin",
    summary = "Model prices in use",
    description = "Admin only. The price of every priced or served model, and the group multipliers.",
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "Prices by model", body = PriceListResponse),
        AdminErrors,
    ),
)]
pub async fn list_prices(State(state): State<AppState>, _admin: Admin) -> Json<PriceListResponse> {
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
    let data = models
        .iter()
        .map(|model| ModelPrice {
            prices: model_prices(&prices, model, rust_decimal::Decimal::ONE),
            served_by: upstreams
                .list
                .iter()
                .filter(|u| u.serves(model))
                .map(|u| u.name.clone())
                .collect(),
        })
        .collect();
    let mut groups: std::collections::BTreeMap<String, String> = config
        .groups
        .iter()
        .map(|(k, v)| (k.clone(), rate_text(*v)))
        .collect();
    groups.entry("default".into()).or_insert_with(|| "1".into());
    Json(PriceListResponse {
        data,
        groups,
        unit: "USD per 1M tokens".into(),
    })
}

/// Re-reads the config file; on any error the running config stays and the error is returned.
#[utoipa::path(
    post,
    path = "/api/admin/reload",
    tag = "admin",
    summary = "Reload the config file",
    description = "Admin only. Re-reads the config file and takes prices, upstreams and every \
        other reloadable setting into use at once; requests in flight keep what they started \
        with. On any error nothing changes.",
    security(("cr_session" = ["admin"])),
    responses(
        (status = 200, description = "Reloaded", body = ReloadResponse),
        (status = 400, description = "The config file is invalid, or there is none (`config_invalid`); nothing changed", body = ErrorBody),
        AdminErrors,
    ),
)]
pub async fn reload(State(state): State<AppState>, Admin(admin): Admin) -> ApiResult<Json<Value>> {
    let reloading = state.clone();
    let summary = tokio::task::spawn_blocking(move || reloading.reload())
        .await?
        .map_err(|e| ApiError::bad_request("config_invalid", e))?;
    tracing::info!(admin = admin.id, "config reloaded from the admin API");
    Ok(Json(json!({ "reloaded": true, "summary": summary })))
}
